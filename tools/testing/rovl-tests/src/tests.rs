// SPDX-License-Identifier: GPL-2.0
//! The differential scenarios: each runs the same operations on `overlay`
//! and `rovl` over the same layers and requires identical results.

use crate::layers::{self, chr, dir, fifo, file, link, opaque, whiteout, Rng};
use crate::snapshot::{self, diff, listing, snapshot};
use crate::sys::{self, Errno};
use crate::{fs_lines, Fail, Kmsg, TResult, T};
use std::fmt::Debug;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub type Test = fn(&mut T) -> TResult;

pub const ALL: &[(&str, Test)] = &[
    ("single_layer_tree", single_layer_tree),
    ("upper_file_shadows_lower", upper_file_shadows_lower),
    ("dirs_merge_across_layers", dirs_merge_across_layers),
    ("whiteout_hides_lower", whiteout_hides_lower),
    ("whiteout_in_unmerged_dir", whiteout_in_unmerged_dir),
    ("opaque_dir_stops_merge", opaque_dir_stops_merge),
    ("file_above_dir_hides_it", file_above_dir_hides_it),
    ("dir_above_file_is_not_merged", dir_above_file_is_not_merged),
    ("symlinks", symlinks),
    ("special_files", special_files),
    ("hardlinks_share_ino", hardlinks_share_ino),
    ("read_patterns", read_patterns),
    ("sparse_file_seek_data_hole", sparse_file_seek_data_hole),
    ("read_only_errors", read_only_errors),
    ("lookup_errors", lookup_errors),
    ("permission_as_other_user", permission_as_other_user),
    ("statfs", statfs),
    ("uuid_fsid", uuid_fsid),
    ("proc_mounts_options", proc_mounts_options),
    ("escaped_lowerdir", escaped_lowerdir),
    ("bad_mount_options", bad_mount_options),
    ("stacking_depth", stacking_depth),
    ("overlay_as_upper", overlay_as_upper),
    ("workdir_default_acl", workdir_default_acl),
    ("overlapping_layers", overlapping_layers),
    ("workdir_unusable", workdir_unusable),
    ("remount_rw_refused", remount_rw_refused),
    ("telldir_seekdir", telldir_seekdir),
    ("big_merged_dir", big_merged_dir),
    ("random_trees", random_trees),
    ("crafted_layer_xattrs", crafted_layer_xattrs),
    ("crafted_upper_xattrs", crafted_upper_xattrs),
    ("xattr_passthrough", xattr_passthrough),
    ("xattr_as_other_user", xattr_as_other_user),
    ("userxattr_mount", userxattr_mount),
    ("acl_grants_other_user", acl_grants_other_user),
    ("mount_options_shown", mount_options_shown),
    ("bad_option_values", bad_option_values),
    ("mmap_option", mmap_option),
    ("module_parameters", module_parameters),
    ("new_mount_api", new_mount_api),
    ("remount_ignores_options", remount_ignores_options),
    ("redirected_dirs", redirected_dirs),
    ("redirect_nofollow", redirect_nofollow),
    ("layer_warnings_ratelimited", layer_warnings_ratelimited),
    ("layer_warning_texts", layer_warning_texts),
    ("xattr_whiteouts", xattr_whiteouts),
    ("metacopy_refused", metacopy_refused),
    ("userns_mount", userns_mount),
    ("mounter_credentials", mounter_credentials),
    ("cross_fs_layers", cross_fs_layers),
    ("ino32_layers_xino", ino32_layers_xino),
    ("lower_uuid_clashes", lower_uuid_clashes),
    ("middle_layer_on_upper_fs", middle_layer_on_upper_fs),
    ("duplicate_origins", duplicate_origins),
    (
        "lower_links_added_while_mounted",
        lower_links_added_while_mounted,
    ),
    ("upper_without_xattrs", upper_without_xattrs),
    ("metacopy_lower_data", metacopy_lower_data),
    ("data_only_layers", data_only_layers),
    ("mount_option_combinations", mount_option_combinations),
    ("five_hundred_layers", five_hundred_layers),
    ("remote_layers_revalidate", remote_layers_revalidate),
    (
        "writable_mount_options",
        crate::upper::writable_mount_options,
    ),
    ("copy_up_metadata", crate::upper::copy_up_metadata),
    ("concurrent_copy_up", crate::upper::concurrent_copy_up),
    ("copy_up_killed", crate::upper::copy_up_killed),
    ("parallel_copy_ups", crate::upper::parallel_copy_ups),
    (
        "unmerged_dir_positions",
        crate::upper::unmerged_dir_positions,
    ),
    ("protected_files", crate::upper::protected_files),
    ("tmpfile", crate::upper::tmpfile),
    (
        "permission_walk_after_copy_up",
        crate::upper::permission_walk_after_copy_up,
    ),
    ("upper_in_use", crate::upper::upper_in_use),
    ("volatile_mount", crate::upper::volatile_mount),
    ("writable_random_ops", writable_random_ops),
    ("index_hard_links", crate::upper::index_hard_links),
    ("crafted_index", crate::upper::crafted_index),
    ("index_handle_forms", crate::upper::index_handle_forms),
    (
        "merged_dir_without_origin",
        crate::upper::merged_dir_without_origin,
    ),
    ("metacopy_copy_up", crate::upper::metacopy_copy_up),
    (
        "metacopy_origin_verified",
        crate::upper::metacopy_origin_verified,
    ),
    ("verity_metacopy", crate::verity::verity_metacopy),
    ("listing_lookup_errors", crate::upper::listing_lookup_errors),
    ("copy_up_inode_flags", crate::upper::copy_up_inode_flags),
    (
        "create_over_whiteout_acl",
        crate::upper::create_over_whiteout_acl,
    ),
    ("upper_features", crate::upper::upper_features),
    ("file_handles", crate::upper::file_handles),
    ("statx_passthrough", crate::upper::statx_passthrough),
    ("nfs_export_lower", crate::export::nfs_export_lower),
    ("nfs_export_upper", crate::export::nfs_export_upper),
    ("shared_whiteouts", crate::upper::shared_whiteouts),
    ("file_fsync", crate::upper::file_fsync),
    ("file_fallocate", crate::upper::file_fallocate),
    ("ro_rw_consistency", crate::stacked::ro_rw_consistency),
    (
        "ro_rw_consistency_mmap_real",
        crate::stacked::ro_rw_consistency_mmap_real,
    ),
    ("file_splice_copy", crate::stacked::file_splice_copy),
    ("file_ioctls", crate::stacked::file_ioctls),
    ("compat_ioctls", crate::stacked::compat_ioctls),
    ("xfs_data_path", crate::stacked::xfs_data_path),
    ("locks_notify_atime", crate::stacked::locks_notify_atime),
    ("upper_inode_identity", crate::stacked::upper_inode_identity),
    ("mmap_shared_write", crate::stacked::mmap_shared_write),
    (
        "mmap_own_pages_offsets",
        crate::stacked::mmap_own_pages_offsets,
    ),
    ("mmap_sees_appends", crate::stacked::mmap_sees_appends),
    ("mmap_shared_direct", crate::stacked::mmap_shared_direct),
    ("write_drops_setid", crate::stacked::write_drops_setid),
    ("setgid_kept_by_group", crate::stacked::setgid_kept_by_group),
    ("stacked_stress", crate::stacked::stacked_stress),
    (
        "volatile_writeback_errors",
        crate::stacked::volatile_writeback_errors,
    ),
    ("open_file_memory", crate::stacked::open_file_memory),
    (
        "sample_layered_rootfs",
        crate::samples::sample_layered_rootfs,
    ),
    ("sample_rorw", crate::samples::sample_rorw),
];

fn fail<T>(msg: String) -> Result<T, Fail> {
    Err(Fail::Fail(msg))
}

fn same<V: PartialEq + Debug>(what: &str, ovl: V, rovl: V) -> TResult {
    if ovl == rovl {
        Ok(())
    } else {
        fail(format!("{what}: overlay {ovl:?}, rovl {rovl:?}"))
    }
}

fn compare_trees(o: &Path, r: &Path) -> TResult {
    compare_trees_with(o, r, false)
}

/// With layers on several filesystems, directories get private inode
/// numbers from a global counter: compare everything else.
fn compare_trees_with(o: &Path, r: &Path, cross_fs: bool) -> TResult {
    let (mut a, mut b) = (snapshot(o)?, snapshot(r)?);
    if cross_fs {
        for e in a.iter_mut().chain(b.iter_mut()) {
            if e.mode & libc::S_IFMT == libc::S_IFDIR {
                e.ino = 0;
            }
        }
    }
    let d = diff(&a, &b, 8);
    if d.is_empty() {
        Ok(())
    } else {
        fail(d.join("; "))
    }
}

/// Runs `op` on the same relative path in both mounts and compares.
fn both<V: PartialEq + Debug>(
    o: &Path,
    r: &Path,
    rel: &str,
    what: &str,
    op: impl Fn(&Path) -> V,
) -> Result<V, Fail> {
    let (a, b) = (op(&o.join(rel)), op(&r.join(rel)));
    same(&format!("{what} {rel}"), &a, &b)?;
    Ok(a)
}

fn lowerdir(ls: &[&PathBuf]) -> String {
    let v: Vec<String> = ls.iter().map(|p| p.display().to_string()).collect();
    format!("lowerdir={}", v.join(":"))
}

fn stat_errno(p: &Path) -> Result<(u32, u64, u64), Errno> {
    fs::symlink_metadata(p)
        .map(|m| (m.mode(), m.ino(), m.size()))
        .map_err(|e| sys::errno_of(&e))
}

fn read_file(p: &Path) -> Result<Vec<u8>, Errno> {
    fs::read(p).map_err(|e| sys::errno_of(&e))
}

fn single_layer_tree(t: &mut T) -> TResult {
    // All content in one layer over an empty one.
    let [a, e] = t.layers(["a", "empty"])?;
    file(&a.join("f"), b"hello\n")?;
    file(&a.join("d/e/deep"), b"deep")?;
    file(&a.join("empty"), b"")?;
    link("f", &a.join("l"))?;
    layers::chmod(&a.join("f"), 0o640)?;
    let (o, r) = t.pair(&lowerdir(&[&a, &e]))?;
    compare_trees(&o, &r)?;
    same(
        "content of f",
        read_file(&o.join("f")),
        Ok(b"hello\n".to_vec()),
    )?;
    compare_trees(&o, &r)
}

fn upper_file_shadows_lower(t: &mut T) -> TResult {
    let [a, b, c] = t.layers(["a", "b", "c"])?;
    file(&a.join("f"), b"top")?;
    file(&b.join("f"), b"middle, longer")?;
    file(&c.join("f"), b"bottom")?;
    file(&c.join("only-low"), b"low")?;
    file(&b.join("mid"), b"mid")?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b, &c]))?;
    same(
        "f through rovl",
        read_file(&r.join("f")),
        Ok(b"top".to_vec()),
    )?;
    let _ = both(&o, &r, "only-low", "read", read_file)?;
    let _ = both(&o, &r, "mid", "read", read_file)?;
    compare_trees(&o, &r)
}

fn dirs_merge_across_layers(t: &mut T) -> TResult {
    let [a, b, c] = t.layers(["a", "b", "c"])?;
    for (i, l) in [&a, &b, &c].iter().enumerate() {
        for j in 0..5 {
            file(&l.join(format!("d/l{i}-{j}")), format!("{i}{j}").as_bytes())?;
        }
        file(&l.join("d/common"), format!("from {i}").as_bytes())?;
        file(&l.join(format!("d/sub/s{i}")), b"s")?;
    }
    dir(&c.join("d/only-c/inner"))?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b, &c]))?;
    same(
        "d/common",
        read_file(&r.join("d/common")),
        Ok(b"from 0".to_vec()),
    )?;
    let n = both(&o, &r, "d", "nlink", |p| {
        fs::metadata(p)
            .map(|m| m.nlink())
            .map_err(|e| sys::errno_of(&e))
    })?;
    same("merged dir nlink", n, Ok(1))?;
    compare_trees(&o, &r)
}

fn whiteout_hides_lower(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    file(&b.join("gone-file"), b"x")?;
    file(&b.join("gone-dir/inner"), b"x")?;
    file(&b.join("kept"), b"k")?;
    whiteout(&a.join("gone-file"))?;
    whiteout(&a.join("gone-dir"))?;
    whiteout(&a.join("never-existed"))?;
    dir(&a.join("d"))?;
    file(&b.join("d/x"), b"x")?;
    whiteout(&a.join("d/x"))?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    for rel in [
        "gone-file",
        "gone-dir",
        "gone-dir/inner",
        "never-existed",
        "d/x",
    ] {
        let e = both(&o, &r, rel, "lstat", stat_errno)?;
        same(rel, e.map(|_| ()), Err(libc::ENOENT))?;
    }
    compare_trees(&o, &r)
}

fn whiteout_in_unmerged_dir(t: &mut T) -> TResult {
    // A directory of a single non-root layer is listed as it is, whiteouts
    // included, while lookups still treat a whiteout as absent.
    let [a, b] = t.layers(["a", "b"])?;
    dir(&a.join("solo"))?;
    whiteout(&a.join("solo/wh"))?;
    file(&a.join("solo/f"), b"f")?;
    file(&b.join("other"), b"o")?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    let _ = both(&o, &r, "solo", "listing", |p| listing(p))?;
    let _ = both(&o, &r, "solo/wh", "lstat", stat_errno)?;
    compare_trees(&o, &r)
}

fn opaque_dir_stops_merge(t: &mut T) -> TResult {
    let [a, b, c] = t.layers(["a", "b", "c"])?;
    file(&a.join("d/top"), b"t")?;
    opaque(&b.join("d"))?;
    file(&b.join("d/mid"), b"m")?;
    file(&c.join("d/hidden"), b"h")?;
    opaque(&a.join("o2"))?;
    file(&b.join("o2/hidden"), b"h")?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b, &c]))?;
    let e = both(&o, &r, "d/hidden", "lstat", stat_errno)?;
    same("d/hidden", e.map(|_| ()), Err(libc::ENOENT))?;
    let _ = both(&o, &r, "d/mid", "read", read_file)?;
    compare_trees(&o, &r)
}

fn file_above_dir_hides_it(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    file(&a.join("x"), b"file on top")?;
    file(&b.join("x/inside"), b"in dir below")?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    let _ = both(&o, &r, "x", "read", read_file)?;
    let e = both(&o, &r, "x/inside", "lstat", stat_errno)?;
    same("x/inside", e.map(|_| ()), Err(libc::ENOTDIR))?;
    compare_trees(&o, &r)
}

fn dir_above_file_is_not_merged(t: &mut T) -> TResult {
    let [a, b, c] = t.layers(["a", "b", "c"])?;
    file(&a.join("x/top"), b"t")?;
    file(&b.join("x"), b"file below dir")?;
    file(&c.join("x/under-file"), b"u")?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b, &c]))?;
    let e = both(&o, &r, "x/under-file", "lstat", stat_errno)?;
    same("x/under-file", e.map(|_| ()), Err(libc::ENOENT))?;
    compare_trees(&o, &r)
}

fn symlinks(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    file(&b.join("target"), b"data")?;
    dir(&b.join("tdir"))?;
    file(&b.join("tdir/in"), b"in")?;
    link("target", &a.join("rel"))?;
    link("../nowhere", &a.join("dangling"))?;
    link("tdir", &a.join("dirlink"))?;
    link("loop", &a.join("loop"))?;
    link(&"x".repeat(1000), &a.join("long"))?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    for rel in ["rel", "dangling", "dirlink/in", "loop", "long"] {
        let _ = both(&o, &r, rel, "read", read_file)?;
        let _ = both(&o, &r, rel, "readlink", |p| {
            fs::read_link(p).map_err(|e| sys::errno_of(&e))
        })?;
    }
    let _ = both(&o, &r, "target", "readlink of a file", |p| {
        fs::read_link(p).map_err(|e| sys::errno_of(&e))
    })?;
    compare_trees(&o, &r)
}

fn special_files(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    fifo(&a.join("fifo"))?;
    chr(&a.join("null"), 1, 3)?;
    chr(&b.join("chr-low"), 1, 5)?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    let _ = both(&o, &r, "null", "read /dev/null clone", read_file)?;
    let _ = both(&o, &r, "fifo", "open O_NONBLOCK", |p| {
        sys::open(p, libc::O_RDONLY | libc::O_NONBLOCK).map(sys::close)
    })?;
    compare_trees(&o, &r)
}

