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
    let full = user_name(prefix, name)?;
    let full = as_cstr(&full)?;
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
    get_private_cfg(&fs.config, mnt, d, name, buf)
}

/// As `get_private`, before the mount's data exists.
pub(crate) fn get_private_cfg(
    c: &super::params::Config,
    mnt: &vfs::Mount,
    d: &vfs::Dentry,
    name: &[u8],
    buf: &mut [u8],
) -> Result<usize> {
    d.getxattr(mnt, private_name(c, name)?.as_cstr()?, buf)
}

/// A real directory marked as copied up (`<prefix>origin` exists, even
/// empty): it may hold whiteouts (`ovl_path_check_origin_xattr`).
pub(crate) fn has_origin(fs: &Rovl, mnt: &vfs::Mount, d: &vfs::Dentry) -> Result<bool> {
    Ok(get_private(fs, mnt, d, b"origin", &mut []).is_ok())
}

/// The first byte of a directory's `opaque` xattr (`y`: opaque, `x`: holds
/// xattr whiteouts), 0 if none or unreadable (`ovl_get_opaquedir_val`).
pub(crate) fn opaque_val(fs: &Rovl, mnt: &vfs::Mount, d: &vfs::Dentry) -> u8 {
    if !d.can_lookup() {
        return 0;
    }
    let mut val = [0u8; 1];
    match get_private(fs, mnt, d, b"opaque", &mut val) {
        Ok(1) => val[0],
        _ => 0,
    }
}

/// A whiteout: a 0/0 character device, or an empty regular file with a
/// `whiteout` xattr (`ovl_path_is_whiteout`).
pub(crate) fn is_whiteout(fs: &Rovl, mnt: &vfs::Mount, d: &vfs::Dentry) -> bool {
    let Some(inode) = d.inode() else {
        return false;
    };
    inode.is_whiteout()
        || (d.is_reg()
            && inode.size() == 0
            && get_private(fs, mnt, d, b"whiteout", &mut []).is_ok())
}

/// Smallest valid `metacopy` xattr, its header (`OVL_METACOPY_MIN_SIZE`).
pub(crate) const METACOPY_MIN: usize = 4;
/// The header and the largest digest (`OVL_METACOPY_MAX_SIZE`).
const METACOPY_MAX: usize = METACOPY_MIN + vfs::VERITY_MAX_DIGEST;

/// A `metacopy` xattr's value (`struct ovl_metacopy`): version 0, the
/// length of the value, flags, the digest's `FS_VERITY_HASH_ALG_*` (0 for
/// none) and the digest. An empty xattr reads as a header without digest.
pub(crate) struct Metacopy {
    buf: [u8; METACOPY_MAX],
}

impl Metacopy {
    pub(crate) fn new() -> Self {
        Metacopy {
            buf: [0; METACOPY_MAX],
        }
    }

    /// The algorithm of the recorded digest, 0 for none.
    pub(crate) fn digest_alg(&self) -> u8 {
        self.buf[3]
    }

    /// The recorded digest (`ovl_metadata_digest_size` bytes).
    pub(crate) fn digest(&self) -> &[u8] {
        let len = usize::from(self.buf[1]).clamp(METACOPY_MIN, METACOPY_MAX);
        &self.buf[METACOPY_MIN..len]
    }
}

/// The size of the `metacopy` xattr of a regular file whose data lives in
/// a lower layer ([`METACOPY_MIN`] for an empty one), 0 for any other
/// object (`ovl_check_metacopy_xattr` without data).
pub(crate) fn metacopy_size(fs: &Rovl, mnt: &vfs::Mount, d: &vfs::Dentry) -> Result<usize> {
    check_metacopy(fs, mnt, d, None)
}

