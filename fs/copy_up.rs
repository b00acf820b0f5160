// SPDX-License-Identifier: GPL-2.0

//! Copy-up (copy_up.c): before an object on a lower layer changes, a copy
//! of it is made on the upper layer, parents first.
//!
//! The copy is built in `work/` under a temporary name (data, xattrs, the
//! `origin` file handle, then mode, owner and times) and renamed into its
//! upper parent in one step, so a crash leaves either no copy or a
//! complete one; a stale temporary is removed at the next mount.

use super::params::Verity;
use super::{index, verity, xattrs, RealEntry, Rovl, RovlNode, Upper, UPPER};
use crate::vfs::{
    self, Dentry, File, Iattr, Kstat, Locked, Mount, RealPath, SuperBlock, WriteAccess,
};
use core::sync::atomic::Ordering;
use kernel::bindings;
use kernel::prelude::*;
use kernel::types::ARef;

/// `STATX_BASIC_STATS` of uapi/linux/stat.h.
const STATX_BASIC_STATS: u32 = 0x7ff;
/// Largest piece of data copied at once (`OVL_COPY_UP_CHUNK_SIZE`).
const CHUNK: usize = 1 << 20;
/// `MAX_HANDLE_SZ` of linux/exportfs.h.
const MAX_HANDLE_SZ: usize = 128;

/// Copies `dentry` (a rovl dentry) and every ancestor still only on lower
/// layers up, unless already there: a regular file's metadata only with
/// `metacopy=on` (`ovl_copy_up`).
pub(crate) fn copy_up(sb: &SuperBlock<Rovl>, dentry: &Dentry) -> Result {
    copy_up_flags(sb, dentry, 0)
}

/// [`copy_up`] for an open with `flags`, or a truncate (`O_WRONLY`): with
/// the data where the file is opened for writing or truncated (none to
/// copy for `O_TRUNC`) (`ovl_copy_up_flags`). Ancestors go first, topmost
/// first, each under its own node's lock, so copy-ups of different objects
/// run in parallel and concurrent callers for one object find the copy
/// made by the first.
pub(crate) fn copy_up_flags(sb: &SuperBlock<Rovl>, dentry: &Dentry, flags: u32) -> Result {
    let node = sb.node(dentry).ok_or(ENOENT)?;
    let data = needs_data(flags);
    let done = |n: &RovlNode| n.upper().is_some() && (!data || n.has_upperdata());
    if done(node) && !node.is_indexed_file() {
        return Ok(());
    }
    let fs = sb.data();
    let up = fs.upper.as_ref().ok_or(EROFS)?;
    // The data of a metacopy file, looked up in the data-only layers and
    // checked against its digest before anything is copied.
    verity::verify_lowerdata(sb, dentry, node)?;
    // The topmost name still without an upper copy, until none is left:
    // a concurrent copy-up may have made some of them meanwhile.
    while let Some(d) = topmost_missing(sb, fs, dentry)? {
        let n = sb.node(&d).ok_or(ENOENT)?;
        let _lock = sb.node_lock(&d).ok_or(ENOENT)?.lock_interruptible()?;
        if !has_upper_name(sb, fs, &d, n)? {
            copy_up_one(sb, fs, up, &d, flags)?;
        }
    }
    if data && !node.has_upperdata() {
        let _lock = sb.node_lock(dentry).ok_or(ENOENT)?.lock_interruptible()?;
        if !node.has_upperdata() {
            copy_up_meta_data(fs, up, node, flags)?;
            if let Some(inode) = dentry.inode() {
                vfs::sync_attrs::<Rovl>(inode, node);
            }
        }
    }
    Ok(())
}

/// The topmost of `dentry` and its ancestors without an upper copy (for a
/// name of an indexed file: without an upper alias).
fn topmost_missing(
    sb: &SuperBlock<Rovl>,
    fs: &Rovl,
    dentry: &Dentry,
) -> Result<Option<ARef<Dentry>>> {
    let mut missing = None;
    let mut cur: ARef<Dentry> = ARef::from(dentry);
    loop {
        let n = sb.node(&cur).ok_or(ENOENT)?;
        if has_upper_name(sb, fs, &cur, n)? {
            return Ok(missing);
        }
        let parent = cur.parent();
        if parent.same(&cur) {
            // The root always has an upper directory on a writable mount;
            // a file decoded from a handle may not be connected to it.
            if cur.is_disconnected() && !n.real_inode().is_dir() {
                return Ok(Some(cur));
            }
            return Err(EIO);
        }
        missing = Some(cur);
        cur = parent;
    }
}