fn hardlinks_share_ino(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    file(&a.join("one"), b"linked")?;
    fs::hard_link(a.join("one"), a.join("two")).map_err(|e| format!("link: {e}"))?;
    file(&b.join("three"), b"x")?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    let i1 = fs::metadata(r.join("one")).map_err(|e| format!("{e}"))?;
    let i2 = fs::metadata(r.join("two")).map_err(|e| format!("{e}"))?;
    same("ino of both names", i1.ino(), i2.ino())?;
    same("nlink", i1.nlink(), 2)?;
    compare_trees(&o, &r)
}

fn read_patterns(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    let big: Vec<u8> = (0..3 * 1024 * 1024 + 17)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    file(&b.join("big"), &big)?;
    file(&a.join("small"), b"0123456789")?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    for rel in ["big", "small"] {
        let _ = both(&o, &r, rel, "whole read", read_file)?;
        for (off, len) in [
            (0, 1),
            (3, 4),
            (4095, 2),
            (65_536, 100_000),
            (3 * 1024 * 1024, 4096),
            (1 << 40, 10),
        ] {
            let _ = both(&o, &r, rel, &format!("pread {off}+{len}"), |p| {
                let fd = sys::open(p, libc::O_RDONLY)?;
                let v = sys::pread(fd, len, off);
                sys::close(fd);
                v
            })?;
        }
        let _ = both(&o, &r, rel, "readv + sequential reads + lseek", |p| {
            let fd = sys::open(p, libc::O_RDONLY)?;
            let mut out = vec![sys::readv(fd, &[1, 7, 4096, 3])?];
            out.push(sys::read(fd, 5)?);
            out.push(sys::lseek(fd, 0, libc::SEEK_CUR)?.to_le_bytes().to_vec());
            out.push(sys::lseek(fd, -3, libc::SEEK_END)?.to_le_bytes().to_vec());
            out.push(sys::read(fd, 100)?);
            out.push(sys::lseek(fd, 0, libc::SEEK_SET)?.to_le_bytes().to_vec());
            out.push(sys::read(fd, 2)?);
            out.push(
                sys::lseek(fd, -100, libc::SEEK_SET)
                    .map(|v| v.to_le_bytes().to_vec())
                    .unwrap_or_else(|e| vec![e as u8]),
            );
            sys::close(fd);
            Ok::<_, Errno>(out)
        })?;
    }
    same(
        "big through rovl",
        read_file(&r.join("big")).map(|d| snapshot::fnv(&d)),
        Ok(snapshot::fnv(&big)),
    )?;
    Ok(())
}

fn sparse_file_seek_data_hole(t: &mut T) -> TResult {
    let [a, e] = t.layers(["a", "empty"])?;
    let p = a.join("sparse");
    {
        let f = fs::File::create(&p).map_err(|e| format!("{e}"))?;
        use std::os::unix::fs::FileExt;
        f.write_at(b"data at 1M", 1 << 20)
            .map_err(|e| format!("{e}"))?;
        f.write_at(b"data at 4M", 4 << 20)
            .map_err(|e| format!("{e}"))?;
        f.set_len(6 << 20).map_err(|e| format!("{e}"))?;
    }
    let (o, r) = t.pair(&lowerdir(&[&a, &e]))?;
    let _ = both(&o, &r, "sparse", "SEEK_DATA/SEEK_HOLE walk", |p| {
        let fd = sys::open(p, libc::O_RDONLY)?;
        let mut out = Vec::new();
        for off in [
            0,
            4096,
            1 << 20,
            (1 << 20) + 20,
            3 << 20,
            4 << 20,
            6 << 20,
            7 << 20,
        ] {
            out.push(sys::lseek(fd, off, libc::SEEK_DATA));
            out.push(sys::lseek(fd, off, libc::SEEK_HOLE));
        }
        sys::close(fd);
        Ok::<_, Errno>(out)
    })?;
    compare_trees(&o, &r)
}

fn read_only_errors(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    file(&a.join("f"), b"f")?;
    file(&b.join("d/g"), b"g")?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    type Op = fn(&Path) -> Result<(), Errno>;
    let ops: &[(&str, &str, Op)] = &[
        ("create", "new", |p| {
            sys::open(p, libc::O_CREAT | libc::O_WRONLY).map(sys::close)
        }),
        ("open O_WRONLY", "f", |p| {
            sys::open(p, libc::O_WRONLY).map(sys::close)
        }),
        ("open O_RDWR", "d/g", |p| {
            sys::open(p, libc::O_RDWR).map(sys::close)
        }),
        ("open O_TRUNC", "f", |p| {
            sys::open(p, libc::O_RDONLY | libc::O_TRUNC).map(sys::close)
        }),
        ("mkdir", "nd", |p| {
            fs::create_dir(p).map_err(|e| sys::errno_of(&e))
        }),
        ("unlink", "f", |p| {
            fs::remove_file(p).map_err(|e| sys::errno_of(&e))
        }),
        ("rmdir", "d", |p| {
            fs::remove_dir(p).map_err(|e| sys::errno_of(&e))
        }),
        ("rename", "f", |p| {
            fs::rename(p, p.with_file_name("g")).map_err(|e| sys::errno_of(&e))
        }),
        ("symlink", "sl", |p| {
            std::os::unix::fs::symlink("x", p).map_err(|e| sys::errno_of(&e))
        }),
        ("chmod", "f", |p| {
            layers::chmod(p, 0o600).map_err(|_| sys::errno_of(&std::io::Error::last_os_error()))
        }),
        ("truncate", "f", |p| {
            fs::OpenOptions::new()
                .write(true)
                .open(p)
                .and_then(|f| f.set_len(0))
                .map_err(|e| sys::errno_of(&e))
        }),
        ("setxattr", "f", |p| sys::setxattr(p, "user.x", b"1")),
    ];
    for (what, rel, op) in ops {
        let e = both(&o, &r, rel, what, op)?;
        same(&format!("{what} errno"), e, Err(libc::EROFS))?;
    }
    compare_trees(&o, &r)
}

fn lookup_errors(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    file(&a.join("f"), b"f")?;
    dir(&b.join("d"))?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    let long = "n".repeat(256);
    for rel in [
        "missing",
        "f/x",
        "d/missing",
        "missing/x",
        long.as_str(),
        "d/../f",
        "./d/./",
    ] {
        let _ = both(&o, &r, rel, "lstat", stat_errno)?;
    }
    let _ = both(&o, &r, "f", "open O_DIRECTORY", |p| {
        sys::open(p, libc::O_RDONLY | libc::O_DIRECTORY).map(sys::close)
    })?;
    let _ = both(&o, &r, "d", "read a directory", |p| {
        let fd = sys::open(p, libc::O_RDONLY)?;
        let v = sys::read(fd, 10);
        sys::close(fd);
        v
    })?;
    let _ = both(&o, &r, "f", "getdents on a file", |p| {
        let fd = sys::open(p, libc::O_RDONLY)?;
        let v = sys::getdents(fd, 4096);
        sys::close(fd);
        v.map(|v| v.len())
    })?;
    Ok(())
}

fn permission_as_other_user(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    file(&a.join("secret"), b"s")?;
    layers::chmod(&a.join("secret"), 0o600)?;
    file(&a.join("public"), b"p")?;
    file(&b.join("closed/inner"), b"i")?;
    layers::chmod(&b.join("closed"), 0o700)?;
    layers::chmod(&a, 0o755)?;
    layers::chmod(&b, 0o755)?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    for rel in ["secret", "public", "closed/inner", "closed"] {
        let run = |m: &Path| {
            let p = m.join(rel);
            sys::as_user(1000, 1000, move || match fs::read(&p) {
                Ok(_) => 0,
                Err(e) => sys::errno_of(&e),
            })
        };
        same(&format!("read {rel} as uid 1000"), run(&o), run(&r))?;
    }
    same(
        "secret as uid 1000 on rovl",
        sys::as_user(1000, 1000, || {
            fs::read(r.join("secret"))
                .map(|_| 0)
                .unwrap_or_else(|e| sys::errno_of(&e))
        }),
        libc::EACCES,
    )?;
    Ok(())
}

fn statfs(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    file(&a.join("f"), b"f")?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    let (so, sr) = (sys::statfs(&o), sys::statfs(&r));
    same("statfs", so, sr)
}

/// `uuid_to_fsid`: the two halves of a UUID folded into an fsid.
fn uuid_to_fsid(u: &[u8]) -> [i32; 2] {
    let half = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap());
    let v = half(&u[..8]) ^ half(&u[8..16]);
    [v as u32 as i32, (v >> 32) as u32 as i32]
}

/// The overlay's statfs f_fsid and FS_IOC_GETFSUUID come from its
/// persistent uuid (the upper root's `uuid` xattr) with uuid=on/auto, else
/// f_fsid is the upper filesystem's (xfstests overlay/081).
fn uuid_fsid(t: &mut T) -> TResult {
    let [a, fs2] = t.layers(["a", "fs2"])?;
    file(&a.join("f"), b"f")?;
    sys::mount("tmpfs", &fs2, "size=16m", 0).map_err(|e| format!("mount tmpfs: errno {e}"))?;
    t.adopt(&fs2);
    let b = fs2.join("b");
    file(&b.join("g"), b"g")?;
    let mut kmsg = Kmsg::open();
    // The last case is the upper layer of an old overlay: impure root, no
    // uuid.
    let cases = [
        ("", vec![a.clone()], false),
        (",uuid=on", vec![a.clone()], false),
        (",uuid=null", vec![a.clone()], false),
        (",uuid=off", vec![a.clone()], false),
        (",uuid=off", vec![a.clone(), b.clone()], false),
        // A data-only layer on another filesystem does not count.
        (
            ",metacopy=on,uuid=off",
            vec![a.clone(), PathBuf::new(), b.clone()],
            false,
        ),
        ("", vec![a.clone()], true),
    ];
    for (i, (extra, lowers, old)) in cases.iter().enumerate() {
        let mut seen = Vec::new();
        for fstype in ["overlay", "rovl"] {
            let [u, w] = t.layers([&format!("u-{fstype}-{i}"), &format!("w-{fstype}-{i}")])?;
            if *old {
                dir(&u.join("d"))?;
                set(&u, "trusted.overlay.impure", b"y")?;
            }
            let opts = format!("{}{extra}", crate::upper::opts(lowers, &u, &w));
            if let Some(k) = kmsg.as_mut() {
                k.lines();
            }
            let mp = t
                .mount(fstype, &opts)
                .map_err(|e| format!("mount {fstype} -o {opts}: errno {e}"))?;
            let log = fs_lines(&mut kmsg, fstype);
            let xattr = sys::getxattr(&u, "trusted.overlay.uuid").ok();
            let fsid = sys::statfs(&mp)?.fsid;
            let want = match &xattr {
                Some(x) if x.len() == 16 => uuid_to_fsid(x),
                _ => sys::statfs(&u)?.fsid,
            };
            same(&format!("{fstype} -o {opts}: f_fsid"), fsid, want)?;
            let fsuuid = sys::getfsuuid(&mp);
            same(
                &format!("{fstype} -o {opts}: FS_IOC_GETFSUUID"),
                fsuuid.clone(),
                xattr.clone().ok_or(libc::ENOTTY),
            )?;
            let uuid_opt: Vec<String> = mount_options(&mp)
                .unwrap_or_default()
                .split(',')
                .filter(|o| o.starts_with("uuid="))
                .map(String::from)
                .collect();
            seen.push((xattr.is_some(), fsuuid.is_ok(), uuid_opt, log));
            t.umount(&mp)?;
            // The uuid stays with the layer: another mount reports it again.
            if xattr.is_some() {
                let mp = t.mount(fstype, &opts)?;
                same(
                    &format!("{fstype} -o {opts}: f_fsid after remount"),
                    sys::statfs(&mp)?.fsid,
                    fsid,
                )?;
                t.umount(&mp)?;
            }
        }
        same(
            &format!("case {i} ({extra}): uuid, options and log"),
            &seen[0],
            &seen[1],
        )?;
    }
    // Either filesystem reports the uuid the other stored.
    let (uo, wo) = (t.dir.join("u-overlay-0"), t.dir.join("w-overlay-0"));
    let stored = sys::getxattr(&uo, "trusted.overlay.uuid")?;
    let mp = t.mount("rovl", &crate::upper::opts(&[a.clone()], &uo, &wo))?;
    same(
        "rovl on overlay's upper: f_fsid",
        sys::statfs(&mp)?.fsid,
        uuid_to_fsid(&stored),
    )
}

fn mount_options(mp: &Path) -> Option<String> {
    let m = fs::read_to_string("/proc/self/mounts").ok()?;
    let mp = mp.to_str()?;
    m.lines().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        (f.len() > 3 && f[1] == mp).then(|| f[3].to_string())
    })
}

fn proc_mounts_options(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    let (mo, mr) = (mount_options(&o), mount_options(&r));
    if mr.is_none() {
        return fail("rovl mount missing from /proc/self/mounts".into());
    }
    // overlay prints more defaults than rovl knows of yet; the lowerdir
    // part and the read-only flag must match.
    let pick = |s: Option<String>| {
        s.map(|s| {
            s.split(',')
                .filter(|o| o.starts_with("lowerdir=") || *o == "ro")
                .map(String::from)
                .collect::<Vec<_>>()
        })
    };
    same("/proc/mounts ro,lowerdir=", pick(mo), pick(mr))
}

fn escaped_lowerdir(t: &mut T) -> TResult {
    let [a] = t.layers(["we:ird, dir"])?;
    let [b] = t.layers(["plain"])?;
    file(&a.join("f"), b"odd")?;
    file(&b.join("g"), b"plain")?;
    let opts = format!(
        "lowerdir={}:{}",
        a.display().to_string().replace(':', "\\:"),
        b.display()
    );
    // The comma would split the legacy mount(2) option string; it is a
    // valid name only through the escaping of /proc/mounts.
    let opts = opts.replace(',', "");
    let a2 = PathBuf::from(a.display().to_string().replace(',', ""));
    fs::rename(&a, &a2).map_err(|e| format!("rename: {e}"))?;
    let (o, r) = t.pair(&opts)?;
    same(
        "/proc/mounts lowerdir",
        mount_options(&o).map(|s| {
            s.split(',')
                .find(|x| x.starts_with("lowerdir="))
                .map(String::from)
        }),
        mount_options(&r).map(|s| {
            s.split(',')
                .find(|x| x.starts_with("lowerdir="))
                .map(String::from)
        }),
    )?;
    compare_trees(&o, &r)
}

fn bad_mount_options(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    file(&a.join("file"), b"f")?;
    let cases = [
        String::new(),
        "lowerdir=".to_string(),
        format!("lowerdir={}", a.display()),
        format!("lowerdir={}/does-not-exist:{}", a.display(), b.display()),
        format!("lowerdir={}/file:{}", a.display(), b.display()),
        format!("lowerdir={}:{}/nope", a.display(), b.display()),
        format!("lowerdir={}:{},bogus=1", a.display(), b.display()),
        format!("lowerdir={}:{},nosuchflag", a.display(), b.display()),
        format!("lowerdir={}:{}:", a.display(), b.display()),
    ];
    let mut kmsg = Kmsg::open();
    for opts in cases {
        let eo = t.mount("overlay", &opts).map(|_| ());
        if let Some(k) = kmsg.as_mut() {
            k.lines();
        }
        let er = t.mount("rovl", &opts).map(|_| ());
        same(&format!("mount -o '{opts}' errno"), eo, er)?;
        if let Some(k) = kmsg.as_mut() {
            let lines: Vec<String> = k
                .lines()
                .into_iter()
                .filter(|l| l.starts_with("rovl"))
                .collect();
            if lines.len() != 1 {
                return fail(format!(
                    "mount -o '{opts}': expected one 'rovl:' log line, got {lines:?}"
                ));
            }
        }
    }
    Ok(())
}

fn stacking_depth(t: &mut T) -> TResult {
    let [a, b, c] = t.layers(["a", "b", "c"])?;
    file(&a.join("f"), b"stacked")?;
    let base = t.mount("overlay", &lowerdir(&[&a, &c]))?;
    // One level over an overlay works on both...
    let (o, r) = t.pair(&lowerdir(&[&base, &b]))?;
    compare_trees_with(&o, &r, false)?;
    // ...a third level exceeds FILESYSTEM_MAX_STACK_DEPTH on both.
    let eo = t.mount("overlay", &lowerdir(&[&r, &c])).map(|_| ());
    let er = t.mount("rovl", &lowerdir(&[&o, &c])).map(|_| ());
    same("mount over depth 2", eo, er)?;
    same("mount over depth 2 errno", er, Err(libc::EINVAL))
}

