// SPDX-License-Identifier: GPL-2.0

//! Lookup through the layers (namei.c).

use super::{RealEntry, Rovl, RovlNode};
use crate::vfs::{self, Dentry, Mount, NewNode};
use kernel::bindings;
use kernel::c_str;
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
        let opaque = is_dir && is_opaque(mnt, &this)?;
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
    Ok(Some(fs.new_node(stack, false)))
}

/// An opaque directory hides the layers below it: `trusted.overlay.opaque`
/// is `y`.
fn is_opaque(mnt: &Mount, d: &Dentry) -> Result<bool> {
    let mut val = [0u8; 1];
    match d.getxattr(mnt, c_str!("trusted.overlay.opaque"), &mut val) {
        Ok(1) => Ok(val[0] == b'y'),
        Ok(_) => Ok(false),
        Err(e)
            if e == vfs::errno(bindings::ENODATA)
                || e == vfs::errno(bindings::EOPNOTSUPP)
                || e == ERANGE =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}
