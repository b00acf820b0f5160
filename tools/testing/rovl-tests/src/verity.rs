// SPDX-License-Identifier: GPL-2.0

//! fs-verity digests of metacopy files (`verity=on|require`), against
//! overlayfs on the same layers: an ext4 filesystem with the verity feature
//! holds the lower and upper layers.

use crate::sys::{self, Errno};
use crate::upper::opts;
use crate::{fs_lines, layers, Fail, Kmsg, TResult, T};
use std::path::{Path, PathBuf};

const METACOPY: &str = "trusted.overlay.metacopy";

fn hex(v: &[u8]) -> String {
    v.iter().map(|b| format!("{b:02x}")).collect()
}

/// A real file's `metacopy` xattr, in hex, or the errno of reading it.
fn metacopy_of(p: &Path) -> String {
    match sys::getxattr(p, METACOPY) {
        Ok(v) => format!("[{}]", hex(&v)),
        Err(e) => format!("errno {e}"),
    }
}

/// A whole file's data (its hash) or the errno of reading it.
fn read(p: &Path) -> String {
    match std::fs::read(p) {
        Ok(d) => format!("{:016x}", crate::snapshot::fnv(&d)),
        Err(e) => format!("errno {}", e.raw_os_error().unwrap_or(0)),
    }
}

fn open_close(p: &Path, flags: i32) -> Result<(), Errno> {
    sys::open(p, flags).map(sys::close)
}

fn chmod(p: &Path) -> Result<(), Errno> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o604))
        .map_err(|e| e.raw_os_error().unwrap_or(0))
}

/// The `metacopy` value overlayfs records for data with this digest:
/// version 0, length, flags 0, algorithm, digest.
fn value_for(alg: u16, digest: &[u8]) -> String {
    let mut v = vec![0, (4 + digest.len()) as u8, 0, alg as u8];
    v.extend_from_slice(digest);
    format!("[{}]", hex(&v))
}

/// Makes `p` a lower metacopy file of `size` bytes whose data is `redirect`
/// in a data-only layer, with `value` as its `metacopy` xattr.
fn lower_metacopy(p: &Path, size: u64, redirect: &str, value: &[u8]) -> TResult {
    crate::tests::metacopy_file(p, size, Some(redirect))?;
    sys::setxattr(p, METACOPY, value).map_err(|e| Fail::Fail(format!("setxattr: errno {e}")))
}

