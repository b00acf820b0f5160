// SPDX-License-Identifier: GPL-2.0

//! Stacked regular files (file.c): each open rovl file owns a real file.

use super::{Rovl, RovlNode};
use crate::vfs::{File, StackedFile};
use kernel::prelude::*;

/// Opens the real file holding the data under the mounter's credentials.
pub(crate) fn open(fs: &Rovl, node: &RovlNode, file: &File) -> Result<StackedFile> {
    let _cred = fs.cred.override_creds();
    StackedFile::open(file, &node.realdata(fs)?, &fs.cred)
}
