// SPDX-License-Identifier: GPL-2.0
//! Stacked file operations: what an open file does, on `overlay` and
//! `rovl` over the same layers, and what rovl does beyond overlay.

use crate::layers::{self, Rng};
use crate::sys::{self, check, cstr, path as P, Errno};
use crate::upper::{writable_pair, writable_pair_each};
use crate::{Fail, TResult, T};
use std::path::Path;

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

// SAFETY: The mapping is process-wide memory; readers copy out of it.
unsafe impl Send for Map {}
// SAFETY: As above; writes go through `write`, which tests serialise.
unsafe impl Sync for Map {}

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

/// One asynchronous read through Linux AIO (`io_submit`), waited for.
fn aio_pread(fd: i32, len: usize, off: i64) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; len];
    let n = aio_rw(fd, 0, buf.as_mut_ptr(), len, off)?;
    buf.truncate(n);
    Ok(buf)
}

/// One asynchronous write of `data` (which `O_DIRECT` may need aligned)
/// through Linux AIO, waited for.
fn aio_pwrite(fd: i32, data: &[u8], off: i64) -> Result<usize, Errno> {
    aio_rw(fd, 1, data.as_ptr().cast_mut(), data.len(), off)
}

/// One Linux AIO request (`IOCB_CMD_PREAD` 0 or `IOCB_CMD_PWRITE` 1) on
/// `len` bytes at `buf`, waited for: the bytes done.
fn aio_rw(fd: i32, opcode: u64, buf: *mut u8, len: usize, off: i64) -> Result<usize, Errno> {
    let mut ctx: libc::c_ulong = 0;
    // SAFETY: `ctx` is written by the kernel.
    check(unsafe { libc::syscall(libc::SYS_io_setup, 1, &mut ctx) })?;
    // struct iocb: data, key + rw_flags, opcode + reqprio + fildes, buf,
    // nbytes, offset, reserved, flags + resfd.
    let mut iocb = [0u64; 8];
    iocb[2] = (fd as u64) << 32 | opcode; // opcode, prio 0, fildes
    iocb[3] = buf as u64;
    iocb[4] = len as u64;
    iocb[5] = off as u64;
    let list = [iocb.as_mut_ptr()];
    let mut ev = [0i64; 4];
    // SAFETY: `iocb` and `buf` outlive the request, which is waited for.
    let r = check(unsafe { libc::syscall(libc::SYS_io_submit, ctx, 1, list.as_ptr()) }).and_then(
        |_| {
            // SAFETY: `ev` holds one io_event.
            check(unsafe {
                libc::syscall(
                    libc::SYS_io_getevents,
                    ctx,
                    1,
                    1,
                    ev.as_mut_ptr(),
                    std::ptr::null::<u8>(),
                )
            })
        },
    );
    // SAFETY: Our context.
    unsafe { libc::syscall(libc::SYS_io_destroy, ctx) };
    r?;
    if ev[2] < 0 {
        return Err(-ev[2] as i32);
    }
    Ok(ev[2] as usize)
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
    "aio",
    "splice",
    "sendfile",
    "mmap-shared",
    "mmap-shared-after",
    "mmap-private",
    "fstat",
];

/// What copies the file up and changes it after the first descriptor opened.
const TRIGGERS: &[&str] = &["rw-fd", "truncate", "chmod", "o-trunc"];

/// How the first descriptor is opened: read-only, plus `O_DIRECT` or
/// `O_NONBLOCK`.
const MODES: &[&str] = &["plain", "direct", "nonblock"];

/// Every (open mode, read method, trigger) of the matrix.
fn matrix() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    MODES.iter().flat_map(|&mode| {
        METHODS
            .iter()
            .flat_map(move |&m| TRIGGERS.iter().map(move |&tr| (mode, m, tr)))
    })
}

/// Opens the file read-only while it is only on the lower layer, reads it
/// one way, lets another descriptor copy it up and rewrite it, and reads
/// again through the first descriptor: what the second read saw.
fn consistency(mnt: &Path, mode: &str, method: &str, trigger: &str, scratch: &Path) -> String {
    let p = mnt.join(format!("m-{mode}-{method}-{trigger}"));
    let flags = match mode {
        "direct" => libc::O_RDONLY | libc::O_DIRECT,
        "nonblock" => libc::O_RDONLY | libc::O_NONBLOCK,
        _ => libc::O_RDONLY,
    };
    let fd = match sys::open(&p, flags) {
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
        "aio" => aio_pread(fd, 3 * PAGE, 0),
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
    rorw_matrix(t, "rorw", "")
}

/// The matrix with `mmap=real` on rovl: a shared mapping made before the
/// copy-up keeps the lower data, as on overlayfs; one made after it through
/// the same descriptor, and every other method, see the new data as with
/// the default.
pub fn ro_rw_consistency_mmap_real(t: &mut T) -> TResult {
    rorw_matrix(t, "rorw-real", ",mmap=real")
}

fn rorw_matrix(t: &mut T, name: &str, rovl_extra: &str) -> TResult {
    let real_mmap = rovl_extra.contains("mmap=real");
    let base = t.dir.join(name);
    let l0 = base.join("l0");
    for (mode, m, tr) in matrix() {
        {
            let p = l0.join(format!("m-{mode}-{m}-{tr}"));
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
    let (o, r) = writable_pair_each(t, &base, &[l0], ["", rovl_extra])?;
    let scratch = base.join("scratch");
    let mut diffs = Vec::new();
    for (mode, m, tr) in matrix() {
        {
            let tr = &tr;
            let m = &m;
            let a = consistency(&o.mnt, mode, m, tr, &scratch);
            if std::env::var_os("ROVL_TRACE").is_some() {
                eprintln!("{mode}/{m}/{tr}: overlay [{a}]");
            }
            let b = consistency(&r.mnt, mode, m, tr, &scratch);
            if std::env::var_os("ROVL_TRACE").is_some() {
                eprintln!("{mode}/{m}/{tr}: rovl [{b}]");
            }
            if real_mmap && *m == "mmap-shared" {
                // The lower file's pages, as overlayfs maps them.
                if a != b || !b.ends_with("after 8:AAAA") {
                    diffs.push(format!(
                        "{mode}/{m}/{tr}: mmap=real: overlay [{a}] rovl [{b}]"
                    ));
                }
                continue;
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
                    diffs.push(format!("{mode}/{m}/{tr}: overlay [{a}] rovl [{b}]"));
                }
                continue;
            }
            if !fresh {
                diffs.push(format!(
                    "{mode}/{m}/{tr}: rovl stale: [{b}] (overlay [{a}])"
                ));
            } else if beyond {
                // overlayfs maps the stale lower file: the gap rovl closes.
                if !a.ends_with("after 8:AAAA") {
                    diffs.push(format!(
                        "{mode}/{m}/{tr}: overlay not stale as documented: [{a}]"
                    ));
                }
            } else if a != b {
                diffs.push(format!("{mode}/{m}/{tr}: overlay [{a}] rovl [{b}]"));
            }
        }
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(Fail::Fail(diffs.join("\n")))
    }
}

/// Fails with the differing lines unless overlay's (`a`) and rovl's (`b`)
/// results are equal.
pub(crate) fn same_lines(a: &[String], b: &[String]) -> TResult {
    if a == b {
        return Ok(());
    }
    let mut d: Vec<String> = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x != y)
        .map(|(x, y)| format!("overlay {x} / rovl {y}"))
        .collect();
    if a.len() != b.len() {
        d.push(format!("overlay {} lines, rovl {}", a.len(), b.len()));
    }
    Err(Fail::Fail(d.join("\n")))
}

/// Fails unless every `need` is one of `lines` (with `part`, a part of
/// one): what a comparison must have seen, lest overlay and rovl fail
/// alike.
pub(crate) fn has_lines(lines: &[String], need: &[&str], part: bool) -> TResult {
    let found = |n: &str| {
        lines
            .iter()
            .any(|l| if part { l.contains(n) } else { l == n })
    };
    match need.iter().find(|n| !found(n)) {
        Some(n) => Err(Fail::Fail(format!("missing {n}: {lines:#?}"))),
        None => Ok(()),
    }
}

fn digest(d: &[u8]) -> String {
    // FNV-1a: enough to tell contents apart in a message.
    let h = d.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("{}b/{h:016x}", d.len())
}

fn contents(p: &Path) -> String {
    match std::fs::read(p) {
        Ok(d) => digest(&d),
        Err(e) => format!("errno {}", sys::errno_of(&e)),
    }
}

fn preadv2(fd: i32, len: usize, off: i64, flags: i32) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; len];
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    // SAFETY: One iovec over a live buffer.
    let n = check(unsafe { libc::preadv2(fd, &iov, 1, off, flags) } as i64)?;
    buf.truncate(n as usize);
    Ok(buf)
}

/// `RWF_NOWAIT` reads (io_uring's first try) on xfs, which takes them:
/// rovl passes them to the real file as the base filesystem takes them
/// (overlayfs 6.12 refuses them with `EOPNOTSUPP`). A descriptor opened
/// before a copy-up gives the new data or `EAGAIN` (its switch to the
/// upper file blocks), never the old data, and takes them again after a
/// blocking read switched it.
fn nowait_reads(native: &Path, m: &Path) -> TResult {
    let nw = |fd: i32| preadv2(fd, 64, 0, libc::RWF_NOWAIT);
    let n = sys::open(native, libc::O_RDONLY).map_err(|e| format!("open native: errno {e}"))?;
    let _ = preadv2(n, 64, 0, 0);
    let want = nw(n);
    sys::close(n);
    if want.as_deref() != Ok(&b"old data"[..]) {
        return Err(Fail::Fail(format!("native RWF_NOWAIT read: {want:?}")));
    }
    let f = m.join("nowait");
    let a = sys::open(&f, libc::O_RDONLY).map_err(|e| format!("open: errno {e}"))?;
    let _ = preadv2(a, 64, 0, 0);
    let mut got = vec![format!("{:?}", nw(a))];
    let b = sys::open(&f, libc::O_WRONLY).map_err(|e| format!("open for write: errno {e}"))?;
    got.push(format!("{:?}", pwritev2(b, b"new", 0, 0)));
    sys::close(b);
    let after = nw(a);
    let after_ok = matches!(&after, Ok(d) if d == b"new data") || after == Err(libc::EAGAIN);
    got.push(format!("{:?}", preadv2(a, 64, 0, 0)));
    got.push(format!("{:?}", nw(a)));
    sys::close(a);
    let data = |s: &[u8]| format!("{:?}", Ok::<Vec<u8>, Errno>(s.to_vec()));
    let expect = [
        data(b"old data"),
        "Ok(3)".into(),
        data(b"new data"),
        data(b"new data"),
    ];
    if !after_ok || got != expect {
        return Err(Fail::Fail(format!(
            "rovl RWF_NOWAIT reads: {got:?} (after the copy-up {after:?}), expected {expect:?}"
        )));
    }
    Ok(())
}

