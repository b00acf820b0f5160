// SPDX-License-Identifier: GPL-2.0

//! Attributes and symlinks (inode.c).

use super::{Rovl, RovlNode};
use crate::vfs::{
    AclArg, DelayedCall, Dentry, Fiemap, FileAttrArg, Iattr, Inode, Kstat, PosixAcl, RealPath,
    SuperBlock, WriteAccess, COPY_I_FLAGS, PROT_FS_FLAGS,
};
use kernel::bindings;
use kernel::prelude::*;

/// stat of the topmost real object, with overlayfs's st_dev/st_ino rules
/// (`ovl_getattr`, `ovl_map_dev_ino`).
pub(crate) fn getattr(
    sb: &SuperBlock<Rovl>,
    node: &RovlNode,
    stat: &mut Kstat,
    mask: u32,
    flags: u32,
) -> Result {
    let fs = sb.data();
    let is_dir = node.real_inode().is_dir();
    {
        let _cred = fs.cred.override_creds();
        node.real_path(fs).getattr(stat, mask, flags)?;
    }
    // A metacopy file's blocks are its data's; a guess from the size while
    // the data in a data-only layer is not looked up yet.
    if node.is_metacopy() {
        let blocks = match node.lowerdata() {
            Some(e) => {
                let mut ds = Kstat::new_zeroed();
                let _cred = fs.cred.override_creds();
                let path = crate::vfs::RealPath {
                    mnt: fs.mnt(e.layer),
                    dentry: &e.dentry,
                };
                path.getattr(&mut ds, STATX_BLOCKS, flags)?;
                ds.blocks()
            }
            None => {
                let bs = i64::from(stat.blksize().max(1));
                (((stat.size() + bs - 1) / bs * bs) >> 9) as u64
            }
        };
        stat.set_blocks(blocks);
    }
    // A copied-up object keeps its origin's st_ino where numbers are
    // unified, so st_ino stays constant across copy-up.
    let mut top = node.top().layer;
    if !is_dir || fs.samefs || fs.xino_bits > 0 {
        if let Some(l) = node.origin() {
            if let Some(i) = l.dentry.inode() {
                stat.set_ino(i.ino());
                top = l.layer;
            }
        }
    }
    // `ovl_map_dev_ino`: with all layers on one filesystem the real inode
    // numbers are unique and the overlay's st_dev is used (friendly to
    // `du -x`); with xino the layer's fsid goes in the high bits.
    if fs.samefs {
        stat.set_dev(sb.dev());
    } else if let Some(ino) = fs.xino_map(stat.ino(), top) {
        stat.set_ino(ino);
        stat.set_dev(sb.dev());
    } else if is_dir {
        // Directories stay on the overlay's st_dev, so `find -xdev` keeps
        // inside the mount; their real numbers may collide, so they get
        // the private inode number.
        stat.set_dev(sb.dev());
        stat.set_ino(node.ino);
    } else {
        // Unique per filesystem: one anonymous st_dev per filesystem, the
        // upper one's too, as a lower layer on it may hold a file whose
        // real st_ino a copy-up keeps (overlayfs 9c6d8f13e9da).
        stat.set_dev(fs.pseudo_devs[fs.fsid_of(top)].dev());
    }
    // Counting subdirectories of a merged directory is not worth it;
    // nlink=1 pacifies `find` (as overlayfs).
    if is_dir && node.is_merged() {
        stat.set_nlink(1);
    }
    // An indexed file counts the links of all its names, upper or lower.
    if !is_dir && node.is_indexed() {
        stat.set_nlink(node.nlink.load(core::sync::atomic::Ordering::Acquire));
    }
    Ok(())
}

/// Follows the real symlink.
pub(crate) fn get_link(fs: &Rovl, node: &RovlNode, done: &DelayedCall) -> Result<*const u8> {
    let _cred = fs.cred.override_creds();
    node.top().dentry.get_link(done)
}

/// `STATX_BLOCKS` of uapi/linux/stat.h.
const STATX_BLOCKS: u32 = 0x400;

/// `MAY_READ`, `MAY_WRITE`, `MAY_APPEND` of linux/fs.h.
const MAY_WRITE: i32 = 0x2;
const MAY_READ: i32 = 0x4;
const MAY_APPEND: i32 = 0x8;

