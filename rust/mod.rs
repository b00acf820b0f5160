// SPDX-License-Identifier: GPL-2.0

//! rovl's safe abstractions over the VFS.
//!
//! The 6.12 kernel crate has no filesystem abstractions, so rovl carries the
//! small set it needs. All `unsafe` code of the module lives here; the
//! filesystem logic in `fs/` is safe Rust on top of these types.

mod cred;
mod dentry;
mod ffi;
mod file;
mod super_block;

pub(crate) use cred::Cred;
pub(crate) use dentry::{Dentry, Inode, Kstat, Mount, OwnedPath, PrivateMount, RealPath};
pub(crate) use file::{DelayedCall, DirEmitter, File, Kstatfs, SeqFile, StackedFile};
pub(crate) use super_block::{
    sb_of, stack_depth_of, FileSystem, NewNode, Registration, SuperBlock,
};

/// Directory entry types, as `d_type` in `getdents64`.
pub(crate) const DT_CHR: u32 = 2;

/// A fresh inode number for an inode without a stable one (`get_next_ino`).
pub(crate) fn next_ino() -> u64 {
    // SAFETY: `get_next_ino` has no preconditions.
    u64::from(unsafe { kernel::bindings::get_next_ino() })
}

/// Turns a kernel errno constant from `bindings` into an [`kernel::error::Error`].
///
/// The 6.12 kernel crate lacks ENODATA, EOPNOTSUPP and friends in
/// `kernel::error::code`.
pub(crate) fn errno(e: u32) -> kernel::error::Error {
    kernel::error::Error::from_errno(-(e as i32))
}
