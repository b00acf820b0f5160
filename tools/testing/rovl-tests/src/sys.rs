// SPDX-License-Identifier: GPL-2.0
//! Thin syscall wrappers the standard library lacks.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

pub type Errno = i32;

pub fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("path with NUL")
}

pub fn check(r: i64) -> Result<i64, Errno> {
    if r < 0 {
        Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(r)
    }
}

pub fn errno_of(e: &io::Error) -> Errno {
    e.raw_os_error().unwrap_or(-1)
}

pub fn mount(fstype: &str, target: &Path, data: &str, flags: u64) -> Result<(), Errno> {
    let fs = CString::new(fstype).unwrap();
    let src = CString::new("none").unwrap();
    let data = CString::new(data).unwrap();
    let t = cstr(target);
    // SAFETY: All pointers are valid NUL-terminated strings for the call.
    check(unsafe {
        libc::mount(
            src.as_ptr(),
            t.as_ptr(),
            fs.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    } as i64)
    .map(|_| ())
}

pub fn umount(target: &Path) -> Result<(), Errno> {
    let t = cstr(target);
    // SAFETY: `t` is a valid NUL-terminated string.
    check(unsafe { libc::umount2(t.as_ptr(), 0) } as i64).map(|_| ())
}

pub fn mknod(p: &Path, mode: u32, major: u32, minor: u32) -> Result<(), Errno> {
    let c = cstr(p);
    // SAFETY: `c` is a valid NUL-terminated string.
    check(unsafe { libc::mknod(c.as_ptr(), mode, libc::makedev(major, minor)) } as i64).map(|_| ())
}

pub fn setxattr(p: &Path, name: &str, value: &[u8]) -> Result<(), Errno> {
    let c = cstr(p);
    let n = CString::new(name).unwrap();
    // SAFETY: Valid strings and buffer for the call.
    check(unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    } as i64)
    .map(|_| ())
}

/// One `getdents64` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirent {
    pub ino: u64,
    pub off: i64,
    pub d_type: u8,
    pub name: Vec<u8>,
}

/// Reads entries with one `getdents64` call of `bufsize` bytes; empty at the end.
pub fn getdents(fd: i32, bufsize: usize) -> Result<Vec<Dirent>, Errno> {
    let mut buf = vec![0u8; bufsize];
    // SAFETY: `buf` is writable for its length.
    let n = check(unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) })?
        as usize;
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let ino = u64::from_ne_bytes(buf[i..i + 8].try_into().unwrap());
        let off = i64::from_ne_bytes(buf[i + 8..i + 16].try_into().unwrap());
        let reclen = u16::from_ne_bytes(buf[i + 16..i + 18].try_into().unwrap()) as usize;
        let d_type = buf[i + 18];
        let name = &buf[i + 19..i + reclen];
        let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        out.push(Dirent {
            ino,
            off,
            d_type,
            name: name[..len].to_vec(),
        });
        i += reclen;
    }
    Ok(out)
}

pub fn open(p: &Path, flags: i32) -> Result<i32, Errno> {
    let c = cstr(p);
    // SAFETY: `c` is a valid NUL-terminated string.
    check(unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, 0o644) } as i64)
        .map(|fd| fd as i32)
}

/// fsync(2), or fdatasync(2) with `data_only`.
pub fn fsync(fd: i32, data_only: bool) -> Result<(), Errno> {
    // SAFETY: Plain syscalls on a descriptor we own.
    check(unsafe {
        if data_only {
            libc::fdatasync(fd)
        } else {
            libc::fsync(fd)
        }
    } as i64)
    .map(|_| ())
}

/// fallocate(2).
pub fn fallocate(fd: i32, mode: i32, off: i64, len: i64) -> Result<(), Errno> {
    // SAFETY: Plain syscall on a descriptor we own.
    check(unsafe { libc::fallocate(fd, mode, off, len) } as i64).map(|_| ())
}

/// posix_fadvise(2), which returns its error instead of setting errno.
pub fn fadvise(fd: i32, off: i64, len: i64, advice: i32) -> Result<(), Errno> {
    // SAFETY: Plain syscall on a descriptor we own.
    match unsafe { libc::posix_fadvise(fd, off, len, advice) } {
        0 => Ok(()),
        e => Err(e),
    }
}