/// Checks the rovl inode with the caller's credentials, then the real inode
/// with the mounter's (`ovl_permission`). A write to a lower object will be
/// a copy-up, for which the mounter needs to read it, not write it.
pub(crate) fn permission(fs: &Rovl, node: &RovlNode, inode: &Inode, mask: i32) -> Result {
    inode.generic_permission(mask)?;
    let real = node.real_inode();
    let mask = real_mask(real, node.upper().is_some(), mask);
    let _cred = fs.cred.override_creds();
    real.permission(fs.mnt(node.top().layer), mask)
}

/// `permission` in RCU walk mode, from the real inode the rovl inode
/// published (the top one, as `permission` uses). Without idmapped layers
/// every layer's idmap is the identity; with them, a reference walk finds
/// the layer.
pub(crate) fn permission_rcu(
    fs: &Rovl,
    inode: &Inode,
    real: &Inode,
    upper: bool,
    mask: i32,
) -> Result {
    if fs.idmapped {
        return Err(ECHILD);
    }
    inode.generic_permission(mask)?;
    let mask = real_mask(real, upper, mask);
    let _cred = fs.cred.override_creds();
    real.permission_unmapped(mask)
}

/// What the mounter needs on the real inode for `mask` on the rovl one.
fn real_mask(real: &Inode, upper: bool, mask: i32) -> i32 {
    if !upper && !is_special(real.mode()) && mask & MAY_WRITE != 0 {
        (mask & !(MAY_WRITE | MAY_APPEND)) | MAY_READ
    } else {
        mask
    }
}

fn is_special(mode: u16) -> bool {
    matches!(
        u32::from(mode) & bindings::S_IFMT,
        bindings::S_IFCHR | bindings::S_IFBLK | bindings::S_IFIFO | bindings::S_IFSOCK
    )
}

/// The real object's POSIX ACL, read with the mounter's credentials.
pub(crate) fn get_acl(fs: &Rovl, node: &RovlNode, acl_type: i32) -> Result<Option<PosixAcl>> {
    let real = node.real_inode();
    if !real.is_posixacl() {
        return Ok(None);
    }
    let _cred = fs.cred.override_creds();
    real.get_acl(acl_type)
}

/// chmod, chown, truncate and utimes (`ovl_setattr`): copy up, then change
/// the upper object.
pub(crate) fn setattr(
    sb: &SuperBlock<Rovl>,
    dentry: &Dentry,
    node: &RovlNode,
    attr: &mut Iattr,
) -> Result {
    let fs = sb.data();
    // A truncate needs the data on the upper layer too.
    let flags = if attr.valid() & bindings::ATTR_SIZE != 0 {
        bindings::O_WRONLY
    } else {
        0
    };
    super::copy_up::copy_up_flags(sb, dentry, flags)?;
    let upper = node.upper().ok_or(EIO)?;
    // `notify_change` rejects a mode together with set-id killing.
    if attr.valid() & (bindings::ATTR_KILL_SUID | bindings::ATTR_KILL_SGID) != 0 {
        attr.set_valid(attr.valid() & !bindings::ATTR_MODE);
    }
    attr.drop_file();
    let mnt = fs.upper_mnt()?;
    let _w = WriteAccess::get(mnt)?;
    let _cred = fs.cred.override_creds();
    upper.setattr(mnt, attr)
}

/// setfacl through the rovl inode (`ovl_set_or_remove_acl`): removing an
/// ACL the object lacks fails before any copy-up.
pub(crate) fn set_acl(
    sb: &SuperBlock<Rovl>,
    dentry: &Dentry,
    node: &RovlNode,
    acl_type: i32,
    acl: AclArg,
) -> Result {
    let fs = sb.data();
    let name = if acl_type == ACL_TYPE_ACCESS {
        kernel::c_str!("system.posix_acl_access")
    } else {
        kernel::c_str!("system.posix_acl_default")
    };
    if !node.real_inode().is_posixacl() {
        return Err(crate::vfs::errno(bindings::EOPNOTSUPP));
    }
    if acl.is_none() && node.upper().is_none() {
        let _cred = fs.cred.override_creds();
        if node.real_inode().get_acl(acl_type)?.is_none() {
            return Err(crate::vfs::errno(bindings::ENODATA));
        }
    }
    // The ACL is set with the mounter's credentials, for which the upper
    // filesystem keeps the set-group-ID bit: cleared first where the
    // caller could not keep it (`ovl_set_acl`).
    let inode = dentry.inode().ok_or(ENOENT)?;
    if acl_type == ACL_TYPE_ACCESS
        && inode.mode() & bindings::S_ISGID as u16 != 0
        && !inode.in_group_or_capable_fsetid()
    {
        let mut attr = Iattr::new();
        attr.set_valid(bindings::ATTR_KILL_SGID);
        setattr(sb, dentry, node, &mut attr)?;
        crate::vfs::sync_attrs::<Rovl>(inode, node);
    }
    // As for xattrs: an indexed name needs no upper alias of its own.
    if node.upper().is_none() {
        super::copy_up::copy_up(sb, dentry)?;
    }
    let upper = node.upper().ok_or(EIO)?;
    let mnt = fs.upper_mnt()?;
    let _w = WriteAccess::get(mnt)?;
    let _cred = fs.cred.override_creds();
    acl.apply(upper, mnt, name)
}

