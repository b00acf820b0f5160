// SPDX-License-Identifier: GPL-2.0
//! NFS export (`nfs_export=on`): file handles that `open_by_handle_at(2)`
//! decodes, compared with overlay on the same layers, with the dentry
//! cache warm and dropped.

use crate::layers::{dir, file, opaque, whiteout};
use crate::stacked::same_lines;
use crate::sys::{self, Errno};
use crate::{fs_lines, Fail, Kmsg, TResult, T};
use std::path::Path;

/// `name_to_handle_at(2)` of `p` without `AT_HANDLE_FID`: a handle that
/// decodes. Its type and bytes.
fn handle(p: &Path) -> Result<(i32, Vec<u8>), Errno> {
    crate::upper::handle_at(p, 0, 128).map_err(|e| e.0)
}

/// `open_by_handle_at(2)` of a handle of type `ty` with bytes `h` on the
/// mount of `mfd`.
fn open_handle(mfd: i32, ty: i32, h: &[u8], flags: i32) -> Result<i32, Errno> {
    let mut buf = Vec::with_capacity(8 + h.len());
    buf.extend_from_slice(&(h.len() as u32).to_ne_bytes());
    buf.extend_from_slice(&ty.to_ne_bytes());
    buf.extend_from_slice(h);
    // SAFETY: `buf` holds a struct file_handle with its bytes.
    let r = unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            mfd,
            buf.as_mut_ptr(),
            flags | libc::O_CLOEXEC,
        )
    };
    sys::check(r).map(|fd| fd as i32)
}

/// What an `O_PATH` descriptor of a decoded handle shows: type, number,
/// link count and size, its path (the mount's own written `<mnt>`), and
/// the data of a regular file.
fn describe(fd: i32, mnt: &Path) -> String {
    // SAFETY: `st` is a writable struct stat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: As above; `fd` is ours.
    let r = unsafe { libc::fstat(fd, &mut st) };
    if r < 0 {
        return format!(
            "fstat: errno {}",
            sys::errno_of(&std::io::Error::last_os_error())
        );
    }
    let proc = format!("/proc/self/fd/{fd}");
    let path = std::fs::read_link(&proc)
        .map(|p| {
            p.display()
                .to_string()
                .replace(&mnt.display().to_string(), "<mnt>")
        })
        .unwrap_or_else(|e| format!("readlink: {e}"));
    let data = if st.st_mode & libc::S_IFMT == libc::S_IFREG {
        std::fs::read(&proc)
            .map(|d| String::from_utf8_lossy(&d).into_owned())
            .unwrap_or_else(|e| format!("read: {e}"))
    } else {
        String::new()
    };
    format!(
        "mode {:o} ino {} nlink {} size {} path {path} data {data:?}",
        st.st_mode, st.st_ino, st.st_nlink, st.st_size
    )
}

/// Decodes each handle of `handles` on mount `mnt`; with `cold`, after
/// dropping the dentry and inode caches, so that directories are
/// connected again from their real ancestors and files come back as
/// disconnected dentries.
fn decode_all(mnt: &Path, handles: &[(String, i32, Vec<u8>)], cold: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mfd = match sys::open(mnt, libc::O_RDONLY | libc::O_DIRECTORY) {
        Ok(fd) => fd,
        Err(e) => return vec![format!("open mount: errno {e}")],
    };
    for (p, ty, h) in handles {
        if cold {
            let _ = std::fs::write("/proc/sys/vm/drop_caches", "2");
        }
        let line = match open_handle(mfd, *ty, h, libc::O_PATH) {
            Ok(fd) => {
                let d = describe(fd, mnt);
                sys::close(fd);
                d
            }
            Err(e) => format!("errno {e}"),
        };
        out.push(format!(
            "{} {p:?}: {line}",
            if cold { "cold" } else { "warm" }
        ));
    }
    sys::close(mfd);
    out
}

