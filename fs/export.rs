// SPDX-License-Identifier: GPL-2.0

//! File handles of overlay objects (`fs/overlayfs/export.c`): handles that
//! only name an object (fanotify, `name_to_handle_at(AT_HANDLE_FID)`), and
//! with `nfs_export=on` handles that `open_by_handle_at` and NFS decode.
//!
//! A non-directory comes back as a disconnected dentry of its (cached or
//! new) inode, a directory as the connected dentry found by looking up, in
//! the overlay, the names of the real directory's ancestors from the
//! nearest one whose overlay dentry is cached (`ovl_lookup_real`). On a
//! writable mount every copied-up object is indexed, so that a lower
//! handle finds its upper object, or learns that it was removed.

use super::{copy_up, index, namei, RealEntry, Rovl, RovlNode, UPPER};
use crate::vfs::{self, Dentry, Inode, Mount, SuperBlock};
use core::sync::atomic::Ordering;
use kernel::bindings;
use kernel::prelude::*;
use kernel::types::ARef;

/// The handle type of an overlay file handle (`OVL_FILEID_V1`) ...
const OVL_FILEID_V1: u8 = 0xf8;
/// ... and of the older one without the alignment bytes (`OVL_FILEID_V0`).
const OVL_FILEID_V0: u8 = 0xfb;

/// Bytes before `struct ovl_fb` in `struct ovl_fh`, which keep the real
/// handle 32-bit aligned (`OVL_FH_WIRE_OFFSET`).
const WIRE_OFFSET: usize = 3;

/// `struct ovl_fb` up to the real handle: version, magic, length, flags,
/// type and uuid.
const FB_HEADER: usize = 21;

/// `struct ovl_fb` flags (`OVL_FH_FLAG_*`).
const FLAG_BIG_ENDIAN: u8 = 1 << 0;
const FLAG_ANY_ENDIAN: u8 = 1 << 1;
const FLAG_PATH_UPPER: u8 = 1 << 2;
const FLAG_ALL: u8 = FLAG_BIG_ENDIAN | FLAG_ANY_ENDIAN | FLAG_PATH_UPPER;

/// The handle of a node (`ovl_encode_fh`): the lower object's, which a
/// copy-up does not change, or the upper one's (see `encode_origin`).
pub(crate) fn encode_fh(
    sb: &SuperBlock<Rovl>,
    inode: &Inode,
    node: &RovlNode,
    buf: &mut [u8],
) -> Result<(u8, usize)> {
    let fs = sb.data();
    let lower = encode_origin(sb, inode, node).inspect_err(|e| {
        vfs::pr_warn_ratelimited!(
            "failed to encode file handle (ino={}, err={})\n",
            inode.ino(),
            e.to_errno()
        );
    })?;
    let (real, is_upper) = match (lower, node.stack.first(), node.upper()) {
        (true, Some(l), _) => (&*l.dentry, false),
        (false, _, Some(u)) => (u, true),
        _ => return Err(EIO),
    };
    let fb = copy_up::real_fh(fs, real, is_upper)?;
    let len = WIRE_OFFSET + fb.len();
    if let Some(out) = buf.get_mut(..len) {
        out[..WIRE_OFFSET].fill(0);
        out[WIRE_OFFSET..].copy_from_slice(&fb);
    }
    Ok((OVL_FILEID_V1, len))
}

