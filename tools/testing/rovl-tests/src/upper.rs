// SPDX-License-Identifier: GPL-2.0
//! Writable mounts: the same random operation sequences on an `overlay`
//! and a `rovl` mount of the same lower layers (each with its own upper
//! and work directory), compared after every step, in full every few
//! steps, after a remount, and with each mount's upper layer mounted by the
//! other filesystem.

use crate::layers::{self, Rng};
use crate::snapshot::{self, Entry};
use crate::sys::{self, path as P, Errno};
use crate::{Fail, TResult, T};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

fn unit(r: Result<(), Errno>) -> Result<Out, Errno> {
    r.map(|_| Out::Unit)
}

/// One mount's side of a writable pair.
pub struct Side {
    pub mnt: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
}

/// The options of a writable mount over `lowers`.
pub fn opts(lowers: &[PathBuf], upper: &Path, work: &Path) -> String {
    let l: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    format!(
        "lowerdir={},upperdir={},workdir={}",
        l.join(":"),
        upper.display(),
        work.display()
    )
}

/// Makes `u-<fstype>` and `w-<fstype>` under `base`: one filesystem's
/// upper and work directories where overlay and rovl get one each.
pub fn side_dirs(base: &Path, fstype: &str) -> Result<(PathBuf, PathBuf), Fail> {
    let (u, w) = (
        base.join(format!("u-{fstype}")),
        base.join(format!("w-{fstype}")),
    );
    layers::dir(&u)?;
    layers::dir(&w)?;
    Ok((u, w))
}

/// Mounts `overlay` and `rovl` over the same lower layers, each with its
/// own upper and work directories under `base`.
pub fn writable_pair(t: &mut T, base: &Path, lowers: &[PathBuf]) -> Result<(Side, Side), Fail> {
    writable_pair_with(t, base, lowers, "")
}

/// As `writable_pair`, with `extra` options appended.
pub fn writable_pair_with(
    t: &mut T,
    base: &Path,
    lowers: &[PathBuf],
    extra: &str,
) -> Result<(Side, Side), Fail> {
    writable_pair_each(t, base, lowers, [extra, extra])
}

/// As `writable_pair`, with `extra[0]` appended to overlay's options and
/// `extra[1]` to rovl's.
pub fn writable_pair_each(
    t: &mut T,
    base: &Path,
    lowers: &[PathBuf],
    extra: [&str; 2],
) -> Result<(Side, Side), Fail> {
    let mut sides = Vec::new();
    for (fstype, extra) in ["overlay", "rovl"].into_iter().zip(extra) {
        let upper = base.join(format!("upper-{fstype}"));
        let work = base.join(format!("work-{fstype}"));
        layers::dir(&upper)?;
        layers::dir(&work)?;
        let mnt = t
            .mount(fstype, &format!("{}{extra}", opts(lowers, &upper, &work)))
            .map_err(|e| format!("mount {fstype}: errno {e}"))?;
        sides.push(Side { mnt, upper, work });
    }
    let r = sides.pop().unwrap();
    let o = sides.pop().unwrap();
    Ok((o, r))
}

/// A random path of the shared name space (names collide with the lower
/// trees of `layers::random_tree`).
fn rpath(rng: &mut Rng) -> String {
    let names = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let depth = 1 + rng.below(3) as usize;
    let v: Vec<&str> = (0..depth).map(|_| names[rng.below(8) as usize]).collect();
    v.join("/")
}

/// What one operation returned, compared between the mounts.
#[derive(Debug, Clone, PartialEq)]
enum Out {
    Unit,
    Num(i64),
    Data(Vec<u8>),
    Stat(u32, u64, u64, u32, u32),
    List(Vec<(String, u8)>),
}

/// Applies operation `op` (a random choice with arguments drawn from a
/// copy of the generator, so both mounts get the same) below `root`.
fn apply(root: &Path, op: u64, rng: &mut Rng) -> (String, Result<Out, Errno>) {
    let p1 = rpath(rng);
    let p2 = rpath(rng);
    let a = root.join(&p1);
    let b = root.join(&p2);
    let n = rng.next();
    let (what, r) = match op {
        0 => {
            let data = format!("new {n}\n").repeat(1 + (n % 7) as usize);
            (
                "create+write",
                write_file(&a, libc::O_CREAT | libc::O_TRUNC, 0, data.as_bytes()),
            )
        }
        1 => (
            "create excl",
            write_file(&a, libc::O_CREAT | libc::O_EXCL, 0, b"x"),
        ),
        2 => (
            "append",
            write_file(&a, libc::O_APPEND, 0, format!("+{n}").as_bytes()),
        ),
        3 => ("pwrite", write_file(&a, 0, (n % 5000) as i64, b"PW")),
        4 => ("truncate", unit(P::truncate(&a, (n % 9000) as i64))),
        5 => ("mkdir", unit(P::mkdir(&a, 0o755))),
        6 => ("rmdir", unit(P::rmdir(&a))),
        7 => ("unlink", unit(P::unlink(&a))),
        8 => {
            let flags = [0, libc::RENAME_NOREPLACE, libc::RENAME_EXCHANGE][(n % 3) as usize];
            ("rename", unit(P::rename(&a, &b, flags)))
        }
        9 => ("link", unit(P::link(&a, &b))),
        10 => ("symlink", unit(P::symlink(&p2, &a))),
        11 => ("mkfifo", unit(P::mknod(&a, libc::S_IFIFO | 0o640, 0))),
        12 => {
            let mode = [0o600, 0o644, 0o755, 0o4755, 0o2750, 0o1777][(n % 6) as usize];
            ("chmod", unit(P::chmod(&a, mode)))
        }
        13 => {
            let id = (n % 3) as u32 * 1000;
            ("lchown", unit(P::lchown(&a, id, id + 1)))
        }
        14 => {
            let (at, mt) = (
                (1_000_000 + (n % 1000) as i64, 0),
                (2_000_000 + (n % 1000) as i64, 5),
            );
            ("utimes", unit(P::utimes(&a, at, mt)))
        }
        15 => (
            "setxattr",
            sys::setxattr(&a, "user.r", format!("{n}").as_bytes()).map(|_| Out::Unit),
        ),
        16 => (
            "removexattr",
            unit(P::removexattr(
                &a,
                if n % 2 == 0 { "user.r" } else { "user.a" },
            )),
        ),
        17 => ("read", read_nonblock(&a).map(Out::Data)),
        18 => (
            "lstat",
            std::fs::symlink_metadata(&a)
                .map(|m| {
                    use std::os::unix::fs::MetadataExt;
                    Out::Stat(m.mode(), m.size(), m.nlink(), m.uid(), m.gid())
                })
                .map_err(|e| sys::errno_of(&e)),
        ),
        19 => (
            "getdents",
            snapshot::listing(&a)
                .map(|l| Out::List(l.into_iter().map(|(n, t, _)| (n, t)).collect())),
        ),
        20 => (
            "open rdwr",
            sys::open(&a, libc::O_RDWR).map(|fd| {
                sys::close(fd);
                Out::Unit
            }),
        ),
        21 => ("getxattr", sys::getxattr(&a, "user.r").map(Out::Data)),
        23 => (
            "tmpfile+link",
            unit(P::tmpfile_link(&a, format!("tmp {n}").as_bytes(), &b)),
        ),
        _ => (
            "mknod",
            unit(P::mknod(&a, libc::S_IFCHR | 0o600, libc::makedev(1, 3))),
        ),
    };
    (format!("{what} {p1} {p2}"), r)
}

fn read_nonblock(p: &Path) -> Result<Vec<u8>, Errno> {
    let fd = sys::open(p, libc::O_RDONLY | libc::O_NONBLOCK)?;
    let mut out = Vec::new();
    loop {
        match sys::read(fd, 65536) {
            Ok(v) if v.is_empty() => break,
            Ok(v) => out.extend(v),
            Err(e) => {
                sys::close(fd);
                return Err(e);
            }
        }
    }
    sys::close(fd);
    Ok(out)
}

fn write_file(p: &Path, flags: i32, off: i64, data: &[u8]) -> Result<Out, Errno> {
    P::write_at(p, flags, off, data).map(Out::Num)
}

/// Compares two snapshots of writable mounts: inode numbers may differ
/// where objects were made on the separate upper layers, but must map one
/// to one; times of objects made or changed during the run differ by
/// when each mount ran, so only times set to fixed values (or kept from
/// the lower layers, before `t0`) compare exactly.
pub fn diff_writable(
    ovl: &[Entry],
    rovl: &[Entry],
    t0: i64,
    lower: &HashSet<u64>,
    max: usize,
) -> Vec<String> {
    let mut d = Vec::new();
    if ovl.len() != rovl.len() {
        d.push(format!(
            "object count: overlay {} rovl {}",
            ovl.len(),
            rovl.len()
        ));
    }
    let mut fwd: HashMap<u64, u64> = HashMap::new();
    let mut back: HashMap<u64, u64> = HashMap::new();
    // Numbers of lower objects (origins) must be equal, the rest map one
    // to one.
    let mut map = |a: u64, b: u64, what: &str, d: &mut Vec<String>| {
        if (lower.contains(&a) || lower.contains(&b)) && a != b {
            d.push(format!("{what}: inode number overlay {a} rovl {b}"));
        } else if *fwd.entry(a).or_insert(b) != b || *back.entry(b).or_insert(a) != a {
            d.push(format!(
                "{what}: inode numbers do not map one to one ({a} vs {b})"
            ));
        }
    };
    let old = |t: (i64, i64)| t.0 < t0;
    let ino_o: HashMap<&str, u64> = ovl.iter().map(|e| (e.path.as_str(), e.ino)).collect();
    let ino_r: HashMap<&str, u64> = rovl.iter().map(|e| (e.path.as_str(), e.ino)).collect();
    for (a, b) in ovl.iter().zip(rovl.iter()) {
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
        f!(err, mode, uid, gid, size, nlink, dev_class, rdev, blocks, target, content, xattrs);
        if a.err.is_none() {
            map(a.ino, b.ino, &a.path, &mut d);
        }
        if (old(a.mtime) || old(b.mtime)) && a.mtime != b.mtime {
            d.push(format!(
                "{}: mtime: overlay {:?} rovl {:?}",
                a.path, a.mtime, b.mtime
            ));
        }
        match (&a.listing, &b.listing) {
            (Some(x), Some(y)) => {
                let nx: Vec<_> = x.iter().map(|e| (&e.0, e.1)).collect();
                let ny: Vec<_> = y.iter().map(|e| (&e.0, e.1)).collect();
                if nx != ny {
                    d.push(format!("{}: listing: overlay {nx:?} rovl {ny:?}", a.path));
                } else {
                    for (ex, ey) in x.iter().zip(y.iter()) {
                        let child = if a.path == "." {
                            ex.0.clone()
                        } else {
                            format!("{}/{}", a.path, ex.0)
                        };
                        // overlayfs keeps a directory's listing cache across
                        // a hard link made into it when the directory is not
                        // merged (`ovl_dir_version_inc` without impurity):
                        // the new name then shows the upper d_ino, not its
                        // st_ino. rovl's d_ino is always the st_ino.
                        let stale_overlay = ex.2 != ey.2
                            && ino_o.get(child.as_str()).is_some_and(|&i| i != ex.2)
                            && ino_r.get(child.as_str()) == Some(&ey.2);
                        if !stale_overlay {
                            map(ex.2, ey.2, &format!("{child} d_ino"), &mut d);
                        }
                    }
                }
            }
            (x, y) if x != y => d.push(format!("{}: listing presence differs", a.path)),
            _ => {}
        }
        if d.len() >= max {
            break;
        }
    }
    d.truncate(max);
    d
}

/// Inode numbers of everything in the lower layers.
pub fn lower_inos(lowers: &[PathBuf]) -> HashSet<u64> {
    fn walk(p: &Path, out: &mut HashSet<u64>) {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = std::fs::symlink_metadata(p) {
            out.insert(m.ino());
            if m.is_dir() {
                if let Ok(rd) = std::fs::read_dir(p) {
                    for e in rd.flatten() {
                        walk(&e.path(), out);
                    }
                }
            }
        }
    }
    let mut out = HashSet::new();
    for l in lowers {
        walk(l, &mut out);
    }
    out
}

fn compare(o: &Path, r: &Path, t0: i64, lower: &HashSet<u64>, when: &str) -> TResult {
    let so = snapshot::snapshot(o)?;
    let sr = snapshot::snapshot(r)?;
    let d = diff_writable(&so, &sr, t0, lower, 8);
    if d.is_empty() {
        Ok(())
    } else {
        Err(Fail::Fail(format!("{when}: {}", d.join("; "))))
    }
}

/// The second of the clock the kernel stamps inodes with: the coarse
/// clock, which can lag the precise one by a tick, so an object made
/// just after a precise `now` could look older than it.
pub fn now() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_REALTIME_COARSE)");
    ts.tv_sec
}

/// `ops` random operations on fresh random layers from `seed`; compared
/// after each, in full every `every`, after a remount, and across
/// filesystems (each upper layer mounted by the other filesystem).
pub fn random_ops(t: &mut T, seed: u64, ops: usize, every: usize, extra: &str) -> TResult {
    let base = t.dir.join(format!("ops{seed}"));
    let lowers: Vec<PathBuf> = (0..2).map(|i| base.join(format!("l{i}"))).collect();
    let refs: Vec<&Path> = lowers.iter().map(|p| p.as_path()).collect();
    layers::random_tree(&mut Rng::new(seed), &refs, 2)?;
    if extra.contains("index=on") {
        layers::random_hard_links(&mut Rng::new(seed ^ 0x11), &refs)?;
    }
    let t0 = now();
    let lower = lower_inos(&lowers);
    let (o, r) = writable_pair_with(t, &base, &lowers, extra)?;
    let plan = Plan {
        seed,
        ops,
        every,
        extra,
        crafted: false,
    };
    ops_and_remounts(t, &lowers, (&o, &r), (t0, &lower), &plan)
}

/// What `ops_and_remounts` runs: `ops` operations drawn from `seed`,
/// a full comparison every `every`, mount options `extra`, and whether
/// the layers were damaged on purpose (`crafted`): then directory moves
/// need not leave redirects, and overlayfs's view may change across its
/// own remount (what it kept in memory against what the layers say).
#[derive(Clone, Copy)]
pub struct Plan<'a> {
    pub seed: u64,
    pub ops: usize,
    pub every: usize,
    pub extra: &'a str,
    pub crafted: bool,
}

/// The body of `random_ops` on mounts `o` and `r` made at `t0` over
/// `lowers` (whose objects have the numbers in `lower`): the operations,
/// the comparisons, and the remounts across filesystems.
pub fn ops_and_remounts(
    t: &mut T,
    lowers: &[PathBuf],
    (o, r): (&Side, &Side),
    (t0, lower): (i64, &HashSet<u64>),
    plan: &Plan<'_>,
) -> TResult {
    let Plan {
        seed,
        ops,
        every,
        extra,
        crafted,
    } = *plan;
    let mut rng = Rng::new(seed ^ 0x5eed);
    let mut metacopies = 0;
    let ctx =
        |i: usize, what: &str, m: String| Fail::Fail(format!("seed {seed} op {i} ({what}): {m}"));
    for i in 0..ops {
        let op = rng.below(24);
        let s = rng.next();
        let (mut r1, mut r2) = (Rng::new(s), Rng::new(s));
        let (what, ro) = apply(&o.mnt, op, &mut r1);
        // Replaying a failure: ROVL_TRACE=1 lists the operations.
        if std::env::var("ROVL_TRACE").is_ok() {
            eprintln!("op {i}: {what}");
        }
        let (_, rr) = apply(&r.mnt, op, &mut r2);
        if std::env::var("ROVL_TRACE").is_ok() {
            eprintln!("  -> {ro:?}");
        }
        // Debugging: ROVL_DUMP_AT=n lists both upper layers (and the overlay
        // xattrs of all layers) after op n.
        if std::env::var("ROVL_DUMP_AT").is_ok_and(|v| v == i.to_string()) {
            let xattrs = |p: &Path| {
                let _ = std::process::Command::new("getfattr")
                    .args(["-Rhd", "-m", "trusted.overlay", "--absolute-names"])
                    .arg(p)
                    .status();
            };
            for side in [o, r] {
                let _ = std::process::Command::new("find")
                    .arg(&side.upper)
                    .arg(&side.work)
                    .args(["-printf", "%p %y %n %s %i\n"])
                    .status();
                xattrs(&side.upper);
            }
            lowers.iter().for_each(|l| xattrs(l));
        }
        if ro != rr {
            return Err(ctx(i, &what, format!("overlay {ro:?}, rovl {rr:?}")));
        }
        if (i + 1) % every == 0 {
            compare(
                &o.mnt,
                &r.mnt,
                t0,
                lower,
                &format!("seed {seed} after op {i} ({what})"),
            )?;
            let (nr, no) = (
                count_xattr(&r.upper, "trusted.overlay.metacopy"),
                count_xattr(&o.upper, "trusted.overlay.metacopy"),
            );
            if nr != no {
                return Err(ctx(
                    i,
                    &what,
                    format!("{nr} metacopy files on rovl's upper layer, {no} on overlay's"),
                ));
            }
            metacopies += nr;
        }
    }
    compare(
        &o.mnt,
        &r.mnt,
        t0,
        lower,
        &format!("seed {seed} at the end"),
    )?;
    // Moves of lower directories must have happened (and left redirects).
    if !crafted && extra.contains("redirect_dir=on") {
        let (nr, no) = (
            count_xattr(&r.upper, "trusted.overlay.redirect"),
            count_xattr(&o.upper, "trusted.overlay.redirect"),
        );
        if nr == 0 || nr != no {
            return Err(Fail::Fail(format!(
                "seed {seed}: {nr} redirects on rovl's upper layer, {no} on overlay's"
            )));
        }
    }
    // Metadata-only copy-ups must have happened, the same on both.
    if !crafted && extra.contains("metacopy=on") && metacopies == 0 {
        return Err(Fail::Fail(format!(
            "seed {seed}: no metacopy file on the upper layers at any comparison"
        )));
    }
    let before_o = snapshot::snapshot(&o.mnt)?;
    t.umount(&o.mnt)?;
    t.umount(&r.mnt)?;
    // Remount each on its own upper layer, then on the other's.
    let mut again = Vec::new();
    for (fstype, side) in [("overlay", o), ("rovl", r), ("rovl", o), ("overlay", r)] {
        let m = t
            .mount(
                fstype,
                &format!("{}{extra}", opts(lowers, &side.upper, &side.work)),
            )
            .map_err(|e| {
                format!(
                    "seed {seed}: remount {fstype} on {}: errno {e}",
                    side.upper.display()
                )
            })?;
        let s = snapshot::snapshot(&m)?;
        t.umount(&m)?;
        again.push((fstype, side.upper.clone(), s));
    }
    // After the remount both filesystems must show the same on each upper
    // layer (what each wrote, read by the other: format compatibility),
    // and the same as the other filesystem's own upper layer.
    let d0 = diff_writable(&before_o, &again[0].2, t0, lower, 8);
    let d0 = if d0.is_empty() || extra.contains("userxattr") || crafted {
        // overlayfs itself forgets in-memory origins that `user.*` xattrs
        // cannot record (symlinks, special files) when it remounts, and
        // reads damaged layers anew.
        Vec::new()
    } else {
        d0
    };
    if !d0.is_empty() {
        return Err(Fail::Fail(format!(
            "seed {seed}: overlay's view changed across its remount: {}",
            d0.join("; ")
        )));
    }
    for (i, j) in [(0, 1), (0, 2), (1, 3)] {
        let d = diff_writable(&again[i].2, &again[j].2, t0, lower, 8);
        if !d.is_empty() {
            return Err(Fail::Fail(format!(
                "seed {seed}: after remount, {} on {} vs {} on {}: {}",
                again[i].0,
                again[i].1.display(),
                again[j].0,
                again[j].1.display(),
                d.join("; ")
            )));
        }
    }
    Ok(())
}

