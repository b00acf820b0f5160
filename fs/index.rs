// SPDX-License-Identifier: GPL-2.0

//! The inodes index (`index=on`): lower hard links stay hard links on the
//! upper layer.
//!
//! A lower file with several links is copied up to `index/<name>` in the
//! workdir, `<name>` being its origin file handle in hex; each of its names
//! that is copied up is a hard link to that entry, and names not copied up
//! yet see the entry's data. The union link count is kept in the entry's
//! `nlink` xattr, relative to the upper (`U+n`) or lower (`L+n`) inode's
//! count. A mount checks that the upper layer was made over this lower
//! layer (the upper root's `origin`) and the index for this upper layer
//! (the index dir's `upper`), and removes stale and orphan entries.

use super::{copy_up, namei, xattrs, Rovl, RovlNode};
use crate::vfs::{self, Dentry, Inode, Locked, Mount, WriteAccess};
use core::sync::atomic::Ordering;
use kernel::bindings;
use kernel::prelude::*;
use kernel::types::ARef;

/// The index entry name of a lower object: its origin file handle in
/// lower-case hex (`ovl_get_index_name`).
pub(crate) fn name_of_origin(fs: &Rovl, origin: &Dentry) -> Result<KVec<u8>> {
    let fh = copy_up::origin_fh(fs, origin)?.ok_or(EINVAL)?;
    name_of_fh(&fh)
}

/// The index entry name for a file handle (`ovl_get_index_name_fh`).
pub(crate) fn name_of_fh(fh: &[u8]) -> Result<KVec<u8>> {
    let mut n = KVec::with_capacity(fh.len() * 2, GFP_KERNEL)?;
    for b in fh.iter() {
        n.push(b"0123456789abcdef"[usize::from(b >> 4)], GFP_KERNEL)?;
        n.push(b"0123456789abcdef"[usize::from(b & 0xf)], GFP_KERNEL)?;
    }
    Ok(n)
}