/// An `RWF_NOWAIT` write as uid 1000 to a set-uid file, which dropping the
/// bit would block, then a blocking one, on native xfs and through rovl
/// (overlayfs 6.12 refuses `RWF_NOWAIT`): each write's errno (0 when it
/// wrote) and the mode after it.
fn nowait_write_setid(native: &Path, m: &Path) -> TResult {
    let run = |f: &Path| -> Result<Vec<String>, Fail> {
        let mut got = Vec::new();
        for flags in [libc::RWF_NOWAIT, 0] {
            let code = sys::as_user(1000, 1000, || {
                let fd = match sys::open(f, libc::O_WRONLY) {
                    Ok(fd) => fd,
                    Err(_) => return 255,
                };
                match pwritev2(fd, b"w", 0, flags) {
                    Ok(1) => 0,
                    Ok(_) => 254,
                    Err(e) => e,
                }
            });
            let mode = std::fs::metadata(f)
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
                .map_err(|e| e.to_string())?;
            got.push(format!("flags {flags}: {code}, mode {mode:o}"));
        }
        Ok(got)
    };
    let want = run(native)?;
    let got = run(&m.join("suid"))?;
    if got != want {
        return Err(Fail::Fail(format!(
            "RWF_NOWAIT write to a set-uid file: rovl {got:?}, native xfs {want:?}"
        )));
    }
    Ok(())
}

/// `RWF_NOWAIT` writes through rovl while a long write to the same file
/// holds the rovl inode's lock: they give `EAGAIN` (the lock is busy) or
/// write, and both writes land. A nonblocking write that finds the lock
/// taken must leave it alone (the kernel log check sees a lock released
/// twice).
fn nowait_write_contended(m: &Path) -> TResult {
    const LONG: usize = 32 << 20;
    let f = m.join("contended");
    let w = sys::open(&f, libc::O_WRONLY).map_err(|e| format!("open: errno {e}"))?;
    let done = std::sync::atomic::AtomicBool::new(false);
    let (long, tries) = std::thread::scope(|s| {
        let long = s.spawn(|| {
            let data = vec![b'L'; LONG];
            let r = pwrite(w, &data, 0);
            done.store(true, std::sync::atomic::Ordering::Release);
            r
        });
        let mut tries = Vec::new();
        while !done.load(std::sync::atomic::Ordering::Acquire) {
            tries.push(pwritev2(w, b"N", (LONG + PAGE) as i64, libc::RWF_NOWAIT));
        }
        (long.join().unwrap(), tries)
    });
    sys::close(w);
    if long != Ok(LONG) {
        return Err(Fail::Fail(format!("long write: {long:?}")));
    }
    if let Some(bad) = tries
        .iter()
        .find(|r| !matches!(r, Ok(1) | Err(libc::EAGAIN)))
    {
        return Err(Fail::Fail(format!("RWF_NOWAIT write beside it: {bad:?}")));
    }
    if !tries.contains(&Err(libc::EAGAIN)) {
        return Err(Fail::Fail(format!(
            "no RWF_NOWAIT write of {} found the inode busy",
            tries.len()
        )));
    }
    let data = std::fs::read(&f).map_err(|e| e.to_string())?;
    let wrote = tries.contains(&Ok(1));
    let want_len = if wrote {
        LONG + PAGE + 1
    } else {
        LONG.max(data.len())
    };
    if data.len() != want_len
        || data[..LONG].iter().any(|&b| b != b'L')
        || (wrote && data[LONG + PAGE] != b'N')
    {
        return Err(Fail::Fail(format!(
            "file after both: {} bytes, want {want_len}",
            data.len()
        )));
    }
    Ok(())
}

fn pwritev2(fd: i32, data: &[u8], off: i64, flags: i32) -> Result<usize, Errno> {
    let iov = libc::iovec {
        iov_base: data.as_ptr() as *mut _,
        iov_len: data.len(),
    };
    // SAFETY: One iovec over a live buffer.
    check(unsafe { libc::pwritev2(fd, &iov, 1, off, flags) } as i64).map(|n| n as usize)
}

fn setfl(fd: i32, flags: i32) -> Result<(), Errno> {
    // SAFETY: Plain fcntl on a descriptor we own.
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) } as i64).map(|_| ())
}

/// splice, sendfile, copy_file_range, tee-free pipes, `O_APPEND` set at open
/// and by `fcntl`, `RWF_*` flags and `O_DIRECT`, through overlay and rovl.
fn splice_copy_run(m: &Path, scratch: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let (src, dst, app) = (m.join("src"), m.join("dst"), m.join("app"));
    // Read from a lower file into a pipe, a scratch file and another
    // overlay file (new, so created on the upper layer).
    let fd = sys::open(&src, libc::O_RDONLY).unwrap_or(-1);
    out.push(format!("splice out {}", show(splice_out(fd, 100, 3000))));
    out.push(format!(
        "sendfile out {}",
        show(sendfile_out(fd, 5000, 7000, scratch))
    ));
    let d = sys::open(&dst, libc::O_RDWR | libc::O_CREAT).unwrap_or(-1);
    out.push(format!(
        "copy_file_range in-mount {:?}",
        copy_range(fd, 0, d, 10, 9000)
    ));
    // Into the overlay file from a pipe, and from a file elsewhere.
    out.push(format!("splice in {:?}", splice_in(d, &[b'P'; 777], 4000)));
    let sc = sys::open(scratch, libc::O_RDONLY).unwrap_or(-1);
    out.push(format!(
        "copy_file_range cross-fs in {:?}",
        copy_range(sc, 0, d, 12000, 5000)
    ));
    let mut o = 0i64;
    // SAFETY: Descriptors we own.
    let n = unsafe { libc::sendfile(d, sc, &mut o, 1000) };
    out.push(format!("sendfile in {n}"));
    sys::close(sc);
    // Out of the overlay file to a file elsewhere.
    let sc = sys::open(scratch, libc::O_RDWR | libc::O_TRUNC).unwrap_or(-1);
    out.push(format!(
        "copy_file_range cross-fs out {:?}",
        copy_range(d, 0, sc, 0, 20000)
    ));
    sys::close(sc);
    out.push(format!("scratch {}", contents(scratch)));
    sys::close(d);
    sys::close(fd);
    out.push(format!("dst {}", contents(&dst)));
    // Append: at open, then toggled with F_SETFL, then per write.
    let a = sys::open(&app, libc::O_WRONLY | libc::O_APPEND).unwrap_or(-1);
    out.push(format!("append pwrite {:?}", pwrite(a, b"one", 0)));
    out.push(format!("clear append {:?}", setfl(a, 0)));
    out.push(format!("pwrite at 0 {:?}", pwrite(a, b"two", 0)));
    out.push(format!("set append {:?}", setfl(a, libc::O_APPEND)));
    out.push(format!("write {:?}", write(a, b"three")));
    out.push(format!("clear append {:?}", setfl(a, 0)));
    out.push(format!(
        "RWF_APPEND {:?}",
        pwritev2(a, b"four", 0, libc::RWF_APPEND)
    ));
    out.push(format!(
        "RWF_DSYNC {:?}",
        pwritev2(a, b"five", 1, libc::RWF_DSYNC)
    ));
    out.push(format!(
        "RWF_SYNC {:?}",
        pwritev2(a, b"six", 2, libc::RWF_SYNC)
    ));
    out.push(format!(
        "RWF_NOWAIT {:?}",
        pwritev2(a, b"seven", 3, libc::RWF_NOWAIT)
    ));
    out.push(format!("RWF bad {:?}", pwritev2(a, b"x", 0, 0x4000_0000)));
    out.push(format!("set O_DIRECT {:?}", setfl(a, libc::O_DIRECT)));
    sys::close(a);
    out.push(format!(
        "app {:?}",
        std::fs::read(&app).map(|d| String::from_utf8_lossy(&d).into_owned())
    ));
    out.push(format!(
        "open O_DIRECT {:?}",
        sys::open(&src, libc::O_RDONLY | libc::O_DIRECT).map(sys::close)
    ));
    out
}

pub fn file_splice_copy(t: &mut T) -> TResult {
    let base = t.dir.join("splice");
    let l0 = base.join("l0");
    let mut rng = Rng::new(6);
    let data: Vec<u8> = (0..20000).map(|_| (rng.next() % 251) as u8).collect();
    layers::file(&l0.join("src"), &data)?;
    layers::file(&l0.join("app"), b"start:")?;
    let (o, r) = writable_pair(t, &base, &[l0])?;
    let a = splice_copy_run(&o.mnt, &base.join("scratch-o"));
    let b = splice_copy_run(&r.mnt, &base.join("scratch-r"));
    if a != b {
        return Err(Fail::Fail(format!("overlay {a:#?}\nrovl {b:#?}")));
    }
    // The calls must have done something.
    if !b.iter().any(|l| l == "copy_file_range in-mount Ok(9000)")
        || !b.iter().any(|l| l == "app Ok(\"tfsix:onethreefour\")")
    {
        return Err(Fail::Fail(format!("unexpected results {b:#?}")));
    }
    Ok(())
}

/// `FS_IOC_*FLAGS`, `FS_IOC_FS*XATTR`, `FS_IOC_FIEMAP` and an unknown ioctl
/// on lower and upper files and directories; what the upper layer keeps.
fn ioctl_run(m: &Path, upper: &Path) -> Vec<String> {
    const GETFLAGS: u64 = 0x8008_6601;
    const SETFLAGS: u64 = 0x4008_6602;
    const FSGETXATTR: u64 = 0x801c_581f;
    const FSSETXATTR: u64 = 0x401c_5820;
    const FIEMAP: u64 = 0xc020_660b;
    let mut out = Vec::new();
    let getflags = |fd: i32| -> Result<i64, Errno> {
        let mut v: libc::c_long = 0;
        // SAFETY: `v` is a long the kernel writes.
        check(unsafe { libc::ioctl(fd, GETFLAGS as _, &mut v) } as i64)
            .map(|_| v as i64 & 0xff_ffff)
    };
    let setflags = |fd: i32, v: libc::c_long| -> Result<(), Errno> {
        // SAFETY: `v` is a long the kernel reads.
        check(unsafe { libc::ioctl(fd, SETFLAGS as _, &v) } as i64).map(|_| ())
    };
    let fsx = |fd: i32, set: Option<u32>| -> Result<(u32, u32), Errno> {
        let mut v = [0u32; 7];
        // SAFETY: `v` is a struct fsxattr (28 bytes).
        check(unsafe { libc::ioctl(fd, FSGETXATTR as _, v.as_mut_ptr()) } as i64)?;
        if let Some(x) = set {
            v[0] = x;
            // SAFETY: As above.
            check(unsafe { libc::ioctl(fd, FSSETXATTR as _, v.as_ptr()) } as i64)?;
        }
        Ok((v[0], v[1]))
    };
    for name in ["f", "d", "g"] {
        let p = m.join(name);
        let flags = if name == "d" {
            libc::O_RDONLY | libc::O_DIRECTORY
        } else {
            libc::O_RDONLY
        };
        let fd = match sys::open(&p, flags) {
            Ok(fd) => fd,
            Err(e) => {
                out.push(format!("{name}: open errno {e}"));
                continue;
            }
        };
        out.push(format!("{name}: flags {:?}", getflags(fd)));
        out.push(format!("{name}: fsx {:?}", fsx(fd, None)));
        // noatime (0x80), then append-only (0x20) too.
        out.push(format!("{name}: +A {:?}", setflags(fd, 0x80)));
        out.push(format!("{name}: +a {:?}", setflags(fd, 0xa0)));
        out.push(format!("{name}: flags {:?}", getflags(fd)));
        out.push(format!("{name}: fsx {:?}", fsx(fd, None)));
        if name != "d" {
            out.push(format!(
                "{name}: open for write {:?}",
                sys::open(&p, libc::O_WRONLY).map(sys::close)
            ));
            out.push(format!(
                "{name}: open for append {:?}",
                sys::open(&p, libc::O_WRONLY | libc::O_APPEND).map(sys::close)
            ));
        }
        out.push(format!("{name}: unlink-able {:?}", {
            let c = cstr(&m.join(name).with_extension("lnk"));
            let s = cstr(&p);
            // SAFETY: Valid paths.
            check(unsafe { libc::link(s.as_ptr(), c.as_ptr()) } as i64).map(|_| ())
        }));
        let up = upper.join(name);
        out.push(format!(
            "{name}: upper protattr {:?}",
            sys::getxattr(&up, "trusted.overlay.protattr")
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        ));
        if let Ok(ufd) = sys::open(&up, libc::O_RDONLY) {
            out.push(format!("{name}: upper flags {:?}", getflags(ufd)));
            sys::close(ufd);
        }
        // Immutable through the xattr form, then everything off.
        out.push(format!("{name}: fsx +i {:?}", fsx(fd, Some(0x8))));
        out.push(format!("{name}: flags {:?}", getflags(fd)));
        out.push(format!("{name}: chmod when immutable {:?}", {
            let c = cstr(&p);
            // SAFETY: A valid path.
            check(unsafe { libc::chmod(c.as_ptr(), 0o600) } as i64).map(|_| ())
        }));
        out.push(format!("{name}: clear {:?}", setflags(fd, 0)));
        out.push(format!("{name}: flags {:?}", getflags(fd)));
        out.push(format!(
            "{name}: upper protattr {:?}",
            sys::getxattr(&up, "trusted.overlay.protattr").map(|v| v.len())
        ));
        // No other ioctl is passed through: the VFS's answer.
        let mut buf = [0u8; 64];
        // SAFETY: `buf` is big enough for a fiemap header.
        let r = check(unsafe { libc::ioctl(fd, FIEMAP as _, buf.as_mut_ptr()) } as i64);
        out.push(format!("{name}: fiemap {r:?}"));
        // SAFETY: An unknown request with no argument.
        let r = check(unsafe { libc::ioctl(fd, 0x5899 as _, 0) } as i64);
        out.push(format!("{name}: unknown ioctl {r:?}"));
        sys::close(fd);
    }
    out
}

