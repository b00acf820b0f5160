// SPDX-License-Identifier: GPL-2.0

//! Namespace operations on the upper layer (dir.c): create, link, remove
//! and rename, with whiteouts and opaque directories written as overlayfs
//! writes them.
//!
//! A name that still exists on a lower layer is hidden by a whiteout (a
//! 0/0 character device) when removed; a directory made where lower
//! entries are hidden is marked opaque. Objects that replace a whiteout
//! are built in `work/` and swapped in with one rename.

use super::copy_up::{self, cleanup, lower_positive, temp_name};
use super::{index, readdir, xattrs, Rovl, RovlNode, Upper};
use crate::vfs::{
    self, CreateCreds, Dentry, Iattr, Inode, Locked, Mount, NewAcls, NewNode, SuperBlock,
    WriteAccess,
};
use core::sync::atomic::Ordering;
use kernel::bindings;
use kernel::prelude::*;
use kernel::types::ARef;

use crate::vfs::NewKind as Kind;

fn is_dir_kind(kind: &Kind<'_>) -> bool {
    matches!(kind, Kind::Dir(_))
}

fn up(fs: &Rovl) -> Result<&Upper> {
    fs.upper.as_ref().ok_or(EROFS)
}

/// Creates `dentry` in the rovl directory `dir` (`ovl_create_or_link`).
pub(crate) fn create(
    sb: &SuperBlock<Rovl>,
    dir: &Dentry,
    dentry: &Dentry,
    kind: Kind<'_>,
) -> Result<NewNode<Rovl>> {
    let fs = sb.data();
    let dir_inode = dir.inode().ok_or(ENOENT)?;
    let creds = CreateCreds::new(&fs.cred, dir_inode)?;
    if let Kind::Link(old) = kind {
        copy_up::copy_up(sb, old)?;
    }
    copy_up::copy_up(sb, dir)?;
    let link_node = match kind {
        Kind::Link(old) => Some((old, nlink_start(sb, old)?)),
        _ => None,
    };
    // A new name of a metacopy file finds its data through an absolute
    // redirect (`ovl_set_link_redirect`).
    let r = match link_node {
        Some((old, n)) if n.is_metacopy() => {
            let _w = WriteAccess::get(fs.upper_mnt()?)?;
            let _cred = fs.cred.override_creds();
            set_redirect(sb, old, n, false)
        }
        _ => Ok(()),
    }
    .and_then(|()| create_locked(sb, dir, dentry, kind, &creds));
    if let Some((_, n)) = link_node {
        if r.is_ok() && n.is_indexed() {
            n.nlink.fetch_add(1, Ordering::AcqRel);
        }
        nlink_end(fs, n);
    }
    r
}

/// With the index, a name about to gain or lose a link gets its upper
/// alias first (a lower hard link is copied up through the index), and an
/// indexed file's union count is recorded relative to its upper inode, so
/// it stays right whether the change succeeds or not (`ovl_nlink_start`).
fn nlink_start<'a>(sb: &SuperBlock<Rovl>, d: &'a Dentry) -> Result<&'a RovlNode> {
    let fs = sb.data();
    let node = sb.node(d).ok_or(ENOENT)?;
    if index::needed(fs, node) && !copy_up::has_upper_alias(sb, fs, d, node)? {
        copy_up::copy_up(sb, d)?;
    }
    if node.is_indexed_file() {
        let _w = WriteAccess::get(fs.upper_mnt()?)?;
        let _cred = fs.cred.override_creds();
        index::set_nlink(fs, node, false)?;
    }
    Ok(node)
}

/// After a link change: the index entry of a file with no name left goes
/// (`ovl_nlink_end`).
fn nlink_end(fs: &Rovl, node: &RovlNode) {
    if node.is_indexed_file() && node.nlink.load(Ordering::Acquire) == 0 {
        if let Ok(mnt) = fs.upper_mnt() {
            if let Ok(_w) = WriteAccess::get(mnt) {
                let _cred = fs.cred.override_creds();
                index::cleanup(fs, node);
            }
        }
    }
}