/// Whether the name `d` is on the upper layer.
fn has_upper_name(sb: &SuperBlock<Rovl>, fs: &Rovl, d: &Dentry, n: &RovlNode) -> Result<bool> {
    Ok(n.upper().is_some() && (!n.is_indexed_file() || has_upper_alias(sb, fs, d, n)?))
}

/// An open for writing or truncation, or a truncate: the data is needed
/// on the upper layer (`ovl_open_flags_need_copy_up`).
fn needs_data(flags: u32) -> bool {
    flags & bindings::O_ACCMODE != bindings::O_RDONLY || flags & bindings::O_TRUNC != 0
}

/// Copies the data of a metacopy upper file into it, in place, then drops
/// its `metacopy` mark; `security.capability`, which the write clears, is
/// put back (`ovl_copy_up_meta_inode_data`). Interrupted, the file keeps
/// its mark, and with it its lower data.
fn copy_up_meta_data(fs: &Rovl, up: &Upper, node: &RovlNode, flags: u32) -> Result {
    let mnt: &Mount = &up.mnt;
    let upper = node.upper().ok_or(EIO)?;
    let _cred = fs.cred.override_creds();
    let size = if flags & bindings::O_TRUNC != 0 {
        0
    } else {
        upper.inode().ok_or(EIO)?.size()
    };
    let caps = kernel::c_str!("security.capability");
    let mut cap = None;
    if size > 0 {
        match upper.getxattr(mnt, caps, &mut []) {
            Ok(len) => {
                let mut v = KVec::from_elem(0u8, len, GFP_KERNEL)?;
                let len = upper.getxattr(mnt, caps, &mut v)?;
                cap = Some((v, len));
            }
            Err(e)
                if e == vfs::errno(bindings::ENODATA) || e == vfs::errno(bindings::EOPNOTSUPP) => {}
            Err(e) => return Err(e),
        }
    }
    let data = node.realdata(fs)?;
    copy_data(fs, &data, size, &RealPath { mnt, dentry: upper })?;
    let _w = WriteAccess::get(mnt)?;
    if let Some((v, len)) = cap {
        upper.setxattr(mnt, caps, &v[..len.min(v.len())], 0)?;
    }
    xattrs::remove_private(fs, upper, b"metacopy")?;
    node.has_digest.store(false, Ordering::Release);
    node.verified_digest.store(false, Ordering::Release);
    node.meta_upper.store(false, Ordering::Release);
    Ok(())
}

/// What is copied of one lower object.
struct Source<'a> {
    path: RealPath<'a>,
    stat: Kstat,
    mode: u16,
    /// The size of the copy: none for `O_TRUNC`.
    size: i64,
}

/// Whether the name `d` of an indexed file is on the upper layer, as the
/// index entry's inode (`ovl_dentry_has_upper_alias`).
pub(crate) fn has_upper_alias(
    sb: &SuperBlock<Rovl>,
    fs: &Rovl,
    d: &Dentry,
    node: &RovlNode,
) -> Result<bool> {
    let parent = d.parent();
    if parent.same(d) {
        return Ok(true);
    }
    let Some(udir) = sb.node(&parent).and_then(|p| p.upper()) else {
        return Ok(false);
    };
    let _cred = fs.cred.override_creds();
    let this = match udir.lookup_one(fs.upper_mnt()?, d.name()) {
        Ok(t) => t,
        Err(e) if e == ENOENT => return Ok(false),
        Err(e) => return Err(e),
    };
    Ok(node.upper().is_some_and(|u| u.same_inode(&this)))
}

