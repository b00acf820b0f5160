// SPDX-License-Identifier: GPL-2.0
//! Benchmarks in the bench VM: every workload on native, overlay, rovl and
//! fuse-overlayfs over the same base filesystem, interleaved, several
//! repetitions each. Prints one JSON object per measurement on stdout:
//! `{"base":..,"workload":..,"fs":..,"rep":..,"value":..,"unit":..,"frac":..}`
//! where `unit` is `s` (seconds) or `B` (bytes) and `frac` is the share of
//! the workload's items that this filesystem ran (fuse-overlayfs runs a tenth
//! of the metadata workloads: the report scales its time up and marks it).
//!
//! Usage: rovl-bench --dir DIR --base NAME [--reps N] [--only SUBSTR]
//!        [--scale F] [--data-scale F] [--fs a,b] [--tar SRC.tar]

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const FSES: [&str; 4] = ["native", "overlay", "rovl", "fuse-overlayfs"];
const MIB: usize = 1 << 20;
/// The share of a metadata workload's items that fuse-overlayfs runs: a
/// millisecond per operation under TCG would make it most of the run.
const FUSE_FRAC: f64 = 0.1;

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("path with NUL")
}

fn die(msg: &str) -> ! {
    eprintln!("rovl-bench: {msg}");
    std::process::exit(1);
}

fn sh(cmd: &str, args: &[&str]) {
    let st = Command::new(cmd).args(args).status();
    if !st.map(|s| s.success()).unwrap_or(false) {
        die(&format!("{cmd} {args:?} failed"));
    }
}

fn mkdirs(p: &Path) {
    fs::create_dir_all(p).unwrap_or_else(|e| die(&format!("mkdir {}: {e}", p.display())));
}

fn mount(fstype: &str, target: &Path, data: &str) {
    let (t, s, d) = (
        cstr(target),
        CString::new(fstype).unwrap(),
        CString::new(data).unwrap(),
    );
    let src = CString::new("none").unwrap();
    // SAFETY: Valid NUL-terminated strings.
    let r = unsafe { libc::mount(src.as_ptr(), t.as_ptr(), s.as_ptr(), 0, d.as_ptr().cast()) };
    if r != 0 {
        die(&format!(
            "mount -t {fstype} {}: {}",
            target.display(),
            std::io::Error::last_os_error()
        ));
    }
}

fn umount(target: &Path) {
    let t = cstr(target);
    // SAFETY: A valid path.
    if unsafe { libc::umount2(t.as_ptr(), 0) } != 0 {
        // fuse-overlayfs may still be settling: try lazily.
        // SAFETY: As above.
        unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) };
    }
}

fn drop_caches() {
    // SAFETY: Plain syscall.
    unsafe { libc::sync() };
    let _ = fs::write("/proc/sys/vm/drop_caches", "3");
}

/// A merged view for one measurement: the directory to work in and how to
/// take it down.
struct View {
    dir: PathBuf,
    mounted: Option<PathBuf>,
    /// Upper, work and mount point of the view, removed at the end.
    base: Option<PathBuf>,
}

impl Drop for View {
    fn drop(&mut self) {
        if let Some(m) = &self.mounted {
            umount(m);
        }
        if let Some(b) = &self.base {
            let _ = fs::remove_dir_all(b);
        }
    }
}

/// Sets up `fs` over `lowers` (topmost first) with a fresh upper layer
/// under `scratch`, with `rovl_opts` appended to rovl's options; for
/// native, `native` is the directory holding the same files.
fn view(
    fs: &str,
    lowers: &[PathBuf],
    native: &Path,
    scratch: &Path,
    n: usize,
    rovl_opts: &str,
) -> View {
    if fs == "native" {
        return View {
            dir: native.to_path_buf(),
            mounted: None,
            base: None,
        };
    }
    let base = scratch.join(format!("{fs}-{n}"));
    let (u, w, m) = (base.join("u"), base.join("w"), base.join("m"));
    for d in [&u, &w, &m] {
        mkdirs(d);
    }
    // Many layers: names relative to their common parent, made the working
    // directory, so the options fit in the one page that mount(2) passes.
    let l: Vec<String> = if lowers.len() > 20 {
        let parent = lowers[0].parent().unwrap_or(Path::new("/"));
        std::env::set_current_dir(parent).unwrap_or_else(|e| die(&format!("chdir: {e}")));
        lowers
            .iter()
            .map(|p| {
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            })
            .collect()
    } else {
        lowers.iter().map(|p| p.display().to_string()).collect()
    };
    let mut opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        l.join(":"),
        u.display(),
        w.display()
    );
    if fs == "rovl" {
        opts.push_str(rovl_opts);
    }
    if fs == "fuse-overlayfs" {
        sh("fuse-overlayfs", &["-o", &opts, m.to_str().unwrap()]);
    } else {
        mount(fs, &m, &opts);
    }
    View {
        dir: m.clone(),
        mounted: Some(m),
        base: Some(base),
    }
}

