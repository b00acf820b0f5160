// SPDX-License-Identifier: GPL-2.0

//! Stacked regular files (file.c): each open rovl file owns a real file.

use super::{copy_up, Rovl, RovlNode};
use crate::vfs::{Dentry, File, RealPath, StackedFile, SuperBlock};
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
    let flags = file.flags();
    let acc = flags & bindings::O_ACCMODE;
    if acc != bindings::O_RDONLY || flags & bindings::O_TRUNC != 0 {
        copy_up::copy_up(sb, dentry)?;
    }
    let _cred = fs.cred.override_creds();
    StackedFile::open(file, &node.realdata(fs)?, &fs.cred)
}

/// fsync and fdatasync (`ovl_fsync`, `ovl_dir_fsync`): the upper object is
/// synced; a lower one never is (its filesystem may be read-only), and a
/// volatile mount syncs nothing.
pub(crate) fn fsync(
    sb: &SuperBlock<Rovl>,
    node: &RovlNode,
    file: Option<&StackedFile>,
    start: i64,
    end: i64,
    datasync: bool,
) -> Result {
    let fs = sb.data();
    if fs.config.fsync == super::params::Fsync::Volatile {
        return Ok(());
    }
    let Some(upper) = node.upper() else {
        return Ok(());
    };
    let _cred = fs.cred.override_creds();
    match file {
        // A file opened before its copy-up still reads the lower one.
        Some(f) if f.real().inode().id() != upper.inode().map_or(0, |i| i.id()) => Ok(()),
        Some(f) => f.real().fsync_range(start, end, datasync),
        None => {
            let path = RealPath {
                mnt: fs.upper_mnt()?,
                dentry: upper,
            };
            File::open_path(&path, bindings::O_RDONLY, &fs.cred)?.fsync_range(start, end, datasync)
        }
    }
}