/// One name less for a non-directory (`ovl_drop_nlink`). Links added to
/// a lower layer behind the overlay's back are not counted: while another
/// name of the inode is in use the count stays above zero, so that name
/// can still be linked.
fn drop_nlink(node: &RovlNode, dentry: &Dentry) {
    if node.is_indexed_file() {
        let inode = dentry.inode();
        let floor = u32::from(inode.is_some_and(|i| i.has_other_alias(dentry)));
        let _ = node
            .nlink
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n > floor).then(|| n - 1)
            });
        if let Some(i) = inode {
            i.set_nlink(node.nlink.load(Ordering::Acquire));
        }
    }
}

fn create_locked(
    sb: &SuperBlock<Rovl>,
    dir: &Dentry,
    dentry: &Dentry,
    kind: Kind<'_>,
    creds: &CreateCreds,
) -> Result<NewNode<Rovl>> {
    let fs = sb.data();
    let up = up(fs)?;
    let dir_inode = dir.inode().ok_or(ENOENT)?;
    let pnode = sb.node(dir).ok_or(ENOENT)?;
    let udir = pnode.upper().ok_or(EIO)?;
    let mnt: &Mount = &up.mnt;
    let _w = WriteAccess::get(mnt)?;
    // Hard links keep the mounter's ids: the link names an existing inode.
    let _cred = if matches!(kind, Kind::Link(_)) {
        fs.cred.override_creds()
    } else {
        creds.override_creds()
    };
    let umask_applies = !udir.inode().is_some_and(|i| i.is_posixacl());
    let strip = |m: u16| {
        if umask_applies {
            m & !vfs::current_umask()
        } else {
            m
        }
    };
    let link_src = match &kind {
        Kind::Link(old) => Some(sb.node(old).and_then(|n| n.upper()).ok_or(EIO)?),
        _ => None,
    };
    let name = dentry.name();
    // A link to a copied-up file with an origin makes its new parent
    // impure, for d_ino in listings (`ovl_link`).
    if let Kind::Link(old) = &kind {
        if sb.node(old).is_some_and(has_origin) {
            xattrs::set_impure(fs, pnode)?;
            pnode.impurity_changed();
        }
    }

    // A plain create in the upper directory.
    let plain = |lock: &Locked<'_>, at: &Dentry| -> Result<ARef<Dentry>> {
        let new = make(lock, udir, at, &kind, strip, link_src)?;
        // Only an optimisation (lookups stop here), made by overlayfs
        // when offline changes to lower layers are not allowed anyway.
        if is_dir_kind(&kind) && pnode.is_merged() && !fs.config.allow_offline_changes() {
            let _ = xattrs::check_set_private(fs, &new, b"opaque", b"y", Some(EIO));
        }
        Ok(new)
    };
    // Most names are free on the upper layer: the upper directory's lock
    // is enough for those (`ovl_create_upper`). Replacing a whiteout also
    // needs work/, locked with it for the rename.
    {
        let lock = Locked::dir(mnt, udir)?;
        let existing = lock.lookup(udir, name)?;
        if existing.inode().is_none() {
            let new = plain(&lock, &existing)?;
            drop(lock);
            return fs.new_node(Some(new), KVec::new(), false, false);
        }
    }
    let lock = Locked::rename(mnt, &up.work, udir)?;
    let existing = lock.lookup(udir, name)?;
    let new = if existing.inode().is_none() {
        // The whiteout went meanwhile.
        plain(&lock, &existing)?
    } else if xattrs::is_whiteout(fs, mnt, &existing) {
        // Replace the whiteout: build in work/, then rename over it (a
        // directory swaps with it, as no rename puts one over a file).
        let tname = temp_name(up)?;
        let t = lock.lookup(&up.work, &tname)?;
        let new = make(&lock, &up.work, &t, &kind, strip, link_src)?;
        let r = (|| -> Result {
            // Made in work/, it inherited nothing: what the directory's
            // default ACL gives it, or the umask without one
            // (`ovl_create_over_whiteout`).
            if let Some(mode) = explicit_mode(&kind, |m| m, dir_inode) {
                let acls = NewAcls::new(dir_inode, mode)?;
                if new.inode().is_some_and(|i| i.mode() != acls.mode) {
                    new.setattr(mnt, &mut Iattr::new().mode(acls.mode))?;
                }
                acls.apply(&new, mnt)?;
            }
            if is_dir_kind(&kind) {
                // No opaque directory without xattrs (overlayfs: EIO).
                xattrs::check_set_private(fs, &new, b"opaque", b"y", Some(EIO))?;
                lock.rename_entry(&up.work, &new, udir, &existing, bindings::RENAME_EXCHANGE)?;
                // The whiteout is in work/ now.
                let _ = lock.unlink(&up.work, &existing);
                Ok(())
            } else {
                lock.rename_entry(&up.work, &new, udir, &existing, 0)
            }
        })();
        if let Err(e) = r {
            drop(lock);
            cleanup(mnt, &up.work, &new);
            return Err(e);
        }
        new
    } else {
        // Something the rovl dentry did not see: the layer changed.
        return Err(vfs::errno(bindings::ESTALE));
    };
    drop(lock);
    fs.new_node(Some(new), KVec::new(), false, false)
}