/// The bytes an index entry name spells, if it is hex.
fn unhex(name: &[u8]) -> Result<Option<KVec<u8>>> {
    if name.len() % 2 != 0 {
        return Ok(None);
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = KVec::with_capacity(name.len() / 2, GFP_KERNEL)?;
    for p in name.chunks_exact(2) {
        let (Some(h), Some(l)) = (digit(p[0]), digit(p[1])) else {
            return Ok(None);
        };
        out.push(h << 4 | l, GFP_KERNEL)?;
    }
    Ok(Some(out))
}

/// With NFS export every copied-up object is indexed, directories too, so
/// that a handle of its lower object finds it (`ovl_index_all`).
pub(crate) fn index_all(fs: &Rovl) -> bool {
    fs.config.nfs_export && fs.index_dir().is_some()
}

/// The index entry of the lower object `origin`, on an `index=on` mount
/// (`ovl_lookup_index`). With `upper`, only an entry that is that inode
/// (for a directory: whose `upper` xattr names it). With `verify` a
/// whiteout entry (every name of the object removed) is an error, as is a
/// directory's entry that does not name `upper`; without (decoding a
/// handle) a whiteout entry makes the handle stale.
pub(crate) fn lookup(
    fs: &Rovl,
    upper: Option<&Dentry>,
    origin: &Dentry,
    verify: bool,
) -> Result<Option<ARef<Dentry>>> {
    let Some(dir) = fs.index_dir() else {
        return Ok(None);
    };
    let mnt = fs.upper_mnt()?;
    let name = name_of_origin(fs, origin)?;
    let index = match dir.lookup_one(mnt, &name) {
        Ok(d) if d.inode().is_some() => d,
        Ok(_) => return Ok(None),
        Err(e) if e == ENOENT => return Ok(None),
        Err(e) => {
            crate::vfs::pr_warn_ratelimited!(
                "failed inode index lookup (ino={}, key={}, err={});\n",
                origin.inode().map_or(0, |i| i.ino()),
                super::params::BStrLossy(&name),
                e.to_errno()
            );
            crate::vfs::pr_warn_ratelimited!(
                "mount with '-o index=off' to disable inodes index.\n"
            );
            return Err(e);
        }
    };
    let (Some(inode), Some(oinode)) = (index.inode(), origin.inode()) else {
        return Ok(None);
    };
    let ftype = |i: &Inode| u32::from(i.mode()) & bindings::S_IFMT;
    if inode.is_whiteout() && !verify {
        return Err(vfs::errno(bindings::ESTALE));
    }
    // An entry is of its origin's type; a whiteout one means every name
    // was unlinked, so a lower name must not find it.
    if index.is_weird() || inode.is_whiteout() || ftype(inode) != ftype(oinode) {
        crate::vfs::pr_warn_ratelimited!(
            "bad index found (index={}, ftype={:x}, origin ftype={:x}).\n",
            super::params::BStrLossy(&index.printed_name(1)),
            ftype(inode),
            ftype(oinode)
        );
        return Err(EIO);
    }
    if oinode.is_dir() {
        if !verify {
            return Ok(Some(index));
        }
        let Some(upper) = upper else {
            crate::vfs::pr_warn_ratelimited!(
                "suspected uncovered redirected dir found (origin={}, index={}).\n",
                super::params::BStrLossy(&origin.printed_name(1)),
                super::params::BStrLossy(&index.printed_name(1))
            );
            return Err(EIO);
        };
        // The entry's `upper` xattr names the upper directory
        // (`ovl_verify_upper`).
        let ufh = copy_up::encode_fh(fs, upper, true)?.ok_or(EIO)?;
        if let Err(e) = verify_fh(fs, &index, b"upper", &ufh, false) {
            if e == vfs::errno(bindings::ESTALE) {
                crate::vfs::pr_warn_ratelimited!(
                    "suspected multiply redirected dir found (upper={}, origin={}, index={}).\n",
                    super::params::BStrLossy(&upper.printed_name(1)),
                    super::params::BStrLossy(&origin.printed_name(1)),
                    super::params::BStrLossy(&index.printed_name(1))
                );
            }
            return Err(EIO);
        }
    } else if upper.is_some_and(|u| !u.same_inode(&index)) {
        return Ok(None);
    }
    Ok(Some(index))
}

/// The upper object of an index entry (`ovl_index_upper`): the entry
/// itself for a non-directory, the directory its `upper` xattr names
/// otherwise; `None` without that xattr, `ESTALE` where it names nothing.
pub(crate) fn index_upper(
    fs: &Rovl,
    index: &Dentry,
    connected: bool,
) -> Result<Option<ARef<Dentry>>> {
    if !index.can_lookup() {
        return Ok(Some(index.into()));
    }
    let mnt = fs.upper_mnt()?;
    let Some(fh) = namei::get_fh(fs, index, b"upper")? else {
        return Ok(None);
    };
    let upper = super::export::decode_real_fh(fs, &fh, mnt, connected)?
        .ok_or(vfs::errno(bindings::ESTALE))?;
    if !upper.can_lookup() {
        crate::vfs::pr_warn_ratelimited!(
            "invalid index upper ({}, upper={}).\n",
            super::params::BStrLossy(&index.printed_name(1)),
            super::params::BStrLossy(&upper.printed_name(1))
        );
        return Err(EIO);
    }
    Ok(Some(upper))
}

/// Records a copied-up directory in the index: an empty directory named
/// by its origin's handle whose `upper` xattr is the handle of the new
/// upper directory `upper` (`ovl_create_index`), made under a temporary
/// name in the index dir and renamed into place. The caller holds write
/// access to the upper mount.
pub(crate) fn create_dir_entry(fs: &Rovl, origin_fh: &[u8], upper: &Dentry) -> Result {
    let up = fs.upper.as_ref().ok_or(EIO)?;
    let dir = fs.index_dir().ok_or(EIO)?;
    let mnt: &Mount = &up.mnt;
    let name = name_of_fh(origin_fh)?;
    let ufh = copy_up::encode_fh(fs, upper, true)?.ok_or(EIO)?;
    let lock = Locked::dir(mnt, dir)?;
    let t = lock.lookup(dir, &copy_up::temp_name(up)?)?;
    let temp = lock.mkdir(dir, &t, 0)?;
    let r = (|| -> Result {
        xattrs::set_private(fs, &temp, b"upper", &ufh)?;
        let index = lock.lookup(dir, &name)?;
        lock.rename_entry(dir, &temp, dir, &index, 0)
    })();
    if r.is_err() {
        let _ = lock.rmdir(dir, &temp);
    }
    r
}

/// Whether a copy-up of `node` is indexed: a lower file with several
/// links on an `index=on` mount, any lower object with NFS export
/// (`ovl_need_index`).
pub(crate) fn needed(fs: &Rovl, node: &RovlNode) -> bool {
    fs.index_dir().is_some()
        && node
            .stack
            .first()
            .and_then(|l| l.dentry.inode())
            .is_some_and(|i| index_all(fs) || (!i.is_dir() && i.nlink() > 1))
}

/// The union link count of an indexed file from its `nlink` xattr
/// (`ovl_get_nlink`); `fallback` when it is missing or bad.
pub(crate) fn get_nlink(fs: &Rovl, lower: &Inode, upper: &Dentry, fallback: u32) -> u32 {
    let mut buf = [0u8; 12];
    // Where it fails, `ovl_get_nlink`'s `err`: the read's errno, the length
    // of a value without its `L+`-like head, `kstrtoint`'s errno, or 0 for
    // a count that is not positive.
    let parsed = (|| -> core::result::Result<u32, i32> {
        let mnt = fs.upper_mnt().map_err(|e| e.to_errno())?;
        let n = xattrs::get_private_cfg(&fs.config, mnt, upper, b"nlink", &mut buf)
            .map_err(|e| e.to_errno())?;
        let (kind, sign, digits) = match &buf[..n] {
            [k @ (b'L' | b'U'), s @ (b'+' | b'-'), d @ ..] => (*k, *s, d),
            _ => return Err(n as i32),
        };
        let diff = kstrtoint(sign, digits)?;
        let base = if kind == b'L' {
            lower.nlink()
        } else {
            upper.inode().ok_or(0)?.nlink()
        };
        // `int` arithmetic, as overlayfs's.
        let nlink = (base as i32).wrapping_add(diff);
        if nlink <= 0 {
            return Err(0);
        }
        Ok(nlink as u32)
    })();
    parsed.unwrap_or_else(|err| {
        crate::vfs::pr_warn_ratelimited!(
            "failed to get index nlink ({}, err={})\n",
            super::params::BStrLossy(&upper.printed_name(1)),
            err
        );
        fallback
    })
}

/// `kstrtoint(10)` of a sign and decimal digits (one newline may follow)
/// in a C string: a NUL ends it.
fn kstrtoint(sign: u8, digits: &[u8]) -> core::result::Result<i32, i32> {
    let digits = digits
        .iter()
        .position(|&c| c == 0)
        .map_or(digits, |end| &digits[..end]);
    let digits = digits.strip_suffix(b"\n").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(EINVAL.to_errno());
    }
    // At most eleven digits fit the caller's buffer: no `i64` overflow.
    let v = digits
        .iter()
        .fold(0i64, |v, &c| v * 10 + i64::from(c - b'0'));
    i32::try_from(if sign == b'-' { -v } else { v }).map_err(|_| ERANGE.to_errno())
}

