// SPDX-License-Identifier: GPL-2.0
//! Full recursive snapshots of a mounted tree, and their differences.

use crate::sys::{self, Errno};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Everything compared about one object of a mounted tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    /// lstat failed with this errno (listed whiteouts of unmerged dirs).
    pub err: Option<Errno>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub nlink: u64,
    pub ino: u64,
    /// Which distinct st_dev this is, in walk order (the root's is 0): raw
    /// values differ per mount, their grouping must not.
    pub dev_class: usize,
    pub rdev: u64,
    pub blocks: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub target: Option<Vec<u8>>,
    /// FNV-1a of the whole content, or the errno of reading it.
    pub content: Option<Result<u64, Errno>>,
    /// getdents64 entries in order: name, d_type, d_ino.
    pub listing: Option<Vec<(String, u8, u64)>>,
    /// Listed xattr names with their values (or the errno of reading them).
    pub xattrs: Result<Vec<(String, Result<Vec<u8>, Errno>)>, Errno>,
}

fn xattrs(p: &Path) -> Result<Vec<(String, Result<Vec<u8>, Errno>)>, Errno> {
    Ok(sys::listxattr(p)?
        .into_iter()
        .map(|n| {
            let v = sys::getxattr(p, &n);
            (n, v)
        })
        .collect())
}

pub fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// The listing of a directory through getdents64, in order.
pub fn listing(p: &Path) -> Result<Vec<(String, u8, u64)>, Errno> {
    read_listing(p, false)
}

/// As [`listing`], with a failed `getdents64` call recorded as an entry
/// `!errno N` and the listing read on: overlayfs fails the call that
/// reaches an entry it cannot look up and leaves that entry out of the next
/// ones. Two failures in a row end the listing.
fn listing_through_errors(p: &Path) -> Result<Vec<(String, u8, u64)>, Errno> {
    read_listing(p, true)
}

fn read_listing(p: &Path, through_errors: bool) -> Result<Vec<(String, u8, u64)>, Errno> {
    let fd = sys::open(p, libc::O_RDONLY | libc::O_DIRECTORY)?;
    let mut out = Vec::new();
    let mut failed = false;
    loop {
        match sys::getdents(fd, 4096) {
            Ok(v) if v.is_empty() => break,
            Ok(v) => {
                failed = false;
                out.extend(v.into_iter().map(|d| {
                    (
                        String::from_utf8_lossy(&d.name).into_owned(),
                        d.d_type,
                        d.ino,
                    )
                }))
            }
            Err(e) if !through_errors => {
                sys::close(fd);
                return Err(e);
            }
            Err(e) => {
                out.push((format!("!errno {e}"), 0, 0));
                if failed {
                    break;
                }
                failed = true;
            }
        }
    }
    sys::close(fd);
    Ok(out)
}

fn read_all(p: &Path) -> Result<u64, Errno> {
    fs::read(p).map(|d| fnv(&d)).map_err(|e| sys::errno_of(&e))
}

pub fn snapshot(root: &Path) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    let mut devs = Vec::new();
    walk(root, root, &mut devs, &mut out)?;
    Ok(out)
}

fn walk(root: &Path, p: &Path, devs: &mut Vec<u64>, out: &mut Vec<Entry>) -> Result<(), String> {
    let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
    let m = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) => {
            out.push(Entry {
                path: rel,
                err: Some(sys::errno_of(&e)),
                mode: 0,
                uid: 0,
                gid: 0,
                size: 0,
                nlink: 0,
                ino: 0,
                dev_class: usize::MAX,
                rdev: 0,
                blocks: 0,
                mtime: (0, 0),
                ctime: (0, 0),
                target: None,
                content: None,
                listing: None,
                xattrs: Ok(Vec::new()),
            });
            return Ok(());
        }
    };
    let ft = m.file_type();
    let listing = if ft.is_dir() {
        Some(
            listing_through_errors(p)
                .map_err(|e| format!("open dir {}: errno {e}", p.display()))?,
        )
    } else {
        None
    };
    out.push(Entry {
        path: if rel.is_empty() { ".".into() } else { rel },
        err: None,
        mode: m.mode(),
        uid: m.uid(),
        gid: m.gid(),
        size: m.size(),
        nlink: m.nlink(),
        ino: m.ino(),
        dev_class: match devs.iter().position(|&d| d == m.dev()) {
            Some(i) => i,
            None => {
                devs.push(m.dev());
                devs.len() - 1
            }
        },
        rdev: m.rdev(),
        blocks: m.blocks(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
        target: ft.is_symlink().then(|| {
            fs::read_link(p)
                .map(|t| t.as_os_str().as_bytes().to_vec())
                .unwrap_or_default()
        }),
        content: ft.is_file().then(|| read_all(p)),
        listing: listing.clone(),
        xattrs: xattrs(p),
    });
    if let Some(l) = listing {
        for (name, _, _) in l {
            if name != "." && name != ".." && !name.starts_with("!errno ") {
                walk(root, &p.join(&name), devs, out)?;
            }
        }
    }
    Ok(())
}

/// Field-by-field differences, at most `max` of them.
pub fn diff(ovl: &[Entry], rovl: &[Entry], max: usize) -> Vec<String> {
    let mut d = Vec::new();
    if ovl.len() != rovl.len() {
        d.push(format!(
            "object count: overlay {} rovl {}",
            ovl.len(),
            rovl.len()
        ));
    }
    for (a, b) in ovl.iter().zip(rovl.iter()) {
        if a == b {
            continue;
        }
        if a.path != b.path {
            d.push(format!("path order: overlay {} rovl {}", a.path, b.path));
            break;
        }
        macro_rules! f {
            ($($field:ident),*) => {$(
                if a.$field != b.$field {
                    d.push(format!("{}: {}: overlay {:?} rovl {:?}", a.path, stringify!($field), a.$field, b.$field));
                }
            )*};
        }
        f!(
            err, mode, uid, gid, size, nlink, ino, dev_class, rdev, blocks, mtime, ctime, target,
            content, listing
        );
        if d.len() >= max {
            break;
        }
    }
    d.truncate(max);
    d
}
