// SPDX-License-Identifier: GPL-2.0

//! Declarations missing from the kernel crate's `bindings`.
//!
//! Exported VFS functions whose headers `bindings_helper.h` does not include,
//! under their C names, and the `rovl_` helpers of `rust/shim.c`.

use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_uint, c_void};

// Kernel structs with a zero-sized opaque member (e.g. `sched_statistics`
// inside `task_struct`) make rustc flag every pointer to them.
#[expect(improper_ctypes)]
extern "C" {
    // fs/namei.c (linux/namei.h).
    pub(crate) fn kern_path(name: *const c_char, flags: c_uint, path: *mut bindings::path)
        -> c_int;
    pub(crate) fn lookup_one_unlocked(
        idmap: *mut bindings::mnt_idmap,
        name: *const c_char,
        base: *mut bindings::dentry,
        len: c_int,
    ) -> *mut bindings::dentry;
    pub(crate) fn vfs_path_lookup(
        dentry: *mut bindings::dentry,
        mnt: *mut bindings::vfsmount,
        name: *const c_char,
        flags: c_uint,
        path: *mut bindings::path,
    ) -> c_int;
    // lib/sort.c (linux/sort.h).
    pub(crate) fn sort_r(
        base: *mut c_void,
        num: usize,
        size: usize,
        cmp: Option<unsafe extern "C" fn(*const c_void, *const c_void, *const c_void) -> c_int>,
        swap: Option<unsafe extern "C" fn(*mut c_void, *mut c_void, c_int, *const c_void)>,
        priv_: *const c_void,
    );
    // fs/namespace.c (linux/mount.h).
    pub(crate) fn clone_private_mount(path: *const bindings::path) -> *mut bindings::vfsmount;
    pub(crate) fn kern_unmount(mnt: *mut bindings::vfsmount);
    // fs/xattr.c (linux/xattr.h).
    pub(crate) fn vfs_getxattr(
        idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        name: *const c_char,
        value: *mut c_void,
        size: usize,
    ) -> isize;
    // fs/backing-file.c (linux/backing-file.h).
    pub(crate) fn backing_file_open(
        user_file: *const bindings::file,
        flags: c_int,
        real_path: *const bindings::path,
        cred: *const bindings::cred,
    ) -> *mut bindings::file;
    pub(crate) fn backing_file_read_iter(
        file: *mut bindings::file,
        iter: *mut bindings::iov_iter,
        iocb: *mut bindings::kiocb,
        flags: c_int,
        ctx: *mut BackingFileCtx,
    ) -> isize;

    pub(crate) fn backing_file_splice_read(
        file: *mut bindings::file,
        ppos: *mut bindings::loff_t,
        pipe: *mut bindings::pipe_inode_info,
        len: usize,
        flags: c_uint,
        ctx: *mut BackingFileCtx,
    ) -> isize;
    pub(crate) fn backing_file_splice_write(
        pipe: *mut bindings::pipe_inode_info,
        file: *mut bindings::file,
        ppos: *mut bindings::loff_t,
        len: usize,
        flags: c_uint,
        ctx: *mut BackingFileCtx,
    ) -> isize;
    pub(crate) fn backing_file_mmap(
        file: *mut bindings::file,
        vma: *mut bindings::vm_area_struct,
        ctx: *mut BackingFileCtx,
    ) -> c_int;
    // mm/truncate.c (linux/pagemap.h).
    pub(crate) fn invalidate_inode_pages2_range(
        mapping: *mut bindings::address_space,
        start: kernel::ffi::c_ulong,
        end: kernel::ffi::c_ulong,
    ) -> c_int;
    // fs/ioctl.c (linux/fileattr.h), with the struct opaque.
    pub(crate) fn vfs_fileattr_get(
        dentry: *mut bindings::dentry,
        fa: *mut bindings::fileattr,
    ) -> c_int;
    pub(crate) fn vfs_fileattr_set(
        idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        fa: *mut bindings::fileattr,
    ) -> c_int;

    // fs/xattr.c (linux/xattr.h).
    pub(crate) fn vfs_listxattr(
        dentry: *mut bindings::dentry,
        list: *mut c_char,
        size: usize,
    ) -> isize;
    // fs/posix_acl.c (linux/posix_acl.h).
    pub(crate) fn get_inode_acl(
        inode: *mut bindings::inode,
        type_: c_int,
    ) -> *mut bindings::posix_acl;

    pub(crate) fn backing_file_write_iter(
        file: *mut bindings::file,
        iter: *mut bindings::iov_iter,
        iocb: *mut bindings::kiocb,
        flags: c_int,
        ctx: *mut BackingFileCtx,
    ) -> isize;
    pub(crate) fn backing_tmpfile_open(
        user_file: *const bindings::file,
        flags: c_int,
        real_parentpath: *const bindings::path,
        mode: bindings::umode_t,
        cred: *const bindings::cred,
    ) -> *mut bindings::file;
    // fs/namei.c (linux/namei.h), with the parent locked.
    pub(crate) fn lookup_one(
        idmap: *mut bindings::mnt_idmap,
        name: *const c_char,
        base: *mut bindings::dentry,
        len: c_int,
    ) -> *mut bindings::dentry;
    pub(crate) fn lock_rename(
        p1: *mut bindings::dentry,
        p2: *mut bindings::dentry,
    ) -> *mut bindings::dentry;
    pub(crate) fn unlock_rename(p1: *mut bindings::dentry, p2: *mut bindings::dentry);
    // fs/xattr.c (linux/xattr.h).
    pub(crate) fn vfs_setxattr(
        idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        name: *const c_char,
        value: *const c_void,
        size: usize,
        flags: c_int,
    ) -> c_int;
    pub(crate) fn vfs_removexattr(
        idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        name: *const c_char,
    ) -> c_int;
    // fs/posix_acl.c (linux/posix_acl.h).
    pub(crate) fn vfs_get_acl(
        idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        acl_name: *const c_char,
    ) -> *mut bindings::posix_acl;
    pub(crate) fn vfs_set_acl(
        idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        acl_name: *const c_char,
        kacl: *mut bindings::posix_acl,
    ) -> c_int;
    pub(crate) fn vfs_remove_acl(
        idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        acl_name: *const c_char,
    ) -> c_int;
    // fs/exportfs (linux/exportfs.h).
    pub(crate) fn exportfs_encode_inode_fh(
        inode: *mut bindings::inode,
        fid: *mut c_void,
        max_len: *mut c_int,
        parent: *mut bindings::inode,
        flags: c_int,
    ) -> c_int;
    pub(crate) fn exportfs_decode_fh(
        mnt: *mut bindings::vfsmount,
        fid: *mut c_void,
        fh_len: c_int,
        fileid_type: c_int,
        acceptable: Option<unsafe extern "C" fn(*mut c_void, *mut bindings::dentry) -> c_int>,
        context: *mut c_void,
    ) -> *mut bindings::dentry;
    // fs/splice.c (linux/splice.h).
    pub(crate) fn do_splice_direct(
        file_in: *mut bindings::file,
        ppos: *mut bindings::loff_t,
        file_out: *mut bindings::file,
        opos: *mut bindings::loff_t,
        len: usize,
        flags: c_uint,
    ) -> isize;

    // fs/posix_acl.c (linux/posix_acl.h).
    pub(crate) fn posix_acl_create(
        dir: *mut bindings::inode,
        mode: *mut bindings::umode_t,
        default_acl: *mut *mut bindings::posix_acl,
        acl: *mut *mut bindings::posix_acl,
    ) -> c_int;

    // rust/shim.c.
    pub(crate) fn rovl_inode_lock_nested(inode: *mut bindings::inode, subclass: c_uint);
    pub(crate) fn rovl_d_unhashed(dentry: *mut bindings::dentry) -> bool;
    pub(crate) fn rovl_remove_inode_hash(inode: *mut bindings::inode);
    pub(crate) fn rovl_fileattr_get(
        dentry: *mut bindings::dentry,
        flags: *mut u32,
        xflags: *mut u32,
    ) -> c_int;
    pub(crate) fn rovl_fileattr_set_masked(
        idmap: *mut bindings::mnt_idmap,
        dentry: *mut bindings::dentry,
        flags: u32,
        xflags: u32,
        flags_mask: u32,
        xflags_mask: u32,
    ) -> c_int;
    pub(crate) fn rovl_get_current_cred() -> *const bindings::cred;
    pub(crate) fn rovl_inuse_trylock(dentry: *mut bindings::dentry) -> bool;
    pub(crate) fn rovl_inuse_unlock(dentry: *mut bindings::dentry);
    pub(crate) fn rovl_is_inuse(dentry: *mut bindings::dentry) -> bool;
    pub(crate) fn rovl_current_fsids(uid: *mut bindings::kuid_t, gid: *mut bindings::kgid_t);
    pub(crate) static rovl_param_redirect_dir: bool;
    pub(crate) static rovl_param_redirect_always_follow: bool;
    pub(crate) static rovl_param_xino_auto: bool;
    pub(crate) static rovl_param_index: bool;
    pub(crate) static rovl_param_nfs_export: bool;
    pub(crate) static rovl_param_metacopy: bool;
    pub(crate) static rovl_param_register_overlay: bool;
    pub(crate) fn rovl_can_decode_fh(sb: *mut bindings::super_block) -> c_int;
    pub(crate) fn rovl_ratelimit_default_init(rs: *mut bindings::ratelimit_state);
    pub(crate) fn rovl_capable_sys_admin() -> bool;
    pub(crate) fn rovl_posix_acl_release(acl: *mut bindings::posix_acl);
    pub(crate) fn rovl_ns_capable_noaudit_sys_admin() -> bool;
    pub(crate) fn rovl_set_xattr_handlers(sb: *mut bindings::super_block, userxattr: bool);
    pub(crate) fn rovl_set_export_fid_ops(sb: *mut bindings::super_block);
    pub(crate) fn rovl_set_export_ops(sb: *mut bindings::super_block);
    pub(crate) fn rovl_dget(dentry: *mut bindings::dentry) -> *mut bindings::dentry;
    pub(crate) fn rovl_get_cred(cred: *const bindings::cred) -> *const bindings::cred;
    pub(crate) fn rovl_put_cred(cred: *const bindings::cred);
    pub(crate) fn rovl_get_file(file: *mut bindings::file) -> *mut bindings::file;
    pub(crate) fn rovl_dir_emit(
        ctx: *mut bindings::dir_context,
        name: *const c_char,
        namelen: c_int,
        ino: u64,
        d_type: c_uint,
    ) -> bool;
    pub(crate) fn rovl_inode_lock(inode: *mut bindings::inode);
    pub(crate) fn rovl_inode_trylock(inode: *mut bindings::inode) -> bool;
    pub(crate) fn rovl_fatal_signal_pending() -> bool;
    pub(crate) fn rovl_mutex_init(lock: *mut bindings::mutex);
    pub(crate) fn rovl_mutex_lock_interruptible(lock: *mut bindings::mutex) -> c_int;
    pub(crate) fn rovl_inode_unlock(inode: *mut bindings::inode);
    pub(crate) fn rovl_i_size_read(inode: *const bindings::inode) -> bindings::loff_t;
    pub(crate) fn rovl_inode_has_other_alias(
        inode: *mut bindings::inode,
        dentry: *mut bindings::dentry,
    ) -> bool;
    pub(crate) fn rovl_dentry_set_reval(dentry: *mut bindings::dentry, flags: c_uint);
    pub(crate) fn rovl_path_namelen(path: *const bindings::path) -> kernel::ffi::c_long;
    pub(crate) fn rovl_kstatfs_set(buf: *mut bindings::kstatfs, f_type: i64, f_namelen: i64);
    pub(crate) fn rovl_kstatfs_set_fsid(buf: *mut bindings::kstatfs, uuid: *const u8);
    pub(crate) fn rovl_init_fs_context(fc: *mut bindings::fs_context) -> c_int;
    pub(crate) fn rovl_iov_iter_count(i: *const bindings::iov_iter) -> usize;
    pub(crate) fn rovl_security_file_ioctl(file: *mut bindings::file, cmd: c_uint) -> c_int;
    pub(crate) fn rovl_change_flags(file: *mut bindings::file, flags: c_uint) -> c_int;
    pub(crate) fn rovl_fsverity_active(inode: *const bindings::inode) -> bool;
    pub(crate) fn rovl_fsverity_get_digest(
        inode: *mut bindings::inode,
        digest: *mut u8,
        alg: *mut u8,
    ) -> c_int;
    pub(crate) fn rovl_page_source(real: *mut bindings::file) -> bool;
    pub(crate) fn rovl_read_folio_from(
        folio: *mut bindings::folio,
        src: *mut bindings::address_space,
        real: *mut bindings::file,
    ) -> c_int;
    pub(crate) fn rovl_writepages(
        mapping: *mut bindings::address_space,
        wbc: *mut bindings::writeback_control,
        real: *mut bindings::file,
    ) -> c_int;
    pub(crate) fn rovl_write_back_cached(mapping: *mut bindings::address_space) -> c_int;
    pub(crate) fn rovl_mapping_mapped(mapping: *mut bindings::address_space) -> bool;
    pub(crate) fn rovl_fileattr_words(
        fa: *const bindings::fileattr,
        flags: *mut u32,
        xflags: *mut u32,
        fsx: *mut bool,
    );
    pub(crate) fn rovl_fileattr_set_words(fa: *mut bindings::fileattr, flags: u32, xflags: u32);
}

/// `struct backing_file_ctx` of linux/backing-file.h.
#[repr(C)]
pub(crate) struct BackingFileCtx {
    pub(crate) cred: *const bindings::cred,
    pub(crate) user_file: *mut bindings::file,
    pub(crate) accessed: Option<unsafe extern "C" fn(*mut bindings::file)>,
    pub(crate) end_write:
        Option<unsafe extern "C" fn(*mut bindings::file, bindings::loff_t, isize)>,
}