/// `ACL_TYPE_ACCESS` of linux/posix_acl.h.
const ACL_TYPE_ACCESS: i32 = 0x8000;

/// `S_APPEND | S_IMMUTABLE`: kept in `protattr` on upper objects.
const PROT_I_FLAGS: u32 = bindings::S_APPEND | bindings::S_IMMUTABLE;

/// `lsattr` (`ovl_fileattr_get`): the topmost real object's flags, with
/// append-only and immutable as the rovl inode has them (they live in
/// `protattr`, not on the upper inode).
pub(crate) fn fileattr_get(
    sb: &SuperBlock<Rovl>,
    dentry: &Dentry,
    node: &RovlNode,
    fa: &mut FileAttrArg,
) -> Result {
    let fs = sb.data();
    let r = {
        let _cred = fs.cred.override_creds();
        fa.get_from(&node.real_path(fs), &fs.cred)
    };
    fa.set_prot(dentry.inode().map_or(0, |i| i.flags()), true);
    r
}

/// `chattr` (`ovl_fileattr_set`): copies up, stores append-only and
/// immutable in `protattr` (the upper inode must stay writable for
/// overlay's own xattrs and renames) and sets the other flags on the upper
/// inode.
pub(crate) fn fileattr_set(
    sb: &SuperBlock<Rovl>,
    dentry: &Dentry,
    _node: &RovlNode,
    fa: &mut FileAttrArg,
) -> Result {
    let fs = sb.data();
    super::copy_up::copy_up(sb, dentry)?;
    let node = sb.node(dentry).ok_or(ENOENT)?;
    let (upper, inode) = (node.upper().ok_or(EIO)?, dentry.inode().ok_or(ENOENT)?);
    let mnt = fs.upper_mnt()?;
    let (flags, _) = fa.flags();
    let mut prot = 0;
    if flags & PROT_FS_FLAGS & 0x20 != 0 {
        prot |= bindings::S_APPEND;
    }
    if flags & PROT_FS_FLAGS & 0x10 != 0 {
        prot |= bindings::S_IMMUTABLE;
    }
    let r = {
        let _w = WriteAccess::get(mnt)?;
        let _cred = fs.cred.override_creds();
        if prot != 0 {
            super::xattrs::set_protattr(fs, upper, prot)?;
        } else if inode.flags() & PROT_I_FLAGS != 0 {
            super::xattrs::remove_protattr(fs, upper)?;
        }
        inode.set_flags(prot, PROT_I_FLAGS);
        fa.set_prot(0, false);
        fa.set_on(&RealPath { mnt, dentry: upper }, &fs.cred)
    };
    if let Some(real) = upper.inode() {
        let keep = COPY_I_FLAGS & !PROT_I_FLAGS;
        inode.set_flags(real.flags(), keep);
        inode.copy_attr_but_nlink_from(real);
    }
    r
}

/// `FS_IOC_FIEMAP` (`ovl_fiemap`): the extents of the file's data.
pub(crate) fn fiemap(sb: &SuperBlock<Rovl>, node: &RovlNode, fi: &mut Fiemap) -> Result {
    let fs = sb.data();
    let data = node.realdata(fs)?;
    let real = data.dentry.inode().ok_or(EIO)?;
    let _cred = fs.cred.override_creds();
    fi.forward(real)
}

/// `->update_time()` (`ovl_update_time`): an access time update touches
/// the upper object, whose filesystem applies its `atime` options, and
/// mirrors the result; a lower object's time does not change.
pub(crate) fn update_time(
    sb: &SuperBlock<Rovl>,
    inode: &Inode,
    node: &RovlNode,
    flags: i32,
) -> Result {
    if flags & bindings::file_time_flags_S_ATIME as i32 == 0 {
        return Ok(());
    }
    if let Some(upper) = node.upper_path(sb.data()) {
        upper.touch_atime();
        if let Some(real) = upper.dentry.inode() {
            inode.copy_atime_from(real);
        }
    }
    Ok(())
}
