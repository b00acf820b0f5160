// SPDX-License-Identifier: GPL-2.0
//! Stacked file operations: what an open file does, on `overlay` and
//! `rovl` over the same layers, and what rovl does beyond overlay.

use crate::layers::{self, Rng};
use crate::sys::{self, check, cstr, Errno};
use crate::upper::{writable_pair, Side};
use crate::{Fail, TResult, T};
use std::path::{Path, PathBuf};

const PAGE: usize = 4096;

fn errno() -> Errno {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A read-only shared or private mapping of `len` bytes of `fd`.
struct Map {
    p: *mut u8,
    len: usize,
}

impl Map {
    fn new(fd: i32, len: usize, prot: i32, flags: i32) -> Result<Map, Errno> {
        // SAFETY: A new mapping chosen by the kernel.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, fd, 0) };
        if p == libc::MAP_FAILED {
            return Err(errno());
        }
        Ok(Map { p: p.cast(), len })
    }

    fn bytes(&self, off: usize, n: usize) -> Vec<u8> {
        assert!(off + n <= self.len);
        // SAFETY: Within the mapping, which lies within the file's size.
        unsafe { std::slice::from_raw_parts(self.p.add(off), n).to_vec() }
    }

    fn write(&self, off: usize, data: &[u8]) {
        assert!(off + data.len() <= self.len);
        // SAFETY: Within a writable mapping.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.p.add(off), data.len()) };
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: Our mapping.
        unsafe { libc::munmap(self.p.cast(), self.len) };
    }
}

fn pwrite(fd: i32, data: &[u8], off: i64) -> Result<usize, Errno> {
    // SAFETY: `data` is readable for its length.
    check(unsafe { libc::pwrite(fd, data.as_ptr().cast(), data.len(), off) } as i64)
        .map(|n| n as usize)
}

fn write(fd: i32, data: &[u8]) -> Result<usize, Errno> {
    // SAFETY: `data` is readable for its length.
    check(unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) } as i64).map(|n| n as usize)
}

fn pipe() -> (i32, i32) {
    let mut p = [0i32; 2];
    // SAFETY: `p` has room for two descriptors.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    (p[0], p[1])
}

/// `splice` of `len` bytes at `off` of `fd` through a pipe: the bytes.
fn splice_out(fd: i32, off: i64, len: usize) -> Result<Vec<u8>, Errno> {
    let (r, w) = pipe();
    let mut o = off;
    // SAFETY: Descriptors we own; `o` is ours.
    let n = check(unsafe { libc::splice(fd, &mut o, w, std::ptr::null_mut(), len, 0) } as i64);
    let out = n.and_then(|n| sys::read(r, n as usize));
    sys::close(r);
    sys::close(w);
    out
}

/// `splice` of `data` from a pipe into `fd` at `off`: bytes moved.
fn splice_in(fd: i32, data: &[u8], off: i64) -> Result<usize, Errno> {
    let (r, w) = pipe();
    write(w, data)?;
    let mut o = off;
    // SAFETY: Descriptors we own; `o` is ours.
    let n =
        check(unsafe { libc::splice(r, std::ptr::null_mut(), fd, &mut o, data.len(), 0) } as i64);
    sys::close(r);
    sys::close(w);
    n.map(|n| n as usize)
}

/// `sendfile` of `len` bytes at `off` of `fd` into a scratch file: the bytes.
fn sendfile_out(fd: i32, off: i64, len: usize, scratch: &Path) -> Result<Vec<u8>, Errno> {
    let out = sys::open(scratch, libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC)?;
    let mut o = off;
    // SAFETY: Descriptors we own; `o` is ours.
    let n = check(unsafe { libc::sendfile(out, fd, &mut o, len) } as i64);
    let data = n.and_then(|n| sys::pread(out, n as usize, 0));
    sys::close(out);
    data
}

fn copy_range(fin: i32, off_in: i64, fout: i32, off_out: i64, len: usize) -> Result<usize, Errno> {
    let (mut a, mut b) = (off_in, off_out);
    // SAFETY: Descriptors we own; offsets are ours.
    check(unsafe { libc::copy_file_range(fin, &mut a, fout, &mut b, len, 0) } as i64)
        .map(|n| n as usize)
}

fn fstat(fd: i32) -> Result<libc::stat, Errno> {
    // SAFETY: `st` is written by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: As above.
    check(unsafe { libc::fstat(fd, &mut st) } as i64).map(|_| st)
}

fn show(r: Result<Vec<u8>, Errno>) -> String {
    match r {
        Ok(d) => format!(
            "{}:{}",
            d.len(),
            String::from_utf8_lossy(&d[..d.len().min(4)])
        ),
        Err(e) => format!("errno {e}"),
    }
}

/// How the first descriptor reads, in the ro/rw consistency matrix.
const METHODS: &[&str] = &[
    "read",
    "pread",
    "preadv",
    "splice",
    "sendfile",
    "mmap-shared",
    "mmap-shared-after",
    "mmap-private",
    "fstat",
];

/// What copies the file up and changes it after the first descriptor opened.
const TRIGGERS: &[&str] = &["rw-fd", "truncate", "chmod", "o-trunc"];