pub fn close(fd: i32) {
    // SAFETY: Closing a descriptor we own.
    unsafe { libc::close(fd) };
}

pub fn lseek(fd: i32, off: i64, whence: i32) -> Result<i64, Errno> {
    // SAFETY: Plain syscall on a descriptor we own.
    check(unsafe { libc::lseek(fd, off, whence) })
}

pub fn pread(fd: i32, len: usize, off: i64) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; len];
    // SAFETY: `buf` is writable for its length.
    let n = check(unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), len, off) } as i64)? as usize;
    buf.truncate(n);
    Ok(buf)
}

pub fn read(fd: i32, len: usize) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; len];
    // SAFETY: `buf` is writable for its length.
    let n = check(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), len) } as i64)? as usize;
    buf.truncate(n);
    Ok(buf)
}

/// `readv` into buffers of the given sizes.
pub fn readv(fd: i32, sizes: &[usize]) -> Result<Vec<u8>, Errno> {
    let mut bufs: Vec<Vec<u8>> = sizes.iter().map(|&s| vec![0u8; s]).collect();
    let iov: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: Each iovec points into a live, writable buffer.
    let mut n = check(unsafe { libc::readv(fd, iov.as_ptr(), iov.len() as i32) } as i64)? as usize;
    let mut out = Vec::new();
    for b in bufs {
        let take = n.min(b.len());
        out.extend_from_slice(&b[..take]);
        n -= take;
    }
    Ok(out)
}

#[derive(Debug, PartialEq, Eq)]
pub struct StatFs {
    pub f_type: i64,
    pub bsize: i64,
    pub blocks: u64,
    pub files: u64,
    pub namelen: i64,
    pub frsize: i64,
    pub fsid: [i32; 2],
}

pub fn statfs(p: &Path) -> Result<StatFs, Errno> {
    let c = cstr(p);
    // SAFETY: Zeroed statfs is valid; `c` is NUL-terminated.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    check(unsafe { libc::statfs(c.as_ptr(), &mut s) } as i64)?;
    Ok(StatFs {
        f_type: s.f_type as i64,
        bsize: s.f_bsize as i64,
        blocks: s.f_blocks as u64,
        files: s.f_files as u64,
        namelen: s.f_namelen as i64,
        frsize: s.f_frsize as i64,
        // SAFETY: `fsid_t` is two `int`s with private fields in libc.
        fsid: unsafe { std::mem::transmute::<libc::fsid_t, [i32; 2]>(s.f_fsid) },
    })
}

/// `FS_IOC_GETFSUUID` on the filesystem of `p`: its UUID (`s_uuid`).
pub fn getfsuuid(p: &Path) -> Result<Vec<u8>, Errno> {
    #[repr(C)]
    struct Fsuuid2 {
        len: u8,
        uuid: [u8; 16],
    }
    // _IOR(0x15, 0, struct fsuuid2)
    const FS_IOC_GETFSUUID: u64 = 0x8011_1500;
    let fd = open(p, libc::O_RDONLY)?;
    let mut u = Fsuuid2 {
        len: 0,
        uuid: [0; 16],
    };
    // SAFETY: The ioctl writes at most a `struct fsuuid2` to `u`.
    let r = check(unsafe { libc::ioctl(fd, FS_IOC_GETFSUUID as _, &mut u) } as i64);
    close(fd);
    r?;
    Ok(u.uuid[..usize::from(u.len).min(16)].to_vec())
}

/// Turns fs-verity on for the regular file `p` (`FS_IOC_ENABLE_VERITY`,
/// SHA-256, 4 KiB blocks, no salt); the file is read-only from then on.
pub fn enable_verity(p: &Path) -> Result<(), Errno> {
    #[repr(C)]
    struct EnableArg {
        version: u32,
        hash_algorithm: u32,
        block_size: u32,
        salt_size: u32,
        salt_ptr: u64,
        sig_size: u32,
        reserved1: u32,
        sig_ptr: u64,
        reserved2: [u64; 11],
    }
    // _IOW('f', 133, struct fsverity_enable_arg)
    const FS_IOC_ENABLE_VERITY: u64 = 0x4080_6685;
    let arg = EnableArg {
        version: 1,
        hash_algorithm: 1,
        block_size: 4096,
        salt_size: 0,
        salt_ptr: 0,
        sig_size: 0,
        reserved1: 0,
        sig_ptr: 0,
        reserved2: [0; 11],
    };
    let fd = open(p, libc::O_RDONLY)?;
    // SAFETY: The ioctl reads a `struct fsverity_enable_arg` from `arg`.
    let r = check(unsafe { libc::ioctl(fd, FS_IOC_ENABLE_VERITY as _, &arg) } as i64);
    close(fd);
    r.map(|_| ())
}

