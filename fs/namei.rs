// SPDX-License-Identifier: GPL-2.0

//! Lookup through the layers (namei.c), for mounts without an upper layer.
//!
//! The first non-directory found wins and hides everything below;
//! directories merge until an opaque one; a whiteout (a 0/0 character
//! device, or an empty regular file with a `whiteout` xattr) ends the
//! search; a non-directory below a directory is ignored. Directories may
//! carry a `redirect` xattr naming where their lower parts are: relative
//! (a new name in the same parent) or absolute (a path from the layer
//! roots), followed unless `redirect_dir=nofollow`.

use super::{index, xattrs, RealEntry, Rovl, RovlNode, UPPER};
use crate::vfs::{self, Dentry, NewNode};
use core::sync::atomic::Ordering;
use kernel::bindings;
use kernel::prelude::*;
use kernel::types::ARef;

/// The name searched for in the next layer: the entry's own name, borrowed
/// (most lookups follow no redirect and allocate nothing), or where a
/// redirect points.
enum Name<'a> {
    Own(&'a [u8]),
    Redirected(KVec<u8>),
}

impl core::ops::Deref for Name<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Name::Own(n) => n,
            Name::Redirected(n) => n,
        }
    }
}

/// State of one lookup (`struct ovl_lookup_data`).
struct Lookup<'a> {
    name: Name<'a>,
    is_dir: bool,
    stop: bool,
    /// No layer below the current one can add to the result.
    last: bool,
    redirect: bool,
    absolute_redirect: bool,
    metacopy: bool,
    /// The size of the `metacopy` xattr found last (0: none).
    metacopy_size: usize,
    xwhiteouts: bool,
}

