// SPDX-License-Identifier: GPL-2.0
//! NFS export (`nfs_export=on`): file handles that `open_by_handle_at(2)`
//! decodes, compared with overlay on the same layers, with the dentry
//! cache warm and dropped.

use crate::layers::{dir, file, opaque, whiteout};
use crate::stacked::{has_lines, same_lines};
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

/// What an `O_PATH` descriptor of a decoded handle shows: its stat, its
/// path (the mount's own written `<mnt>`) and a regular file's data.
fn fd_facts(fd: i32, mnt: &Path) -> Result<(libc::stat, String, String), String> {
    // SAFETY: `st` is a writable struct stat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: As above; `fd` is ours.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return Err(format!(
            "fstat: errno {}",
            sys::errno_of(&std::io::Error::last_os_error())
        ));
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
    Ok((st, path, data))
}

/// [`fd_facts`] as a line, with type, number, link count and size.
fn describe(fd: i32, mnt: &Path) -> String {
    match fd_facts(fd, mnt) {
        Ok((st, path, data)) => format!(
            "mode {:o} ino {} nlink {} size {} path {path} data {data:?}",
            st.st_mode, st.st_ino, st.st_nlink, st.st_size
        ),
        Err(e) => e,
    }
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
    // A length field short of the header itself.
    let mut v = h.clone();
    v[5] = 5;
    cases.push(("length short of the header", *ty, v));
    let mut v = h.clone();
    v[5] = 5;
    v[6] |= 4;
    cases.push(("upper, length short of the header", *ty, v));
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
    has_lines(&runs[1], &need, true)
}

/// What a decoded handle shows on a writable mount, with inode numbers
/// as which object they are (upper numbers differ between two upper
/// layers): the number of the name it was taken for, now, and of that
/// name's lower object.
fn describe_upper(fd: i32, mnt: &Path, lower: &Path, path: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    let (st, at, data) = match fd_facts(fd, mnt) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let ino_of = |p: &Path| std::fs::symlink_metadata(p).ok().map(|m| m.ino());
    let now = ino_of(&mnt.join(path)) == Some(st.st_ino);
    let low = ino_of(&lower.join(path)) == Some(st.st_ino);
    format!(
        "mode {:o} nlink {} size {} path {at} ino as its name's {now}, as lower {low} data {data:?}",
        st.st_mode, st.st_nlink, st.st_size
    )
}

/// Opens the handle of `path` for writing and writes to it.
fn write_by_handle(
    mnt: &Path,
    handles: &[(String, i32, Vec<u8>)],
    path: &str,
) -> Result<(), Errno> {
    let (_, ty, h) = handles.iter().find(|h| h.0 == path).ok_or(libc::ENOENT)?;
    let mfd = sys::open(mnt, libc::O_RDONLY | libc::O_DIRECTORY)?;
    let fd = open_handle(mfd, *ty, h, libc::O_WRONLY | libc::O_TRUNC);
    sys::close(mfd);
    let fd = fd?;
    // SAFETY: Writes from a valid buffer to our descriptor.
    let r = unsafe { libc::write(fd, b"by handle".as_ptr().cast(), 9) };
    sys::close(fd);
    sys::check(r as i64).map(|_| ())
}

/// Decodes `handles` on `mnt`, each after dropping the caches.
fn decode_upper(
    mnt: &Path,
    lower: &Path,
    handles: &[(String, i32, Vec<u8>)],
    what: &str,
) -> Vec<String> {
    let mfd = match sys::open(mnt, libc::O_RDONLY | libc::O_DIRECTORY) {
        Ok(fd) => fd,
        Err(e) => return vec![format!("{what}: open mount: errno {e}")],
    };
    let mut out = Vec::new();
    for (p, ty, h) in handles {
        let _ = std::fs::write("/proc/sys/vm/drop_caches", "2");
        let line = match open_handle(mfd, *ty, h, libc::O_PATH) {
            Ok(fd) => {
                let d = describe_upper(fd, mnt, lower, p);
                sys::close(fd);
                d
            }
            Err(e) => format!("errno {e}"),
        };
        out.push(format!("{what} {p:?}: {line}"));
    }
    sys::close(mfd);
    out
}