/// Whether a node's handle is its lower object's (`ovl_check_encode_origin`):
/// so that a handle taken before a copy-up still names the object after.
/// Not for objects without one, the root of a writable mount, nor with NFS
/// export an upper object that is not indexed (copied up before NFS export
/// was on): those get the upper object's handle. With NFS export a lower
/// directory's ancestors may be copied up first, so that the handle
/// decodes (`connect_layer`).
fn encode_origin(sb: &SuperBlock<Rovl>, inode: &Inode, node: &RovlNode) -> Result<bool> {
    let fs = sb.data();
    let decodable = fs.config.nfs_export;
    if fs.upper.is_none() || (node.upper().is_none() && !decodable) {
        return Ok(true);
    }
    if node.stack.is_empty() || sb.root().has_inode(inode) {
        return Ok(false);
    }
    if node.upper().is_some() && decodable && !node.is_indexed() {
        return Ok(false);
    }
    if !decodable || !inode.is_dir() {
        return Ok(true);
    }
    let d = inode.any_alias().ok_or(ENOENT)?;
    connect_layer(sb, &d)?;
    Ok(true)
}

/// The topmost layer (by overlayfs's number) whose objects below `d` a
/// lower handle can reach from `d` (`ovl_connectable_layer`): any from the
/// root, none from an upper directory that is not indexed, else `d`'s
/// origin's layer.
fn connectable_layer(sb: &SuperBlock<Rovl>, d: &Dentry) -> usize {
    let Some(node) = sb.node(d) else {
        return 0;
    };
    if d.same(sb.root()) {
        return node.stack.len();
    }
    if node.upper().is_some() && !node.is_indexed() {
        return 0;
    }
    node.stack.first().map_or(0, |l| layer_idx(l.layer))
}

/// Makes the lower handle of directory `d` decodable (`ovl_connect_layer`):
/// where an ancestor cannot be reached from `d`'s origin's layer (under a
/// non-indexed upper directory or a redirect), the ancestor just below it
/// is copied up, and so indexed.
fn connect_layer(sb: &SuperBlock<Rovl>, d: &Dentry) -> Result {
    let node = sb.node(d).ok_or(EIO)?;
    let origin_layer = node.stack.first().map(|l| layer_idx(l.layer)).ok_or(EIO)?;
    if d.same(sb.root()) {
        return Err(EIO);
    }
    if node.connected.load(Ordering::Acquire) {
        return Ok(());
    }
    let mut next: ARef<Dentry> = d.into();
    loop {
        let parent = next.parent();
        if parent.same(&next) {
            return Err(EIO);
        }
        if connectable_layer(sb, &parent) < origin_layer {
            encode_copy_up(sb, &next)?;
            break;
        }
        let pn = sb.node(&parent).ok_or(EIO)?;
        if parent.same(sb.root()) || pn.connected.load(Ordering::Acquire) || pn.is_indexed() {
            break;
        }
        next = parent;
    }
    node.connected.store(true, Ordering::Release);
    Ok(())
}

/// Copies `d` up so that its handle decodes (`ovl_encode_maybe_copy_up`).
fn encode_copy_up(sb: &SuperBlock<Rovl>, d: &Dentry) -> Result {
    if sb.node(d).is_some_and(|n| n.upper().is_some()) {
        return Ok(());
    }
    copy_up::copy_up(sb, d).inspect_err(|e| {
        vfs::pr_warn_ratelimited!(
            "failed to copy up on encode ({}, err={})\n",
            super::params::BStrLossy(&d.printed_name(1)),
            e.to_errno()
        );
    })
}

