// SPDX-License-Identifier: GPL-2.0

//! Stacked regular files (file.c): each open rovl file owns a real file.

use super::{copy_up, Rovl, RovlNode};
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
    let flags = file.flags();
    let acc = flags & bindings::O_ACCMODE;
    if acc != bindings::O_RDONLY || flags & bindings::O_TRUNC != 0 {
        copy_up::copy_up(sb, dentry)?;
    }
    let _cred = fs.cred.override_creds();
    StackedFile::open(file, &node.realdata(fs)?, &fs.cred)
}
