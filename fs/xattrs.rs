// SPDX-License-Identifier: GPL-2.0

//! Extended attributes (xattrs.c): read through to the topmost real
//! object; overlay's private names stay hidden, and their escaped form
//! (`trusted.overlay.overlay.x`) shows as `trusted.overlay.x`.

use super::{Rovl, RovlNode};
use crate::vfs;
use kernel::bindings;
use kernel::prelude::*;

/// Inserted after the private prefix to escape a name (`OVL_XATTR_ESCAPE_PREFIX`).
const ESCAPE: &[u8] = b"overlay.";
/// `XATTR_NAME_MAX`.
const NAME_MAX: usize = 255;

/// `getxattr` through the handler for `prefix`: the private prefix maps to
/// the escaped name on the layer, the catch-all (`""`) to the name itself.
pub(crate) fn get(
    fs: &Rovl,
    node: &RovlNode,
    prefix: &[u8],
    name: &[u8],
    buf: &mut [u8],
) -> Result<usize> {
    let mut full = KVec::with_capacity(prefix.len() + ESCAPE.len() + name.len() + 1, GFP_KERNEL)?;
    if !prefix.is_empty() {
        full.extend_from_slice(prefix, GFP_KERNEL)?;
        full.extend_from_slice(ESCAPE, GFP_KERNEL)?;
        if full.len() + name.len() > NAME_MAX {
            return Err(vfs::errno(bindings::EOPNOTSUPP));
        }
    }
    full.extend_from_slice(name, GFP_KERNEL)?;
    full.push(0, GFP_KERNEL)?;
    let full = CStr::from_bytes_with_nul(&full).map_err(|_| EINVAL)?;
    let top = node.top();
    let _cred = fs.cred.override_creds();
    top.dentry.getxattr(fs.mnt(top.layer), full, buf)
}

/// `listxattr` of the topmost real object, filtered in place. A size query
/// (empty `buf`) returns the real, unfiltered size, as overlayfs does.
pub(crate) fn list(fs: &Rovl, node: &RovlNode, buf: &mut [u8]) -> Result<usize> {
    let n = {
        let _cred = fs.cred.override_creds();
        node.top().dentry.listxattr(buf)?
    };
    if n == 0 || buf.is_empty() {
        return Ok(n);
    }
    let prefix = fs.config.xattr_prefix();
    // Other trusted names are for the superuser only; asked with the
    // caller's credentials, after the real list was read with the mounter's.
    let trusted_ok = vfs::capable_trusted_xattr();
    let (mut rd, mut wr) = (0, 0);
    while rd < n {
        let len = buf[rd..n].iter().position(|&b| b == 0).ok_or(EIO)?;
        let (start, end) = (rd, rd + len + 1);
        rd = end;
        let name = &buf[start..end - 1];
        let own = name.starts_with(prefix);
        let escaped = own && name[prefix.len()..].starts_with(ESCAPE);
        if (own && !escaped) || (name.starts_with(b"trusted.") && !trusted_ok) {
            continue;
        }
        // Copy the name down, dropping the escape after the prefix.
        let skip = if escaped {
            prefix.len()..prefix.len() + ESCAPE.len()
        } else {
            0..0
        };
        for i in start..end {
            if !skip.contains(&(i - start)) {
                buf[wr] = buf[i];
                wr += 1;
            }
        }
    }
    Ok(wr)
}

/// Reads `<prefix><name>` of a real object into `buf`.
fn get_private(
    fs: &Rovl,
    mnt: &vfs::Mount,
    d: &vfs::Dentry,
    name: &[u8],
    buf: &mut [u8],
) -> Result<usize> {
    let mut full = KVec::new();
    full.extend_from_slice(fs.config.xattr_prefix(), GFP_KERNEL)?;
    full.extend_from_slice(name, GFP_KERNEL)?;
    full.push(0, GFP_KERNEL)?;
    let full = CStr::from_bytes_with_nul(&full).map_err(|_| EINVAL)?;
    d.getxattr(mnt, full, buf)
}

/// A real directory marked as copied up (`<prefix>origin` exists, even
/// empty): it may hold whiteouts (`ovl_path_check_origin_xattr`).
pub(crate) fn has_origin(fs: &Rovl, mnt: &vfs::Mount, d: &vfs::Dentry) -> Result<bool> {
    Ok(get_private(fs, mnt, d, b"origin", &mut []).is_ok())
}

/// Whether the real directory `d` is opaque: `<prefix>opaque` is `y`.
pub(crate) fn is_opaque(fs: &Rovl, mnt: &vfs::Mount, d: &vfs::Dentry) -> Result<bool> {
    let mut val = [0u8; 1];
    match get_private(fs, mnt, d, b"opaque", &mut val) {
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