/// The dentry a handle names (`ovl_fh_to_dentry`); `None` or `ESTALE`
/// for an object that is gone. Other failures are logged.
pub(crate) fn fh_to_dentry(
    sb: &SuperBlock<Rovl>,
    fid: &[u8],
    fh_type: i32,
) -> Result<Option<ARef<Dentry>>> {
    let mut flags = 0;
    let r = (|| {
        // `ovl_fid_to_fh` and `ovl_check_fh_len`: the `ovl_fb` after the
        // alignment bytes, or at the start of an old handle.
        if fid.len() < WIRE_OFFSET + FB_HEADER {
            return Err(EINVAL);
        }
        let fb = match u8::try_from(fh_type) {
            Ok(OVL_FILEID_V1) => &fid[WIRE_OFFSET..],
            Ok(OVL_FILEID_V0) => &fid[..fid.len() - WIRE_OFFSET],
            _ => return Err(EINVAL),
        };
        let len = usize::from(fb[2]);
        if fb.len() < len || fb[1] != 0xfb {
            return Err(EINVAL);
        }
        flags = fb[3];
        // A newer version, unknown flags or the other byte order: as an
        // unknown origin (`ovl_check_fb_len`).
        let big = if cfg!(target_endian = "big") {
            FLAG_BIG_ENDIAN
        } else {
            0
        };
        if fb[0] > 0
            || flags & !FLAG_ALL != 0
            || (flags & FLAG_ANY_ENDIAN == 0 && flags & FLAG_BIG_ENDIAN != big)
        {
            return Err(vfs::errno(bindings::ENODATA));
        }
        let fb = &fb[..len];
        if flags & FLAG_PATH_UPPER != 0 {
            upper_fh_to_d(sb, fb)
        } else {
            lower_fh_to_d(sb, fb)
        }
    })();
    r.inspect_err(|e| {
        if *e != vfs::errno(bindings::ESTALE) {
            vfs::pr_warn_ratelimited!(
                "failed to decode file handle (len={}, type={}, flags={:x}, err={})\n",
                fid.len() / 4,
                fh_type,
                flags,
                e.to_errno()
            );
        }
    })
}

/// A connectable handle's parent: rovl, as overlayfs, encodes none.
pub(crate) fn fh_to_parent() -> Error {
    vfs::pr_warn_ratelimited!(
        "connectable file handles not supported; use 'no_subtree_check' exportfs option.\n"
    );
    EACCES
}

/// The object a handle of the upper layer names (`ovl_upper_fh_to_d`).
fn upper_fh_to_d(sb: &SuperBlock<Rovl>, fb: &[u8]) -> Result<Option<ARef<Dentry>>> {
    let fs = sb.data();
    let mnt = fs.upper_mnt().map_err(|_| EACCES)?;
    let Some(upper) = decode_real_fh(fs, fb, mnt, true)? else {
        return Ok(None);
    };
    get_dentry(sb, Some(upper), None, None).map(Some)
}

/// The object a handle of a lower layer names (`ovl_lower_fh_to_d`): a
/// cached inode of that lower object if there is one, else through its
/// index entry where it was copied up (stale where it was removed).
fn lower_fh_to_d(sb: &SuperBlock<Rovl>, fb: &[u8]) -> Result<Option<ARef<Dentry>>> {
    let fs = sb.data();
    let origin = check_origin_fh(fs, fb, false)?;
    if !origin.dentry.can_lookup() || !origin.dentry.is_disconnected() {
        if let Some(d) = cached_alias(sb, &origin.dentry, false)? {
            return Ok(Some(d));
        }
    }
    let index = match fs.index_dir() {
        Some(_) => index_of_fh(fs, fb)?,
        None => None,
    };
    // A copied-up directory: its upper one, connected.
    if let Some(ix) = index.as_deref().filter(|ix| ix.can_lookup()) {
        let Some(upper) = index::index_upper(fs, ix, true)? else {
            return Ok(None);
        };
        return get_dentry(sb, Some(upper), None, None).map(Some);
    }
    // A directory again, connected below its layer's root this time.
    let origin = if origin.dentry.can_lookup() {
        check_origin_fh(fs, fb, true)?
    } else {
        origin
    };
    if let Some(ix) = index.as_deref() {
        namei::verify_origin(fs, ix, &origin.dentry)?;
    }
    get_dentry(sb, None, Some(origin), index).map(Some)
}