/// The fs-verity digest of `p` and its algorithm (`FS_IOC_MEASURE_VERITY`).
pub fn measure_verity(p: &Path) -> Result<(u16, Vec<u8>), Errno> {
    #[repr(C)]
    struct Digest {
        alg: u16,
        size: u16,
        digest: [u8; 64],
    }
    // _IOWR('f', 134, struct fsverity_digest)
    const FS_IOC_MEASURE_VERITY: u64 = 0xc004_6686;
    let mut d = Digest {
        alg: 0,
        size: 64,
        digest: [0; 64],
    };
    let fd = open(p, libc::O_RDONLY)?;
    // SAFETY: The ioctl writes the header and at most `size` digest bytes.
    let r = check(unsafe { libc::ioctl(fd, FS_IOC_MEASURE_VERITY as _, &mut d) } as i64);
    close(fd);
    r?;
    Ok((d.alg, d.digest[..usize::from(d.size).min(64)].to_vec()))
}

/// Runs `f` in a child process; returns its exit code.
pub fn in_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: The child only runs `f` and exits; no locks are held across fork
    // in this single-threaded runner.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: Leaves the child at once.
        unsafe { libc::_exit(f()) };
    }
    let mut status = 0;
    // SAFETY: Waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    }
}

/// Runs `f` in a child process with the given uid/gid; returns its exit code.
pub fn as_user(uid: u32, gid: u32, f: impl FnOnce() -> i32) -> i32 {
    in_child(|| {
        // SAFETY: Plain syscalls in the child.
        unsafe {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setresgid(gid, gid, gid) != 0
                || libc::setresuid(uid, uid, uid) != 0
            {
                return 255;
            }
        }
        f()
    })
}

/// `llistxattr`: the names, in order.
pub fn listxattr(p: &Path) -> Result<Vec<String>, Errno> {
    let c = cstr(p);
    // SAFETY: A NULL buffer with size 0 asks for the size.
    let n =
        check(unsafe { libc::llistxattr(c.as_ptr(), std::ptr::null_mut(), 0) } as i64)? as usize;
    let mut buf = vec![0u8; n];
    // SAFETY: `buf` is writable for its length.
    let n =
        check(unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) } as i64)?
            as usize;
    Ok(buf[..n]
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect())
}

/// `llistxattr` size query (NULL buffer).
pub fn listxattr_size(p: &Path) -> Result<usize, Errno> {
    let c = cstr(p);
    // SAFETY: A NULL buffer with size 0 asks for the size.
    check(unsafe { libc::llistxattr(c.as_ptr(), std::ptr::null_mut(), 0) } as i64)
        .map(|n| n as usize)
}

/// `lgetxattr`: the value.
pub fn getxattr(p: &Path, name: &str) -> Result<Vec<u8>, Errno> {
    let c = cstr(p);
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 65536];
    // SAFETY: `buf` is writable for its length.
    let len =
        check(
            unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) }
                as i64,
        )?;
    buf.truncate(len as usize);
    Ok(buf)
}