/// An unnamed regular file in the upper copy of `dir` (`ovl_tmpfile`),
/// owned by the caller; linkat(2) can give it a name later.
pub(crate) fn tmpfile(
    sb: &SuperBlock<Rovl>,
    dir: &Dentry,
    file: &vfs::File,
    mode: u16,
) -> Result<(NewNode<Rovl>, vfs::StackedFile)> {
    let fs = sb.data();
    let creds = CreateCreds::new(&fs.cred, dir.inode().ok_or(ENOENT)?)?;
    copy_up::copy_up(sb, dir)?;
    let pnode = sb.node(dir).ok_or(ENOENT)?;
    let udir = pnode.upper().ok_or(EIO)?;
    let mnt = fs.upper_mnt()?;
    let _w = WriteAccess::get(mnt)?;
    let (sf, real) = {
        let _cred = creds.override_creds();
        let parent = vfs::RealPath { mnt, dentry: udir };
        vfs::StackedFile::open_tmpfile(file, &parent, mode, &fs.cred)?
    };
    Ok((fs.new_node(Some(real), KVec::new(), false, false)?, sf))
}

/// The mode to force on an object built in `work/`, whose umask and setgid
/// inheritance came from the wrong directory.
fn explicit_mode(kind: &Kind<'_>, strip: impl Fn(u16) -> u16, dir: &Inode) -> Option<u16> {
    let sgid_dir = dir.mode() & bindings::S_ISGID as u16 != 0;
    match kind {
        Kind::File(m) => Some(strip(*m) & 0o7777 | bindings::S_IFREG as u16),
        Kind::Dir(m) => {
            let m = strip(*m) & 0o7777
                | if sgid_dir {
                    bindings::S_ISGID as u16
                } else {
                    0
                };
            Some(m | bindings::S_IFDIR as u16)
        }
        Kind::Node(m, _) => Some(strip(*m)),
        _ => None,
    }
}

/// Makes the object of `kind` at the negative `at` in `dir` (locked).
fn make(
    lock: &Locked<'_>,
    dir: &Dentry,
    at: &Dentry,
    kind: &Kind<'_>,
    strip: impl Fn(u16) -> u16,
    link_src: Option<&Dentry>,
) -> Result<ARef<Dentry>> {
    match kind {
        Kind::File(m) => lock.create(dir, at, strip(*m))?,
        Kind::Dir(m) => return lock.mkdir(dir, at, strip(*m)),
        Kind::Node(m, rdev) => lock.mknod(dir, at, strip(*m), *rdev)?,
        Kind::Symlink(target) => lock.symlink(dir, at, target)?,
        Kind::Link(_) => lock.link(link_src.ok_or(EIO)?, dir, at)?,
    }
    if at.inode().is_none() {
        return Err(EIO);
    }
    Ok(ARef::from(at))
}