/// The index entry a lower handle names (`ovl_get_index_fh`): `ESTALE`
/// for a whiteout (every name of the object removed).
fn index_of_fh(fs: &Rovl, fb: &[u8]) -> Result<Option<ARef<Dentry>>> {
    let dir = fs.index_dir().ok_or(EIO)?;
    let name = index::name_of_fh(fb)?;
    let index = match dir.lookup_one(fs.upper_mnt()?, &name) {
        Ok(d) if d.inode().is_some() => d,
        Ok(_) => return Ok(None),
        Err(e) if e == ENOENT => return Ok(None),
        Err(e) => return Err(e),
    };
    if index.inode().is_some_and(|i| i.is_whiteout()) {
        Err(vfs::errno(bindings::ESTALE))
    } else if index.is_weird() {
        Err(EIO)
    } else {
        Ok(Some(index))
    }
}

/// The real object a handle names on `mnt` (`ovl_decode_real_fh`): `None`
/// where the caller may not decode handles, the uuid is another
/// filesystem's, or a lower object is gone.
pub(crate) fn decode_real_fh(
    fs: &Rovl,
    fb: &[u8],
    mnt: &Mount,
    connected: bool,
) -> Result<Option<ARef<Dentry>>> {
    // A length short of the header (which the handle's own length field
    // may claim) decodes nowhere.
    if !vfs::capable_dac_read_search() || fb.len() < FB_HEADER {
        return Ok(None);
    }
    let uuid = &fb[5..FB_HEADER];
    let uuid_ok = if fs.config.uuid == super::params::Uuid::Off {
        uuid.iter().all(|&b| b == 0)
    } else {
        *uuid == mnt.root().sb_uuid()
    };
    if !uuid_ok {
        return Ok(None);
    }
    let mut fid = [0u32; 32];
    for (k, w) in fb[FB_HEADER..].chunks_exact(4).take(fid.len()).enumerate() {
        fid[k] = u32::from_ne_bytes([w[0], w[1], w[2], w[3]]);
    }
    let bytes = (fb.len() - FB_HEADER) & !3;
    match mnt.decode_fh(&mut fid, bytes, i32::from(fb[4]), connected) {
        // A stale lower handle is an unknown origin; a stale upper one
        // says the object is gone.
        Err(e) if e == vfs::errno(bindings::ESTALE) && fb[3] & FLAG_PATH_UPPER == 0 => Ok(None),
        Err(e) => Err(e),
        Ok(d) if d.is_weird() => Ok(None),
        Ok(d) => Ok(Some(d)),
    }
}

/// The lower object a handle names, on the first lower layer that decodes
/// it (`ovl_check_origin_fh`); `ESTALE` where none does.
fn check_origin_fh(fs: &Rovl, fb: &[u8], connected: bool) -> Result<RealEntry> {
    for layer in 0..fs.layers.len() {
        // A uuid that cannot tell this layer's handles from another's.
        let fsid = fs.fsid[layer];
        if fsid != 0 && fs.bad_uuid.get(fsid).copied().unwrap_or(false) {
            continue;
        }
        if let Some(dentry) = decode_real_fh(fs, fb, fs.mnt(layer), connected)? {
            return Ok(RealEntry { layer, dentry });
        }
    }
    Err(vfs::errno(bindings::ESTALE))
}

/// The overlay dentry of a decoded real object (`ovl_get_dentry`): a
/// disconnected one for a non-directory (with its index entry, if
/// indexed), the connected one whose real directory it is for a directory.
fn get_dentry(
    sb: &SuperBlock<Rovl>,
    upper: Option<ARef<Dentry>>,
    lower: Option<RealEntry>,
    index: Option<ARef<Dentry>>,
) -> Result<ARef<Dentry>> {
    let (real, layer) = match (&upper, &index, &lower) {
        (Some(u), _, _) => (u.clone(), UPPER),
        (None, Some(i), Some(l)) => (i.clone(), l.layer),
        (None, None, Some(l)) => (l.dentry.clone(), l.layer),
        _ => return Err(EIO),
    };
    if !real.can_lookup() {
        return obtain_alias(sb, upper, lower, index);
    }
    // A removed empty directory.
    if real.is_disconnected() || real.is_unhashed() {
        return Err(ENOENT);
    }
    lookup_real(sb, &real, layer)
}

