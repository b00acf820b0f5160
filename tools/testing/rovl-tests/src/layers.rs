// SPDX-License-Identifier: GPL-2.0
//! Builders for layer trees, in the on-disk format overlayfs reads.

use crate::sys;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

pub type R<T = ()> = Result<T, String>;

fn ctx<T, E: std::fmt::Debug>(r: Result<T, E>, what: &str, p: &Path) -> R<T> {
    r.map_err(|e| format!("{what} {}: {e:?}", p.display()))
}

pub fn dir(p: &Path) -> R {
    ctx(fs::create_dir_all(p), "mkdir", p)
}

pub fn file(p: &Path, data: &[u8]) -> R {
    if let Some(d) = p.parent() {
        dir(d)?;
    }
    ctx(fs::write(p, data), "write", p)
}

pub fn chmod(p: &Path, mode: u32) -> R {
    ctx(
        fs::set_permissions(p, fs::Permissions::from_mode(mode)),
        "chmod",
        p,
    )
}

pub fn link(target: &str, p: &Path) -> R {
    ctx(symlink(target, p), "symlink", p)
}

/// A whiteout: a 0/0 character device.
pub fn whiteout(p: &Path) -> R {
    ctx(
        sys::mknod(p, libc::S_IFCHR | 0o644, 0, 0),
        "mknod whiteout",
        p,
    )
}

pub fn chr(p: &Path, major: u32, minor: u32) -> R {
    ctx(
        sys::mknod(p, libc::S_IFCHR | 0o644, major, minor),
        "mknod chr",
        p,
    )
}

pub fn fifo(p: &Path) -> R {
    ctx(sys::mknod(p, libc::S_IFIFO | 0o644, 0, 0), "mknod fifo", p)
}

/// An opaque directory: `trusted.overlay.opaque=y`.
pub fn opaque(p: &Path) -> R {
    dir(p)?;
    ctx(
        sys::setxattr(p, "trusted.overlay.opaque", b"y"),
        "setxattr opaque",
        p,
    )
}

/// Deterministic pseudo-random numbers (xorshift64*), so a failing seed
/// can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Fills `layers` with a random tree over a shared name space, so that
/// names collide across layers: files over files, dirs over dirs, files
/// over dirs, whiteouts, opaque dirs, symlinks and special files.
pub fn random_tree(rng: &mut Rng, layers: &[&Path], depth: u32) -> R {
    for (li, l) in layers.iter().enumerate() {
        dir(l)?;
        random_dir(rng, l, li, depth)?;
    }
    Ok(())
}

/// Extra hard links to regular files of each layer, at free names of the
/// same random name space in the same layer (for the inodes index).
pub fn random_hard_links(rng: &mut Rng, layers: &[&Path]) -> R {
    fn walk(d: &Path, dirs: &mut Vec<std::path::PathBuf>, files: &mut Vec<std::path::PathBuf>) {
        dirs.push(d.to_path_buf());
        let Ok(rd) = fs::read_dir(d) else { return };
        let mut v: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        v.sort();
        for p in v {
            match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => walk(&p, dirs, files),
                Ok(m) if m.is_file() => files.push(p),
                _ => {}
            }
        }
    }
    let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
    for l in layers {
        let (mut dirs, mut files) = (Vec::new(), Vec::new());
        walk(l, &mut dirs, &mut files);
        for f in files {
            for _ in 0..rng.below(3) {
                let d = &dirs[rng.below(dirs.len() as u64) as usize];
                let p = d.join(names[rng.below(8) as usize]);
                if fs::symlink_metadata(&p).is_err() {
                    ctx(fs::hard_link(&f, &p), "link", &p)?;
                }
            }
        }
    }
    Ok(())
}

/// Random xattrs on `p`: user ones, other trusted ones, overlay's private
/// ones and their escaped form.
fn random_xattrs(rng: &mut Rng, p: &Path) -> R {
    let names = [
        "user.a",
        "user.b",
        "trusted.t",
        "trusted.overlay.x",
        "trusted.overlay.overlay.esc",
        "user.overlay.u",
    ];
    for n in names {
        if rng.below(4) == 0 {
            let v = format!("{n}={}", rng.next());
            ctx(sys::setxattr(p, n, v.as_bytes()), "setxattr", p)?;
        }
    }
    Ok(())
}

fn random_dir(rng: &mut Rng, d: &Path, layer: usize, depth: u32) -> R {
    let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
    for n in names {
        let p = d.join(n);
        match rng.below(12) {
            0..=2 => file(
                &p,
                format!("{n}:{layer}:{}", rng.next())
                    .repeat(1 + rng.below(50) as usize)
                    .as_bytes(),
            )?,
            3..=5 if depth > 0 => {
                if rng.below(6) == 0 {
                    opaque(&p)?;
                } else {
                    dir(&p)?;
                }
                random_dir(rng, &p, layer, depth - 1)?;
            }
            6 => whiteout(&p)?,
            7 => link(if rng.below(2) == 0 { "a" } else { "../nowhere" }, &p)?,
            8 => fifo(&p)?,
            _ => continue,
        }
        // user.* xattrs exist only on files and directories.
        if fs::symlink_metadata(&p)
            .map(|m| m.is_file() || m.is_dir())
            .unwrap_or(false)
        {
            random_xattrs(rng, &p)?;
        }
    }
    Ok(())
}
