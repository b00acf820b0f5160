// SPDX-License-Identifier: GPL-2.0
//! rovl's differential test runner.
//!
//! Runs inside the test VM as root. Every scenario builds layers on tmpfs,
//! mounts them with the in-kernel `overlay` and with `rovl` using the same
//! options, and compares what the same syscalls return on both: errno,
//! data, stat fields and directory listings. Kernel log lines that report a
//! bug during a scenario fail it. Prints one line per scenario and closes
//! with `N passed, N failed, N skipped`.

mod export;
mod layers;
mod samples;
mod snapshot;
mod stacked;
mod sys;
mod tests;
mod upper;
mod verity;

use std::fs;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Why a scenario did not pass.
pub enum Fail {
    Fail(String),
    Skip(String),
}

impl From<String> for Fail {
    fn from(s: String) -> Self {
        Fail::Fail(s)
    }
}

pub type TResult = Result<(), Fail>;

/// A scenario's workspace: its directory and the mounts it made.
pub struct T {
    pub dir: PathBuf,
    mounts: Vec<PathBuf>,
    seq: usize,
}

impl T {
    /// Creates (empty) layer directories under the scenario directory.
    pub fn layers<const N: usize>(&self, names: [&str; N]) -> Result<[PathBuf; N], Fail> {
        let v = names.map(|n| self.dir.join(n));
        for p in &v {
            layers::dir(p)?;
        }
        Ok(v)
    }

    /// Mounts `fstype` with `opts` on a new mountpoint.
    pub fn mount(&mut self, fstype: &str, opts: &str) -> Result<PathBuf, sys::Errno> {
        self.seq += 1;
        let mp = self.dir.join(format!("mnt-{fstype}-{}", self.seq));
        fs::create_dir_all(&mp).expect("mkdir mountpoint");
        sys::mount(fstype, &mp, opts, 0)?;
        self.mounts.push(mp.clone());
        Ok(mp)
    }

    /// Mounts `overlay` and `rovl` with the same options: (overlay, rovl).
    pub fn pair(&mut self, opts: &str) -> Result<(PathBuf, PathBuf), Fail> {
        let o = self
            .mount("overlay", opts)
            .map_err(|e| format!("mount overlay -o {opts}: errno {e}"))?;
        let r = self
            .mount("rovl", opts)
            .map_err(|e| format!("mount rovl -o {opts}: errno {e}"))?;
        Ok((o, r))
    }

    /// Takes over a mount made by other means, to unmount at the end.
    pub fn adopt(&mut self, mp: &Path) {
        self.mounts.push(mp.to_path_buf());
    }

    /// Unmounts `mp` now (it must be one of ours).
    pub fn umount(&mut self, mp: &Path) -> Result<(), Fail> {
        sys::umount(mp).map_err(|e| format!("umount {}: errno {e}", mp.display()))?;
        self.mounts.retain(|m| m != mp);
        Ok(())
    }

    fn cleanup(&mut self) -> Result<(), String> {
        let mut err = Ok(());
        while let Some(m) = self.mounts.pop() {
            if let Err(e) = sys::umount(&m) {
                err = Err(format!(
                    "umount {}: errno {e} (something still holds the mount)",
                    m.display()
                ));
            }
        }
        err
    }
}

/// Kernel log reader positioned at the end, to see what one scenario logs.
pub struct Kmsg(fs::File);

impl Kmsg {
    pub fn open() -> Option<Kmsg> {
        let f = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .ok()?;
        use std::os::fd::AsRawFd;
        sys::lseek(f.as_raw_fd(), 0, libc::SEEK_END).ok()?;
        Some(Kmsg(f))
    }

    /// Messages logged since the last call.
    pub fn lines(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            match self.0.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    if let Some((_, msg)) = rec.split_once(';') {
                        out.push(msg.lines().next().unwrap_or("").to_string());
                    }
                }
            }
        }
        out
    }
}

/// What `fstype` logged since the last read of `k`, without its prefix
/// (`overlayfs: ` or `rovl: `); nothing without /dev/kmsg.
pub fn fs_lines(k: &mut Option<Kmsg>, fstype: &str) -> Vec<String> {
    let prefix = if fstype == "rovl" {
        "rovl: "
    } else {
        "overlayfs: "
    };
    k.as_mut().map_or(vec![], |k| {
        k.lines()
            .into_iter()
            .filter_map(|l| l.strip_prefix(prefix).map(String::from))
            .collect()
    })
}

const SPLATS: &[&str] = &[
    "BUG:",
    "WARNING:",
    "Oops",
    "KASAN",
    "UBSAN",
    "general protection",
    "possible circular locking",
    "possible recursive locking",
    "inconsistent lock state",
    "suspicious RCU",
    "Call Trace",
    "panicked",
];