/// Copy-up keeps mode, owner, times, xattrs, POSIX ACLs, holes and the
/// st_ino of the lower object, for every kind of object.
pub fn copy_up_metadata(t: &mut T) -> TResult {
    let base = t.dir.join("cu");
    let l0 = base.join("l0");
    let l1 = base.join("l1");
    layers::file(&l0.join("d/f"), b"data")?;
    layers::file(&l0.join("d/sparse"), b"")?;
    std::fs::OpenOptions::new()
        .write(true)
        .open(l0.join("d/sparse"))
        .and_then(|f| {
            use std::os::unix::fs::FileExt;
            f.write_at(b"end", 4 << 20)
        })
        .map_err(|e| format!("sparse: {e}"))?;
    layers::link("f", &l0.join("d/l"))?;
    layers::fifo(&l0.join("d/p"))?;
    layers::dir(&l0.join("d/sub"))?;
    layers::dir(&l1.join("d"))?;
    layers::file(&l1.join("d/low"), b"low")?;
    for (p, mode, id) in [
        ("d", 0o2775, 1000),
        ("d/f", 0o4751, 1001),
        ("d/p", 0o640, 1002),
        ("d/sub", 0o700, 1003),
    ] {
        let q = l0.join(p);
        layers::chmod(&q, mode)?;
        P::lchown(&q, id, id + 7).map_err(|e| format!("chown {p}: {e}"))?;
        sys::setxattr(&q, "user.keep", p.as_bytes())
            .or_else(|e| if p == "d/p" { Ok(()) } else { Err(e) })
            .map_err(|e| format!("setxattr {p}: {e}"))?;
    }
    let acl = std::process::Command::new("setfacl")
        .args(["-m", "u:1234:rwx", "-m", "d:g:99:rx"])
        .arg(l0.join("d/sub"))
        .status();
    if !acl.map(|s| s.success()).unwrap_or(false) {
        return Err(Fail::Fail("setfacl on the lower layer failed".into()));
    }
    for p in ["d/f", "d/l", "d/p", "d/sub", "d", "d/sparse"] {
        P::utimes(&l0.join(p), (1_111_111, 3), (1_222_222, 7))
            .map_err(|e| format!("utimes {p}: {e}"))?;
    }
    let t0 = now();
    let lowers = vec![l0, l1];
    let lower = lower_inos(&lowers);
    let (o, r) = writable_pair(t, &base, &lowers)?;
    let before = snapshot::snapshot(&o.mnt)?;
    // Copy up each kind without changing what is compared: a private
    // xattr name set and removed again, and a zero-byte append.
    for root in [&o.mnt, &r.mnt] {
        for p in ["d/f", "d/p", "d/sub", "d/sparse"] {
            let q = root.join(p);
            if p != "d/p" {
                sys::setxattr(&q, "user.tmp", b"1").map_err(|e| format!("copy-up {p}: {e}"))?;
                P::removexattr(&q, "user.tmp").map_err(|e| format!("{p}: {e}"))?;
            } else {
                // A FIFO is copied up by chown to its own owner.
                P::lchown(&q, 1002, 1009).map_err(|e| format!("{p}: {e}"))?;
            }
        }
        P::lchown(&root.join("d/l"), 1004, 1011).map_err(|e| format!("d/l: {e}"))?;
        let _ = write_file(&root.join("d/sparse"), libc::O_APPEND, 0, b"");
    }
    for (name, side) in [("overlay", &o), ("rovl", &r)] {
        for p in ["d/f", "d/p", "d/sub", "d/sparse", "d/l", "d"] {
            if std::fs::symlink_metadata(side.upper.join(p)).is_err() {
                return Err(Fail::Fail(format!("{name}: {p} was not copied up")));
            }
        }
    }
    let after_o = snapshot::snapshot(&o.mnt)?;
    let after_r = snapshot::snapshot(&r.mnt)?;
    let mut d = diff_writable(&after_o, &after_r, t0, &lower, 8);
    // What copy-up must keep of each object (the directory's size and
    // listing order change with its upper copy; two objects got a new owner).
    let find = |v: &[Entry], p: &str| v.iter().find(|e| e.path == p).cloned();
    for p in ["d", "d/f", "d/sub", "d/sparse", "d/l", "d/p"] {
        let (Some(a), Some(b)) = (find(&before, p), find(&after_r, p)) else {
            d.push(format!("{p}: missing"));
            continue;
        };
        let owner_kept = !matches!(p, "d/l" | "d/p");
        let checks = [
            ("mode", a.mode == b.mode),
            ("st_ino", a.ino == b.ino),
            ("mtime", a.mtime == b.mtime),
            ("xattrs", a.xattrs == b.xattrs),
            ("content", a.content == b.content),
            ("target", a.target == b.target),
            ("size", p == "d" || a.size == b.size),
            ("blocks", p == "d" || a.blocks == b.blocks),
            ("owner", !owner_kept || (a.uid, a.gid) == (b.uid, b.gid)),
        ];
        for (what, ok) in checks {
            if !ok {
                d.push(format!("{p}: {what} changed on copy-up: {a:?} -> {b:?}"));
            }
        }
    }
    if d.is_empty() {
        Ok(())
    } else {
        Err(Fail::Fail(d.join("; ")))
    }
}

/// Many threads open the same lower files for appending at once: each file
/// is copied up once, with the lower data, and gets every thread's line.
/// Then with `index=on`, half the threads appending through a second name
/// (a lower hard link), and with `metacopy=on`, half changing the mode
/// first (a metadata copy-up racing the data's).
pub fn concurrent_copy_up(t: &mut T) -> TResult {
    concurrent_round(t, "cc", "", 24, false, false)?;
    // Many files: a lookup of one name while another is copied up is rare.
    concurrent_round(t, "cc-index", ",index=on", 150, true, false)?;
    concurrent_round(t, "cc-meta", ",metacopy=on", 24, false, true)?;
    truncating_data_copy_ups(t)
}

/// With `metacopy=on`, a metacopy file opened for writing by one thread and
/// with `O_TRUNC` (then written) by another at once: the data is copied up
/// once, before the truncation, never over what was written after it.
fn truncating_data_copy_ups(t: &mut T) -> TResult {
    let base = t.dir.join("cc-trunc");
    let (l0, upper, work) = (base.join("l0"), base.join("u"), base.join("w"));
    const FILES: usize = 12;
    for i in 0..FILES {
        layers::file(&l0.join(format!("f{i}")), &vec![b'l'; 4 << 20])?;
    }
    layers::dir(&base.join("l1"))?;
    layers::dir(&upper)?;
    layers::dir(&work)?;
    let m = t
        .mount(
            "rovl",
            &format!(
                "{},metacopy=on",
                opts(&[l0, base.join("l1")], &upper, &work)
            ),
        )
        .map_err(|e| format!("mount: errno {e}"))?;
    for i in 0..FILES {
        let p = m.join(format!("f{i}"));
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o640))
            .map_err(|e| format!("chmod f{i}: {e}"))?;
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| sys::open(&p, libc::O_WRONLY).map(sys::close));
            let b = s.spawn(|| write_file(&p, libc::O_TRUNC, 0, b"new"));
            (a.join(), b.join())
        });
        if !matches!((&a, &b), (Ok(Ok(())), Ok(Ok(_)))) {
            return Err(Fail::Fail(format!(
                "f{i}: open {a:?}, truncating write {b:?}"
            )));
        }
        let data = std::fs::read(&p).map_err(|e| format!("read f{i}: {e}"))?;
        if data != b"new" {
            return Err(Fail::Fail(format!(
                "f{i}: {} bytes after the truncating write, not its 3",
                data.len()
            )));
        }
    }
    Ok(())
}

fn concurrent_round(
    t: &mut T,
    dir: &str,
    extra: &str,
    files: usize,
    links: bool,
    meta: bool,
) -> TResult {
    use std::os::unix::fs::MetadataExt;
    let base = t.dir.join(dir);
    let l0 = base.join("l0");
    let l1 = base.join("l1");
    const THREADS: usize = 8;
    // Longer data copies with metacopy, for them to overlap.
    let lines = if meta { 20_000 } else { 200 };
    let name = |i: usize| format!("d{}/f{i}", i % 3);
    for i in 0..files {
        layers::file(
            &l0.join(name(i)),
            format!("lower {i}\n").repeat(lines).as_bytes(),
        )?;
        if links {
            layers::dir(&l0.join("h"))?;
            std::fs::hard_link(l0.join(name(i)), l0.join(format!("h/f{i}")))
                .map_err(|e| format!("link: {e}"))?;
        }
    }
    layers::dir(&l1)?;
    let upper = base.join("u");
    let work = base.join("w");
    layers::dir(&upper)?;
    layers::dir(&work)?;
    let m = t
        .mount(
            "rovl",
            &format!("{}{extra}", opts(&[l0.clone(), l1], &upper, &work)),
        )
        .map_err(|e| format!("mount{extra}: errno {e}"))?;
    let errors = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for th in 0..THREADS {
            let m = m.clone();
            let errors = &errors;
            s.spawn(move || {
                for k in 0..files {
                    // With metacopy: all threads on one file at a time, so
                    // that data copy-ups of one file meet.
                    let i = if meta { k } else { (k + th * 5) % files };
                    let p = if links && th % 2 == 1 {
                        m.join(format!("h/f{i}"))
                    } else {
                        m.join(name(i))
                    };
                    if meta && th % 2 == 0 {
                        let _ = std::fs::set_permissions(
                            &p,
                            std::os::unix::fs::PermissionsExt::from_mode(0o640),
                        );
                    }
                    if let Err(e) =
                        write_file(&p, libc::O_APPEND, 0, format!("thread {th}\n").as_bytes())
                    {
                        errors
                            .lock()
                            .unwrap()
                            .push(format!("{}: errno {e}", p.display()));
                    }
                }
            });
        }
    });
    let errors = errors.into_inner().unwrap();
    if !errors.is_empty() {
        return Err(Fail::Fail(format!(
            "{} appends failed{extra}: {errors:?}",
            errors.len()
        )));
    }
    for i in 0..files {
        let data = std::fs::read(m.join(name(i))).map_err(|e| format!("read f{i}{extra}: {e}"))?;
        let text = String::from_utf8_lossy(&data);
        let lower = format!("lower {i}\n").repeat(lines);
        if !text.starts_with(&lower) {
            return Err(Fail::Fail(format!(
                "f{i}{extra}: lower data lost or changed"
            )));
        }
        for th in 0..THREADS {
            let n = text.matches(&format!("thread {th}\n")).count();
            if n != 1 {
                return Err(Fail::Fail(format!(
                    "f{i}{extra}: thread {th}'s line is there {n} times: {:?}",
                    &text[lower.len()..]
                )));
            }
        }
        let up = upper.join(name(i));
        if !up.exists() {
            return Err(Fail::Fail(format!("f{i}{extra} not on the upper layer")));
        }
        if links {
            let other = std::fs::read(m.join(format!("h/f{i}")))
                .map_err(|e| format!("read h/f{i}{extra}: {e}"))?;
            let ino = |p: &Path| std::fs::metadata(p).map(|m| (m.ino(), m.nlink())).ok();
            let (a, b) = (ino(&up), ino(&upper.join(format!("h/f{i}"))));
            // Both names on the upper layer, one inode with the index entry.
            if other != data || a.is_none() || a != b || a.is_some_and(|(_, n)| n != 3) {
                return Err(Fail::Fail(format!(
                    "f{i}{extra}: names differ or are not linked on the upper layer: {a:?} {b:?}"
                )));
            }
        }
        if meta && count_xattr(&up, "trusted.overlay.metacopy") != 0 {
            return Err(Fail::Fail(format!(
                "f{i}{extra}: still metacopy after writes"
            )));
        }
    }
    let left: Vec<_> = ["work", "index"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(work.join(d))
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|e| e.file_name().to_string_lossy().starts_with('#'))
        .collect();
    if !left.is_empty() {
        return Err(Fail::Fail(format!(
            "{} temporary objects left in the workdir{extra}",
            left.len()
        )));
    }
    Ok(())
}

/// Mount option checks of writable mounts, /proc/mounts, and remounts.
pub fn writable_mount_options(t: &mut T) -> TResult {
    let base = t.dir.join("mo");
    let l0 = base.join("l0");
    layers::file(&l0.join("f"), b"f")?;
    let (u, w) = (base.join("u"), base.join("w"));
    layers::dir(&u)?;
    layers::dir(&w)?;
    let l = l0.display().to_string();
    let bad = [
        format!("lowerdir={l},upperdir={}", u.display()),
        format!(
            "lowerdir={l},upperdir={},workdir={}",
            u.display(),
            u.join("sub").display()
        ),
        format!(
            "lowerdir={l},upperdir={},workdir={}",
            u.display(),
            u.display()
        ),
        format!(
            "lowerdir={l},upperdir={},workdir={}",
            u.display(),
            base.join("missing").display()
        ),
    ];
    layers::dir(&u.join("sub"))?;
    for o in bad.iter() {
        let a = t.mount("overlay", o).map(|_| ());
        let b = t.mount("rovl", o).map(|_| ());
        if a != b {
            return Err(Fail::Fail(format!(
                "mount -o {o}: overlay {a:?}, rovl {b:?}"
            )));
        }
    }
    std::fs::remove_dir(u.join("sub")).map_err(|e| format!("{e}"))?;
    let mut lines = Vec::new();
    for fstype in ["overlay", "rovl"] {
        let (u, w) = side_dirs(&base, fstype)?;
        let m = t
            .mount(fstype, &opts(&[l0.clone()], &u, &w))
            .map_err(|e| format!("{fstype}: {e}"))?;
        let mounts = std::fs::read_to_string("/proc/mounts").map_err(|e| format!("{e}"))?;
        let line = mounts
            .lines()
            .find(|x| x.contains(&*m.to_string_lossy()))
            .and_then(|x| x.split(' ').nth(3))
            .unwrap_or("")
            .replace(&format!("u-{fstype}"), "u-X")
            .replace(&format!("w-{fstype}"), "w-X");
        lines.push(line);
        // ro and back to rw.
        for flags in [libc::MS_REMOUNT | libc::MS_RDONLY, libc::MS_REMOUNT] {
            sys::mount(fstype, &m, "", flags)
                .map_err(|e| format!("{fstype} remount {flags:#x}: errno {e}"))?;
        }
        write_file(&m.join("g"), libc::O_CREAT, 0, b"g")
            .map_err(|e| format!("{fstype}: write after rw remount: errno {e}"))?;
        t.umount(&m)?;
    }
    if lines[0] != lines[1] {
        return Err(Fail::Fail(format!(
            "/proc/mounts: overlay {:?}, rovl {:?}",
            lines[0], lines[1]
        )));
    }
    Ok(())
}