/// Looks the new rovl entry `dentry` up below its directory `dir`; `None`
/// is a negative entry.
pub(crate) fn lookup(fs: &Rovl, dir: &RovlNode, dentry: &Dentry) -> Result<Option<NewNode<Rovl>>> {
    let name = dentry.name();
    if name.len() > fs.namelen {
        return Err(vfs::errno(bindings::ENAMETOOLONG));
    }
    let _cred = fs.cred.override_creds();
    let follow = fs.redirect_follow();
    let mut d = Lookup {
        name: Name::Own(name),
        is_dir: false,
        stop: false,
        last: !follow && dir.stack.is_empty(),
        redirect: false,
        absolute_redirect: false,
        metacopy: false,
        metacopy_size: 0,
        xwhiteouts: false,
    };

    // The stack being searched: the parent's, or the layer roots once an
    // absolute redirect was found.
    let mut at_root = false;
    let mut stack = KVec::new();
    let mut i = 0;
    let mut upper = None;
    let mut uppermetacopy = false;
    // The size of the topmost object's `metacopy` xattr: one longer than
    // the header records an fs-verity digest (`OVL_HAS_DIGEST`).
    let mut metacopy_size = 0;
    let mut upper_redirect = None;
    // The lower part of a merged directory was verified as its origin.
    let mut dir_origin = false;
    // The origin of an upper non-directory: its lower object unless a
    // metacopy one finds that by path (`origin_path`).
    let mut origin = None;
    if let Some(ue) = dir.upper.get() {
        if let Some(this) = lookup_layer(fs, UPPER, &ue.dentry, &mut d)? {
            if d.redirect {
                let mut r = KVec::new();
                r.extend_from_slice(&d.name, GFP_KERNEL)?;
                upper_redirect = Some(r);
            }
            if !d.is_dir {
                // A copied-up non-directory: its origin gives st_ino.
                origin = check_origin(fs, &this)?;
                uppermetacopy = d.metacopy;
                metacopy_size = d.metacopy_size;
            }
            upper = Some(this);
        }
        if d.redirect && d.name.first() == Some(&b'/') {
            at_root = true;
        }
    }
    // A non-directory on the upper layer hides everything below it, but
    // for a metacopy one, whose data is looked for below.
    if upper.is_some() && !d.is_dir && !uppermetacopy {
        d.stop = true;
    }
    while !d.stop {
        let lower = if at_root {
            let Some(l) = fs.layers.get(i).filter(|_| i < fs.nr_merged) else {
                break;
            };
            (i, l.mnt.root())
        } else {
            let Some(e) = dir.stack.get(i) else {
                break;
            };
            (e.layer, &*e.dentry)
        };
        if !follow {
            d.last = i + 1
                == if at_root {
                    fs.nr_merged
                } else {
                    dir.stack.len()
                };
        } else if d.is_dir || fs.nr_data() == 0 {
            d.last = lower.0 + 1 == fs.nr_merged;
        }
        i += 1;
        let Some(this) = lookup_layer(fs, lower.0, lower.1, &mut d)? else {
            continue;
        };
        if (uppermetacopy || d.metacopy) && !fs.config.metacopy {
            crate::vfs::pr_warn_ratelimited!(
                "refusing to follow metacopy origin for ({})\n",
                super::params::BStrLossy(&dentry.printed_name(1))
            );
            return Err(EPERM);
        }
        if upper.is_none() && !d.is_dir && stack.is_empty() && d.metacopy {
            metacopy_size = d.metacopy_size;
        }
        if let (true, Some(up)) = (stack.is_empty() && d.is_dir, upper.as_deref()) {
            fix_origin(fs, dir, &this, up)?;
            // With NFS export a merged directory's lower part must be its
            // origin, which the index then vouches for (`verify_lower`).
            if index::index_all(fs) {
                if verify_origin(fs, up, &this).is_err() {
                    break;
                }
                dir_origin = true;
            }
        }
        // With the index, the lower object a metacopy upper file finds by
        // path must be its origin (`ovl_verify_origin`).
        if let (true, Some(up)) = (
            stack.is_empty() && !d.is_dir && fs.config.index && origin.is_some(),
            upper.as_deref(),
        ) {
            verify_origin(fs, up, &this)?;
        }
        stack.push(
            RealEntry {
                layer: lower.0,
                dentry: this,
            },
            GFP_KERNEL,
        )?;
        // Following redirects is like a symlink into a lower layer without
        // the permission checks: only when enabled.
        if d.redirect && !follow {
            crate::vfs::pr_warn_ratelimited!(
                "refusing to follow redirect for ({})\n",
                super::params::BStrLossy(&dentry.printed_name(1))
            );
            return Err(EPERM);
        }
        if d.stop {
            break;
        }
        if d.redirect && d.name.first() == Some(&b'/') && !at_root {
            at_root = true;
            i = lower.0 + 1;
        }
    }
    // The data of a metacopy file in a data-only layer is looked up on
    // first open.
    let mut lowerdata_redirect = None;
    if d.metacopy && !stack.is_empty() && fs.nr_data() > 0 && d.absolute_redirect {
        d.metacopy = false;
        lowerdata_redirect = Some(match core::mem::replace(&mut d.name, Name::Own(b"")) {
            Name::Redirected(n) => n,
            Name::Own(n) => {
                let mut v = KVec::new();
                v.extend_from_slice(n, GFP_KERNEL)?;
                v
            }
        });
    }
    if d.metacopy {
        crate::vfs::pr_warn_ratelimited!(
            "metacopy with no lower data found - abort lookup ({})\n",
            super::params::BStrLossy(&dentry.printed_name(1))
        );
        return Err(EIO);
    }
    if let (true, false, Some(o)) = (stack.is_empty(), d.is_dir, origin) {
        stack.push(o, GFP_KERNEL)?;
    }
    if stack.is_empty() && upper.is_none() {
        return Ok(None);
    }
    // A lower hard link copied up through another name: its index entry
    // is its upper object. An upper file is indexed if its origin's entry
    // is the same inode (`ovl_lookup_index`).
    let mut indexed = false;
    // With NFS export, directories are indexed too; only a verified
    // origin (or a lower directory without an upper one) is looked up.
    let origin = match (d.is_dir, &upper) {
        (false, _) => stack.first(),
        (true, Some(_)) if dir_origin => stack.first(),
        (true, None) if index::index_all(fs) => stack.first(),
        (true, _) => None,
    };
    if let Some(origin) = origin {
        if let Some(ix) = index::lookup(fs, upper.as_deref(), &origin.dentry, true)? {
            indexed = true;
            if upper.is_none() && !d.is_dir {
                // The index entry is the upper object: maybe a metacopy,
                // renamed or linked with a redirect.
                let mnt = fs.upper_mnt()?;
                metacopy_size = xattrs::metacopy_size(fs, mnt, &ix)?;
                uppermetacopy = metacopy_size > 0;
                if let Some(r) = xattrs::redirect(fs, mnt, &ix, 0)? {
                    upper_redirect = Some(r);
                }
                upper = Some(ix);
            }
        }
    }
    let mut n = fs.new_node(upper, stack, false, indexed)?;
    n.node.xwhiteouts = d.xwhiteouts;
    n.node.lowerdata_redirect = lowerdata_redirect;
    n.node.meta_upper =
        core::sync::atomic::AtomicBool::new(uppermetacopy && n.node.upper().is_some());
    n.node.has_digest = core::sync::atomic::AtomicBool::new(metacopy_size > xattrs::METACOPY_MIN);
    if let Some(r) = upper_redirect {
        n.node.redirect.set(KBox::new(r, GFP_KERNEL)?);
    }
    Ok(Some(n))
}