/// Whether the negative rovl entry `name` of `pnode` hides a whiteout on
/// the upper layer (`ovl_dentry_is_whiteout`).
/// A whiteout in `work/` to rename over a name (`ovl_whiteout`): a new
/// hard link to the mount's shared whiteout while the upper filesystem
/// takes them, else the shared one itself (the next call makes another).
/// The caller holds `work/` locked.
pub(crate) fn whiteout(up: &Upper, lock: &Locked<'_>) -> Result<ARef<Dentry>> {
    let shared = match up.whiteout.take() {
        Some(w) => w,
        None => {
            let w = lock.lookup(&up.work, &temp_name(up)?)?;
            lock.whiteout(&up.work, &w)?;
            w
        }
    };
    if !up.no_shared_whiteout.load(Ordering::Relaxed) {
        let w = match temp_name(up).and_then(|n| lock.lookup(&up.work, &n)) {
            Ok(w) => w,
            Err(e) => {
                up.whiteout.put(shared);
                return Err(e);
            }
        };
        match lock.link(&shared, &up.work, &w) {
            Ok(()) => {
                up.whiteout.put(shared);
                return Ok(w);
            }
            Err(e) if e != vfs::errno(bindings::EMLINK) => {
                pr_warn!(
                    "Failed to link whiteout - disabling whiteout inode sharing(nlink={}, err={})\n",
                    shared.inode().map_or(0, |i| i.nlink()),
                    e.to_errno()
                );
                up.no_shared_whiteout.store(true, Ordering::Relaxed);
            }
            Err(_) => {}
        }
    }
    Ok(shared)
}

fn upper_whiteout(fs: &Rovl, pnode: &RovlNode, name: &[u8]) -> Result<bool> {
    let Some(udir) = pnode.upper() else {
        return Ok(false);
    };
    let mnt = fs.upper_mnt()?;
    let _cred = fs.cred.override_creds();
    let d = udir.lookup_one(mnt, name)?;
    Ok(xattrs::is_whiteout(fs, mnt, &d))
}

/// Replaces the upper directory `old` (named `name` in `udir`) by an empty
/// opaque one with the same attributes, dropping the whiteouts it held
/// (`ovl_clear_empty`); returns the new directory.
fn clear_empty(fs: &Rovl, udir: &Dentry, old: &Dentry) -> Result<ARef<Dentry>> {
    let up = up(fs)?;
    let mnt: &Mount = &up.mnt;
    let lock = Locked::rename(mnt, &up.work, udir)?;
    let t = lock.lookup(&up.work, &temp_name(up)?)?;
    let new = lock.mkdir(&up.work, &t, 0)?;
    let r = (|| -> Result {
        let src = vfs::RealPath { mnt, dentry: old };
        copy_up::copy_xattrs(fs, &src, &new)?;
        xattrs::check_set_private(fs, &new, b"opaque", b"y", Some(EIO))?;
        let mode = old.inode().ok_or(ENOENT)?.mode();
        new.setattr(mnt, &mut Iattr::new().mode(mode))?;
        let mut st = vfs::Kstat::new_zeroed();
        src.getattr(&mut st, 0x7ff, 0)?;
        new.setattr(mnt, &mut Iattr::new().owner(&mut st))?;
        let again = lock.lookup(udir, old.name())?;
        if !again.same(old) {
            return Err(vfs::errno(bindings::ESTALE));
        }
        lock.rename_entry(&up.work, &new, udir, old, bindings::RENAME_EXCHANGE)
    })();
    drop(lock);
    if let Err(e) = r {
        cleanup(mnt, &up.work, &new);
        return Err(e);
    }
    // The old directory, with its whiteouts, is in work/ now.
    remove_tree_of_whiteouts(fs, &up.work, old);
    Ok(new)
}