/// An upper layer on an overlay (or rovl) mount is refused, as overlayfs
/// refuses it (xfstests overlay/022): it cannot make whiteouts by rename,
/// and overlay dentries count as remote.
fn overlay_as_upper(t: &mut T) -> TResult {
    let [a, uo, wo, ur, wr] = t.layers(["a", "uo", "wo", "ur", "wr"])?;
    file(&a.join("f"), b"lower")?;
    let lower = [a];
    let o = t.mount("overlay", &crate::upper::opts(&lower, &uo, &wo))?;
    let r = t.mount("rovl", &crate::upper::opts(&lower, &ur, &wr))?;
    for m in [&o, &r] {
        for d in ["l", "u", "w"] {
            dir(&m.join(d))?;
        }
    }
    let nested = |m: &Path| crate::upper::opts(&[m.join("l")], &m.join("u"), &m.join("w"));
    let eo = t.mount("overlay", &nested(&o)).map(|_| ());
    let er = t.mount("rovl", &nested(&r)).map(|_| ());
    same("upper layer on the same filesystem's mount", eo, er)?;
    same("errno", er, Err(libc::EINVAL))?;
    // rovl over overlayfs too (not the other way round: overlayfs's check
    // does not see a rovl upper layer as remote, see rovl.rst).
    let ero = t.mount("rovl", &nested(&o)).map(|_| ());
    same(
        "rovl with an upper layer on overlay",
        ero,
        Err(libc::EINVAL),
    )
}

/// `work/` inherits a default ACL of the workdir; both filesystems drop
/// its ACLs and mode bits (xfstests overlay/023).
fn workdir_default_acl(t: &mut T) -> TResult {
    let [a, uo, wo, ur, wr] = t.layers(["a", "uo", "wo", "ur", "wr"])?;
    for w in [&wo, &wr] {
        let ok = std::process::Command::new("setfacl")
            .args(["-d", "-m", "o::rwx", w.to_str().unwrap()])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(Fail::Skip(
                "setfacl failed (no ACL support on the layer fs)".into(),
            ));
        }
    }
    let state = |w: &Path| {
        let work = w.join("work");
        let mut acls: Vec<String> = sys::listxattr(&work)
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.starts_with("system.posix_acl"))
            .collect();
        acls.sort();
        let mode = fs::symlink_metadata(&work).map(|m| m.mode() & 0o7777);
        (acls, mode.map_err(|e| e.to_string()))
    };
    let mut states = Vec::new();
    for (fstype, u, w) in [("overlay", &uo, &wo), ("rovl", &ur, &wr)] {
        let opts = crate::upper::opts(&[a.clone()], u, w);
        t.mount(fstype, &opts)
            .map_err(|e| format!("mount {fstype}: errno {e}"))?;
        states.push(state(w));
    }
    same("work/ ACLs and mode", &states[0], &states[1])?;
    same("rovl's work/", states[1].clone(), (vec![], Ok(0)))
}

/// Layers that overlap each other, or lie in the upper or work directory of
/// another mount, are refused with ELOOP or EBUSY (with `index=on`), and a
/// layer moved into another after mounting makes lookups fail with ELOOP
/// (xfstests overlay/065).
fn overlapping_layers(t: &mut T) -> TResult {
    let mut kmsg = Kmsg::open();
    let mut seen = Vec::new();
    for fstype in ["overlay", "rovl"] {
        let log = |k: &mut Option<Kmsg>| fs_lines(k, fstype);
        let [l, u, w] = t.layers([
            &format!("{fstype}/lower"),
            &format!("{fstype}/upper"),
            &format!("{fstype}/work"),
        ])?;
        dir(&l.join("lower"))?;
        dir(&u.join("lower"))?;
        dir(&u.join("upper"))?;
        let opts = |lowers: &[&Path], u: &Path, w: &Path, extra: &str| {
            let l: Vec<PathBuf> = lowers.iter().map(|p| p.to_path_buf()).collect();
            format!("{}{extra}", crate::upper::opts(&l, u, w))
        };
        let (ll, ul, uu, ww) = (
            l.join("lower"),
            u.join("lower"),
            u.join("upper"),
            w.join("work"),
        );
        let cases = [
            ("upperdir as lowerdir", opts(&[&u], &u, &w, "")),
            ("workdir as lowerdir", opts(&[&w], &u, &w, ",index=off")),
            ("lowerdir inside upperdir", opts(&[&ul], &u, &w, "")),
            ("same lowerdir twice", opts(&[&l, &l], &u, &w, "")),
            (
                "lowerdir inside the one above",
                opts(&[&l, &ll], &u, &w, ""),
            ),
            (
                "lowerdir inside the one below",
                opts(&[&ll, &l], &u, &w, ""),
            ),
        ];
        let mut results = Vec::new();
        let _ = log(&mut kmsg);
        let record = |t: &mut T, k: &mut Option<Kmsg>, what: &str, opts: &str| {
            let r = t.mount(fstype, opts);
            if let Ok(mp) = &r {
                let _ = t.umount(mp);
            }
            (what.to_string(), r.map(|_| ()), log(k))
        };
        for (what, o) in &cases {
            results.push(record(t, &mut kmsg, what, o));
        }
        // Another mount uses `upper` and `work`.
        let mp = t
            .mount(fstype, &opts(&[&l], &u, &w, ""))
            .map_err(|e| format!("mount {fstype}: errno {e}"))?;
        let _ = log(&mut kmsg);
        for index in ["on", "off"] {
            for (what, lower) in [
                ("in another's upperdir", &uu),
                ("in another's workdir", &ww),
            ] {
                // A fresh upper layer each: a refused index=on mount may
                // have recorded its origin already.
                let n = results.len();
                let [u2, w2] = t.layers([&format!("{fstype}/u{n}"), &format!("{fstype}/w{n}")])?;
                let o = opts(&[lower], &u2, &w2, &format!(",index={index}"));
                results.push(record(t, &mut kmsg, &format!("{what}, index={index}"), &o));
            }
        }
        // The upper layer moved into the lower one: a loop.
        fs::rename(&u, l.join("upper")).map_err(|e| format!("rename: {e}"))?;
        let r = fs::symlink_metadata(mp.join("upper"))
            .map(|_| ())
            .map_err(|e| sys::errno_of(&e));
        results.push(("upperdir moved into lowerdir".into(), r, log(&mut kmsg)));
        seen.push(results);
    }
    same("mount errnos and log lines", &seen[0], &seen[1])?;
    // Those are not all refusals.
    same(
        "errnos",
        seen[1].iter().map(|r| r.1).collect::<Vec<_>>(),
        [
            [Err(libc::ELOOP); 6].as_slice(),
            &[
                Err(libc::EBUSY),
                Err(libc::EBUSY),
                Ok(()),
                Ok(()),
                Err(libc::ELOOP),
            ],
        ]
        .concat(),
    )
}

/// A workdir where `work/` cannot be made (immutable), or where an old
/// `work/` cannot be removed, gives a read-only mount that cannot be made
/// writable (xfstests overlay/035).
fn workdir_unusable(t: &mut T) -> TResult {
    let [a] = t.layers(["a"])?;
    file(&a.join("f"), b"f")?;
    let chattr = |flags: &str, p: &Path| {
        std::process::Command::new("chattr")
            .args([flags, p.to_str().unwrap()])
            .status()
            .is_ok_and(|s| s.success())
    };
    let mut kmsg = Kmsg::open();
    let mut seen = Vec::new();
    for fstype in ["overlay", "rovl"] {
        let mut results = Vec::new();
        for (i, case) in ["immutable workdir", "old work/ cannot be removed"]
            .iter()
            .enumerate()
        {
            let [u, w] = t.layers([&format!("{fstype}-u{i}"), &format!("{fstype}-w{i}")])?;
            let locked = if i == 0 {
                w.clone()
            } else {
                dir(&w.join("work/x"))?;
                w.join("work/x")
            };
            if !chattr("+i", &locked) {
                return Err(Fail::Skip("chattr +i failed on the layer fs".into()));
            }
            let hide = |text: &str| {
                text.replace(u.to_str().unwrap(), "U")
                    .replace(w.to_str().unwrap(), "W")
            };
            if let Some(k) = kmsg.as_mut() {
                k.lines();
            }
            let opts = crate::upper::opts(&[a.clone()], &u, &w);
            let r = t.mount(fstype, &opts);
            let log: Vec<String> = fs_lines(&mut kmsg, fstype)
                .iter()
                .map(|l| hide(l))
                .collect();
            let seen_by_mount = match &r {
                Ok(mp) => Ok((
                    fs::read(mp.join("f")).map_err(|e| sys::errno_of(&e)),
                    fs::File::create(mp.join("new"))
                        .map(|_| ())
                        .map_err(|e| sys::errno_of(&e)),
                    sys::mount(fstype, mp, "", libc::MS_REMOUNT),
                    mount_options(mp).map(|o| hide(&o)),
                )),
                Err(e) => Err(*e),
            };
            if let Ok(mp) = &r {
                t.umount(mp)?;
            }
            chattr("-i", &locked);
            results.push((case.to_string(), seen_by_mount, log));
        }
        seen.push(results);
    }
    same("mounts, writes, remounts and log", &seen[0], &seen[1])?;
    for (case, r, _) in &seen[1] {
        let Ok((_, create, remount, _)) = r else {
            return fail(format!("{case}: mount failed: {r:?}"));
        };
        same(
            &format!("{case}: create, remount rw"),
            (*create, *remount),
            (Err(libc::EROFS), Err(libc::EROFS)),
        )?;
    }
    Ok(())
}

impl From<Errno> for Fail {
    fn from(e: Errno) -> Self {
        Fail::Fail(format!("errno {e}"))
    }
}

fn remount_rw_refused(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    let flags = libc::MS_REMOUNT;
    let eo = sys::mount("overlay", &o, "", flags);
    let er = sys::mount("rovl", &r, "", flags);
    same("remount rw", eo, er)?;
    let eo = sys::mount("overlay", &o, "", flags | libc::MS_RDONLY);
    let er = sys::mount("rovl", &r, "", flags | libc::MS_RDONLY);
    same("remount ro", eo, er)
}

fn telldir_seekdir(t: &mut T) -> TResult {
    let [a, b, c] = t.layers(["a", "b", "c"])?;
    for i in 0..300 {
        let l = [&a, &b, &c][i % 3];
        file(&l.join(format!("d/e{i:04}")), b"")?;
        if i % 7 == 0 {
            file(&c.join(format!("d/e{i:04}")), b"dup")?;
        }
    }
    let (o, r) = t.pair(&lowerdir(&[&a, &b, &c]))?;
    // Read in small batches, remember each batch's start offset, seek back
    // to every one of them and read again: the same entries must follow.
    let walk = |m: &Path| -> Result<Vec<Vec<(Vec<u8>, u64)>>, Errno> {
        let fd = sys::open(&m.join("d"), libc::O_RDONLY | libc::O_DIRECTORY)?;
        let mut batches = Vec::new();
        let mut offs = vec![0i64];
        loop {
            let v = sys::getdents(fd, 512)?;
            if v.is_empty() {
                break;
            }
            offs.push(v.last().unwrap().off);
            batches.push(
                v.iter()
                    .map(|d| (d.name.clone(), d.ino))
                    .collect::<Vec<_>>(),
            );
        }
        let mut again = Vec::new();
        for &off in offs.iter().rev() {
            sys::lseek(fd, off, libc::SEEK_SET)?;
            again.push(
                sys::getdents(fd, 512)?
                    .iter()
                    .map(|d| (d.name.clone(), d.ino))
                    .collect::<Vec<_>>(),
            );
        }
        sys::close(fd);
        again.reverse();
        for (i, b) in batches.iter().enumerate() {
            if &again[i] != b {
                return Err(-1000 - i as i32);
            }
        }
        Ok(batches)
    };
    let (wo, wr) = (walk(&o), walk(&r));
    if let Err(e) = wr {
        return fail(format!(
            "rovl: re-read after seekdir differs or failed ({e})"
        ));
    }
    let names = |w: Result<Vec<Vec<(Vec<u8>, u64)>>, Errno>| -> Vec<(Vec<u8>, u64)> {
        w.unwrap_or_default().concat()
    };
    same("entries in order", names(wo), names(wr))
}

fn big_merged_dir(t: &mut T) -> TResult {
    let [a, b, c] = t.layers(["a", "b", "c"])?;
    let n = 100_000;
    for l in [&a, &b, &c] {
        dir(&l.join("big"))?;
    }
    for i in 0..n {
        let l = [&a, &b, &c][i % 3];
        fs::File::create(l.join(format!("big/f{i}"))).map_err(|e| format!("{e}"))?;
        if i % 5 == 0 {
            fs::File::create(c.join(format!("big/f{i}"))).map_err(|e| format!("{e}"))?;
        }
        if i % 11 == 0 && i % 3 != 0 {
            whiteout(&a.join(format!("big/f{i}"))).ok();
        }
    }
    let (o, r) = t.pair(&lowerdir(&[&a, &b, &c]))?;
    let (lo, lr) = (listing(&o.join("big")), listing(&r.join("big")));
    same(
        "count",
        lo.as_ref().map(|v| v.len()),
        lr.as_ref().map(|v| v.len()),
    )?;
    same("listing of 100000-entry merged dir", lo, lr)
}

fn random_trees(t: &mut T) -> TResult {
    for seed in 1..=12u64 {
        let base = t.dir.join(format!("seed{seed}"));
        let ls: Vec<PathBuf> = (0..4).map(|i| base.join(format!("l{i}"))).collect();
        let refs: Vec<&Path> = ls.iter().map(|p| p.as_path()).collect();
        layers::random_tree(&mut Rng::new(seed), &refs, 3)?;
        let opts = lowerdir(&ls.iter().collect::<Vec<_>>());
        let (o, r) = t.pair(&opts)?;
        compare_trees(&o, &r).map_err(|e| match e {
            Fail::Fail(m) => Fail::Fail(format!("seed {seed}: {m}")),
            s => s,
        })?;
        t.umount(&o)?;
        t.umount(&r)?;
    }
    Ok(())
}

/// Every path below `root`, relative, not following symlinks.
fn layer_paths(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(root.join(rel)) else {
        return;
    };
    for e in rd.flatten() {
        let r = rel.join(e.file_name());
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            layer_paths(root, &r, out);
        }
        out.push(r);
    }
}

/// A random value for an overlay xattr: empty, short junk, a file handle
/// header with random fields, a path, or one character.
pub(crate) fn crafted_value(rng: &mut Rng, paths: &[PathBuf]) -> Vec<u8> {
    const JUNK: &[u8] = b"/.xyLU+-019\0\xfb";
    match rng.below(5) {
        0 => Vec::new(),
        1 => (0..1 + rng.below(24))
            .map(|_| JUNK[rng.below(JUNK.len() as u64) as usize])
            .collect(),
        2 => {
            let fid = 4 * rng.below(4) as usize;
            let mut v = vec![
                0u8,
                0xfb,
                (21 + fid) as u8,
                rng.below(8) as u8,
                rng.below(256) as u8,
            ];
            v.extend((0..16 + fid).map(|_| rng.below(256) as u8));
            if rng.below(4) == 0 {
                // A bad length or magic.
                let i = rng.below(3) as usize;
                v[i] = v[i].wrapping_add(1);
            }
            v
        }
        3 if !paths.is_empty() => {
            let p = &paths[rng.below(paths.len() as u64) as usize];
            let s = p.display().to_string();
            if rng.below(2) == 0 {
                format!("/{s}").into_bytes()
            } else {
                s.into_bytes()
            }
        }
        _ => vec![b"yx0"[rng.below(3) as usize]],
    }
}

/// The `trusted.overlay.*` xattrs overlayfs reads, crafted by the tests.
const CRAFTED: [&str; 9] = [
    "redirect", "origin", "metacopy", "opaque", "impure", "nlink", "upper", "whiteout", "protattr",
];

/// Sets random `CRAFTED` xattrs on about half of the `paths` of each
/// layer of `layers`; each entry of `layers` is one layer, given as the
/// copies that must hold the same values.
fn craft_xattrs(rng: &mut Rng, layers: &[Vec<&Path>], paths: &[PathBuf]) {
    for copies in layers {
        for rel in paths {
            if fs::symlink_metadata(copies[0].join(rel)).is_err() || rng.below(2) == 0 {
                continue;
            }
            for _ in 0..1 + rng.below(2) {
                let name = CRAFTED[rng.below(CRAFTED.len() as u64) as usize];
                let v = crafted_value(rng, paths);
                for l in copies {
                    // Some file types take no trusted xattrs on some
                    // filesystems: what is set is what is compared.
                    let _ = sys::setxattr(&l.join(rel), &format!("trusted.overlay.{name}"), &v);
                }
            }
        }
    }
}