/// Records the union link count of an indexed file relative to its upper
/// (`U`) or lower (`L`) inode's (`ovl_set_nlink_upper`/`_lower`). The
/// caller holds write access to the upper mount.
pub(crate) fn set_nlink(fs: &Rovl, node: &RovlNode, relative_to_lower: bool) -> Result {
    let upper = node.upper().ok_or(EIO)?;
    let real = if relative_to_lower {
        node.stack.first().and_then(|l| l.dentry.inode())
    } else {
        upper.inode()
    }
    .ok_or(EIO)?;
    let diff = i64::from(node.nlink.load(Ordering::Acquire)) - i64::from(real.nlink());
    let mut v = KVec::with_capacity(12, GFP_KERNEL)?;
    v.push(if relative_to_lower { b'L' } else { b'U' }, GFP_KERNEL)?;
    v.push(if diff < 0 { b'-' } else { b'+' }, GFP_KERNEL)?;
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut m = diff.unsigned_abs();
    loop {
        i -= 1;
        digits[i] = b'0' + (m % 10) as u8;
        m /= 10;
        if m == 0 {
            break;
        }
    }
    v.extend_from_slice(&digits[i..], GFP_KERNEL)?;
    xattrs::set_private(fs, upper, b"nlink", &v)
}

/// Removes the index entry of a file whose last name went
/// (`ovl_cleanup_index`). If the entry still has other links, the union
/// count was wrong: it becomes the entry's link count less the entry.
/// The caller holds write access to the upper mount.
pub(crate) fn cleanup(fs: &Rovl, node: &RovlNode) {
    let r = (|| -> Result {
        let dir = fs.index_dir().ok_or(EIO)?;
        let mnt = fs.upper_mnt()?;
        let upper = node.upper().ok_or(EIO)?;
        let inode = upper.inode().ok_or(EIO)?;
        if !inode.is_dir() && inode.nlink() != 1 {
            crate::vfs::pr_warn_ratelimited!(
                "cleanup linked index ({}, ino={}, nlink={})\n",
                super::params::BStrLossy(&upper.printed_name(1)),
                inode.ino(),
                inode.nlink()
            );
            node.nlink.store(inode.nlink() - 1, Ordering::Release);
            return set_nlink(fs, node, false);
        }
        let lower = node.stack.first().ok_or(EIO)?;
        let name = name_of_origin(fs, &lower.dentry)?;
        let lock = Locked::dir(mnt, dir)?;
        let index = lock.lookup(dir, &name)?;
        if index.inode().is_none() {
            return Ok(());
        }
        // With NFS export a whiteout keeps the handle stale.
        if index_all(fs) {
            return cleanup_and_whiteout(fs, &lock, dir, &index);
        }
        if index.same_inode(upper) {
            lock.unlink(dir, &index)?;
        }
        Ok(())
    })();
    if let Err(e) = r {
        pr_err!(
            "cleanup index of '{}' failed ({})\n",
            node.upper()
                .map_or(super::params::BStrLossy(b""), |u| super::params::BStrLossy(
                    u.name()
                )),
            e.to_errno()
        );
    }
}

