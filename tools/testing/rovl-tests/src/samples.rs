// SPDX-License-Identifier: GPL-2.0
//! The programs under `samples/` run as the README tells users to run
//! them, on overlay and on rovl.

use crate::layers;
use crate::upper::writable_pair;
use crate::{Fail, TResult, T};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's top directory: this binary is
/// `tools/testing/rovl-tests/target/release/rovl-tests` in it.
fn top() -> Result<PathBuf, Fail> {
    std::env::current_exe()
        .map_err(|e| e.to_string())?
        .ancestors()
        .nth(6)
        .map(Path::to_path_buf)
        .ok_or_else(|| Fail::Fail("no repository directory".into()))
}

/// Runs `cmd`; returns its exit code and its output.
fn output(cmd: &Path, args: &[&str]) -> Result<(i32, String), Fail> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", cmd.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.code().unwrap_or(-1), text))
}

/// `samples/layered-rootfs.sh`: a container root (busybox base, app layer,
/// writable container layer) works the same on both, and the container
/// layers they leave behind are the same.
pub fn sample_layered_rootfs(t: &mut T) -> TResult {
    let script = top()?.join("samples/layered-rootfs.sh");
    let mut uppers = Vec::new();
    for fs in ["overlay", "rovl"] {
        let d = t.dir.join(fs);
        let (code, text) = output(&script, &[d.to_str().unwrap(), fs])?;
        if code != 0 || !text.contains(&format!("layered-rootfs: ok ({fs})")) {
            return Err(Fail::Fail(format!("{fs}: exit {code}: {text}")));
        }
        let (_, list) = output(
            Path::new("find"),
            &[
                d.join("container/upper").to_str().unwrap(),
                "-printf",
                "%P %y %s %m\\n",
            ],
        )?;
        let mut list: Vec<String> = list.lines().map(str::to_string).collect();
        list.sort();
        uppers.push(list);
    }
    if uppers[0] != uppers[1] {
        return Err(Fail::Fail(format!(
            "container layers differ: overlay {:?} rovl {:?}",
            uppers[0], uppers[1]
        )));
    }
    Ok(())
}

/// `samples/rorw.c`: after a copy-up through another descriptor, read(2)
/// sees the new data on both; a shared mapping made before the copy-up does
/// on rovl only (overlayfs documents it as stale).
pub fn sample_rorw(t: &mut T) -> TResult {
    let bin = top()?.join("tools/testing/rovl-tests/target/rorw");
    if !bin.exists() {
        return Err(Fail::Fail(format!(
            "{} not built (make tests)",
            bin.display()
        )));
    }
    let base = t.dir.join("rorw");
    let l0 = base.join("l0");
    layers::file(&l0.join("f"), b"lower data\n")?;
    let (o, r) = writable_pair(t, &base, &[l0])?;
    let (oc, ot) = output(&bin, &[o.mnt.join("f").to_str().unwrap()])?;
    let (rc, rt) = output(&bin, &[r.mnt.join("f").to_str().unwrap()])?;
    let read_new = "read(2):      written after copy-up (new)";
    if rc != 0 || !rt.contains(read_new) || !rt.contains("(new)\n") {
        return Err(Fail::Fail(format!("rovl: exit {rc}: {rt}")));
    }
    if oc != 1 || !ot.contains(read_new) || !ot.contains("(stale)") {
        return Err(Fail::Fail(format!(
            "overlay (expected a stale mapping): exit {oc}: {ot}"
        )));
    }
    Ok(())
}