/// lstat, read, readlink and getdents of each of `paths` (and the root)
/// compared between `o` and `r`; a failure names the crafted xattrs that
/// `layers` hold on the way to the path. With `lower`, the mounts have
/// upper layers of their own: inode numbers are compared where they are
/// those of lower objects (the snapshots compare the rest one to one).
/// Returns the number of paths.
fn compare_crafted(
    o: &Path,
    r: &Path,
    paths: &[PathBuf],
    what: &str,
    layers: &[PathBuf],
    lower: Option<&std::collections::HashSet<u64>>,
) -> Result<usize, Fail> {
    let ino = |i: u64| match lower {
        Some(l) if !l.contains(&i) => None,
        _ => Some(i),
    };
    let mut checked = 0;
    for rel in std::iter::once(&PathBuf::from(".")).chain(paths) {
        let rel = rel.display().to_string();
        let res = (|| -> TResult {
            let st = both(o, r, &rel, &format!("{what}: lstat"), |p| {
                fs::symlink_metadata(p)
                    .map(|m| (m.mode(), m.size(), m.nlink(), ino(m.ino())))
                    .map_err(|e| sys::errno_of(&e))
            })?;
            // Reading a FIFO would wait for a writer.
            if st.is_ok_and(|s| s.0 & libc::S_IFMT == libc::S_IFREG) {
                let _ = both(o, r, &rel, &format!("{what}: read"), read_file)?;
            }
            let _ = both(o, r, &rel, &format!("{what}: readlink"), |p| {
                fs::read_link(p).map_err(|e| sys::errno_of(&e))
            })?;
            let _ = both(o, r, &rel, &format!("{what}: getdents"), |p| {
                listing(p).map(|l| l.into_iter().map(|e| (e.0, e.1)).collect::<Vec<_>>())
            })?;
            Ok(())
        })();
        if let Err(Fail::Fail(m)) = res {
            // What the layers hold there and above.
            let mut held = String::new();
            for (i, l) in layers.iter().enumerate() {
                let mut p = PathBuf::new();
                for c in Path::new(&rel).components() {
                    p.push(c);
                    for n in CRAFTED {
                        let name = format!("trusted.overlay.{n}");
                        if let Ok(v) = sys::getxattr(&l.join(&p), &name) {
                            held += &format!(" layer {i} {}: {n}={v:?};", p.display());
                        }
                    }
                }
            }
            return fail(format!("{m};{held}"));
        }
        res?;
        checked += 1;
    }
    Ok(checked)
}

/// Paths of everything in `layers`, sorted, without duplicates.
fn all_paths(layers: &[PathBuf]) -> Vec<PathBuf> {
    let mut all = Vec::new();
    for l in layers {
        layer_paths(l, Path::new(""), &mut all);
    }
    all.sort();
    all.dedup();
    all
}

/// Layers whose entries carry random values of the `trusted.overlay.*`
/// xattrs overlayfs reads (redirects to anywhere, junk or plausible file
/// handles, metacopy, opaque, impure, nlink...): lstat, read, readlink and
/// getdents of every path give the same results and errnos on overlay and
/// rovl, over several option sets. Nothing a layer holds may oops rovl
/// (the VM run fails on any kernel splat).
fn crafted_layer_xattrs(t: &mut T) -> TResult {
    let options = [
        "",
        ",metacopy=on",
        ",redirect_dir=nofollow",
        ",xino=on",
        ",metacopy=on,redirect_dir=follow",
    ];
    let mut checked = 0;
    for round in 0..15u64 {
        let base = t.dir.join(format!("round{round}"));
        let ls: Vec<PathBuf> = (0..3).map(|i| base.join(format!("l{i}"))).collect();
        let refs: Vec<&Path> = ls.iter().map(|p| p.as_path()).collect();
        layers::random_tree(&mut Rng::new(round + 5000), &refs, 2)?;
        let all = all_paths(&ls);
        let mut rng = Rng::new(round.wrapping_mul(0x9e37) + 5000);
        let copies: Vec<Vec<&Path>> = refs.iter().map(|l| vec![*l]).collect();
        craft_xattrs(&mut rng, &copies, &all);
        let opts = format!(
            "{}{}",
            lowerdir(&ls.iter().collect::<Vec<_>>()),
            options[(round as usize) % options.len()]
        );
        let (o, r) = t.pair(&opts)?;
        checked += compare_crafted(&o, &r, &all, &format!("round {round} ({opts})"), &ls, None)?;
        t.umount(&o)?;
        t.umount(&r)?;
    }
    eprintln!("crafted xattrs: {checked} paths compared");
    Ok(())
}

/// As `crafted_layer_xattrs` with an upper layer that carries crafted
/// xattrs too (each filesystem mounts its own identical copy): the mount
/// succeeds or fails alike, every path reads the same, then random
/// operations (copy-ups, renames, removals over crafted redirects, opaque
/// and impure directories, origins) give the same results and trees, and
/// each upper layer reads the same when mounted by the other filesystem.
fn crafted_upper_xattrs(t: &mut T) -> TResult {
    let options = [
        "",
        ",redirect_dir=on",
        ",index=on",
        ",xino=on,redirect_dir=on",
        ",index=on,redirect_dir=on",
        ",redirect_dir=nofollow",
        ",metacopy=on",
        ",metacopy=on,index=on",
    ];
    let (mut mounted, mut refused, mut checked) = (0, 0, 0);
    for round in 0..16u64 {
        let seed = round + 7000;
        let base = t.dir.join(format!("upper{round}"));
        let ls: Vec<PathBuf> = (0..2).map(|i| base.join(format!("l{i}"))).collect();
        let (uo, ur) = (base.join("upper-overlay"), base.join("upper-rovl"));
        // The copies' times differ: only times set during the run compare.
        let t0 = crate::upper::now();
        // The same tree twice: the second copy's lower layers are dropped.
        layers::random_tree(&mut Rng::new(seed), &[&uo, &ls[0], &ls[1]], 2)?;
        let scratch: Vec<PathBuf> = (0..2).map(|i| base.join(format!("s{i}"))).collect();
        layers::random_tree(&mut Rng::new(seed), &[&ur, &scratch[0], &scratch[1]], 2)?;
        for s in &scratch {
            fs::remove_dir_all(s).map_err(|e| format!("rm {}: {e}", s.display()))?;
        }
        let stack = [uo.clone(), ls[0].clone(), ls[1].clone()];
        let all = all_paths(&stack);
        let mut rng = Rng::new(seed.wrapping_mul(0x9e37));
        let copies = [vec![&*uo, &*ur], vec![&*ls[0]], vec![&*ls[1]]];
        // The upper layer's root may carry them too (an origin there is
        // what index=on verifies).
        let mut roots = vec![PathBuf::new()];
        roots.extend(all.iter().cloned());
        craft_xattrs(&mut rng, &copies, &roots);
        let extra = options[(round as usize) % options.len()];
        let lower = crate::upper::lower_inos(&ls);
        let mut sides = Vec::new();
        for (fstype, upper) in [("overlay", &uo), ("rovl", &ur)] {
            let work = base.join(format!("work-{fstype}"));
            dir(&work)?;
            let opts = format!("{}{extra}", crate::upper::opts(&ls, upper, &work));
            let m = t.mount(fstype, &opts);
            sides.push((m, upper.clone(), work));
        }
        let what = format!("round {round} ({extra})");
        let (mo, mr) = (sides[0].0.clone(), sides[1].0.clone());
        match (mo, mr) {
            (Ok(mo), Ok(mr)) => {
                mounted += 1;
                checked += compare_crafted(&mo, &mr, &all, &what, &stack, Some(&lower))?;
                let side = |i: usize, mnt: PathBuf| crate::upper::Side {
                    mnt,
                    upper: sides[i].1.clone(),
                    work: sides[i].2.clone(),
                };
                let (o, r) = (side(0, mo), side(1, mr));
                let plan = crate::upper::Plan {
                    seed,
                    ops: 150,
                    every: 10,
                    extra,
                    crafted: true,
                };
                crate::upper::ops_and_remounts(t, &ls, (&o, &r), (t0, &lower), &plan)?;
            }
            (Err(a), Err(b)) if a == b => refused += 1,
            (a, b) => {
                return fail(format!(
                    "{what}: mount: overlay {a:?}, rovl {b:?} (upper root xattrs: {:?})",
                    CRAFTED
                        .iter()
                        .filter_map(|n| sys::getxattr(&uo, &format!("trusted.overlay.{n}"))
                            .ok()
                            .map(|v| (n, v)))
                        .collect::<Vec<_>>()
                ));
            }
        }
    }
    eprintln!(
        "crafted upper xattrs: {mounted} mounted, {refused} refused by both, {checked} paths compared"
    );
    if mounted == 0 {
        return fail("no round mounted: nothing was compared".into());
    }
    Ok(())
}

fn xattr_passthrough(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    file(&a.join("f"), b"f")?;
    dir(&b.join("d"))?;
    // Valid on the layer, too long once escaped (overlay.overlay.).
    let long = format!("trusted.overlay.{}", "n".repeat(235));
    for p in [a.join("f"), b.join("d")] {
        sys::setxattr(&p, "user.plain", b"v1").map_err(|e| format!("setxattr {e}"))?;
        sys::setxattr(&p, "trusted.other", b"v2").map_err(|e| format!("setxattr {e}"))?;
        sys::setxattr(&p, "trusted.overlay.origin", b"private")
            .map_err(|e| format!("setxattr {e}"))?;
        sys::setxattr(&p, "trusted.overlay.overlay.esc", b"escaped")
            .map_err(|e| format!("setxattr {e}"))?;
        sys::setxattr(&p, "user.overlay.u", b"u").map_err(|e| format!("setxattr {e}"))?;
        sys::setxattr(&p, &long, b"long").map_err(|e| format!("setxattr {e}"))?;
    }
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    for rel in ["f", "d", "."] {
        let _ = both(&o, &r, rel, "listxattr", sys::listxattr)?;
        let _ = both(&o, &r, rel, "listxattr size", sys::listxattr_size)?;
        for name in [
            "user.plain",
            "trusted.other",
            "trusted.overlay.origin",
            "trusted.overlay.esc",
            "trusted.overlay.overlay.esc",
            "user.overlay.u",
            "user.missing",
            long.as_str(),
        ] {
            let _ = both(&o, &r, rel, &format!("getxattr {name}"), |p| {
                sys::getxattr(p, name)
            })?;
        }
    }
    let v = sys::getxattr(&r.join("f"), "trusted.overlay.esc");
    same("escaped name through rovl", v, Ok(b"escaped".to_vec()))?;
    compare_trees(&o, &r)
}

fn xattr_as_other_user(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    file(&a.join("f"), b"f")?;
    layers::chmod(&a.join("f"), 0o644)?;
    sys::setxattr(&a.join("f"), "user.plain", b"v1").map_err(|e| format!("{e}"))?;
    sys::setxattr(&a.join("f"), "trusted.other", b"v2").map_err(|e| format!("{e}"))?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    // The child reports a digest of what it saw as its exit status.
    let probe = |m: &Path| {
        let p = m.join("f");
        sys::as_user(1000, 1000, move || {
            let l = sys::listxattr(&p);
            let g1 = sys::getxattr(&p, "user.plain");
            let g2 = sys::getxattr(&p, "trusted.other");
            (snapshot::fnv(format!("{l:?}{g1:?}{g2:?}").as_bytes()) % 251) as i32
        })
    };
    same("xattrs seen by uid 1000 (digest)", probe(&o), probe(&r))
}

fn userxattr_mount(t: &mut T) -> TResult {
    let [a, b, c] = t.layers(["a", "b", "c"])?;
    file(&a.join("d/top"), b"t")?;
    dir(&b.join("d"))?;
    sys::setxattr(&b.join("d"), "user.overlay.opaque", b"y").map_err(|e| format!("{e}"))?;
    file(&b.join("d/mid"), b"m")?;
    file(&c.join("d/hidden"), b"h")?;
    opaque(&b.join("t"))?;
    file(&c.join("t/not-hidden-with-userxattr"), b"x")?;
    sys::setxattr(&a.join("d/top"), "user.overlay.private", b"p").map_err(|e| format!("{e}"))?;
    sys::setxattr(&a.join("d/top"), "user.overlay.overlay.esc", b"e")
        .map_err(|e| format!("{e}"))?;
    let (o, r) = t.pair(&format!("{},userxattr", lowerdir(&[&a, &b, &c])))?;
    same(
        "d/hidden",
        stat_errno(&r.join("d/hidden")).map(|_| ()),
        Err(libc::ENOENT),
    )?;
    same("/proc/mounts", mount_options(&o), mount_options(&r))?;
    compare_trees(&o, &r)
}

fn acl_grants_other_user(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    file(&a.join("f"), b"secret")?;
    layers::chmod(&a.join("f"), 0o600)?;
    file(&a.join("g"), b"open")?;
    layers::chmod(&a.join("g"), 0o644)?;
    let run = |args: &[&str]| {
        std::process::Command::new("setfacl")
            .args(args)
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !run(&["-m", "u:1000:r", a.join("f").to_str().unwrap()])
        || !run(&["-m", "u:1000:-", a.join("g").to_str().unwrap()])
    {
        return Err(Fail::Skip(
            "setfacl failed (no ACL support on the layer fs)".into(),
        ));
    }
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    for rel in ["f", "g"] {
        let probe = |m: &Path| {
            let p = m.join(rel);
            sys::as_user(1000, 1000, move || {
                fs::read(&p)
                    .map(|_| 0)
                    .unwrap_or_else(|e| sys::errno_of(&e))
            })
        };
        same(&format!("read {rel} as uid 1000"), probe(&o), probe(&r))?;
    }
    same(
        "ACL grant honoured by rovl",
        sys::as_user(1000, 1000, || {
            fs::read(r.join("f"))
                .map(|_| 0)
                .unwrap_or_else(|e| sys::errno_of(&e))
        }),
        0,
    )?;
    compare_trees(&o, &r)
}

fn mount_options_shown(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    let [w] = t.layers(["work"])?;
    let base = lowerdir(&[&a, &b]);
    let extra = [
        "",
        "ro",
        "redirect_dir=nofollow",
        "redirect_dir=off",
        "redirect_dir=follow",
        "redirect_dir=on",
        "index=on",
        "index=off",
        "uuid=off",
        "uuid=null",
        "uuid=on",
        "uuid=auto",
        "xino=off",
        "xino=auto",
        "xino=on",
        "fsync=strict",
        "fsync=volatile",
        "volatile",
        "userxattr",
        "default_permissions",
        "nfs_export=off",
        "metacopy=off",
        "verity=off",
        "verity=on",
        "verity=require",
        "redirect_dir=nofollow,index=on,uuid=null,userxattr,default_permissions",
    ];
    let workdir = format!("workdir={}", w.display());
    for e in extra.iter().copied().chain([workdir.as_str()]) {
        let opts = if e.is_empty() {
            base.clone()
        } else {
            format!("{base},{e}")
        };
        let eo = t.mount("overlay", &opts);
        let er = t.mount("rovl", &opts);
        same(
            &format!("mount -o {opts}"),
            eo.as_ref().map(|_| ()),
            er.as_ref().map(|_| ()),
        )?;
        if let (Ok(o), Ok(r)) = (eo, er) {
            same(
                &format!("/proc/mounts for -o {opts}"),
                mount_options(&o),
                mount_options(&r),
            )?;
            t.umount(&o)?;
            t.umount(&r)?;
        }
    }
    Ok(())
}

fn bad_option_values(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    dir(&a.join("sub/deeper"))?;
    let base = lowerdir(&[&a, &b]);
    let (da, db) = (a.display(), b.display());
    let cases = [
        format!("{base},xino=bad"),
        format!("{base},index=maybe"),
        format!("{base},redirect_dir"),
        format!("{base},userxattr=1"),
        format!("{base},default_permissions=yes"),
        format!("{base},metacopy=on,redirect_dir=nofollow"),
        format!("{base},userxattr,redirect_dir=on"),
        format!("{base},userxattr,metacopy=on"),
        format!("{base},metacopy=off,verity=on"),
        format!("{base},nfs_export=on,index=off"),
        format!("{base},upperdir="),
        format!("lowerdir={da}:::{db}"),
        format!("lowerdir={da}::{db}:{da}"),
        format!("lowerdir={da}::"),
        format!("lowerdir=:{da}"),
        format!("lowerdir={da}::{db}"),
        format!("lowerdir={da}:{da}"),
        format!("lowerdir={da}:{da}/sub"),
        format!("lowerdir={da}/sub:{da}"),
        format!("lowerdir={da}:{db}:{da}/sub/deeper"),
    ];
    for opts in cases {
        let eo = t.mount("overlay", &opts).map(|_| ());
        let er = t.mount("rovl", &opts).map(|_| ());
        same(&format!("mount -o '{opts}'"), eo, er)?;
    }
    Ok(())
}

/// rovl's own `mmap=coherent|real`: shown only where not the default,
/// after overlayfs's options; a bad or missing value fails with `EINVAL`
/// and one log line. overlayfs has no such option.
fn mmap_option(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    let base = lowerdir(&[&a, &b]);
    let o = t.mount("overlay", &base)?;
    let shown = mount_options(&o);
    for (extra, want) in [
        ("", shown.clone()),
        (",mmap=coherent", shown.clone()),
        (",mmap=real", shown.map(|s| s + ",mmap=real")),
    ] {
        let r = t.mount("rovl", &format!("{base}{extra}"))?;
        same(
            &format!("/proc/mounts for {extra:?}"),
            want,
            mount_options(&r),
        )?;
        t.umount(&r)?;
    }
    same(
        "overlay -o mmap=real",
        t.mount("overlay", &format!("{base},mmap=real")).map(|_| ()),
        Err(libc::EINVAL),
    )?;
    let mut kmsg = Kmsg::open();
    for bad in ["mmap=bogus", "mmap=", "mmap", "mmap=Real"] {
        fs_lines(&mut kmsg, "rovl");
        same(
            &format!("rovl -o {bad}"),
            t.mount("rovl", &format!("{base},{bad}")).map(|_| ()),
            Err(libc::EINVAL),
        )?;
        let lines = fs_lines(&mut kmsg, "rovl");
        if kmsg.is_some() && lines.len() != 1 {
            return fail(format!("-o {bad}: log lines {lines:?}"));
        }
    }
    Ok(())
}

fn module_parameters(_t: &mut T) -> TResult {
    let read = |m: &str| -> Result<Vec<(String, String)>, String> {
        let mut v: Vec<(String, String)> = fs::read_dir(format!("/sys/module/{m}/parameters"))
            .map_err(|e| format!("{m} parameters: {e}"))?
            .filter_map(|e| e.ok())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    fs::read_to_string(e.path()).unwrap_or_default(),
                )
            })
            .collect();
        v.sort();
        Ok(v)
    };
    // rovl's own parameter, read-only once loaded and off by default.
    let mut rovl = read("rovl")?;
    let own = ("register_overlay".to_string(), "N\n".to_string());
    if !rovl.contains(&own) {
        return fail(format!(
            "no register_overlay=N in rovl's parameters {rovl:?}"
        ));
    }
    rovl.retain(|p| p.0 != own.0);
    same("module parameters and defaults", read("overlay")?, rovl)
}