/// Checks that the `origin` of the upper file `upper` names `lower`
/// (`ovl_verify_origin`): `ESTALE` where it names another object.
pub(crate) fn verify_origin(fs: &Rovl, upper: &Dentry, lower: &Dentry) -> Result {
    let fh = super::copy_up::origin_fh(fs, lower)?;
    let fh = fh.as_deref().unwrap_or(&[]);
    index::verify_fh(fs, upper, b"origin", fh, false).inspect_err(|e| {
        crate::vfs::pr_warn_ratelimited!(
            "failed to verify origin ({}, ino={}, err={})\n",
            super::params::BStrLossy(&lower.printed_name(1)),
            lower.inode().map_or(0, |i| i.ino()),
            e.to_errno()
        );
    })
}

/// Names the lower directory of a merged directory on its upper one where
/// that has no `origin` (made by other tools or old kernels), and marks
/// the parent impure so that its listings show the merged directory's
/// number (`ovl_fix_origin`).
fn fix_origin(fs: &Rovl, parent: &RovlNode, lower: &Dentry, upper: &Dentry) -> Result {
    let mnt = fs.upper_mnt()?;
    if xattrs::has_origin(fs, mnt, upper)? {
        return Ok(());
    }
    let fh = super::copy_up::origin_fh(fs, lower)?;
    let _w = vfs::WriteAccess::get(mnt)?;
    xattrs::check_set_private(fs, upper, b"origin", fh.as_deref().unwrap_or(&[]), None)?;
    xattrs::set_impure(fs, parent)?;
    parent.impurity_changed();
    Ok(())
}

/// Finds the data of a metacopy file in the data-only layers: the first
/// regular file at `redirect` below a data layer's root
/// (`ovl_lookup_data_layers`).
pub(crate) fn lookup_data_layers(fs: &Rovl, redirect: &[u8]) -> Result<RealEntry> {
    let _cred = fs.cred.override_creds();
    let mut err = ENOENT;
    for layer in fs.nr_merged..fs.layers.len() {
        let mnt = fs.mnt(layer);
        let root = vfs::RealPath {
            mnt,
            dentry: mnt.root(),
        };
        // The redirect is absolute; the walk starts at the layer root.
        let rel = redirect.strip_prefix(b"/").unwrap_or(redirect);
        match root.lookup_beneath(rel) {
            Ok(p) if p.dentry().is_weird() => err = vfs::errno(bindings::EREMOTE),
            Ok(p) if !p.dentry().is_reg() => err = ENOENT,
            Ok(p) => {
                return Ok(RealEntry {
                    layer,
                    dentry: ARef::from(p.dentry()),
                })
            }
            Err(e) => err = e,
        }
    }
    Err(err)
}

/// Looks the current name up in one layer: a plain name below `base`, or
/// an absolute redirect path from the layer root `base`
/// (`ovl_lookup_layer`).
#[inline]
fn lookup_layer(
    fs: &Rovl,
    layer: usize,
    base: &Dentry,
    d: &mut Lookup<'_>,
) -> Result<Option<ARef<Dentry>>> {
    if d.name.first() != Some(&b'/') {
        // Most layers lack the name: one inline lookup, nothing else.
        let Some(this) = lookup_positive(fs, layer, base, &d.name)? else {
            return Ok(None);
        };
        // A redirect there replaces the name for the next layers.
        return classify(fs, layer, this, d, 0, b"");
    }
    let mut path = KVec::with_capacity(d.name.len(), GFP_KERNEL)?;
    path.extend_from_slice(&d.name, GFP_KERNEL)?;
    let mut cur: Option<ARef<Dentry>> = None;
    let mut pos = 1;
    loop {
        let b = cur.as_deref().unwrap_or(base);
        if !b.can_lookup() {
            break;
        }
        let next = path[pos..]
            .iter()
            .position(|&c| c == b'/')
            .map_or(path.len(), |n| pos + n);
        let this = lookup_single(fs, layer, b, d, &path[pos..next], pos, &path[next..])?;
        let end = next == path.len();
        cur = this;
        if cur.is_none() || end {
            break;
        }
        pos = next + 1;
    }
    Ok(cur)
}

