// SPDX-License-Identifier: GPL-2.0

//! Stacked regular files (file.c): each open rovl file owns a real file.

use super::params::{Config, Mmap};
use super::{copy_up, verity, Rovl, RovlNode};
use crate::vfs::{Dentry, File, StackedFile, SuperBlock};
use kernel::bindings;
use kernel::prelude::*;

/// Opens the real file holding the data under the mounter's credentials,
/// copying it up first when opened for writing or truncation
/// (`ovl_open`, `ovl_open_need_copy_up`).
pub(crate) fn open(
    sb: &SuperBlock<Rovl>,
    dentry: &Dentry,
    node: &RovlNode,
    file: &File,
) -> Result<StackedFile> {
    let fs = sb.data();
    verity::verify_lowerdata(sb, dentry, node)?;
    let flags = file.flags();
    let acc = flags & bindings::O_ACCMODE;
    if acc != bindings::O_RDONLY || flags & bindings::O_TRUNC != 0 {
        copy_up::copy_up_flags(sb, dentry, flags)?;
    }
    let data = node.realdata(fs)?;
    StackedFile::open(file, &data, node.has_upperdata(), &fs.cred)
}

/// Whether an `mmap` gets the rovl inode's own pages instead of the real
/// file's. A shared mapping of a file whose data is still only on a lower
/// layer (a metacopy upper file's too) does: the
/// lower file's pages would never show what is written after a copy-up
/// (overlayfs maps them anyway). Its pages are copied from the current real
/// file's at each fault and dropped when a write through rovl changes them.
/// While such a mapping lives, every shared mapping of the file uses the
/// same pages (written back to the upper file when stored to), so all see
/// each other's stores. Every other mapping maps the real file: a private
/// one of a lower file too (POSIX leaves it unspecified whether it sees
/// later writes; executables and libraries are mapped so), and any mapping
/// on a mount without an upper layer, where nothing is ever copied up, and
/// every mapping with `mmap=real`, which trades that coherence for no copy.
pub(crate) fn mmap_cached(
    node: &RovlNode,
    config: &Config,
    has_upper_layer: bool,
    shared: bool,
    own_mapped: bool,
) -> bool {
    config.mmap == Mmap::Coherent
        && shared
        && has_upper_layer
        && (own_mapped || !node.has_upperdata())
}

/// fsync and fdatasync (`ovl_fsync`, `ovl_dir_fsync`): the upper object is
/// synced; a lower one never is (its filesystem may be read-only), and a
/// volatile mount syncs nothing but reports the upper filesystem's
/// writeback errors since the mount (`ovl_sync_status`).
pub(crate) fn fsync(
    sb: &SuperBlock<Rovl>,
    node: &RovlNode,
    file: Option<(&StackedFile, &File)>,
    start: i64,
    end: i64,
    datasync: bool,
) -> Result {
    let fs = sb.data();
    if fs.config.fsync == super::params::Fsync::Volatile {
        // Nothing is synced; what writeback already failed is reported.
        return match fs.upper.as_ref() {
            Some(u) => u.mnt.wb_err_since(u.errseq),
            None => Ok(()),
        };
    }
    let Some(upper) = node.upper_path(fs) else {
        return Ok(());
    };
    match file {
        Some((sf, real)) if upper.dentry.has_inode(real.inode()) => {
            sf.fsync(real, start, end, datasync)
        }
        // A metacopy file read from below: its metadata is on the upper
        // object, synced unless only data is asked for (`ovl_fsync` with
        // `ovl_real_fdget_meta`).
        Some(_) if datasync || node.has_upperdata() => Ok(()),
        _ => {
            let _cred = fs.cred.override_creds();
            File::open_path(&upper, bindings::O_RDONLY, &fs.cred)?.fsync_range(start, end, datasync)
        }
    }
}