/// A dentry of the inode of a non-directory from its real objects, made
/// or found in the inode cache (`ovl_obtain_alias`).
fn obtain_alias(
    sb: &SuperBlock<Rovl>,
    upper: Option<ARef<Dentry>>,
    lower: Option<RealEntry>,
    index: Option<ARef<Dentry>>,
) -> Result<ARef<Dentry>> {
    let fs = sb.data();
    let mut stack = KVec::new();
    if let Some(l) = lower {
        stack.push(l, GFP_KERNEL)?;
    }
    let indexed = index.is_some();
    let node = fs.new_node(upper.or(index), stack, false, indexed)?;
    sb.obtain_alias(node)
}

/// The real object of an overlay dentry on `layer` (`ovl_dentry_real_at`).
fn real_at<'a>(sb: &SuperBlock<Rovl>, d: &'a Dentry, layer: usize) -> Option<&'a Dentry> {
    let node = sb.node(d)?;
    if layer == UPPER {
        node.upper()
    } else {
        node.stack
            .iter()
            .find(|e| e.layer == layer)
            .map(|e| &*e.dentry)
    }
}

/// overlayfs's number of a layer in messages: 0 for the upper one.
fn layer_idx(layer: usize) -> usize {
    if layer == UPPER {
        0
    } else {
        layer + 1
    }
}

/// A dentry of the cached overlay inode of real object `real`, if the
/// inode stacks on it (`ovl_lookup_inode`, `d_find_any_alias`); `ESTALE`
/// when the cached inode has another object on that layer.
fn cached_alias(
    sb: &SuperBlock<Rovl>,
    real: &Dentry,
    is_upper: bool,
) -> Result<Option<ARef<Dentry>>> {
    let inode = real.inode().ok_or(ENOENT)?;
    sb.cached_alias(inode.id(), |node| {
        let ours = if is_upper {
            node.upper()
        } else {
            node.stack.first().map(|e| &*e.dentry)
        };
        if ours.is_some_and(|d| d.has_inode(inode)) {
            Ok(())
        } else {
            Err(vfs::errno(bindings::ESTALE))
        }
    })
}

/// A cached overlay dentry whose real object on `layer` is `real`
/// (`ovl_lookup_real_inode`).
fn lookup_real_inode(
    sb: &SuperBlock<Rovl>,
    real: &Dentry,
    layer: usize,
) -> Result<Option<ARef<Dentry>>> {
    let fs = sb.data();
    let mut this = cached_alias(sb, real, layer == UPPER)?;
    // A lower directory copied up: its upper one, connected from its own
    // nearest cached ancestor on the upper layer.
    if this.is_none() && layer != UPPER && fs.index_dir().is_some() && real.can_lookup() {
        if let Some(ix) = index::lookup(fs, None, real, false)? {
            let Some(upper) = index::index_upper(fs, &ix, true)? else {
                return Ok(None);
            };
            this = Some(lookup_real(sb, &upper, UPPER)?);
        }
    }
    let Some(this) = this else {
        return Ok(None);
    };
    if !real_at(sb, &this, layer).is_some_and(|r| r.same(real)) {
        return Err(EIO);
    }
    Ok(Some(this))
}

/// The overlay dentry of the nearest ancestor of `real` (or `real`
/// itself) that is cached, else the root (`ovl_lookup_real_ancestor`).
fn lookup_real_ancestor(
    sb: &SuperBlock<Rovl>,
    real: &Dentry,
    layer: usize,
) -> Result<ARef<Dentry>> {
    let root = sb.data().mnt(layer).root();
    if real.same(root) {
        return Ok(sb.root().into());
    }
    let mut next: ARef<Dentry> = real.into();
    loop {
        let parent = next.parent();
        if let Some(a) = lookup_real_inode(sb, &next, layer)? {
            return Ok(a);
        }
        if parent.same(root) {
            return Ok(sb.root().into());
        }
        // Moved out of the layer: no overlay rename does that.
        if parent.same(&next) {
            return Err(EXDEV);
        }
        next = parent;
    }
}