/// Removes a directory of whiteouts from `work/` (best effort).
fn remove_tree_of_whiteouts(fs: &Rovl, work: &Dentry, d: &Dentry) {
    let Ok(mnt) = fs.upper_mnt() else {
        return;
    };
    if d.can_lookup() {
        let mut names: KVec<KVec<u8>> = KVec::new();
        let path = vfs::RealPath { mnt, dentry: d };
        if let Ok(f) = vfs::File::open_dir(&path, &fs.cred) {
            let _ = f.read_dir(&mut |name, _, d_type| {
                if d_type == vfs::DT_CHR {
                    let mut n = KVec::new();
                    n.extend_from_slice(name, GFP_KERNEL)?;
                    names.push(n, GFP_KERNEL)?;
                }
                Ok(())
            });
        }
        if let Ok(lock) = Locked::dir(mnt, d) {
            for n in names.iter() {
                if let Ok(w) = lock.lookup(d, n) {
                    if w.inode().is_some_and(|i| i.is_whiteout()) {
                        let _ = lock.unlink(d, &w);
                    }
                }
            }
        }
    }
    cleanup(mnt, work, d);
}

/// unlink and rmdir (`ovl_do_remove`).
pub(crate) fn remove(sb: &SuperBlock<Rovl>, dir: &Dentry, dentry: &Dentry, is_dir: bool) -> Result {
    let fs = sb.data();
    up(fs)?;
    let node = sb.node(dentry).ok_or(ENOENT)?;
    let mut has_whiteouts = false;
    if is_dir {
        let (empty, wh) = readdir::check_empty(sb, dentry, node)?;
        if !empty {
            return Err(vfs::errno(bindings::ENOTEMPTY));
        }
        has_whiteouts = wh;
    }
    copy_up::copy_up(sb, dir)?;
    if has_origin(node) {
        sb.node(dir).ok_or(ENOENT)?.impurity_changed();
    }
    if is_dir {
        // With NFS export a lower directory is copied up (and indexed)
        // first, so that its index entry can mark it removed.
        nlink_start(sb, dentry)?;
        let r = remove_locked(sb, dir, dentry, node, true, has_whiteouts);
        if r.is_ok() && node.is_indexed() {
            if let Ok(_w) = WriteAccess::get(fs.upper_mnt()?) {
                let _cred = fs.cred.override_creds();
                index::cleanup(fs, node);
            }
        }
        return r;
    }
    nlink_start(sb, dentry)?;
    let r = remove_locked(sb, dir, dentry, node, false, false);
    if r.is_ok() {
        drop_nlink(node, dentry);
    }
    nlink_end(fs, node);
    r
}

fn remove_locked(
    sb: &SuperBlock<Rovl>,
    dir: &Dentry,
    dentry: &Dentry,
    node: &RovlNode,
    is_dir: bool,
    has_whiteouts: bool,
) -> Result {
    let fs = sb.data();
    let up = up(fs)?;
    let pnode = sb.node(dir).ok_or(ENOENT)?;
    let udir = pnode.upper().ok_or(EIO)?;
    let mnt: &Mount = &up.mnt;
    let _w = WriteAccess::get(mnt)?;
    let _cred = fs.cred.override_creds();
    let name = dentry.name();
    let positive = node.upper().is_none() || lower_positive(fs, pnode, name)?;
    let mut upper: Option<ARef<Dentry>> = node.upper().map(ARef::from);
    if let (Some(u), true) = (&upper, has_whiteouts) {
        upper = Some(clear_empty(fs, udir, u)?);
    }
    let lock = Locked::rename(mnt, &up.work, udir)?;
    let this = lock.lookup(udir, name)?;
    match &upper {
        Some(u) if !this.same_inode(u) => return Err(vfs::errno(bindings::ESTALE)),
        None if this.inode().is_some() => return Err(vfs::errno(bindings::ESTALE)),
        _ => {}
    }
    if !positive {
        return if is_dir {
            lock.rmdir(udir, &this)
        } else {
            lock.unlink(udir, &this)
        };
    }
    // Hide the lower object: a whiteout takes the name in one rename.
    let wh = whiteout(up, &lock)?;
    let r = if upper.is_some() {
        lock.rename_entry(&up.work, &wh, udir, &this, bindings::RENAME_EXCHANGE)
    } else {
        lock.rename_entry(&up.work, &wh, udir, &this, 0)
    };
    if let Err(e) = r {
        let _ = lock.unlink(&up.work, &wh);
        return Err(e);
    }
    drop(lock);
    if upper.is_some() {
        // The old upper object is in work/ under the temporary name.
        if is_dir {
            remove_tree_of_whiteouts(fs, &up.work, &this);
        } else {
            cleanup(mnt, &up.work, &this);
        }
    }
    Ok(())
}