fn copy_up_one(sb: &SuperBlock<Rovl>, fs: &Rovl, up: &Upper, d: &Dentry, flags: u32) -> Result {
    let node = sb.node(d).ok_or(ENOENT)?;
    // A file decoded from a handle and not connected to its parent (NFS
    // export) is copied up to the index alone: it has no name to link.
    let parent = Some(d.parent()).filter(|p| !p.same(d));
    if node.upper().is_some() {
        // Indexed through another name: only this name is missing.
        return match parent {
            Some(_) => link_up(sb, fs, up, d, node),
            None => Ok(()),
        };
    }
    let pnode = match &parent {
        Some(p) => Some(sb.node(p).ok_or(ENOENT)?),
        None => None,
    };
    let udir = pnode.map(|p| p.upper().ok_or(EIO)).transpose()?;
    let mnt: &Mount = &up.mnt;
    let lower = node.top();
    let _cred = fs.cred.override_creds();
    // A lower hard link is copied up to its index entry, then linked into
    // place (`ovl_do_copy_up`); with NFS export every copy-up is indexed,
    // a directory by an entry that names it.
    let indexed = index::needed(fs, node);
    let mut src = Source {
        path: RealPath {
            mnt: fs.mnt(lower.layer),
            dentry: &lower.dentry,
        },
        stat: Kstat::new_zeroed(),
        mode: 0,
        size: lower.dentry.inode().map_or(0, |i| i.size()),
    };
    src.path.getattr(&mut src.stat, STATX_BASIC_STATS, 0)?;
    src.mode = src.stat.mode();
    let ftype = u32::from(src.mode) & bindings::S_IFMT;
    let to_index = indexed && ftype != bindings::S_IFDIR;
    if udir.is_none() && !to_index {
        return Err(EIO);
    }
    // Only the metadata of a regular file not opened for writing, with
    // `metacopy=on` (`ovl_need_meta_copy_up`).
    let mut meta = fs.config.metacopy && ftype == bindings::S_IFREG && !needs_data(flags);
    // The digest of the data a metacopy records (`ovl_get_verity_digest`).
    // With `verity=require`, data without one is copied up with the
    // metadata (`ovl_need_meta_copy_up`).
    let mut digest = None;
    if meta {
        let data = node.realdata(fs)?;
        if fs.config.verity == Verity::Require && !verity::has_digest(fs, &data) {
            meta = false;
        } else {
            digest = verity::copy_up_digest(fs, &data)?;
        }
    }
    // Opened with `O_TRUNC`: no data to copy (`ovl_copy_up_one`).
    if flags & bindings::O_TRUNC != 0 {
        src.size = 0;
    }
    // The upper parent's times, restored after the new entry lands.
    let mut pstat = Kstat::new_zeroed();
    if let Some(udir) = udir {
        RealPath { mnt, dentry: udir }.getattr(&mut pstat, STATX_BASIC_STATS, 0)?;
    }

    // Hard links of a lower file are broken by copy-up without the index:
    // no origin for them.
    let origin = ftype == bindings::S_IFDIR || src.stat.nlink() == 1 || to_index;
    let fh = if origin {
        origin_fh(fs, &lower.dentry)?
    } else {
        None
    };
    let (destdir, name) = if to_index {
        (
            fs.index_dir().ok_or(EIO)?,
            index::name_of_origin(fs, &lower.dentry)?,
        )
    } else {
        let (Some(udir), Some(pnode)) = (udir, pnode) else {
            return Err(EIO);
        };
        let mut n = KVec::new();
        n.extend_from_slice(d.name(), GFP_KERNEL)?;
        let _w = WriteAccess::get(mnt)?;
        xattrs::set_impure(fs, pnode)?;
        pnode.impurity_changed();
        (udir, n)
    };
    let link = if ftype == bindings::S_IFLNK {
        Some(lower.dentry.read_link()?)
    } else {
        None
    };
    let temp = create_temp(up, &src, link.as_deref())?;
    let r = (|| -> Result {
        if ftype == bindings::S_IFREG && !meta {
            let data = node.realdata(fs)?;
            copy_data(fs, &data, src.size, &RealPath { mnt, dentry: &temp })?;
        }
        let _w = WriteAccess::get(mnt)?;
        copy_xattrs(fs, &src.path, &temp)?;
        if origin {
            // `user.*` xattrs cannot go on symlinks and special files
            // (`userxattr`): such copies have no origin (as overlayfs).
            let fh = fh.as_deref().unwrap_or(&[]);
            match xattrs::check_set_private(fs, &temp, b"origin", fh, None) {
                Err(e) if e == EPERM => {}
                r => r?,
            }
        }
        if meta {
            xattrs::set_metacopy(fs, &temp, digest.as_ref())?;
        }
        let flags = lower.dentry.inode().map_or(0, |i| i.flags());
        if matches!(ftype, bindings::S_IFREG | bindings::S_IFDIR) {
            xattrs::set_protattr(fs, &temp, flags)?;
        }
        if flags & (bindings::S_SYNC | bindings::S_NOATIME) != 0 {
            copy_fileattr(mnt, &lower.dentry, &temp)?;
        }
        set_attrs(mnt, &temp, &mut src)?;
        if indexed && ftype == bindings::S_IFDIR {
            index::create_dir_entry(fs, fh.as_deref().ok_or(EIO)?, &temp)?;
        }
        // `fsync=strict`: the copy is durable, metadata too, before it
        // becomes visible (`ovl_sync_file`).
        if fs.config.fsync == super::params::Fsync::Strict
            && matches!(ftype, bindings::S_IFREG | bindings::S_IFDIR)
        {
            File::open_path(
                &RealPath { mnt, dentry: &temp },
                bindings::O_RDONLY,
                &fs.cred,
            )?
            .fsync()?;
        }
        let lock = Locked::rename(mnt, &up.work, destdir)?;
        if !temp.parent().same(&up.work) {
            return Err(EIO);
        }
        let target = lock.lookup(destdir, &name)?;
        // The name may have been taken since lookup: never replace it.
        if target.inode().is_some() {
            return Err(EEXIST);
        }
        lock.rename_entry(&up.work, &temp, destdir, &target, 0)
    })();
    if let Err(e) = r {
        if let Ok(_w) = WriteAccess::get(mnt) {
            cleanup(mnt, &up.work, &temp);
        }
        return Err(e);
    }
    if let (false, Some(udir)) = (to_index, udir) {
        // Best effort, as overlayfs: the parent looks unchanged.
        let _w = WriteAccess::get(mnt)?;
        let mut t = Iattr::new().times(pstat.atime(), pstat.mtime());
        let _ = udir.setattr(mnt, &mut t);
    }
    node.has_digest.store(digest.is_some(), Ordering::Release);
    node.verified_digest.store(false, Ordering::Release);
    if meta {
        node.meta_upper.store(true, Ordering::Release);
    }
    if indexed {
        // Before the upper object shows: a name of the file without its
        // upper alias is then never taken for one on the upper layer.
        node.indexed.store(true, Ordering::Release);
    }
    node.upper.set(KBox::new(
        RealEntry {
            layer: UPPER,
            dentry: temp,
        },
        GFP_KERNEL,
    )?);
    if ftype == bindings::S_IFDIR {
        node.whiteouts.store(true, Ordering::Release);
    }
    // A lower hard link copied up without the index: hashed by its upper
    // inode from now on (`ovl_inode_update`), as a new upper object.
    if node.key.load(Ordering::Acquire) == 0 {
        if let (Some(inode), Some(u)) = (d.inode(), node.upper().and_then(|u| u.inode())) {
            node.key.store(u.id(), Ordering::Release);
            vfs::hash_by_key::<Rovl>(inode, node);
        }
    }
    if to_index {
        // The union link count so far, for a copy-up interrupted before
        // the link below.
        {
            let _w = WriteAccess::get(mnt)?;
            index::set_nlink(fs, node, false)?;
        }
        if parent.is_some() {
            link_up(sb, fs, up, d, node)?;
        }
    }
    if let Some(inode) = d.inode() {
        vfs::sync_attrs::<Rovl>(inode, node);
    }
    Ok(())
}