/// [`metacopy_size`], reading the value into `data` too, whose version and
/// length must then be valid (`ovl_check_metacopy_xattr`).
pub(crate) fn check_metacopy(
    fs: &Rovl,
    mnt: &vfs::Mount,
    d: &vfs::Dentry,
    mut data: Option<&mut Metacopy>,
) -> Result<usize> {
    if !d.is_reg() {
        return Ok(0);
    }
    let mut none = [0u8; 0];
    let buf = match data.as_deref_mut() {
        Some(m) => &mut m.buf[..],
        None => &mut none[..],
    };
    match get_private(fs, mnt, d, b"metacopy", buf) {
        Ok(0) => {
            if let Some(m) = data {
                *m = Metacopy::new();
                m.buf[1] = METACOPY_MIN as u8;
            }
            Ok(METACOPY_MIN)
        }
        Ok(n) if n < METACOPY_MIN => {
            crate::vfs::pr_warn_ratelimited!(
                "metacopy file '{}' has too small xattr\n",
                super::params::BStrLossy(&d.printed_name(0))
            );
            Err(EIO)
        }
        Ok(n) => {
            if let Some(m) = data {
                if m.buf[0] != 0 {
                    crate::vfs::pr_warn_ratelimited!(
                        "metacopy file '{}' has unsupported version\n",
                        super::params::BStrLossy(&d.printed_name(0))
                    );
                    return Err(EIO);
                }
                if n != usize::from(m.buf[1]) {
                    crate::vfs::pr_warn_ratelimited!(
                        "metacopy file '{}' has invalid xattr size\n",
                        super::params::BStrLossy(&d.printed_name(0))
                    );
                    return Err(EIO);
                }
            }
            Ok(n)
        }
        Err(e) if e == vfs::errno(bindings::ENODATA) || e == vfs::errno(bindings::EOPNOTSUPP) => {
            Ok(0)
        }
        // `user.*` xattrs of a file the mounter cannot read: not a metacopy.
        Err(e) if fs.config.userxattr && e == EACCES => Ok(0),
        Err(e) => {
            crate::vfs::pr_warn_ratelimited!("failed to get metacopy ({})\n", e.to_errno());
            Err(e)
        }
    }
}

/// Marks the new upper file `d` as a metacopy, with the fs-verity digest
/// of its data if given; without one the value is empty
/// (`ovl_set_metacopy_xattr`).
pub(crate) fn set_metacopy(
    fs: &Rovl,
    d: &vfs::Dentry,
    digest: Option<&vfs::VerityDigest>,
) -> Result {
    let mut m = Metacopy::new();
    let len = match digest {
        Some(v) => {
            let len = METACOPY_MIN + v.len;
            m.buf[1] = u8::try_from(len).map_err(|_| EIO)?;
            m.buf[3] = v.alg;
            m.buf[METACOPY_MIN..len].copy_from_slice(v.digest());
            len
        }
        None => 0,
    };
    let eopnotsupp = vfs::errno(bindings::EOPNOTSUPP);
    check_set_private(fs, d, b"metacopy", &m.buf[..len], Some(eopnotsupp))
}

/// The `redirect` xattr of a real object, validated: absolute paths have
/// no empty components, relative ones no `/` (`ovl_get_redirect_xattr`).
pub(crate) fn redirect(
    fs: &Rovl,
    mnt: &vfs::Mount,
    d: &vfs::Dentry,
    padding: usize,
) -> Result<Option<KVec<u8>>> {
    let n = match get_private(fs, mnt, d, b"redirect", &mut []) {
        Ok(n) => n,
        Err(e) if e == vfs::errno(bindings::ENODATA) || e == vfs::errno(bindings::EOPNOTSUPP) => {
            return Ok(None)
        }
        Err(e) => {
            crate::vfs::pr_warn_ratelimited!("failed to get redirect ({})\n", e.to_errno());
            return Err(e);
        }
    };
    let mut buf = KVec::from_elem(0u8, n, GFP_KERNEL)?;
    let n = get_private(fs, mnt, d, b"redirect", &mut buf).inspect_err(|e| {
        crate::vfs::pr_warn_ratelimited!("failed to get redirect ({})\n", e.to_errno());
    })?;
    // A C string to overlayfs: what follows a NUL does not count.
    let got = &buf[..n.min(buf.len())];
    let got = got
        .iter()
        .position(|&c| c == 0)
        .map_or(got, |end| &got[..end]);
    let mut v = KVec::with_capacity(got.len() + padding, GFP_KERNEL)?;
    v.extend_from_slice(got, GFP_KERNEL)?;
    let buf = v;
    let valid = if buf.first() == Some(&b'/') {
        buf.split(|&c| c == b'/').skip(1).all(|c| !c.is_empty())
    } else {
        n > 0 && !buf.contains(&b'/')
    };
    if !valid {
        crate::vfs::pr_warn_ratelimited!("invalid redirect ({})\n", super::params::BStrLossy(&buf));
        return Err(EINVAL);
    }
    Ok(Some(buf))
}

/// The full name `<prefix><name>` of a private xattr, NUL-terminated, on
/// the stack: lookups read one or two of these per real object.
struct PrivateName {
    buf: [u8; 40],
    len: usize,
}