/// Append-only and immutable lower files stay so through the mount, before
/// and after copy-up, and after a remount (the `protattr` xattr).
pub fn protected_files(t: &mut T) -> TResult {
    let base = t.dir.join("prot");
    let (l0, l1) = (base.join("l0"), base.join("l1"));
    layers::file(&l0.join("ap"), b"append only\n")?;
    layers::file(&l0.join("im"), b"immutable\n")?;
    layers::dir(&l1)?;
    let chattr = |flags: &str, p: &Path| {
        std::process::Command::new("chattr")
            .arg(flags)
            .arg(p)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !chattr("+a", &l0.join("ap")) || !chattr("+i", &l0.join("im")) {
        return Err(Fail::Skip(
            "chattr +a/+i unsupported on the lower tmpfs".into(),
        ));
    }
    let lowers = vec![l0.clone(), l1];
    let r = (|| -> TResult {
        let (o, r) = writable_pair(t, &base, &lowers)?;
        // The first probe appends; later ones must not change the data.
        let probe = |root: &Path, first: bool| -> Vec<(String, Result<Out, Errno>)> {
            let append = if first { &b"more\n"[..] } else { &b""[..] };
            vec![
                ("write ap".into(), write_file(&root.join("ap"), 0, 0, b"x")),
                (
                    "append ap".into(),
                    write_file(&root.join("ap"), libc::O_APPEND, 0, append),
                ),
                ("unlink ap".into(), unit(P::unlink(&root.join("ap")))),
                (
                    "write im".into(),
                    write_file(&root.join("im"), libc::O_APPEND, 0, b"x"),
                ),
                ("chmod im".into(), unit(P::chmod(&root.join("im"), 0o600))),
                (
                    "rename im".into(),
                    unit(P::rename(&root.join("im"), &root.join("im2"), 0)),
                ),
                ("unlink im".into(), unit(P::unlink(&root.join("im")))),
                (
                    "read ap".into(),
                    read_nonblock(&root.join("ap")).map(Out::Data),
                ),
            ]
        };
        let (a, b) = (probe(&o.mnt, true), probe(&r.mnt, true));
        if a != b {
            return Err(Fail::Fail(format!("overlay {a:?}, rovl {b:?}")));
        }
        // The append copied `ap` up: its flag must survive a remount.
        if !r.upper.join("ap").exists() {
            return Err(Fail::Fail("append did not copy ap up".into()));
        }
        for side in [&o, &r] {
            t.umount(&side.mnt)?;
        }
        for (fstype, side) in [("overlay", &o), ("rovl", &r), ("overlay", &r), ("rovl", &o)] {
            let m = t
                .mount(fstype, &opts(&lowers, &side.upper, &side.work))
                .map_err(|e| format!("remount {fstype}: errno {e}"))?;
            let got = probe(&m, false);
            t.umount(&m)?;
            let expect: Vec<_> = a
                .iter()
                .map(|(k, v)| match k.as_str() {
                    "append ap" => (k.clone(), Ok(Out::Num(0))),
                    _ => (k.clone(), v.clone()),
                })
                .collect();
            if got != expect {
                return Err(Fail::Fail(format!(
                    "{fstype} remounted on {}: {got:?}, expected {expect:?}",
                    side.upper.display()
                )));
            }
        }
        Ok(())
    })();
    chattr("-a", &l0.join("ap"));
    chattr("-i", &l0.join("im"));
    r
}

/// `O_TMPFILE` in a lower directory (copied up first) and in the root,
/// linked to a name, as on overlay; unlinked ones leave nothing behind.
pub fn tmpfile(t: &mut T) -> TResult {
    let base = t.dir.join("tmpf");
    let (l0, l1) = (base.join("l0"), base.join("l1"));
    layers::file(&l0.join("d/old"), b"old")?;
    layers::dir(&l1)?;
    let lowers = vec![l0, l1];
    let t0 = now();
    let lower = lower_inos(&lowers);
    let (o, r) = writable_pair(t, &base, &lowers)?;
    for root in [&o.mnt, &r.mnt] {
        P::tmpfile_link(&root.join("d"), b"first", &root.join("d/new"))
            .map_err(|e| format!("{}: tmpfile in d: errno {e}", root.display()))?;
        P::tmpfile_link(root, b"second", &root.join("top"))
            .map_err(|e| format!("{}: tmpfile in /: errno {e}", root.display()))?;
        // Never linked: gone on close.
        let fd = sys::open(root, libc::O_TMPFILE | libc::O_RDWR)
            .map_err(|e| format!("O_TMPFILE: errno {e}"))?;
        sys::close(fd);
    }
    if std::fs::read(r.mnt.join("d/new")).ok().as_deref() != Some(&b"first"[..]) {
        return Err(Fail::Fail(
            "rovl: d/new does not hold the data written".into(),
        ));
    }
    compare(&o.mnt, &r.mnt, t0, &lower, "after O_TMPFILE")?;
    let left = std::fs::read_dir(r.work.join("work"))
        .map_err(|e| format!("{e}"))?
        .count();
    if left != 0 {
        return Err(Fail::Fail(format!("{left} objects left in work/")));
    }
    Ok(())
}

/// Path walks as another user through directories whose mode a chmod
/// through the mount changes (a copy-up), each walk repeated, compared with
/// overlay. The walks start in the mount, so the repeated ones find every
/// dentry cached and run in RCU mode, where rovl checks its inode and the
/// real inode it published at the last change, without its node.
pub fn permission_walk_after_copy_up(t: &mut T) -> TResult {
    let base = t.dir.join("pwalk");
    let l0 = base.join("l0");
    layers::file(&l0.join("shut/d/f"), b"f")?;
    layers::file(&l0.join("open/d/f"), b"f")?;
    layers::file(&l0.join("file"), b"x")?;
    layers::chmod(&l0, 0o755)?;
    layers::chmod(&l0.join("shut"), 0o700)?;
    layers::chmod(&l0.join("open"), 0o755)?;
    layers::chmod(&l0.join("file"), 0o600)?;
    let lowers = vec![l0];
    let (o, r) = writable_pair(t, &base, &lowers)?;
    // Relative to the mount: a walk from / starts on the guest's 9p root,
    // whose revalidation ends RCU mode before it reaches the mount.
    let walk = |m: &Path, rel: &str| {
        let (m, p) = (m.to_path_buf(), rel.to_string());
        sys::as_user(1000, 1000, move || {
            if std::env::set_current_dir(&m).is_err() {
                return 255;
            }
            let mut last = 0;
            for _ in 0..3 {
                last = match std::fs::read(&p) {
                    Ok(_) => 0,
                    Err(e) => sys::errno_of(&e),
                };
            }
            last
        })
    };
    let check = |when: &str, want: [(&str, i32); 3]| -> TResult {
        for (rel, errno) in want {
            let (eo, er) = (walk(&o.mnt, rel), walk(&r.mnt, rel));
            if eo != errno || er != errno {
                return Err(Fail::Fail(format!(
                    "{when}: read {rel} as uid 1000: overlay errno {eo}, rovl errno {er}, \
                     expected {errno}"
                )));
            }
        }
        Ok(())
    };
    let files = ["shut/d/f", "open/d/f", "file"];
    let with = |e: [i32; 3]| [(files[0], e[0]), (files[1], e[1]), (files[2], e[2])];
    check("before copy-up", with([libc::EACCES, 0, libc::EACCES]))?;
    for m in [&o.mnt, &r.mnt] {
        layers::chmod(&m.join("shut"), 0o755)?;
        layers::chmod(&m.join("open"), 0o700)?;
        layers::chmod(&m.join("file"), 0o644)?;
    }
    check("after chmod (copy-up)", with([0, libc::EACCES, 0]))?;
    for m in [&o.mnt, &r.mnt] {
        layers::chmod(&m.join("shut"), 0o700)?;
        layers::chmod(&m.join("open"), 0o755)?;
    }
    check("after a second chmod", with([libc::EACCES, 0, 0]))
}

/// An upper or work directory already used by a mount of either
/// filesystem earns the other a warning (both use overlayfs's in-use
/// mark), and the mark goes with the mount.
pub fn upper_in_use(t: &mut T) -> TResult {
    let base = t.dir.join("inuse");
    let (l0, l1) = (base.join("l0"), base.join("l1"));
    layers::file(&l0.join("f"), b"f")?;
    layers::dir(&l1)?;
    let lowers = vec![l0, l1];
    let (u, w1, w2) = (base.join("u"), base.join("w1"), base.join("w2"));
    for d in [&u, &w1, &w2] {
        layers::dir(d)?;
    }
    let mut kmsg = crate::Kmsg::open().ok_or_else(|| Fail::Skip("no /dev/kmsg".into()))?;
    let mut warned = |prefix: &str| {
        kmsg.lines()
            .iter()
            .any(|l| l.starts_with(prefix) && l.contains("upperdir is in-use"))
    };
    for (first, second) in [("overlay", "rovl"), ("rovl", "overlay")] {
        let a = t
            .mount(first, &opts(&lowers, &u, &w1))
            .map_err(|e| format!("{first}: errno {e}"))?;
        if warned("") {
            return Err(Fail::Fail(format!(
                "{first}: in-use warning on a free upperdir"
            )));
        }
        let b = t
            .mount(second, &opts(&lowers, &u, &w2))
            .map_err(|e| format!("{second} over {first}'s upperdir: errno {e}"))?;
        let tag = if second == "overlay" {
            "overlayfs:"
        } else {
            "rovl:"
        };
        if !warned(tag) {
            return Err(Fail::Fail(format!(
                "{second} did not warn about {first}'s upperdir"
            )));
        }
        t.umount(&b)?;
        t.umount(&a)?;
    }
    // Released at unmount: no warning now.
    let m = t
        .mount("rovl", &opts(&lowers, &u, &w1))
        .map_err(|e| format!("rovl: errno {e}"))?;
    if warned("") {
        return Err(Fail::Fail("the in-use mark outlived its mount".into()));
    }
    t.umount(&m)?;
    Ok(())
}

/// A volatile mount marks its workdir (`work/incompat/volatile/dirty`), and
/// no later mount, of either filesystem, accepts that workdir.
pub fn volatile_mount(t: &mut T) -> TResult {
    let base = t.dir.join("vol");
    let (l0, l1) = (base.join("l0"), base.join("l1"));
    layers::file(&l0.join("f"), b"f")?;
    layers::dir(&l1)?;
    let lowers = vec![l0, l1];
    let mut shown = Vec::new();
    let mut sides = Vec::new();
    for fstype in ["overlay", "rovl"] {
        let (u, w) = side_dirs(&base, fstype)?;
        let o = format!("{},volatile", opts(&lowers, &u, &w));
        let m = t
            .mount(fstype, &o)
            .map_err(|e| format!("{fstype}: errno {e}"))?;
        write_file(&m.join("f"), libc::O_APPEND, 0, b"more")
            .map_err(|e| format!("{fstype}: write: errno {e}"))?;
        let mounts = std::fs::read_to_string("/proc/mounts").map_err(|e| format!("{e}"))?;
        shown.push(
            mounts
                .lines()
                .find(|x| x.contains(&*m.to_string_lossy()))
                .and_then(|x| x.split(' ').nth(3))
                .unwrap_or("")
                .replace(&format!("-{fstype}"), "-X"),
        );
        t.umount(&m)?;
        if !w.join("work/incompat/volatile/dirty").exists() {
            return Err(Fail::Fail(format!(
                "{fstype}: no volatile marker in the workdir"
            )));
        }
        sides.push((u, w));
    }
    if shown[0] != shown[1] {
        return Err(Fail::Fail(format!(
            "/proc/mounts: overlay {:?}, rovl {:?}",
            shown[0], shown[1]
        )));
    }
    for (u, w) in sides.iter() {
        for fstype in ["overlay", "rovl"] {
            let r = t.mount(fstype, &opts(&lowers, u, w)).map(|_| ());
            if r != Err(libc::EINVAL) {
                return Err(Fail::Fail(format!(
                    "{fstype} on the volatile workdir {}: {r:?}, expected EINVAL",
                    w.display()
                )));
            }
        }
    }
    Ok(())
}

/// How many objects below `p` carry xattr `name`.
fn count_xattr(p: &Path, name: &str) -> usize {
    let mut n = usize::from(sys::getxattr(p, name).is_ok());
    if std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                n += count_xattr(&e.path(), name);
            }
        }
    }
    n
}