/// Gives the name `d` of an indexed file its upper alias: a hard link to
/// the index entry (`ovl_link_up`). The union link count does not change.
fn link_up(sb: &SuperBlock<Rovl>, fs: &Rovl, up: &Upper, d: &Dentry, node: &RovlNode) -> Result {
    let parent = d.parent();
    let pnode = sb.node(&parent).ok_or(ENOENT)?;
    let udir = pnode.upper().ok_or(EIO)?;
    let upper = node.upper().ok_or(EIO)?;
    let mnt: &Mount = &up.mnt;
    let _cred = fs.cred.override_creds();
    let mut pstat = Kstat::new_zeroed();
    RealPath { mnt, dentry: udir }.getattr(&mut pstat, STATX_BASIC_STATS, 0)?;
    let _w = WriteAccess::get(mnt)?;
    xattrs::set_impure(fs, pnode)?;
    pnode.impurity_changed();
    index::set_nlink(fs, node, true)?;
    {
        let lock = Locked::dir(mnt, udir)?;
        let target = lock.lookup(udir, d.name())?;
        if target.inode().is_some() {
            return Err(EEXIST);
        }
        lock.link(upper, udir, &target)?;
    }
    // Best effort, as overlayfs: the parent looks unchanged.
    let mut t = Iattr::new().times(pstat.atime(), pstat.mtime());
    let _ = udir.setattr(mnt, &mut t);
    index::set_nlink(fs, node, false)
}