pub fn file_ioctls(t: &mut T) -> TResult {
    let base = t.dir.join("ioctl");
    let l0 = base.join("l0");
    layers::file(&l0.join("f"), b"lower file")?;
    layers::dir(&l0.join("d"))?;
    let (o, r) = writable_pair(t, &base, &[l0])?;
    // One that starts on the upper layer.
    std::fs::write(o.mnt.join("g"), b"upper").map_err(|e| e.to_string())?;
    std::fs::write(r.mnt.join("g"), b"upper").map_err(|e| e.to_string())?;
    let a = ioctl_run(&o.mnt, &o.upper);
    let b = ioctl_run(&r.mnt, &r.upper);
    same_lines(&a, &b)?;
    // The flags must really have been set: append-only refused a write.
    if !b.iter().any(|l| l == "f: open for write Err(1)")
        || !b.iter().any(|l| l == "f: upper protattr Ok(\"a\")")
    {
        return Err(Fail::Fail(format!("flags had no effect: {b:#?}")));
    }
    Ok(())
}

const FICLONE: u64 = 0x4004_9409;
const FICLONERANGE: u64 = 0x4020_940d;
const FIDEDUPERANGE: u64 = 0xc018_9436;
const FS_IOC_FIEMAP: u64 = 0xc020_660b;

/// Extent count and the union of extent flags of `fd` (`FS_IOC_FIEMAP`).
fn fiemap(fd: i32) -> Result<(u32, u32), Errno> {
    let mut buf = vec![0u64; (32 + 56 * 64) / 8];
    buf[1] = u64::MAX; // fm_length
                       // fm_flags 0, fm_extent_count 64.
    buf[3] = 64;
    // SAFETY: `buf` holds a fiemap header and 64 extents.
    check(unsafe { libc::ioctl(fd, FS_IOC_FIEMAP as _, buf.as_mut_ptr()) } as i64)?;
    let mapped = (buf[2] >> 32) as u32;
    let mut flags = 0;
    for i in 0..mapped as usize {
        // fe_flags: word 5 of each 7-word extent, low half.
        flags |= buf[4 + i * 7 + 5] as u32;
    }
    Ok((mapped, flags))
}

fn ioctl_ptr<V>(fd: i32, req: u64, v: &mut V) -> Result<(), Errno> {
    // SAFETY: `v` is the structure `req` expects.
    check(unsafe { libc::ioctl(fd, req as _, v as *mut V) } as i64).map(|_| ())
}

/// The fio jobs of `xfs_data_path`: engine, O_DIRECT, pattern.
const FIO_JOBS: &[(&str, bool, &str)] = &[
    ("libaio", true, "randwrite"),
    ("io_uring", true, "randwrite"),
    ("io_uring", false, "write"),
    ("psync", true, "write"),
    ("pvsync2", false, "randwrite"),
];

/// fio with `engine` writing then verifying a file that starts on the lower
/// layer: its exit status and error lines.
fn fio(file: &Path, engine: &str, direct: bool, rw: &str) -> String {
    let r = std::process::Command::new("fio")
        .args([
            "--name=rovl",
            // Threads: the test kernel has no SysV shared memory.
            "--thread",
            &format!("--filename={}", file.display()),
            "--size=2M",
            "--bs=4k",
            &format!("--rw={rw}"),
            &format!("--ioengine={engine}"),
            &format!("--direct={}", u8::from(direct)),
            "--iodepth=8",
            "--verify=crc32c",
            "--do_verify=1",
            "--verify_fatal=1",
            "--randrepeat=1",
            "--minimal",
            "--verify_state_save=0",
        ])
        .output();
    match r {
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            let bad: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
            format!("status {:?} {}", o.status.code(), bad.join(" | "))
        }
        Err(e) => format!("fio: {e}"),
    }
}

/// O_DIRECT reads of `len` bytes at `off` with an aligned buffer.
fn direct_read(p: &Path, off: i64, len: usize) -> Result<Vec<u8>, Errno> {
    let fd = sys::open(p, libc::O_RDONLY | libc::O_DIRECT)?;
    let mut raw = vec![0u8; len + PAGE];
    let shift = raw.as_ptr().align_offset(PAGE);
    let buf = &mut raw[shift..shift + len];
    // SAFETY: `buf` is writable, aligned, for `len` bytes.
    let n = check(unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), len, off) } as i64);
    sys::close(fd);
    n.map(|n| buf[..n as usize].to_vec())
}

/// An impure directory (a copied-up file renamed into it) listed from the
/// real one, whose copied-up entry is replaced by a new file while it is
/// open: listed again from just before it (xfs puts the new name where
/// the old one was), the new file shows its own number, not its
/// predecessor's origin's.
fn impure_replaced(m: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let imp = m.join("imp");
    let st_ino = |p: &Path| std::fs::symlink_metadata(p).map(|s| s.ino()).unwrap_or(0);
    let setup = P::mkdir(&imp, 0o755)
        .and_then(|_| {
            (0..4).try_for_each(|i| {
                P::write_at(&imp.join(format!("a{i}")), libc::O_CREAT, 0, b"a").map(|_| ())
            })
        })
        .and_then(|_| P::rename(&m.join("imp-src"), &imp.join("g"), 0));
    if let Err(e) = setup {
        return format!("setup errno {e}");
    }
    let fd = match sys::open(&imp, libc::O_RDONLY | libc::O_DIRECTORY) {
        Ok(fd) => fd,
        Err(e) => return format!("open errno {e}"),
    };
    let report = (|| -> Result<String, Errno> {
        let first = sys::getdents(fd, 4096)?;
        let i = first
            .iter()
            .position(|e| e.name == b"g")
            .ok_or(libc::ENOENT)?;
        let origin = first[i].ino == st_ino(&imp.join("g"));
        // Positions after `.` and `..` only: a rewind would list afresh.
        let before = first[i.checked_sub(1).ok_or(libc::EINVAL)?].off;
        P::unlink(&imp.join("g"))?;
        P::write_at(&imp.join("g"), libc::O_CREAT, 0, b"new")?;
        sys::lseek(fd, before, libc::SEEK_SET)?;
        let again = sys::getdents(fd, 4096)?;
        let new = again.iter().find(|e| e.name == b"g");
        Ok(format!(
            "copied-up entry d_ino is st_ino {origin}, replaced listed {} d_ino is st_ino {}",
            new.is_some(),
            new.is_some_and(|e| e.ino == st_ino(&imp.join("g")))
        ))
    })();
    sys::close(fd);
    report.unwrap_or_else(|e| format!("errno {e}"))
}

fn xfs_run(m: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for &(engine, direct, rw) in FIO_JOBS {
        let f = m.join(format!("fio-{engine}-{direct}-{rw}"));
        out.push(format!(
            "fio {engine} direct={direct} {rw}: {}",
            fio(&f, engine, direct, rw)
        ));
    }
    // O_DIRECT reads of a file that stays on the lower layer.
    out.push(format!(
        "direct read lower {}",
        direct_read(&m.join("big"), 4096, 65536)
            .map(|d| digest(&d))
            .unwrap_or_else(|e| format!("errno {e}"))
    ));
    // A directory of one layer seeks as the real one, whose `llseek`
    // (xfs's) takes SEEK_END and SEEK_DATA.
    let fd = sys::open(&m.join("d/sub"), libc::O_RDONLY | libc::O_DIRECTORY).unwrap_or(-1);
    for (what, whence) in [("SEEK_END", libc::SEEK_END), ("SEEK_DATA", libc::SEEK_DATA)] {
        out.push(format!("dir {what} {:?}", sys::lseek(fd, 0, whence)));
    }
    let again = sys::lseek(fd, 0, libc::SEEK_SET).and_then(|_| sys::getdents(fd, 4096));
    out.push(format!(
        "dir names after a rewind {:?}",
        again.map(|v| v.len())
    ));
    sys::close(fd);
    out.push(format!("impure dir {}", impure_replaced(m)));
    // Clones and dedupe on one xfs: lower and upper share extents.
    let src = sys::open(&m.join("big"), libc::O_RDONLY).unwrap_or(-1);
    let dst = sys::open(&m.join("clone"), libc::O_RDWR | libc::O_CREAT).unwrap_or(-1);
    // SAFETY: FICLONE takes the source descriptor as its argument.
    let r = check(unsafe { libc::ioctl(dst, FICLONE as _, src as libc::c_long) } as i64);
    out.push(format!("FICLONE lower->new {r:?}"));
    out.push(format!("clone fiemap {:?}", fiemap(dst)));
    out.push(format!("clone data {}", contents(&m.join("clone"))));
    // FICLONERANGE: 64 KiB from offset 1 MiB to offset 0 of a second file.
    let dst2 = sys::open(&m.join("clone2"), libc::O_RDWR | libc::O_CREAT).unwrap_or(-1);
    let mut range = [src as i64, 1 << 20, 65536, 0];
    out.push(format!(
        "FICLONERANGE {:?}",
        ioctl_ptr(dst2, FICLONERANGE, &mut range)
    ));
    out.push(format!("clone2 data {}", contents(&m.join("clone2"))));
    // Dedupe needs both files on the upper layer (overlayfs refuses a copy-up
    // for it): lower source first, then a copied-up one.
    let dedupe = |from: i32, to: i32| -> String {
        let mut v = [0u64; 3 + 4];
        v[0] = 0; // src_offset
        v[1] = 65536; // src_length
        v[2] = 1; // dest_count
        v[3] = to as u64; // dest_fd
        v[4] = 0; // dest_offset
        let r = ioctl_ptr(from, FIDEDUPERANGE, &mut v);
        format!("{r:?} deduped {} status {}", v[5], v[6] as i32)
    };
    out.push(format!("FIDEDUPERANGE lower src {}", dedupe(src, dst)));
    let up = sys::open(&m.join("big"), libc::O_RDWR).unwrap_or(-1);
    out.push(format!("FIDEDUPERANGE upper src {}", dedupe(up, dst)));
    out.push(format!("FIDEDUPERANGE differing {}", dedupe(up, dst2)));
    // copy_file_range between overlay files shares extents on xfs too.
    let dst3 = sys::open(&m.join("copy"), libc::O_RDWR | libc::O_CREAT).unwrap_or(-1);
    out.push(format!(
        "copy_file_range {:?}",
        copy_range(src, 0, dst3, 0, 1 << 20)
    ));
    out.push(format!("copy fiemap {:?}", fiemap(dst3)));
    out.push(format!("copy data {}", contents(&m.join("copy"))));
    out.push(format!("lower fiemap {:?}", fiemap(src).map(|(n, _)| n)));
    // Every fallocate mode xfs has, on a copied-up file.
    for (i, mode) in [
        0,
        libc::FALLOC_FL_KEEP_SIZE,
        libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
        libc::FALLOC_FL_ZERO_RANGE,
        libc::FALLOC_FL_COLLAPSE_RANGE,
        libc::FALLOC_FL_INSERT_RANGE,
        libc::FALLOC_FL_UNSHARE_RANGE,
    ]
    .into_iter()
    .enumerate()
    {
        let r = sys::fallocate(up, mode, 65536 * (i as i64 + 1), 65536);
        out.push(format!(
            "fallocate {mode:#x} {r:?} {}",
            contents(&m.join("big"))
        ));
    }
    for fd in [src, dst, dst2, dst3, up] {
        sys::close(fd);
    }
    out
}