/// The connected overlay dentry whose real directory on `layer` is `real`
/// (`ovl_lookup_real`): from the nearest cached ancestor, each name on the
/// way down is looked up in the overlay and must stack on the real one.
fn lookup_real(sb: &SuperBlock<Rovl>, real: &Dentry, layer: usize) -> Result<ARef<Dentry>> {
    let root = sb.data().mnt(layer).root();
    let mut connected = lookup_real_ancestor(sb, real, layer)?;
    let r = loop {
        let real_connected: Option<ARef<Dentry>> = real_at(sb, &connected, layer).map(ARef::from);
        if real_connected.as_deref().is_some_and(|r| r.same(real)) {
            break Ok(());
        }
        // The topmost ancestor of `real` not connected yet.
        let mut next: ARef<Dentry> = real.into();
        let found = loop {
            let parent = next.parent();
            if real_connected.as_deref().is_some_and(|r| r.same(&parent)) {
                break Ok(());
            }
            // Moved out of `real_connected`: start again from the root.
            if parent.same(root) {
                connected = sb.root().into();
                break Ok(());
            }
            if parent.same(&next) {
                break Err(EXDEV);
            }
            next = parent;
        };
        let this = found.and_then(|()| lookup_real_one(sb, &connected, &next, layer));
        // An overlay rename raced with the lookup: from the nearest cached
        // ancestor again, which likely is the renamed one now.
        let this = match this {
            Err(e) if e == ECHILD => lookup_real_ancestor(sb, real, layer),
            this => this,
        };
        match this {
            Ok(t) => connected = t,
            Err(e) => break Err(e),
        }
    };
    match r {
        Ok(()) => Ok(connected),
        Err(e) => {
            vfs::pr_warn_ratelimited!(
                "failed to lookup by real ({}, layer={}, connected={}, err={})\n",
                super::params::BStrLossy(&real.printed_name(1)),
                layer_idx(layer),
                super::params::BStrLossy(&connected.printed_name(1)),
                e.to_errno()
            );
            Err(e)
        }
    }
}

/// The child of overlay directory `connected` named as `real`, whose
/// parent is the real directory of `connected` on `layer`; it must stack
/// on `real` (`ovl_lookup_real_one`). `ECHILD` where an overlay rename
/// moved things meanwhile.
fn lookup_real_one(
    sb: &SuperBlock<Rovl>,
    connected: &Dentry,
    real: &Dentry,
    layer: usize,
) -> Result<ARef<Dentry>> {
    let dir = connected.inode().ok_or(ENOENT)?;
    let parent = real.parent();
    let r = {
        // Overlay renames take this lock: the names stay put.
        let lock = dir.lock();
        if !real_at(sb, connected, layer).is_some_and(|p| p.same(&parent)) {
            Err(ECHILD)
        } else {
            real.with_name_snapshot(|name| connected.lookup_locked(&lock, name))
                .and_then(|this| {
                    if this.inode().is_none() {
                        Err(ENOENT)
                    } else if !real_at(sb, &this, layer).is_some_and(|r| r.same(real)) {
                        Err(vfs::errno(bindings::ESTALE))
                    } else {
                        Ok(this)
                    }
                })
        }
    };
    r.inspect_err(|e| {
        vfs::pr_warn_ratelimited!(
            "failed to lookup one by real ({}, layer={}, connected={}, err={})\n",
            super::params::BStrLossy(&real.printed_name(1)),
            layer_idx(layer),
            super::params::BStrLossy(&connected.printed_name(1)),
            e.to_errno()
        );
    })
}