/// The new mount API: fsopen, fsconfig (strings, flags) and fsmount, then
/// move_mount onto `target`. Each step's errno is reported as such.
pub fn new_mount(
    fstype: &str,
    target: &Path,
    opts: &[(&str, Option<&str>)],
) -> Result<(), (String, Errno)> {
    const FSCONFIG_SET_FLAG: u32 = 0;
    const FSCONFIG_SET_STRING: u32 = 1;
    const FSCONFIG_CMD_CREATE: u32 = 6;
    const MOVE_MOUNT_F_EMPTY_PATH: u32 = 4;
    let fs = CString::new(fstype).unwrap();
    // SAFETY: Plain syscalls with valid strings; descriptors are closed below.
    unsafe {
        let fd = libc::syscall(libc::SYS_fsopen, fs.as_ptr(), 0) as i32;
        if fd < 0 {
            return Err((
                "fsopen".into(),
                io::Error::last_os_error().raw_os_error().unwrap_or(0),
            ));
        }
        let fail = |what: String, fd: i32| {
            let e = io::Error::last_os_error().raw_os_error().unwrap_or(0);
            libc::close(fd);
            Err((what, e))
        };
        for (k, v) in opts {
            let key = CString::new(*k).unwrap();
            let r = match v {
                Some(v) => {
                    let val = CString::new(*v).unwrap();
                    libc::syscall(
                        libc::SYS_fsconfig,
                        fd,
                        FSCONFIG_SET_STRING,
                        key.as_ptr(),
                        val.as_ptr(),
                        0,
                    )
                }
                None => libc::syscall(
                    libc::SYS_fsconfig,
                    fd,
                    FSCONFIG_SET_FLAG,
                    key.as_ptr(),
                    std::ptr::null::<u8>(),
                    0,
                ),
            };
            if r < 0 {
                return fail(format!("fsconfig {k}"), fd);
            }
        }
        if libc::syscall(
            libc::SYS_fsconfig,
            fd,
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<u8>(),
            std::ptr::null::<u8>(),
            0,
        ) < 0
        {
            return fail("fsconfig create".into(), fd);
        }
        let mfd = libc::syscall(libc::SYS_fsmount, fd, 0, 0) as i32;
        if mfd < 0 {
            return fail("fsmount".into(), fd);
        }
        libc::close(fd);
        let t = cstr(target);
        let empty = CString::new("").unwrap();
        let r = libc::syscall(
            libc::SYS_move_mount,
            mfd,
            empty.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        );
        if r < 0 {
            return fail("move_mount".into(), mfd);
        }
        libc::close(mfd);
    }
    Ok(())
}

/// Runs `f` in a child that keeps CAP_SYS_ADMIN but drops
/// CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; returns its exit code.
pub fn as_caps_without_dac(f: impl FnOnce() -> i32) -> i32 {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const VERSION_3: u32 = 0x2008_0522;
    const DAC: u32 = (1 << 1) | (1 << 2);
    // SAFETY: The child only changes its own capabilities, runs `f`, exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let mut h = Header {
            version: VERSION_3,
            pid: 0,
        };
        let mut d = [Data {
            effective: 0,
            permitted: 0,
            inheritable: 0,
        }; 2];
        // SAFETY: Valid header and two data structs, as capget/capset want.
        unsafe {
            if libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()) != 0 {
                libc::_exit(250);
            }
            d[0].effective &= !DAC;
            d[0].permitted &= !DAC;
            if libc::syscall(libc::SYS_capset, &mut h, d.as_ptr()) != 0 {
                libc::_exit(251);
            }
            libc::_exit(f());
        }
    }
    let mut st = 0;
    // SAFETY: Waiting for our own child.
    unsafe { libc::waitpid(pid, &mut st, 0) };
    if libc::WIFEXITED(st) {
        libc::WEXITSTATUS(st)
    } else {
        -1
    }
}

/// Path syscalls of the writable-mount tests: `Ok(())` or the errno.
pub mod path {
    use super::{check, cstr, Errno};
    use std::ffi::CString;
    use std::path::Path;

    fn unit(r: i32) -> Result<(), Errno> {
        check(r.into()).map(|_| ())
    }

    pub fn truncate(p: &Path, len: i64) -> Result<(), Errno> {
        // SAFETY: A valid C string.
        unit(unsafe { libc::truncate(cstr(p).as_ptr(), len) })
    }

    pub fn mkdir(p: &Path, mode: u32) -> Result<(), Errno> {
        // SAFETY: A valid C string.
        unit(unsafe { libc::mkdir(cstr(p).as_ptr(), mode) })
    }

    pub fn rmdir(p: &Path) -> Result<(), Errno> {
        // SAFETY: A valid C string.
        unit(unsafe { libc::rmdir(cstr(p).as_ptr()) })
    }