/// The data path on xfs with reflink: AIO, io_uring, O_DIRECT, clones,
/// dedupe, copy_file_range and fiemap, compared with overlay.
pub fn xfs_data_path(t: &mut T) -> TResult {
    let dev = Path::new("/dev/vda");
    if !dev.exists() {
        return Err(Fail::Skip("no scratch disk /dev/vda in this guest".into()));
    }
    let mnt = t.dir.join("xfs");
    layers::dir(&mnt)?;
    let st = std::process::Command::new("mkfs.xfs")
        .args(["-q", "-f", "-m", "reflink=1", "/dev/vda"])
        .status()
        .map_err(|e| format!("mkfs.xfs: {e}"))?;
    if !st.success() {
        return Err(Fail::Fail(format!("mkfs.xfs: {st}")));
    }
    let st = std::process::Command::new("mount")
        .arg("/dev/vda")
        .arg(&mnt)
        .status()
        .map_err(|e| format!("mount: {e}"))?;
    if !st.success() {
        return Err(Fail::Fail(format!("mount xfs: {st}")));
    }
    // Unmounted after the overlay mounts above it.
    t.adopt(&mnt);
    let l0 = mnt.join("l0");
    let mut rng = Rng::new(7);
    let big: Vec<u8> = (0..(2 << 20)).map(|_| (rng.next() % 256) as u8).collect();
    layers::file(&l0.join("big"), &big)?;
    for &(engine, direct, rw) in FIO_JOBS {
        layers::file(&l0.join(format!("fio-{engine}-{direct}-{rw}")), &big)?;
    }
    layers::file(&l0.join("nowait"), b"old data")?;
    layers::file(&mnt.join("native-nowait"), b"old data")?;
    mapped_file(&l0)?;
    layers::file(&l0.join("contended"), b"old")?;
    layers::file(&l0.join("imp-src"), b"copied up, then moved")?;
    for n in ["a", "b", "c"] {
        layers::file(&l0.join("d/sub").join(n), n.as_bytes())?;
    }
    for f in [l0.join("suid"), mnt.join("native-suid")] {
        layers::file(&f, b"set-uid")?;
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o4777))
            .map_err(|e| e.to_string())?;
    }
    let (o, r) = writable_pair(t, &mnt, &[l0])?;
    let a = xfs_run(&o.mnt);
    let b = xfs_run(&r.mnt);
    same_lines(&a, &b)?;
    nowait_reads(&mnt.join("native-nowait"), &r.mnt)?;
    mmap_sees_writes(&r.mnt, true)?;
    nowait_write_setid(&mnt.join("native-suid"), &r.mnt)?;
    nowait_write_contended(&r.mnt)?;
    let ok = |p: &str| b.iter().any(|l| l.starts_with(p));
    let fio_ok = b
        .iter()
        .filter(|l| l.starts_with("fio"))
        .all(|l| l.ends_with("status Some(0) "));
    if !fio_ok
        || !ok("FICLONE lower->new Ok(0)")
        || !ok("clone fiemap Ok((")
        || !ok(&format!(
            "direct read lower {}",
            digest(&big[4096..4096 + 65536])
        ))
        || !ok("FIDEDUPERANGE upper src Ok(()) deduped 65536 status 0")
        || !ok("fallocate 0x8 Ok(())")
        || !ok("fallocate 0x20 Ok(())")
        || !ok("dir SEEK_END Ok(")
        || !ok("dir names after a rewind Ok(5)")
        || !ok("impure dir copied-up entry d_ino is st_ino true, replaced listed true d_ino is st_ino true")
    {
        return Err(Fail::Fail(format!("unexpected results {b:#?}")));
    }
    Ok(())
}

fn flock(fd: i32, op: i32) -> Result<(), Errno> {
    // SAFETY: Plain syscall on a descriptor we own.
    check(unsafe { libc::flock(fd, op) } as i64).map(|_| ())
}

fn lock(fd: i32, cmd: i32, ty: i32, start: i64, len: i64) -> Result<i32, Errno> {
    // SAFETY: `fl` is a struct flock the kernel reads and writes.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = ty as i16;
    fl.l_whence = libc::SEEK_SET as i16;
    fl.l_start = start;
    fl.l_len = len;
    // SAFETY: As above.
    check(unsafe { libc::fcntl(fd, cmd, &mut fl) } as i64).map(|_| i32::from(fl.l_type))
}

/// inotify events since the last call: (watch, mask, name).
fn events(ino: i32) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        // SAFETY: `buf` is writable; the descriptor is non-blocking.
        let n = unsafe { libc::read(ino, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return out;
        }
        let mut i = 0;
        while i < n as usize {
            let wd = i32::from_ne_bytes(buf[i..i + 4].try_into().unwrap());
            let mask = u32::from_ne_bytes(buf[i + 4..i + 8].try_into().unwrap());
            let len = u32::from_ne_bytes(buf[i + 12..i + 16].try_into().unwrap()) as usize;
            let name = String::from_utf8_lossy(&buf[i + 16..i + 16 + len]);
            out.push(format!("{wd}:{mask:#x}:{}", name.trim_end_matches('\0')));
            i += 16 + len;
        }
    }
}

fn atime(p: &Path) -> i64 {
    std::fs::metadata(p)
        .map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.atime()
        })
        .unwrap_or(-1)
}

fn set_old_times(p: &Path) {
    let c = cstr(p);
    let ts = [libc::timespec {
        tv_sec: 1000,
        tv_nsec: 0,
    }; 2];
    // SAFETY: A valid path and two timespecs.
    unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), ts.as_ptr(), 0) };
}

fn locks_run(m: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let f = m.join("f");
    let (a, b) = (
        sys::open(&f, libc::O_RDONLY).unwrap_or(-1),
        sys::open(&f, libc::O_RDWR).unwrap_or(-1),
    );
    out.push(format!(
        "flock ex a {:?}",
        flock(a, libc::LOCK_EX | libc::LOCK_NB)
    ));
    out.push(format!(
        "flock sh b {:?}",
        flock(b, libc::LOCK_SH | libc::LOCK_NB)
    ));
    out.push(format!("flock un a {:?}", flock(a, libc::LOCK_UN)));
    out.push(format!(
        "flock sh b {:?}",
        flock(b, libc::LOCK_SH | libc::LOCK_NB)
    ));
    out.push(format!(
        "ofd wr b {:?}",
        lock(b, libc::F_OFD_SETLK, libc::F_WRLCK, 0, 100)
    ));
    out.push(format!(
        "ofd rd a {:?}",
        lock(a, libc::F_OFD_SETLK, libc::F_RDLCK, 50, 10)
    ));
    out.push(format!(
        "ofd get a {:?}",
        lock(a, libc::F_OFD_GETLK, libc::F_RDLCK, 50, 10)
    ));
    out.push(format!(
        "posix wr a (read-only) {:?}",
        lock(a, libc::F_SETLK, libc::F_WRLCK, 200, 10)
    ));
    out.push(format!(
        "posix wr b {:?}",
        lock(b, libc::F_SETLK, libc::F_WRLCK, 200, 10)
    ));
    // Another process sees the POSIX lock.
    let r = sys::in_child(|| {
        let c = sys::open(&f, libc::O_RDWR).unwrap_or(-1);
        match lock(c, libc::F_SETLK, libc::F_WRLCK, 205, 1) {
            Ok(_) => 0,
            Err(e) => e,
        }
    });
    out.push(format!("posix from child {r}"));
    // SAFETY: Plain fcntl on a descriptor we own.
    let lease = check(unsafe { libc::fcntl(a, libc::F_SETLEASE, libc::F_RDLCK) } as i64);
    out.push(format!("lease rd a {lease:?}"));
    sys::close(a);
    sys::close(b);

    // inotify on the merged directory and a lower file.
    let ino = {
        // SAFETY: Plain syscall.
        unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) }
    };
    let watch = |p: &Path| {
        let c = cstr(p);
        // SAFETY: Valid descriptor and path.
        unsafe { libc::inotify_add_watch(ino, c.as_ptr(), libc::IN_ALL_EVENTS) }
    };
    let (wd, wf) = (watch(m), watch(&m.join("n")));
    out.push(format!("watches {wd} {wf}"));
    let n = m.join("n");
    let _ = std::fs::read(&n);
    out.push(format!("read: {:?}", events(ino)));
    let _ = std::fs::OpenOptions::new()
        .append(true)
        .open(&n)
        .map(|mut h| {
            use std::io::Write;
            h.write_all(b"more")
        });
    out.push(format!("append: {:?}", events(ino)));
    layers::chmod(&n, 0o600).ok();
    out.push(format!("chmod: {:?}", events(ino)));
    let _ = std::fs::write(m.join("new"), b"x");
    let _ = std::fs::rename(m.join("new"), m.join("new2"));
    let _ = std::fs::remove_file(m.join("new2"));
    out.push(format!("create/rename/unlink: {:?}", events(ino)));
    sys::close(ino);

    // Access times: a lower file's never change (lower layers are
    // noatime), an upper one's follow relatime.
    let l = m.join("t");
    let before = atime(&l);
    let _ = std::fs::read(&l);
    out.push(format!("lower read: atime changed {}", atime(&l) != before));
    layers::chmod(&l, 0o640).ok();
    set_old_times(&l);
    let before = atime(&l);
    let _ = std::fs::read(&l);
    out.push(format!("upper read: atime changed {}", atime(&l) != before));
    set_old_times(&l);
    if let Ok(fd) = sys::open(&l, libc::O_RDONLY | libc::O_NOATIME) {
        let _ = sys::read(fd, 10);
        sys::close(fd);
    }
    out.push(format!(
        "O_NOATIME read: atime changed {}",
        atime(&l) != 1000
    ));
    set_old_times(&l);
    if let Ok(fd) = sys::open(&l, libc::O_RDONLY) {
        if let Ok(map) = Map::new(fd, PAGE, libc::PROT_READ, libc::MAP_SHARED) {
            let _ = map.bytes(0, 1);
        }
        sys::close(fd);
    }
    out.push(format!("mmap: atime changed {}", atime(&l) != 1000));
    out
}