/// The `origin` value: overlayfs's file handle of the lower object
/// (`struct ovl_fb`), or `None` (stored empty) where the lower filesystem
/// cannot decode handles (`ovl_get_origin_fh`).
pub(crate) fn origin_fh(fs: &Rovl, lower: &Dentry) -> Result<Option<KVec<u8>>> {
    encode_fh(fs, lower, false)
}

/// An overlayfs file handle of a real object, or `None` where its
/// filesystem cannot decode handles for the caller (`ovl_can_decode_fh`).
pub(crate) fn encode_fh(fs: &Rovl, lower: &Dentry, is_upper: bool) -> Result<Option<KVec<u8>>> {
    if lower.sb_can_decode_fh() == 0 {
        return Ok(None);
    }
    real_fh(fs, lower, is_upper).map(Some)
}

/// An overlayfs file handle of a real object (`ovl_encode_real_fh`): with
/// its filesystem's uuid unless `uuid=off`.
pub(crate) fn real_fh(fs: &Rovl, lower: &Dentry, is_upper: bool) -> Result<KVec<u8>> {
    let mut fid = [0u32; MAX_HANDLE_SZ / 4];
    let (fh_type, len) = lower.encode_fh(&mut fid)?;
    // version, magic, len, flags, type, uuid[16], fid.
    let mut fb = KVec::with_capacity(21 + len, GFP_KERNEL)?;
    fb.push(0, GFP_KERNEL)?;
    fb.push(0xfb, GFP_KERNEL)?;
    fb.push((21 + len) as u8, GFP_KERNEL)?;
    // OVL_FH_FLAG_CPU_ENDIAN: big-endian bit on big-endian machines.
    // OVL_FH_FLAG_PATH_UPPER marks handles of upper objects.
    let endian = if cfg!(target_endian = "big") { 1 } else { 0 };
    fb.push(endian | if is_upper { 4 } else { 0 }, GFP_KERNEL)?;
    fb.push(fh_type as u8, GFP_KERNEL)?;
    let uuid = if fs.config.uuid == super::params::Uuid::Off {
        [0u8; 16]
    } else {
        lower.sb_uuid()
    };
    fb.extend_from_slice(&uuid, GFP_KERNEL)?;
    for w in fid.iter().take(len / 4) {
        fb.extend_from_slice(&w.to_ne_bytes(), GFP_KERNEL)?;
    }
    Ok(fb)
}

/// Creates the object to fill in `work/`, with no permissions yet
/// (`ovl_create_temp`): mode and owner are set once it is complete.
fn create_temp(up: &Upper, src: &Source<'_>, link: Option<&[u8]>) -> Result<ARef<Dentry>> {
    let mnt: &Mount = &up.mnt;
    let _w = WriteAccess::get(mnt)?;
    let lock = Locked::dir(mnt, &up.work)?;
    let name = temp_name(up)?;
    let t = lock.lookup(&up.work, &name)?;
    if t.inode().is_some() {
        return Err(EEXIST);
    }
    let ftype = u32::from(src.mode) & bindings::S_IFMT;
    match ftype {
        bindings::S_IFREG => lock.create(&up.work, &t, 0)?,
        bindings::S_IFDIR => return lock.mkdir(&up.work, &t, 0),
        bindings::S_IFLNK => {
            let target = CStr::from_bytes_with_nul(link.ok_or(EIO)?).map_err(|_| EIO)?;
            lock.symlink(&up.work, &t, target)?
        }
        _ => lock.mknod(&up.work, &t, ftype as u16, src_rdev(src))?,
    }
    Ok(t)
}

fn src_rdev(src: &Source<'_>) -> u32 {
    src.path.dentry.inode().map_or(0, |i| i.rdev())
}