/// One name in one real directory (`ovl_lookup_single`). `prelen` bytes of
/// the current name precede `name` and `post` follows it, for absolute
/// redirect walks.
fn lookup_single(
    fs: &Rovl,
    layer: usize,
    base: &Dentry,
    d: &mut Lookup<'_>,
    name: &[u8],
    prelen: usize,
    post: &[u8],
) -> Result<Option<ARef<Dentry>>> {
    match lookup_positive(fs, layer, base, name)? {
        Some(this) => classify(fs, layer, this, d, prelen, post),
        None => Ok(None),
    }
}

/// `name` in the real directory `base`, if it exists there.
#[inline(always)]
fn lookup_positive(
    fs: &Rovl,
    layer: usize,
    base: &Dentry,
    name: &[u8],
) -> Result<Option<ARef<Dentry>>> {
    match base.lookup_one(fs.mnt(layer), name) {
        Ok(t) if t.inode().is_some() => Ok(Some(t)),
        Ok(_) => Ok(None),
        Err(e) if e == ENOENT || e == vfs::errno(bindings::ENAMETOOLONG) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What the real object `this` found for `name` in a layer means for the
/// lookup: where it stops, and whether it is kept (`ovl_lookup_single`
/// after the lookup).
fn classify(
    fs: &Rovl,
    layer: usize,
    this: ARef<Dentry>,
    d: &mut Lookup<'_>,
    prelen: usize,
    post: &[u8],
) -> Result<Option<ARef<Dentry>>> {
    let mnt = fs.mnt(layer);
    let last_element = post.is_empty();
    if this.is_weird() {
        return Err(vfs::errno(bindings::EREMOTE));
    }
    if xattrs::is_whiteout(fs, mnt, &this) {
        d.stop = true;
        return Ok(None);
    }
    // Below a metacopy file, only a regular file can hold its data.
    if last_element && d.metacopy && !this.is_reg() {
        d.stop = true;
        return Ok(None);
    }
    if !this.can_lookup() {
        if d.is_dir || !last_element {
            d.stop = true;
            return Ok(None);
        }
        d.metacopy_size = xattrs::metacopy_size(fs, mnt, &this)?;
        d.metacopy = d.metacopy_size > 0;
        d.stop = !d.metacopy;
        if !d.metacopy || d.last {
            return Ok(Some(this));
        }
    } else {
        if fs.is_trap(this.inode().ok_or(ENOENT)?) {
            // Caught in a trap of overlapping layers.
            return Err(vfs::errno(bindings::ELOOP));
        }
        if last_element {
            d.is_dir = true;
        }
        if d.last {
            return Ok(Some(this));
        }
        // `opaque=x` marks a directory holding xattr whiteouts.
        match xattrs::opaque_val(fs, mnt, &this) {
            b'x' if last_element => {
                d.xwhiteouts = true;
                fs.layers[layer]
                    .has_xwhiteouts
                    .store(true, Ordering::Release);
            }
            b'y' => {
                d.stop = true;
                return Ok(Some(this));
            }
            _ => {}
        }
    }
    check_redirect(fs, layer, &this, d, prelen, post)?;
    Ok(Some(this))
}

/// Follows a `redirect` xattr: the next layers are searched for where it
/// points (`ovl_check_redirect`).
fn check_redirect(
    fs: &Rovl,
    layer: usize,
    this: &Dentry,
    d: &mut Lookup<'_>,
    prelen: usize,
    post: &[u8],
) -> Result {
    let Some(target) = xattrs::redirect(fs, fs.mnt(layer), this, prelen + post.len())? else {
        return Ok(());
    };
    let mut name = KVec::new();
    d.absolute_redirect = target.first() == Some(&b'/');
    if d.absolute_redirect {
        // An opaque ancestor stopped the walk, but an absolute redirect
        // below it starts a new one.
        d.stop = false;
    } else {
        name.extend_from_slice(&d.name[..prelen.min(d.name.len())], GFP_KERNEL)?;
    }
    name.extend_from_slice(&target, GFP_KERNEL)?;
    name.extend_from_slice(post, GFP_KERNEL)?;
    d.name = Name::Redirected(name);
    d.redirect = true;
    Ok(())
}

/// The lower object an upper non-directory was copied up from, found by
/// the file handle in its `origin` xattr on the first lower layer that
/// decodes it (`ovl_check_origin`). Missing, empty, foreign or stale
/// handles give `None`: the object then counts as pure upper.
fn check_origin(fs: &Rovl, upper: &Dentry) -> Result<Option<RealEntry>> {
    let Some(fh) = get_fh(fs, upper, b"origin")? else {
        return Ok(None);
    };
    let upper_type = upper
        .inode()
        .map_or(0, |i| u32::from(i.mode()) & bindings::S_IFMT);
    decode_origin(fs, &fh, upper_type, upper)
}

/// The length an overlayfs file handle at the start of `fb` gives itself
/// (`ovl_check_fb_len`; bytes after it are ignored): `EINVAL` where `fb`
/// holds no handle, `ENODATA` ("origin unknown") for a newer version,
/// unknown flags or the other byte order.
pub(crate) fn check_fb_len(fb: &[u8]) -> Result<usize> {
    if fb.len() < 21 || fb.len() < usize::from(fb[2]) || fb[1] != 0xfb {
        return Err(EINVAL);
    }
    let flags = fb[3];
    let other_endian = flags & 2 == 0 && (flags & 1 != 0) != cfg!(target_endian = "big");
    if fb[0] > 0 || flags & !7 != 0 || other_endian {
        return Err(vfs::errno(bindings::ENODATA));
    }
    Ok(usize::from(fb[2]))
}

/// An overlayfs file handle read from an xattr: at most 255 bytes, as its
/// length field is one byte.
pub(crate) struct Fh {
    buf: [u8; 255],
    len: usize,
}

impl core::ops::Deref for Fh {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The overlayfs file handle in private xattr `name` of upper object `d`
/// (`ovl_get_fh`), cut to its own length: `None` where there is none, it
/// is empty ("copied up, origin unknown") or unknown (`check_fb_len`), and
/// where it cannot be read or is no handle (both logged).
pub(crate) fn get_fh(fs: &Rovl, d: &Dentry, name: &[u8]) -> Result<Option<Fh>> {
    let mnt = fs.upper_mnt()?;
    let get = |buf: &mut [u8]| xattrs::get_private_cfg(&fs.config, mnt, d, name, buf);
    let mut fh = Fh {
        buf: [0; 255],
        len: 0,
    };
    // One read where the value fits, as every handle does; a longer value
    // (whose bytes after the handle are ignored) is read whole.
    let mut long = KVec::new();
    let mut r = get(&mut fh.buf);
    if matches!(r, Err(e) if e == vfs::errno(bindings::ERANGE)) {
        r = match get(&mut []) {
            Ok(size) => {
                long = KVec::from_elem(0u8, size, GFP_KERNEL)?;
                get(&mut long)
            }
            Err(e) => Err(e),
        };
    }
    let n = match r {
        Ok(0) => return Ok(None),
        Ok(n) => n,
        Err(e) if e == vfs::errno(bindings::ENODATA) || e == vfs::errno(bindings::EOPNOTSUPP) => {
            return Ok(None)
        }
        Err(e) => {
            crate::vfs::pr_warn_ratelimited!("failed to get origin ({})\n", e.to_errno());
            return Ok(None);
        }
    };
    let value = if long.is_empty() {
        &fh.buf[..n]
    } else {
        &long[..n]
    };
    match check_fb_len(value) {
        Ok(len) => {
            if !long.is_empty() {
                fh.buf[..len].copy_from_slice(&long[..len]);
            }
            fh.len = len;
            Ok(Some(fh))
        }
        Err(e) if e == EINVAL => {
            // As overlayfs prints it: from the three bytes of padding
            // before the handle, at most 64 bytes.
            let mut shown = [0u8; 64];
            let k = n.min(shown.len());
            if k > 3 {
                shown[3..k].copy_from_slice(&value[..k - 3]);
            }
            crate::vfs::pr_warn_ratelimited!("invalid origin ({})\n", Hex(&shown[..k]));
            Ok(None)
        }
        Err(_) => Ok(None),
    }
}

/// Bytes as lowercase hex digits without separators (`%*phN`).
struct Hex<'a>(&'a [u8]);

impl core::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// The lower object an overlayfs file handle names, found on the first
/// lower layer that decodes it; it must be of type `ftype` (`S_IFMT`
/// bits) and no whiteout (`ovl_check_origin_fh`).
pub(crate) fn decode_origin(
    fs: &Rovl,
    fb: &[u8],
    ftype: u32,
    what: &Dentry,
) -> Result<Option<RealEntry>> {
    let buf = fb;
    let n = fb.len();
    // As `ovl_decode_real_fh`: whole words of the fid only.
    if n < 21 || fb[1] != 0xfb {
        return Ok(None);
    }
    let big = buf[3] & 1 != 0;
    if big != cfg!(target_endian = "big") && buf[3] & 2 == 0 {
        return Ok(None);
    }
    let fh_type = i32::from(buf[4]);
    let uuid = &buf[5..21];
    // A handle's length is one byte: up to 58 words.
    let mut fid = [0u32; 64];
    for (k, w) in buf[21..n].chunks_exact(4).enumerate() {
        fid[k] = u32::from_ne_bytes([w[0], w[1], w[2], w[3]]);
    }
    let upper_type = ftype;
    for layer in 0..fs.nr_merged {
        // A uuid that cannot tell this layer's handles from another's
        // (never the upper filesystem's: its handles are told by flags).
        if fs.fsid[layer] != 0 && fs.bad_uuid[fs.fsid[layer]] {
            continue;
        }
        let mnt = fs.mnt(layer);
        let root = mnt.root();
        if fs.config.uuid == super::params::Uuid::Off {
            if uuid.iter().any(|&b| b != 0) {
                continue;
            }
        } else if uuid != root.sb_uuid() {
            continue;
        }
        if root.sb_can_decode_fh() == 0 {
            continue;
        }
        let Ok(origin) = mnt.decode_fh(&mut fid, (n - 21) & !3, fh_type, true) else {
            continue;
        };
        let Some(inode) = origin.inode() else {
            continue;
        };
        if xattrs::is_whiteout(fs, mnt, &origin)
            || u32::from(inode.mode()) & bindings::S_IFMT != upper_type
        {
            crate::vfs::pr_warn_ratelimited!(
                "invalid origin ({}, ftype={:x}, origin ftype={:x}).\n",
                super::params::BStrLossy(&what.printed_name(1)),
                upper_type,
                u32::from(inode.mode()) & bindings::S_IFMT
            );
            return Ok(None);
        }
        return Ok(Some(RealEntry {
            layer,
            dentry: origin,
        }));
    }
    Ok(None)
}

/// st_ino of the upper entry `name` of `dir` through its origin, if it has
/// one that gives it (a directory, or a file that was no hard link).
pub(crate) fn origin_ino_of(fs: &Rovl, dir: &RealEntry, name: &[u8]) -> Result<Option<u64>> {
    let this = match dir.dentry.lookup_one(fs.mnt(dir.layer), name) {
        Ok(t) if t.inode().is_some() => t,
        _ => return Ok(None),
    };
    let Some(origin) = check_origin(fs, &this)? else {
        return Ok(None);
    };
    let Some(inode) = origin.dentry.inode() else {
        return Ok(None);
    };
    // As `inode::getattr`: with NFS export only an indexed origin's
    // number, else a lower hard link's only through the index.
    let verify_lower = index::index_all(fs);
    if (verify_lower || (!inode.is_dir() && inode.nlink() != 1))
        && !matches!(
            index::lookup(fs, Some(&this), &origin.dentry, true),
            Ok(Some(_))
        )
    {
        return Ok(None);
    }
    Ok(Some(
        fs.xino_map(inode.ino(), origin.layer)
            .unwrap_or(inode.ino()),
    ))
}