fn new_mount_api(t: &mut T) -> TResult {
    let [a, b, c] = t.layers(["a", "b", "c"])?;
    file(&a.join("x"), b"a")?;
    file(&b.join("x"), b"b")?;
    file(&c.join("y:with colon"), b"c")?;
    let (sa, sb, sc) = (
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        c.to_str().unwrap(),
    );
    let mo = t.dir.join("api-overlay");
    let mr = t.dir.join("api-rovl");
    dir(&mo)?;
    dir(&mr)?;
    let opts = [
        ("lowerdir+", Some(sa)),
        ("lowerdir+", Some(sb)),
        ("lowerdir+", Some(sc)),
    ];
    let eo = sys::new_mount("overlay", &mo, &opts);
    let er = sys::new_mount("rovl", &mr, &opts);
    same("lowerdir+ x3", &eo, &er)?;
    if eo.is_ok() {
        t.adopt(&mo);
    }
    if er.is_ok() {
        t.adopt(&mr);
    }
    same("/proc/mounts", mount_options(&mo), mount_options(&mr))?;
    compare_trees(&mo, &mr)?;
    let both_ab = format!("{sa}:{sb}");
    let cases: Vec<Vec<(&str, Option<&str>)>> = vec![
        vec![
            ("lowerdir", Some(both_ab.as_str())),
            ("lowerdir+", Some(sc)),
        ],
        vec![("lowerdir+", Some(""))],
        vec![("lowerdir+", Some(sa)), ("datadir+", Some(sb))],
        vec![
            ("lowerdir+", Some(sa)),
            ("datadir+", Some(sb)),
            ("lowerdir+", Some(sc)),
        ],
        vec![("lowerdir+", Some(sa)), ("userxattr", Some("1"))],
        vec![("lowerdir+", Some(sa))],
        vec![("lowerdir+", Some(sa)), ("lowerdir+", Some("/nonexistent"))],
        vec![("lowerdir+", Some(sa)), ("bogus", None)],
    ];
    let (xo, xr) = (t.dir.join("x-overlay"), t.dir.join("x-rovl"));
    dir(&xo)?;
    dir(&xr)?;
    for opts in cases {
        let eo = sys::new_mount("overlay", &xo, &opts);
        let er = sys::new_mount("rovl", &xr, &opts);
        if eo.is_ok() {
            t.adopt(&xo);
            t.umount(&xo)?;
        }
        if er.is_ok() {
            t.adopt(&xr);
            t.umount(&xr)?;
        }
        same(&format!("fsconfig {opts:?}"), eo, er)?;
    }
    Ok(())
}

fn remount_ignores_options(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    file(&a.join("f"), b"f")?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    let flags = libc::MS_REMOUNT | libc::MS_RDONLY;
    for data in ["lowerdir=/nonexistent", "bogus=1", "index=on"] {
        let eo = sys::mount("overlay", &o, data, flags);
        let er = sys::mount("rovl", &r, data, flags);
        same(&format!("remount -o {data}"), eo, er)?;
    }
    same(
        "/proc/mounts after remounts",
        mount_options(&o),
        mount_options(&r),
    )?;
    compare_trees(&o, &r)
}

fn set(p: &Path, name: &str, v: &[u8]) -> TResult {
    sys::setxattr(p, name, v)
        .map_err(|e| Fail::Fail(format!("setxattr {name} on {}: errno {e}", p.display())))
}

/// Layers as overlay leaves them after renaming merged directories with
/// redirect_dir=on: relative and absolute redirects, and broken ones.
fn redirect_layers(t: &T) -> Result<[PathBuf; 3], Fail> {
    let [a, b, c] = t.layers(["a", "b", "c"])?;
    file(&b.join("old/from-b"), b"b")?;
    file(&c.join("old/from-c"), b"c")?;
    dir(&a.join("new"))?;
    file(&a.join("new/from-a"), b"a")?;
    set(&a.join("new"), "trusted.overlay.redirect", b"old")?;
    whiteout(&a.join("old"))?;
    file(&c.join("orig/deep/file"), b"deep")?;
    dir(&a.join("x/moved"))?;
    set(
        &a.join("x/moved"),
        "trusted.overlay.redirect",
        b"/orig/deep",
    )?;
    dir(&a.join("bad-rel"))?;
    set(&a.join("bad-rel"), "trusted.overlay.redirect", b"has/slash")?;
    dir(&a.join("bad-abs"))?;
    set(&a.join("bad-abs"), "trusted.overlay.redirect", b"//double")?;
    dir(&b.join("mid"))?;
    set(&b.join("mid"), "trusted.overlay.redirect", b"/orig")?;
    dir(&a.join("mid"))?;
    file(&a.join("mid/top"), b"t")?;
    Ok([a, b, c])
}

fn redirected_dirs(t: &mut T) -> TResult {
    let [a, b, c] = redirect_layers(t)?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b, &c]))?;
    for rel in [
        "new/from-b",
        "new/from-c",
        "old",
        "x/moved/file",
        "bad-rel",
        "bad-abs",
        "mid/deep/file",
        "mid/top",
    ] {
        let _ = both(&o, &r, rel, "lstat", stat_errno)?;
    }
    same(
        "new/from-c through rovl",
        read_file(&r.join("new/from-c")),
        Ok(b"c".to_vec()),
    )?;
    let _ = both(&o, &r, "new", "listing", |p| listing(p))?;
    let _ = both(&o, &r, "mid", "listing", |p| listing(p))?;
    Ok(())
}

/// What a lookup finds wrong on a layer is logged rate-limited, as
/// overlayfs's `pr_warn_ratelimited`: a crafted layer must not flood the
/// log. Forty lookups of a directory with an invalid `redirect` fail alike
/// and log at most a burst of ten lines, and at least one.
fn layer_warnings_ratelimited(t: &mut T) -> TResult {
    let [a, b, c] = redirect_layers(t)?;
    let lower = lowerdir(&[&a, &b, &c]);
    let (o, r) = t.pair(&lower)?;
    // Another warning, from another place in the code: a redirect that a
    // `redirect_dir=nofollow` mount refuses to follow.
    let (on, rn) = t.pair(&format!("{lower},redirect_dir=nofollow"))?;
    let mut kmsg = Kmsg::open().ok_or_else(|| Fail::Skip("no /dev/kmsg".into()))?;
    // Wait out the interval (five seconds) of earlier warnings.
    std::thread::sleep(std::time::Duration::from_millis(5200));
    let mut seen = Vec::new();
    for (m, n, fs) in [(&r, &rn, "rovl"), (&o, &on, "overlayfs")] {
        let _ = kmsg.lines();
        let errs: Vec<_> = (0..40)
            .map(|_| stat_errno(&m.join("bad-rel")).err())
            .collect();
        let other = stat_errno(&n.join("new")).err();
        let lines = kmsg.lines();
        let count = |msg: &str| {
            let tag = format!("{fs}: {msg}");
            lines.iter().filter(|l| l.starts_with(&tag)).count()
        };
        seen.push((
            errs,
            other,
            count("invalid redirect"),
            count("refusing to follow redirect"),
        ));
    }
    let (rovl, ovl) = (&seen[0], &seen[1]);
    same("errnos of forty lookups", &ovl.0, &rovl.0)?;
    same("errno of the refused redirect", ovl.1, rovl.1)?;
    if rovl.0[0].is_none() {
        return fail("bad-rel was found: no warning to limit".into());
    }
    if !(1..=10).contains(&rovl.2) || ovl.2 > 10 {
        return fail(format!(
            "'invalid redirect' lines for forty lookups: overlay {}, rovl {}",
            ovl.2, rovl.2
        ));
    }
    // Each message has its own limit: the flood of one hides no other.
    same("'refusing to follow' lines after the flood", ovl.3, rovl.3)?;
    if rovl.3 != 1 {
        return fail(format!(
            "'refusing to follow' lines after the flood: {}, not 1",
            rovl.3
        ));
    }
    Ok(())
}

/// Copies `names` up (a chmod) through an overlay mount with `opts`, so
/// that the upper layer holds what overlayfs writes there.
fn copy_up_on_overlay(t: &mut T, opts: &str, names: &[&str]) -> TResult {
    let m = t
        .mount("overlay", opts)
        .map_err(|e| format!("overlay -o {opts}: errno {e}"))?;
    for n in names {
        layers::chmod(&m.join(n), 0o600)?;
    }
    t.umount(&m)
}

/// An inodes index that overlayfs made, then damaged: a stale entry
/// (named for another file handle) and an orphan (its last upper name
/// gone, its union link count 0). `mounts` copies it for one filesystem.
struct DamagedIndex {
    lower: PathBuf,
    other_lower: PathBuf,
    template: PathBuf,
}

impl DamagedIndex {
    /// Mount options over fresh copies for `fs`, and whether the mount
    /// must succeed, cleaning up the stale and orphan entries: one whose
    /// index names the copy's upper root; refused: one whose index still
    /// names the template's, one over another lower layer.
    fn mounts(&self, fs: &str) -> Vec<(String, bool)> {
        ["clean", "foreign", "moved"]
            .iter()
            .map(|kind| {
                let copy = self.template.with_file_name(format!("ix-{fs}")).join(kind);
                let _ = layers::dir(copy.parent().unwrap());
                let _ = std::process::Command::new("cp")
                    .arg("-a")
                    .arg(&self.template)
                    .arg(&copy)
                    .status();
                let (u, w) = (copy.join("upper"), copy.join("work"));
                if *kind == "clean" {
                    let _ =
                        crate::sys::path::removexattr(&w.join("index"), "trusted.overlay.upper");
                }
                let lower = if *kind == "moved" {
                    &self.other_lower
                } else {
                    &self.lower
                };
                let opts = crate::upper::opts(std::slice::from_ref(lower), &u, &w);
                (format!("{opts},index=on"), *kind == "clean")
            })
            .collect()
    }
}

fn damaged_index(t: &mut T) -> Result<DamagedIndex, Fail> {
    let [dx, dy] = t.layers(["dx", "dy"])?;
    for (x, y) in [("p1", "p2"), ("q1", "q2")] {
        file(&dx.join(x), b"h")?;
        fs::hard_link(dx.join(x), dx.join(y)).map_err(|e| format!("link {y}: {e}"))?;
    }
    let template = t.dir.join("ix-template");
    let (u, w) = (template.join("upper"), template.join("work"));
    dir(&u)?;
    dir(&w)?;
    let opts = crate::upper::opts(std::slice::from_ref(&dx), &u, &w);
    copy_up_on_overlay(t, &format!("{opts},index=on"), &["p1", "q1"])?;
    let ix = w.join("index");
    let entry_of = |name: &str| -> Result<PathBuf, Fail> {
        let ino = fs::metadata(u.join(name))
            .map_err(|e| format!("{name}: {e}"))?
            .ino();
        fs::read_dir(&ix)
            .map_err(|e| format!("index: {e}"))?
            .flatten()
            .map(|e| e.path())
            .find(|p| fs::metadata(p).is_ok_and(|m| m.ino() == ino))
            .ok_or_else(|| Fail::Fail(format!("no index entry for {name}")))
    };
    let (p, q) = (entry_of("p1")?, entry_of("q1")?);
    let mut stale = p
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
        .into_bytes();
    stale[42] = if stale[42] == b'f' { b'e' } else { b'f' };
    fs::hard_link(&p, ix.join(String::from_utf8_lossy(&stale).as_ref()))
        .map_err(|e| format!("stale entry: {e}"))?;
    fs::remove_file(u.join("q1")).map_err(|e| format!("rm q1: {e}"))?;
    set(&q, "trusted.overlay.nlink", b"U-1")?;
    Ok(DamagedIndex {
        lower: dx,
        other_lower: dy,
        template,
    })
}