    pub fn unlink(p: &Path) -> Result<(), Errno> {
        // SAFETY: A valid C string.
        unit(unsafe { libc::unlink(cstr(p).as_ptr()) })
    }

    pub fn rename(a: &Path, b: &Path, flags: u32) -> Result<(), Errno> {
        // SAFETY: Valid C strings.
        unit(unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                cstr(a).as_ptr(),
                libc::AT_FDCWD,
                cstr(b).as_ptr(),
                flags,
            )
        })
    }

    pub fn link(a: &Path, b: &Path) -> Result<(), Errno> {
        // SAFETY: Valid C strings.
        unit(unsafe { libc::link(cstr(a).as_ptr(), cstr(b).as_ptr()) })
    }

    pub fn symlink(target: &str, p: &Path) -> Result<(), Errno> {
        let t = CString::new(target).unwrap();
        // SAFETY: Valid C strings.
        unit(unsafe { libc::symlink(t.as_ptr(), cstr(p).as_ptr()) })
    }

    pub fn mknod(p: &Path, mode: u32, dev: u64) -> Result<(), Errno> {
        // SAFETY: A valid C string.
        unit(unsafe { libc::mknod(cstr(p).as_ptr(), mode, dev) })
    }

    pub fn chmod(p: &Path, mode: u32) -> Result<(), Errno> {
        // SAFETY: A valid C string.
        unit(unsafe { libc::chmod(cstr(p).as_ptr(), mode) })
    }

    pub fn lchown(p: &Path, uid: u32, gid: u32) -> Result<(), Errno> {
        // SAFETY: A valid C string.
        unit(unsafe { libc::lchown(cstr(p).as_ptr(), uid, gid) })
    }

    /// Sets atime and mtime (seconds, nanoseconds) without following a symlink.
    pub fn utimes(p: &Path, atime: (i64, i64), mtime: (i64, i64)) -> Result<(), Errno> {
        let ts = [
            libc::timespec {
                tv_sec: atime.0,
                tv_nsec: atime.1,
            },
            libc::timespec {
                tv_sec: mtime.0,
                tv_nsec: mtime.1,
            },
        ];
        // SAFETY: A valid C string and two timespecs.
        unit(unsafe {
            libc::utimensat(
                libc::AT_FDCWD,
                cstr(p).as_ptr(),
                ts.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
    }

    pub fn removexattr(p: &Path, name: &str) -> Result<(), Errno> {
        let n = CString::new(name).unwrap();
        // SAFETY: Valid C strings.
        unit(unsafe { libc::removexattr(cstr(p).as_ptr(), n.as_ptr()) })
    }

    /// Writes `data` at `off` (at the end with `O_APPEND` or at 0 when `off`
    /// is 0), opening with `flags | O_WRONLY | O_NONBLOCK` so a FIFO never
    /// waits for a reader; returns the bytes written.
    pub fn write_at(p: &Path, flags: i32, off: i64, data: &[u8]) -> Result<i64, Errno> {
        let fd = super::open(p, flags | libc::O_WRONLY | libc::O_NONBLOCK)?;
        // SAFETY: `data` is valid for its length; `fd` is ours.
        let r = unsafe {
            if flags & libc::O_APPEND != 0 || off == 0 {
                libc::write(fd, data.as_ptr().cast(), data.len())
            } else {
                libc::pwrite(fd, data.as_ptr().cast(), data.len(), off)
            }
        };
        let r = check(r as i64);
        super::close(fd);
        r
    }

    /// An `O_TMPFILE` file in `dir` with `data`, then linked at `target`
    /// through /proc/self/fd.
    pub fn tmpfile_link(dir: &Path, data: &[u8], target: &Path) -> Result<(), Errno> {
        let fd = super::open(dir, libc::O_TMPFILE | libc::O_RDWR)?;
        // SAFETY: `data` is valid for its length; `fd` is ours.
        let w = check(unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) } as i64);
        let proc = CString::new(format!("/proc/self/fd/{fd}")).unwrap();
        // SAFETY: Valid C strings.
        let l = unit(unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                proc.as_ptr(),
                libc::AT_FDCWD,
                cstr(target).as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        });
        super::close(fd);
        w?;
        l
    }
}