/// Handles that must not decode: other types, a bad magic, a newer
/// version, an upper handle on a mount without an upper layer, a handle
/// of nothing, one cut short.
fn bad_handles(mnt: &Path, good: &(i32, Vec<u8>)) -> Vec<String> {
    let (ty, h) = good;
    let mut cases: Vec<(&str, i32, Vec<u8>)> = vec![("other type", 0x12, h.clone())];
    let mut v = h.clone();
    v[4] = 0xfa;
    cases.push(("bad magic", *ty, v));
    let mut v = h.clone();
    v[3] = 1;
    cases.push(("version 1", *ty, v));
    let mut v = h.clone();
    v[6] |= 4;
    cases.push(("upper flag", *ty, v));
    let mut v = h.clone();
    let n = v.len();
    v[n - 1] ^= 0x55;
    v[n - 5] ^= 0x55;
    cases.push(("changed fid", *ty, v));
    cases.push(("short", *ty, h[..20].to_vec()));
    let mut v = h.clone();
    v[5] = 200;
    cases.push(("length past the end", *ty, v));
    let mfd = match sys::open(mnt, libc::O_RDONLY | libc::O_DIRECTORY) {
        Ok(fd) => fd,
        Err(e) => return vec![format!("open mount: errno {e}")],
    };
    let mut out = Vec::new();
    for (what, ty, h) in cases {
        let r = open_handle(mfd, ty, &h, libc::O_PATH).map(sys::close);
        out.push(format!("{what}: {r:?}"));
    }
    sys::close(mfd);
    out
}