/// fio's job runtime in seconds (its JSON `runtime`, milliseconds), for
/// `args` on `file`.
fn fio(file: &Path, args: &[&str]) -> f64 {
    let out = Command::new("fio")
        .args(["--name=b", "--output-format=json", "--thread"])
        .arg(format!("--filename={}", file.display()))
        .args(args)
        .output()
        .unwrap_or_else(|e| die(&format!("fio: {e}")));
    let s = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        die(&format!(
            "fio {args:?} on {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // The job's elapsed time, the largest of read and write runtimes.
    let mut best = 0u64;
    for part in s.split("\"runtime\" : ").skip(1) {
        let v: String = part.chars().take_while(|c| c.is_ascii_digit()).collect();
        best = best.max(v.parse().unwrap_or(0));
    }
    best as f64 / 1000.0
}

fn timed(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

fn write_file(p: &Path, len: usize, seed: u8) {
    let mut f =
        fs::File::create(p).unwrap_or_else(|e| die(&format!("create {}: {e}", p.display())));
    let chunk: Vec<u8> = (0..MIB)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    let mut left = len;
    while left > 0 {
        let n = left.min(MIB);
        f.write_all(&chunk[..n]).unwrap();
        left -= n;
    }
}

fn read_all(p: &Path) {
    let mut f = fs::File::open(p).unwrap_or_else(|e| die(&format!("open {}: {e}", p.display())));
    std::io::copy(&mut f, &mut std::io::sink())
        .unwrap_or_else(|e| die(&format!("read {}: {e}", p.display())));
}

/// Reads every page of `p` through a read-only shared mapping, as fio's
/// mmap engine maps it.
fn map_all(p: &Path) {
    use std::os::fd::AsRawFd;
    let f = fs::File::open(p).unwrap_or_else(|e| die(&format!("open {}: {e}", p.display())));
    let len = f.metadata().map(|m| m.len() as usize).unwrap_or(0);
    if len == 0 {
        return;
    }
    // SAFETY: A new read-only mapping chosen by the kernel.
    let m = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    if m == libc::MAP_FAILED {
        die(&format!("mmap {}", p.display()));
    }
    let mut sum = 0u8;
    for off in (0..len).step_by(4096) {
        // SAFETY: Within the mapping, which lies within the file.
        sum ^= unsafe { std::ptr::read_volatile(m.cast::<u8>().add(off)) };
    }
    std::hint::black_box(sum);
    // SAFETY: Our mapping.
    unsafe { libc::munmap(m, len) };
}

fn many_files(dir: &Path, prefix: &str, n: usize) {
    mkdirs(dir);
    for i in 0..n {
        fs::write(dir.join(format!("{prefix}{i}")), b"x").unwrap();
    }
}

struct Bench {
    base: String,
    reps: usize,
    only: Option<String>,
    fses: Vec<String>,
    scratch: PathBuf,
    seq: usize,
    /// Appended to rovl's mount options (`,mmap=real`).
    rovl_opts: &'static str,
}

/// How a workload's value reads.
#[derive(Clone, Copy)]
enum Unit {
    Seconds,
    Bytes,
}

impl Bench {
    fn report(&self, workload: &str, fs: &str, rep: usize, value: f64, unit: Unit, frac: f64) {
        let unit = match unit {
            Unit::Seconds => "s",
            Unit::Bytes => "B",
        };
        println!(
            "{{\"base\":\"{}\",\"workload\":\"{workload}\",\"fs\":\"{fs}\",\"rep\":{rep},\"value\":{value:.6},\"unit\":\"{unit}\",\"frac\":{frac}}}",
            self.base
        );
    }

    fn wanted(&self, workload: &str) -> bool {
        self.only
            .as_deref()
            .is_none_or(|o| o.split(',').any(|o| workload.contains(o)))
    }

    /// Runs `run(view, fs, frac)` for every filesystem, `reps` times,
    /// interleaved; fuse-overlayfs gets `fuse_frac` as its share of items.
    #[expect(clippy::too_many_arguments)]
    fn each_of(
        &mut self,
        workload: &str,
        fses: &[&str],
        lowers: &[PathBuf],
        native: &Path,
        unit: Unit,
        fuse_frac: f64,
        mut run: impl FnMut(&View, &str, f64) -> f64,
    ) {
        if !self.wanted(workload) {
            return;
        }
        let fses: Vec<&str> = fses
            .iter()
            .copied()
            .filter(|f| self.fses.iter().any(|w| w == f))
            .collect();
        eprintln!("rovl-bench: {} {workload}", self.base);
        for rep in 0..self.reps {
            // Each repetition starts one filesystem later, so that none
            // always runs right after the same other one (whose deferred
            // work, say freeing what it unmounted, may still be running).
            for i in 0..fses.len() {
                let fs = &fses[(rep + i) % fses.len()];
                // fuse-overlayfs is the far peer (ratios of 3 and more, or
                // none on data): one repetition keeps the run short.
                if *fs == "fuse-overlayfs" && rep > 0 {
                    continue;
                }
                self.seq += 1;
                let frac = if *fs == "fuse-overlayfs" {
                    fuse_frac
                } else {
                    1.0
                };
                let v = view(fs, lowers, native, &self.scratch, self.seq, self.rovl_opts);
                let value = run(&v, fs, frac);
                drop(v);
                self.report(workload, fs, rep, value, unit, frac);
            }
        }
    }

    /// A timed workload that every filesystem runs in full.
    fn each(
        &mut self,
        workload: &str,
        fses: &[&str],
        lowers: &[PathBuf],
        native: &Path,
        mut run: impl FnMut(&View, &str) -> f64,
    ) {
        self.each_of(
            workload,
            fses,
            lowers,
            native,
            Unit::Seconds,
            1.0,
            |v, fs, _| run(v, fs),
        );
    }

    /// [`Bench::each`] with `factor` times the repetitions.
    fn each_more(
        &mut self,
        factor: usize,
        workload: &str,
        fses: &[&str],
        lowers: &[PathBuf],
        native: &Path,
        run: impl FnMut(&View, &str) -> f64,
    ) {
        let reps = self.reps;
        self.reps = reps * factor;
        self.each(workload, fses, lowers, native, run);
        self.reps = reps;
    }
}

/// Slab memory in bytes (reclaimable and not), from /proc/meminfo.
fn slab_bytes() -> u64 {
    let m = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    m.lines()
        .find(|l| l.starts_with("Slab:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or_else(|| die("no Slab: in /proc/meminfo"))
}

fn raise_nofile(n: u64) {
    let lim = libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    // SAFETY: A valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        die(&format!("setrlimit: {}", std::io::Error::last_os_error()));
    }
}

/// Runs a shell command line in `dir`, its output discarded.
fn sh_in(dir: &Path, line: &str) {
    let st = Command::new("sh")
        .args(["-c", line])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .status();
    if !st.map(|s| s.success()).unwrap_or(false) {
        die(&format!("in {}: {line} failed", dir.display()));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut base_dir = None;
    let mut base = None;
    let (mut reps, mut only, mut scale, mut data_scale) = (3usize, None, 1.0f64, 1.0f64);
    let mut fses: Vec<String> = FSES.iter().map(|s| s.to_string()).collect();
    let mut tar = None;
    let mut i = 1;
    while i + 1 < args.len() {
        match args[i].as_str() {
            "--dir" => base_dir = Some(PathBuf::from(&args[i + 1])),
            "--base" => base = Some(args[i + 1].clone()),
            "--reps" => reps = args[i + 1].parse().unwrap_or(3),
            "--only" => only = Some(args[i + 1].clone()),
            "--scale" => scale = args[i + 1].parse().unwrap_or(1.0),
            "--data-scale" => data_scale = args[i + 1].parse().unwrap_or(1.0),
            "--fs" => fses = args[i + 1].split(',').map(str::to_string).collect(),
            "--tar" => tar = Some(PathBuf::from(&args[i + 1])),
            a => die(&format!("unknown argument {a}")),
        }
        i += 2;
    }
    let (Some(dir), Some(base)) = (base_dir, base) else {
        die("usage: rovl-bench --dir DIR --base NAME [--reps N] [--only SUBSTR] [--scale F] [--data-scale F] [--fs a,b] [--tar T]");
    };
    // `--scale` sizes the two big metadata workloads (100,000 files and
    // entries at 1), `--data-scale` the data files; both 1 by default.
    let n = |x: usize| ((x as f64 * scale) as usize).max(1);
    let d = |x: usize| ((x as f64 * data_scale) as usize).max(MIB);
    let direct = base == "xfs";
    let lay = dir.join("layers");
    let scratch = dir.join("scratch");
    mkdirs(&scratch);
    let mut b = Bench {
        base,
        reps,
        only,
        fses,
        scratch,
        seq: 0,
        rovl_opts: "",
    };

    // Data path: a lower file read through each view (warm page cache),
    // new files written to the upper layer.
    let l0 = lay.join("data");
    mkdirs(&l0);
    let size = d(256 * MIB);
    write_file(&l0.join("big"), size, 1);
    let lowers = vec![l0.clone()];
    let sz = format!("--size={size}");
    // Random 4 KiB I/O: 64 MiB of it, spread over the whole file.
    let io4k = format!("--io_size={}", d(64 * MIB));
    for (name, args) in [
        ("seq-read-1m", vec!["--rw=read", "--bs=1M", "--readonly"]),
        (
            "rand-read-4k-psync",
            vec![
                "--rw=randread",
                "--bs=4k",
                "--ioengine=psync",
                "--readonly",
                &io4k,
            ],
        ),
        (
            "rand-read-4k-io_uring",
            vec![
                "--rw=randread",
                "--bs=4k",
                "--ioengine=io_uring",
                "--iodepth=16",
                "--readonly",
                &io4k,
            ],
        ),
        (
            "mmap-read",
            vec!["--rw=read", "--bs=1M", "--ioengine=mmap", "--readonly"],
        ),
        (
            "mmap-read-first",
            vec!["--rw=read", "--bs=1M", "--ioengine=mmap", "--readonly"],
        ),
        (
            "mmap-read-first-real",
            vec!["--rw=read", "--bs=1M", "--ioengine=mmap", "--readonly"],
        ),
    ] {
        let args: Vec<&str> = args
            .into_iter()
            .chain([sz.as_str(), "--invalidate=0"])
            .collect();
        // The first mapping again with rovl mounted `mmap=real`, which maps
        // the lower file as overlayfs does (no fuse-overlayfs: same as
        // above). Its times fall near 0.14 s or 0.20 s at random under TCG,
        // for every filesystem alike: three times the repetitions.
        let (fses, opts, more) = if name == "mmap-read-first-real" {
            (&FSES[..3], ",mmap=real", 3)
        } else {
            (&FSES[..], "", 1)
        };
        b.rovl_opts = opts;
        b.each_more(more, name, fses, &lowers, &l0, |v, _| {
            let f = v.dir.join("big");
            // Warm the page cache through the view, then measure. A shared
            // mapping of a lower file reads rovl's own pages, which `read`
            // leaves cold: mmap-read warms them by mapping the file first,
            // mmap-read-first measures the first mapping after reads.
            read_all(&f);
            if name == "mmap-read" {
                map_all(&f);
            }
            fio(&f, &args)
        });
        b.rovl_opts = "";
    }
    if direct {
        b.each("seq-read-1m-direct", &FSES, &lowers, &l0, |v, _| {
            fio(
                &v.dir.join("big"),
                &["--rw=read", "--bs=1M", "--direct=1", "--readonly", &sz],
            )
        });
    }
    let wsize = format!("--size={}", d(128 * MIB));
    for (name, args) in [
        (
            "seq-write-1m",
            vec!["--rw=write", "--bs=1M", "--end_fsync=1"],
        ),
        (
            "rand-write-4k-psync",
            vec![
                "--rw=randwrite",
                "--bs=4k",
                "--ioengine=psync",
                "--end_fsync=1",
                &io4k,
            ],
        ),
        (
            "rand-write-4k-io_uring",
            vec![
                "--rw=randwrite",
                "--bs=4k",
                "--ioengine=io_uring",
                "--iodepth=16",
                "--end_fsync=1",
                &io4k,
            ],
        ),
    ] {
        let native = b.scratch.join("native-w");
        mkdirs(&native);
        b.each(name, &FSES, &lowers, &native, |v, _| {
            let f = v.dir.join("new");
            let t = fio(
                &f,
                &args
                    .iter()
                    .copied()
                    .chain([wsize.as_str()])
                    .collect::<Vec<_>>(),
            );
            let _ = fs::remove_file(&f);
            t
        });
    }
    if direct {
        let native = b.scratch.join("native-w");
        b.each("seq-write-1m-direct", &FSES, &lowers, &native, |v, _| {
            let f = v.dir.join("new");
            let t = fio(&f, &["--rw=write", "--bs=1M", "--direct=1", &wsize]);
            let _ = fs::remove_file(&f);
            t
        });
    }

    // Copy-up of a big lower file: copied on tmpfs, reflinked on xfs. A
    // reflink takes about a millisecond, so xfs times 16 copy-ups (of 16
    // lower files sharing their extents) and reports the time of one.
    let cu = lay.join("copyup");
    mkdirs(&cu);
    write_file(&cu.join("big0"), d(1024 * MIB), 2);
    let copies = if direct { 16 } else { 1 };
    for i in 1..copies {
        sh_in(&cu, &format!("cp --reflink=always big0 big{i}"));
    }
    b.each(
        "copy-up-1g",
        &FSES[1..],
        std::slice::from_ref(&cu),
        &cu,
        |v, _| {
            let t = timed(|| {
                for i in 0..copies {
                    let f = fs::OpenOptions::new()
                        .write(true)
                        .open(v.dir.join(format!("big{i}")))
                        .unwrap_or_else(|e| die(&format!("copy-up: {e}")));
                    drop(f);
                }
            });
            t / copies as f64
        },
    );
    sh_in(&cu, "rm -f big*");

    // Metadata: create, stat and unlink in a new directory.
    let files = n(100_000);
    let native_m = b.scratch.join("native-m");
    mkdirs(&native_m);
    b.each_of(
        "create-stat-unlink",
        &FSES,
        &lowers,
        &native_m,
        Unit::Seconds,
        FUSE_FRAC,
        |v, _, frac| {
            let d = v.dir.join("meta");
            let files = ((files as f64 * frac) as usize).max(1);
            timed(|| {
                mkdirs(&d);
                for i in 0..files {
                    fs::File::create(d.join(format!("f{i}"))).unwrap();
                }
                for i in 0..files {
                    fs::metadata(d.join(format!("f{i}"))).unwrap();
                }
                for i in 0..files {
                    fs::remove_file(d.join(format!("f{i}"))).unwrap();
                }
                fs::remove_dir(&d).unwrap();
            })
        },
    );

    // Open/close rate of lower files (cached dentries after the first rep).
    let oc = lay.join("openclose");
    let nfiles = 10_000;
    many_files(&oc, "f", nfiles);
    b.each_of(
        "open-close-lower",
        &FSES,
        std::slice::from_ref(&oc),
        &oc,
        Unit::Seconds,
        FUSE_FRAC,
        |v, _, frac| {
            let nfiles = ((nfiles as f64 * frac) as usize).max(1);
            for i in 0..nfiles {
                drop(fs::File::open(v.dir.join(format!("f{i}"))));
            }
            timed(|| {
                for _ in 0..5 {
                    for i in 0..nfiles {
                        drop(fs::File::open(v.dir.join(format!("f{i}"))).unwrap());
                    }
                }
            })
        },
    );

    // Memory per open file: the slab growth of holding every file of `oc`
    // open, after a first open and close has cached their dentries and
    // inodes. fuse-overlayfs's own memory (a user process) is not counted.
    raise_nofile(nfiles as u64 + 1024);
    b.each_of(
        "mem-per-open-file",
        &FSES,
        std::slice::from_ref(&oc),
        &oc,
        Unit::Bytes,
        1.0,
        |v, _, _| {
            let paths: Vec<PathBuf> = (0..nfiles).map(|i| v.dir.join(format!("f{i}"))).collect();
            for p in &paths {
                drop(fs::File::open(p).unwrap());
            }
            // Closed files go back to their slab only after an RCU grace
            // period (SLAB_TYPESAFE_BY_RCU): let those of the loop above and
            // of the last measurement go, or they shrink this one.
            std::thread::sleep(std::time::Duration::from_secs(2));
            let before = slab_bytes();
            let open: Vec<fs::File> = paths.iter().map(|p| fs::File::open(p).unwrap()).collect();
            let after = slab_bytes();
            drop(open);
            after.saturating_sub(before) as f64 / nfiles as f64
        },
    );

    // Readdir of a big merged directory over 2 and 50 layers.
    for layers in [2usize, 50] {
        let entries = n(100_000);
        let mut lowers = Vec::new();
        let native = lay.join(format!("rd{layers}-native"));
        mkdirs(&native.join("d"));
        for l in 0..layers {
            let d = lay.join(format!("rd{layers}-{l}"));
            let per = entries / layers;
            many_files(&d.join("d"), &format!("l{l}-"), per);
            for i in 0..per {
                fs::write(native.join("d").join(format!("l{l}-{i}")), b"x").unwrap();
            }
            lowers.push(d);
        }
        // fuse-overlayfs takes minutes per listing over 50 layers under
        // TCG: only over 2.
        let fses = if layers > 2 { &FSES[..3] } else { &FSES[..] };
        b.each(
            &format!("readdir-{layers}-layers"),
            fses,
            &lowers,
            &native,
            |v, _| {
                drop_caches();
                timed(|| {
                    let c = fs::read_dir(v.dir.join("d")).unwrap().count();
                    assert!(c >= entries - layers);
                })
            },
        );
    }

    // A source tree: untarred into each view (the upper layer), and walked
    // by find and grep -r from a lower layer with cold caches.
    if let Some(tar) = &tar {
        // Read from the base filesystem, not from the host over 9p.
        let local = dir.join("src.tar");
        fs::copy(tar, &local).unwrap_or_else(|e| die(&format!("copy {}: {e}", tar.display())));
        let tar = local.display().to_string();
        let native_t = b.scratch.join("native-t");
        mkdirs(&native_t);
        b.each("untar-src", &FSES, &lowers, &native_t, |v, _| {
            let d = v.dir.join("src");
            mkdirs(&d);
            let t = timed(|| sh_in(&d, &format!("tar -xf {tar}")));
            sh_in(&v.dir, "rm -rf src");
            t
        });
        let src = lay.join("src");
        mkdirs(&src);
        sh_in(&src, &format!("tar -xf {tar}"));
        // The metadata half alone: the walk and the names, no file data.
        // One cold walk takes about a third of a second and its times
        // spread by a tenth (standard deviation) from run to run: with
        // three or nine runs a median moves by more than the 5% a ratio
        // must resolve, so it runs five times as often.
        b.each_more(
            5,
            "find-src",
            &FSES,
            std::slice::from_ref(&src),
            &src,
            |v, _| {
                drop_caches();
                timed(|| sh_in(&v.dir, "find . -name '*.h' | wc -l"))
            },
        );
        b.each(
            "find-grep-src",
            &FSES,
            std::slice::from_ref(&src),
            &src,
            |v, _| {
                drop_caches();
                timed(|| {
                    sh_in(
                        &v.dir,
                        "find . -name '*.h' | wc -l; grep -r -c EXPORT_SYMBOL . | wc -l",
                    )
                })
            },
        );
    }

    // Lookup through 500 layers: names only in the bottom one.
    let deep = 2_000;
    let mut lowers = Vec::new();
    for l in 0..500 {
        let d = lay.join(format!("d{l}"));
        mkdirs(&d);
        if l == 499 {
            many_files(&d, "f", deep);
        }
        lowers.push(d);
    }
    let bottom = lowers[499].clone();
    b.each("lookup-500-layers", &FSES[..3], &lowers, &bottom, |v, _| {
        timed(|| {
            for i in 0..deep {
                fs::metadata(v.dir.join(format!("f{i}"))).unwrap();
            }
        })
    });
}