/// Everything in the index directory of `work` but overlayfs's shared
/// whiteout (`#<n>`): names, with link counts and sizes.
fn index_entries(work: &Path) -> Vec<(String, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut v: Vec<_> = std::fs::read_dir(work.join("index"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('#'))
                .filter_map(|e| {
                    let m = e.metadata().ok()?;
                    Some((
                        e.file_name().to_string_lossy().into_owned(),
                        m.nlink(),
                        m.size(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `index=on`: a lower file with three names stays one file with three
/// links through copy-up, link and unlink, on both filesystems alike; the
/// index entries are named, counted and cleaned up as overlayfs does, and
/// each filesystem mounts the other's upper layer and index. A mount
/// checks the layers it was made with: another lower layer, a second user
/// of the upper layer or a foreign entry in the index fail it.
pub fn index_hard_links(t: &mut T) -> TResult {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let base = t.dir.join("ix");
    let (l0, l1) = (base.join("l0"), base.join("l1"));
    layers::file(&l0.join("d/a"), b"lower data\n")?;
    for p in ["d/b", "e/c"] {
        layers::dir(l0.join(p).parent().unwrap())?;
        std::fs::hard_link(l0.join("d/a"), l0.join(p)).map_err(|e| format!("link: {e}"))?;
    }
    layers::file(&l0.join("p/h1"), b"one\n")?;
    std::fs::hard_link(l0.join("p/h1"), l0.join("p/h2")).map_err(|e| format!("link: {e}"))?;
    layers::dir(&l1.join("d"))?;
    let lowers = vec![l0.clone(), l1];
    let lower_ino = std::fs::metadata(l0.join("d/a"))
        .map_err(|e| format!("{e}"))?
        .ino();
    let (o, r) = writable_pair_with(t, &base, &lowers, ",index=on")?;
    let names = ["d/a", "d/b", "e/c", "e/new"];
    // Link count, st_ino and data of each name, as one line.
    let look = |root: &Path| -> String {
        names
            .iter()
            .map(|n| match std::fs::symlink_metadata(root.join(n)) {
                Ok(m) => format!(
                    "{n}:{}:{}:{:?}",
                    m.nlink(),
                    m.ino() == lower_ino,
                    std::fs::read(root.join(n)).map(|d| d.len())
                ),
                Err(e) => format!("{n}:{:?}", e.raw_os_error()),
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut steps: Vec<(&str, String, String)> = Vec::new();
    let mut step = |what: &'static str, f: &dyn Fn(&Path) -> String| {
        let (a, b) = (f(&o.mnt), f(&r.mnt));
        steps.push((what, a, b));
    };
    step("before", &|m| look(m));
    step("append through one name", &|m| {
        let r = write_file(&m.join("d/a"), libc::O_APPEND, 0, b"more\n");
        format!("{r:?} {}", look(m))
    });
    step("other names see the data", &|m| {
        format!(
            "{:?}",
            std::fs::read(m.join("e/c")).map(|d| d.ends_with(b"more\n"))
        )
    });
    step("xattr through a name with no upper alias", &|m| {
        format!(
            "{:?} {}",
            sys::setxattr(&m.join("e/c"), "user.x", b"1"),
            look(m)
        )
    });
    step("link", &|m| {
        format!(
            "{:?} {}",
            P::link(&m.join("d/b"), &m.join("e/new")),
            look(m)
        )
    });
    step("unlink two names", &|m| {
        let a = P::unlink(&m.join("d/a"));
        let b = P::unlink(&m.join("e/c"));
        format!("{a:?} {b:?} {}", look(m))
    });
    let mid: Vec<_> = [&o, &r].iter().map(|s| index_entries(&s.work)).collect();
    step("unlink the rest", &|m| {
        let a = P::unlink(&m.join("e/new"));
        let b = P::unlink(&m.join("d/b"));
        format!("{a:?} {b:?} {}", look(m))
    });
    let mut d: Vec<String> = steps
        .iter()
        .filter(|(_, a, b)| a != b)
        .map(|(w, a, b)| format!("{w}: overlay {a} rovl {b}"))
        .collect();
    // One index entry with three links (itself, d/b's upper alias and
    // e/new), then none.
    let end: Vec<_> = [&o, &r].iter().map(|s| index_entries(&s.work)).collect();
    for (i, fs) in ["overlay", "rovl"].iter().enumerate() {
        if mid[i].len() != 1 || mid[i][0].1 != 3 {
            d.push(format!(
                "{fs}: index while two names are left: {:?}",
                mid[i]
            ));
        }
        if !end[i].is_empty() {
            d.push(format!("{fs}: index after the last unlink: {:?}", end[i]));
        }
    }
    let whiteout = |s: &Side| {
        std::fs::symlink_metadata(s.upper.join("e/c"))
            .is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == 0)
    };
    if !whiteout(&o) || !whiteout(&r) {
        d.push("e/c: no whiteout on an upper layer".into());
    }
    if !d.is_empty() {
        return Err(Fail::Fail(d.join("; ")));
    }
    // A second pass builds an index that stays, then each filesystem
    // mounts the other's.
    for s in [&o, &r] {
        write_file(&s.mnt.join("d/x"), libc::O_CREAT, 0, b"x")
            .map_err(|e| format!("create: errno {e}"))?;
    }
    t.umount(&o.mnt)?;
    t.umount(&r.mnt)?;
    Ok(index_remounts(t, &lowers, &o, &r)?)
}

fn index_remounts(t: &mut T, lowers: &[PathBuf], o: &Side, r: &Side) -> TResult {
    use std::os::unix::fs::MetadataExt;
    // Fresh links through the index on each side's upper layer.
    let mut views = Vec::new();
    for (fstype, side) in [("overlay", o), ("rovl", r)] {
        let m = t
            .mount(
                fstype,
                &format!("{},index=on", opts(lowers, &side.upper, &side.work)),
            )
            .map_err(|e| format!("remount {fstype}: errno {e}"))?;
        // Another lower file with two names gets a third.
        write_file(&m.join("p/h1"), libc::O_APPEND, 0, b"two\n")
            .map_err(|e| format!("{fstype}: append: errno {e}"))?;
        P::link(&m.join("p/h2"), &m.join("e/two"))
            .map_err(|e| format!("{fstype}: link: errno {e}"))?;
        // A second mount of a used upper layer fails with the index.
        let busy = t.mount(
            fstype,
            &format!("{},index=on", opts(lowers, &side.upper, &side.work)),
        );
        if busy.as_ref().err() != Some(&libc::EBUSY) {
            return Err(Fail::Fail(format!(
                "{fstype}: second mount of an upper layer in use: {busy:?}"
            )));
        }
        t.umount(&m)?;
    }
    for (fstype, side) in [("overlay", r), ("rovl", o), ("overlay", o), ("rovl", r)] {
        let m = t
            .mount(
                fstype,
                &format!("{},index=on", opts(lowers, &side.upper, &side.work)),
            )
            .map_err(|e| format!("{fstype} on {}: errno {e}", side.upper.display()))?;
        let two = std::fs::metadata(m.join("e/two")).map(|s| (s.nlink(), s.ino()));
        let one = std::fs::read(m.join("p/h2"));
        views.push((fstype, side.upper.clone(), format!("{one:?} {two:?}")));
        t.umount(&m)?;
    }
    if views.iter().any(|v| v.2 != views[0].2) {
        return Err(Fail::Fail(format!("views of the index differ: {views:?}")));
    }
    // Leftovers of interrupted operations and entries that name another
    // file are removed at mount; a name that is no file handle fails it.
    for (fstype, side) in [("overlay", o), ("rovl", r)] {
        let ix = side.work.join("index");
        let real = index_entries(&side.work);
        let Some((name, _, _)) = real.first() else {
            return Err(Fail::Fail(format!("{fstype}: no index entry to copy")));
        };
        // Another file handle: the first digit of the file id changed.
        let mut stale = name.clone().into_bytes();
        stale[42] = if stale[42] == b'f' { b'e' } else { b'f' };
        let stale = String::from_utf8(stale).unwrap();
        std::fs::hard_link(ix.join(name), ix.join(&stale)).map_err(|e| format!("{e}"))?;
        layers::file(&ix.join("#7777"), b"temp")?;
        let m = t
            .mount(
                fstype,
                &format!("{},index=on", opts(lowers, &side.upper, &side.work)),
            )
            .map_err(|e| format!("{fstype} with stale entries: errno {e}"))?;
        t.umount(&m)?;
        let left = index_entries(&side.work);
        if left
            != real
                .iter()
                .map(|e| (e.0.clone(), e.1, e.2))
                .collect::<Vec<_>>()
            || ix.join("#7777").exists()
        {
            return Err(Fail::Fail(format!(
                "{fstype}: index after the mount cleaned it: {left:?}, was {real:?}"
            )));
        }
        layers::file(&ix.join("garbage"), b"")?;
        let bad = t.mount(
            fstype,
            &format!("{},index=on", opts(lowers, &side.upper, &side.work)),
        );
        std::fs::remove_file(ix.join("garbage")).map_err(|e| format!("{e}"))?;
        if bad.as_ref().err() != Some(&libc::EINVAL) {
            return Err(Fail::Fail(format!(
                "{fstype}: mount with a foreign index entry: {bad:?}"
            )));
        }
        // The upper root was made over these lower layers.
        let other: Vec<PathBuf> = lowers.iter().rev().cloned().collect();
        let wrong = t.mount(
            fstype,
            &format!("{},index=on", opts(&other, &side.upper, &side.work)),
        );
        if wrong.as_ref().err() != Some(&libc::ESTALE) {
            return Err(Fail::Fail(format!(
                "{fstype}: mount over other lower layers: {wrong:?}"
            )));
        }
    }
    Ok(())
}

/// Runs a command, its output or why it failed.
fn run(cmd: &str, args: &[&str], p: &Path) -> Result<String, Fail> {
    let out = std::process::Command::new(cmd)
        .args(args)
        .arg(p)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(Fail::Fail(format!(
            "{cmd} {args:?} {}: {}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Copy-up gives the copy the lower file's `noatime` flag (chattr +A) as
/// overlayfs does; append-only and immutable are covered by
/// `protected_files`.
pub fn copy_up_inode_flags(t: &mut T) -> TResult {
    let base = t.dir.join("cuf");
    let (l0, l1) = (base.join("l0"), base.join("l1"));
    layers::file(&l0.join("f"), b"data")?;
    layers::file(&l0.join("g"), b"data")?;
    layers::dir(&l1)?;
    run("chattr", &["+A"], &l0.join("f"))?;
    let lowers = vec![l0, l1];
    let (o, r) = writable_pair(t, &base, &lowers)?;
    let mut flags = Vec::new();
    for s in [&o, &r] {
        for n in ["f", "g"] {
            P::lchown(&s.mnt.join(n), 0, 0).map_err(|e| format!("chown {n}: errno {e}"))?;
            let out = run("lsattr", &["-d"], &s.upper.join(n))?;
            flags.push(out.split_whitespace().next().unwrap_or("").to_string());
        }
    }
    if flags[..2] != flags[2..] || !flags[0].contains('A') || flags[1].contains('A') {
        return Err(Fail::Fail(format!(
            "flags of the copies f, g: overlay {:?} rovl {:?}",
            &flags[..2],
            &flags[2..]
        )));
    }
    Ok(())
}

/// A file or directory made where a lower one was removed (over a
/// whiteout) gets its mode and ACLs from the directory's default ACL,
/// or the umask without one, as on overlayfs.
pub fn create_over_whiteout_acl(t: &mut T) -> TResult {
    let base = t.dir.join("cwa");
    let (l0, l1) = (base.join("l0"), base.join("l1"));
    for d in ["acl", "plain"] {
        layers::file(&l0.join(d).join("x"), b"x")?;
        layers::dir(&l0.join(d).join("sub"))?;
    }
    layers::dir(&l1)?;
    run(
        "setfacl",
        &["-d", "-m", "u:1234:rwx", "-m", "g:99:rx"],
        &l0.join("acl"),
    )?;
    let lowers = vec![l0, l1];
    let (o, r) = writable_pair(t, &base, &lowers)?;
    // SAFETY: umask(2) only sets the process's file mode creation mask.
    let old = unsafe { libc::umask(0o027) };
    let mut seen = Vec::new();
    let r1 = (|| -> Result<(), Fail> {
        for s in [&o, &r] {
            let mut v = Vec::new();
            for d in ["acl", "plain"] {
                let dir = s.mnt.join(d);
                P::unlink(&dir.join("x")).map_err(|e| format!("unlink: errno {e}"))?;
                P::rmdir(&dir.join("sub")).map_err(|e| format!("rmdir: errno {e}"))?;
                write_file(&dir.join("x"), libc::O_CREAT | libc::O_EXCL, 0, b"new")
                    .map_err(|e| format!("create: errno {e}"))?;
                P::mkdir(&dir.join("sub"), 0o777).map_err(|e| format!("mkdir: errno {e}"))?;
                for n in ["x", "sub"] {
                    let acl = run("getfacl", &["-cp"], &dir.join(n))?;
                    v.push(format!("{d}/{n}: {}", acl.replace('\n', " ")));
                }
            }
            seen.push(v);
        }
        Ok(())
    })();
    // SAFETY: As above.
    unsafe { libc::umask(old) };
    r1?;
    if seen[0] != seen[1] {
        return Err(Fail::Fail(format!(
            "overlay {:?} rovl {:?}",
            seen[0], seen[1]
        )));
    }
    // The default ACL must have been inherited at all.
    if !seen[1].iter().any(|l| l.contains("user:1234:rwx")) {
        return Err(Fail::Fail(format!("no ACL inherited: {:?}", seen[1])));
    }
    Ok(())
}

/// An upper layer on a filesystem without what overlayfs wants of it (9p:
/// no `RENAME_WHITEOUT`, no `O_TMPFILE`, no xattrs): both filesystems
/// report the same missing features and mount it, or refuse a remote one,
/// alike.
pub fn upper_features(t: &mut T) -> TResult {
    let mounts = std::fs::read_to_string("/proc/mounts").map_err(|e| format!("{e}"))?;
    let Some(share) = mounts.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 3 && f[2] == "9p" && f[3].split(',').any(|o| o == "rw"))
            .then(|| f[1].to_string())
    }) else {
        return Err(Fail::Skip("no writable 9p mount in this VM".into()));
    };
    let base = t.dir.join("feat");
    let (l0, l1) = (base.join("l0"), base.join("l1"));
    layers::file(&l0.join("f"), b"f")?;
    layers::dir(&l1)?;
    let lowers = vec![l0, l1];
    let remote = Path::new(&share).join(format!("rovl-feat-{}", std::process::id()));
    let mut kmsg = crate::Kmsg::open().ok_or_else(|| Fail::Skip("no /dev/kmsg".into()))?;
    let mut seen = Vec::new();
    for fstype in ["overlay", "rovl"] {
        let (u, w) = side_dirs(&remote, fstype)?;
        let _ = kmsg.lines();
        let r = t.mount(fstype, &opts(&lowers, &u, &w));
        if let Ok(m) = &r {
            t.umount(m)?;
        }
        let tag = if fstype == "overlay" {
            "overlayfs: "
        } else {
            "rovl: "
        };
        let msgs: Vec<String> = kmsg
            .lines()
            .iter()
            .filter_map(|l| l.strip_prefix(tag).map(str::to_string))
            .filter(|l| {
                l.contains("d_type")
                    || l.contains("tmpfile")
                    || l.contains("RENAME_WHITEOUT")
                    || l.contains("missing required features")
                    || l.contains("xattr")
            })
            .collect();
        seen.push((r.err(), msgs));
    }
    let _ = std::fs::remove_dir_all(&remote);
    // Both mount it alike: without xattrs on it (as on 9p here) with
    // overlayfs's fewer features (`noxattr`).
    if seen[0] != seen[1] || seen[1].1.iter().all(|l| l.contains("xattr")) {
        return Err(Fail::Fail(format!(
            "overlay {:?}, rovl {:?}",
            seen[0], seen[1]
        )));
    }
    Ok(())
}

/// fsync(2) and fdatasync(2) on lower and upper files and directories,
/// opened read-only or read-write, on a normal and a volatile mount: the
/// same results as overlayfs (they succeed; nothing is synced on a lower
/// layer or a volatile mount).
pub fn file_fsync(t: &mut T) -> TResult {
    let base = t.dir.join("fsync");
    let (l0, l1) = (base.join("l0"), base.join("l1"));
    layers::file(&l0.join("d/f"), b"lower")?;
    layers::dir(&l1)?;
    let lowers = vec![l0, l1];
    let mut d = Vec::new();
    for extra in ["", ",volatile"] {
        let (o, r) =
            writable_pair_with(t, &base.join(format!("m{}", extra.len())), &lowers, extra)?;
        let run = |m: &Path| -> Vec<String> {
            let mut out = Vec::new();
            for (p, flags) in [
                ("d/f", libc::O_RDONLY),
                ("d", libc::O_RDONLY | libc::O_DIRECTORY),
                ("d/f", libc::O_RDWR),
                ("d", libc::O_RDONLY | libc::O_DIRECTORY),
                ("d/new", libc::O_RDWR | libc::O_CREAT),
            ] {
                let r = sys::open(&m.join(p), flags).map(|fd| {
                    let a = sys::fsync(fd, false);
                    let b = sys::fsync(fd, true);
                    sys::close(fd);
                    (a, b)
                });
                out.push(format!("{p} {flags:o}: {r:?}"));
            }
            out
        };
        let (a, b) = (run(&o.mnt), run(&r.mnt));
        if a != b {
            d.push(format!("mount{extra}: overlay {a:?} rovl {b:?}"));
        }
        if b.iter().any(|l| !l.ends_with("Ok((Ok(()), Ok(())))")) {
            d.push(format!("mount{extra}: rovl {b:?}"));
        }
        t.umount(&o.mnt)?;
        t.umount(&r.mnt)?;
    }
    if d.is_empty() {
        Ok(())
    } else {
        Err(Fail::Fail(d.join("; ")))
    }
}

/// fallocate(2) in each mode tmpfs takes (and ones it refuses), and
/// posix_fadvise(2), on lower and upper files through read-only and
/// read-write descriptors: the same results, sizes, block counts and data
/// as overlayfs.
pub fn file_fallocate(t: &mut T) -> TResult {
    use std::os::unix::fs::MetadataExt;
    let base = t.dir.join("falloc");
    let (l0, l1) = (base.join("l0"), base.join("l1"));
    layers::file(&l0.join("f"), &vec![b'x'; 20000])?;
    layers::dir(&l1)?;
    let lowers = vec![l0, l1];
    let (o, r) = writable_pair(t, &base, &lowers)?;
    let run = |m: &Path| -> Vec<String> {
        let mut out = Vec::new();
        let p = m.join("f");
        // Read-only: no allocation (EBADF), advice still works.
        out.push(format!(
            "ro: {:?}",
            sys::open(&p, libc::O_RDONLY).map(|fd| {
                let a = sys::fallocate(fd, 0, 0, 4096);
                let b = sys::fadvise(fd, 0, 0, libc::POSIX_FADV_WILLNEED);
                sys::close(fd);
                (a, b)
            })
        ));
        let modes = [
            0,
            libc::FALLOC_FL_KEEP_SIZE,
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            libc::FALLOC_FL_ZERO_RANGE,
            libc::FALLOC_FL_COLLAPSE_RANGE,
            libc::FALLOC_FL_INSERT_RANGE,
            libc::FALLOC_FL_PUNCH_HOLE,
        ];
        match sys::open(&p, libc::O_RDWR) {
            Ok(fd) => {
                for (i, mode) in modes.iter().enumerate() {
                    let r = sys::fallocate(fd, *mode, 4096 * i as i64, 8192 + 4096 * i as i64);
                    let st = std::fs::metadata(&p).map(|s| (s.size(), s.blocks()));
                    out.push(format!("mode {mode:#x}: {r:?} {st:?}"));
                }
                out.push(format!(
                    "advice: {:?} {:?}",
                    sys::fadvise(fd, 0, 4096, libc::POSIX_FADV_DONTNEED),
                    sys::fadvise(fd, 0, 0, 12345)
                ));
                sys::close(fd);
            }
            Err(e) => out.push(format!("open rw: {e}")),
        }
        out.push(format!(
            "data: {:?}",
            std::fs::read(&p).map(|d| (d.len(), d.iter().filter(|&&b| b == b'x').count()))
        ));
        out
    };
    let (a, b) = (run(&o.mnt), run(&r.mnt));
    if a != b {
        return Err(Fail::Fail(format!("overlay {a:?} rovl {b:?}")));
    }
    // Allocation must have worked at all.
    if !b.iter().any(|l| l.starts_with("mode 0x1: Ok")) {
        return Err(Fail::Fail(format!("no allocation succeeded: {b:?}")));
    }
    Ok(())
}

/// A copy-up whose opener is killed (`SIGKILL`) while the data is copied
/// stops (the copy loop and the kernel's splice both end on a fatal
/// signal): the file stays on the lower layer, work/ keeps nothing, and the
/// next open for writing copies it up whole. On overlay and rovl alike.
pub fn copy_up_killed(t: &mut T) -> TResult {
    const MIB: usize = 1 << 20;
    let base = t.dir.join("cukill");
    let l0 = base.join("l0");
    layers::dir(&l0)?;
    {
        use std::io::Write;
        let mut f = std::fs::File::create(l0.join("big")).map_err(|e| e.to_string())?;
        for i in 0..KILLED_SIZE / MIB {
            f.write_all(&vec![b'a' + (i % 26) as u8; MIB])
                .map_err(|e| e.to_string())?;
        }
    }
    let (o, r) = writable_pair(t, &base, &[l0])?;
    let a = killed_copy_up(&o)?;
    let b = killed_copy_up(&r)?;
    if a != b {
        return Err(Fail::Fail(format!("overlay {a:?}, rovl {b:?}")));
    }
    if a.first().map(String::as_str) != Some("upper file: false") {
        return Err(Fail::Fail(format!("the copy-up was not stopped: {a:?}")));
    }
    Ok(())
}

/// Kills an opener for writing of `big` in `side` once its copy-up has
/// begun; what the layers hold after, and after opening it again.
fn killed_copy_up(side: &Side) -> Result<Vec<String>, Fail> {
    let f = side.mnt.join("big");
    let work = side.work.join("work");
    let free =
        free_bytes(&side.upper).ok_or_else(|| Fail::Fail("statvfs of the upper layer".into()))?;
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(Fail::Fail("pipe".into()));
    }
    // SAFETY: The child only opens, writes a byte and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let b = if sys::open(&f, libc::O_WRONLY).is_ok() {
            b"o"
        } else {
            b"e"
        };
        // SAFETY: Plain syscalls in the child.
        unsafe {
            libc::write(fds[1], b.as_ptr().cast(), 1);
            libc::_exit(0);
        }
    }
    // SAFETY: Our descriptor.
    unsafe { libc::close(fds[1]) };
    // Space going on the upper filesystem shows the copy under way (work/
    // may hold it unnamed, as overlayfs's O_TMPFILE copy-up).
    let mut begun = false;
    for _ in 0..20_000 {
        if free_bytes(&side.upper).is_some_and(|f| f + (16 << 20) < free) {
            begun = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
    // SAFETY: Our child.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let mut status = 0;
    // SAFETY: Waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let mut b = [0u8; 1];
    // SAFETY: `b` is writable; the write end is closed in both processes.
    let n = unsafe { libc::read(fds[0], b.as_mut_ptr().cast(), 1) };
    // SAFETY: Our descriptor.
    unsafe { libc::close(fds[0]) };
    if !begun {
        return Err(Fail::Fail(
            "no copy-up showed on the upper filesystem".into(),
        ));
    }
    if n == 1 {
        return Err(Fail::Skip(format!(
            "the open returned ({}) before the kill: the copy was too quick to interrupt",
            b[0] as char
        )));
    }
    let mut out = vec![format!("upper file: {}", side.upper.join("big").exists())];
    let left: Vec<String> = std::fs::read_dir(&work)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.push(format!("work/ after the kill: {left:?}"));
    let fd = sys::open(&f, libc::O_RDWR).map_err(|e| format!("open again: errno {e}"))?;
    let tail = sys::pread(fd, 4, (KILLED_SIZE - 4) as i64);
    sys::close(fd);
    out.push(format!("last bytes after the copy-up: {tail:?}"));
    out.push(format!(
        "upper size: {:?}",
        std::fs::metadata(side.upper.join("big")).map(|m| m.len())
    ));
    Ok(out)
}

/// A copy-up waiting on its lower layer holds up no copy-up of another
/// file (overlayfs locks each inode): with a lower layer on FUSE whose
/// server is stopped, opening a file of that layer for writing blocks in
/// its copy-up; files of another layer, one in a directory not yet copied
/// up, are then copied up at once, and a second opener of the same file,
/// which waits, can be killed. Same outcome on both.
pub fn parallel_copy_ups(t: &mut T) -> TResult {
    if !Path::new("/dev/fuse").exists() {
        return Err(Fail::Skip("no /dev/fuse in the guest".into()));
    }
    let base = t.dir.join("pc");
    let (src, fuse, tl) = (base.join("src"), base.join("fuse"), base.join("t"));
    layers::file(&src.join("big"), &vec![0x5a; 4 << 20])?;
    layers::file(&tl.join("small"), b"small\n")?;
    layers::file(&tl.join("d/small"), b"nested\n")?;
    layers::dir(&fuse)?;
    let daemon = match std::process::Command::new("fuse-overlayfs")
        .arg("-f")
        .arg("-o")
        .arg(format!("lowerdir={}", src.display()))
        .arg(&fuse)
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(c) => Stopper(c),
        Err(e) => return Err(Fail::Skip(format!("fuse-overlayfs: {e}"))),
    };
    const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;
    if !wait_for(10_000, || {
        sys::statfs(&fuse).is_ok_and(|s| s.f_type == FUSE_SUPER_MAGIC)
    }) {
        return Err(Fail::Fail("fuse-overlayfs did not mount".into()));
    }
    t.adopt(&fuse);
    let (o, r) = writable_pair(t, &base, &[fuse.clone(), tl])?;
    let a = blocked_copy_up(&o, &daemon)?;
    let b = blocked_copy_up(&r, &daemon)?;
    if a != b {
        return Err(Fail::Fail(format!("overlay {a:?}, rovl {b:?}")));
    }
    if a.first().map(String::as_str) != Some("others copied up meanwhile: true") {
        return Err(Fail::Fail(format!("overlay waited as well: {a:?}")));
    }
    t.umount(&r.mnt)?;
    t.umount(&o.mnt)?;
    t.umount(&fuse)?;
    drop(daemon);
    Ok(())
}

/// A FUSE server run by a test: on drop, continued and reaped.
struct Stopper(std::process::Child);

impl Stopper {
    fn signal(&self, sig: i32) {
        // SAFETY: Signals our own child.
        unsafe { libc::kill(self.0.id() as i32, sig) };
    }
}

impl Drop for Stopper {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        self.signal(libc::SIGTERM);
        let _ = self.0.wait();
    }
}

/// Polls `f` every millisecond for up to `ms` milliseconds.
fn wait_for(ms: u32, mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..ms {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    f()
}

/// Runs `f` in a child process, whose exit status is its errno or 0.
fn spawn(f: impl FnOnce() -> Result<(), Errno>) -> i32 {
    // SAFETY: The child only makes system calls and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = match f() {
            Ok(()) => 0,
            Err(e) => e,
        };
        // SAFETY: Ends the child without running the parent's cleanup.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// The exit status of child `pid` if it has ended within `ms` ms.
fn reap(pid: i32, ms: u32) -> Option<i32> {
    let mut code = None;
    wait_for(ms, || {
        let mut status = 0;
        // SAFETY: Waiting for our own child.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            code = Some(libc::WEXITSTATUS(status));
        }
        code.is_some()
    });
    code
}

/// `parallel_copy_ups` on one side: `big` (on FUSE) is opened for writing
/// with the server stopped, then the two small files of the other layer.
fn blocked_copy_up(side: &Side, daemon: &Stopper) -> Result<Vec<String>, Fail> {
    let m = &side.mnt;
    let append = |p: PathBuf, data: &'static [u8]| {
        move || -> Result<(), Errno> {
            let fd = sys::open(&p, libc::O_WRONLY | libc::O_APPEND)?;
            // SAFETY: `data` is readable for its length.
            let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
            sys::close(fd);
            if n < 0 {
                return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
            }
            Ok(())
        }
    };
    // Everything but the data of `big` is cached before the server stops.
    for n in ["big", "small", "d/small"] {
        std::fs::metadata(m.join(n)).map_err(|e| format!("stat {n}: {e}"))?;
    }
    let inodes = || free_inodes(&side.upper).unwrap_or(0);
    let free = inodes();
    daemon.signal(libc::SIGSTOP);
    let big = spawn(append(m.join("big"), b"big\n"));
    let fuse_wait = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/wchan")).is_ok_and(|w| w.contains("fuse"))
    };
    // The copy-up has made its temporary object and waits for the server.
    let waiting = wait_for(10_000, || fuse_wait(big) && inodes() < free);
    let small = waiting.then(|| {
        spawn(move || {
            append(m.join("small"), b"more\n")()?;
            append(m.join("d/small"), b"more\n")()
        })
    });
    let meanwhile = small.and_then(|pid| reap(pid, 20_000));
    // A second opener of `big` waits for the copy-up under way, and a
    // signal ends that wait (its task sleeping, not in the FUSE request).
    let second = waiting.then(|| spawn(append(m.join("big"), b"two\n")));
    let asleep = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
            st.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with(['S', 'D']))
        }) && !fuse_wait(pid)
    };
    let second_waits = second.is_some_and(|pid| wait_for(10_000, || asleep(pid)));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut killed = false;
    if let Some(pid) = second {
        // SAFETY: Signals our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        killed = reap(pid, 10_000).is_some();
    }
    let still_waiting = fuse_wait(big);
    daemon.signal(libc::SIGCONT);
    if let (Some(pid), false) = (second, killed) {
        reap(pid, 60_000);
    }
    let small_code = match (small, meanwhile) {
        (Some(_), Some(c)) => Some(c),
        (Some(pid), None) => reap(pid, 60_000),
        (None, _) => None,
    };
    let big_code = reap(big, 60_000);
    if !waiting {
        return Err(Fail::Fail(format!(
            "the copy-up of big did not begin and wait for the stopped server (exit {big_code:?})"
        )));
    }
    let read = |n: &str| {
        std::fs::read(m.join(n)).map(|v| (v.len(), v[v.len().saturating_sub(4)..].to_vec()))
    };
    Ok(vec![
        format!("others copied up meanwhile: {}", meanwhile.is_some()),
        format!("big still waiting then: {still_waiting}"),
        format!("a second opener of big waited: {second_waits}, ended by SIGKILL: {killed}"),
        format!("exit codes: big {big_code:?}, small {small_code:?}"),
        format!("big: {:?}", read("big").map_err(|e| e.to_string())),
        format!(
            "small: {:?}",
            std::fs::read(m.join("small")).map_err(|e| e.to_string())
        ),
        format!(
            "d/small: {:?}",
            std::fs::read(m.join("d/small")).map_err(|e| e.to_string())
        ),
        format!(
            "on the upper layer: {}",
            ["big", "small", "d/small"]
                .iter()
                .all(|n| side.upper.join(n).is_file())
        ),
    ])
}

