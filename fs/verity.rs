// SPDX-License-Identifier: GPL-2.0

//! fs-verity digests of metacopy files' data (`verity=on|require`, from
//! util.c, namei.c and copy_up.c): a metacopy copy-up records the digest of
//! the lower data in the `metacopy` xattr, and the data of a metacopy file
//! is checked against the recorded digest before its first use, so that a
//! changed or replaced lower file is refused (`EIO`) rather than read.

use super::params::{BStrLossy, Verity};
use super::{xattrs, Rovl, RovlNode};
use crate::vfs::{self, Dentry, File, RealPath, SuperBlock, VerityDigest};
use core::sync::atomic::Ordering;
use kernel::bindings;
use kernel::prelude::*;

/// Loads the fs-verity data of a real verity file not opened since its
/// inode was read, which is unknown until then (`ovl_ensure_verity_loaded`).
fn ensure_loaded(fs: &Rovl, data: &RealPath<'_>) -> Result {
    let inode = data.dentry.inode().ok_or(EIO)?;
    if !inode.fsverity_active() && inode.flags() & bindings::S_VERITY != 0 {
        File::open_path(data, bindings::O_RDONLY, &fs.cred)?;
    }
    Ok(())
}

/// Whether the data at `data` has an fs-verity digest: without one,
/// `verity=require` copies a file up whole rather than as a metacopy
/// (`ovl_need_meta_copy_up`).
pub(crate) fn has_digest(fs: &Rovl, data: &RealPath<'_>) -> bool {
    ensure_loaded(fs, data).is_ok() && data.dentry.inode().is_some_and(|i| i.fsverity_active())
}

/// The digest a metacopy copy-up of `data` records (`ovl_get_verity_digest`):
/// none with `verity=off`, and none found is an error with `verity=require`.
pub(crate) fn copy_up_digest(fs: &Rovl, data: &RealPath<'_>) -> Result<Option<VerityDigest>> {
    if fs.config.verity == Verity::Off || !data.dentry.is_reg() {
        return Ok(None);
    }
    if ensure_loaded(fs, data).is_err() {
        vfs::pr_warn_ratelimited!(
            "lower file '{}' failed to load fs-verity info\n",
            BStrLossy(&data.dentry.printed_name(0))
        );
        return Err(EIO);
    }
    match data.dentry.inode().and_then(|i| i.fsverity_digest()) {
        Some(d) => Ok(Some(d)),
        None if fs.config.verity == Verity::Require => {
            vfs::pr_warn_ratelimited!(
                "lower file '{}' has no fs-verity digest\n",
                BStrLossy(&data.dentry.printed_name(0))
            );
            Err(EIO)
        }
        None => Ok(None),
    }
}

/// Checks the data at `data` against the digest recorded by the metacopy
/// file at `meta` (`ovl_validate_verity`).
fn validate(fs: &Rovl, meta: &RealPath<'_>, data: &RealPath<'_>) -> Result {
    let mut m = xattrs::Metacopy::new();
    let size = xattrs::check_metacopy(fs, meta.mnt, meta.dentry, Some(&mut m))?;
    if size == 0 || m.digest_alg() == 0 {
        if fs.config.verity == Verity::Require {
            vfs::pr_warn_ratelimited!(
                "metacopy file '{}' has no digest specified\n",
                BStrLossy(&meta.dentry.printed_name(0))
            );
            return Err(EIO);
        }
        return Ok(());
    }
    let name = || data.dentry.printed_name(0);
    if ensure_loaded(fs, data).is_err() {
        vfs::pr_warn_ratelimited!(
            "lower file '{}' failed to load fs-verity info\n",
            BStrLossy(&name())
        );
        return Err(EIO);
    }
    let Some(actual) = data.dentry.inode().and_then(|i| i.fsverity_digest()) else {
        vfs::pr_warn_ratelimited!(
            "lower file '{}' has no fs-verity digest\n",
            BStrLossy(&name())
        );
        return Err(EIO);
    };
    if actual.alg != m.digest_alg() || actual.digest() != m.digest() {
        vfs::pr_warn_ratelimited!(
            "lower file '{}' has the wrong fs-verity digest\n",
            BStrLossy(&name())
        );
        return Err(EIO);
    }
    Ok(())
}

/// Makes the data of a metacopy file ready for use: looked up in the
/// data-only layers on first use, and checked against its recorded digest
/// once per inode where the `verity` option asks for it
/// (`ovl_verify_lowerdata`). Every open and copy-up goes through here first.
pub(crate) fn verify_lowerdata(sb: &SuperBlock<Rovl>, dentry: &Dentry, node: &RovlNode) -> Result {
    let fs = sb.data();
    if !node.is_metacopy() {
        return Ok(());
    }
    node.realdata(fs).inspect_err(|e| {
        vfs::pr_warn_ratelimited!(
            "lazy lowerdata lookup failed ({}, err={})\n",
            BStrLossy(&dentry.printed_name(1)),
            e.to_errno()
        );
    })?;
    if fs.config.verity == Verity::Off || node.verified_digest.load(Ordering::Acquire) {
        return Ok(());
    }
    if !node.has_digest.load(Ordering::Acquire) {
        if fs.config.verity == Verity::Require {
            vfs::pr_warn_ratelimited!(
                "metacopy file '{}' has no digest specified\n",
                BStrLossy(&dentry.printed_name(0))
            );
            return Err(EIO);
        }
        return Ok(());
    }
    let _lock = sb.node_lock(dentry).ok_or(ENOENT)?.lock_interruptible()?;
    // A concurrent check, or a copy-up of the data, may have come first.
    if node.verified_digest.load(Ordering::Acquire) || !node.is_metacopy() {
        return Ok(());
    }
    let _cred = fs.cred.override_creds();
    validate(fs, &node.real_path(fs), &node.realdata(fs)?)?;
    node.verified_digest.store(true, Ordering::Release);
    Ok(())
}