/// Whether an object can move (`ovl_can_move`): anything with
/// `redirect_dir=on`, else not a directory that exists on a lower layer.
fn can_move(fs: &Rovl, node: &RovlNode) -> bool {
    fs.config.redirect == super::params::Redirect::On
        || !node.real_inode().is_dir()
        || node.stack.is_empty()
}

/// The redirect a moved directory gets (`ovl_get_redirect`): its own name
/// in the same parent, else the path from the root, built from the names
/// (or redirects) of its ancestors up to an absolute redirect.
fn get_redirect(sb: &SuperBlock<Rovl>, d: &Dentry, absolute: bool) -> Result<KVec<u8>> {
    let mut out = KVec::new();
    if !absolute {
        out.extend_from_slice(d.name(), GFP_KERNEL)?;
        return Ok(out);
    }
    // Components, innermost first.
    let mut parts: KVec<KVec<u8>> = KVec::new();
    let mut cur: ARef<Dentry> = ARef::from(d);
    let mut total = 0;
    loop {
        let parent = cur.parent();
        if parent.same(&cur) {
            break;
        }
        let mut name = KVec::new();
        match sb.node(&cur).and_then(|n| n.get_redirect()) {
            Some(r) => name.extend_from_slice(r, GFP_KERNEL)?,
            None => name.extend_from_slice(cur.name(), GFP_KERNEL)?,
        }
        total += name.len() + 1;
        // Too long: userspace copies instead (`redirect_max`).
        if total > REDIRECT_MAX {
            return Err(vfs::errno(bindings::EXDEV));
        }
        let abs = name.first() == Some(&b'/');
        parts.push(name, GFP_KERNEL)?;
        if abs {
            break;
        }
        cur = parent;
    }
    for p in parts.iter().rev() {
        if p.first() != Some(&b'/') {
            out.push(b'/', GFP_KERNEL)?;
        }
        out.extend_from_slice(p, GFP_KERNEL)?;
    }
    Ok(out)
}

/// `redirect_max` module parameter default of overlayfs.
const REDIRECT_MAX: usize = 256;

/// Records where a moved lower or merged directory's lower parts are, or
/// a moved or linked metacopy file's data (`ovl_set_redirect`); failure
/// falls back to `EXDEV` (userspace copy). A lower hard link gets an
/// absolute one: its names may end up in different directories.
fn set_redirect(sb: &SuperBlock<Rovl>, d: &Dentry, node: &RovlNode, samedir: bool) -> Result {
    let fs = sb.data();
    let absolute = !samedir
        || (!node.real_inode().is_dir()
            && node
                .stack
                .first()
                .and_then(|l| l.dentry.inode())
                .is_some_and(|i| i.nlink() > 1));
    if let Some(r) = node.get_redirect() {
        if !absolute || r.first() == Some(&b'/') {
            return Ok(());
        }
    }
    let r = get_redirect(sb, d, absolute)?;
    let upper = node.upper().ok_or(EIO)?;
    let exdev = vfs::errno(bindings::EXDEV);
    if let Err(e) = xattrs::check_set_private(fs, upper, b"redirect", &r, Some(exdev)) {
        crate::vfs::pr_warn_ratelimited!("failed to set redirect ({})\n", e.to_errno());
        return Err(vfs::errno(bindings::EXDEV));
    }
    let slot = if node.redirect.get().is_none() {
        &node.redirect
    } else {
        &node.redirect_abs
    };
    slot.set(KBox::new(r, GFP_KERNEL)?);
    Ok(())
}