/// The size of the file `copy_up_killed` copies.
const KILLED_SIZE: usize = 256 << 20;

/// Free bytes of the filesystem holding `p`.
fn free_bytes(p: &Path) -> Option<u64> {
    statvfs(p).map(|st| st.f_bfree * st.f_frsize)
}

/// Free inodes of the filesystem holding `p`.
fn free_inodes(p: &Path) -> Option<u64> {
    statvfs(p).map(|st| st.f_ffree)
}

/// statvfs(3) of `p`.
fn statvfs(p: &Path) -> Option<libc::statvfs> {
    let c = sys::cstr(p);
    // SAFETY: `st` is written by the kernel.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: As above; `c` is a valid C string.
    (unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0).then_some(st)
}

/// Every `getdents64` record of the open directory `fd` from its current
/// position, read 256 bytes at a time, with each batch's start position.
fn dirents_from(fd: i32) -> Result<Vec<(i64, Vec<sys::Dirent>)>, Errno> {
    let mut batches = Vec::new();
    loop {
        let at = sys::lseek(fd, 0, libc::SEEK_CUR)?;
        let v = sys::getdents(fd, 256)?;
        if v.is_empty() {
            return Ok(batches);
        }
        batches.push((at, v));
    }
}

/// One open directory's records, checking that a seek back to each
/// batch's start gives the same records again; each number is replaced by
/// whether it is the entry's `st_ino` (1) or not (2).
fn records_checked(root: &Path, d: &str) -> Result<Vec<sys::Dirent>, String> {
    use std::os::unix::fs::MetadataExt;
    let errno = |what: &str, e: Errno| format!("{}: {d}: {what}: errno {e}", root.display());
    let fd = sys::open(&root.join(d), libc::O_RDONLY | libc::O_DIRECTORY)
        .map_err(|e| errno("open", e))?;
    let batches = dirents_from(fd).map_err(|e| errno("getdents", e));
    let mut recs = Vec::new();
    for (at, b) in batches.iter().flatten().rev() {
        let again = sys::lseek(fd, *at, libc::SEEK_SET).and_then(|_| sys::getdents(fd, 256));
        if again.as_ref() != Ok(b) {
            sys::close(fd);
            return Err(format!(
                "{}: {d}: after a seek to {at}: {again:?}, first read {b:?}",
                root.display()
            ));
        }
    }
    sys::close(fd);
    for e in batches?.into_iter().flat_map(|(_, b)| b) {
        let name = String::from_utf8_lossy(&e.name).into_owned();
        let st = std::fs::symlink_metadata(root.join(d).join(&name))
            .map_err(|e| format!("{d}/{name}: {e}"))?;
        recs.push(sys::Dirent {
            ino: if st.ino() == e.ino { 1 } else { 2 },
            ..e
        });
    }
    Ok(recs)
}

/// Directories of one layer are listed as overlayfs lists them, straight
/// from the real directory: the same records, positions (`d_off`)
/// included, for a lower-only directory below an unmerged one, for one
/// below a merged one (`..` renumbered), for a directory made through the
/// mount and for an impure one (a copied-up entry renamed into it shows
/// its origin's number, and once it is gone the directory's `impure` mark
/// is dropped); seeking back to a position gives the
/// same records again; a name made while the directory is open shows after
/// a rewind; and a directory that becomes merged while open (a copy-up) is
/// listed merged after a rewind, whiteouts hidden.
pub fn unmerged_dir_positions(t: &mut T) -> TResult {
    let base = t.dir.join("udpos");
    let l0 = base.join("l0");
    // Gaps in the real positions (names removed), where a listing's own
    // indices would differ from them.
    for i in 0..40 {
        layers::file(&l0.join(format!("d/sub/e{i:02}")), b"e")?;
    }
    for i in 0..20 {
        layers::file(&l0.join(format!("d/g{i:02}")), b"g")?;
    }
    for i in (1..40).step_by(2) {
        std::fs::remove_file(l0.join(format!("d/sub/e{i:02}"))).map_err(|e| format!("{e}"))?;
    }
    for i in (1..20).step_by(3) {
        std::fs::remove_file(l0.join(format!("d/g{i:02}"))).map_err(|e| format!("{e}"))?;
    }
    let g00_ino = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(l0.join("d/g00"))
            .map_err(|e| format!("{e}"))?
            .ino()
    };
    let lowers = vec![l0];
    let (o, r) = writable_pair(t, &base, &lowers)?;
    let mut seen = Vec::new();
    let mut marks = Vec::new();
    for side in [&o, &r] {
        let root = &side.mnt;
        let errno = |what: &str, e: Errno| format!("{}: {what}: errno {e}", root.display());
        let mut out = Vec::new();
        // Below the merged root: `..` shows the root's number.
        out.push(records_checked(root, "d")?);
        // Impure: holds a copied-up file (renamed there, so copied up
        // first), which shows its origin's number.
        P::mkdir(&root.join("imp"), 0o755).map_err(|e| errno("mkdir imp", e))?;
        for i in 0..8 {
            write_file(&root.join(format!("imp/a{i}")), libc::O_CREAT, 0, b"a")
                .map_err(|e| errno("create in imp", e))?;
        }
        P::unlink(&root.join("imp/a2")).map_err(|e| errno("unlink imp/a2", e))?;
        P::rename(&root.join("d/g00"), &root.join("imp/g00"), 0)
            .map_err(|e| errno("rename d/g00 imp/g00", e))?;
        {
            use std::os::unix::fs::MetadataExt;
            let ino = std::fs::metadata(root.join("imp/g00"))
                .map_err(|e| format!("{e}"))?
                .ino();
            if ino != g00_ino {
                return Err(Fail::Fail(format!(
                    "{}: imp/g00 st_ino {ino}, its origin's {g00_ino}",
                    root.display()
                )));
            }
        }
        out.push(records_checked(root, "imp")?);
        // Its one copied-up entry gone, the next listing drops the
        // directory's `impure` mark from the upper layer.
        let mark = || sys::getxattr(&side.upper.join("imp"), "trusted.overlay.impure");
        marks.push(mark());
        P::unlink(&root.join("imp/g00")).map_err(|e| errno("unlink imp/g00", e))?;
        records_checked(root, "imp")?;
        marks.push(mark());
        P::mkdir(&root.join("new"), 0o755).map_err(|e| errno("mkdir new", e))?;
        P::mkdir(&root.join("new/q"), 0o755).map_err(|e| errno("mkdir new/q", e))?;
        for i in 0..12 {
            write_file(&root.join(format!("new/q/n{i}")), libc::O_CREAT, 0, b"n")
                .map_err(|e| errno("create in new/q", e))?;
        }
        P::unlink(&root.join("new/q/n3")).map_err(|e| errno("unlink new/q/n3", e))?;
        for d in ["d/sub", "new/q"] {
            let fd = sys::open(&root.join(d), libc::O_RDONLY | libc::O_DIRECTORY)
                .map_err(|e| errno(d, e))?;
            let batches = dirents_from(fd).map_err(|e| errno(d, e))?;
            // Back to each batch's start: the same records follow.
            for (at, b) in batches.iter().rev() {
                sys::lseek(fd, *at, libc::SEEK_SET).map_err(|e| errno("seekdir", e))?;
                let again = sys::getdents(fd, 256).map_err(|e| errno("getdents", e))?;
                if &again != b {
                    sys::close(fd);
                    return Err(Fail::Fail(format!(
                        "{}: {d}: after a seek to {at}: {again:?}, first read {b:?}",
                        root.display()
                    )));
                }
            }
            let mut recs: Vec<sys::Dirent> = batches.into_iter().flat_map(|(_, b)| b).collect();
            if d == "new/q" {
                // Each mount has its own upper layer, so its own numbers:
                // each must be the entry's st_ino there.
                for e in recs.iter_mut() {
                    let name = String::from_utf8_lossy(&e.name).into_owned();
                    let ino = {
                        use std::os::unix::fs::MetadataExt;
                        std::fs::symlink_metadata(root.join(d).join(&name))
                            .map_err(|e| format!("{name}: {e}"))?
                            .ino()
                    };
                    if ino != e.ino {
                        return Err(Fail::Fail(format!(
                            "{}: {d}/{name}: d_ino {}, st_ino {}",
                            root.display(),
                            e.ino,
                            ino
                        )));
                    }
                    e.ino = 0;
                }
            }
            out.push(recs);
            // Changed while open: seen after a rewind.
            let (late, gone) = if d == "new/q" {
                ("new/q/late", "new/q/n5")
            } else {
                // Copies `d` and `d/sub` up: merged from now on.
                ("d/sub/late", "d/sub/e00")
            };
            write_file(&root.join(late), libc::O_CREAT, 0, b"l").map_err(|e| errno(late, e))?;
            P::unlink(&root.join(gone)).map_err(|e| errno(gone, e))?;
            sys::lseek(fd, 0, libc::SEEK_SET).map_err(|e| errno("rewind", e))?;
            let after = dirents_from(fd).map_err(|e| errno(d, e));
            sys::close(fd);
            let names: Vec<Vec<u8>> = after?
                .into_iter()
                .flat_map(|(_, b)| b)
                .map(|e| e.name)
                .collect();
            let has = |n: &str| names.iter().any(|x| x == n.as_bytes());
            let (late, gone) = (late.rsplit('/').next(), gone.rsplit('/').next());
            if !has(late.unwrap()) || has(gone.unwrap()) {
                return Err(Fail::Fail(format!(
                    "{}: {d} after a rewind lists {:?}: wants {late:?}, not {gone:?}",
                    root.display(),
                    names
                        .iter()
                        .map(|n| String::from_utf8_lossy(n).into_owned())
                        .collect::<Vec<_>>()
                )));
            }
            let mut sorted = names.clone();
            sorted.sort();
            out.push(
                sorted
                    .into_iter()
                    .map(|name| sys::Dirent {
                        ino: 0,
                        off: 0,
                        d_type: 0,
                        name,
                    })
                    .collect(),
            );
        }
        seen.push(out);
    }
    let want = vec![Ok(b"y".to_vec()), Err(libc::ENODATA)];
    if marks[..2] != want[..] || marks[2..] != want[..] {
        return Err(Fail::Fail(format!(
            "impure mark of imp before and after its copied-up entry went: \
             overlay {:?}, rovl {:?}",
            &marks[..2],
            &marks[2..]
        )));
    }
    let (ro, oo) = (seen.pop().unwrap(), seen.pop().unwrap());
    for (i, what) in [
        "d records",
        "imp records",
        "d/sub records",
        "d/sub names after copy-up",
        "new/q records",
        "new/q names after changes",
    ]
    .iter()
    .enumerate()
    {
        if oo[i] != ro[i] {
            return Err(Fail::Fail(format!(
                "{what}: overlay {:?}, rovl {:?}",
                oo[i], ro[i]
            )));
        }
    }
    Ok(())
}