/// Locks (flock, OFD, POSIX, leases), inotify events on merged paths and
/// access times, compared with overlay.
pub fn locks_notify_atime(t: &mut T) -> TResult {
    let base = t.dir.join("locks");
    let l0 = base.join("l0");
    for n in ["f", "n", "t"] {
        layers::file(&l0.join(n), b"some data")?;
        set_old_times(&l0.join(n));
    }
    let (o, r) = writable_pair(t, &base, &[l0])?;
    let a = locks_run(&o.mnt);
    let b = locks_run(&r.mnt);
    same_lines(&a, &b)?;
    let need = [
        "flock sh b Err(11)",
        "posix from child 11",
        "upper read: atime changed true",
    ];
    has_lines(&b, &need, false)?;
    Ok(())
}

fn drop_caches() {
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "2");
}

fn append(p: &Path, what: &[u8]) -> String {
    use std::io::Write;
    match std::fs::OpenOptions::new().append(true).open(p) {
        Ok(mut h) => format!("{:?}", h.write_all(what).map_err(|e| sys::errno_of(&e))),
        Err(e) => format!("open errno {}", sys::errno_of(&e)),
    }
}

/// Names of one object looked up again after their dentries were evicted
/// (`drop_caches`) while its inode stayed in use: `p`/`q` made on the
/// mount, `u1`/`u2` linked on the upper layer before mounting, `h1`/`h3`
/// a lower hard link broken by a copy-up and linked again.
fn identity_run(m: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let _ = std::fs::write(m.join("p"), b"p");
    out.push(format!(
        "link p q {:?}",
        std::fs::hard_link(m.join("p"), m.join("q")).is_ok()
    ));
    out.push(format!("copy up h1 {}", append(&m.join("h1"), b"+")));
    out.push(format!(
        "link h1 h3 {:?}",
        std::fs::hard_link(m.join("h1"), m.join("h3")).is_ok()
    ));
    let pairs = [("p", "q"), ("u1", "u2"), ("h1", "h3")];

    // A watch holds the inode, not the dentry: writes through another
    // name must reach it.
    // SAFETY: Plain syscall.
    let ino = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    for (a, _) in pairs {
        let c = cstr(&m.join(a));
        // SAFETY: Valid descriptor and path.
        let wd = unsafe { libc::inotify_add_watch(ino, c.as_ptr(), libc::IN_MODIFY) };
        out.push(format!("watch {a} {}", wd > 0));
    }
    drop_caches();
    for (a, b) in pairs {
        let r = append(&m.join(b), b"x");
        let ev = events(ino);
        out.push(format!(
            "append {b} {r}: {} event(s) on {a}'s watch",
            ev.len()
        ));
    }
    sys::close(ino);

    // Locks live in the inode: a lock taken through one name must conflict
    // with one taken through the other.
    for (a, b) in pairs {
        let fa = sys::open(&m.join(a), libc::O_RDWR).unwrap_or(-1);
        out.push(format!(
            "flock ex {a} {:?}",
            flock(fa, libc::LOCK_EX | libc::LOCK_NB)
        ));
        out.push(format!(
            "posix wr {a} {:?}",
            lock(fa, libc::F_SETLK, libc::F_WRLCK, 0, 10)
        ));
        drop_caches();
        let fb = sys::open(&m.join(b), libc::O_RDWR).unwrap_or(-1);
        out.push(format!(
            "flock sh {b} {:?}",
            flock(fb, libc::LOCK_SH | libc::LOCK_NB)
        ));
        let r = sys::in_child(|| match lock(fb, libc::F_SETLK, libc::F_WRLCK, 5, 1) {
            Ok(_) => 0,
            Err(e) => e,
        });
        out.push(format!("posix wr {b} from child {r}"));
        sys::close(fb);
        sys::close(fa);
    }
    for n in ["p", "q", "u1", "u2", "h1", "h2", "h3"] {
        let s = std::fs::symlink_metadata(m.join(n)).map(|s| {
            use std::os::unix::fs::MetadataExt;
            (s.nlink(), s.len())
        });
        out.push(format!("{n} {s:?}"));
    }
    let same_ino = |a: &str, b: &str| {
        use std::os::unix::fs::MetadataExt;
        let i = |n: &str| std::fs::symlink_metadata(m.join(n)).map(|s| s.ino()).ok();
        i(a).is_some() && i(a) == i(b)
    };
    for (a, b) in pairs {
        out.push(format!("{a} {b} same st_ino {}", same_ino(a, b)));
    }
    out
}

/// Every name of an upper object is one inode, found again by lookups
/// while it is in use (`ovl_get_inode` hashes inodes without a lower one
/// by their upper inode, and a copy-up hashes an inode that was not):
/// inotify watches and locks through other names, compared with overlay.
pub fn upper_inode_identity(t: &mut T) -> TResult {
    let base = t.dir.join("identity");
    let l0 = base.join("l0");
    layers::file(&l0.join("h1"), b"h")?;
    std::fs::hard_link(l0.join("h1"), l0.join("h2")).map_err(|e| format!("link: {e}"))?;
    let mut runs = Vec::new();
    for fstype in ["overlay", "rovl"] {
        let upper = base.join(format!("upper-{fstype}"));
        let work = base.join(format!("work-{fstype}"));
        layers::file(&upper.join("u1"), b"u")?;
        std::fs::hard_link(upper.join("u1"), upper.join("u2")).map_err(|e| format!("link: {e}"))?;
        layers::dir(&work)?;
        let opts = crate::upper::opts(&[l0.clone()], &upper, &work);
        let mnt = t
            .mount(fstype, &opts)
            .map_err(|e| format!("mount {fstype}: errno {e}"))?;
        runs.push(identity_run(&mnt));
    }
    same_lines(&runs[0], &runs[1])?;
    let need = [
        "append q Ok(()): 1 event(s) on p's watch",
        "append u2 Ok(()): 1 event(s) on u1's watch",
        "append h3 Ok(()): 1 event(s) on h1's watch",
        "flock sh q Err(11)",
        "flock sh u2 Err(11)",
        "flock sh h3 Err(11)",
        "posix wr q from child 11",
    ];
    has_lines(&runs[1], &need, false)?;
    Ok(())
}

/// A writable shared mapping of a copied-up file: stores reach read() and
/// another descriptor's mapping, msync and munmap write them back.
fn mmap_write_run(m: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let p = m.join("w");
    let fd = match sys::open(&p, libc::O_RDWR) {
        Ok(fd) => fd,
        Err(e) => return vec![format!("open errno {e}")],
    };
    let ro = sys::open(&p, libc::O_RDONLY).unwrap_or(-1);
    if let (Ok(map), Ok(view)) = (
        Map::new(
            fd,
            2 * PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
        ),
        Map::new(ro, 2 * PAGE, libc::PROT_READ, libc::MAP_SHARED),
    ) {
        map.write(10, b"MAPPED");
        out.push(format!("read sees {}", show(sys::pread(ro, 6, 10))));
        out.push(format!(
            "other mapping sees {}",
            String::from_utf8_lossy(&view.bytes(10, 6))
        ));
        // SAFETY: Our mapping.
        let r = unsafe { libc::msync(map.p.cast(), map.len, libc::MS_SYNC) };
        out.push(format!("msync {r}"));
        pwrite(fd, b"WRITTEN", PAGE as i64 + 5).ok();
        out.push(format!(
            "mapping sees write {}",
            String::from_utf8_lossy(&map.bytes(PAGE + 5, 7))
        ));
    } else {
        out.push("mmap failed".into());
    }
    sys::close(ro);
    sys::close(fd);
    out.push(format!("file {}", contents(&p)));
    out
}

pub fn mmap_shared_write(t: &mut T) -> TResult {
    let base = t.dir.join("mmapw");
    let l0 = base.join("l0");
    layers::file(&l0.join("w"), &vec![b'.'; 2 * PAGE])?;
    let (o, r) = writable_pair(t, &base, &[l0])?;
    let a = mmap_write_run(&o.mnt);
    let b = mmap_write_run(&r.mnt);
    if a != b {
        return Err(Fail::Fail(format!("overlay {a:?}\nrovl {b:?}")));
    }
    if !b.iter().any(|l| l == "read sees 6:MAPP")
        || !b.iter().any(|l| l == "mapping sees write WRITTEN")
    {
        return Err(Fail::Fail(format!("stores not seen: {b:?}")));
    }
    Ok(())
}