/// Metacopy copy-up with `verity=on` records the lower data's fs-verity
/// digest, `verity=require` copies data without one up whole and refuses
/// metacopy files without a digest, and data whose digest differs from the
/// recorded one is refused (`EIO`) for reading and for copy-up; `verity=off`
/// checks nothing. Lower metacopy files over a data-only layer (as composefs
/// builds them) are checked the same way. Results, upper xattrs and kernel
/// log lines are compared with overlayfs's.
pub fn verity_metacopy(t: &mut T) -> TResult {
    let base = t.dir.join("verity");
    let (imgs, ext4) = (base.join("imgs"), base.join("ext4"));
    crate::stacked::loop_fs(
        t,
        &imgs,
        "300m",
        &[("mkfs.ext4 -O verity -b 4096", &ext4, 200)],
    )?;
    let (lower, blobs, meta) = (ext4.join("lower"), ext4.join("blobs"), ext4.join("meta"));
    let data: Vec<u8> = (0..20_000u32).map(|i| (i * 13 % 251) as u8).collect();
    let verity = ["v", "w", "x", "y"];
    for f in verity.iter().chain(&["p", "q"]) {
        layers::file(&lower.join(f), &data)?;
    }
    for (i, b) in ["b1", "b2", "b3"].iter().enumerate() {
        layers::file(&blobs.join(b), &data[i..])?;
    }
    let enable = |p: PathBuf| {
        sys::enable_verity(&p)
            .map_err(|e| Fail::Fail(format!("enable verity on {}: errno {e}", p.display())))
    };
    for f in verity {
        enable(lower.join(f))?;
    }
    for b in ["b1", "b2", "b3"] {
        enable(blobs.join(b))?;
    }
    let measure = |p: &Path| {
        sys::measure_verity(p).map_err(|e| Fail::Fail(format!("measure verity: errno {e}")))
    };
    let (alg, digest) = measure(&lower.join("v"))?;
    let want_v = value_for(alg, &digest);

    let mut kmsg = Kmsg::open();
    let mut sides = Vec::new();
    for fstype in ["overlay", "rovl"] {
        let (u, w) = crate::upper::side_dirs(&ext4, fstype)?;
        let o = opts(&[lower.clone()], &u, &w);
        let mut st = Vec::new();
        let _ = fs_lines(&mut kmsg, fstype);
        let mount = |t: &mut T, extra: &str| {
            t.mount(fstype, &format!("{o},{extra}"))
                .map_err(|e| Fail::Fail(format!("mount {fstype} -o {extra}: errno {e}")))
        };
        // verity=on: metadata copy-ups, with and without a digest, one
        // then copied up whole by an open for writing.
        let m = mount(t, "verity=on")?;
        for f in ["v", "p", "w", "y"] {
            st.push(format!("on: chmod {f}: {:?}", chmod(&m.join(f))));
        }
        st.push(format!(
            "on: open y for writing: {:?}",
            open_close(&m.join("y"), libc::O_WRONLY)
        ));
        for f in ["v", "p", "w", "y"] {
            st.push(format!("on: read {f}: {}", read(&m.join(f))));
            st.push(format!("on: upper {f}: {}", metacopy_of(&u.join(f))));
        }
        st.push(format!("on: log {:?}", fs_lines(&mut kmsg, fstype)));
        t.umount(&m)?;
        // The digest recorded for w no longer matches its data.
        let mut v = sys::getxattr(&u.join("w"), METACOPY)
            .map_err(|e| Fail::Fail(format!("{fstype}: no digest on w: errno {e}")))?;
        if let Some(last) = v.last_mut() {
            *last ^= 0xff;
        }
        sys::setxattr(&u.join("w"), METACOPY, &v).map_err(|e| format!("setxattr: errno {e}"))?;

        let m = mount(t, "verity=require")?;
        for f in ["v", "p", "w"] {
            st.push(format!("require: read {f}: {}", read(&m.join(f))));
        }
        st.push(format!(
            "require: open w for writing: {:?}",
            open_close(&m.join("w"), libc::O_WRONLY)
        ));
        for f in ["x", "q"] {
            st.push(format!("require: chmod {f}: {:?}", chmod(&m.join(f))));
            st.push(format!("require: read {f}: {}", read(&m.join(f))));
            st.push(format!("require: upper {f}: {}", metacopy_of(&u.join(f))));
            st.push(format!("require: upper data {f}: {}", read(&u.join(f))));
        }
        st.push(format!("require: log {:?}", fs_lines(&mut kmsg, fstype)));
        t.umount(&m)?;

        let m = mount(t, "metacopy=on,verity=off")?;
        for f in ["w", "p"] {
            st.push(format!("off: read {f}: {}", read(&m.join(f))));
        }
        st.push(format!("off: log {:?}", fs_lines(&mut kmsg, fstype)));
        t.umount(&m)?;
        sides.push(st);
    }
    crate::stacked::same_lines(&sides[0], &sides[1])?;
    // What overlayfs does is the reference; these must hold as well.
    let r = &sides[1];
    let ok = read(&lower.join("v"));
    for need in [
        format!("on: upper v: {want_v}"),
        "on: upper p: []".to_string(),
        "on: upper y: errno 61".to_string(),
        format!("on: read w: {ok}"),
        "require: read p: errno 5".to_string(),
        "require: read w: errno 5".to_string(),
        format!("require: read v: {ok}"),
        "require: open w for writing: Err(5)".to_string(),
        "require: upper q: errno 61".to_string(),
        format!("require: upper data q: {ok}"),
        format!("off: read w: {ok}"),
    ] {
        if !r.contains(&need) {
            return Err(Fail::Fail(format!("rovl lacks [{need}]: {r:#?}")));
        }
    }
    if !r
        .iter()
        .any(|l| l.starts_with("require: upper x: [0024") && !l.contains("errno"))
    {
        return Err(Fail::Fail(format!("no digest recorded for x: {r:#?}")));
    }

    // Lower metacopy files over a data-only layer, no upper layer: right,
    // wrong and no digest, and malformed values.
    let mut values = Vec::new();
    for b in ["b1", "b2", "b3"] {
        let (alg, d) = measure(&blobs.join(b))?;
        let mut v = vec![0, (4 + d.len()) as u8, 0, alg as u8];
        v.extend_from_slice(&d);
        values.push(v);
    }
    let size = |i: usize| (data.len() - i) as u64;
    lower_metacopy(&meta.join("good"), size(0), "/b1", &values[0])?;
    lower_metacopy(&meta.join("wrong"), size(1), "/b2", &values[0])?;
    lower_metacopy(&meta.join("none"), size(2), "/b3", b"")?;
    let mut bad_version = values[0].clone();
    bad_version[0] = 1;
    lower_metacopy(&meta.join("version"), size(0), "/b1", &bad_version)?;
    lower_metacopy(&meta.join("length"), size(0), "/b1", &values[0][..20])?;
    let names = ["good", "wrong", "none", "version", "length"];
    let mut seen = Vec::new();
    for mode in ["on", "require"] {
        let opts = format!(
            "lowerdir={}::{},verity={mode}",
            meta.display(),
            blobs.display()
        );
        let (o, r) = t.pair(&opts)?;
        let _ = fs_lines(&mut kmsg, "rovl");
        let mut per = Vec::new();
        for (m, fstype) in [(&o, "overlay"), (&r, "rovl")] {
            let mut st = Vec::new();
            for n in names {
                st.push(format!("{mode}: read {n}: {}", read(&m.join(n))));
            }
            st.push(format!("{mode}: log {:?}", fs_lines(&mut kmsg, fstype)));
            per.push(st);
        }
        t.umount(&o)?;
        t.umount(&r)?;
        crate::stacked::same_lines(&per[0], &per[1])?;
        seen.extend(per.pop().unwrap());
    }
    for need in [
        format!("on: read good: {}", read(&blobs.join("b1"))),
        "on: read wrong: errno 5".to_string(),
        format!("on: read none: {}", read(&blobs.join("b3"))),
        "on: read version: errno 5".to_string(),
        "on: read length: errno 5".to_string(),
        "require: read none: errno 5".to_string(),
    ] {
        if !seen.contains(&need) {
            return Err(Fail::Fail(format!("rovl lacks [{need}]: {seen:#?}")));
        }
    }
    Ok(())
}