/// A lower-only mount with `nfs_export=on` over three layers (merged,
/// shadowed, opaque and whited-out names, hard links, a symlink): every
/// object's handle is its lower object's, as overlay's byte for byte, and
/// decodes to the same object, path and data, warm and cold (and the
/// root's too, which overlayfs fails); bad handles
/// fail with overlay's errno and log lines, handles of objects removed
/// from a layer while unmounted are stale, and the option falls back as
/// overlay's where redirects are followed.
pub fn nfs_export_lower(t: &mut T) -> TResult {
    let [l0, l1, l2] = t.layers(["l0", "l1", "l2"])?;
    file(&l2.join("a/b/c/deep"), b"deep")?;
    file(&l2.join("a/b/file2"), b"file2")?;
    file(&l2.join("shadow"), b"bottom")?;
    file(&l2.join("merged/low"), b"low")?;
    file(&l2.join("hl1"), b"linked")?;
    std::fs::hard_link(l2.join("hl1"), l2.join("hl2")).map_err(|e| e.to_string())?;
    std::os::unix::fs::symlink("shadow", l2.join("sym")).map_err(|e| e.to_string())?;
    dir(&l2.join("dir2"))?;
    file(&l2.join("opq/inner"), b"hidden")?;
    file(&l2.join("gone"), b"whited out")?;
    file(&l2.join("old/f"), b"removed later")?;
    file(&l1.join("shadow"), b"middle")?;
    file(&l1.join("merged/mid"), b"mid")?;
    dir(&l1.join("a/b"))?;
    opaque(&l1.join("opq"))?;
    file(&l1.join("opq/top"), b"opaque top")?;
    whiteout(&l1.join("gone"))?;
    file(&l0.join("top"), b"top")?;
    dir(&l0.join("merged"))?;
    let paths = [
        "",
        "a",
        "a/b",
        "a/b/c",
        "a/b/c/deep",
        "a/b/file2",
        "shadow",
        "merged",
        "merged/low",
        "merged/mid",
        "hl1",
        "hl2",
        "sym",
        "dir2",
        "opq",
        "opq/top",
        "top",
        "old",
        "old/f",
    ];
    let lowers = format!(
        "lowerdir={}:{}:{}",
        l0.display(),
        l1.display(),
        l2.display()
    );
    let opts = format!("{lowers},nfs_export=on,redirect_dir=nofollow");
    let mut kmsg = Kmsg::open();
    let mut runs = Vec::new();
    let mut kept = Vec::new();
    for fstype in ["overlay", "rovl"] {
        fs_lines(&mut kmsg, fstype);
        let mnt = t
            .mount(fstype, &opts)
            .map_err(|e| format!("mount {fstype} -o {opts}: errno {e}"))?;
        let mut run: Vec<String> = fs_lines(&mut kmsg, fstype)
            .into_iter()
            .map(|l| format!("mount log: {l}"))
            .collect();
        let shown = std::fs::read_to_string("/proc/mounts")
            .unwrap_or_default()
            .lines()
            .find(|l| l.split(' ').nth(1) == Some(&mnt.display().to_string()))
            .map(|l| l.split(' ').nth(3).unwrap_or("").to_string());
        run.push(format!("options: {shown:?}"));
        let mut handles = Vec::new();
        for p in paths {
            match handle(&mnt.join(p)) {
                Ok((ty, h)) => {
                    run.push(format!("{p:?}: type {ty:#x} {h:02x?}"));
                    handles.push((p.to_string(), ty, h));
                }
                Err(e) => run.push(format!("{p:?}: errno {e}")),
            }
        }
        run.extend(decode_all(&mnt, &handles, false));
        run.extend(decode_all(&mnt, &handles, true));
        // The two names of a hard link decode to one inode.
        let ino = |p: &str| {
            let h = handles.iter().find(|h| h.0 == p)?;
            let mfd = sys::open(&mnt, libc::O_RDONLY | libc::O_DIRECTORY).ok()?;
            let fd = open_handle(mfd, h.1, &h.2, libc::O_PATH);
            sys::close(mfd);
            let fd = fd.ok()?;
            let m = std::fs::metadata(format!("/proc/self/fd/{fd}")).ok();
            sys::close(fd);
            m.map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        };
        run.push(format!(
            "hard links one inode: {}",
            ino("hl1") == ino("hl2")
        ));
        if let Some(h) = handles.iter().find(|h| h.0 == "a/b/file2") {
            run.extend(bad_handles(&mnt, &(h.1, h.2.clone())));
        }
        run.extend(
            fs_lines(&mut kmsg, fstype)
                .into_iter()
                .map(|l| format!("log: {l}")),
        );
        kept.push(
            handles
                .into_iter()
                .filter(|h| h.0.starts_with("old"))
                .collect::<Vec<_>>(),
        );
        t.umount(&mnt)?;
        runs.push(run);
    }
    // Objects removed from a layer while unmounted: their handles are
    // stale, quietly.
    std::fs::remove_dir_all(l2.join("old")).map_err(|e| e.to_string())?;
    for (i, fstype) in ["overlay", "rovl"].into_iter().enumerate() {
        fs_lines(&mut kmsg, fstype);
        let mnt = t
            .mount(fstype, &opts)
            .map_err(|e| format!("mount {fstype}: errno {e}"))?;
        runs[i].extend(decode_all(&mnt, &kept[i], true));
        runs[i].extend(
            fs_lines(&mut kmsg, fstype)
                .into_iter()
                .map(|l| format!("log: {l}")),
        );
        t.umount(&mnt)?;
    }
    // Redirects followed on a lower-only mount: no NFS export, and
    // handles that only name objects.
    for (i, fstype) in ["overlay", "rovl"].into_iter().enumerate() {
        fs_lines(&mut kmsg, fstype);
        let o = format!("{lowers},nfs_export=on,redirect_dir=follow");
        let r = t.mount(fstype, &o);
        runs[i].push(format!("follow: mount {:?}", r.as_ref().map(|_| ())));
        if let Ok(mnt) = r {
            runs[i].push(format!(
                "follow: decodable {:?}",
                handle(&mnt.join("a/b/file2")).map(|h| h.0)
            ));
            t.umount(&mnt)?;
        }
        runs[i].extend(
            fs_lines(&mut kmsg, fstype)
                .into_iter()
                .map(|l| format!("follow log: {l}")),
        );
    }
    // The root's handle is the one difference: overlayfs's trap inode for
    // the first layer's root (which makes lookups reaching it fail with
    // ELOOP) takes its decode and fails it with ESTALE; rovl decodes it.
    let root = |l: &String| l.starts_with("warm \"\":") || l.starts_with("cold \"\":");
    let others: Vec<Vec<String>> = runs
        .iter()
        .map(|r| r.iter().filter(|l| !root(l)).cloned().collect())
        .collect();
    same_lines(&others[0], &others[1])?;
    for l in runs[1].iter().filter(|l| root(l)) {
        if !l.contains(": mode 40755 ") || !l.contains(" path <mnt> ") {
            return Err(Fail::Fail(format!("root handle: {l}")));
        }
    }
    // What the comparison must have seen, lest both fail alike.
    let need = [
        "cold \"a/b/c/deep\": mode 100644",
        "cold \"a/b/c\": mode 40755",
        "path <mnt>/a/b/c data",
        "cold \"merged/mid\": mode 100644",
        "cold \"sym\": mode 120777",
        "hard links one inode: true",
        "changed fid: Err(116)",
        "cold \"old/f\": errno 116",
        "follow: decodable Err(95)",
    ];
    for n in need {
        if !runs[1].iter().any(|l| l.contains(n)) {
            return Err(Fail::Fail(format!("missing {n}: {:#?}", runs[1])));
        }
    }
    Ok(())
}