/// What rovl logs about a bad layer reads as overlayfs's message, names
/// included (`%pd`, `%pd2`), with the same errnos of lstat and read; and
/// what a mount logs about a damaged inodes index.
fn layer_warning_texts(t: &mut T) -> TResult {
    let [a, b, c, u] = t.layers(["a", "b", "c", "u"])?;
    // Metacopy files: above their data (refused without metacopy=on), with
    // no data below (metacopy=on), with a too short xattr.
    file(&a.join("d/mc"), b"")?;
    set(&a.join("d/mc"), "trusted.overlay.metacopy", b"")?;
    file(&b.join("d/mc"), b"data")?;
    file(&a.join("d/nodata"), b"")?;
    set(&a.join("d/nodata"), "trusted.overlay.metacopy", b"")?;
    file(&a.join("short"), b"")?;
    set(&a.join("short"), "trusted.overlay.metacopy", b"ab")?;
    // A redirect that redirect_dir=nofollow refuses.
    dir(&a.join("new"))?;
    set(&a.join("new"), "trusted.overlay.redirect", b"old")?;
    dir(&b.join("old"))?;
    // An upper symlink whose origin is a lower regular file: a copied-up
    // file's origin xattr, set on the symlink.
    file(&c.join("f"), b"f")?;
    let work = t.dir.join("texts-work");
    dir(&work)?;
    let upper = crate::upper::opts(&[c.clone()], &u, &work);
    copy_up_on_overlay(t, &upper, &["f"])?;
    let origin = sys::getxattr(&u.join("f"), "trusted.overlay.origin")
        .map_err(|e| format!("origin of a copied-up file: errno {e}"))?;
    link("f", &u.join("g"))?;
    set(&u.join("g"), "trusted.overlay.origin", &origin)?;
    // Indexed copies of lower hard links whose union link count is bad:
    // malformed, and out of `int` range.
    let [d, u2] = t.layers(["d", "u2"])?;
    for (x, y) in [("h1", "h2"), ("k1", "k2")] {
        file(&d.join(x), b"h")?;
        fs::hard_link(d.join(x), d.join(y)).map_err(|e| format!("link {y}: {e}"))?;
    }
    let work2 = t.dir.join("texts-work2");
    dir(&work2)?;
    let indexed = format!("{},index=on", crate::upper::opts(&[d.clone()], &u2, &work2));
    copy_up_on_overlay(t, &indexed, &["h1", "k1"])?;
    set(&u2.join("h1"), "trusted.overlay.nlink", b"X+1")?;
    set(&u2.join("k1"), "trusted.overlay.nlink", b"U+9999999999")?;
    // A metacopy file whose data a data-only layer lacks: found missing
    // on open.
    let [e, data] = t.layers(["e", "data"])?;
    metacopy_file(&e.join("d/lazy"), 5, Some("/blobs/none"))?;
    file(&data.join("blobs/one"), b"one")?;
    let lazy = format!("lowerdir={}::{},metacopy=on", e.display(), data.display());
    let lower = lowerdir(&[&a, &b]);
    let cases = [
        (lower.clone(), "d/mc"),
        (format!("{lower},metacopy=on"), "d/nodata"),
        (lower.clone(), "short"),
        (format!("{lower},redirect_dir=nofollow"), "new"),
        (upper.clone(), "g"),
        (indexed.clone(), "h1"),
        (indexed.clone(), "k1"),
        (lazy.clone(), "d/lazy"),
    ];
    let damaged = damaged_index(t)?;
    let mut kmsg = Kmsg::open().ok_or_else(|| Fail::Skip("no /dev/kmsg".into()))?;
    // Wait out the interval (five seconds) of earlier warnings.
    std::thread::sleep(std::time::Duration::from_millis(5200));
    let mut seen = Vec::new();
    let mut at_mount: Vec<(Vec<Option<Errno>>, Vec<String>)> = Vec::new();
    for (fs, tag) in [("overlay", "overlayfs: "), ("rovl", "rovl: ")] {
        let _ = kmsg.lines();
        let mut errs = Vec::new();
        for (opts, rel) in &cases {
            let m = t
                .mount(fs, opts)
                .map_err(|e| format!("{fs} -o {opts}: errno {e}"))?;
            errs.push(stat_errno(&m.join(rel)).err());
            errs.push(read_file(&m.join(rel)).err());
            t.umount(&m)?;
        }
        let msgs: Vec<String> = kmsg
            .lines()
            .iter()
            .filter_map(|l| l.strip_prefix(tag).map(str::to_string))
            // Earlier tests' floods, reported when a limit's window ends
            // (overlayfs names the function there, not itself).
            .filter(|l| !l.ends_with("callbacks suppressed"))
            .collect();
        seen.push((errs, msgs));
        // Each filesystem mounts its own copy of the damaged index; the
        // order of its entries is the directory's, so only the lines are
        // compared, and inode numbers of the copies differ.
        let mut errs: Vec<Option<Errno>> = Vec::new();
        for (opts, cleaned) in damaged.mounts(fs) {
            let r = t.mount(fs, &opts);
            if let Ok(m) = &r {
                t.umount(m)?;
            } else if cleaned {
                return fail(format!("{fs}: mount over a damaged index: {r:?}"));
            }
            errs.push(r.err());
        }
        let mut msgs: Vec<String> = kmsg
            .lines()
            .iter()
            .filter_map(|l| l.strip_prefix(tag))
            .filter(|l| !l.ends_with("callbacks suppressed"))
            .map(|l| match l.split_once("ino=") {
                Some((a, b)) => format!(
                    "{a}ino=N{}",
                    b.trim_start_matches(|c: char| c.is_ascii_digit())
                ),
                None => l.to_string(),
            })
            .collect();
        msgs.sort();
        at_mount.push((errs, msgs));
    }
    let (ovl, rovl) = (&seen[0], &seen[1]);
    same("errnos", &ovl.0, &rovl.0)?;
    same("warnings", &ovl.1, &rovl.1)?;
    same("damaged index mounts", &at_mount[0].0, &at_mount[1].0)?;
    same("damaged index warnings", &at_mount[0].1, &at_mount[1].1)?;
    if at_mount[1].1.len() < 3 {
        return fail(format!(
            "damaged index: too few warnings: {:?}",
            at_mount[1].1
        ));
    }
    if rovl.1.len() < cases.len() {
        return fail(format!("fewer warnings than cases: {:?}", rovl.1));
    }
    Ok(())
}

fn redirect_nofollow(t: &mut T) -> TResult {
    let [a, b, c] = redirect_layers(t)?;
    let (o, r) = t.pair(&format!(
        "{},redirect_dir=nofollow",
        lowerdir(&[&a, &b, &c])
    ))?;
    for rel in ["new", "new/from-b", "x/moved", "mid/top"] {
        let _ = both(&o, &r, rel, "lstat", stat_errno)?;
    }
    same(
        "redirected dir with nofollow",
        stat_errno(&r.join("new")).map(|_| ()),
        Err(libc::EPERM),
    )
}

fn xattr_whiteouts(t: &mut T) -> TResult {
    let [a, b, c] = t.layers(["a", "b", "c"])?;
    for d in ["marked", "unmarked"] {
        file(&b.join(format!("{d}/gone")), b"lower")?;
        file(&b.join(format!("{d}/kept")), b"k")?;
        file(&a.join(format!("{d}/gone")), b"")?;
        set(
            &a.join(format!("{d}/gone")),
            "trusted.overlay.whiteout",
            b"",
        )?;
        file(&a.join(format!("{d}/not-empty")), b"data")?;
        set(
            &a.join(format!("{d}/not-empty")),
            "trusted.overlay.whiteout",
            b"",
        )?;
        file(&a.join(format!("{d}/new-wh")), b"")?;
        set(
            &a.join(format!("{d}/new-wh")),
            "trusted.overlay.whiteout",
            b"",
        )?;
    }
    set(&a.join("marked"), "trusted.overlay.opaque", b"x")?;
    // A marker on a layer root, and an xattr whiteout there.
    set(&b, "trusted.overlay.opaque", b"x")?;
    file(&c.join("root-gone"), b"c")?;
    file(&b.join("root-gone"), b"")?;
    set(&b.join("root-gone"), "trusted.overlay.whiteout", b"")?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b, &c]))?;
    for rel in [
        "marked/gone",
        "unmarked/gone",
        "marked/not-empty",
        "marked/new-wh",
        "root-gone",
    ] {
        let _ = both(&o, &r, rel, "lstat", stat_errno)?;
    }
    same(
        "marked/gone through rovl",
        stat_errno(&r.join("marked/gone")).map(|_| ()),
        Err(libc::ENOENT),
    )?;
    compare_trees(&o, &r)
}

fn metacopy_refused(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    file(&a.join("f"), b"")?;
    set(&a.join("f"), "trusted.overlay.metacopy", b"")?;
    file(&b.join("f"), b"data below")?;
    file(&a.join("g"), b"")?;
    set(&a.join("g"), "trusted.overlay.metacopy", b"\x00\x01")?;
    let (o, r) = t.pair(&lowerdir(&[&a, &b]))?;
    for rel in ["f", "g"] {
        let _ = both(&o, &r, rel, "lstat", stat_errno)?;
    }
    same(
        "metacopy with metacopy=off",
        stat_errno(&r.join("f")).map(|_| ()),
        Err(libc::EPERM),
    )
}

/// Runs `f` in a child inside new user and mount namespaces where the
/// caller is root; returns the child's exit status.
fn in_userns(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: The child only runs `f` and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: Plain syscalls in the child.
        unsafe {
            if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) != 0 {
                libc::_exit(200);
            }
        }
        let ok = fs::write("/proc/self/setgroups", "deny").is_ok()
            && fs::write("/proc/self/uid_map", "0 0 1").is_ok()
            && fs::write("/proc/self/gid_map", "0 0 1").is_ok();
        // SAFETY: As above.
        unsafe { libc::_exit(if ok { f() } else { 201 }) };
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

fn userns_mount(t: &mut T) -> TResult {
    let [a, b] = t.layers(["a", "b"])?;
    file(&a.join("f"), b"a")?;
    file(&b.join("g"), b"b")?;
    for p in [&t.dir, &a, &b] {
        layers::chmod(p, 0o755)?;
    }
    let mp = t.dir.join("userns-mnt");
    dir(&mp)?;
    std::os::unix::fs::chown(&mp, Some(1000), Some(1000)).map_err(|e| format!("chown: {e}"))?;
    let opts = lowerdir(&[&a, &b]);
    let run = |fstype: &'static str| {
        let (mp, opts) = (mp.clone(), opts.clone());
        in_userns(move || match sys::mount(fstype, &mp, &opts, 0) {
            Ok(()) => match fs::read(mp.join("g")) {
                Ok(d) if d == b"b" => 0,
                Ok(_) => 100,
                Err(e) => 100 + sys::errno_of(&e),
            },
            Err(e) => e,
        })
    };
    let so = run("overlay");
    if so != 0 {
        return Err(Fail::Skip(format!(
            "overlay itself cannot mount in a user namespace here (status {so})"
        )));
    }
    same("mount in a user namespace (status)", so, run("rovl"))
}

fn mounter_credentials(t: &mut T) -> TResult {
    // A mounter without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH: the layers are
    // accessed with its credentials, so even root reading through the
    // mount cannot see what the mounter could not.
    let [a, b] = t.layers(["a", "b"])?;
    file(&a.join("closed"), b"secret")?;
    layers::chmod(&a.join("closed"), 0o000)?;
    dir(&b.join("noexec"))?;
    file(&b.join("noexec/inner"), b"i")?;
    layers::chmod(&b.join("noexec"), 0o600)?;
    let opts = lowerdir(&[&a, &b]);
    let (mo, mr) = (t.dir.join("m-overlay"), t.dir.join("m-rovl"));
    dir(&mo)?;
    dir(&mr)?;
    for (fstype, mp) in [("overlay", &mo), ("rovl", &mr)] {
        let (mp2, opts2) = (mp.clone(), opts.clone());
        let rc = sys::as_caps_without_dac(move || match sys::mount(fstype, &mp2, &opts2, 0) {
            Ok(()) => 0,
            Err(e) => e,
        });
        if rc != 0 {
            return fail(format!("mount {fstype} with reduced capabilities: {rc}"));
        }
        t.adopt(mp);
    }
    for rel in ["closed", "noexec/inner", "noexec"] {
        let _ = both(&mo, &mr, rel, "read as root", read_file)?;
        let _ = both(&mo, &mr, rel, "lstat as root", stat_errno)?;
    }
    same(
        "closed through rovl",
        read_file(&mr.join("closed")).map(|_| ()),
        Err(libc::EACCES),
    )
}

/// A lower layer on the upper layer's filesystem with another below on a
/// second filesystem, xino=off: a file of that layer, before and after
/// copy-up, must not show the real file's st_dev/st_ino pair, or `diff`
/// takes the two for one (xfstests overlay/067, overlayfs 9c6d8f13e9da).
fn middle_layer_on_upper_fs(t: &mut T) -> TResult {
    let [middle, fs2] = t.layers(["middle", "fs2"])?;
    sys::mount("tmpfs", &fs2, "size=16m", 0).map_err(|e| format!("mount tmpfs: errno {e}"))?;
    t.adopt(&fs2);
    let lower = fs2.join("lower");
    dir(&lower)?;
    file(&middle.join("file"), b"wrong")?;
    file(&middle.join("other"), b"x")?;
    let id = |p: &Path| {
        fs::symlink_metadata(p)
            .map(|m| (m.dev(), m.ino()))
            .map_err(|e| Fail::Fail(format!("lstat {}: {e}", p.display())))
    };
    let mut seen = Vec::new();
    for fstype in ["overlay", "rovl"] {
        let [u, w] = t.layers([&format!("u-{fstype}"), &format!("w-{fstype}")])?;
        let opts = format!(
            "{},xino=off",
            crate::upper::opts(&[middle.clone(), lower.clone()], &u, &w)
        );
        let mp = t
            .mount(fstype, &opts)
            .map_err(|e| format!("mount {fstype}: errno {e}"))?;
        file(&mp.join("new"), b"n")?;
        let real_dev = id(&middle)?.0;
        let mut obs = Vec::new();
        for step in ["lower", "copied up", "cold cache"] {
            if step == "copied up" {
                fs::write(mp.join("file"), b"right").map_err(|e| format!("write: {e}"))?;
            }
            if step == "cold cache" {
                fs::write("/proc/sys/vm/drop_caches", "3")
                    .map_err(|e| format!("drop_caches: {e}"))?;
            }
            let merged = id(&mp.join("file"))?;
            if merged == id(&middle.join("file"))? {
                return fail(format!(
                    "{fstype}, {step}: file has the middle layer file's st_dev/st_ino"
                ));
            }
            // Which files share an st_dev, and whether it is a real one.
            let devs: Vec<(bool, bool)> = ["file", "other", "new"]
                .iter()
                .map(|n| {
                    let d = id(&mp.join(n)).map(|x| x.0).unwrap_or(0);
                    (d == real_dev, d == merged.0)
                })
                .collect();
            obs.push((step, devs));
        }
        seen.push(obs);
    }
    same("st_dev of the files", &seen[0], &seen[1])
}

/// Two upper directories with one redirect, and two upper files with one
/// origin (copies made behind the overlay's back): the second lookup fails
/// with ESTALE rather than both showing the origin's st_ino, which would
/// make `diff` take them for one (xfstests overlay/049, overlay/059).
fn duplicate_origins(t: &mut T) -> TResult {
    let [a, u, w] = t.layers(["a", "u", "w"])?;
    file(&a.join("origin/file"), b"lower")?;
    file(&a.join("f"), b"lower")?;
    let opts = format!(
        "{},redirect_dir=on",
        crate::upper::opts(&[a.clone()], &u, &w)
    );
    let m = t
        .mount("overlay", &opts)
        .map_err(|e| format!("overlay: errno {e}"))?;
    layers::chmod(&m.join("origin/file"), 0o600)?;
    fs::rename(m.join("origin"), m.join("redirect1")).map_err(|e| format!("mv: {e}"))?;
    fs::rename(m.join("f"), m.join("f1")).map_err(|e| format!("mv: {e}"))?;
    t.umount(&m)?;
    let cp = |from: &Path, to: &Path| -> TResult {
        let ok = std::process::Command::new("cp")
            .args(["-a", from.to_str().unwrap(), to.to_str().unwrap()])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Ok(())
        } else {
            fail(format!("cp -a {} {}", from.display(), to.display()))
        }
    };
    cp(&u.join("redirect1"), &u.join("redirect2"))?;
    cp(&u.join("f1"), &u.join("f2"))?;
    file(&u.join("redirect1/file"), b"right")?;
    file(&u.join("redirect2/file"), b"wrong")?;
    file(&u.join("f1"), b"right")?;
    file(&u.join("f2"), b"wrong")?;
    let names = [
        "redirect1",
        "redirect2",
        "redirect1/file",
        "redirect2/file",
        "f1",
        "f2",
    ];
    let mut seen = Vec::new();
    for fstype in ["overlay", "rovl"] {
        let (uc, wc) = (
            t.dir.join(format!("u-{fstype}")),
            t.dir.join(format!("w-{fstype}")),
        );
        cp(&u, &uc)?;
        dir(&wc)?;
        let opts = format!(
            "{},redirect_dir=on",
            crate::upper::opts(&[a.clone()], &uc, &wc)
        );
        let mp = t
            .mount(fstype, &opts)
            .map_err(|e| format!("{fstype}: errno {e}"))?;
        // Each name's lstat errno, and which earlier name it shares
        // st_dev/st_ino with.
        let mut ids = Vec::new();
        let mut obs = Vec::new();
        for n in names {
            let r = fs::symlink_metadata(mp.join(n))
                .map(|m| (m.dev(), m.ino()))
                .map_err(|e| sys::errno_of(&e));
            let twin = r
                .as_ref()
                .ok()
                .and_then(|id| ids.iter().position(|x| x == id));
            if let Some(i) = twin {
                if fstype == "rovl" {
                    return fail(format!("rovl: {n} has the st_dev/st_ino of {}", names[i]));
                }
            }
            if let Ok(id) = r {
                ids.push(id);
            }
            obs.push((n, r.map(|_| ()), twin));
        }
        seen.push(obs);
        t.umount(&mp)?;
    }
    same("lookups of the duplicates", &seen[0], &seen[1])
}