/// Replaces index entry `index` in the index dir `dir` (also the work dir,
/// locked by `lock`) by a whiteout (`ovl_cleanup_and_whiteout`): decoding
/// a handle of its object then fails with `ESTALE`.
fn cleanup_and_whiteout(fs: &Rovl, lock: &Locked<'_>, dir: &Dentry, index: &Dentry) -> Result {
    let up = fs.upper.as_ref().ok_or(EIO)?;
    // Until the mount is set up, `work/` is not the index dir yet: no
    // shared whiteout there.
    let wh = if up.work.same(dir) {
        super::dir::whiteout(up, lock)?
    } else {
        let w = lock.lookup(dir, &copy_up::temp_name(up)?)?;
        lock.whiteout(dir, &w)?;
        w
    };
    let flags = if index.can_lookup() {
        bindings::RENAME_EXCHANGE
    } else {
        0
    };
    if let Err(e) = lock.rename_entry(dir, &wh, dir, index, flags) {
        let _ = lock.unlink(dir, &wh);
        return Err(e);
    }
    // The old directory entry is where the whiteout was.
    if flags != 0 {
        if let Err(e) = lock.rmdir(dir, index) {
            super::super_::cleanup_failed(dir, index, e);
        }
    }
    Ok(())
}

/// Sets up the index of an `index=on` mount (`ovl_get_indexdir`): the
/// upper root must have been made over this lower root, `index/` in
/// `workbase` must belong to this upper root, and stale entries go.
/// Returns the index directory.
pub(crate) fn setup(fs: &Rovl, workbase: &Dentry) -> Result<ARef<Dentry>> {
    let up = fs.upper.as_ref().ok_or(EINVAL)?;
    let mnt: &Mount = &up.mnt;
    let _cred = fs.cred.override_creds();
    let _w = WriteAccess::get(mnt)?;
    let fh = copy_up::origin_fh(fs, fs.layers[0].mnt.root())?.ok_or(EINVAL)?;
    verify_fh(fs, mnt.root(), b"origin", &fh, true).inspect_err(|_| {
        pr_err!("failed to verify upper root origin\n");
    })?;
    let r = (|| -> Result<ARef<Dentry>> {
        let dir = {
            let lock = Locked::dir(mnt, workbase)?;
            let d = lock.lookup(workbase, b"index")?;
            if d.inode().is_none() {
                lock.mkdir(workbase, &d, 0)?
            } else if d.can_lookup() {
                d
            } else {
                pr_err!("index is not a directory\n");
                return Err(EINVAL);
            }
        };
        let ufh = copy_up::encode_fh(fs, mnt.root(), true)?.ok_or(EINVAL)?;
        verify_fh(fs, &dir, b"upper", &ufh, true).inspect_err(|e| {
            // Named by what the handle is of (`ovl_verify_origin_xattr`).
            crate::vfs::pr_warn_ratelimited!(
                "failed to verify upper ({}, ino={}, err={})\n",
                super::params::BStrLossy(&mnt.root().printed_name(1)),
                mnt.root().inode().map_or(0, |i| i.ino()),
                e.to_errno()
            );
            pr_err!("failed to verify index dir 'upper' xattr\n");
        })?;
        clean_entries(fs, mnt, &dir).inspect_err(|e| {
            pr_err!("failed index dir cleanup ({})\n", e.to_errno());
        })?;
        Ok(dir)
    })();
    r.inspect_err(|_| {
        pr_warn!(
            "try deleting index dir or mounting with '-o index=off' to disable inodes index.\n"
        );
    })
}