/// A 4 MiB lower file whose every 8-byte word holds its own offset, read
/// through a shared mapping on rovl, whose own pages are filled by
/// readahead from the lower file's: a page copied from the wrong offset
/// shows. Then writes after a copy-up show in the mapping, and stores
/// through a writable mapping of the same pages reach the upper file.
pub fn mmap_own_pages_offsets(t: &mut T) -> TResult {
    const LEN: usize = 4 << 20;
    let word = |off: usize| (off as u64 ^ 0x5a5a_0000_0000_0000).to_le_bytes();
    let mut want: Vec<u8> = (0..LEN / 8).flat_map(|i| word(i * 8)).collect();
    let base = t.dir.join("mmaplf");
    let l0 = base.join("l0");
    layers::file(&l0.join("big"), &want)?;
    let (_, r) = writable_pair(t, &base, &[l0])?;
    let f = r.mnt.join("big");
    let ro = sys::open(&f, libc::O_RDONLY).map_err(|e| format!("open: errno {e}"))?;
    let map = Map::new(ro, LEN, libc::PROT_READ, libc::MAP_SHARED)
        .map_err(|e| format!("mmap: errno {e}"))?;
    let first_bad = |got: &[u8], want: &[u8]| {
        got.chunks(8)
            .zip(want.chunks(8))
            .position(|(a, b)| a != b)
            .map(|i| i * 8)
    };
    if let Some(off) = first_bad(&map.bytes(0, LEN), &want) {
        return Err(Fail::Fail(format!(
            "mapping differs from the file at {off:#x}"
        )));
    }
    // A copy-up and writes at page, folio and file ends, through another
    // descriptor.
    let w = sys::open(&f, libc::O_WRONLY).map_err(|e| format!("open for write: errno {e}"))?;
    for (off, data) in [
        (4090, &b"ACROSS-PAGES"[..]),
        (LEN / 2 - 3, b"MID"),
        (LEN - 8, b"LASTWORD"),
    ] {
        pwrite(w, data, off as i64).map_err(|e| format!("pwrite: errno {e}"))?;
        want[off..off + data.len()].copy_from_slice(data);
    }
    sys::close(w);
    if let Some(off) = first_bad(&map.bytes(0, LEN), &want) {
        return Err(Fail::Fail(format!(
            "after writes, mapping differs at {off:#x}"
        )));
    }
    // The read-only mapping keeps the file on own pages: a writable one
    // shares them, and its stores reach the upper file by msync.
    let rw = sys::open(&f, libc::O_RDWR).map_err(|e| format!("open rw: errno {e}"))?;
    let wmap = Map::new(
        rw,
        LEN,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_SHARED,
    )
    .map_err(|e| format!("mmap rw: errno {e}"))?;
    for off in (0..LEN).step_by(LEN / 16).map(|o| o + 100) {
        wmap.write(off, b"STORED");
        want[off..off + 6].copy_from_slice(b"STORED");
    }
    // SAFETY: Our mapping.
    if unsafe { libc::msync(wmap.p.cast(), LEN, libc::MS_SYNC) } != 0 {
        return Err(Fail::Fail(format!("msync: errno {}", errno())));
    }
    let seen = map.bytes(0, LEN);
    drop((map, wmap));
    sys::close(ro);
    sys::close(rw);
    if let Some(off) = first_bad(&seen, &want) {
        return Err(Fail::Fail(format!(
            "read-only mapping misses a store at {off:#x}"
        )));
    }
    let data = std::fs::read(&f).map_err(|e| e.to_string())?;
    if let Some(off) = first_bad(&data, &want) {
        return Err(Fail::Fail(format!("file differs after msync at {off:#x}")));
    }
    let up = std::fs::read(r.upper.join("big")).map_err(|e| e.to_string())?;
    if up != data {
        return Err(Fail::Fail("upper file differs from the merged one".into()));
    }
    Ok(())
}

/// Writes through rovl that land elsewhere than the file position show in
/// a shared mapping made while the file was on a lower layer: appends
/// (`O_APPEND`, `RWF_APPEND`) into the mapped last page, and Linux AIO
/// writes, `O_DIRECT` ones too where `direct` (completed by the real
/// filesystem after `io_submit` returns, on xfs). rovl only: such a
/// mapping of overlayfs maps the lower file and never sees them.
fn mmap_sees_writes(mnt: &Path, direct: bool) -> Result<(), Fail> {
    let f = mnt.join("mapped");
    let len = 3 * PAGE;
    let mut want = std::fs::read(&f).map_err(|e| e.to_string())?;
    let ro = sys::open(&f, libc::O_RDONLY).map_err(|e| format!("open: errno {e}"))?;
    let map = Map::new(ro, len, libc::PROT_READ, libc::MAP_SHARED)
        .map_err(|e| format!("mmap: errno {e}"))?;
    let check_map = |want: &[u8], what: &str| -> Result<(), Fail> {
        let got = map.bytes(0, want.len());
        match got.iter().zip(want).position(|(a, b)| a != b) {
            Some(off) => Err(Fail::Fail(format!(
                "after {what}, the mapping differs at {off:#x}"
            ))),
            None => Ok(()),
        }
    };
    check_map(&want, "mapping")?;
    // Copied up here; the position stays at 0.
    let ap = sys::open(&f, libc::O_WRONLY | libc::O_APPEND)
        .map_err(|e| format!("open O_APPEND: errno {e}"))?;
    let r = pwrite(ap, b"APPENDED", 0).map_err(|e| format!("append: errno {e}"));
    sys::close(ap);
    r?;
    want.extend_from_slice(b"APPENDED");
    check_map(&want, "an O_APPEND write")?;
    let w = sys::open(&f, libc::O_WRONLY).map_err(|e| format!("open: errno {e}"))?;
    let r = pwritev2(w, b"RWF_APPEND", 0, libc::RWF_APPEND);
    sys::close(w);
    r.map_err(|e| format!("RWF_APPEND: errno {e}"))?;
    want.extend_from_slice(b"RWF_APPEND");
    check_map(&want, "an RWF_APPEND write")?;
    let flags = libc::O_WRONLY | if direct { libc::O_DIRECT } else { 0 };
    let w = sys::open(&f, flags).map_err(|e| format!("open for AIO: errno {e}"))?;
    // A page-aligned page of new bytes for the second page.
    let mut page = vec![0u8; 2 * PAGE];
    let at = page.as_ptr().align_offset(PAGE);
    let data = &mut page[at..at + PAGE];
    data.fill(b'A');
    let r = aio_pwrite(w, data, PAGE as i64);
    sys::close(w);
    match r {
        Ok(n) if n == PAGE => {}
        Ok(n) => return Err(Fail::Fail(format!("AIO write: {n} bytes"))),
        Err(e) => return Err(Fail::Fail(format!("AIO write: errno {e}"))),
    }
    want[PAGE..2 * PAGE].fill(b'A');
    check_map(
        &want,
        if direct {
            "an O_DIRECT AIO write"
        } else {
            "an AIO write"
        },
    )?;
    drop(map);
    sys::close(ro);
    let data = std::fs::read(&f).map_err(|e| e.to_string())?;
    if data != want {
        return Err(Fail::Fail("file differs from what was written".into()));
    }
    Ok(())
}

/// The lower file `mmap_sees_writes` maps: two pages and a bit.
fn mapped_file(l0: &Path) -> Result<(), Fail> {
    let data: Vec<u8> = (0..2 * PAGE + 100).map(|i| b'a' + (i % 26) as u8).collect();
    Ok(layers::file(&l0.join("mapped"), &data)?)
}

/// `mmap_sees_writes` on the test directory's filesystem.
pub fn mmap_sees_appends(t: &mut T) -> TResult {
    let base = t.dir.join("mmapap");
    let l0 = base.join("l0");
    mapped_file(&l0)?;
    let (_, r) = writable_pair(t, &base, &[l0])?;
    mmap_sees_writes(&r.mnt, false)
}

const STRESS_FILES: usize = 8;
const STRESS_SIZE: usize = 16 * PAGE;

/// The content of stress file `i` at version `v`: one word repeated.
fn pattern(i: usize, v: u64) -> Vec<u8> {
    let w = ((i as u64) << 32 | v).to_le_bytes();
    w.iter().copied().cycle().take(STRESS_SIZE).collect()
}

/// The version `data` holds for file `i`, if it is one whole version.
fn version_of(i: usize, data: &[u8]) -> Result<u64, String> {
    if data.len() != STRESS_SIZE {
        return Err(format!("file {i}: {} bytes", data.len()));
    }
    let w = u64::from_le_bytes(data[..8].try_into().unwrap());
    if (w >> 32) as usize != i {
        return Err(format!("file {i}: word {w:#x} of another file"));
    }
    if data.chunks(8).any(|c| c != &data[..8]) {
        return Err(format!("file {i}: torn or mixed versions"));
    }
    Ok(w & 0xffff_ffff)
}

/// Concurrent readers (read, pread, splice, shared mappings made before the
/// copy-up), writers (write, writable mappings, splice), copy-ups and
/// truncations of the same files on rovl; every read is one whole version,
/// never older than one read before, and the final data is the last
/// version written.
pub fn stacked_stress(t: &mut T) -> TResult {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    let base = t.dir.join("stress");
    let l0 = base.join("l0");
    for i in 0..STRESS_FILES {
        layers::file(&l0.join(format!("s{i}")), &pattern(i, 0))?;
    }
    let (upper, work) = (base.join("upper"), base.join("work"));
    layers::dir(&upper)?;
    layers::dir(&work)?;
    let m = t
        .mount("rovl", &crate::upper::opts(&[l0], &upper, &work))
        .map_err(|e| format!("mount: errno {e}"))?;
    let versions: Arc<Vec<AtomicU64>> =
        Arc::new((0..STRESS_FILES).map(|_| AtomicU64::new(0)).collect());
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    // Descriptors and shared mappings of every file, made while all are
    // still only on the lower layer.
    let early: Vec<(i32, Map)> = (0..STRESS_FILES)
        .map(|i| {
            let fd = sys::open(&m.join(format!("s{i}")), libc::O_RDONLY).expect("open early");
            let map =
                Map::new(fd, STRESS_SIZE, libc::PROT_READ, libc::MAP_SHARED).expect("mmap early");
            (fd, map)
        })
        .collect();
    let early = Arc::new(early);
    let mut handles = Vec::new();
    for w in 0..2u64 {
        let (m, versions, errors) = (m.clone(), versions.clone(), errors.clone());
        handles.push(std::thread::spawn(move || {
            let mut rng = Rng::new(100 + w);
            for n in 0..150 {
                let i = (rng.next() % STRESS_FILES as u64) as usize;
                let p = m.join(format!("s{i}"));
                let fd = match sys::open(&p, libc::O_RDWR) {
                    Ok(fd) => fd,
                    Err(e) => {
                        errors
                            .lock()
                            .unwrap()
                            .push(format!("writer open errno {e}"));
                        return;
                    }
                };
                let _ = flock(fd, libc::LOCK_EX);
                let v = versions[i].load(Ordering::SeqCst) + 1;
                let data = pattern(i, v);
                let r = match n % 4 {
                    0 => pwrite(fd, &data, 0).map(|_| ()),
                    1 => Map::new(
                        fd,
                        STRESS_SIZE,
                        libc::PROT_READ | libc::PROT_WRITE,
                        libc::MAP_SHARED,
                    )
                    .map(|map| map.write(0, &data)),
                    2 => splice_in(fd, &data[..PAGE * 8], 0)
                        .and_then(|_| pwrite(fd, &data[PAGE * 8..], (PAGE * 8) as i64))
                        .map(|_| ()),
                    _ => sys::fallocate(fd, libc::FALLOC_FL_KEEP_SIZE, 0, STRESS_SIZE as i64)
                        .and_then(|_| pwrite(fd, &data, 0).map(|_| ()))
                        .and_then(|_| sys::fsync(fd, true)),
                };
                match r {
                    Ok(()) => versions[i].store(v, Ordering::SeqCst),
                    Err(e) => errors
                        .lock()
                        .unwrap()
                        .push(format!("writer {n}: errno {e}")),
                }
                let _ = flock(fd, libc::LOCK_UN);
                sys::close(fd);
            }
        }));
    }
    for rd in 0..3u64 {
        let (m, versions, errors, stop, early) = (
            m.clone(),
            versions.clone(),
            errors.clone(),
            stop.clone(),
            early.clone(),
        );
        handles.push(std::thread::spawn(move || {
            let mut rng = Rng::new(200 + rd);
            let mut seen = [0u64; STRESS_FILES];
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) || n < 50 {
                n += 1;
                let i = (rng.next() % STRESS_FILES as u64) as usize;
                let how = rng.next() % 5;
                // A descriptor of this thread's own for the lock: readers
                // share the early ones, and one's unlock would be all's.
                let fd = match sys::open(&m.join(format!("s{i}")), libc::O_RDONLY) {
                    Ok(fd) => fd,
                    Err(e) => {
                        errors.lock().unwrap().push(format!("reader open errno {e}"));
                        return;
                    }
                };
                let _ = flock(fd, libc::LOCK_SH);
                let data = match how {
                    0 => sys::pread(fd, STRESS_SIZE, 0),
                    1 => splice_out(fd, 0, STRESS_SIZE),
                    2 => Map::new(fd, STRESS_SIZE, libc::PROT_READ, libc::MAP_SHARED)
                        .map(|map| map.bytes(0, STRESS_SIZE)),
                    3 => Ok(early[i].1.bytes(0, STRESS_SIZE)),
                    _ => sys::pread(early[i].0, STRESS_SIZE, 0),
                };
                let latest = versions[i].load(Ordering::SeqCst);
                let _ = flock(fd, libc::LOCK_UN);
                sys::close(fd);
                let r = data.map_err(|e| format!("read errno {e}")).and_then(|d| version_of(i, &d));
                match r {
                    Ok(v) if v < seen[i] || v != latest => errors.lock().unwrap().push(format!(
                        "reader {rd} way {how}: file {i} version {v}, saw {} before, latest {latest}",
                        seen[i]
                    )),
                    Ok(v) => seen[i] = v,
                    Err(e) => errors.lock().unwrap().push(format!("reader {rd} way {how}: {e}")),
                }
            }
        }));
    }
    // Metadata copy-ups racing with everything else.
    {
        let (m, stop) = (m.clone(), stop.clone());
        handles.push(std::thread::spawn(move || {
            let mut k = 0;
            while !stop.load(Ordering::SeqCst) {
                let p = m.join(format!("s{}", k % STRESS_FILES));
                let _ = layers::chmod(&p, if k % 2 == 0 { 0o640 } else { 0o644 });
                k += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }));
    }
    let writers: Vec<_> = handles.drain(..2).collect();
    for h in writers {
        let _ = h.join();
    }
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        let _ = h.join();
    }
    let mut errs = errors.lock().unwrap().clone();
    for i in 0..STRESS_FILES {
        let v = versions[i].load(Ordering::SeqCst);
        match std::fs::read(m.join(format!("s{i}")))
            .map_err(|e| e.to_string())
            .and_then(|d| version_of(i, &d))
        {
            Ok(got) if got == v => {}
            r => errs.push(format!("file {i}: final {r:?}, wrote {v}")),
        }
        if let Ok(v2) = version_of(i, &early[i].1.bytes(0, STRESS_SIZE)) {
            if v2 != v {
                errs.push(format!("file {i}: early mapping shows {v2}, last {v}"));
            }
        }
    }
    for (fd, _) in early.iter() {
        sys::close(*fd);
    }
    drop(early);
    if versions
        .iter()
        .map(|v| v.load(Ordering::SeqCst))
        .sum::<u64>()
        < 200
    {
        errs.push("too few writes landed".into());
    }
    if errs.is_empty() {
        Ok(())
    } else {
        errs.truncate(20);
        Err(Fail::Fail(errs.join("\n")))
    }
}