impl PrivateName {
    fn as_cstr(&self) -> Result<&CStr> {
        as_cstr(&self.buf[..self.len])
    }
}

fn private_name(c: &super::params::Config, name: &[u8]) -> Result<PrivateName> {
    let prefix = c.xattr_prefix();
    let len = prefix.len() + name.len() + 1;
    let mut n = PrivateName { buf: [0; 40], len };
    let dst = n.buf.get_mut(..len - 1).ok_or(EINVAL)?;
    let (p, rest) = dst.split_at_mut(prefix.len());
    p.copy_from_slice(prefix);
    rest.copy_from_slice(name);
    Ok(n)
}

/// Sets private xattr `name` on an upper object (`ovl_setxattr`).
pub(crate) fn set_private(fs: &Rovl, d: &vfs::Dentry, name: &[u8], value: &[u8]) -> Result {
    set_private_cfg(&fs.config, fs.upper_mnt()?, d, name, value)
}

/// Sets private xattr `name` on an upper object where the upper filesystem
/// takes xattrs; where it does not, the mount goes on without them and the
/// caller gets `xerr` (`Ok` for `None`) instead (`ovl_check_setxattr`).
pub(crate) fn check_set_private(
    fs: &Rovl,
    d: &vfs::Dentry,
    name: &[u8],
    value: &[u8],
    xerr: Option<Error>,
) -> Result {
    let up = fs.upper.as_ref().ok_or(EROFS)?;
    let without = || xerr.map_or(Ok(()), Err);
    if up.noxattr.load(core::sync::atomic::Ordering::Relaxed) {
        return without();
    }
    match set_private(fs, d, name, value) {
        Err(e) if e == vfs::errno(bindings::EOPNOTSUPP) => {
            let n = private_name(&fs.config, name)?;
            pr_warn!(
                "cannot set {} xattr on upper\n",
                super::params::BStrLossy(&n.buf[..n.len - 1])
            );
            up.noxattr
                .store(true, core::sync::atomic::Ordering::Relaxed);
            without()
        }
        r => r,
    }
}

fn as_cstr(name: &[u8]) -> Result<&CStr> {
    CStr::from_bytes_with_nul(name).map_err(|_| EINVAL)
}

/// An upper directory marked `impure` (`ovl_is_impuredir`).
pub(crate) fn is_impure(fs: &Rovl, d: &vfs::Dentry) -> bool {
    let Ok(mnt) = fs.upper_mnt() else {
        return false;
    };
    let mut val = [0u8; 1];
    d.can_lookup()
        && matches!(get_private(fs, mnt, d, b"impure", &mut val), Ok(1) if val[0] == b'y')
}

/// Marks the upper directory of `node` impure, once (`ovl_set_impure`).
pub(crate) fn set_impure(fs: &Rovl, node: &RovlNode) -> Result {
    if node.impure.load(core::sync::atomic::Ordering::Acquire) {
        return Ok(());
    }
    let upper = node.upper().ok_or(EIO)?;
    check_set_private(fs, upper, b"impure", b"y", None)?;
    node.impure
        .store(true, core::sync::atomic::Ordering::Release);
    Ok(())
}

/// Drops the `impure` mark of an upper directory that holds no copied-up
/// entry any more; removing the xattr is best effort
/// (`ovl_cache_get_impure`).
pub(crate) fn clear_impure(fs: &Rovl, node: &RovlNode) {
    if let (Ok(mnt), Some(upper)) = (fs.upper_mnt(), node.upper()) {
        if let (Ok(_w), Ok(name)) = (
            vfs::WriteAccess::get(mnt),
            private_name(&fs.config, b"impure"),
        ) {
            if let Ok(name) = name.as_cstr() {
                let _ = upper.removexattr(mnt, name);
            }
        }
    }
    node.impure
        .store(false, core::sync::atomic::Ordering::Release);
}

/// The full layer name of a name set or removed through the rovl inode:
/// the private prefix escaped as `getxattr` unescapes it.
fn user_name(prefix: &[u8], name: &[u8]) -> Result<KVec<u8>> {
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
    Ok(full)
}