/// The object was copied up and keeps its lower origin's st_ino
/// (`OVL_TYPE_ORIGIN`).
fn has_origin(node: &RovlNode) -> bool {
    node.upper().is_some() && !node.stack.is_empty() && node.const_ino
}

/// renameat2 with no flags, `RENAME_NOREPLACE` or `RENAME_EXCHANGE`
/// (`ovl_rename`). Directories that exist on a lower layer cannot move
/// (`EXDEV`: `mv` copies them instead), as overlayfs with redirect_dir=off.
pub(crate) fn rename(
    sb: &SuperBlock<Rovl>,
    olddir: &Dentry,
    old: &Dentry,
    newdir: &Dentry,
    new: &Dentry,
    flags: u32,
) -> Result {
    let fs = sb.data();
    up(fs)?;
    if flags & !(bindings::RENAME_EXCHANGE | bindings::RENAME_NOREPLACE) != 0 {
        return Err(EINVAL);
    }
    let mut flags = flags & !bindings::RENAME_NOREPLACE;
    let overwrite = flags & bindings::RENAME_EXCHANGE == 0;
    let onode = sb.node(old).ok_or(ENOENT)?;
    let nnode = sb.node(new);
    let is_dir = onode.real_inode().is_dir();
    let new_is_dir = nnode.is_some_and(|n| n.real_inode().is_dir());
    if !can_move(fs, onode) || (!overwrite && !nnode.is_some_and(|n| can_move(fs, n))) {
        return Err(vfs::errno(bindings::EXDEV));
    }
    let mut new_has_whiteouts = false;
    if let (true, true, Some(n)) = (overwrite, new_is_dir, nnode) {
        let pure = n.stack.is_empty() && !n.may_have_whiteouts();
        if !pure {
            let (empty, wh) = readdir::check_empty(sb, new, n)?;
            if !empty {
                return Err(vfs::errno(bindings::ENOTEMPTY));
            }
            new_has_whiteouts = wh;
        }
    }
    let opnode = sb.node(olddir).ok_or(ENOENT)?;
    copy_up::copy_up(sb, olddir)?;
    copy_up::copy_up(sb, newdir)?;
    let npnode = sb.node(newdir).ok_or(ENOENT)?;
    let mut cleanup_whiteout = false;
    if overwrite {
        let new_whiteout = nnode.is_none() && upper_whiteout(fs, npnode, new.name())?;
        let old_positive = onode.upper().is_none() || lower_positive(fs, opnode, old.name())?;
        if old_positive {
            flags |= if new_whiteout {
                bindings::RENAME_EXCHANGE
            } else {
                bindings::RENAME_WHITEOUT
            };
        } else if is_dir && new_whiteout {
            flags |= bindings::RENAME_EXCHANGE;
            cleanup_whiteout = true;
        }
    }
    copy_up::copy_up(sb, old)?;
    if !overwrite {
        copy_up::copy_up(sb, new)?;
    }
    // A name renamed over loses a link (`ovl_nlink_start` on it).
    let target = match (overwrite, nnode) {
        (true, Some(_)) => Some(nlink_start(sb, new)?),
        _ => None,
    };
    let r = rename_locked(
        sb,
        (olddir, old, onode),
        (newdir, new, nnode),
        (flags, overwrite),
        cleanup_whiteout,
        new_has_whiteouts,
    );
    if let Some(n) = target {
        if r.is_ok() && !new_is_dir {
            drop_nlink(n, new);
        }
        nlink_end(fs, n);
    }
    r
}