/// Everything in an index directory: name, file type, link count and the
/// overlay xattrs of each entry, sorted by name.
fn index_listing(work: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let ix = work.join("index");
    let mut v: Vec<String> = std::fs::read_dir(&ix)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let p = e.path();
                    let name = e.file_name().to_string_lossy().into_owned();
                    let Ok(m) = std::fs::symlink_metadata(&p) else {
                        return format!("{name}: gone");
                    };
                    let xattrs: Vec<String> = ["origin", "nlink", "upper"]
                        .iter()
                        .filter_map(|x| {
                            sys::getxattr(&p, &format!("trusted.overlay.{x}"))
                                .ok()
                                .map(|v| format!("{x}={v:?}"))
                        })
                        .collect();
                    format!(
                        "{name}: {:o} {} {}",
                        m.mode() & libc::S_IFMT,
                        m.nlink(),
                        xattrs.join(",")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Objects below `root` by inode number: the upper aliases of index entries.
fn paths_by_ino(root: &Path, out: &mut HashMap<u64, Vec<PathBuf>>) {
    use std::os::unix::fs::MetadataExt;
    let Ok(rd) = std::fs::read_dir(root) else {
        return;
    };
    let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    v.sort();
    for p in v {
        if let Ok(m) = std::fs::symlink_metadata(&p) {
            out.entry(m.ino()).or_default().push(p.clone());
            if m.is_dir() {
                paths_by_ino(&p, out);
            }
        }
    }
}

/// Damages an index the way crashes, old kernels or other tools could:
/// wrong, junk or missing `origin`/`nlink`/`upper` xattrs on entries,
/// upper aliases gone, entries renamed to another file handle, leftovers
/// of interrupted operations, entries of the wrong type, and rarely a
/// name that is no file handle or a junk `upper` on the index itself.
/// Returns the `upper` value set on the index, to set on its copies.
fn craft_index(rng: &mut Rng, upper: &Path, ix: &Path) -> Result<Option<Vec<u8>>, Fail> {
    use std::os::unix::fs::MetadataExt;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(ix)
        .map_err(|e| format!("read {}: {e}", ix.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    let mut aliases = HashMap::new();
    paths_by_ino(upper, &mut aliases);
    let nlinks = [
        &b"U+0"[..],
        b"U+1",
        b"U-1",
        b"L+2",
        b"L-9",
        b"U+99999999999",
        b"X+1",
        b"",
        b"U+1\0junk",
        b"L+1\n",
    ];
    // Another file handle, mostly one with a valid header (the first 8
    // digits: version, magic, length, flags) that names another object.
    let hex = |name: &str, rng: &mut Rng| -> String {
        let mut b = name.as_bytes().to_vec();
        if b.len() > 8 {
            let i = if rng.below(6) == 0 {
                rng.below(b.len() as u64)
            } else {
                8 + rng.below(b.len() as u64 - 8)
            } as usize;
            b[i] = b"0123456789abcdef"[rng.below(16) as usize];
        }
        String::from_utf8_lossy(&b).into_owned()
    };
    let mut first = None;
    for p in &entries {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        first.get_or_insert(name.clone());
        for _ in 0..rng.below(3) {
            match rng.below(7) {
                0 => {
                    let v = nlinks[rng.below(nlinks.len() as u64) as usize];
                    let _ = sys::setxattr(p, "trusted.overlay.nlink", v);
                }
                1 | 2 => {
                    let x = ["origin", "upper"][rng.below(2) as usize];
                    let v = crate::tests::crafted_value(rng, &[]);
                    let _ = sys::setxattr(p, &format!("trusted.overlay.{x}"), &v);
                }
                3 => {
                    let x = ["origin", "nlink"][rng.below(2) as usize];
                    let _ = P::removexattr(p, &format!("trusted.overlay.{x}"));
                }
                4 => {
                    let ino = std::fs::symlink_metadata(p).map(|m| m.ino()).unwrap_or(0);
                    if let Some(v) = aliases.get(&ino).filter(|v| !v.is_empty()) {
                        let _ = P::unlink(&v[rng.below(v.len() as u64) as usize]);
                    }
                }
                5 => {
                    let _ = P::rename(p, &ix.join(hex(&name, rng)), 0);
                    break;
                }
                _ => {
                    // A copy of the entry under another file handle.
                    let _ = P::link(p, &ix.join(hex(&name, rng)));
                }
            }
        }
    }
    let like = first.unwrap_or_else(|| "00fb1d00".repeat(5));
    for _ in 0..rng.below(4) {
        let other = ix.join(hex(&like, rng));
        let made = match rng.below(6) {
            0 => layers::file(&ix.join(format!("#{}", rng.below(1000))), b"temp"),
            1 => layers::whiteout(&other),
            2 => layers::dir(&other),
            3 => layers::link("target", &other),
            4 => layers::file(&other, b"stray"),
            _ => layers::fifo(&other),
        };
        // A name drawn twice is made once.
        let _ = made;
    }
    if rng.below(12) == 0 {
        layers::file(&ix.join("not-a-handle"), b"")?;
    }
    if rng.below(12) == 0 {
        let v = crate::tests::crafted_value(rng, &[]);
        let _ = sys::setxattr(ix, "trusted.overlay.upper", &v);
        return Ok(Some(v));
    }
    Ok(None)
}

/// File handles in an index as overlayfs reads them (`ovl_verify_index`,
/// `ovl_get_fh`): an empty, missing or newer-version `origin` on an entry
/// fails the mount with `ENODATA`; bytes after a handle's own length, in
/// the xattr or in the entry's name (one odd digit included), are ignored;
/// an empty `origin` on the upper root is set again. Each case runs on its
/// own copy of one index made by overlayfs, mounted by both.
pub fn index_handle_forms(t: &mut T) -> TResult {
    let base = t.dir.join("ixforms");
    let l0 = base.join("l0");
    layers::file(&l0.join("f"), b"lower")?;
    P::link(&l0.join("f"), &l0.join("g")).map_err(|e| format!("link: errno {e}"))?;
    let src = base.join("src");
    let (su, sw) = (src.join("upper"), src.join("work"));
    layers::dir(&su)?;
    layers::dir(&sw)?;
    let lowers = [l0.clone()];
    let m = t.mount("overlay", &format!("{},index=on", opts(&lowers, &su, &sw)))?;
    layers::file(&m.join("f"), b"upper")?;
    t.umount(&m)?;
    let entry = std::fs::read_dir(sw.join("index"))
        .map_err(|e| format!("index: {e}"))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .ok_or_else(|| "no index entry".to_string())?;
    let xo = "trusted.overlay.origin";
    let origin = sys::getxattr(&su.join("f"), xo)?;
    let root_origin = sys::getxattr(&su, xo)?;
    type Craft = fn(&Path, &Path, &str, &[u8]) -> Result<(), Errno>;
    let cases: [(&str, Craft, Result<&[u8], i32>); 8] = [
        (
            "empty origin",
            |u, _, _, _| sys::setxattr(&u.join("f"), "trusted.overlay.origin", b""),
            Err(libc::ENODATA),
        ),
        (
            "no origin",
            |u, _, _, _| P::removexattr(&u.join("f"), "trusted.overlay.origin"),
            Err(libc::ENODATA),
        ),
        (
            "newer version",
            |u, _, _, o| {
                let mut v = o.to_vec();
                v[0] = 1;
                sys::setxattr(&u.join("f"), "trusted.overlay.origin", &v)
            },
            Err(libc::ENODATA),
        ),
        (
            "origin with a tail",
            |u, _, _, o| {
                let mut v = o.to_vec();
                v.extend_from_slice(b"tail");
                sys::setxattr(&u.join("f"), "trusted.overlay.origin", &v)
            },
            Ok(b"upper"),
        ),
        (
            "origin with a long tail",
            |u, _, _, o| {
                let mut v = o.to_vec();
                v.resize(300, b'~');
                sys::setxattr(&u.join("f"), "trusted.overlay.origin", &v)
            },
            Ok(b"upper"),
        ),
        (
            "odd name",
            |_, ix, e, _| P::rename(&ix.join(e), &ix.join(format!("{e}7")), 0),
            Ok(b"lower"),
        ),
        (
            "name with a tail",
            |_, ix, e, _| P::rename(&ix.join(e), &ix.join(format!("{e}00ff")), 0),
            Ok(b"lower"),
        ),
        (
            "empty root origin",
            |u, _, _, _| sys::setxattr(u, "trusted.overlay.origin", b""),
            Ok(b"upper"),
        ),
    ];
    for (i, (what, craft, want)) in cases.into_iter().enumerate() {
        let mut seen = Vec::new();
        for fstype in ["overlay", "rovl"] {
            let copy = base.join(format!("{fstype}-{i}"));
            run("cp", &["-a", &src.display().to_string()], &copy)?;
            let (upper, work) = (copy.join("upper"), copy.join("work"));
            // The index names the upper root it was made for: the copy's.
            let _ = P::removexattr(&work.join("index"), "trusted.overlay.upper");
            craft(&upper, &work.join("index"), &entry, &origin)
                .map_err(|e| format!("{what}: craft: errno {e}"))?;
            let r = t.mount(
                fstype,
                &format!("{},index=on", opts(&lowers, &upper, &work)),
            );
            let data = r
                .as_ref()
                .ok()
                .map(|m| std::fs::read(m.join("g")).unwrap_or_default());
            if let Ok(m) = &r {
                t.umount(m)?;
            }
            let root = sys::getxattr(&upper, xo).map(|v| v == root_origin);
            seen.push((r.map(|_| ()), data, index_listing(&work), root));
        }
        if seen[0] != seen[1] {
            return Err(Fail::Fail(format!(
                "{what}: overlay {:?}\nrovl {:?}",
                seen[0], seen[1]
            )));
        }
        match (&seen[1].0, &seen[1].1, want) {
            (Err(e), _, Err(w)) if *e == w => {}
            (Ok(()), Some(d), Ok(w)) if d == w => {}
            _ => {
                return Err(Fail::Fail(format!(
                    "{what}: mount {:?}, g {:?}, want {want:?}",
                    seen[1].0, seen[1].1
                )))
            }
        }
        // A renamed entry stays: its name spells the same handle.
        if what.contains("name")
            && !seen[1]
                .2
                .iter()
                .any(|l| l.starts_with(&entry) && !l.starts_with(&format!("{entry}:")))
        {
            return Err(Fail::Fail(format!("{what}: entry gone: {:?}", seen[1].2)));
        }
        if what == "empty root origin" && seen[1].3 != Ok(true) {
            return Err(Fail::Fail(format!("{what}: root origin {:?}", seen[1].3)));
        }
    }
    Ok(())
}

/// Damaged inode indexes: overlayfs builds an index through random
/// operations on lower layers with hard links, then `craft_index` damages
/// it; overlay and rovl each mount their own copy. The mounts fail alike
/// or both succeed and leave the same index (stale, orphan and leftover
/// entries removed, the same warnings' effects), show the same trees, and
/// stay the same through random operations and remounts across
/// filesystems.
pub fn crafted_index(t: &mut T) -> TResult {
    let (mut mounted, mut refused) = (0, 0);
    for round in 0..10u64 {
        let seed = 9000 + round;
        let base = t.dir.join(format!("cix{round}"));
        let lowers: Vec<PathBuf> = (0..2).map(|i| base.join(format!("l{i}"))).collect();
        let refs: Vec<&Path> = lowers.iter().map(|p| p.as_path()).collect();
        layers::random_tree(&mut Rng::new(seed), &refs, 2)?;
        layers::random_hard_links(&mut Rng::new(seed ^ 0x11), &refs)?;
        let extra = [",index=on", ",index=on,redirect_dir=on"][(round % 2) as usize];
        let src = base.join("src");
        let (su, sw) = (src.join("upper"), src.join("work"));
        layers::dir(&su)?;
        layers::dir(&sw)?;
        let m = t
            .mount("overlay", &format!("{}{extra}", opts(&lowers, &su, &sw)))
            .map_err(|e| format!("round {round}: mount overlay: errno {e}"))?;
        let mut rng = Rng::new(seed ^ 0x1d);
        for _ in 0..80 {
            let op = rng.below(24);
            let _ = apply(&m, op, &mut Rng::new(rng.next()));
        }
        t.umount(&m)?;
        let t0 = now();
        let lower = lower_inos(&lowers);
        let crafted_upper = craft_index(&mut rng, &su, &sw.join("index"))?;
        let before = index_listing(&sw);
        let mut sides = Vec::new();
        for fstype in ["overlay", "rovl"] {
            // One copy keeps the hard links between the upper layer and
            // the index.
            let copy = base.join(fstype);
            run("cp", &["-a", &src.display().to_string()], &copy)?;
            let (upper, work) = (copy.join("upper"), copy.join("work"));
            // The index names the upper root it was made for: the copy's.
            let ix = work.join("index");
            let _ = P::removexattr(&ix, "trusted.overlay.upper");
            if let Some(v) = &crafted_upper {
                let _ = sys::setxattr(&ix, "trusted.overlay.upper", v);
            }
            let m = t.mount(fstype, &format!("{}{extra}", opts(&lowers, &upper, &work)));
            sides.push((m, upper, work));
        }
        let what = format!("round {round} ({extra})");
        match (sides[0].0.clone(), sides[1].0.clone()) {
            (Ok(mo), Ok(mr)) => {
                mounted += 1;
                let (io, ir) = (index_listing(&sides[0].2), index_listing(&sides[1].2));
                if io != ir {
                    return Err(Fail::Fail(format!(
                        "{what}: index after mount: overlay {io:?}, rovl {ir:?}; before: {before:?}"
                    )));
                }
                let side = |i: usize, mnt: PathBuf| Side {
                    mnt,
                    upper: sides[i].1.clone(),
                    work: sides[i].2.clone(),
                };
                let (o, r) = (side(0, mo), side(1, mr));
                compare(
                    &o.mnt,
                    &r.mnt,
                    t0,
                    &lower,
                    &format!("{what}: after mount (index before: {before:?})"),
                )?;
                let plan = Plan {
                    seed,
                    ops: 100,
                    every: 10,
                    extra,
                    crafted: true,
                };
                ops_and_remounts(t, &lowers, (&o, &r), (t0, &lower), &plan)?;
                let (io, ir) = (index_listing(&o.work), index_listing(&r.work));
                if io != ir {
                    return Err(Fail::Fail(format!(
                        "{what}: index at the end: overlay {io:?}, rovl {ir:?}"
                    )));
                }
            }
            (Err(a), Err(b)) if a == b => refused += 1,
            (a, b) => {
                return Err(Fail::Fail(format!(
                    "{what}: mount: overlay {a:?}, rovl {b:?}; index: {before:?}"
                )));
            }
        }
    }
    eprintln!("crafted index: {mounted} mounted, {refused} refused by both");
    if mounted == 0 {
        return Err(Fail::Fail("no round mounted: nothing was compared".into()));
    }
    Ok(())
}

/// An upper layer made by other tools: a merged directory whose upper
/// directory has no `origin`. Its first lookup records the lower
/// directory's handle there and marks the parent impure, so the parent's
/// listing shows the merged directory's `st_ino` as `d_ino`; both
/// filesystems leave the same xattrs and show the same numbers.
pub fn merged_dir_without_origin(t: &mut T) -> TResult {
    use std::os::unix::fs::MetadataExt;
    let base = t.dir.join("noorigin");
    let l0 = base.join("l0");
    layers::file(&l0.join("d/x"), b"x")?;
    for fstype in ["overlay", "rovl"] {
        layers::file(&base.join(format!("upper-{fstype}/d/y")), b"y")?;
    }
    let lower_ino = std::fs::metadata(l0.join("d"))
        .map_err(|e| format!("{e}"))?
        .ino();
    let (o, r) = writable_pair(t, &base, &[l0])?;
    let mut seen = Vec::new();
    for s in [&o, &r] {
        let st = std::fs::metadata(s.mnt.join("d")).map(|m| m.ino());
        let d_ino =
            snapshot::listing(&s.mnt).map(|l| l.into_iter().find(|e| e.0 == "d").map(|e| e.2));
        let origin = sys::getxattr(&s.upper.join("d"), "trusted.overlay.origin").is_ok();
        let impure = sys::getxattr(&s.upper, "trusted.overlay.impure");
        let names = snapshot::listing(&s.mnt.join("d"))
            .map(|l| l.into_iter().map(|e| e.0).collect::<Vec<_>>());
        seen.push(format!(
            "st_ino {st:?} d_ino {d_ino:?} origin {origin} impure {impure:?} {names:?}"
        ));
    }
    if seen[0] != seen[1] {
        return Err(Fail::Fail(format!(
            "overlay: {}; rovl: {}",
            seen[0], seen[1]
        )));
    }
    let want =
        format!("st_ino Ok({lower_ino}) d_ino Ok(Some({lower_ino})) origin true impure Ok([121])");
    if !seen[1].starts_with(&want) {
        return Err(Fail::Fail(format!("expected {want}, got {}", seen[1])));
    }
    Ok(())
}

/// `metacopy=on` with an upper layer: metadata changes copy a file's
/// metadata only (the `metacopy` xattr, full size, no blocks of its own),
/// a rename or a new link leaves a redirect to the data, and an open for
/// writing or a truncate copies the data into the file in place, keeping
/// `security.capability`. Both filesystems do the same to their upper
/// layers, and read each other's. A descriptor opened before the data
/// copy-up reads the new data on rovl.
pub fn metacopy_copy_up(t: &mut T) -> TResult {
    use std::os::unix::fs::MetadataExt;
    let base = t.dir.join("mc");
    let l0 = base.join("l0");
    let data: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
    for f in ["f", "g", "h", "tr", "cap", "d/keep"] {
        layers::file(&l0.join(f), &data)?;
    }
    // VFS_CAP_REVISION_2 with CAP_NET_RAW permitted and effective.
    let cap = [
        0x01, 0, 0, 0x02, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    sys::setxattr(&l0.join("cap"), "security.capability", &cap)
        .map_err(|e| format!("setcap: errno {e}"))?;
    let lower_blocks = std::fs::metadata(l0.join("f"))
        .map_err(|e| format!("{e}"))?
        .blocks();
    // Metacopy files on the lower layers: over data in the next layer, and
    // over data in a data-only layer.
    let (l1, blobs) = (base.join("l1"), base.join("blobs"));
    layers::file(&l1.join("m"), &data)?;
    crate::tests::metacopy_file(&l0.join("m"), data.len() as u64, None)?;
    layers::file(&blobs.join("b/z"), &data)?;
    crate::tests::metacopy_file(&l0.join("z"), data.len() as u64, Some("/b/z"))?;
    let lowers = [
        l0.clone(),
        l1.clone(),
        PathBuf::from(format!(":{}", blobs.display())),
    ];
    let (o, r) = writable_pair_with(t, &base, &lowers, ",metacopy=on")?;
    let xattr = |p: &Path, n: &str| match sys::getxattr(p, n) {
        Ok(v) => format!("{n}={}", String::from_utf8_lossy(&v)),
        Err(e) => format!("{n}:{e}"),
    };
    let upper_state = |s: &Side, p: &str| -> String {
        let u = s.upper.join(p);
        let m = std::fs::metadata(&u);
        format!(
            "{p}: size {:?} blocks {:?} {} {} cap {:?}",
            m.as_ref().map(|m| m.size()).map_err(|e| e.raw_os_error()),
            m.as_ref().map(|m| m.blocks()).map_err(|e| e.raw_os_error()),
            xattr(&u, "trusted.overlay.metacopy"),
            xattr(&u, "trusted.overlay.redirect"),
            sys::getxattr(&u, "security.capability").map(|v| v == cap),
        )
    };
    let mut seen: Vec<Vec<String>> = Vec::new();
    let mut early_reads = Vec::new();
    for s in [&o, &r] {
        let mut st = Vec::new();
        let m = &s.mnt;
        let fd = sys::open(&m.join("f"), libc::O_RDONLY).map_err(|e| format!("open f: {e}"))?;
        let ops: [(&str, Result<(), Errno>); 10] = [
            ("chmod f", P::chmod(&m.join("f"), 0o600)),
            ("setxattr g", sys::setxattr(&m.join("g"), "user.x", b"1")),
            ("rename g", P::rename(&m.join("g"), &m.join("d/g2"), 0)),
            ("chown h", P::lchown(&m.join("h"), 7, 7)),
            ("link h", P::link(&m.join("h"), &m.join("d/h2"))),
            ("chmod cap", P::chmod(&m.join("cap"), 0o750)),
            ("truncate tr", P::truncate(&m.join("tr"), 5)),
            ("chmod d/keep", P::chmod(&m.join("d/keep"), 0o640)),
            ("chmod m", P::chmod(&m.join("m"), 0o604)),
            ("chmod z", P::chmod(&m.join("z"), 0o604)),
        ];
        for (what, res) in ops {
            st.push(format!("{what}: {res:?}"));
        }
        // Still the lower data, through a descriptor opened before.
        st.push(format!("early fd after chmod: {:?}", sys::pread(fd, 3, 0)));
        for p in ["f", "d/g2", "h", "cap", "tr", "d/keep", "m", "z"] {
            st.push(upper_state(s, p));
            let v = std::fs::metadata(m.join(p));
            st.push(format!(
                "view {p}: blocks {:?} data {:?}",
                v.map(|m| m.blocks()).map_err(|e| e.raw_os_error()),
                std::fs::read(m.join(p))
                    .map(|d| snapshot::fnv(&d))
                    .map_err(|e| e.raw_os_error()),
            ));
        }
        // Data copy-ups: a write, an open for writing alone.
        st.push(format!(
            "write f: {:?}",
            P::write_at(&m.join("f"), 0, 0, b"NEW")
        ));
        for p in ["m", "z"] {
            st.push(format!(
                "write {p}: {:?}",
                P::write_at(&m.join(p), 0, 100, b"M")
            ));
        }
        let cfd = sys::open(&m.join("cap"), libc::O_WRONLY);
        st.push(format!("open cap for writing: {:?}", cfd.map(|_| ())));
        if let Ok(c) = cfd {
            sys::close(c);
        }
        for p in ["f", "cap", "m", "z"] {
            st.push(upper_state(s, p));
            st.push(format!(
                "view {p} after: {:?}",
                std::fs::read(m.join(p))
                    .map(|d| snapshot::fnv(&d))
                    .map_err(|e| e.raw_os_error()),
            ));
        }
        early_reads.push(sys::pread(fd, 3, 0));
        sys::close(fd);
        seen.push(st);
    }
    for (a, b) in seen[0].iter().zip(&seen[1]) {
        if a != b {
            return Err(Fail::Fail(format!("overlay: {a}; rovl: {b}")));
        }
    }
    let rs = &seen[1];
    let want = [
        format!("f: size Ok(40000) blocks Ok(0) trusted.overlay.metacopy= "),
        format!("view f: blocks Ok({lower_blocks})"),
        format!("early fd after chmod: Ok({:?})", &data[..3]),
        format!("d/g2: size Ok(40000) blocks Ok(0) trusted.overlay.metacopy= trusted.overlay.redirect=/g"),
        format!("h: size Ok(40000) blocks Ok(0) trusted.overlay.metacopy= trusted.overlay.redirect=/h"),
        format!("tr: size Ok(5)"),
        format!("f: size Ok(40000) blocks Ok({lower_blocks}) trusted.overlay.metacopy:{}", libc::ENODATA),
        format!("cap: size Ok(40000) blocks Ok({lower_blocks}) trusted.overlay.metacopy:{}", libc::ENODATA),
        format!("m: size Ok(40000) blocks Ok(0) trusted.overlay.metacopy= "),
        format!("z: size Ok(40000) blocks Ok(0) trusted.overlay.metacopy= "),
        format!("view z: blocks Ok({lower_blocks}) data Ok({})", snapshot::fnv(&data)),
        format!("view m: blocks Ok({lower_blocks}) data Ok({})", snapshot::fnv(&data)),
        format!("m: size Ok(40000) blocks Ok({lower_blocks}) trusted.overlay.metacopy:{}", libc::ENODATA),
        format!("z: size Ok(40000) blocks Ok({lower_blocks}) trusted.overlay.metacopy:{}", libc::ENODATA),
    ];
    for w in &want {
        if !rs.iter().any(|l| l.starts_with(w.as_str())) {
            return Err(Fail::Fail(format!("expected a line {w:?} in {rs:#?}")));
        }
    }
    if !rs
        .iter()
        .any(|l| l.starts_with("cap: ") && l.ends_with("cap Ok(true)") && l.contains("metacopy:"))
    {
        return Err(Fail::Fail(format!(
            "capability lost by the data copy-up: {rs:#?}"
        )));
    }
    // rovl's descriptor follows the data copy-up (overlayfs's keeps the
    // lower file).
    if early_reads[1].as_deref() != Ok(b"NEW".as_slice()) {
        return Err(Fail::Fail(format!(
            "read-only descriptor opened before the copy-up read {:?}",
            early_reads[1]
        )));
    }
    // Each filesystem reads the other's upper layer as its own.
    let before: Vec<_> = [&o, &r]
        .iter()
        .map(|s| snapshot::snapshot(&s.mnt))
        .collect::<Result<_, _>>()?;
    t.umount(&o.mnt)?;
    t.umount(&r.mnt)?;
    for (fstype, side, own) in [("rovl", &o, 0), ("overlay", &r, 1)] {
        let m = t
            .mount(
                fstype,
                &format!("{},metacopy=on", opts(&lowers, &side.upper, &side.work)),
            )
            .map_err(|e| format!("remount {fstype}: errno {e}"))?;
        let s = snapshot::snapshot(&m)?;
        t.umount(&m)?;
        let d = diff_writable(&before[own], &s, 0, &HashSet::new(), 8);
        if !d.is_empty() {
            return Err(Fail::Fail(format!(
                "{fstype} on the other's upper layer: {}",
                d.join("; ")
            )));
        }
    }
    Ok(())
}

/// Listings where overlayfs looks entries up for their numbers (upper
/// entries of impure directories) and a lookup fails: in a merged
/// directory the `getdents64` call that reaches the entry fails unless it
/// already returned entries (so two such entries in a row fail a call),
/// and later calls go on without it; an unmerged impure directory cannot
/// be listed at all. Upper files marked metacopy with nothing below fail
/// their lookup with `EIO`.
pub fn listing_lookup_errors(t: &mut T) -> TResult {
    let base = t.dir.join("lle");
    let l0 = base.join("l0");
    for f in ["a", "c", "d/x"] {
        layers::file(&l0.join(f), b"x")?;
    }
    for fstype in ["overlay", "rovl"] {
        let u = base.join(format!("upper-{fstype}"));
        for f in ["b", "f", "f2", "u/g", "u/h"] {
            layers::file(&u.join(f), b"y")?;
        }
        for p in [&u, &u.join("u")] {
            sys::setxattr(p, "trusted.overlay.impure", b"y").map_err(|e| format!("{e}"))?;
        }
        for f in ["f", "f2", "u/g"] {
            sys::setxattr(&u.join(f), "trusted.overlay.metacopy", b"")
                .map_err(|e| format!("{e}"))?;
        }
    }
    let (o, r) = writable_pair(t, &base, &[l0])?;
    let mut seen = Vec::new();
    for s in [&o, &r] {
        let mut calls = Vec::new();
        for dir in [s.mnt.clone(), s.mnt.join("u")] {
            let fd = sys::open(&dir, libc::O_RDONLY | libc::O_DIRECTORY)
                .map_err(|e| format!("open: {e}"))?;
            // One entry per call, so that the failing one starts a call.
            let mut errors = 0;
            while errors < 2 {
                match sys::getdents(fd, 32) {
                    Ok(v) if v.is_empty() => break,
                    Ok(v) => calls.extend(
                        v.into_iter()
                            .map(|d| String::from_utf8_lossy(&d.name).into_owned()),
                    ),
                    Err(e) => {
                        errors += 1;
                        calls.push(format!("errno {e}"));
                    }
                }
            }
            sys::close(fd);
            calls.push("|".into());
        }
        seen.push(calls);
    }
    if seen[0] != seen[1] {
        return Err(Fail::Fail(format!(
            "overlay {:?}, rovl {:?}",
            seen[0], seen[1]
        )));
    }
    let rs = &seen[1];
    let eio = format!("errno {}", libc::EIO);
    let root_end = rs.iter().position(|c| c == "|").unwrap_or(0);
    let ok = rs[..root_end].contains(&eio)
        && !rs.iter().any(|c| c == "f" || c == "f2")
        && rs[..root_end].contains(&"b".to_string())
        && rs.ends_with(&[eio.clone(), eio, "|".into()]);
    if !ok {
        return Err(Fail::Fail(format!("unexpected listings {rs:?}")));
    }
    Ok(())
}

/// With `index=on`, the lower file a metacopy upper file finds by path
/// must be its `origin`: swapped origins fail the lookup (`ESTALE`), as
/// overlayfs verifies them; without the index nothing is verified.
pub fn metacopy_origin_verified(t: &mut T) -> TResult {
    let base = t.dir.join("mcov");
    let l0 = base.join("l0");
    for f in ["p", "q"] {
        layers::file(&l0.join(f), f.as_bytes())?;
    }
    let lowers = [l0];
    let (o, r) = writable_pair_with(t, &base, &lowers, ",metacopy=on,index=on")?;
    for s in [&o, &r] {
        for f in ["p", "q"] {
            P::chmod(&s.mnt.join(f), 0o600).map_err(|e| format!("chmod {f}: {e}"))?;
        }
    }
    t.umount(&o.mnt)?;
    t.umount(&r.mnt)?;
    for s in [&o, &r] {
        let get = |f: &str| sys::getxattr(&s.upper.join(f), "trusted.overlay.origin");
        let (p, q) = (get("p"), get("q"));
        let (Ok(p), Ok(q)) = (p, q) else {
            return Err(Fail::Fail(format!("{}: no origins", s.upper.display())));
        };
        sys::setxattr(&s.upper.join("p"), "trusted.overlay.origin", &q)
            .and_then(|_| sys::setxattr(&s.upper.join("q"), "trusted.overlay.origin", &p))
            .map_err(|e| format!("swap: {e}"))?;
    }
    let mut seen = Vec::new();
    for extra in [",metacopy=on,index=on", ",metacopy=on"] {
        for (fstype, s) in [("overlay", &o), ("rovl", &r)] {
            let m = t
                .mount(
                    fstype,
                    &format!("{}{extra}", opts(&lowers, &s.upper, &s.work)),
                )
                .map_err(|e| format!("remount {fstype}{extra}: errno {e}"))?;
            let got: Vec<_> = ["p", "q"]
                .iter()
                .map(|f| std::fs::read(m.join(f)).map_err(|e| e.raw_os_error()))
                .collect();
            t.umount(&m)?;
            seen.push(format!("{extra}: {got:?}"));
        }
    }
    if seen[0] != seen[1] || seen[2] != seen[3] {
        return Err(Fail::Fail(format!("overlay vs rovl: {seen:?}")));
    }
    let stale = format!("Err(Some({}))", libc::ESTALE);
    if seen[1] != format!(",metacopy=on,index=on: [{stale}, {stale}]")
        || seen[3] != ",metacopy=on: [Ok([112]), Ok([113])]"
    {
        return Err(Fail::Fail(format!("unexpected: {seen:?}")));
    }
    Ok(())
}

/// `name_to_handle_at(2)`: the handle type and bytes, or the errno and the
/// size the kernel asked for.
pub(crate) fn handle_at(p: &Path, flags: i32, room: usize) -> Result<(i32, Vec<u8>), (Errno, u32)> {
    let c = sys::cstr(p);
    let mut buf = vec![0u8; 8 + room];
    buf[..4].copy_from_slice(&(room as u32).to_ne_bytes());
    let mut mnt_id = 0i32;
    // SAFETY: `buf` holds a struct file_handle with `room` bytes of handle.
    let r = unsafe {
        libc::syscall(
            libc::SYS_name_to_handle_at,
            libc::AT_FDCWD,
            c.as_ptr(),
            buf.as_mut_ptr(),
            &mut mnt_id,
            flags,
        )
    };
    let n = u32::from_ne_bytes(buf[..4].try_into().unwrap());
    if r < 0 {
        return Err((sys::errno_of(&std::io::Error::last_os_error()), n));
    }
    let ty = i32::from_ne_bytes(buf[4..8].try_into().unwrap());
    Ok((ty, buf[8..8 + n as usize].to_vec()))
}

const AT_HANDLE_FID: i32 = 0x200;

/// One line per path: the overlay handle's type, header (version, magic,
/// length, flags, type, uuid) and which real object's handle it carries.
fn handles_run(m: &Path, lower: &Path, upper: &Path, paths: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for &p in paths {
        let merged = m.join(p);
        let line = match handle_at(&merged, AT_HANDLE_FID, 128) {
            Ok((ty, h)) => {
                let real = |base: &Path| handle_at(&base.join(p), 0, 128).ok();
                let fid = h.get(24..).unwrap_or(&[]);
                let of = match (real(lower), real(upper)) {
                    (Some(l), _) if l.1 == fid => format!("lower type {}", l.0),
                    (_, Some(u)) if u.1 == fid => format!("upper type {}", u.0),
                    _ => "no real object's".to_string(),
                };
                format!(
                    "type {ty:#x} {} bytes, header {:?}, fid: {of}",
                    h.len(),
                    h.get(..24)
                )
            }
            Err(e) => format!("errno {e:?}"),
        };
        out.push(format!("{p:?}: {line}"));
        // A decodable handle (no AT_HANDLE_FID) and one too big for the
        // buffer.
        out.push(format!(
            "{p:?} decodable: {:?}, small buffer: {:?}",
            handle_at(&merged, 0, 128).map(|h| h.0),
            handle_at(&merged, AT_HANDLE_FID, 8).map(|h| h.0)
        ));
    }
    out
}

/// fanotify with `FAN_REPORT_FID`: the handle an event reports for a
/// watched file, against the one `name_to_handle_at` gives.
fn fanotify_run(m: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let f = m.join("watched");
    // SAFETY: Plain syscalls; the descriptor is ours.
    let fan = unsafe {
        libc::fanotify_init(
            libc::FAN_CLASS_NOTIF | libc::FAN_REPORT_FID | libc::FAN_NONBLOCK,
            libc::O_RDONLY as u32,
        )
    };
    let c = sys::cstr(&f);
    // SAFETY: As above.
    let r = unsafe {
        libc::fanotify_mark(
            fan,
            libc::FAN_MARK_ADD,
            libc::FAN_MODIFY | libc::FAN_CLOSE_WRITE,
            libc::AT_FDCWD,
            c.as_ptr(),
        )
    };
    out.push(format!(
        "mark: {}",
        if r == 0 {
            "ok".to_string()
        } else {
            format!("errno {}", sys::errno_of(&std::io::Error::last_os_error()))
        }
    ));
    let before = handle_at(&f, AT_HANDLE_FID, 128).map(|h| h.1);
    // The write copies the file up: the handle stays the lower one's.
    let _ = std::fs::OpenOptions::new()
        .append(true)
        .open(&f)
        .map(|mut h| {
            use std::io::Write;
            h.write_all(b"more")
        });
    let after = handle_at(&f, AT_HANDLE_FID, 128).map(|h| h.1);
    out.push(format!("handle unchanged by copy-up: {}", before == after));
    let mut buf = [0u8; 4096];
    // SAFETY: `buf` is writable; the descriptor is non-blocking.
    let n = unsafe { libc::read(fan, buf.as_mut_ptr().cast(), buf.len()) };
    let mut i = 0usize;
    while n > 0 && i + 24 <= n as usize {
        let len = u32::from_ne_bytes(buf[i..i + 4].try_into().unwrap()) as usize;
        let mask = u64::from_ne_bytes(buf[i + 8..i + 16].try_into().unwrap());
        // The first info record: header (4), fsid (8), file_handle.
        let info = &buf[i + 24..i + len];
        let fh = info.get(12..).unwrap_or(&[]);
        let bytes = fh
            .get(..4)
            .map_or(0, |b| u32::from_ne_bytes(b.try_into().unwrap()) as usize);
        let handle = fh.get(8..8 + bytes).map(|h| h.to_vec());
        out.push(format!(
            "event {mask:#x}: info type {:?}, handle as name_to_handle_at's: {}",
            info.first(),
            handle.is_some() && handle == after.clone().ok()
        ));
        if len == 0 {
            break;
        }
        i += len;
    }
    sys::close(fan);
    out
}

/// File handles of overlay objects for those that only compare them
/// (`AT_HANDLE_FID`, fanotify): overlayfs's format (`ovl_fh`) and choice
/// of real object (`ovl_check_encode_origin`), the lower one's kept over a
/// copy-up, compared with overlay; decodable handles refused with
/// `EOPNOTSUPP` as there (no NFS export).
pub fn file_handles(t: &mut T) -> TResult {
    let base = t.dir.join("handles");
    let l0 = base.join("l0");
    for f in ["f", "d/g", "h", "m/x", "watched"] {
        layers::file(&l0.join(f), b"lower")?;
    }
    let paths = ["", "f", "d", "d/g", "h", "m", "m/x", "u", "n"];
    let mut runs = Vec::new();
    for fstype in ["overlay", "rovl"] {
        let upper = base.join(format!("upper-{fstype}"));
        let work = base.join(format!("work-{fstype}"));
        layers::file(&upper.join("u"), b"upper")?;
        layers::dir(&upper.join("m"))?;
        layers::dir(&work)?;
        let mnt = t
            .mount(fstype, &opts(&[l0.clone()], &upper, &work))
            .map_err(|e| format!("mount {fstype}: errno {e}"))?;
        let _ = std::fs::write(mnt.join("n"), b"new");
        let mut run = handles_run(&mnt, &l0, &upper, &paths);
        // Copied up, and looked up again after eviction.
        let _ = std::fs::write(mnt.join("h"), b"copied up");
        let _ = std::fs::write("/proc/sys/vm/drop_caches", "2");
        run.extend(handles_run(&mnt, &l0, &upper, &paths));
        run.extend(fanotify_run(&mnt));
        // A lower-only mount: every handle is a lower one.
        let ro = t
            .mount(
                fstype,
                &format!("lowerdir={}:{}", upper.display(), l0.display()),
            )
            .map_err(|e| format!("mount {fstype}: errno {e}"))?;
        run.extend(handles_run(&ro, &upper, &l0, &paths));
        runs.push(run);
    }
    // With uuid=off the handles carry no uuid, the upper root's in the
    // index directory's `upper` xattr too; each filesystem then mounts the
    // other's layers.
    for fstype in ["overlay", "rovl"] {
        let upper = base.join(format!("nouuid-upper-{fstype}"));
        let work = base.join(format!("nouuid-work-{fstype}"));
        layers::dir(&upper)?;
        layers::dir(&work)?;
        let o = format!("{},index=on,uuid=off", opts(&[l0.clone()], &upper, &work));
        let mnt = t
            .mount(fstype, &o)
            .map_err(|e| format!("mount {fstype}: errno {e}"))?;
        let mut run = handles_run(&mnt, &l0, &upper, &["", "f", "u"]);
        t.umount(&mnt)?;
        let x = sys::getxattr(&work.join("index"), "trusted.overlay.upper");
        // Version, magic, length, flags, type and uuid (the handle itself
        // is of each side's own upper root).
        let header = x.map(|v| v[..v.len().min(21)].to_vec());
        run.push(format!("index upper xattr header: {header:?}"));
        let other = if fstype == "rovl" { "overlay" } else { "rovl" };
        let r = t.mount(other, &o).map(|m| t.umount(&m).is_ok());
        run.push(format!("mounted by the other: {r:?}"));
        runs.push(run);
    }
    crate::stacked::same_lines(&runs[0], &runs[1])?;
    crate::stacked::same_lines(&runs[2], &runs[3])?;
    let need = [
        "\"h\": type 0xf8 ",
        "\"h\" decodable: Err((95, 128))",
        "\"u\": type 0xf8",
        "info type Some(1), handle as name_to_handle_at's: true",
        "handle unchanged by copy-up: true",
    ];
    // The project's kernel has no fanotify (`CONFIG_FANOTIFY`): only the
    // handles from name_to_handle_at are checked there.
    let fanotify = !runs[1].iter().any(|l| l == "mark: errno 38");
    for n in need {
        if n.contains("info type") && !fanotify {
            continue;
        }
        if !runs[1].iter().any(|l| l.starts_with(n) || l.contains(n)) {
            return Err(Fail::Fail(format!("missing {n}: {:#?}", runs[1])));
        }
    }
    Ok(())
}

/// statx(2) of `p` with every field asked for: the fields a stacked
/// filesystem passes on or makes up, by name (`mnt_id`, times and numbers
/// left to the tree comparisons).
fn statx_fields(p: &Path) -> String {
    let c = sys::cstr(p);
    let mut b = [0u8; 256];
    // STATX_ALL | STATX_BTIME | STATX_MNT_ID | STATX_DIOALIGN | STATX_SUBVOL.
    let mask = 0x0fff | 0x0800 | 0x1000 | 0x2000 | 0x8000;
    // SAFETY: `b` is a writable struct statx.
    let r = unsafe {
        libc::syscall(
            libc::SYS_statx,
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
            mask,
            b.as_mut_ptr(),
        )
    };
    if r < 0 {
        return format!("errno {}", sys::errno_of(&std::io::Error::last_os_error()));
    }
    let u32_at = |o: usize| u32::from_ne_bytes(b[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_ne_bytes(b[o..o + 8].try_into().unwrap());
    // The mount id and subvolume are the mount's own.
    let got = u32_at(0) & !(0x1000 | 0x8000);
    format!(
        "mask {got:#x} blksize {} attributes {:#x}/{:#x} btime {} dio {}/{}",
        u32_at(4),
        u64_at(8),
        u64_at(56),
        u32_at(0) & 0x800 != 0,
        u32_at(152),
        u32_at(156)
    )
}

/// statx fields other than the numbers and times the tree comparisons
/// check (block size, attributes, birth time, direct I/O alignment), on
/// tmpfs and xfs layers, compared with overlay.
pub fn statx_passthrough(t: &mut T) -> TResult {
    let base = t.dir.join("statx");
    let (imgs, xfs) = (base.join("imgs"), base.join("xfs"));
    crate::stacked::loop_fs(t, &imgs, "400M", &[("mkfs.xfs", &xfs, 320)])?;
    let mut runs = vec![Vec::new(), Vec::new()];
    for root in [base.join("tmpfs"), xfs.clone()] {
        let l0 = root.join("l0");
        layers::file(&l0.join("f"), b"lower")?;
        layers::file(&l0.join("c"), b"to copy up")?;
        layers::file(&l0.join("d/g"), b"lower")?;
        std::os::unix::fs::symlink("f", l0.join("s")).map_err(|e| e.to_string())?;
        // Immutable and append-only files show in stx_attributes.
        layers::file(&l0.join("i"), b"immutable")?;
        layers::file(&l0.join("a"), b"append")?;
        let _ = std::process::Command::new("chattr")
            .arg("+i")
            .arg(l0.join("i"))
            .status();
        let _ = std::process::Command::new("chattr")
            .arg("+a")
            .arg(l0.join("a"))
            .status();
        for (i, fstype) in ["overlay", "rovl"].into_iter().enumerate() {
            let (u, w) = side_dirs(&root, fstype)?;
            let m = t
                .mount(fstype, &opts(&[l0.clone()], &u, &w))
                .map_err(|e| format!("mount {fstype}: errno {e}"))?;
            let _ = std::fs::write(m.join("new"), b"upper");
            let _ = std::fs::OpenOptions::new().append(true).open(m.join("c"));
            for p in ["", "f", "c", "d", "d/g", "s", "i", "a", "new", "missing"] {
                runs[i].push(format!(
                    "{} {p:?}: {}",
                    root.display(),
                    statx_fields(&m.join(p))
                ));
            }
        }
        for p in [l0.join("i"), l0.join("a")] {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg("-a")
                .arg(&p)
                .status();
        }
    }
    crate::stacked::same_lines(&runs[0], &runs[1])?;
    let has = |a: &str, b: &str| runs[1].iter().any(|l| l.contains(a) && l.contains(b));
    if !has("xfs \"f\"", "btime true") || !has("\"i\"", "attributes 0x10/") {
        return Err(Fail::Fail(format!("fields missing: {:#?}", runs[1])));
    }
    Ok(())
}

/// Whiteouts made by removals are hard links to one whiteout that the
/// mount keeps in its work (or index) directory (`ovl_whiteout`), with and
/// without the index, compared with overlay: link counts, which upper
/// whiteouts share an inode, what is left in the work directory.
pub fn shared_whiteouts(t: &mut T) -> TResult {
    let base = t.dir.join("whiteouts");
    let l0 = base.join("l0");
    for n in 0..6 {
        layers::file(&l0.join(format!("f{n}")), b"lower")?;
    }
    layers::dir(&l0.join("d/e"))?;
    layers::file(&l0.join("sub/x"), b"lower")?;
    let mut runs = Vec::new();
    for extra in ["", ",index=on"] {
        for fstype in ["overlay", "rovl"] {
            let tag = if extra.is_empty() { "" } else { "-index" };
            let upper = base.join(format!("upper-{fstype}{tag}"));
            let work = base.join(format!("work-{fstype}{tag}"));
            layers::dir(&upper)?;
            layers::dir(&work)?;
            let o = format!("{}{extra}", opts(&[l0.clone()], &upper, &work));
            let m = t
                .mount(fstype, &o)
                .map_err(|e| format!("mount {fstype}: errno {e}"))?;
            let mut run = Vec::new();
            for p in ["f0", "f1", "f2", "sub/x", "d/e", "d"] {
                let r = std::fs::remove_file(m.join(p)).or_else(|_| std::fs::remove_dir(m.join(p)));
                run.push(format!(
                    "remove {p}: {:?}",
                    r.map_err(|e| sys::errno_of(&e))
                ));
            }
            // A name made again over a whiteout, and removed again.
            let _ = std::fs::write(m.join("f1"), b"new");
            run.push(format!(
                "remove f1 again: {:?}",
                std::fs::remove_file(m.join("f1")).is_ok()
            ));
            let stat = |p: &Path| {
                use std::os::unix::fs::MetadataExt;
                std::fs::symlink_metadata(p).map(|s| (s.ino(), s.nlink(), s.rdev()))
            };
            let mut classes: Vec<u64> = Vec::new();
            for p in ["f0", "f1", "f2", "sub/x", "d", "f3"] {
                let line = match stat(&upper.join(p)) {
                    Ok((ino, nlink, rdev)) => {
                        let c = classes.iter().position(|&i| i == ino).unwrap_or_else(|| {
                            classes.push(ino);
                            classes.len() - 1
                        });
                        format!("inode #{c} nlink {nlink} rdev {rdev}")
                    }
                    Err(e) => format!("{:?}", sys::errno_of(&e)),
                };
                run.push(format!("upper {p}: {line}"));
            }
            let tmpdir = if extra.is_empty() {
                work.join("work")
            } else {
                work.join("index")
            };
            let temps: Vec<String> = std::fs::read_dir(&tmpdir)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .filter(|e| e.file_name().to_string_lossy().starts_with('#'))
                        .map(|e| format!("{:?}", stat(&e.path()).map(|s| s.1)))
                        .collect()
                })
                .unwrap_or_default();
            run.push(format!("temporary entries (nlink): {temps:?}"));
            t.umount(&m)?;
            // The next mount of the same layers cleans the work directory.
            let m = t
                .mount(fstype, &o)
                .map_err(|e| format!("remount {fstype}: errno {e}"))?;
            run.push(format!(
                "after remount: upper f0 nlink {:?}, listing {:?}",
                stat(&upper.join("f0")).map(|s| s.1),
                // "." is each side's own upper directory.
                snapshot::listing(&m)
                    .map(|l| l.into_iter().filter(|e| e.0 != ".").collect::<Vec<_>>())
            ));
            t.umount(&m)?;
            runs.push(run);
        }
    }
    crate::stacked::same_lines(&runs[0], &runs[1])?;
    crate::stacked::same_lines(&runs[2], &runs[3])?;
    if !runs[3]
        .iter()
        .any(|l| l.starts_with("upper f2: inode #0 nlink 6"))
    {
        return Err(Fail::Fail(format!("whiteouts not shared: {:#?}", runs[3])));
    }
    Ok(())
}