/// The handles of `paths` on `mnt`: type, header, and which real object's
/// handle each wraps (the lower or the upper one at that path).
fn handles_of(
    mnt: &Path,
    lower: &Path,
    upper: &Path,
    paths: &[&str],
    what: &str,
    out: &mut Vec<String>,
) -> Vec<(String, i32, Vec<u8>)> {
    let mut hs = Vec::new();
    for p in paths {
        match handle(&mnt.join(p)) {
            Ok((ty, h)) => {
                let fid = h.get(24..).unwrap_or(&[]).to_vec();
                let real = |base: &Path| handle(&base.join(p)).ok().map(|r| r.1);
                let of = if real(lower).as_deref() == Some(&fid[..]) {
                    "lower"
                } else if real(upper).as_deref() == Some(&fid[..]) {
                    "upper"
                } else {
                    "no real object's"
                };
                out.push(format!(
                    "{what} {p:?}: type {ty:#x} header {:02x?} of {of}",
                    h.get(3..8)
                ));
                hs.push((p.to_string(), ty, h));
            }
            Err(e) => out.push(format!("{what} {p:?}: errno {e}")),
        }
    }
    hs
}

/// Index and upper entries, by name and type (upper handles in `upper`
/// xattrs differ between two upper layers; their presence is compared).
fn tree_of(root: &Path, out: &mut Vec<String>, what: &str) {
    let mut stack = vec![root.to_path_buf()];
    let mut lines = Vec::new();
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            // Temporary names are the filesystem's own counters.
            if rel.rsplit('/').next().is_some_and(|n| n.starts_with('#')) {
                continue;
            }
            let ft = m.file_type();
            let kind = if ft.is_dir() {
                "dir"
            } else if ft.is_char_device() && m.rdev() == 0 {
                "whiteout"
            } else if ft.is_file() {
                "file"
            } else {
                "other"
            };
            let mut x: Vec<String> = sys::listxattr(&p)
                .unwrap_or_default()
                .into_iter()
                .filter(|n| n.starts_with("trusted.overlay."))
                .collect();
            x.sort();
            lines.push(format!(
                "{what} {rel}: {kind} nlink {} xattrs {x:?}",
                m.nlink()
            ));
            if ft.is_dir() {
                stack.push(p);
            }
        }
    }
    lines.sort();
    out.extend(lines);
}