fn rename_locked(
    sb: &SuperBlock<Rovl>,
    (olddir, old, onode): (&Dentry, &Dentry, &RovlNode),
    (newdir, new, nnode): (&Dentry, &Dentry, Option<&RovlNode>),
    (flags, overwrite): (u32, bool),
    cleanup_whiteout: bool,
    new_has_whiteouts: bool,
) -> Result {
    let fs = sb.data();
    let up = up(fs)?;
    let is_dir = onode.real_inode().is_dir();
    let new_is_dir = nnode.is_some_and(|n| n.real_inode().is_dir());
    let opnode = sb.node(olddir).ok_or(ENOENT)?;
    let npnode = sb.node(newdir).ok_or(ENOENT)?;
    let mnt: &Mount = &up.mnt;
    let _w = WriteAccess::get(mnt)?;
    let _cred = fs.cred.override_creds();
    let old_udir = opnode.upper().ok_or(EIO)?;
    let new_udir = npnode.upper().ok_or(EIO)?;
    let mut new_upper = nnode.and_then(|n| n.upper()).map(ARef::from);
    if let (true, Some(u)) = (new_has_whiteouts, &new_upper) {
        new_upper = Some(clear_empty(fs, new_udir, u)?);
    }
    if !old_udir.same(new_udir) {
        if has_origin(onode) {
            xattrs::set_impure(fs, npnode)?;
        }
        if !overwrite && nnode.is_some_and(has_origin) {
            xattrs::set_impure(fs, opnode)?;
        }
    }
    // Names of copied-up entries change in both directories (`ovl_rename`).
    if has_origin(onode) || nnode.is_some_and(has_origin) {
        opnode.impurity_changed();
        npnode.impurity_changed();
    }
    let lock = Locked::rename(mnt, new_udir, old_udir)?;
    let od = lock.lookup(old_udir, old.name())?;
    if !onode.upper().is_some_and(|u| u.same_inode(&od)) {
        return Err(vfs::errno(bindings::ESTALE));
    }
    let nd = lock.lookup(new_udir, new.name())?;
    match &new_upper {
        Some(u) if !u.same_inode(&nd) => return Err(vfs::errno(bindings::ESTALE)),
        Some(_) => {}
        None => {
            if nd.inode().is_some() {
                if !xattrs::is_whiteout(fs, mnt, &nd) {
                    return Err(vfs::errno(bindings::ESTALE));
                }
            } else if flags & bindings::RENAME_EXCHANGE != 0 {
                return Err(vfs::errno(bindings::ESTALE));
            }
        }
    }
    let samedir = old_udir.same(new_udir);
    // A directory with lower parts keeps finding them through a redirect,
    // a metacopy file its data; a pure upper directory must not merge with
    // what is below its new name.
    if (is_dir && !onode.stack.is_empty()) || onode.is_metacopy() {
        set_redirect(sb, old, onode, samedir)?;
    } else if is_dir && xattrs::opaque_val(fs, mnt, &od) != b'y' && npnode.is_merged() {
        let exdev = vfs::errno(bindings::EXDEV);
        xattrs::check_set_private(fs, &od, b"opaque", b"y", Some(exdev)).map_err(|_| exdev)?;
    }
    if let (false, Some(n)) = (overwrite, nnode) {
        if (new_is_dir && !n.stack.is_empty()) || n.is_metacopy() {
            set_redirect(sb, new, n, samedir)?;
        } else if new_is_dir && xattrs::opaque_val(fs, mnt, &nd) != b'y' && opnode.is_merged() {
            let exdev = vfs::errno(bindings::EXDEV);
            xattrs::check_set_private(fs, &nd, b"opaque", b"y", Some(exdev)).map_err(|_| exdev)?;
        }
    }
    lock.rename_entry(old_udir, &od, new_udir, &nd, flags)?;
    if cleanup_whiteout {
        // The whiteout that was at the new name is at the old one now.
        let _ = lock.unlink(old_udir, &nd);
    }
    drop(lock);
    if let Some(i) = old.inode() {
        vfs::sync_attrs::<Rovl>(i, onode);
    }
    Ok(())
}
