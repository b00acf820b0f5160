// SPDX-License-Identifier: GPL-2.0

//! File handles of overlay objects (`fs/overlayfs/export.c`), for those
//! that only compare them (fanotify, `name_to_handle_at(AT_HANDLE_FID)`).
//! rovl cannot decode them: it has no NFS export.

use super::{copy_up, Rovl, RovlNode};
use kernel::prelude::*;

/// The handle type of an overlay file handle (`OVL_FILEID_V1`).
const OVL_FILEID_V1: u8 = 0xf8;

/// Bytes before `struct ovl_fb` in `struct ovl_fh`, which keep the real
/// handle 32-bit aligned (`OVL_FH_WIRE_OFFSET`).
const WIRE_OFFSET: usize = 3;

/// The handle of a node as overlayfs encodes it without `nfs_export`
/// (`ovl_check_encode_origin`): the lower object's, which a copy-up does
/// not change, but the upper one's for the root of a writable mount and
/// for objects with no lower one.
pub(crate) fn encode_fh(fs: &Rovl, node: &RovlNode, buf: &mut [u8]) -> Result<(u8, usize)> {
    let is_root = fs
        .upper
        .as_ref()
        .zip(node.upper())
        .is_some_and(|(u, d)| d.same(u.mnt.root()));
    let (real, is_upper) = match (node.upper(), node.stack.first()) {
        (Some(u), _) if is_root => (u, true),
        (_, Some(l)) => (&*l.dentry, false),
        (Some(u), None) => (u, true),
        (None, None) => return Err(EIO),
    };
    let fb = copy_up::real_fh(fs, real, is_upper)?;
    let len = WIRE_OFFSET + fb.len();
    if let Some(out) = buf.get_mut(..len) {
        out[..WIRE_OFFSET].fill(0);
        out[WIRE_OFFSET..].copy_from_slice(&fb);
    }
    Ok((OVL_FILEID_V1, len))
}