/// A fresh temporary name in `work/` (`#<hex>`, as `ovl_tempname`).
pub(crate) fn temp_name(up: &Upper) -> Result<KVec<u8>> {
    let id = up.temp_id.fetch_add(1, Ordering::Relaxed);
    let mut n = KVec::new();
    n.push(b'#', GFP_KERNEL)?;
    let mut digits = [0u8; 16];
    let mut i = digits.len();
    let mut v = id;
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdef"[(v & 0xf) as usize];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    n.extend_from_slice(&digits[i..], GFP_KERNEL)?;
    Ok(n)
}

/// Removes a temporary object from `work/` (`ovl_cleanup`), best effort:
/// the next mount clears `work/` anyway. The caller holds write access to
/// the upper mount.
pub(crate) fn cleanup(mnt: &Mount, work: &Dentry, temp: &Dentry) {
    let Ok(lock) = Locked::dir(mnt, work) else {
        return;
    };
    if !temp.parent().same(work) || temp.inode().is_none() {
        return;
    }
    let r = if temp.can_lookup() {
        lock.rmdir(work, temp)
    } else {
        lock.unlink(work, temp)
    };
    if let Err(e) = r {
        super::super_::cleanup_failed(work, temp, e);
    }
}

/// Copies file data, skipping holes: a clone where the filesystem can,
/// else chunks from where SEEK_DATA finds data, then fsync unless the mount
/// is volatile (`ovl_copy_up_file`). A fatal signal ends it (`EINTR`).
fn copy_data(fs: &Rovl, src: &RealPath<'_>, size: i64, dst: &RealPath<'_>) -> Result {
    let old = File::open_path(src, bindings::O_RDONLY, &fs.cred)?;
    let new = File::open_path(dst, bindings::O_WRONLY, &fs.cred)?;
    if size == 0 {
        return Ok(());
    }
    // A whole clone is a metadata transaction of the upper filesystem,
    // ordered before the rename that publishes it: no fsync, as overlayfs.
    if matches!(old.clone_to(&new, size), Ok(n) if n == size) {
        return Ok(());
    }
    // One SEEK_DATA per chunk, as overlayfs: a SEEK_HOLE would walk the
    // page cache of the whole file on tmpfs. Holes within a chunk are
    // copied as zeros.
    let (mut pos, mut data, mut skip_holes) = (0i64, -1i64, true);
    while pos < size {
        if vfs::fatal_signal_pending() {
            return Err(EINTR);
        }
        if skip_holes && data < pos {
            match old.seek(pos, bindings::SEEK_DATA) {
                Ok(d) if d > pos => {
                    (pos, data) = (d, d);
                    continue;
                }
                Ok(d) => data = d,
                // Only holes up to the end: the size is set later.
                Err(e) if e == vfs::errno(bindings::ENXIO) => break,
                Err(_) => skip_holes = false,
            }
        }
        let len = ((size - pos) as usize).min(CHUNK);
        let n = old.splice_to(&new, pos, len)?;
        if n == 0 {
            return Err(EIO);
        }
        pos += n as i64;
    }
    sync(fs, &new)
}

/// The fsync of copied data: none on a volatile mount, and with
/// `fsync=strict` one later, with the metadata (`ovl_copy_up_file`).
fn sync(fs: &Rovl, f: &File) -> Result {
    if fs.config.fsync != super::params::Fsync::Auto {
        return Ok(());
    }
    f.fsync()
}