/// Slab use: (KiB of slab pages from /proc/meminfo, objects in use summed
/// over /proc/slabinfo).
fn slab_use() -> (i64, i64) {
    let m = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = m
        .lines()
        .find(|l| l.starts_with("Slab:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1);
    let i = std::fs::read_to_string("/proc/slabinfo").unwrap_or_default();
    let objs = i
        .lines()
        .filter(|l| !l.starts_with("slabinfo") && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<i64>().ok())
        .sum();
    (kib, objs)
}

/// Lets freed objects go back to their slabs: an RCU grace period for
/// those freed by RCU (files are SLAB_TYPESAFE_BY_RCU, kmemleak's records
/// are RCU-freed), a shrink of every cache, which also empties KASAN's
/// quarantine of that cache's objects (drained at a random time otherwise,
/// thousands of objects at once), then until the count of objects in use
/// stays within `still` for a second (what earlier tests left to free in
/// the background), for at most 20 seconds.
fn settle_slabs(still: i64) {
    std::thread::sleep(std::time::Duration::from_secs(3));
    if let Ok(rd) = std::fs::read_dir("/sys/kernel/slab") {
        for e in rd.flatten() {
            let _ = std::fs::write(e.path().join("shrink"), "1");
        }
    }
    let mut last = slab_use().1;
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_secs(1));
        let now = slab_use().1;
        if (now - last).abs() <= still {
            return;
        }
        last = now;
    }
}

