// SPDX-License-Identifier: GPL-2.0

//! Lookup through the layers (namei.c).

use super::{xattrs, RealEntry, Rovl, RovlNode};
use crate::vfs::NewNode;
use kernel::prelude::*;

/// Looks `name` up in every layer of `dir`, topmost first: the first
/// non-directory wins and hides everything below; directories merge until
/// an opaque one; a whiteout ends the search; a non-directory below a
/// directory is ignored. `None` is a negative entry.
pub(crate) fn lookup(fs: &Rovl, dir: &RovlNode, name: &[u8]) -> Result<Option<NewNode<Rovl>>> {
    let _cred = fs.cred.override_creds();
    let mut stack = KVec::new();
    for parent in dir.stack.iter() {
        let mnt = fs.mnt(parent.layer);
        let this = parent.dentry.lookup_one(mnt, name)?;
        let Some(inode) = this.inode() else {
            continue;
        };
        if inode.is_whiteout() {
            break;
        }
        let is_dir = inode.is_dir();
        if !is_dir && !stack.is_empty() {
            break;
        }
        let opaque = is_dir && xattrs::is_opaque(fs, mnt, &this)?;
        stack.push(
            RealEntry {
                layer: parent.layer,
                dentry: this,
            },
            GFP_KERNEL,
        )?;
        if !is_dir || opaque {
            break;
        }
    }
    if stack.is_empty() {
        return Ok(None);
    }
    Ok(Some(fs.new_node(stack, false)?))
}