/// Copies every xattr but overlay's private ones; POSIX ACLs through the
/// ACL calls; names the upper filesystem does not take are skipped
/// (`ovl_copy_xattr`).
pub(crate) fn copy_xattrs(fs: &Rovl, src: &RealPath<'_>, dst: &Dentry) -> Result {
    let mnt = fs.upper_mnt()?;
    let n = match src.dentry.listxattr(&mut []) {
        Ok(n) => n,
        Err(e) if e == vfs::errno(bindings::EOPNOTSUPP) => return Ok(()),
        Err(e) => return Err(e),
    };
    if n == 0 {
        return Ok(());
    }
    let mut list = KVec::from_elem(0u8, n, GFP_KERNEL)?;
    let n = src.dentry.listxattr(&mut list)?;
    let prefix = fs.config.xattr_prefix();
    for name in list[..n.min(list.len())].split(|&b| b == 0) {
        // Private names stay behind; escaped ones are user data.
        let escaped = name.len() > prefix.len() && name[prefix.len()..].starts_with(b"overlay.");
        if name.is_empty() || (name.starts_with(prefix) && !escaped) {
            continue;
        }
        let mut c = KVec::with_capacity(name.len() + 1, GFP_KERNEL)?;
        c.extend_from_slice(name, GFP_KERNEL)?;
        c.push(0, GFP_KERNEL)?;
        let cname = CStr::from_bytes_with_nul(&c).map_err(|_| EINVAL)?;
        if name == b"system.posix_acl_access" || name == b"system.posix_acl_default" {
            src.dentry.copy_acl(src.mnt, cname, dst, mnt)?;
            continue;
        }
        let len = match src.dentry.getxattr(src.mnt, cname, &mut []) {
            Ok(l) => l,
            // Gone since the list was read.
            Err(e) if e == vfs::errno(bindings::ENODATA) => continue,
            Err(e) => return Err(e),
        };
        let mut value = KVec::from_elem(0u8, len, GFP_KERNEL)?;
        let len = src.dentry.getxattr(src.mnt, cname, &mut value)?;
        match dst.setxattr(mnt, cname, &value[..len.min(value.len())], 0) {
            Ok(()) => {}
            Err(e) if e == vfs::errno(bindings::EOPNOTSUPP) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The `sync` and `noatime` flags of the lower object, set as they are on
/// the copy (append-only and immutable go to `protattr`, as they would
/// stop the copy from being renamed into place) (`ovl_copy_fileattr`).
fn copy_fileattr(mnt: &Mount, lower: &Dentry, temp: &Dentry) -> Result {
    let fa = match lower.fileattr_get() {
        Ok(fa) => fa,
        Err(e) if e == vfs::errno(bindings::EOPNOTSUPP) || e == EINVAL => return Ok(()),
        Err(e) => {
            crate::vfs::pr_warn_ratelimited!(
                "failed to retrieve lower fileattr ({}, err={})\n",
                super::params::BStrLossy(lower.name()),
                e.to_errno()
            );
            return Err(e);
        }
    };
    if fa.flags() & vfs::COPY_FS_FLAGS == 0 {
        return Ok(());
    }
    match temp.copy_fileattr(mnt, &fa) {
        // An upper filesystem without flags: copy-up goes on without them.
        Err(e) if e == vfs::errno(bindings::ENOTTY) || e == EINVAL => {
            crate::vfs::pr_warn_ratelimited!("copying fileattr: upper fs doesn't support it\n");
            Ok(())
        }
        r => r,
    }
}

/// Size, mode, owner and times of the copy (`ovl_set_size`,
/// `ovl_set_attr`).
fn set_attrs(mnt: &Mount, temp: &Dentry, src: &mut Source<'_>) -> Result {
    let ftype = u32::from(src.mode) & bindings::S_IFMT;
    if ftype == bindings::S_IFREG {
        let mut a = Iattr::new().truncate(src.size);
        temp.setattr(mnt, &mut a)?;
    }
    if ftype != bindings::S_IFLNK {
        let mut a = Iattr::new().mode(src.mode);
        temp.setattr(mnt, &mut a)?;
    }
    let mut a = Iattr::new().owner(&mut src.stat);
    temp.setattr(mnt, &mut a)?;
    let mut a = Iattr::new().times(src.stat.atime(), src.stat.mtime());
    temp.setattr(mnt, &mut a)
}

/// Whether any lower layer below `dir` has a visible object named `name`
/// (`ovl_lower_positive`): the first one found decides, a whiteout says no.
pub(crate) fn lower_positive(fs: &Rovl, dir: &RovlNode, name: &[u8]) -> Result<bool> {
    let _cred = fs.cred.override_creds();
    for e in dir.stack.iter() {
        match e.dentry.lookup_one(fs.mnt(e.layer), name) {
            Ok(this) if this.inode().is_some() => {
                return Ok(!xattrs::is_whiteout(fs, fs.mnt(e.layer), &this));
            }
            Ok(_) => {}
            Err(e) if e == ENOENT || e == vfs::errno(bindings::ENAMETOOLONG) => {}
            // An error is no proof of absence: keep the whiteout.
            Err(_) => return Ok(true),
        }
    }
    Ok(false)
}
