// SPDX-License-Identifier: GPL-2.0

//! Attributes and symlinks (inode.c).

use super::{Rovl, RovlNode};
use crate::vfs::{DelayedCall, Kstat, SuperBlock};
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
    // With all layers on one filesystem the real inode numbers are unique
    // and the overlay's own st_dev is used (friendly to `du -x`).
    // Directories always use it, so `find -xdev` stays inside the mount.
    // TODO(issue 4): pseudo st_dev per lower fs and xino for cross-fs layers.
    if fs.samefs || is_dir {
        stat.set_dev(sb.dev());
    }
    if is_dir && !fs.samefs {
        stat.set_ino(node.ino);
    }
    // Counting subdirectories of a merged directory is not worth it;
    // nlink=1 pacifies `find` (as overlayfs).
    if is_dir && node.is_merged() {
        stat.set_nlink(1);
    }
    Ok(())
}

/// Follows the real symlink.
pub(crate) fn get_link(fs: &Rovl, node: &RovlNode, done: &DelayedCall) -> Result<*const u8> {
    let _cred = fs.cred.override_creds();
    node.top().dentry.get_link(done)
}