/// Checks that the file handle in private xattr `name` of `d` is `fh`
/// (`ESTALE` where it is another), or sets it where there is none and
/// `set` (`ovl_verify_set_fh`). Where there is none, or an empty, unknown
/// or invalid one (`namei::get_fh`), the check fails with `ENODATA`.
pub(crate) fn verify_fh(fs: &Rovl, d: &Dentry, name: &[u8], fh: &[u8], set: bool) -> Result {
    match namei::get_fh(fs, d, name)? {
        Some(stored) if *stored == *fh => Ok(()),
        Some(_) => Err(vfs::errno(bindings::ESTALE)),
        None if set => xattrs::set_private(fs, d, name, fh),
        None => Err(vfs::errno(bindings::ENODATA)),
    }
}

/// What the mount-time check makes of one index entry.
enum Verdict {
    Keep,
    /// Stale: removed.
    Remove,
    /// An orphan (no name left): removed, or with NFS export replaced by
    /// a whiteout that keeps its handle stale.
    Orphan,
}

/// Checks each entry of the index (`ovl_indexdir_cleanup`): leftovers of
/// interrupted operations (`#...`), stale and orphan entries are removed;
/// an entry that is no index entry at all fails the mount.
fn clean_entries(fs: &Rovl, mnt: &Mount, dir: &Dentry) -> Result {
    for name in super::super_::dir_names(mnt, dir)?.iter() {
        let index = Locked::dir(mnt, dir)?.lookup(dir, name)?;
        if index.inode().is_none() {
            continue;
        }
        if name.first() == Some(&b'#') {
            super::super_::remove_tree(mnt, dir, &index, 1)?;
            continue;
        }
        let verdict = verify(fs, &index).or_else(|e| {
            crate::vfs::pr_warn_ratelimited!(
                "failed to verify index ({}, ftype={:x}, err={})\n",
                super::params::BStrLossy(&index.printed_name(1)),
                index
                    .inode()
                    .map_or(0, |i| u32::from(i.mode()) & bindings::S_IFMT),
                e.to_errno()
            );
            // A stale entry goes; anything else is no index of ours.
            if e == vfs::errno(bindings::ESTALE) {
                Ok(Verdict::Remove)
            } else {
                Err(e)
            }
        });
        match verdict {
            Ok(Verdict::Keep) => {}
            Ok(Verdict::Orphan) if fs.config.nfs_export => {
                let lock = Locked::dir(mnt, dir)?;
                cleanup_and_whiteout(fs, &lock, dir, &index)?;
            }
            Ok(Verdict::Remove | Verdict::Orphan) => {
                let lock = Locked::dir(mnt, dir)?;
                if index.can_lookup() {
                    lock.rmdir(dir, &index)?;
                } else {
                    lock.unlink(dir, &index)?;
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `ovl_verify_index`: the upper object of an entry (the entry itself, or
/// for a directory the one its `upper` xattr names, checked with NFS
/// export only) must carry the origin its name spells (else it is stale,
/// `ESTALE`), and an entry that is the only link of its file must still
/// have a decodable origin and a union link count (else it is an orphan,
/// as a directory entry whose upper directory is gone).
fn verify(fs: &Rovl, index: &Dentry) -> Result<Verdict> {
    let inode = index.inode().ok_or(ENOENT)?;
    // As `ovl_verify_index`: a name of an odd length has its last digit
    // ignored, and a handle may be shorter than the name spells.
    let name = index.name();
    if name.len() < 2 * 21 {
        return Err(EINVAL);
    }
    let Some(spelt) = unhex(&name[..name.len() / 2 * 2])? else {
        return Err(EINVAL);
    };
    let fh = &spelt[..namei::check_fb_len(&spelt)?];
    // Whiteouts mark removed exported objects.
    if inode.is_whiteout() || (index.can_lookup() && !fs.config.nfs_export) {
        return Ok(Verdict::Keep);
    }
    let upper = match index_upper(fs, index, false) {
        Ok(Some(u)) => u,
        Ok(None) => return Err(vfs::errno(bindings::ESTALE)),
        Err(e) if e == vfs::errno(bindings::ESTALE) => {
            orphan_warning(index);
            return Ok(Verdict::Orphan);
        }
        Err(e) => return Err(e),
    };
    verify_fh(fs, &upper, b"origin", fh, false)?;
    if !inode.is_dir() && inode.nlink() == 1 {
        let ftype = u32::from(inode.mode()) & bindings::S_IFMT;
        let Some(origin) = namei::decode_origin(fs, fh, ftype, index)? else {
            return Err(vfs::errno(bindings::ESTALE));
        };
        let lower = origin.dentry.inode().ok_or(ENOENT)?;
        if get_nlink(fs, lower, index, 0) == 0 {
            orphan_warning(index);
            return Ok(Verdict::Orphan);
        }
    }
    Ok(Verdict::Keep)
}

fn orphan_warning(index: &Dentry) {
    let inode = index.inode();
    crate::vfs::pr_warn_ratelimited!(
        "orphan index entry ({}, ftype={:x}, nlink={})\n",
        super::params::BStrLossy(&index.printed_name(1)),
        inode.map_or(0, |i| u32::from(i.mode()) & bindings::S_IFMT),
        inode.map_or(0, |i| i.nlink())
    );
}