/// Slab memory and objects per open file on overlay and rovl (10,000 lower
/// files held open, twice each, alternating): memory reported, and rovl
/// must allocate no more objects per open file than overlay.
pub fn open_file_memory(t: &mut T) -> TResult {
    const N: usize = 10_000;
    let base = t.dir.join("openmem");
    let l0 = base.join("l0");
    for i in 0..N {
        layers::file(&l0.join(format!("f{i}")), b"x")?;
    }
    let lim = libc::rlimit {
        rlim_cur: 3 * N as u64,
        rlim_max: 3 * N as u64,
    };
    // SAFETY: Plain setrlimit.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    let (o, r) = writable_pair(t, &base, &[l0])?;
    // Per mount: (bytes, hundredths of an object) of each round.
    let mut per: [Vec<(i64, i64)>; 2] = [Vec::new(), Vec::new()];
    for round in 0..4 {
        let m = if round % 2 == 0 { &o.mnt } else { &r.mnt };
        // Open and close everything once: dentries, inodes and whatever an
        // open creates lazily are not what is measured, only open files.
        for i in 0..N {
            if let Ok(fd) = sys::open(&m.join(format!("f{i}")), libc::O_RDONLY) {
                sys::close(fd);
            }
        }
        settle_slabs(N as i64 / 50);
        let before = slab_use();
        let mut fds = Vec::with_capacity(N);
        for i in 0..N {
            match sys::open(&m.join(format!("f{i}")), libc::O_RDONLY) {
                Ok(fd) => fds.push(fd),
                Err(e) => return Err(Fail::Fail(format!("open #{i}: errno {e}"))),
            }
        }
        let after = slab_use();
        let bad = fds
            .iter()
            .filter(|&&fd| sys::pread(fd, 1, 0).ok().as_deref() != Some(b"x"))
            .count();
        for fd in fds {
            sys::close(fd);
        }
        if bad > 0 {
            return Err(Fail::Fail(format!("{bad} files read wrong")));
        }
        per[round % 2].push((
            (after.0 - before.0) * 1024 / N as i64,
            (after.1 - before.1) * 100 / N as i64,
        ));
    }
    let objs = |h: i64| format!("{}.{:02}", h / 100, h % 100);
    let show = |v: &[(i64, i64)]| {
        v.iter()
            .map(|&(b, o)| format!("{b} B {} objects", objs(o)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "        per open file: overlay {}; rovl {} (slab, debug kernel)",
        show(&per[0]),
        show(&per[1])
    );
    // What else the kernel frees while files are opened (work that earlier
    // tests left) lowers a round's count: compare overlay's highest with
    // rovl's lowest.
    let o_objs = per[0].iter().map(|p| p.1).max().unwrap_or(0);
    let r_objs = per[1].iter().map(|p| p.1).min().unwrap_or(0);
    if o_objs < 100 {
        return Err(Fail::Fail(format!(
            "overlay {} objects per open file: slab counts not seen",
            objs(o_objs)
        )));
    }
    // rovl allocates nothing per open file beyond its real file, as
    // overlayfs 6.12 (its `StackedFile` is the private data word itself);
    // one allocation more would be one object more per file, with its
    // kmemleak record two. Bytes only catch a leak: on this debug kernel
    // redzones and kmemleak records make them move by a hundred or two.
    if r_objs > o_objs + 50 {
        return Err(Fail::Fail(format!(
            "rovl {} objects per open file, overlay {}",
            objs(r_objs),
            objs(o_objs)
        )));
    }
    let o_bytes = per[0].iter().map(|p| p.0).max().unwrap_or(0);
    let r_bytes = per[1].iter().map(|p| p.0).min().unwrap_or(0);
    if r_bytes > o_bytes + 1024 {
        return Err(Fail::Fail(format!(
            "rovl {r_bytes} B per open file, overlay {o_bytes} B"
        )));
    }
    Ok(())
}

/// The attribute-flag ioctls from a 32-bit process (`compat32`, built next
/// to this binary), through the kernel's compat ioctl paths.
pub fn compat_ioctls(t: &mut T) -> TResult {
    let helper = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("compat32"))
        .ok_or_else(|| Fail::Fail("no helper directory".into()))?;
    if !helper.exists() {
        return Err(Fail::Fail(format!(
            "{} not built (make tests)",
            helper.display()
        )));
    }
    let base = t.dir.join("compat");
    let l0 = base.join("l0");
    layers::file(&l0.join("f"), b"lower")?;
    let (o, r) = writable_pair(t, &base, &[l0])?;
    let run = |m: &Path| -> Result<String, Fail> {
        let out = std::process::Command::new(&helper)
            .arg(m.join("f"))
            .output()
            .map_err(|e| format!("{}: {e}", helper.display()))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let (a, b) = (run(&o.mnt)?, run(&r.mnt)?);
    if a != b {
        return Err(Fail::Fail(format!("overlay [{a}] rovl [{b}]")));
    }
    // The set must have worked, through a copy-up, and unknown calls fail.
    if !b.contains(" set=0 get=0:128 ") || !b.ends_with("unknown=-25") {
        return Err(Fail::Fail(format!("unexpected: [{b}]")));
    }
    Ok(())
}

/// Mounts a tmpfs of `size` on `imgs` and, for each `(mkfs, dir, mib)`, a
/// filesystem made by `mkfs` (a command and options, split at spaces) on
/// an image of `mib` MiB in it on `dir`, each
/// unmounted after what is mounted above it (`-o loop` detaches the loop
/// device at the unmount).
pub(crate) fn loop_fs(t: &mut T, imgs: &Path, size: &str, fss: &[(&str, &Path, u64)]) -> TResult {
    layers::dir(imgs)?;
    sys::mount("tmpfs", imgs, &format!("size={size}"), 0)
        .map_err(|e| format!("tmpfs: errno {e}"))?;
    t.adopt(imgs);
    for (i, &(mkfs, dir, mib)) in fss.iter().enumerate() {
        layers::dir(dir)?;
        let img = imgs.join(format!("{i}.img"));
        let f = std::fs::File::create(&img).map_err(|e| e.to_string())?;
        f.set_len(mib << 20).map_err(|e| e.to_string())?;
        drop(f);
        let mut args: Vec<&str> = mkfs.split(' ').collect();
        let cmd = args.remove(0);
        let force = if cmd == "mkfs.xfs" { "-f" } else { "-F" };
        args.extend(["-q", force, img.to_str().unwrap()]);
        run_ok(cmd, &args)?;
        run_ok(
            "mount",
            &["-o", "loop", img.to_str().unwrap(), dir.to_str().unwrap()],
        )?;
        t.adopt(dir);
    }
    Ok(())
}

pub(crate) fn run_ok(cmd: &str, args: &[&str]) -> Result<(), Fail> {
    let st = std::process::Command::new(cmd)
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(Fail::Fail(format!("{cmd} {args:?}: {st}")))
    }
}

fn syncfs_of(p: &Path) -> Result<(), Errno> {
    let fd = sys::open(p, libc::O_RDONLY)?;
    // SAFETY: Plain syscall on a descriptor we own.
    let r = check(unsafe { libc::syncfs(fd) } as i64).map(|_| ());
    sys::close(fd);
    r
}

/// Volatile mounts never sync, but `fsync` and `syncfs` report the upper
/// filesystem's writeback errors since the mount (`ovl_sync_status`): an
/// xfs upper on a loop device whose backing tmpfs is full.
pub fn volatile_writeback_errors(t: &mut T) -> TResult {
    let base = t.dir.join("wberr");
    let (small, xfs) = (base.join("small"), base.join("xfs"));
    loop_fs(t, &small, "400M", &[("mkfs.xfs", &xfs, 320)])?;
    let l0 = xfs.join("l0");
    layers::file(&l0.join("f"), b"lower")?;
    let mut sides = Vec::new();
    for fstype in ["overlay", "rovl"] {
        let (u, w) = crate::upper::side_dirs(&xfs, fstype)?;
        let o = format!("{},volatile", crate::upper::opts(&[l0.clone()], &u, &w));
        sides.push(
            t.mount(fstype, &o)
                .map_err(|e| format!("mount {fstype}: errno {e}"))?,
        );
    }
    // Fill the loop device's backing store once what is there is written:
    // what xfs writes back from now on to blocks it had not written yet
    // fails.
    run_ok("sync", &[])?;
    let _ = std::process::Command::new("dd")
        .args([
            "if=/dev/zero",
            &format!("of={}", small.join("filler").display()),
            "bs=1M",
        ])
        .stderr(std::process::Stdio::null())
        .status();
    let mut fds = Vec::new();
    let mut out = Vec::new();
    for m in &sides {
        let fd = sys::open(&m.join("new"), libc::O_RDWR | libc::O_CREAT)
            .map_err(|e| format!("create: errno {e}"))?;
        pwrite(fd, &vec![b'd'; 4 << 20], 0).map_err(|e| format!("write: errno {e}"))?;
        out.push(format!("fsync before {:?}", sys::fsync(fd, false)));
        fds.push(fd);
    }
    // Make xfs write back into the full backing store.
    let xfs_sync = syncfs_of(&xfs);
    for (m, fd) in sides.iter().zip(&fds) {
        out.push(format!("fsync after {:?}", sys::fsync(*fd, false)));
        out.push(format!("syncfs after {:?}", syncfs_of(m)));
        sys::close(*fd);
    }
    let _ = std::fs::remove_file(small.join("filler"));
    // out: fsync before (overlay, rovl), then fsync and syncfs after for
    // overlay, then for rovl.
    let ov = [out[0].clone(), out[2].clone(), out[3].clone()];
    let rv = [out[1].clone(), out[4].clone(), out[5].clone()];
    if ov != rv {
        return Err(Fail::Fail(format!(
            "overlay {ov:?} rovl {rv:?} (xfs syncfs {xfs_sync:?})"
        )));
    }
    // The error writeback met (ENOSPC from the loop device), and EIO from
    // syncfs, as overlayfs returns them.
    if rv[1] != "fsync after Err(28)" || rv[2] != "syncfs after Err(5)" {
        return Err(Fail::Fail(format!(
            "no error reported: {rv:?} (xfs syncfs {xfs_sync:?})"
        )));
    }
    Ok(())
}

/// A write by an unprivileged user drops set-user-ID and set-group-ID bits,
/// on a lower file (copied up by the write) and on an upper one.
pub fn write_drops_setid(t: &mut T) -> TResult {
    use std::os::unix::fs::PermissionsExt;
    let base = t.dir.join("setid");
    let l0 = base.join("l0");
    layers::file(&l0.join("f"), b"lower")?;
    layers::chmod(&l0.join("f"), 0o6777)?;
    let (o, r) = writable_pair(t, &base, &[l0])?;
    let run = |m: &Path| -> Vec<String> {
        let mut out = Vec::new();
        for name in ["f", "g"] {
            let p = m.join(name);
            if name == "g" {
                let _ = std::fs::write(&p, b"upper");
                let _ = layers::chmod(&p, 0o6777);
            }
            let c = cstr(&p);
            let st = sys::as_user(1000, 1000, || {
                // SAFETY: A valid path; plain syscalls.
                let fd = unsafe { libc::open(c.as_ptr(), libc::O_WRONLY | libc::O_APPEND) };
                if fd < 0 {
                    return 1;
                }
                // SAFETY: As above.
                let n = unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
                i32::from(n != 1)
            });
            let mode = std::fs::metadata(&p)
                .map(|m| format!("{:o}", m.permissions().mode() & 0o7777))
                .unwrap_or_else(|e| e.to_string());
            out.push(format!("{name}: write {st} mode {mode}"));
        }
        out
    };
    let (a, b) = (run(&o.mnt), run(&r.mnt));
    if a != b {
        return Err(Fail::Fail(format!("overlay {a:?} rovl {b:?}")));
    }
    if b.iter().any(|l| !l.ends_with("write 0 mode 777")) {
        return Err(Fail::Fail(format!("set-id bits kept: {b:?}")));
    }
    Ok(())
}

/// Resident pages of a mapping, by `mincore`: for a file mapping, whether
/// each page is in the page cache of the file the mapping maps.
fn resident(m: &Map) -> Result<usize, Fail> {
    let mut vec = vec![0u8; m.len.div_ceil(PAGE)];
    // SAFETY: `vec` has one byte per page of the mapping.
    let r = unsafe { libc::mincore(m.p.cast(), m.len, vec.as_mut_ptr()) };
    if r != 0 {
        return Err(Fail::Fail(format!("mincore: errno {}", errno())));
    }
    Ok(vec.iter().filter(|b| **b & 1 != 0).count())
}

/// A shared mapping maps the real file's cached pages, as overlay's, on a
/// mount without an upper layer (nothing can be copied up there) and for a
/// file already copied up; only a lower file on a writable mount gets
/// rovl's own (not yet filled) pages. `mincore` tells them apart without
/// touching the mapping: the real file's pages are already cached.
pub fn mmap_shared_direct(t: &mut T) -> TResult {
    let pages = 64;
    let base = t.dir.join("mapdirect");
    let l0 = base.join("l0");
    layers::file(&l0.join("lower"), &vec![7u8; pages * PAGE])?;
    layers::file(&l0.join("up"), &vec![8u8; pages * PAGE])?;
    let l1 = base.join("l1");
    layers::dir(&l1)?;
    let ro = format!("lowerdir={}:{}", l1.display(), l0.display());
    let (ro_o, ro_r) = t.pair(&ro)?;
    let (o, r) = writable_pair(t, &base, &[l0])?;
    let mut got = Vec::new();
    for (label, path, copy_up) in [
        ("read-only mount", ro_o.join("lower"), false),
        ("read-only mount", ro_r.join("lower"), false),
        ("writable mount, lower file", o.mnt.join("lower"), false),
        ("writable mount, lower file", r.mnt.join("lower"), false),
        ("writable mount, upper file", o.mnt.join("up"), true),
        ("writable mount, upper file", r.mnt.join("up"), true),
    ] {
        if copy_up {
            let fd = sys::open(&path, libc::O_RDWR)?;
            sys::close(fd);
        }
        // Cache the real file's pages, then map without touching.
        std::fs::read(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
        let fd = sys::open(&path, libc::O_RDONLY)?;
        let m = Map::new(fd, pages * PAGE, libc::PROT_READ, libc::MAP_SHARED);
        sys::close(fd);
        let m = m.map_err(|e| format!("mmap {}: errno {e}", path.display()))?;
        got.push((label, resident(&m)?));
    }
    let want = [pages, pages, pages, 0, pages, pages];
    for (i, ((label, n), w)) in got.iter().zip(want).enumerate() {
        if *n != w {
            let fs = if i % 2 == 0 { "overlay" } else { "rovl" };
            return Err(Fail::Fail(format!(
                "{fs}, {label}: {n} of {pages} pages resident before any access, want {w}"
            )));
        }
    }
    Ok(())
}

/// An access ACL of `u::rwx,g::rwx,o::rwx` in the xattr format.
fn acl_rwx() -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for tag in [0x01u16, 0x04, 0x20] {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&7u16.to_le_bytes());
        v.extend_from_slice(&u32::MAX.to_le_bytes());
    }
    v
}

/// setfacl and chmod by the owner keep the set-group-ID bit only where the
/// owner is in the file's group (xfstests generic/375): rovl sets ACLs
/// with the mounter's credentials, so it clears the bit first where the
/// caller could not keep it (`ovl_set_acl`). Lower and upper files and
/// directories, compared with overlay.
pub fn setgid_kept_by_group(t: &mut T) -> TResult {
    use std::os::unix::fs::PermissionsExt;
    let base = t.dir.join("sgid");
    let l0 = base.join("l0");
    for n in ["f1", "f2", "f3", "f4"] {
        layers::file(&l0.join(n), b"lower")?;
    }
    for n in ["d1", "d2", "d3", "d4"] {
        layers::dir(&l0.join(n))?;
    }
    for e in std::fs::read_dir(&l0).map_err(|e| e.to_string())? {
        let p = e.map_err(|e| e.to_string())?.path();
        let c = cstr(&p);
        // SAFETY: A valid path.
        unsafe { libc::chown(c.as_ptr(), 100, 100) };
        layers::chmod(&p, 0o2755)?;
    }
    let (o, r) = writable_pair(t, &base, &[l0])?;
    let run = |m: &Path| -> Vec<String> {
        let mut out = Vec::new();
        // New upper objects too.
        for n in ["u1", "u2"] {
            let p = m.join(n);
            let _ = std::fs::write(&p, b"upper");
            let c = cstr(&p);
            // SAFETY: A valid path.
            unsafe { libc::chown(c.as_ptr(), 100, 100) };
            let _ = layers::chmod(&p, 0o2755);
        }
        let acl = acl_rwx();
        let cases = [
            ("f1", 100, "setfacl"),
            ("f2", 101, "setfacl"),
            ("f3", 101, "chmod"),
            ("d1", 100, "setfacl"),
            ("d2", 101, "setfacl"),
            ("d3", 101, "chmod"),
            ("u1", 100, "setfacl"),
            ("u2", 101, "setfacl"),
        ];
        for (n, gid, op) in cases {
            let p = m.join(n);
            let c = cstr(&p);
            let name = std::ffi::CString::new("system.posix_acl_access").unwrap();
            let rc = sys::as_user(100, gid, || {
                // SAFETY: Valid path, name and value.
                let r = unsafe {
                    if op == "setfacl" {
                        libc::setxattr(c.as_ptr(), name.as_ptr(), acl.as_ptr().cast(), acl.len(), 0)
                    } else {
                        libc::chmod(c.as_ptr(), 0o2777)
                    }
                };
                if r == 0 {
                    0
                } else {
                    sys::errno_of(&std::io::Error::last_os_error())
                }
            });
            let mode = std::fs::metadata(&p).map(|s| format!("{:o}", s.permissions().mode()));
            out.push(format!("{op} {n} as 100:{gid}: {rc}, mode {mode:?}"));
        }
        out
    };
    let (a, b) = (run(&o.mnt), run(&r.mnt));
    same_lines(&a, &b)?;
    has_lines(
        &b,
        &[
            "setfacl f2 as 100:101: 0, mode Ok(\"100777\")",
            "setfacl f1 as 100:100: 0, mode Ok(\"102777\")",
        ],
        false,
    )?;
    Ok(())
}