/// Hard links added to a lower layer under a mounted overlay with
/// `index=on` are not in its link count: removing them must not take the
/// count of a name still in use to zero, else linking it fails with ENOENT;
/// after the last name goes, the index entry is a whiteout (xfstests
/// overlay/034).
fn lower_links_added_while_mounted(t: &mut T) -> TResult {
    use std::os::unix::fs::FileTypeExt;
    let mut seen = Vec::new();
    for fstype in ["overlay", "rovl"] {
        let [l, u, w] = t.layers([
            &format!("{fstype}-l"),
            &format!("{fstype}-u"),
            &format!("{fstype}-w"),
        ])?;
        file(&l.join("0"), b"")?;
        let ln = |a: &Path, b: &Path| fs::hard_link(a, b).map_err(|e| sys::errno_of(&e));
        let rm = |p: &Path| fs::remove_file(p).map_err(|e| sys::errno_of(&e));
        ln(&l.join("0"), &l.join("1"))?;
        let opts = format!("{},index=on", crate::upper::opts(&[l.clone()], &u, &w));
        let m = t
            .mount(fstype, &opts)
            .map_err(|e| format!("{fstype}: errno {e}"))?;
        let mut steps = Vec::new();
        steps.push(("touch 0", layers::chmod(&m.join("0"), 0o600).map_err(|_| 0)));
        ln(&l.join("0"), &l.join("2"))?;
        ln(&l.join("0"), &l.join("3"))?;
        let nlink = |p: &Path| {
            fs::symlink_metadata(p)
                .map(|m| m.nlink())
                .map_err(|e| sys::errno_of(&e))
        };
        steps.push(("nlink 0", nlink(&m.join("0")).map(|_| ())));
        steps.push(("rm 2", rm(&m.join("2"))));
        steps.push(("rm 3", rm(&m.join("3"))));
        let n0 = nlink(&m.join("0"));
        steps.push(("ln 0 4", ln(&m.join("0"), &m.join("4"))));
        steps.push(("rm 0", rm(&m.join("0"))));
        steps.push(("rm 1", rm(&m.join("1"))));
        steps.push(("rm 4", rm(&m.join("4"))));
        t.umount(&m)?;
        let m = t
            .mount(fstype, &opts)
            .map_err(|e| format!("{fstype} again: errno {e}"))?;
        // Index entries that are not whiteouts.
        let left: Vec<String> = fs::read_dir(w.join("index"))
            .map_err(|e| format!("index: {e}"))?
            .filter_map(|e| e.ok())
            .filter(|e| !e.file_type().is_ok_and(|t| t.is_char_device()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        t.umount(&m)?;
        seen.push((steps, n0, left));
    }
    same("steps, nlink of 0 and index left", &seen[0], &seen[1])?;
    same("ln 0 4 on rovl", seen[1].0[4], ("ln 0 4", Ok(())))
}

/// An upper filesystem without xattrs (ramfs) mounts with redirects,
/// metacopy, index, uuid and xino turned off, and what needs xattrs fails
/// as on overlayfs: an opaque directory over a removed one (EIO), a
/// directory rename (EXDEV), immutable flags (EPERM); copy-up, whiteouts
/// and new objects work. ramfs also lacks RENAME_WHITEOUT: renaming a lower
/// file fails with EINVAL on both.
fn upper_without_xattrs(t: &mut T) -> TResult {
    let [ram] = t.layers(["ram"])?;
    sys::mount("ramfs", &ram, "", 0).map_err(|e| format!("mount ramfs: errno {e}"))?;
    t.adopt(&ram);
    let l = ram.join("l");
    file(&l.join("f"), b"lower f")?;
    file(&l.join("g"), b"g")?;
    file(&l.join("h"), b"h")?;
    dir(&l.join("e"))?;
    file(&l.join("m/x"), b"x")?;
    let lower_ino = |n: &str| fs::symlink_metadata(l.join(n)).map(|m| m.ino()).ok();
    let mut kmsg = Kmsg::open();
    let mut seen = Vec::new();
    for fstype in ["overlay", "rovl"] {
        let (u, w) = crate::upper::side_dirs(&ram, fstype)?;
        let hide = |text: &str| {
            text.replace(u.to_str().unwrap(), "U")
                .replace(w.to_str().unwrap(), "W")
        };
        if let Some(k) = kmsg.as_mut() {
            k.lines();
        }
        let opts = format!(
            "{},redirect_dir=on,index=on,metacopy=on",
            crate::upper::opts(&[l.clone()], &u, &w)
        );
        let mp = t
            .mount(fstype, &opts)
            .map_err(|e| format!("mount {fstype}: errno {e}"))?;
        let mut log: Vec<String> = fs_lines(&mut kmsg, fstype)
            .iter()
            .map(|l| hide(l))
            .collect();
        let options = mount_options(&mp).map(|o| hide(&o));
        let e = |r: std::io::Result<()>| r.map_err(|e| sys::errno_of(&e));
        let chattr = |p: &Path| {
            std::process::Command::new("chattr")
                .args(["+i", p.to_str().unwrap()])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        };
        let mut steps = vec![
            (
                "append f",
                e(fs::OpenOptions::new()
                    .append(true)
                    .open(mp.join("f"))
                    .and_then(|mut f| {
                        use std::io::Write;
                        f.write_all(b" upper")
                    })),
            ),
            ("create new", e(fs::write(mp.join("new"), b"n"))),
            ("mkdir nd", e(fs::create_dir(mp.join("nd")))),
            ("unlink g", e(fs::remove_file(mp.join("g")))),
            ("rmdir e", e(fs::remove_dir(mp.join("e")))),
            ("mkdir e again", e(fs::create_dir(mp.join("e")))),
            ("rename dir m", e(fs::rename(mp.join("m"), mp.join("m2")))),
            ("rename h", e(fs::rename(mp.join("h"), mp.join("h2")))),
            (
                "link new",
                e(fs::hard_link(mp.join("new"), mp.join("new2"))),
            ),
        ];
        steps.push((
            "chattr +i f",
            if chattr(&mp.join("f")) {
                Ok(())
            } else {
                Err(-1)
            },
        ));
        log.extend(fs_lines(&mut kmsg, fstype).iter().map(|l| hide(l)));
        // Names, types and contents, and which keep their lower st_ino.
        let view = |mp: &Path| -> Result<Vec<(String, u8, Option<Vec<u8>>, bool)>, Fail> {
            let mut v = Vec::new();
            for (name, ty, _) in snapshot::listing(mp)? {
                let p = mp.join(&name);
                let data = fs::read(&p).ok();
                let same_ino = fs::symlink_metadata(&p).ok().map(|m| m.ino()) == lower_ino(&name);
                v.push((name, ty, data, same_ino));
            }
            v.sort();
            Ok(v)
        };
        let before = view(&mp)?;
        t.umount(&mp)?;
        let mp = t
            .mount(fstype, &opts)
            .map_err(|e| format!("remount {fstype}: errno {e}"))?;
        let after = view(&mp)?;
        t.umount(&mp)?;
        seen.push((log, options, steps, before, after));
    }
    same(
        "mount log, options, operations and trees",
        &seen[0],
        &seen[1],
    )?;
    let (log, _, steps, _, _) = &seen[1];
    if !log.iter().any(|l| l == "failed to set xattr on upper") {
        return fail(format!("no fallback warning: {log:?}"));
    }
    let want = |n: &str| match n {
        "mkdir e again" => Err(libc::EIO),
        "rename dir m" => Err(libc::EXDEV),
        // ramfs has no RENAME_WHITEOUT either.
        "rename h" => Err(libc::EINVAL),
        "chattr +i f" => Err(-1),
        _ => Ok(()),
    };
    for (n, r) in steps {
        same(&format!("rovl: {n}"), *r, want(n))?;
    }
    Ok(())
}

fn cross_fs_layers(t: &mut T) -> TResult {
    // Layers on three filesystems: the scratch tmpfs and two more.
    let [a, fs2, fs3] = t.layers(["a", "fs2", "fs3"])?;
    for m in [&fs2, &fs3] {
        sys::mount("tmpfs", m, "size=64m", 0).map_err(|e| format!("mount tmpfs: errno {e}"))?;
        t.adopt(m);
    }
    let (b, c) = (fs2.join("b"), fs3.join("c"));
    let mut rng = Rng::new(77);
    layers::random_tree(&mut rng, &[&a, &b, &c], 2)?;
    file(&a.join("zz/fa"), b"a")?;
    file(&b.join("zz/fb"), b"b")?;
    file(&c.join("zz/fc"), b"c")?;
    file(&c.join("onlyc/x"), b"x")?;
    let base = lowerdir(&[&a, &b, &c]);
    // Directories without a unified number get private ones, counted per
    // mount in lookup order (`ovl_next_ino`): the same walk gives the same.
    for opts in [
        base.clone(),
        format!("{base},xino=off"),
        format!("{base},xino=auto"),
        format!("{base},xino=on"),
    ] {
        let (o, r) = t.pair(&opts)?;
        compare_trees_with(&o, &r, false).map_err(|e| match e {
            Fail::Fail(m) => Fail::Fail(format!("-o {opts}: {m}")),
            s => s,
        })?;
        same(
            &format!("/proc/mounts for -o {opts}"),
            mount_options(&o),
            mount_options(&r),
        )?;
        same("statfs", sys::statfs(&o), sys::statfs(&r))?;
        t.umount(&o)?;
        t.umount(&r)?;
    }
    Ok(())
}

/// Layers on two ext4 filesystems, whose file handles are the generic
/// 32-bit inode ones: xino then takes 32 bits for the fsid, as overlayfs
/// (`ovl_can_decode_fh` returns `FILEID_INO32_GEN`), so `st_ino` matches.
fn ino32_layers_xino(t: &mut T) -> TResult {
    let [imgs, fs1, fs2] = ["imgs", "ext4-1", "ext4-2"].map(|n| t.dir.join(n));
    crate::stacked::loop_fs(
        t,
        &imgs,
        "200m",
        &[("mkfs.ext4", &fs1, 64), ("mkfs.ext4", &fs2, 64)],
    )?;
    let (a, b) = (fs1.join("a"), fs2.join("b"));
    let mut rng = Rng::new(32);
    layers::random_tree(&mut rng, &[&a, &b], 2)?;
    file(&a.join("zz/fa"), b"a")?;
    file(&b.join("zz/fb"), b"b")?;
    let mut kmsg = Kmsg::open();
    let mut logs = Vec::new();
    for opts in [
        lowerdir(&[&a, &b]),
        format!("{},xino=on", lowerdir(&[&a, &b])),
    ] {
        let (o, r) = t.pair(&opts)?;
        compare_trees_with(&o, &r, false).map_err(|e| match e {
            Fail::Fail(m) => Fail::Fail(format!("-o {opts}: {m}")),
            s => s,
        })?;
        t.umount(&o)?;
        t.umount(&r)?;
    }
    // Writable: the upper layer on the second filesystem.
    let mut sides = Vec::new();
    for fstype in ["overlay", "rovl"] {
        let (u, w) = crate::upper::side_dirs(&fs2, fstype)?;
        let _ = fs_lines(&mut kmsg, fstype);
        let o = format!("{},xino=auto", crate::upper::opts(&[a.clone()], &u, &w));
        let m = t
            .mount(fstype, &o)
            .map_err(|e| format!("mount {fstype}: errno {e}"))?;
        fs::write(m.join("new"), b"upper").map_err(|e| e.to_string())?;
        let _ = fs::OpenOptions::new().append(true).open(m.join("zz/fa"));
        logs.push(fs_lines(&mut kmsg, fstype));
        // Lower objects (copied up or not) keep their mapped numbers; the
        // new file has its upper number (fsid 0).
        let ino = |p: &Path| fs::symlink_metadata(p).map(|s| s.ino()).ok();
        let mut inos: Vec<_> = ["zz", "zz/fa", "a"]
            .iter()
            .map(|p| ino(&m.join(p)))
            .collect();
        inos.push(Some(u64::from(ino(&m.join("new")) == ino(&u.join("new")))));
        sides.push(inos);
    }
    same("st_ino", &sides[0], &sides[1])?;
    same("kernel log", &logs[0], &logs[1])?;
    if kmsg.is_some()
        && !logs[1]
            .iter()
            .any(|l| l.contains("using 32 upper inode bits"))
    {
        return fail(format!("no 32-bit xino: {:?}", logs[1]));
    }
    Ok(())
}

/// Lower filesystems whose uuid cannot tell their file handles apart
/// (`ovl_lower_uuid_ok`): two ext4 layers with one uuid, and one with a
/// null uuid. overlayfs turns xino and the index off for them, with its
/// warning, and follows no origin on them, so a copied-up file's st_ino
/// becomes the upper one's once its inode is evicted; compared with
/// overlay.
fn lower_uuid_clashes(t: &mut T) -> TResult {
    let [imgs, fs1, fs2, fs3] = ["imgs", "ext4-1", "ext4-2", "ext4-null"].map(|n| t.dir.join(n));
    let one = "11111111-2222-3333-4444-555555555555";
    for (i, (dir, uuid)) in [(&fs1, one), (&fs2, one), (&fs3, "clear")]
        .into_iter()
        .enumerate()
    {
        crate::stacked::loop_fs(
            t,
            &imgs.join(i.to_string()),
            "80m",
            &[("mkfs.ext4", dir, 64)],
        )?;
        // Made again with the uuid wanted (the helper's mkfs has none).
        crate::stacked::run_ok("umount", &[dir.to_str().unwrap()])?;
        let img = imgs.join(i.to_string()).join("0.img");
        crate::stacked::run_ok(
            "mkfs.ext4",
            &["-q", "-F", "-U", uuid, img.to_str().unwrap()],
        )?;
        crate::stacked::run_ok(
            "mount",
            &["-o", "loop", img.to_str().unwrap(), dir.to_str().unwrap()],
        )?;
    }
    let (a, b, c) = (fs1.join("a"), fs2.join("b"), fs3.join("c"));
    for (d, n) in [(&a, "fa"), (&b, "fb"), (&c, "fc")] {
        file(&d.join(n), n.as_bytes())?;
    }
    let mut kmsg = Kmsg::open();
    for (k, (lowers, extra, files)) in [
        (
            vec![a.clone(), b.clone()],
            ",xino=auto,index=on",
            ["fa", "fb"],
        ),
        (vec![c.clone()], "", ["fc", "fc"]),
        (vec![c.clone()], ",index=on", ["fc", "fc"]),
    ]
    .into_iter()
    .enumerate()
    {
        let mut runs = Vec::new();
        for fstype in ["overlay", "rovl"] {
            let base = t.dir.join(format!("uuid-{fstype}-{k}"));
            let (u, w) = (base.join("u"), base.join("w"));
            layers::dir(&u)?;
            layers::dir(&w)?;
            let _ = fs_lines(&mut kmsg, fstype);
            let o = format!("{}{extra}", crate::upper::opts(&lowers, &u, &w));
            let m = t
                .mount(fstype, &o)
                .map_err(|e| format!("mount {fstype} -o {o}: errno {e}"))?;
            let mut run = fs_lines(&mut kmsg, fstype);
            for f in files {
                let ino = |p: &Path| fs::symlink_metadata(p).map(|s| s.ino()).ok();
                let before = ino(&m.join(f));
                let _ = fs::OpenOptions::new().append(true).open(m.join(f));
                let _ = fs::write("/proc/sys/vm/drop_caches", "2");
                run.push(format!(
                    "{f}: st_ino kept over copy-up and eviction: {}",
                    before == ino(&m.join(f))
                ));
            }
            run.push(format!(
                "options {:?}",
                mount_options(&m).map(|o| {
                    o.split(',')
                        .filter(|s| s.starts_with("xino") || s.starts_with("index"))
                        .collect::<Vec<_>>()
                        .join(",")
                })
            ));
            t.umount(&m)?;
            runs.push(run);
        }
        same(&format!("-o ...{extra}"), &runs[0], &runs[1])?;
    }
    Ok(())
}

/// A metacopy file as overlay's copy-up with metacopy=on leaves it: same
/// size as the data, no blocks, the `metacopy` xattr.
pub(crate) fn metacopy_file(p: &Path, size: u64, redirect: Option<&str>) -> TResult {
    if let Some(d) = p.parent() {
        dir(d)?;
    }
    let f = fs::File::create(p).map_err(|e| format!("{e}"))?;
    f.set_len(size).map_err(|e| format!("{e}"))?;
    set(p, "trusted.overlay.metacopy", b"")?;
    if let Some(r) = redirect {
        set(p, "trusted.overlay.redirect", r.as_bytes())?;
    }
    Ok(layers::chmod(p, 0o640)?)
}

fn metacopy_lower_data(t: &mut T) -> TResult {
    let [a, b, c] = t.layers(["a", "b", "c"])?;
    let data = vec![7u8; 70_000];
    file(&c.join("f"), &data)?;
    metacopy_file(&a.join("f"), data.len() as u64, None)?;
    // A chain: metacopy over metacopy over data.
    file(&c.join("g"), b"g data")?;
    metacopy_file(&b.join("g"), 6, None)?;
    metacopy_file(&a.join("g"), 6, None)?;
    // Redirected: the data moved since the metadata was copied up.
    file(&c.join("orig/h"), b"h data")?;
    metacopy_file(&a.join("h"), 6, Some("/orig/h"))?;
    // No data anywhere below.
    metacopy_file(&a.join("nodata"), 3, None)?;
    let base = lowerdir(&[&a, &b, &c]);
    let (o, r) = t.pair(&format!("{base},metacopy=on"))?;
    for rel in ["f", "g", "h", "nodata"] {
        let _ = both(&o, &r, rel, "lstat", stat_errno)?;
        let _ = both(&o, &r, rel, "read", read_file)?;
    }
    same(
        "metacopy data through rovl",
        read_file(&r.join("f")).map(|d| d.len()),
        Ok(data.len()),
    )?;
    t.umount(&o)?;
    t.umount(&r)?;
    // Without metacopy=on the same layers are refused.
    let (o, r) = t.pair(&base)?;
    let _ = both(&o, &r, "f", "lstat with metacopy=off", stat_errno)?;
    Ok(())
}

fn data_only_layers(t: &mut T) -> TResult {
    let [a, b, d1, d2] = t.layers(["a", "b", "data1", "data2"])?;
    file(&d1.join("blobs/one"), b"first data layer")?;
    file(&d2.join("blobs/two"), b"second data layer")?;
    file(&d2.join("blobs/one"), b"shadowed")?;
    metacopy_file(&a.join("one"), 16, Some("/blobs/one"))?;
    metacopy_file(&a.join("two"), 17, Some("/blobs/two"))?;
    metacopy_file(&a.join("missing"), 5, Some("/blobs/none"))?;
    file(&b.join("plain"), b"regular")?;
    // Data-only layers never show in the merged tree.
    file(&d1.join("hidden-in-data"), b"x")?;
    let (sa, sb, s1, s2) = (a.display(), b.display(), d1.display(), d2.display());
    let opts = format!("lowerdir={sa}:{sb}::{s1}::{s2},metacopy=on");
    let (o, r) = t.pair(&opts)?;
    // Before any open: stat guesses blocks from the size on both.
    for rel in ["one", "two", "missing", "plain", "hidden-in-data"] {
        let _ = both(&o, &r, rel, "lstat before open", |p| {
            fs::symlink_metadata(p)
                .map(|m| (m.size(), m.blocks(), m.ino()))
                .map_err(|e| sys::errno_of(&e))
        })?;
    }
    for rel in ["one", "two", "missing", "plain"] {
        let _ = both(&o, &r, rel, "read", read_file)?;
        let _ = both(&o, &r, rel, "lstat after open", |p| {
            fs::symlink_metadata(p)
                .map(|m| (m.size(), m.blocks(), m.ino()))
                .map_err(|e| sys::errno_of(&e))
        })?;
    }
    same(
        "data from the first data layer",
        read_file(&r.join("one")),
        Ok(b"first data layer".to_vec()),
    )?;
    same("/proc/mounts", mount_options(&o), mount_options(&r))?;
    compare_trees(&o, &r)?;
    t.umount(&o)?;
    t.umount(&r)?;
    // The same through the new mount API.
    let (mo, mr) = (t.dir.join("api-o"), t.dir.join("api-r"));
    dir(&mo)?;
    dir(&mr)?;
    let (sa, sb, s1, s2) = (
        sa.to_string(),
        sb.to_string(),
        s1.to_string(),
        s2.to_string(),
    );
    let api: [(&str, Option<&str>); 5] = [
        ("lowerdir+", Some(&sa)),
        ("lowerdir+", Some(&sb)),
        ("datadir+", Some(&s1)),
        ("datadir+", Some(&s2)),
        ("metacopy", Some("on")),
    ];
    let eo = sys::new_mount("overlay", &mo, &api);
    let er = sys::new_mount("rovl", &mr, &api);
    same("fsconfig with datadir+", &eo, &er)?;
    if eo.is_ok() {
        t.adopt(&mo);
    }
    if er.is_ok() {
        t.adopt(&mr);
    }
    same(
        "/proc/mounts (new API)",
        mount_options(&mo),
        mount_options(&mr),
    )?;
    let _ = both(&mo, &mr, "two", "read (new API)", read_file)?;
    // Data-only layers alone, with or without an upper layer.
    let [u, w] = t.layers(["data-only-u", "data-only-w"])?;
    let (su, sw) = (u.display().to_string(), w.display().to_string());
    let only: [&[(&str, Option<&str>)]; 2] = [
        &[
            ("datadir+", Some(&s1)),
            ("datadir+", Some(&s2)),
            ("metacopy", Some("on")),
        ],
        &[
            ("datadir+", Some(&s1)),
            ("upperdir", Some(&su)),
            ("workdir", Some(&sw)),
            ("metacopy", Some("on")),
        ],
    ];
    for (i, api) in only.iter().enumerate() {
        let (mo, mr) = (
            t.dir.join(format!("only-o{i}")),
            t.dir.join(format!("only-r{i}")),
        );
        dir(&mo)?;
        dir(&mr)?;
        let eo = sys::new_mount("overlay", &mo, api);
        let er = sys::new_mount("rovl", &mr, api);
        if eo.is_ok() {
            t.adopt(&mo);
        }
        if er.is_ok() {
            t.adopt(&mr);
        }
        same("data-only layers alone", &eo, &er)?;
    }
    // One lower layer over a data-only one, without an upper layer: two
    // layers, enough for overlayfs.
    let (o, r) = t.pair(&format!("lowerdir={sa}::{s1},metacopy=on"))?;
    for rel in ["one", "two", "missing"] {
        let _ = both(&o, &r, rel, "read (one lower, one data layer)", read_file)?;
    }
    same(
        "data through one lower and one data layer",
        read_file(&r.join("one")),
        Ok(b"first data layer".to_vec()),
    )
}

/// Random combinations of layers (lower and data-only, in any order),
/// upper and work directories and options, through mount(2) and the new
/// mount API: each mounts or fails alike on overlay and rovl (errno, and
/// the failing step of the new API), and where both mount, the root lists
/// the same names. Bad combinations must not oops rovl (the VM run fails on
/// any kernel splat).
fn mount_option_combinations(t: &mut T) -> TResult {
    let [a, b, d1, d2] = t.layers(["a", "b", "d1", "d2"])?;
    file(&a.join("f"), b"a")?;
    file(&b.join("g"), b"b")?;
    file(&d1.join("blobs/x"), b"x")?;
    file(&d2.join("blobs/y"), b"y")?;
    metacopy_file(&a.join("m"), 1, Some("/blobs/x"))?;
    let (sa, sb, s1, s2) = (
        a.display().to_string(),
        b.display().to_string(),
        d1.display().to_string(),
        d2.display().to_string(),
    );
    // Layer lists: `lowerdir+`/`datadir+` for the new API, and the
    // `lowerdir=` string of mount(2) where it has one.
    let lows: [(&[(&str, &str)], Option<String>); 9] = [
        (&[], None),
        (&[("lowerdir+", &sa)], Some(sa.clone())),
        (
            &[("lowerdir+", &sa), ("lowerdir+", &sb)],
            Some(format!("{sa}:{sb}")),
        ),
        (
            &[("lowerdir+", &sa), ("datadir+", &s1)],
            Some(format!("{sa}::{s1}")),
        ),
        (
            &[
                ("lowerdir+", &sa),
                ("lowerdir+", &sb),
                ("datadir+", &s1),
                ("datadir+", &s2),
            ],
            Some(format!("{sa}:{sb}::{s1}::{s2}")),
        ),
        (&[("datadir+", &s1)], Some(format!("::{s1}"))),
        (&[("datadir+", &s1), ("datadir+", &s2)], None),
        (&[("datadir+", &s1), ("lowerdir+", &sa)], None),
        (
            &[("lowerdir+", &sa), ("lowerdir+", &sa)],
            Some(format!("{sa}:{sa}")),
        ),
    ];
    let pool: [(&str, &[Option<&str>]); 9] = [
        ("metacopy", &[Some("on"), Some("off")]),
        (
            "redirect_dir",
            &[Some("on"), Some("off"), Some("follow"), Some("nofollow")],
        ),
        ("index", &[Some("on"), Some("off")]),
        ("xino", &[Some("on"), Some("off"), Some("auto")]),
        (
            "uuid",
            &[Some("on"), Some("off"), Some("null"), Some("auto")],
        ),
        ("nfs_export", &[Some("on"), Some("off")]),
        ("userxattr", &[None]),
        ("volatile", &[None]),
        ("verity", &[Some("off"), Some("on"), Some("require")]),
    ];
    let mut rng = Rng::new(0x6f76_6c21);
    let (mut mounted, mut refused) = (0, 0);
    for i in 0..400 {
        let (low, low_str) = &lows[rng.below(lows.len() as u64) as usize];
        // 0: no upper layer, 1: upper and work, 2: upper alone, 3: work
        // alone, 4: work inside upper, 5: work and upper the same.
        let upper = rng.below(6);
        let mut opts: Vec<(&str, Option<&str>)> = Vec::new();
        for _ in 0..rng.below(4) {
            let (k, vs) = pool[rng.below(pool.len() as u64) as usize];
            opts.push((k, vs[rng.below(vs.len() as u64) as usize]));
        }
        let new_api = low_str.is_none() || rng.below(2) == 0;
        let mut seen = Vec::new();
        for fs in ["overlay", "rovl"] {
            let (u, w) = (
                t.dir.join(format!("c{i}-{fs}-u")),
                t.dir.join(format!("c{i}-{fs}-w")),
            );
            dir(&u)?;
            dir(&w)?;
            dir(&u.join("w"))?;
            let (su, sw) = (u.display().to_string(), w.display().to_string());
            let sw = match upper {
                4 => format!("{su}/w"),
                5 => su.clone(),
                _ => sw,
            };
            let mut all: Vec<(&str, Option<&str>)> = Vec::new();
            if upper != 0 && upper != 3 {
                all.push(("upperdir", Some(&su)));
            }
            if upper != 0 && upper != 2 {
                all.push(("workdir", Some(&sw)));
            }
            all.extend(opts.iter().copied());
            let mp = t.dir.join(format!("c{i}-{fs}-m"));
            dir(&mp)?;
            let r = if new_api {
                let mut api: Vec<(&str, Option<&str>)> =
                    low.iter().map(|&(k, v)| (k, Some(v))).collect();
                api.extend(all.iter().copied());
                sys::new_mount(fs, &mp, &api)
            } else {
                let mut s = format!("lowerdir={}", low_str.as_deref().unwrap_or(""));
                for (k, v) in &all {
                    s.push(',');
                    s.push_str(k);
                    if let Some(v) = v {
                        s.push('=');
                        s.push_str(v);
                    }
                }
                sys::mount(fs, &mp, &s, 0).map_err(|e| ("mount".to_string(), e))
            };
            let names = match &r {
                Ok(()) => {
                    t.adopt(&mp);
                    let mut n: Vec<String> = listing(&mp)
                        .map_err(|e| format!("{fs}: listing: errno {e}"))?
                        .into_iter()
                        .map(|e| e.0)
                        .collect();
                    n.sort();
                    t.umount(&mp)?;
                    Some(n)
                }
                Err(_) => None,
            };
            seen.push((r, names));
        }
        let what = format!(
            "case {i} ({}, upper {upper}, {opts:?}, {low:?})",
            if new_api { "fsconfig" } else { "mount(2)" }
        );
        same(&what, &seen[0], &seen[1])?;
        if seen[1].0.is_ok() {
            mounted += 1;
        } else {
            refused += 1;
        }
    }
    eprintln!("combinations: {mounted} mounted, {refused} refused");
    // The draw must exercise both outcomes.
    if mounted < 10 || refused < 10 {
        return fail(format!(
            "{mounted} mounted, {refused} refused: too few of one"
        ));
    }
    Ok(())
}

fn five_hundred_layers(t: &mut T) -> TResult {
    let mut ls = Vec::new();
    for i in 0..501 {
        let l = t.dir.join(format!("l{i:03}"));
        dir(&l)?;
        if i % 50 == 0 {
            file(&l.join(format!("f{i}")), format!("{i}").as_bytes())?;
            file(&l.join("shared/x"), format!("{i}").as_bytes())?;
        }
        ls.push(l);
    }
    file(&ls[499].join("deepest"), b"bottom")?;
    // mount(2) takes one page of options: 500 long paths need fsconfig.
    let names: Vec<String> = ls.iter().map(|p| p.display().to_string()).collect();
    let opts = |n: usize| -> Vec<(&str, Option<&str>)> {
        names[..n]
            .iter()
            .map(|p| ("lowerdir+", Some(p.as_str())))
            .collect()
    };
    let (mo, mr) = (t.dir.join("m-o"), t.dir.join("m-r"));
    dir(&mo)?;
    dir(&mr)?;
    // 501 layers are one too many for both.
    let eo = sys::new_mount("overlay", &mo, &opts(501));
    let er = sys::new_mount("rovl", &mr, &opts(501));
    same("501 layers", &eo, &er)?;
    same("501 layers errno", er.map_err(|e| e.1), Err(libc::EINVAL))?;
    let eo = sys::new_mount("overlay", &mo, &opts(500));
    let er = sys::new_mount("rovl", &mr, &opts(500));
    same("500 layers", &eo, &er)?;
    if eo.is_ok() {
        t.adopt(&mo);
    }
    if er.is_ok() {
        t.adopt(&mr);
    }
    let (o, r) = (mo, mr);
    same(
        "bottom of 500 through rovl",
        read_file(&r.join("deepest")),
        Ok(b"bottom".to_vec()),
    )?;
    compare_trees(&o, &r)
}

fn remote_layers_revalidate(t: &mut T) -> TResult {
    // The guest's root is the host's over 9p, whose dentries revalidate:
    // stack two of the repository's directories with a tmpfs layer.
    let cwd = std::env::current_dir().map_err(|e| format!("{e}"))?;
    let (docs, samples) = (cwd.join("Documentation"), cwd.join("samples"));
    if !docs.is_dir() || !samples.is_dir() {
        return Err(Fail::Skip(
            "run from the repository top (Documentation/, samples/)".into(),
        ));
    }
    let [a] = t.layers(["a"])?;
    file(&a.join("filesystems/local-note"), b"on tmpfs")?;
    let (o, r) = t.pair(&lowerdir(&[&a, &docs, &samples]))?;
    compare_trees_with(&o, &r, false)?;
    // Looked up again: cached dentries pass revalidation.
    compare_trees_with(&o, &r, false)?;
    // Under an upper layer, a layer without file handles turns the index
    // and xino=auto off, with overlayfs's warnings (`ovl_lower_dir`).
    let mut kmsg = Kmsg::open();
    let mut runs = Vec::new();
    for fstype in ["overlay", "rovl"] {
        let (u, w) = crate::upper::side_dirs(&t.dir, fstype)?;
        let _ = fs_lines(&mut kmsg, fstype);
        let o = format!(
            "{},xino=auto,index=on",
            crate::upper::opts(&[a.clone(), samples.clone()], &u, &w)
        );
        let m = t
            .mount(fstype, &o)
            .map_err(|e| format!("mount {fstype}: errno {e}"))?;
        let mut run = fs_lines(&mut kmsg, fstype);
        run.push(format!(
            "{:?}",
            fs::symlink_metadata(m.join("filesystems/local-note")).map(|s| s.ino())
        ));
        t.umount(&m)?;
        runs.push(run);
    }
    same("upper over a 9p layer", &runs[0], &runs[1])
}

/// Random operations in sequences of 1,000, compared with overlay after
/// every step and in full every 100 (`ROVL_RANDOM_SEEDS` sequences, 10 by
/// default), then three with `redirect_dir=on`, one with `userxattr`, two
/// with `index=on` over lower hard links and one with `fsync=strict`.
fn writable_random_ops(t: &mut T) -> TResult {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (seeds, every, first) = (
        env("ROVL_RANDOM_SEEDS", 10),
        env("ROVL_EVERY", 100) as usize,
        env("ROVL_FIRST_SEED", 1),
    );
    // Replaying one variant: ROVL_ONLY=index=on runs only those sequences.
    let only = std::env::var("ROVL_ONLY").ok();
    let mut runs: Vec<(u64, &str)> = (first..=seeds).map(|s| (s, "")).collect();
    // Directories that move leave redirects behind.
    runs.extend((101..=103).map(|s| (s, ",redirect_dir=on")));
    // Overlay's own xattrs under user.overlay.
    runs.push((201, ",userxattr"));
    // Lower hard links copied up through the inodes index.
    runs.extend((301..301 + env("ROVL_INDEX_SEEDS", 2)).map(|s| (s, ",index=on")));
    // Copy-ups that sync their metadata too.
    runs.push((401, ",fsync=strict"));
    // Metadata-only copy-ups, their data copied on open for writing.
    runs.extend((501..=503).map(|s| (s, ",metacopy=on")));
    runs.push((601, ",metacopy=on,index=on"));
    for (seed, extra) in runs {
        if only
            .as_deref()
            .is_some_and(|o| o.is_empty() || !extra.contains(o))
        {
            continue;
        }
        crate::upper::random_ops(t, seed, 1000, every, extra)?;
    }
    Ok(())
}