/// `setxattr`/`removexattr` through the rovl inode (`ovl_xattr_set`):
/// removing a name the object lacks fails before any copy-up; otherwise
/// the object is copied up and changed there.
pub(crate) fn set(
    sb: &vfs::SuperBlock<Rovl>,
    dentry: &vfs::Dentry,
    node: &RovlNode,
    prefix: &[u8],
    name: &[u8],
    value: Option<&[u8]>,
    flags: i32,
) -> Result {
    let fs = sb.data();
    let full = user_name(prefix, name)?;
    let full = as_cstr(&full)?;
    if value.is_none() && node.upper().is_none() {
        let top = node.top();
        let _cred = fs.cred.override_creds();
        top.dentry.getxattr(fs.mnt(top.layer), full, &mut [])?;
    }
    // An indexed name changes its index entry without an upper alias of
    // its own (as overlayfs).
    if node.upper().is_none() {
        super::copy_up::copy_up(sb, dentry)?;
    }
    let upper = node.upper().ok_or(EIO)?;
    let mnt = fs.upper_mnt()?;
    let _w = vfs::WriteAccess::get(mnt)?;
    let _cred = fs.cred.override_creds();
    match value {
        Some(v) => upper.setxattr(mnt, full, v, flags),
        None => upper.removexattr(mnt, full),
    }
}

/// Sets a private xattr before the mount's data exists.
pub(crate) fn set_private_cfg(
    c: &super::params::Config,
    mnt: &vfs::Mount,
    d: &vfs::Dentry,
    name: &[u8],
    value: &[u8],
) -> Result {
    d.setxattr(mnt, private_name(c, name)?.as_cstr()?, value, 0)
}

/// Removes private xattr `name` from an upper object.
pub(crate) fn remove_private_cfg(
    c: &super::params::Config,
    mnt: &vfs::Mount,
    d: &vfs::Dentry,
    name: &[u8],
) -> Result {
    d.removexattr(mnt, private_name(c, name)?.as_cstr()?)
}

/// `S_APPEND`/`S_IMMUTABLE` of an upper object, kept in its `protattr`
/// xattr because the upper inode itself cannot carry them: it must stay
/// renameable and writable for overlay's own xattrs (`ovl_check_protattr`).
pub(crate) fn protattr(fs: &Rovl, d: &vfs::Dentry) -> u32 {
    let Ok(mnt) = fs.upper_mnt() else {
        return 0;
    };
    let mut buf = [0u8; 32];
    let Ok(n) = get_private(fs, mnt, d, b"protattr", &mut buf) else {
        return 0;
    };
    let v = &buf[..n.min(buf.len())];
    let mut flags = 0;
    for c in v {
        flags |= match c {
            b'a' => bindings::S_APPEND,
            b'i' => bindings::S_IMMUTABLE,
            // Unknown flags: none of them count.
            _ => return protattr_incompatible(d, n),
        };
    }
    if v.is_empty() {
        return protattr_incompatible(d, n);
    }
    flags
}

fn protattr_incompatible(d: &vfs::Dentry, len: usize) -> u32 {
    crate::vfs::pr_warn_ratelimited!(
        "incompatible overlay.protattr format ({}, len={})\n",
        super::params::BStrLossy(&d.printed_name(1)),
        len
    );
    0
}

/// Removes the `protattr` xattr of an upper object, if it has one.
pub(crate) fn remove_protattr(fs: &Rovl, d: &vfs::Dentry) -> Result {
    remove_private(fs, d, b"protattr")
}

/// Removes private xattr `name` of an upper object, if it has one
/// (`ovl_removexattr`).
pub(crate) fn remove_private(fs: &Rovl, d: &vfs::Dentry, name: &[u8]) -> Result {
    let name = private_name(&fs.config, name)?;
    match d.removexattr(fs.upper_mnt()?, name.as_cstr()?) {
        Err(e)
            if e.to_errno() == -(bindings::ENODATA as i32)
                || e.to_errno() == -(bindings::EOPNOTSUPP as i32) =>
        {
            Ok(())
        }
        r => r,
    }
}

/// Stores the append-only and immutable flags of a copied-up object
/// (`ovl_set_protattr`): `a` and `i`, in that order.
pub(crate) fn set_protattr(fs: &Rovl, d: &vfs::Dentry, flags: u32) -> Result {
    let mut v = KVec::new();
    if flags & bindings::S_APPEND != 0 {
        v.push(b'a', GFP_KERNEL)?;
    }
    if flags & bindings::S_IMMUTABLE != 0 {
        v.push(b'i', GFP_KERNEL)?;
    }
    if v.is_empty() {
        return Ok(());
    }
    // Without xattrs the flags could not be kept (the upper inode does not
    // carry them): refused.
    check_set_private(fs, d, b"protattr", &v, Some(EPERM))
}