/// Opens the file read-only while it is only on the lower layer, reads it
/// one way, lets another descriptor copy it up and rewrite it, and reads
/// again through the first descriptor: what the second read saw.
fn consistency(mnt: &Path, method: &str, trigger: &str, scratch: &Path) -> String {
    let p = mnt.join(format!("m-{method}-{trigger}"));
    let fd = match sys::open(&p, libc::O_RDONLY) {
        Ok(fd) => fd,
        Err(e) => return format!("open: errno {e}"),
    };
    let map = match method {
        "mmap-shared" => Map::new(fd, 3 * PAGE, libc::PROT_READ, libc::MAP_SHARED).ok(),
        "mmap-private" => Map::new(fd, 3 * PAGE, libc::PROT_READ, libc::MAP_PRIVATE).ok(),
        _ => None,
    };
    let before = match &map {
        Some(m) => String::from_utf8_lossy(&m.bytes(0, 4)).into_owned(),
        None => show(sys::pread(fd, 4, 0)),
    };
    let new = vec![b'B'; 3 * PAGE];
    let changed: Result<(), Errno> = (|| {
        let flags = match trigger {
            "truncate" => {
                let c = cstr(&p);
                // SAFETY: A valid path.
                check(unsafe { libc::truncate(c.as_ptr(), 3 * PAGE as i64) } as i64)?;
                libc::O_WRONLY
            }
            "chmod" => {
                let c = cstr(&p);
                // SAFETY: A valid path.
                check(unsafe { libc::chmod(c.as_ptr(), 0o640) } as i64)?;
                libc::O_WRONLY
            }
            "o-trunc" => libc::O_WRONLY | libc::O_TRUNC,
            _ => libc::O_RDWR,
        };
        let w = sys::open(&p, flags)?;
        let r = pwrite(w, &new, 0);
        sys::close(w);
        r.map(|_| ())
    })();
    let after = match method {
        "read" => sys::lseek(fd, 0, libc::SEEK_SET).and_then(|_| sys::read(fd, 3 * PAGE)),
        "pread" => sys::pread(fd, 3 * PAGE, 0),
        "preadv" => sys::lseek(fd, 0, libc::SEEK_SET).and_then(|_| sys::readv(fd, &[10, 3 * PAGE])),
        "splice" => splice_out(fd, 0, 3 * PAGE),
        "sendfile" => sendfile_out(fd, 0, 3 * PAGE, scratch),
        "mmap-shared" | "mmap-private" => {
            Ok(map.as_ref().map(|m| m.bytes(0, 8)).unwrap_or_default())
        }
        // Page 0 only: overlayfs maps the stale lower file, shorter than
        // the new one.
        "mmap-shared-after" => {
            Map::new(fd, 3 * PAGE, libc::PROT_READ, libc::MAP_SHARED).map(|m| m.bytes(0, 8))
        }
        _ => fstat(fd).map(|st| {
            format!(
                "size {} mtime-changed {}",
                st.st_size,
                st.st_mtime > 1_000_000
            )
            .into_bytes()
        }),
    };
    drop(map);
    sys::close(fd);
    let after = match (method, after) {
        ("fstat", Ok(d)) => String::from_utf8_lossy(&d).into_owned(),
        (_, r) => show(r),
    };
    format!("before {before} change {changed:?} after {after}")
}

/// The ro/rw consistency matrix: every read method of a descriptor opened
/// read-only before a copy-up, after each kind of copy-up and write.
pub fn ro_rw_consistency(t: &mut T) -> TResult {
    let base = t.dir.join("rorw");
    let l0 = base.join("l0");
    for m in METHODS {
        for tr in TRIGGERS {
            let p = l0.join(format!("m-{m}-{tr}"));
            layers::file(&p, &vec![b'A'; 2 * PAGE])?;
            // An old mtime, so a change shows.
            let c = cstr(&p);
            let ts = [libc::timespec {
                tv_sec: 1000,
                tv_nsec: 0,
            }; 2];
            // SAFETY: A valid path and two timespecs.
            unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), ts.as_ptr(), 0) };
        }
    }
    let (o, r) = writable_pair(t, &base, &[l0])?;
    let scratch = base.join("scratch");
    let mut diffs = Vec::new();
    for m in METHODS {
        for tr in TRIGGERS {
            let a = consistency(&o.mnt, m, tr, &scratch);
            if std::env::var_os("ROVL_TRACE").is_some() {
                eprintln!("{m}/{tr}: overlay [{a}]");
            }
            let b = consistency(&r.mnt, m, tr, &scratch);
            if std::env::var_os("ROVL_TRACE").is_some() {
                eprintln!("{m}/{tr}: rovl [{b}]");
            }
            // rovl: every method sees the new data and size.
            let fresh = match *m {
                "fstat" => b.ends_with("after size 12288 mtime-changed true"),
                "mmap-shared" | "mmap-private" => b.ends_with("after 8:BBBB"),
                _ => b.contains("after 12288:BBBB") || b.ends_with("after 8:BBBB"),
            };
            // overlayfs maps the file open at the time of the open, which
            // the copy-up left behind.
            let beyond = *m == "mmap-shared" || *m == "mmap-shared-after";
            if *m == "mmap-private" {
                // Unspecified by POSIX; rovl maps the lower file as
                // overlay does.
                if a != b {
                    diffs.push(format!("{m}/{tr}: overlay [{a}] rovl [{b}]"));
                }
                continue;
            }
            if !fresh {
                diffs.push(format!("{m}/{tr}: rovl stale: [{b}] (overlay [{a}])"));
            } else if beyond {
                // overlayfs maps the stale lower file: the gap rovl closes.
                if !a.ends_with("after 8:AAAA") {
                    diffs.push(format!("{m}/{tr}: overlay not stale as documented: [{a}]"));
                }
            } else if a != b {
                diffs.push(format!("{m}/{tr}: overlay [{a}] rovl [{b}]"));
            }
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(Fail::Fail(diffs.join("\n")))
    }
}