/// NFS export of a writable mount (`nfs_export=on` with an upper layer),
/// compared with overlay: handles taken before and after copy-ups,
/// renames (redirects), unlinks and rmdirs decode to the same objects,
/// cold, on the mount, after a remount, and on the other filesystem
/// mounting the same layers; copied-up objects are indexed (directories
/// too) and removed ones leave whiteouts in the index, with the same
/// names; encoding a directory below a non-indexed upper directory
/// copies it up.
pub fn nfs_export_upper(t: &mut T) -> TResult {
    let base = t.dir.join("nfs-upper");
    let l0 = base.join("l0");
    file(&l0.join("d1/d2/f"), b"deep")?;
    file(&l0.join("d1/g"), b"g")?;
    dir(&l0.join("dir3"))?;
    file(&l0.join("hl1"), b"linked")?;
    std::fs::hard_link(l0.join("hl1"), l0.join("hl2")).map_err(|e| e.to_string())?;
    file(&l0.join("del"), b"deleted")?;
    dir(&l0.join("deldir"))?;
    file(&l0.join("mv/sub/x"), b"moved")?;
    file(&l0.join("pre/sub/y"), b"below a non-indexed upper dir")?;
    std::os::unix::fs::symlink("d1/g", l0.join("sym")).map_err(|e| e.to_string())?;
    let before = [
        "", "d1", "d1/d2", "d1/d2/f", "d1/g", "dir3", "hl1", "hl2", "del", "deldir", "mv",
        "mv/sub", "mv/sub/x", "sym",
    ];
    let after = [
        "",
        "d1",
        "d1/d2",
        "d1/d2/f",
        "d1/g",
        "dir3",
        "hl1",
        "hl2",
        "mv2",
        "mv2/sub",
        "mv2/sub/x",
        "sym",
        "u",
        "u/new",
        "pre",
        "pre/sub",
        "pre/sub/y",
    ];
    let mut kmsg = Kmsg::open();
    let mut runs = vec![Vec::new(), Vec::new()];
    let mut kept = Vec::new();
    let fstypes = ["overlay", "rovl"];
    let side = |fstype: &str| {
        (
            base.join(format!("upper-{fstype}")),
            base.join(format!("work-{fstype}")),
        )
    };
    for (i, fstype) in fstypes.into_iter().enumerate() {
        let (upper, work) = side(fstype);
        // A merged directory made by other means: not indexed.
        dir(&upper.join("pre"))?;
        dir(&work)?;
        let opts = format!(
            "lowerdir={},upperdir={},workdir={},nfs_export=on,redirect_dir=on",
            l0.display(),
            upper.display(),
            work.display()
        );
        fs_lines(&mut kmsg, fstype);
        let mnt = t
            .mount(fstype, &opts)
            .map_err(|e| format!("mount {fstype} -o {opts}: errno {e}"))?;
        let run = &mut runs[i];
        run.extend(
            fs_lines(&mut kmsg, fstype)
                .into_iter()
                .map(|l| format!("mount log: {l}")),
        );
        let shown = std::fs::read_to_string("/proc/mounts")
            .unwrap_or_default()
            .lines()
            .find(|l| l.split(' ').nth(1) == Some(&mnt.display().to_string()))
            .map(|l| {
                l.split(' ')
                    .nth(3)
                    .unwrap_or("")
                    .replace(&upper.display().to_string(), "<upper>")
                    .replace(&work.display().to_string(), "<work>")
            });
        run.push(format!("options: {shown:?}"));
        let mut hs = handles_of(&mnt, &l0, &upper, &before, "before", run);
        run.extend(decode_upper(&mnt, &l0, &hs, "fresh"));
        // A lower file decoded cold (a disconnected dentry) and written:
        // copied up to the index alone, then found by its name.
        let _ = std::fs::write("/proc/sys/vm/drop_caches", "2");
        run.push(format!(
            "write by handle: {:?}",
            write_by_handle(&mnt, &hs, "d1/g")
        ));
        run.push(format!(
            "d1/g: {:?}",
            std::fs::read_to_string(mnt.join("d1/g"))
        ));
        // Copy-ups, a pure upper directory, removals and a move.
        let step = |r: std::io::Result<()>| format!("{r:?}");
        run.push(step(std::fs::write(mnt.join("d1/d2/f"), b"written")));
        run.push(step(std::fs::create_dir(mnt.join("u"))));
        run.push(step(std::fs::write(mnt.join("u/new"), b"new")));
        run.push(step(std::fs::write(mnt.join("hl2"), b"linked, written")));
        run.push(step(std::fs::remove_file(mnt.join("del"))));
        run.push(step(std::fs::remove_dir(mnt.join("deldir"))));
        run.push(step(std::fs::rename(mnt.join("mv"), mnt.join("mv2"))));
        hs.extend(handles_of(&mnt, &l0, &upper, &after, "after", run));
        run.extend(decode_upper(&mnt, &l0, &hs, "mounted"));
        run.extend(
            fs_lines(&mut kmsg, fstype)
                .into_iter()
                .map(|l| format!("log: {l}")),
        );
        t.umount(&mnt)?;
        tree_of(&work.join("index"), run, "index");
        tree_of(&upper, run, "upper");
        // Again after a remount, so nothing is cached.
        let mnt = t
            .mount(fstype, &opts)
            .map_err(|e| format!("remount {fstype}: errno {e}"))?;
        run.extend(decode_upper(&mnt, &l0, &hs, "remounted"));
        run.extend(
            fs_lines(&mut kmsg, fstype)
                .into_iter()
                .map(|l| format!("log: {l}")),
        );
        t.umount(&mnt)?;
        kept.push((opts, hs));
    }
    // Each filesystem decodes the other's handles on the other's layers.
    for (i, fstype) in fstypes.into_iter().enumerate() {
        let (opts, hs) = &kept[1 - i];
        fs_lines(&mut kmsg, fstype);
        let mnt = t
            .mount(fstype, opts)
            .map_err(|e| format!("{fstype} on the other's layers: errno {e}"))?;
        runs[1 - i].extend(decode_upper(&mnt, &l0, hs, "by the other"));
        runs[1 - i].extend(
            fs_lines(&mut kmsg, fstype)
                .into_iter()
                .map(|l| format!("other log: {l}")),
        );
        t.umount(&mnt)?;
    }
    same_lines(&runs[0], &runs[1])?;
    let need = [
        "before \"d1/d2/f\": type 0xf8 header Some([00, fb, 21, 00, 01]) of lower",
        "after \"u/new\": type 0xf8",
        "remounted \"del\": errno 116",
        "remounted \"deldir\": errno 116",
        "remounted \"mv\": mode 40755",
        "path <mnt>/mv2 ",
        "remounted \"mv/sub\": mode 40755",
        "path <mnt>/mv2/sub ",
        "by the other \"d1/d2/f\": mode 100644",
        "data \"written\"",
        "upper pre/sub: dir",
        ": whiteout nlink",
        "write by handle: Ok(())",
        "d1/g: Ok(\"by handle\")",
    ];
    has_lines(&runs[1], &need, true)
}