fn insmod(path: &Path) -> Result<(), String> {
    let st = Command::new("insmod")
        .arg(path)
        .status()
        .map_err(|e| format!("insmod: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("insmod {} failed", path.display()))
    }
}

fn run(cmd: &str, args: &[&str]) -> Result<(), String> {
    let st = Command::new(cmd)
        .args(args)
        .status()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{cmd} {args:?} failed"))
    }
}

fn autoload(module: &Path, scratch: &Path) -> Result<(), String> {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").map_err(|e| e.to_string())?;
    let release = release.trim();
    // The guest's root is the host's, read-only and without this kernel's
    // /lib/modules: install into a module root on tmpfs and point the
    // kernel's modprobe helper at it.
    let base = scratch.join("modroot");
    let extra = base.join(format!("lib/modules/{release}/extra"));
    fs::create_dir_all(&extra).map_err(|e| e.to_string())?;
    fs::copy(module, extra.join("rovl.ko")).map_err(|e| e.to_string())?;
    run("depmod", &["-b", base.to_str().unwrap(), release])?;
    let helper = scratch.join("modprobe-helper");
    fs::write(
        &helper,
        format!(
            "#!/bin/sh\nexec /sbin/modprobe -d {} \"$@\"\n",
            base.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    layers::chmod(&helper, 0o755)?;
    let old = fs::read_to_string("/proc/sys/kernel/modprobe").map_err(|e| e.to_string())?;
    fs::write("/proc/sys/kernel/modprobe", helper.to_str().unwrap()).map_err(|e| e.to_string())?;
    let r = (|| {
        let (l1, l2, m) = (scratch.join("al1"), scratch.join("al2"), scratch.join("am"));
        for d in [&l1, &l2, &m] {
            fs::create_dir_all(d).map_err(|e| e.to_string())?;
        }
        fs::write(l1.join("f"), b"autoloaded").map_err(|e| e.to_string())?;
        let opts = format!("lowerdir={}:{}", l1.display(), l2.display());
        sys::mount("rovl", &m, &opts, 0)
            .map_err(|e| format!("mount -t rovl without insmod: errno {e}"))?;
        let data = fs::read(m.join("f"));
        sys::umount(&m).map_err(|e| format!("umount: errno {e}"))?;
        if data.map_err(|e| e.to_string())? != b"autoloaded" {
            return Err("wrong data through the autoloaded module".into());
        }
        run("rmmod", &["rovl"])
    })();
    let _ = fs::write("/proc/sys/kernel/modprobe", old.trim());
    r
}

/// `register_overlay=1`: rovl also registers as `overlay`, for test suites
/// that hard-code `mount -t overlay`, and never while overlayfs holds the
/// name (nor can overlayfs load while rovl holds it). Starts and ends with
/// overlay loaded and rovl not.
fn register_overlay(kdir: &Path, module: &Path, scratch: &Path) -> Result<(), String> {
    let overlay_ko = kdir.join("fs/overlayfs/overlay.ko");
    let filesystems = || fs::read_to_string("/proc/filesystems").unwrap_or_default();
    let has = |name: &str| {
        filesystems()
            .lines()
            .any(|l| l.split_whitespace().last() == Some(name))
    };
    if Path::new("/sys/module/rovl").exists() {
        run("rmmod", &["rovl"])?;
    }
    let mut kmsg = Kmsg::open().ok_or("no /dev/kmsg")?;
    kmsg.lines();
    if run("insmod", &[module.to_str().unwrap(), "register_overlay=1"]).is_ok() {
        let _ = run("rmmod", &["rovl"]);
        return Err("loaded with register_overlay=1 while overlay is loaded".into());
    }
    let log = kmsg.lines();
    let why: Vec<&String> = log.iter().filter(|l| l.contains("rovl:")).collect();
    if why.len() != 1 || !why[0].contains("register_overlay=1 but filesystem type overlay is taken")
    {
        return Err(format!("refusal not logged as one rovl: line: {log:?}"));
    }
    run("rmmod", &["overlay"])?;
    run("insmod", &[module.to_str().unwrap(), "register_overlay=1"])?;
    let r = (|| {
        if !has("overlay") || !has("rovl") {
            return Err(format!("/proc/filesystems: {}", filesystems()));
        }
        if run("insmod", &[overlay_ko.to_str().unwrap()]).is_ok() {
            return Err("overlay loaded while rovl holds the name".into());
        }
        let refs = || fs::read_to_string("/sys/module/rovl/refcnt").unwrap_or_default();
        let (l, l2, m) = (
            scratch.join("ro-l"),
            scratch.join("ro-l2"),
            scratch.join("ro-m"),
        );
        for d in [&l, &l2, &m] {
            fs::create_dir_all(d).map_err(|e| e.to_string())?;
        }
        fs::write(l.join("f"), b"through rovl").map_err(|e| e.to_string())?;
        let before = refs();
        sys::mount(
            "overlay",
            &m,
            &format!("lowerdir={}:{}", l.display(), l2.display()),
            0,
        )
        .map_err(|e| format!("mount -t overlay: errno {e}"))?;
        let during = refs();
        let data = fs::read(m.join("f")).map_err(|e| e.to_string());
        sys::umount(&m).map_err(|e| format!("umount: errno {e}"))?;
        if data? != b"through rovl" {
            return Err("wrong data".into());
        }
        // The mount pins rovl, not overlay (which is not loaded).
        if during.trim().parse::<u32>().unwrap_or(0) <= before.trim().parse::<u32>().unwrap_or(0) {
            return Err(format!(
                "rovl refcnt {before:?} -> {during:?} under an overlay mount"
            ));
        }
        Ok(())
    })();
    run("rmmod", &["rovl"])?;
    run("insmod", &[overlay_ko.to_str().unwrap()])?;
    r
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut kdir = None;
    let mut module = None;
    let mut filter = None;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--kdir" => kdir = args.get(i + 1).cloned(),
            "--module" => module = args.get(i + 1).cloned(),
            "--filter" => filter = args.get(i + 1).cloned(),
            a => {
                eprintln!("unknown argument {a}; usage: rovl-tests --kdir KDIR --module rovl.ko [--filter SUBSTR]");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    let (Some(kdir), Some(module)) = (kdir, module) else {
        eprintln!("usage: rovl-tests --kdir KDIR --module rovl.ko [--filter SUBSTR]");
        std::process::exit(2);
    };
    if let Err(e) = insmod(&Path::new(&kdir).join("fs/overlayfs/overlay.ko"))
        .and_then(|_| insmod(Path::new(&module)))
    {
        println!("FATAL: {e}");
        println!("0 passed, 1 failed");
        std::process::exit(1);
    }
    let scratch = PathBuf::from("/tmp/rovl-tests");
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch).expect("scratch dir");

    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut kmsg = Kmsg::open();
    for (name, f) in tests::ALL {
        if filter.as_deref().is_some_and(|flt| !name.contains(flt)) {
            continue;
        }
        let mut t = T {
            dir: scratch.join(name),
            mounts: Vec::new(),
            seq: 0,
        };
        fs::create_dir_all(&t.dir).expect("test dir");
        if let Some(k) = kmsg.as_mut() {
            k.lines();
        }
        let start = Instant::now();
        let mut r = f(&mut t);
        if let Err(e) = t.cleanup() {
            if r.is_ok() {
                r = Err(Fail::Fail(e));
            }
        }
        if let Some(k) = kmsg.as_mut() {
            let bad: Vec<String> = k
                .lines()
                .into_iter()
                .filter(|l| SPLATS.iter().any(|s| l.contains(s)))
                .collect();
            if !bad.is_empty() {
                r = Err(Fail::Fail(format!("kernel reported: {}", bad.join(" | "))));
            }
        }
        let ms = start.elapsed().as_millis();
        match r {
            Ok(()) => {
                passed += 1;
                println!("ok      {name} ({ms} ms)");
            }
            Err(Fail::Skip(why)) => {
                skipped += 1;
                println!("skipped {name}: {why}");
            }
            Err(Fail::Fail(why)) => {
                failed += 1;
                println!("FAILED  {name}: {why}");
            }
        }
    }

    // Every rovl mount is gone: the module must unload cleanly.
    if filter.is_none() {
        let st = Command::new("rmmod").arg("rovl").status();
        if st.map(|s| s.success()).unwrap_or(false) {
            passed += 1;
            println!("ok      module_unload");
        } else {
            failed += 1;
            println!("FAILED  module_unload: rmmod rovl failed (references leaked?)");
        }
    }
    // With the module installed and depmod run, `mount -t rovl` loads it
    // through its fs-rovl alias.
    if filter.is_none() {
        match autoload(Path::new(&module), &scratch) {
            Ok(()) => {
                passed += 1;
                println!("ok      module_autoload");
            }
            Err(why) => {
                failed += 1;
                println!("FAILED  module_autoload: {why}");
            }
        }
    }
    if filter
        .as_deref()
        .is_none_or(|f| "module_register_overlay".contains(f))
    {
        match register_overlay(Path::new(&kdir), Path::new(&module), &scratch) {
            Ok(()) => {
                passed += 1;
                println!("ok      module_register_overlay");
            }
            Err(why) => {
                failed += 1;
                println!("FAILED  module_register_overlay: {why}");
            }
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    std::process::exit(if failed == 0 { 0 } else { 1 });
}
