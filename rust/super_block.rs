// SPDX-License-Identifier: GPL-2.0

//! Superblocks, filesystem registration and the C operation tables.
//!
//! [`FileSystem`] is what `fs/` implements; this module turns it into the
//! `file_system_type`, `super_operations`, `inode_operations` and
//! `file_operations` tables the VFS calls, converting raw arguments into the
//! safe wrappers of this crate and results back with `from_result`.

use super::file::{FOP_BUFFER_WASYNC, IOCB_NOWAIT};
use super::{
    ffi, CopyOp, DelayedCall, Dentry, DirEmitter, Fiemap, File, FileAttrArg, Iattr, Inode, Kstat,
    Kstatfs, PosixAcl, Purpose, RealPath, SeqFile, SignalMutex, StackedFile,
};
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicUsize, Ordering};
use kernel::bindings;
use kernel::build_error;
use kernel::c_str;
use kernel::error::{code::*, from_result, to_result, Error, Result, VTABLE_DEFAULT_ERROR};
use kernel::ffi::{c_char, c_int, c_uint, c_void};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::Mutex;
use kernel::types::{ARef, ForeignOwnable, Opaque};

/// `SB_RDONLY` of linux/fs.h (a `BIT()` macro bindgen skips).
const SB_RDONLY: usize = 1 << 0;
/// `FS_USERNS_MOUNT` of linux/fs.h.
const FS_USERNS_MOUNT: kernel::ffi::c_int = 8;
/// `SB_POSIXACL` of linux/fs.h.
const SB_POSIXACL: usize = 1 << 16;
/// `SB_NOSEC` of linux/fs.h.
const SB_NOSEC: usize = 1 << 28;
/// `MAY_NOT_BLOCK` of linux/fs.h: the caller is in RCU walk mode.
const MAY_NOT_BLOCK: i32 = 0x80;
/// `ACL_DONT_CACHE` of linux/fs.h: always ask `->get_inode_acl()`.
const ACL_DONT_CACHE: *mut bindings::posix_acl = -3isize as *mut bindings::posix_acl;

/// A filesystem built on these abstractions.
pub(crate) trait FileSystem: Sized + Send + Sync + 'static {
    /// Mount options while a mount or remount is being set up.
    type Context: Send;
    /// What each inode knows about its real objects (`i_private`).
    type Node: Send + Sync;
    /// Per open directory state (a readdir cache).
    type DirState: Default + Send;

    const NAME: &'static CStr;
    const MAGIC: u32;
    /// May be mounted by root of a user namespace (`FS_USERNS_MOUNT`).
    const USERNS_MOUNT: bool = false;

    fn new_context() -> Result<Self::Context>;
    /// Length of the first option of a mount(2) option string.
    fn next_opt(s: &[u8]) -> usize;
    /// One mount option; `Err(ENOPARAM)` leaves it to the VFS (`source`, or
    /// an "Unknown parameter" error).
    fn parse_param(
        ctx: &mut Self::Context,
        key: &CStr,
        value: Option<&CStr>,
        purpose: Purpose,
    ) -> Result;
    /// Builds the mount from the parsed options: its data and root node.
    fn fill_super(ctx: &mut Self::Context, sb: &SuperBlock<Self>) -> Result<(Self, NewNode<Self>)>;
    fn reconfigure(sb: &SuperBlock<Self>, ctx: &mut Self::Context, read_only: bool) -> Result;
    /// The real inode whose type and attributes a node's inode mirrors.
    fn real_inode(node: &Self::Node) -> &Inode;
    /// The key a node's inode is hashed by (the identity of a real inode),
    /// so that lookups of other names of one object share one inode
    /// (`ovl_iget5`); `None` gives an inode of its own.
    fn inode_key(_node: &Self::Node) -> Option<usize> {
        None
    }
    /// Whether a freshly looked-up node stacks on the objects a cached
    /// inode with the same key stacks on (`ovl_verify_inode`).
    fn same_objects(_cached: &Self::Node, _new: &Self::Node) -> bool {
        true
    }
    /// The link count of a node's inode where it is not its real inode's.
    fn nlink(_node: &Self::Node) -> Option<u32> {
        None
    }
    /// Whether [`FileSystem::real_inode`] is on the upper layer, for
    /// permission checks in RCU walk mode.
    fn real_is_upper(_node: &Self::Node) -> bool {
        false
    }
}

/// `struct super_operations`; `evict_inode` is always ours, to free nodes.
#[vtable]
pub(crate) trait SuperOperations: FileSystem {
    fn statfs(_sb: &SuperBlock<Self>, _buf: &mut Kstatfs) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    fn show_options(_sb: &SuperBlock<Self>, _m: &SeqFile) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `->sync_fs()` (`syncfs(2)`; `sync(2)` skips rovl mounts).
    fn sync_fs(_sb: &SuperBlock<Self>, _wait: bool) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// `struct inode_operations`, shared by every kind of inode; the tables
/// differ only in `lookup` (directories) and `get_link` (symlinks).
#[vtable]
pub(crate) trait InodeOperations: FileSystem {
    /// Looks up `dentry`, new and unhashed, in `dir`.
    fn lookup(
        _sb: &SuperBlock<Self>,
        _dir: &Self::Node,
        _dentry: &Dentry,
    ) -> Result<Option<NewNode<Self>>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    fn getattr(
        _sb: &SuperBlock<Self>,
        _node: &Self::Node,
        _stat: &mut Kstat,
        _mask: u32,
        _flags: u32,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    fn get_link(
        _sb: &SuperBlock<Self>,
        _node: &Self::Node,
        _done: &DelayedCall,
    ) -> Result<*const u8> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `->permission()` in reference walk mode.
    fn permission(
        _sb: &SuperBlock<Self>,
        _node: &Self::Node,
        _inode: &Inode,
        _mask: i32,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `->permission()` in RCU walk mode (`MAY_NOT_BLOCK` in `mask`), where
    /// the node may be freed under the caller: only the real inode and
    /// [`FileSystem::real_is_upper`] as of the node's last change are known.
    /// `Err(ECHILD)` asks for a reference walk.
    fn permission_rcu(
        _sb: &SuperBlock<Self>,
        _inode: &Inode,
        _real: &Inode,
        _upper: bool,
        _mask: i32,
    ) -> Result {
        Err(ECHILD)
    }
    /// `->get_inode_acl()`; never called in RCU walk mode.
    fn get_acl(
        _sb: &SuperBlock<Self>,
        _node: &Self::Node,
        _acl_type: i32,
    ) -> Result<Option<PosixAcl>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    fn listxattr(_sb: &SuperBlock<Self>, _node: &Self::Node, _buf: &mut [u8]) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `->create()`, `->mkdir()`, `->mknod()`, `->symlink()` and `->link()`
    /// of a directory: the node of the new entry (for a link, it is ignored:
    /// the entry shares the old inode).
    fn create(
        _sb: &SuperBlock<Self>,
        _dir: &Dentry,
        _dentry: &Dentry,
        _kind: NewKind<'_>,
    ) -> Result<Option<NewNode<Self>>> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `->tmpfile()`: the node of the new unnamed file and its open real
    /// file.
    fn tmpfile(
        _sb: &SuperBlock<Self>,
        _dir: &Dentry,
        _file: &File,
        _mode: u16,
    ) -> Result<(NewNode<Self>, StackedFile)> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `->unlink()` and `->rmdir()`.
    fn remove(_sb: &SuperBlock<Self>, _dir: &Dentry, _dentry: &Dentry, _is_dir: bool) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    fn rename(
        _sb: &SuperBlock<Self>,
        _olddir: &Dentry,
        _old: &Dentry,
        _newdir: &Dentry,
        _new: &Dentry,
        _flags: u32,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `->setattr()`, after `setattr_prepare` checked it; the inode's
    /// attributes are refreshed from the real inode afterwards.
    fn setattr(
        _sb: &SuperBlock<Self>,
        _dentry: &Dentry,
        _node: &Self::Node,
        _attr: &mut Iattr,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `->fileattr_get()` (`FS_IOC_GETFLAGS`, `FS_IOC_FSGETXATTR`).
    fn fileattr_get(
        _sb: &SuperBlock<Self>,
        _dentry: &Dentry,
        _node: &Self::Node,
        _fa: &mut FileAttrArg,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `->fileattr_set()`, after the VFS checked the change against what
    /// `fileattr_get` reported.
    fn fileattr_set(
        _sb: &SuperBlock<Self>,
        _dentry: &Dentry,
        _node: &Self::Node,
        _fa: &mut FileAttrArg,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `->fiemap()` of a regular file.
    fn fiemap(_sb: &SuperBlock<Self>, _node: &Self::Node, _fi: &mut Fiemap) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `->update_time()`: the VFS wants `flags` (`S_ATIME`, ...) of `inode`
    /// updated.
    fn update_time(
        _sb: &SuperBlock<Self>,
        _inode: &Inode,
        _node: &Self::Node,
        _flags: i32,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `->set_acl()`: `acl` is NULL to remove it.
    fn set_acl(
        _sb: &SuperBlock<Self>,
        _dentry: &Dentry,
        _node: &Self::Node,
        _acl_type: i32,
        _acl: AclArg,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// What a create makes (`NewKind::Link`: a hard link to that rovl dentry).
pub(crate) enum NewKind<'a> {
    File(u16),
    Dir(u16),
    /// A device, FIFO or socket: mode with its type, and device number.
    Node(u16, u32),
    Symlink(&'a CStr),
    Link(&'a Dentry),
}

/// An ACL handed to `->set_acl()`, borrowed for the call.
pub(crate) struct AclArg(*mut bindings::posix_acl);

impl AclArg {
    pub(crate) fn is_none(&self) -> bool {
        self.0.is_null()
    }

    /// Sets (or removes, if none) the ACL named `name` on a real dentry.
    pub(crate) fn apply(&self, d: &Dentry, mnt: &super::Mount, name: &CStr) -> Result {
        // SAFETY: The ACL is NULL or kept alive by the VFS for the call.
        unsafe { d.set_acl_raw(mnt, name, self.0) }
    }
}

/// `struct dentry_operations`. Every rovl dentry starts with these, and
/// `real_dentries` decides which keep the revalidate flags.
#[vtable]
pub(crate) trait DentryOperations: FileSystem {
    /// The real dentries a node stacks on, whose revalidation it inherits.
    fn real_dentries(node: &Self::Node) -> impl Iterator<Item = &Dentry>;
    /// `->d_revalidate()`/`->d_weak_revalidate()`: `Ok(false)` if stale.
    /// Never called in RCU walk mode.
    fn revalidate(
        _sb: &SuperBlock<Self>,
        _node: &Self::Node,
        _flags: u32,
        _weak: bool,
    ) -> Result<bool> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// `struct file_operations` of regular files (`open_file`) and
/// directories (`iterate`).
#[vtable]
pub(crate) trait FileOperations: FileSystem {
    /// The upper object a regular file opened on a lower layer now has:
    /// its open files switch to it.
    fn copied_up<'a>(sb: &'a SuperBlock<Self>, node: &'a Self::Node) -> Option<RealPath<'a>>;
    /// Whether writes through open files are synchronous when asked
    /// (`O_SYNC`, `RWF_DSYNC`): not on a volatile mount.
    fn syncs(sb: &SuperBlock<Self>) -> bool;
    /// Whether an `mmap` is served from the rovl inode's own pages rather
    /// than by mapping the real file's; `own_mapped` says some mapping
    /// already uses them.
    fn mmap_cached(
        sb: &SuperBlock<Self>,
        node: &Self::Node,
        shared: bool,
        own_mapped: bool,
    ) -> bool;
    /// Opens the upper file at `path` for writing back the own pages.
    fn open_for_writeback(sb: &SuperBlock<Self>, path: &RealPath<'_>) -> Result<ARef<File>>;
    fn open_file(
        _sb: &SuperBlock<Self>,
        _dentry: &Dentry,
        _node: &Self::Node,
        _file: &File,
    ) -> Result<StackedFile> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    fn iterate(
        _sb: &SuperBlock<Self>,
        _dir: &Dentry,
        _state: &mut Self::DirState,
        _out: &mut DirEmitter,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `->llseek()` of an open directory, now at `*pos`, which it moves;
    /// `whence` is `SEEK_SET`, `SEEK_CUR` or another the VFS passed on.
    fn dir_llseek(
        _sb: &SuperBlock<Self>,
        _dir: &Dentry,
        _state: &mut Self::DirState,
        _pos: &mut i64,
        _offset: i64,
        _whence: u32,
    ) -> Result<i64> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
    /// `->fsync()` of an open regular file (`file` its stacked file and
    /// current real file) or directory (`file` is `None`), for bytes
    /// `start..=end`.
    fn fsync(
        _sb: &SuperBlock<Self>,
        _node: &Self::Node,
        _file: Option<(&StackedFile, &File)>,
        _start: i64,
        _end: i64,
        _datasync: bool,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// The xattr handlers of `rust/shim.c` (`struct xattr_handler` is opaque to
/// the bindings, so both calls are required).
pub(crate) trait XattrOperations: FileSystem {
    /// An xattr read through the handler for `prefix` (`""` catches all):
    /// `name` is the rest of the name.
    fn xattr_get(
        sb: &SuperBlock<Self>,
        node: &Self::Node,
        prefix: &[u8],
        name: &[u8],
        buf: &mut [u8],
    ) -> Result<usize>;
    fn xattr_set(
        sb: &SuperBlock<Self>,
        dentry: &Dentry,
        node: &Self::Node,
        prefix: &[u8],
        name: &[u8],
        value: Option<&[u8]>,
        flags: i32,
    ) -> Result;
}

/// The export operations of `rust/shim.c` without decoding: handles that
/// name an object for fanotify and `name_to_handle_at(AT_HANDLE_FID)` but
/// cannot open it (`ovl_export_fid_operations`; `struct export_operations`
/// is opaque to the bindings). Installed by
/// [`SuperBlock::set_export_fid_ops`].
///
/// With [`SuperBlock::set_export_ops`] handles also decode, through
/// [`ExportOperations::fh_to_dentry`].
pub(crate) trait ExportOperations: FileSystem {
    /// The handle of `node`: its type and length in bytes, written to `buf`
    /// where it fits (the length is returned either way).
    fn encode_fh(
        sb: &SuperBlock<Self>,
        inode: &Inode,
        node: &Self::Node,
        buf: &mut [u8],
    ) -> Result<(u8, usize)>;

    /// The dentry the handle `fid` of type `fh_type` names; `None` for a
    /// stale one. Directories must come back connected: the table's
    /// `get_parent` and `get_name` are never meant to run.
    fn fh_to_dentry(
        sb: &SuperBlock<Self>,
        fid: &[u8],
        fh_type: i32,
    ) -> Result<Option<ARef<Dentry>>>;

    /// The parent of what a connectable handle names: the error to give.
    fn fh_to_parent(sb: &SuperBlock<Self>) -> Error;
}

/// A filesystem with all its operation tables.
pub(crate) trait Filesystem:
    SuperOperations
    + InodeOperations
    + FileOperations
    + XattrOperations
    + DentryOperations
    + ExportOperations
{
}

impl<T> Filesystem for T where
    T: SuperOperations
        + InodeOperations
        + FileOperations
        + XattrOperations
        + DentryOperations
        + ExportOperations
{
}

/// An inode to create: its node and inode number.
pub(crate) struct NewNode<T: FileSystem> {
    pub(crate) node: T::Node,
    pub(crate) ino: u64,
    /// Inode flags the VFS enforces on the new inode (`S_APPEND`,
    /// `S_IMMUTABLE`, `S_SYNC`, `S_NOATIME`).
    pub(crate) flags: u32,
}

/// The inode flags a stacked inode mirrors (`OVL_COPY_I_FLAGS_MASK`).
pub(crate) const COPY_I_FLAGS: u32 =
    bindings::S_SYNC | bindings::S_NOATIME | bindings::S_APPEND | bindings::S_IMMUTABLE;

/// A rovl `struct super_block`.
///
/// # Invariants
///
/// The object is a live superblock of filesystem `T`; once `fill_super` has
/// run, `s_fs_info` holds a `KBox<T>`.
#[repr(transparent)]
pub(crate) struct SuperBlock<T: FileSystem>(Opaque<bindings::super_block>, PhantomData<T>);

impl<T: FileSystem> SuperBlock<T> {
    /// # Safety
    ///
    /// `ptr` must be a live superblock of filesystem `T` for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut bindings::super_block) -> &'a Self {
        // SAFETY: Transparent over `bindings::super_block`.
        unsafe { &*ptr.cast() }
    }

    fn as_ptr(&self) -> *mut bindings::super_block {
        self.0.get()
    }

    /// The filesystem's data. Panics-free: only reachable after `fill_super`
    /// stored it, as every caller below is an operation on a live mount.
    pub(crate) fn data(&self) -> &T {
        // SAFETY: By the type invariant `s_fs_info` is a `KBox<T>` that lives
        // until `kill_sb`, after every operation on the superblock.
        unsafe { <KBox<T> as ForeignOwnable>::borrow((*self.0.get()).s_fs_info) }
    }

    /// The anonymous device number of this mount (`s_dev`).
    pub(crate) fn dev(&self) -> u32 {
        // SAFETY: `s_dev` is set before the superblock is visible.
        unsafe { (*self.0.get()).s_dev }
    }

    /// Lets the VFS mark inodes `S_NOSEC` once it has seen they have no
    /// set-id bits or security xattrs, so writes skip looking for them.
    pub(crate) fn set_nosec(&self) {
        // SAFETY: Only called from `fill_super`, before the sb is visible.
        unsafe { (*self.0.get()).s_flags |= SB_NOSEC };
    }

    /// Sets the filesystem's UUID (`super_set_uuid`).
    pub(crate) fn set_uuid(&self, uuid: &[u8; 16]) {
        // SAFETY: Only called from `fill_super`, before the sb is visible.
        unsafe {
            (*self.0.get()).s_uuid.b = *uuid;
            (*self.0.get()).s_uuid_len = 16;
        }
    }

    pub(crate) fn set_read_only(&self) {
        // SAFETY: Only called from `fill_super`, before the sb is visible.
        unsafe { (*self.0.get()).s_flags |= SB_RDONLY };
    }

    /// Installs the xattr handlers: overlay's own names under
    /// `user.overlay.` (with `userxattr`) or `trusted.overlay.`, and a
    /// catch-all; and turns on POSIX ACL checks, which `get_acl` serves.
    pub(crate) fn set_xattr_handlers(&self, userxattr: bool) {
        // SAFETY: Only called from `fill_super`, before the sb is visible.
        unsafe {
            ffi::rovl_set_xattr_handlers(self.0.get(), userxattr);
            (*self.0.get()).s_flags |= SB_POSIXACL;
        }
    }

    /// Lets the VFS ask for file handles of objects of this mount through
    /// [`ExportOperations::encode_fh`] instead of the generic inode number
    /// handle.
    pub(crate) fn set_export_fid_ops(&self) {
        // SAFETY: Only called from `fill_super`, before the sb is visible.
        unsafe { ffi::rovl_set_export_fid_ops(self.0.get()) };
    }

    /// As [`Self::set_export_fid_ops`], and handles decode too, through
    /// [`ExportOperations::fh_to_dentry`] (NFS export).
    pub(crate) fn set_export_ops(&self) {
        // SAFETY: Only called from `fill_super`, before the sb is visible.
        unsafe { ffi::rovl_set_export_ops(self.0.get()) };
    }

    /// The root dentry; only called once `fill_super` has set it.
    pub(crate) fn root(&self) -> &Dentry {
        // SAFETY: `s_root` is set by `fill_super` and lives, referenced by
        // the superblock, until `kill_sb`, after every operation on it.
        unsafe { Dentry::from_raw((*self.0.get()).s_root) }
    }

    /// A dentry for the inode of `n` (made, or found by its key), which
    /// may be a disconnected one (`d_obtain_alias`): for objects decoded
    /// from file handles, not found by lookups.
    pub(crate) fn obtain_alias(&self, n: NewNode<T>) -> Result<ARef<Dentry>>
    where
        T: Filesystem,
    {
        // SAFETY: `self` is live and filled (a handle is decoded on a
        // mounted superblock).
        let inode = unsafe { new_inode(self, n)? };
        // SAFETY: `d_obtain_alias` consumes our inode reference, also on
        // failure, and returns a referenced dentry or an error.
        let d = kernel::error::from_err_ptr(unsafe { bindings::d_obtain_alias(inode) })?;
        // SAFETY: Not NULL on success; the reference is ours.
        let d = unsafe { ARef::<Dentry>::from_raw(ptr::NonNull::new_unchecked(d.cast())) };
        // Every alias of an inode stacks on the same real dentries.
        if let Some(node) = self.node(&d) {
            d.set_revalidate_from(&mut T::real_dentries(node));
        }
        Ok(d)
    }

    /// Some dentry of the cached inode with key `key` (`ilookup5` and
    /// `d_find_any_alias`), once `check` accepts its node; `None` when no
    /// such inode or dentry is cached.
    pub(crate) fn cached_alias(
        &self,
        key: usize,
        check: impl FnOnce(&T::Node) -> Result,
    ) -> Result<Option<ARef<Dentry>>>
    where
        T: Filesystem,
    {
        let mut data = IgetData::<T> { key, node: None };
        // SAFETY: `self` is live; `iget_test` takes `data` as `IgetData<T>`,
        // which outlives the call.
        let inode = unsafe {
            bindings::ilookup5(
                self.as_ptr(),
                key as _,
                Some(iget_test::<T>),
                (&raw mut data).cast(),
            )
        };
        if inode.is_null() {
            return Ok(None);
        }
        // SAFETY: `ilookup5` returned a referenced, hashed inode of ours,
        // whose node is set until eviction.
        let r = check(unsafe { node_of::<T>(inode) }).map(|()| {
            // SAFETY: `inode` is live; a non-NULL result is a new reference.
            ptr::NonNull::new(unsafe { bindings::d_find_any_alias(inode) })
                // SAFETY: As above.
                .map(|d| unsafe { ARef::<Dentry>::from_raw(d.cast()) })
        });
        // SAFETY: We own the reference `ilookup5` returned.
        unsafe { bindings::iput(inode) };
        r
    }

    /// Records how deep this superblock stacks on others; at most
    /// `FILESYSTEM_MAX_STACK_DEPTH`.
    pub(crate) fn set_stack_depth(&self, depth: i32) -> Result {
        if depth > bindings::FILESYSTEM_MAX_STACK_DEPTH as i32 {
            return Err(EINVAL);
        }
        // SAFETY: Only called from `fill_super`, before the sb is visible.
        unsafe { (*self.0.get()).s_stack_depth = depth };
        Ok(())
    }

    /// The node of a rovl dentry of this superblock.
    pub(crate) fn node<'a>(&self, d: &'a Dentry) -> Option<&'a T::Node> {
        if d.sb_ptr() != self.as_ptr().cast_const() {
            return None;
        }
        let inode = d.inode()?;
        // SAFETY: Every positive dentry of this sb has an inode made by
        // `new_inode` below, whose `i_private` is a `NodeCell<T>` freed
        // only at eviction, after the last dentry reference is gone.
        Some(unsafe { node_of::<T>(inode.as_ptr()) })
    }

    /// The lock of the node of a rovl dentry of this superblock: held while
    /// the filesystem changes what the node stacks on (`ovl_inode_lock`).
    pub(crate) fn node_lock<'a>(&self, d: &'a Dentry) -> Option<&'a SignalMutex> {
        if d.sb_ptr() != self.as_ptr().cast_const() {
            return None;
        }
        let inode = d.inode()?;
        // SAFETY: As in `node` above.
        Some(unsafe { &cell_of::<T>(inode.as_ptr()).lock })
    }
}

/// What `i_private` of a rovl inode owns: the filesystem's node, and a
/// lock for it that the VFS never takes.
#[pin_data]
struct NodeCell<T: FileSystem> {
    #[pin]
    lock: SignalMutex,
    node: T::Node,
}

impl<T: FileSystem> NodeCell<T> {
    fn new(node: T::Node) -> Result<Pin<KBox<Self>>> {
        KBox::pin_init(
            pin_init!(Self {
                lock <- SignalMutex::new(),
                node,
            }),
            GFP_KERNEL,
        )
    }
}

/// Stack depth of the superblock a dentry lives on.
pub(crate) fn stack_depth_of(d: &Dentry) -> i32 {
    // SAFETY: `d_sb` of a live dentry is a live superblock.
    unsafe { (*d.sb_ptr()).s_stack_depth }
}

/// Magic number of the superblock a dentry lives on.
pub(crate) fn magic_of(d: &Dentry) -> u64 {
    // SAFETY: `d_sb` of a live dentry is a live superblock.
    unsafe { (*d.sb_ptr()).s_magic as u64 }
}

/// Whether the filesystem of `d` marks inodes without set-id bits or
/// security xattrs `S_NOSEC` (`SB_NOSEC`).
pub(crate) fn sb_nosec_of(d: &Dentry) -> bool {
    // SAFETY: `d_sb` of a live dentry is a live superblock.
    unsafe { (*d.sb_ptr()).s_flags & SB_NOSEC != 0 }
}

/// Maximum file name length of the filesystem a real path lives on.
pub(crate) fn sb_of(d: &Dentry) -> *const c_void {
    d.sb_ptr().cast()
}

/// # Safety
///
/// `inode` must be a live inode created by [`new_inode`] for `T`.
unsafe fn node_of<'a, T: FileSystem>(inode: *mut bindings::inode) -> &'a T::Node {
    // SAFETY: By the safety requirements.
    unsafe { &cell_of::<T>(inode).node }
}

/// # Safety
///
/// `inode` must be a live inode created by [`new_inode`] for `T`.
unsafe fn cell_of<'a, T: FileSystem>(inode: *mut bindings::inode) -> &'a NodeCell<T> {
    // SAFETY: `i_private` is a `Pin<KBox<NodeCell<T>>>` until eviction.
    unsafe { <Pin<KBox<NodeCell<T>>> as ForeignOwnable>::borrow((*inode).i_private) }.get_ref()
}

/// The inode of a new node: a new one, or for a node with a key the
/// cached inode with that key if there is one (`ovl_get_inode`).
///
/// # Safety
///
/// `sb` must be a live superblock of `T` after `fill_super`.
unsafe fn new_inode<T: Filesystem>(
    sb: &SuperBlock<T>,
    n: NewNode<T>,
) -> Result<*mut bindings::inode> {
    let Some(key) = T::inode_key(&n.node) else {
        // SAFETY: `sb` is live.
        let inode = unsafe { bindings::new_inode(sb.as_ptr()) };
        if inode.is_null() {
            return Err(ENOMEM);
        }
        let node = match NodeCell::<T>::new(n.node) {
            Ok(b) => b,
            Err(e) => {
                // SAFETY: We own the only reference to the new inode.
                unsafe { bindings::iput(inode) };
                return Err(e);
            }
        };
        // SAFETY: The inode is new and private to us.
        unsafe { fill_inode::<T>(inode, node, n.ino, n.flags) };
        return Ok(inode);
    };
    let mut data = IgetData::<T> {
        key,
        node: Some(NodeCell::<T>::new(n.node)?),
    };
    // SAFETY: `sb` is live; the callbacks take `data` as `IgetData<T>`,
    // which outlives the call.
    let inode = unsafe {
        bindings::iget5_locked(
            sb.as_ptr(),
            key as _,
            Some(iget_test::<T>),
            Some(iget_set::<T>),
            (&raw mut data).cast(),
        )
    };
    if inode.is_null() {
        return Err(ENOMEM);
    }
    // SAFETY: `iget5_locked` returned a referenced inode.
    if unsafe { (*inode).i_state } & bindings::I_NEW == 0 {
        // Another name of the same object: our node goes unused.
        let new = data.node.take().ok_or(EINVAL)?;
        // SAFETY: A hashed inode of ours has its node set.
        let cell = unsafe { cell_of::<T>(inode) };
        // What the lookup found may be what a copy-up of the node under
        // way is about to publish (an index entry): checked again once
        // the node's lock is free.
        let same = T::same_objects(&cell.node, &new.node)
            || match cell.lock.lock_interruptible() {
                Ok(_) => T::same_objects(&cell.node, &new.node),
                Err(e) => {
                    // SAFETY: We own the reference `iget5_locked` returned.
                    unsafe { bindings::iput(inode) };
                    return Err(e);
                }
            };
        if !same {
            // SAFETY: We own the reference `iget5_locked` returned.
            unsafe { bindings::iput(inode) };
            return Err(Error::from_errno(ESTALE_ERRNO));
        }
        return Ok(inode);
    }
    // SAFETY: `iget_set` moved the node into `i_private`; the inode is new
    // and locked (`I_NEW`) until `unlock_new_inode`.
    unsafe {
        let node = <Pin<KBox<NodeCell<T>>> as ForeignOwnable>::from_foreign((*inode).i_private);
        fill_inode::<T>(inode, node, n.ino, n.flags);
        bindings::unlock_new_inode(inode);
    }
    Ok(inode)
}

/// What `iget5_locked` passes its callbacks.
struct IgetData<T: FileSystem> {
    key: usize,
    /// The new node, until `iget_set` gives it to a new inode.
    node: Option<Pin<KBox<NodeCell<T>>>>,
}

/// # Safety
///
/// Called by `iget5_locked` under `inode_hash_lock` for a hashed inode of
/// this superblock, with `data` pointing to an `IgetData<T>`.
unsafe extern "C" fn iget_test<T: Filesystem>(
    inode: *mut bindings::inode,
    data: *mut c_void,
) -> c_int {
    // SAFETY: By the safety requirements. A hashed inode of ours has its
    // node set from `iget_set` to eviction, which unhashes it (taking
    // `inode_hash_lock`) before freeing the node.
    unsafe {
        let key = (*data.cast::<IgetData<T>>()).key;
        if (*inode).i_private.is_null() {
            return 0;
        }
        c_int::from(T::inode_key(node_of::<T>(inode)) == Some(key))
    }
}

/// # Safety
///
/// Called by `iget5_locked` under `inode_hash_lock` for a new inode, with
/// `data` pointing to an `IgetData<T>` that still holds its node.
unsafe extern "C" fn iget_set<T: Filesystem>(
    inode: *mut bindings::inode,
    data: *mut c_void,
) -> c_int {
    // SAFETY: By the safety requirements.
    unsafe {
        let d = &mut *data.cast::<IgetData<T>>();
        let Some(node) = d.node.take() else {
            return -(bindings::EINVAL as c_int);
        };
        (*inode).i_private = node.into_foreign().cast_mut();
    }
    0
}

/// Sets up a new inode for `node`, which it then owns through `i_private`.
///
/// # Safety
///
/// `inode` is a new inode of a superblock of `T`, private to the caller.
unsafe fn fill_inode<T: Filesystem>(
    inode: *mut bindings::inode,
    node: Pin<KBox<NodeCell<T>>>,
    ino: u64,
    flags: u32,
) {
    let (mode, rdev) = {
        let real = T::real_inode(&node.node);
        (real.mode(), real.rdev())
    };
    // SAFETY: The inode is new and private to us.
    unsafe {
        sync_attrs::<T>(Inode::from_raw(inode), &node.node);
        // The real inode owns the ACLs; never cache them here.
        (*inode).i_acl = ACL_DONT_CACHE;
        (*inode).i_default_acl = ACL_DONT_CACHE;
        (*inode).i_ino = ino as _;
        bindings::inode_set_flags(inode, flags & COPY_I_FLAGS, COPY_I_FLAGS);
        match u32::from(mode) & bindings::S_IFMT {
            bindings::S_IFDIR => {
                (*inode).i_op = &Tables::<T>::DIR_IOPS;
                (*inode).__bindgen_anon_3.i_fop = &Tables::<T>::DIR_FOPS;
            }
            bindings::S_IFREG => {
                (*inode).i_op = &Tables::<T>::FILE_IOPS;
                (*inode).__bindgen_anon_3.i_fop = &Tables::<T>::FILE_FOPS;
                (*inode).i_data.a_ops = &Tables::<T>::FILE_AOPS;
            }
            bindings::S_IFLNK => (*inode).i_op = &Tables::<T>::LINK_IOPS,
            _ => {
                (*inode).i_op = &Tables::<T>::COMMON_IOPS;
                bindings::init_special_inode(inode, mode, rdev);
            }
        }
        (*inode).i_private = node.into_foreign().cast_mut();
    }
}

/// Hashes an inode made without a key by the key its node has gained since
/// (`ovl_inode_update`), so that lookups of its other names find it.
///
/// The caller serializes changes of the node's key (its copy-up lock).
pub(crate) fn hash_by_key<T: FileSystem>(inode: &Inode, node: &T::Node) {
    let Some(key) = T::inode_key(node) else {
        return;
    };
    let inode = inode.as_ptr();
    // SAFETY: `inode` is a live inode of `T`. Nothing else hashes an inode
    // after `iget5_locked` made it (`hlist_unhashed`), and the callers
    // serialize this for one node. `iget_test` reads the key under
    // `inode_hash_lock`, which the insertion takes.
    unsafe {
        if (*inode).i_hash.pprev.is_null() {
            bindings::__insert_inode_hash(inode, key as _);
        }
    }
}

/// Mirrors a node's real inode on its stacked inode, with the node's own
/// link count where it has one, and publishes the real inode to RCU walks.
pub(crate) fn sync_attrs<T: FileSystem>(inode: &Inode, node: &T::Node) {
    let real = T::real_inode(node);
    inode.copy_attr_from(real);
    if let Some(n) = T::nlink(node) {
        inode.set_nlink(n);
    }
    let tag = if T::real_is_upper(node) {
        RCU_REAL_UPPER
    } else {
        0
    };
    let word = real.as_ptr() as usize | tag;
    // SAFETY: `inode` is a live inode of `T`.
    unsafe { rcu_real(inode.as_ptr()) }.store(word, Ordering::Release);
}

/// The bit of a published real inode saying it is on the upper layer
/// (inodes are at least 8-byte aligned).
const RCU_REAL_UPPER: usize = 1;

/// The real inode of a rovl inode as RCU walks see it: 0, or its address
/// with [`RCU_REAL_UPPER`]. Nodes are freed at eviction, not after a grace
/// period, so RCU walks cannot use them; the real inode they would find is
/// published here instead, by every change of the node (`sync_attrs`), and
/// withdrawn at eviction before the node drops its reference. A walk that
/// read it before then holds off its freeing (inodes are RCU-freed).
///
/// # Safety
///
/// `inode` must be an inode of `T`, live or in an RCU read-side section.
unsafe fn rcu_real<'a>(inode: *mut bindings::inode) -> &'a AtomicUsize {
    // SAFETY: The inode's own mapping is rovl's, whose operations use no
    // buffer heads: `i_private_data` ("for use by the owner of the
    // address_space") is this word alone, accessed atomically only, and
    // lives as long as the RCU-freed inode.
    unsafe { AtomicUsize::from_ptr((&raw mut (*inode).i_data.i_private_data).cast()) }
}

/// The operation tables of filesystem `T`, built at compile time.
struct Tables<T>(PhantomData<T>);

impl<T: Filesystem> Tables<T> {
    const SUPER_OPS: bindings::super_operations = bindings::super_operations {
        statfs: if T::HAS_STATFS {
            Some(statfs_cb::<T>)
        } else {
            None
        },
        show_options: if T::HAS_SHOW_OPTIONS {
            Some(show_options_cb::<T>)
        } else {
            None
        },
        evict_inode: Some(evict_inode_cb::<T>),
        sync_fs: if T::HAS_SYNC_FS {
            Some(sync_fs_cb::<T>)
        } else {
            None
        },
        // Evict at the last reference, as overlayfs: a cached stacked inode
        // would pin its real dentries.
        drop_inode: Some(bindings::generic_delete_inode),
        // SAFETY: All-zero is a valid table: every other operation is NULL.
        ..unsafe { MaybeUninit::zeroed().assume_init() }
    };

    const DENTRY_OPS: bindings::dentry_operations = bindings::dentry_operations {
        d_revalidate: if T::HAS_REVALIDATE {
            Some(revalidate_cb::<T>)
        } else {
            None
        },
        d_weak_revalidate: if T::HAS_REVALIDATE {
            Some(weak_revalidate_cb::<T>)
        } else {
            None
        },
        // SAFETY: All-zero is a valid table: every other operation is NULL.
        ..unsafe { MaybeUninit::zeroed().assume_init() }
    };

    /// What every kind of rovl inode has.
    const COMMON_IOPS: bindings::inode_operations = bindings::inode_operations {
        getattr: if T::HAS_GETATTR {
            Some(getattr_cb::<T>)
        } else {
            None
        },
        permission: if T::HAS_PERMISSION {
            Some(permission_cb::<T>)
        } else {
            None
        },
        get_inode_acl: if T::HAS_GET_ACL {
            Some(get_inode_acl_cb::<T>)
        } else {
            None
        },
        listxattr: if T::HAS_LISTXATTR {
            Some(listxattr_cb::<T>)
        } else {
            None
        },
        setattr: if T::HAS_SETATTR {
            Some(setattr_cb::<T>)
        } else {
            None
        },
        set_acl: if T::HAS_SET_ACL {
            Some(set_acl_cb::<T>)
        } else {
            None
        },
        update_time: if T::HAS_UPDATE_TIME {
            Some(update_time_cb::<T>)
        } else {
            None
        },
        // SAFETY: All-zero is a valid table: every other operation is NULL.
        ..unsafe { MaybeUninit::zeroed().assume_init() }
    };

    const FILE_IOPS: bindings::inode_operations = bindings::inode_operations {
        fiemap: if T::HAS_FIEMAP {
            Some(fiemap_cb::<T>)
        } else {
            None
        },
        ..Self::ATTR_IOPS
    };

    /// Common operations plus the attribute flags, for files and
    /// directories (`lsattr`/`chattr`).
    const ATTR_IOPS: bindings::inode_operations = bindings::inode_operations {
        fileattr_get: if T::HAS_FILEATTR_GET {
            Some(fileattr_get_cb::<T>)
        } else {
            None
        },
        fileattr_set: if T::HAS_FILEATTR_SET {
            Some(fileattr_set_cb::<T>)
        } else {
            None
        },
        ..Self::COMMON_IOPS
    };

    const DIR_IOPS: bindings::inode_operations = bindings::inode_operations {
        lookup: if T::HAS_LOOKUP {
            Some(lookup_cb::<T>)
        } else {
            None
        },
        create: if T::HAS_CREATE {
            Some(create_cb::<T>)
        } else {
            None
        },
        mkdir: if T::HAS_CREATE {
            Some(mkdir_cb::<T>)
        } else {
            None
        },
        mknod: if T::HAS_CREATE {
            Some(mknod_cb::<T>)
        } else {
            None
        },
        symlink: if T::HAS_CREATE {
            Some(symlink_cb::<T>)
        } else {
            None
        },
        link: if T::HAS_CREATE {
            Some(link_cb::<T>)
        } else {
            None
        },
        unlink: if T::HAS_REMOVE {
            Some(unlink_cb::<T>)
        } else {
            None
        },
        rmdir: if T::HAS_REMOVE {
            Some(rmdir_cb::<T>)
        } else {
            None
        },
        rename: if T::HAS_RENAME {
            Some(rename_cb::<T>)
        } else {
            None
        },
        tmpfile: if T::HAS_TMPFILE {
            Some(tmpfile_cb::<T>)
        } else {
            None
        },
        ..Self::ATTR_IOPS
    };

    const LINK_IOPS: bindings::inode_operations = bindings::inode_operations {
        get_link: if T::HAS_GET_LINK {
            Some(get_link_cb::<T>)
        } else {
            None
        },
        ..Self::COMMON_IOPS
    };

    const FILE_FOPS: bindings::file_operations = bindings::file_operations {
        open: if T::HAS_OPEN_FILE {
            Some(open_file_cb::<T>)
        } else {
            None
        },
        release: Some(release_file_cb),
        read_iter: Some(read_iter_cb::<T>),
        write_iter: Some(write_iter_cb::<T>),
        splice_read: Some(splice_read_cb::<T>),
        splice_write: Some(splice_write_cb::<T>),
        llseek: Some(llseek_file_cb::<T>),
        mmap: Some(mmap_cb::<T>),
        flush: Some(flush_cb::<T>),
        fallocate: Some(fallocate_cb::<T>),
        fadvise: Some(fadvise_cb::<T>),
        copy_file_range: Some(copy_file_range_cb::<T>),
        remap_file_range: Some(remap_file_range_cb::<T>),
        fsync: if T::HAS_FSYNC {
            Some(fsync_cb::<T>)
        } else {
            None
        },
        // io_uring then tries buffered writes nonblocking first (where the
        // file has `FMODE_NOWAIT`); `StackedFile::write_iter` says `EAGAIN`
        // where the real file cannot take them so.
        fop_flags: FOP_BUFFER_WASYNC,
        // SAFETY: As above.
        ..unsafe { MaybeUninit::zeroed().assume_init() }
    };

    /// The rovl inode's own mapping: pages only for shared mappings of a
    /// file mapped while on a lower layer (`mmap_cb`), written back to the
    /// upper file once stored to; `direct_IO` so that `O_DIRECT` opens reach
    /// the real file, which decides (as `ovl_aops`).
    const FILE_AOPS: bindings::address_space_operations = bindings::address_space_operations {
        read_folio: Some(read_folio_cb::<T>),
        dirty_folio: Some(bindings::filemap_dirty_folio),
        writepages: Some(writepages_cb::<T>),
        direct_IO: Some(bindings::noop_direct_IO),
        // SAFETY: As above.
        ..unsafe { MaybeUninit::zeroed().assume_init() }
    };

    const DIR_FOPS: bindings::file_operations = bindings::file_operations {
        open: Some(open_dir_cb::<T>),
        release: Some(release_dir_cb::<T>),
        iterate_shared: if T::HAS_ITERATE {
            Some(iterate_cb::<T>)
        } else {
            None
        },
        llseek: if T::HAS_DIR_LLSEEK {
            Some(llseek_dir_cb::<T>)
        } else {
            None
        },
        read: Some(bindings::generic_read_dir),
        fsync: if T::HAS_FSYNC {
            Some(fsync_cb::<T>)
        } else {
            None
        },
        // SAFETY: As above.
        ..unsafe { MaybeUninit::zeroed().assume_init() }
    };
}

/// A `file_system_type` of the module.
///
/// It must be static: it embeds lockdep class keys, which lockdep only
/// accepts in static (module) memory.
struct FsType(Opaque<bindings::file_system_type>);

// SAFETY: Written only by `Registration::new` before registration and read
// by the VFS afterwards; module init and exit are serialised.
unsafe impl Sync for FsType {}

/// The type under the filesystem's own name.
static FS_TYPE: FsType = FsType(Opaque::uninit());
/// The same filesystem under the name `overlay` (`register_overlay=1`).
static FS_TYPE_OVERLAY: FsType = FsType(Opaque::uninit());

/// Registers filesystem `T` with the VFS for as long as it lives.
///
/// # Invariants
///
/// `types[..count]` are registered with `register_filesystem` while this
/// exists; there is at most one `Registration`.
pub(crate) struct Registration {
    types: [&'static FsType; 2],
    count: usize,
}

impl Registration {
    /// Registers `T` under `T::NAME` and, with `also_overlay`, under
    /// `overlay` too; fails with `EBUSY` if `overlay` is taken (by
    /// overlayfs), so the two are never both registered under that name.
    pub(crate) fn new<T: Filesystem>(
        module: &'static ThisModule,
        also_overlay: bool,
    ) -> Result<Self> {
        let mut this = Self {
            types: [&FS_TYPE, &FS_TYPE_OVERLAY],
            count: 0,
        };
        let names = [T::NAME, c_str!("overlay")];
        for (i, name) in names
            .iter()
            .enumerate()
            .take(if also_overlay { 2 } else { 1 })
        {
            let t = this.types[i].0.get();
            // SAFETY: Module init runs once, before anything can see the
            // static types; each is zeroed first, so every field not set is
            // NULL or zero.
            unsafe {
                t.write(MaybeUninit::zeroed().assume_init());
                (*t).owner = module.as_ptr();
                (*t).name = name.as_char_ptr();
                (*t).init_fs_context = Some(ffi::rovl_init_fs_context);
                (*t).kill_sb = Some(kill_sb_cb::<T>);
                if T::USERNS_MOUNT {
                    (*t).fs_flags |= FS_USERNS_MOUNT;
                }
            }
            // SAFETY: `t` is initialised above and static; on failure the
            // ones registered so far are unregistered by `Drop`.
            to_result(unsafe { bindings::register_filesystem(t) })?;
            // INVARIANT: Registered above.
            this.count = i + 1;
        }
        Ok(this)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        for t in &self.types[..self.count] {
            // SAFETY: By the type invariant it was registered.
            unsafe { bindings::unregister_filesystem(t.0.get()) };
        }
    }
}

type Fs = crate::RovlFs;

/// # Safety
///
/// `s` must be valid for `len` bytes.
#[no_mangle]
unsafe extern "C" fn rovl_rs_next_opt(s: *const c_char, len: usize) -> usize {
    // SAFETY: By the safety requirements.
    Fs::next_opt(unsafe { core::slice::from_raw_parts(s, len) })
}

#[no_mangle]
extern "C" fn rovl_rs_ctx_new() -> *mut c_void {
    match Fs::new_context().and_then(|c| Ok(KBox::new(c, GFP_KERNEL)?)) {
        Ok(b) => b.into_foreign().cast_mut(),
        Err(_) => ptr::null_mut(),
    }
}

/// # Safety
///
/// `ctx` is NULL or came from `rovl_rs_ctx_new` and is not used afterwards.
#[no_mangle]
unsafe extern "C" fn rovl_rs_ctx_free(ctx: *mut c_void) {
    if !ctx.is_null() {
        // SAFETY: By the safety requirements.
        drop(unsafe { <KBox<<Fs as FileSystem>::Context> as ForeignOwnable>::from_foreign(ctx) });
    }
}

/// # Safety
///
/// `ctx` came from `rovl_rs_ctx_new`; `key` is a C string and `value` NULL
/// or a C string, all valid for the call.
#[no_mangle]
unsafe extern "C" fn rovl_rs_ctx_param(
    ctx: *mut c_void,
    key: *const c_char,
    value: *const c_char,
    purpose: c_int,
) -> c_int {
    from_result(|| {
        // SAFETY: By the safety requirements; the VFS serialises calls on a context.
        let ctx = unsafe { &mut *ctx.cast::<<Fs as FileSystem>::Context>() };
        // SAFETY: By the safety requirements.
        let key = unsafe { CStr::from_char_ptr(key) };
        // SAFETY: By the safety requirements.
        let value = (!value.is_null()).then(|| unsafe { CStr::from_char_ptr(value) });
        let purpose = match purpose {
            0 => Purpose::Mount,
            1 => Purpose::Reconfigure,
            _ => Purpose::ReconfigureOldApi,
        };
        Fs::parse_param(ctx, key, value, purpose)?;
        Ok(0)
    })
}

/// # Safety
///
/// Called by `get_tree_nodev` with a new superblock and our context.
#[no_mangle]
unsafe extern "C" fn rovl_rs_fill_super(sb: *mut bindings::super_block, ctx: *mut c_void) -> c_int {
    from_result(|| {
        // SAFETY: By the safety requirements.
        let ctx = unsafe { &mut *ctx.cast::<<Fs as FileSystem>::Context>() };
        // SAFETY: A live superblock of ours, not yet visible to others.
        let s = unsafe { SuperBlock::<Fs>::from_raw(sb) };
        let (data, root) = Fs::fill_super(ctx, s)?;
        let data = KBox::new(data, GFP_KERNEL)?;
        // A writeback-capable bdi: stores through shared mappings of own
        // pages are flushed and throttled like any file's.
        // SAFETY: The superblock is being set up by us.
        to_result(unsafe { bindings::super_setup_bdi(sb) })?;
        // SAFETY: The superblock is ours until `fill_super` returns; on error
        // `kill_sb_cb` frees `s_fs_info`.
        unsafe {
            (*sb).s_fs_info = data.into_foreign().cast_mut();
            (*sb).s_magic = <Fs as FileSystem>::MAGIC as _;
            (*sb).s_op = &Tables::<Fs>::SUPER_OPS;
            (*sb).s_d_op = &Tables::<Fs>::DENTRY_OPS;
            (*sb).s_maxbytes = i64::MAX;
            (*sb).s_time_gran = 1;
            // `sync(2)` syncs the layers' filesystems itself.
            (*sb).s_iflags |= bindings::SB_I_SKIP_SYNC as usize;
            let inode = new_inode(s, root)?;
            // `d_make_root` drops the inode on failure.
            let root = bindings::d_make_root(inode);
            if root.is_null() {
                return Err(ENOMEM);
            }
            (*sb).s_root = root;
            Dentry::from_raw(root)
                .set_revalidate_from(&mut Fs::real_dentries(node_of::<Fs>(inode)));
        }
        Ok(0)
    })
}

/// # Safety
///
/// Called by the VFS for a remount of a live superblock of ours.
#[no_mangle]
unsafe extern "C" fn rovl_rs_reconfigure(
    sb: *mut bindings::super_block,
    ctx: *mut c_void,
    flags: c_uint,
) -> c_int {
    from_result(|| {
        // SAFETY: By the safety requirements.
        let (s, ctx) = unsafe { (SuperBlock::<Fs>::from_raw(sb), &mut *ctx.cast()) };
        Fs::reconfigure(s, ctx, flags as usize & SB_RDONLY != 0)?;
        Ok(0)
    })
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn kill_sb_cb<T: Filesystem>(sb: *mut bindings::super_block) {
    // SAFETY: The VFS tears down a superblock of ours; after
    // `kill_anon_super` no inode or dentry of it is left, so the data goes.
    unsafe {
        bindings::kill_anon_super(sb);
        let data = (*sb).s_fs_info;
        if !data.is_null() {
            (*sb).s_fs_info = ptr::null_mut();
            drop(<KBox<T> as ForeignOwnable>::from_foreign(data));
        }
    }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn evict_inode_cb<T: Filesystem>(inode: *mut bindings::inode) {
    // SAFETY: The VFS evicts an inode of ours that nothing references.
    unsafe {
        // Normally clean by now (`release_file_cb`); the last chance.
        let _ = Inode::from_raw(inode).write_back_cached();
        bindings::truncate_inode_pages_final(&mut (*inode).i_data);
        bindings::clear_inode(inode);
        // `iget_test` reads the node of hashed inodes: unhash first.
        ffi::rovl_remove_inode_hash(inode);
        // RCU walks from now on find nothing; ones that found the real
        // inode outlive it (see `rcu_real`).
        rcu_real(inode).store(0, Ordering::Release);
        let node = (*inode).i_private;
        if !node.is_null() {
            (*inode).i_private = ptr::null_mut();
            drop(<Pin<KBox<NodeCell<T>>> as ForeignOwnable>::from_foreign(
                node,
            ));
        }
    }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn sync_fs_cb<T: Filesystem>(
    sb: *mut bindings::super_block,
    wait: c_int,
) -> c_int {
    from_result(|| {
        // SAFETY: The VFS syncs a live superblock of ours.
        T::sync_fs(unsafe { SuperBlock::<T>::from_raw(sb) }, wait != 0)?;
        Ok(0)
    })
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn statfs_cb<T: Filesystem>(
    dentry: *mut bindings::dentry,
    buf: *mut bindings::kstatfs,
) -> c_int {
    from_result(|| {
        // SAFETY: The VFS passes a live dentry of ours and a writable buffer.
        let (s, buf) = unsafe {
            (
                SuperBlock::<T>::from_raw((*dentry).d_sb),
                Kstatfs::from_raw(buf),
            )
        };
        T::statfs(s, buf)?;
        Ok(0)
    })
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn show_options_cb<T: Filesystem>(
    m: *mut bindings::seq_file,
    root: *mut bindings::dentry,
) -> c_int {
    from_result(|| {
        // SAFETY: The VFS passes a live seq_file and our root dentry.
        let (s, m) = unsafe {
            (
                SuperBlock::<T>::from_raw((*root).d_sb),
                SeqFile::from_raw(m),
            )
        };
        T::show_options(s, m)?;
        Ok(0)
    })
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn lookup_cb<T: Filesystem>(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    _flags: c_uint,
) -> *mut bindings::dentry {
    let r = (|| -> Result<*mut bindings::dentry> {
        // SAFETY: The VFS passes a live directory inode of ours and a new,
        // pinned dentry whose name is stable during the lookup.
        let (s, node, d) = unsafe {
            (
                SuperBlock::<T>::from_raw((*dir).i_sb),
                node_of::<T>(dir),
                Dentry::from_raw(dentry),
            )
        };
        let inode = match T::lookup(s, node, d)? {
            // SAFETY: `s` is live and filled.
            Some(n) => unsafe { new_inode(s, n)? },
            None => ptr::null_mut(),
        };
        if !inode.is_null() {
            // SAFETY: The new inode is ours; its node is set.
            d.set_revalidate_from(&mut T::real_dentries(unsafe { node_of::<T>(inode) }));
        } else {
            // A negative entry has nothing to revalidate.
            d.set_revalidate_from(&mut core::iter::empty());
        }
        // SAFETY: `inode` is NULL or new with one reference, which
        // `d_splice_alias` consumes.
        Ok(unsafe { bindings::d_splice_alias(inode, dentry) })
    })();
    r.unwrap_or_else(|e| e.to_ptr())
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn getattr_cb<T: Filesystem>(
    _idmap: *mut bindings::mnt_idmap,
    path: *const bindings::path,
    stat: *mut bindings::kstat,
    mask: u32,
    flags: c_uint,
) -> c_int {
    from_result(|| {
        // SAFETY: The VFS passes a live path on our mount and a writable kstat.
        let (s, node, stat) = unsafe {
            let inode = (*(*path).dentry).d_inode;
            (
                SuperBlock::<T>::from_raw((*inode).i_sb),
                node_of::<T>(inode),
                Kstat::from_raw(stat),
            )
        };
        T::getattr(s, node, stat, mask, flags)?;
        Ok(0)
    })
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn get_link_cb<T: Filesystem>(
    dentry: *mut bindings::dentry,
    inode: *mut bindings::inode,
    done: *mut bindings::delayed_call,
) -> *const c_char {
    // RCU walk: the real filesystem may sleep, so ask for ref-walk.
    if dentry.is_null() {
        return ECHILD.to_ptr();
    }
    // SAFETY: The VFS passes a live symlink inode of ours and its `done`.
    let r = unsafe {
        T::get_link(
            SuperBlock::<T>::from_raw((*inode).i_sb),
            node_of::<T>(inode),
            DelayedCall::from_raw(done),
        )
    };
    r.unwrap_or_else(|e| e.to_ptr())
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn open_file_cb<T: Filesystem>(
    inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    from_result(|| {
        // SAFETY: The VFS opens a live file on a live inode of ours.
        let (s, node, f) = unsafe {
            (
                SuperBlock::<T>::from_raw((*inode).i_sb),
                node_of::<T>(inode),
                File::from_raw(file),
            )
        };
        // SAFETY: An opening file has a live path.
        let d = unsafe { Dentry::from_raw((*file).f_path.dentry) };
        let sf = T::open_file(s, d, node, f)?;
        // io_uring and `RWF_NOWAIT` try requests without blocking where the
        // real file does (overlayfs 6.12 never lets them).
        if sf.latest().can_nowait() {
            f.set_nowait();
        }
        // SAFETY: `private_data` is ours until `release_file_cb`.
        unsafe { sf.into_private(file) };
        Ok(0)
    })
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn release_file_cb(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // Stores through mappings of this file reach the upper file by the last
    // close, in the closer's context (never later, from an eviction).
    // SAFETY: A releasing file has a live inode.
    let r = unsafe { Inode::from_raw((*file).f_inode) }.write_back_cached();
    // SAFETY: `open_file_cb` stored the stacked file; this is the last use.
    drop(unsafe { StackedFile::from_private(file) });
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// `file` must be an open rovl regular file.
unsafe fn stacked<'a>(file: *mut bindings::file) -> &'a StackedFile {
    // SAFETY: By the safety requirements `open_file_cb` stored the
    // stacked file, which stays until `release_file_cb`.
    unsafe { StackedFile::of(file) }
}

/// The stacked file of `file` and the real file its operations go to now.
///
/// # Safety
///
/// `file` must be an open rovl regular file of a `T` mount.
unsafe fn current<'a, T: Filesystem>(
    file: *mut bindings::file,
) -> Result<(&'a StackedFile, &'a File)> {
    // SAFETY: By the safety requirements.
    unsafe { current_or_eagain::<T>(file, true) }
}

/// As `current`; where `may_block` is false, `EAGAIN` instead of opening
/// the upper file.
///
/// # Safety
///
/// As for `current`.
unsafe fn current_or_eagain<'a, T: Filesystem>(
    file: *mut bindings::file,
    may_block: bool,
) -> Result<(&'a StackedFile, &'a File)> {
    // SAFETY: An open rovl file has a live inode of ours with its node.
    let (sf, s, node, user) = unsafe {
        let inode = (*file).f_inode;
        (
            stacked(file),
            SuperBlock::<T>::from_raw((*inode).i_sb),
            node_of::<T>(inode),
            File::from_raw(file),
        )
    };
    let real = sf.current(user, || T::copied_up(s, node), may_block)?;
    Ok((sf, real))
}

/// `synced` for the file of a read or write request. One that must not
/// block (`IOCB_NOWAIT`, which the file takes where its real file does)
/// gets `EAGAIN` where own pages would have to be written back or dropped,
/// the upper file opened, or the real file now in use cannot take it, so
/// that the caller retries blocking.
///
/// # Safety
///
/// `iocb` must be a request on an open rovl regular file of a `T` mount,
/// not made from a page fault.
unsafe fn synced_iocb<'a, T: Filesystem>(
    iocb: *mut bindings::kiocb,
) -> Result<(&'a StackedFile, &'a File)> {
    // SAFETY: By the safety requirements.
    let (file, flags) = unsafe { ((*iocb).ki_filp, (*iocb).ki_flags) };
    if flags & IOCB_NOWAIT == 0 {
        // SAFETY: By the safety requirements.
        return unsafe { synced::<T>(file) };
    }
    // SAFETY: An open rovl file has a live inode.
    if unsafe { Inode::from_raw((*file).f_inode) }.has_own_pages() {
        return Err(EAGAIN);
    }
    // SAFETY: By the safety requirements.
    let (sf, real) = unsafe { current_or_eagain::<T>(file, false) }?;
    if !real.can_nowait() {
        return Err(EAGAIN);
    }
    Ok((sf, real))
}

/// As `current`, after writing back the rovl inode's dirty own pages so
/// the real file holds every store made through a shared mapping.
///
/// # Safety
///
/// As for `current`; not from a page fault.
unsafe fn synced<'a, T: Filesystem>(
    file: *mut bindings::file,
) -> Result<(&'a StackedFile, &'a File)> {
    // SAFETY: An open rovl file has a live inode.
    unsafe { Inode::from_raw((*file).f_inode) }.write_back_cached()?;
    // SAFETY: By the safety requirements.
    unsafe { current::<T>(file) }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn read_iter_cb<T: Filesystem>(
    iocb: *mut bindings::kiocb,
    iter: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: The VFS reads from an open rovl regular file.
    unsafe {
        if ffi::rovl_iov_iter_count(iter) == 0 {
            return 0;
        }
        let file = (*iocb).ki_filp;
        match synced_iocb::<T>(iocb) {
            Ok((sf, real)) => sf.read_iter(real, file, iocb, iter),
            Err(e) => e.to_errno() as isize,
        }
    }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn write_iter_cb<T: Filesystem>(
    iocb: *mut bindings::kiocb,
    iter: *mut bindings::iov_iter,
) -> isize {
    // SAFETY: The VFS writes to an open rovl regular file.
    unsafe {
        if ffi::rovl_iov_iter_count(iter) == 0 {
            return 0;
        }
        let file = (*iocb).ki_filp;
        let s = SuperBlock::<T>::from_raw((*(*file).f_inode).i_sb);
        match synced_iocb::<T>(iocb) {
            Ok((sf, real)) => sf.write_iter(real, file, iocb, iter, T::syncs(s)),
            Err(e) => e.to_errno() as isize,
        }
    }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn splice_read_cb<T: Filesystem>(
    file: *mut bindings::file,
    ppos: *mut i64,
    pipe: *mut bindings::pipe_inode_info,
    len: usize,
    flags: c_uint,
) -> isize {
    // SAFETY: The VFS splices from an open rovl regular file.
    unsafe {
        // With the pipe locked, own pages cannot be written back first (the
        // write-back path takes the upper layer's freeze protection, which
        // `splice_write_cb` holds when it locks a pipe): splice from them
        // instead, which holds every store made through a mapping.
        if Inode::from_raw((*file).f_inode).has_own_pages() {
            return bindings::filemap_splice_read(file, ppos, pipe, len, flags);
        }
        match current::<T>(file) {
            Ok((sf, real)) => sf.splice_read(real, file, ppos, pipe, len, flags),
            Err(e) => e.to_errno() as isize,
        }
    }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn splice_write_cb<T: Filesystem>(
    pipe: *mut bindings::pipe_inode_info,
    file: *mut bindings::file,
    ppos: *mut i64,
    len: usize,
    flags: c_uint,
) -> isize {
    // SAFETY: The VFS splices into an open rovl regular file.
    unsafe {
        match synced::<T>(file) {
            Ok((sf, real)) => sf.splice_write(real, pipe, file, ppos, len, flags),
            Err(e) => e.to_errno() as isize,
        }
    }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn mmap_cb<T: Filesystem>(
    file: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    from_result(|| {
        // SAFETY: The VFS maps an open rovl regular file into `vma`.
        unsafe {
            let (sf, real) = current::<T>(file)?;
            let inode = Inode::from_raw((*file).f_inode);
            let flags = (*vma).__bindgen_anon_2.vm_flags;
            // A read-only `MAP_SHARED` mapping has `VM_MAYSHARE` only.
            let shared = flags & bindings::VM_MAYSHARE as usize != 0;
            let writable = flags & bindings::VM_SHARED as usize != 0;
            let (s, node) = (
                SuperBlock::<T>::from_raw((*inode.as_ptr()).i_sb),
                node_of::<T>(inode.as_ptr()),
            );
            let own = T::mmap_cached(s, node, shared, inode.own_pages_mapped());
            if own && ffi::rovl_page_source(real.as_ptr()) {
                // The rovl inode's own pages, filled from whichever real
                // file is current at each fault (`read_folio_cb`).
                if writable {
                    to_result(bindings::generic_file_mmap(file, vma))?;
                } else {
                    to_result(bindings::generic_file_readonly_mmap(file, vma))?;
                }
            } else {
                // The real file's pages from now on: own pages left from
                // earlier mappings must not hide what is stored there.
                inode.write_back_cached()?;
                inode.invalidate_cached(0, i64::MAX);
                to_result(sf.mmap(real, file, vma))?;
            }
            Ok(0)
        }
    })
}

/// # Safety
///
/// Only called by the VFS through the address space operations of this module, with the arguments the C prototype documents, on a folio of a rovl regular file's own mapping.
unsafe extern "C" fn read_folio_cb<T: Filesystem>(
    file: *mut bindings::file,
    folio: *mut bindings::folio,
) -> c_int {
    // SAFETY: A rovl inode's own pages are only read by faults on a
    // mapping `mmap_cb` made, and by `filemap_splice_read`, which pass the
    // rovl file; the helper unlocks the folio whatever happens.
    unsafe {
        let (src, real) = if file.is_null() {
            (ptr::null_mut(), ptr::null_mut())
        } else {
            let inode = (*file).f_inode;
            let (s, node, sf) = (
                SuperBlock::<T>::from_raw((*inode).i_sb),
                node_of::<T>(inode),
                stacked(file),
            );
            // The current data's page cache, found without opening a file
            // (not with `mmap_lock` held): the upper inode's once copied
            // up, else the lower file's this file opened.
            let latest = sf.latest();
            match T::copied_up(s, node).and_then(|p| p.dentry.inode()) {
                Some(up) if up.id() != latest.inode().id() => (up.mapping_ptr(), ptr::null_mut()),
                _ => (latest.inode().mapping_ptr(), latest.as_ptr()),
            }
        };
        ffi::rovl_read_folio_from(folio, src, real)
    }
}

/// # Safety
///
/// Only called by the VFS through the address space operations of this module, with the arguments the C prototype documents, on a rovl regular file's own mapping.
unsafe extern "C" fn writepages_cb<T: Filesystem>(
    mapping: *mut bindings::address_space,
    wbc: *mut bindings::writeback_control,
) -> c_int {
    from_result(|| {
        // SAFETY: The mapping's host is a live rovl inode with its node.
        let (s, node) = unsafe {
            let inode = (*mapping).host;
            (
                SuperBlock::<T>::from_raw((*inode).i_sb),
                node_of::<T>(inode),
            )
        };
        // Stores only happen through writable shared mappings, which need
        // a file open for writing: copied up.
        let path = T::copied_up(s, node).ok_or(EIO)?;
        let real = T::open_for_writeback(s, &path)?;
        // SAFETY: `real` is open for writing; the helper drives the folios
        // `writeback_iter` hands out as `write_cache_pages` callers do.
        to_result(unsafe { ffi::rovl_writepages(mapping, wbc, real.as_ptr()) })?;
        Ok(0)
    })
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn fallocate_cb<T: Filesystem>(
    file: *mut bindings::file,
    mode: c_int,
    offset: i64,
    len: i64,
) -> kernel::ffi::c_long {
    // SAFETY: The VFS allocates space in an open rovl regular file.
    unsafe {
        match synced::<T>(file) {
            Ok((sf, real)) => sf.fallocate(real, file, mode, offset, len) as _,
            Err(e) => e.to_errno() as _,
        }
    }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn fadvise_cb<T: Filesystem>(
    file: *mut bindings::file,
    offset: i64,
    len: i64,
    advice: c_int,
) -> c_int {
    // SAFETY: The VFS advises on an open rovl regular file.
    match unsafe { current::<T>(file) } {
        Ok((sf, real)) => sf.fadvise(real, offset, len, advice),
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn flush_cb<T: Filesystem>(
    file: *mut bindings::file,
    id: bindings::fl_owner_t,
) -> c_int {
    // SAFETY: The VFS flushes an open rovl regular file at a close.
    match unsafe { current::<T>(file) } {
        Ok((sf, real)) => sf.flush(real, id),
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn llseek_file_cb<T: Filesystem>(
    file: *mut bindings::file,
    offset: i64,
    whence: c_int,
) -> i64 {
    // Both cases below need nothing of the real file (as `ovl_llseek`).
    if offset == 0 && whence == bindings::SEEK_CUR as c_int {
        // SAFETY: `f_pos` of a live file.
        return unsafe { (*file).f_pos };
    }
    if offset == 0 && whence == bindings::SEEK_SET as c_int {
        // SAFETY: `file` is live.
        return unsafe { bindings::vfs_setpos(file, 0, 0) };
    }
    // SAFETY: The VFS seeks an open rovl regular file.
    match unsafe { synced::<T>(file) } {
        // SAFETY: As above.
        Ok((sf, real)) => sf.llseek(real, unsafe { File::from_raw(file) }, offset, whence),
        Err(e) => e.to_errno().into(),
    }
}

/// The shared part of `copy_file_range_cb` and `remap_file_range_cb`.
///
/// # Safety
///
/// `file_in` and `file_out` must be open rovl regular files of `T`
/// mounts, passed by the VFS to one of those calls.
unsafe fn copy_file<T: Filesystem>(
    file_in: *mut bindings::file,
    pos_in: i64,
    file_out: *mut bindings::file,
    pos_out: i64,
    len: i64,
    op: CopyOp,
) -> Result<i64> {
    // SAFETY: By the safety requirements.
    unsafe {
        if let CopyOp::Dedupe(_) = op {
            // Deduplicating data by copying it up first would duplicate it
            // (`ovl_remap_file_range`).
            for f in [file_in, file_out] {
                let inode = (*f).f_inode;
                if T::copied_up(
                    SuperBlock::<T>::from_raw((*inode).i_sb),
                    node_of::<T>(inode),
                )
                .is_none()
                {
                    return Err(EPERM);
                }
            }
        }
        let (out, real_out) = synced::<T>(file_out)?;
        let (sin, real_in) = synced::<T>(file_in)?;
        let r = sin.copy_to(real_in, pos_in, out, real_out, file_out, pos_out, len, op);
        if r < 0 {
            Err(Error::from_errno(r as i32))
        } else {
            Ok(r)
        }
    }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn copy_file_range_cb<T: Filesystem>(
    file_in: *mut bindings::file,
    pos_in: i64,
    file_out: *mut bindings::file,
    pos_out: i64,
    len: usize,
    flags: c_uint,
) -> isize {
    // The VFS calls this only with both files of this `f_op`, that is ours.
    // SAFETY: As above.
    match unsafe {
        copy_file::<T>(
            file_in,
            pos_in,
            file_out,
            pos_out,
            len as i64,
            CopyOp::Copy(flags),
        )
    } {
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn remap_file_range_cb<T: Filesystem>(
    file_in: *mut bindings::file,
    pos_in: i64,
    file_out: *mut bindings::file,
    pos_out: i64,
    len: i64,
    flags: c_uint,
) -> i64 {
    let op = if flags & !(bindings::REMAP_FILE_DEDUP | bindings::REMAP_FILE_ADVISORY) != 0 {
        return EINVAL.to_errno().into();
    } else if flags & bindings::REMAP_FILE_DEDUP != 0 {
        CopyOp::Dedupe(flags)
    } else {
        CopyOp::Clone(flags)
    };
    // The VFS remaps only within one superblock, here one of ours.
    // SAFETY: As above.
    match unsafe { copy_file::<T>(file_in, pos_in, file_out, pos_out, len, op) } {
        Ok(n) => n,
        Err(e) => e.to_errno().into(),
    }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn fsync_cb<T: Filesystem>(
    file: *mut bindings::file,
    start: i64,
    end: i64,
    datasync: c_int,
) -> c_int {
    from_result(|| {
        // SAFETY: The VFS syncs an open rovl file or directory: its inode
        // has a node, and a regular file's private data is its stacked
        // file.
        let (s, node, real) = unsafe {
            let inode = (*file).f_inode;
            let real = if u32::from((*inode).i_mode) & bindings::S_IFMT == bindings::S_IFREG {
                let (sf, real) = synced::<T>(file)?;
                Some((sf, real))
            } else {
                None
            };
            (
                SuperBlock::<T>::from_raw((*inode).i_sb),
                node_of::<T>(inode),
                real,
            )
        };
        T::fsync(s, node, real, start, end, datasync != 0)?;
        Ok(0)
    })
}

/// The private data of an open rovl directory.
#[pin_data]
struct DirFile<S> {
    #[pin]
    state: Mutex<S>,
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn open_dir_cb<T: Filesystem>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    from_result(|| {
        let d = KBox::pin_init(
            pin_init!(DirFile { state <- kernel::new_mutex!(T::DirState::default()) }),
            GFP_KERNEL,
        )?;
        // SAFETY: `private_data` is ours until `release_dir_cb`.
        unsafe { (*file).private_data = d.into_foreign().cast_mut() };
        Ok(0)
    })
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn release_dir_cb<T: Filesystem>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `open_dir_cb` stored a `Pin<KBox<DirFile>>`; this is the last use.
    drop(unsafe {
        <Pin<KBox<DirFile<T::DirState>>> as ForeignOwnable>::from_foreign((*file).private_data)
    });
    0
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn iterate_cb<T: Filesystem>(
    file: *mut bindings::file,
    ctx: *mut bindings::dir_context,
) -> c_int {
    from_result(|| {
        // SAFETY: The VFS iterates an open rovl directory, its inode locked
        // by `iterate_dir`; `ctx` lives for the call.
        let (s, d, df, mut out) = unsafe {
            let d = Dentry::from_raw((*file).f_path.dentry);
            (
                SuperBlock::<T>::from_raw((*d.as_ptr()).d_sb),
                d,
                <Pin<KBox<DirFile<T::DirState>>> as ForeignOwnable>::borrow((*file).private_data),
                DirEmitter::new(ctx, d.as_ptr()),
            )
        };
        T::iterate(s, d, &mut df.state.lock(), &mut out)?;
        Ok(0)
    })
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn llseek_dir_cb<T: Filesystem>(
    file: *mut bindings::file,
    offset: i64,
    whence: c_int,
) -> i64 {
    // SAFETY: The VFS seeks an open rovl directory under `f_pos_lock`, so
    // its position is ours to move.
    let r = unsafe {
        let d = Dentry::from_raw((*file).f_path.dentry);
        let s = SuperBlock::<T>::from_raw((*d.as_ptr()).d_sb);
        let df = <Pin<KBox<DirFile<T::DirState>>> as ForeignOwnable>::borrow((*file).private_data);
        let mut pos = (*file).f_pos;
        let r = T::dir_llseek(s, d, &mut df.state.lock(), &mut pos, offset, whence as u32);
        (*file).f_pos = pos;
        r
    };
    match r {
        Ok(p) => p,
        Err(e) => e.to_errno().into(),
    }
}

/// # Safety
///
/// Called by the xattr handlers of `rust/shim.c` for a rovl inode, with C
/// strings `prefix` and `name` and `buffer` NULL or valid for `size` bytes.
#[no_mangle]
unsafe extern "C" fn rovl_rs_xattr_get(
    _dentry: *mut bindings::dentry,
    inode: *mut bindings::inode,
    prefix: *const c_char,
    name: *const c_char,
    buffer: *mut c_void,
    size: usize,
) -> c_int {
    from_result(|| {
        // SAFETY: By the safety requirements.
        let (s, node, prefix, name, buf) = unsafe {
            (
                SuperBlock::<Fs>::from_raw((*inode).i_sb),
                node_of::<Fs>(inode),
                CStr::from_char_ptr(prefix).as_bytes(),
                CStr::from_char_ptr(name).as_bytes(),
                buf_of(buffer, size),
            )
        };
        let n = Fs::xattr_get(s, node, prefix, name, buf)?;
        Ok(n.try_into().unwrap_or(c_int::MAX))
    })
}

/// # Safety
///
/// As for `rovl_rs_xattr_get`; `value` is NULL (remove) or valid for `size`.
#[no_mangle]
unsafe extern "C" fn rovl_rs_xattr_set(
    dentry: *mut bindings::dentry,
    inode: *mut bindings::inode,
    prefix: *const c_char,
    name: *const c_char,
    value: *const c_void,
    size: usize,
    flags: c_int,
) -> c_int {
    from_result(|| {
        // SAFETY: By the safety requirements.
        let (s, node, prefix, name) = unsafe {
            (
                SuperBlock::<Fs>::from_raw((*inode).i_sb),
                node_of::<Fs>(inode),
                CStr::from_char_ptr(prefix).as_bytes(),
                CStr::from_char_ptr(name).as_bytes(),
            )
        };
        // SAFETY: By the safety requirements.
        let value = (!value.is_null())
            .then(|| unsafe { core::slice::from_raw_parts(value.cast::<u8>(), size) });
        // SAFETY: The handler is called with the dentry being changed.
        let d = unsafe { Dentry::from_raw(dentry) };
        Fs::xattr_set(s, d, node, prefix, name, value, flags)?;
        Ok(0)
    })
}

/// # Safety
///
/// `buffer` is NULL or valid for writes of `size` bytes for `'a`.
unsafe fn buf_of<'a>(buffer: *mut c_void, size: usize) -> &'a mut [u8] {
    if buffer.is_null() {
        &mut []
    } else {
        // SAFETY: By the safety requirements.
        unsafe { core::slice::from_raw_parts_mut(buffer.cast(), size) }
    }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn listxattr_cb<T: Filesystem>(
    dentry: *mut bindings::dentry,
    list: *mut c_char,
    size: usize,
) -> isize {
    /// # Safety
    ///
    /// As for the enclosing function.
    unsafe fn list_xattrs<T: Filesystem>(
        dentry: *mut bindings::dentry,
        list: *mut c_char,
        size: usize,
    ) -> Result<usize> {
        // SAFETY: The VFS passes a positive dentry of ours and a buffer
        // NULL or valid for `size` bytes.
        let (s, node, buf) = unsafe {
            let inode = (*dentry).d_inode;
            (
                SuperBlock::<T>::from_raw((*inode).i_sb),
                node_of::<T>(inode),
                buf_of(list.cast(), size),
            )
        };
        T::listxattr(s, node, buf)
    }
    // SAFETY: By the safety requirements of this function.
    let r = unsafe { list_xattrs::<T>(dentry, list, size) };
    match r {
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn permission_cb<T: Filesystem>(
    _idmap: *mut bindings::mnt_idmap,
    inode: *mut bindings::inode,
    mask: c_int,
) -> c_int {
    if mask & MAY_NOT_BLOCK != 0 {
        // RCU walk: the inode may be evicted under us, and its node with it.
        // SAFETY: Our inode, in the walk's RCU read-side section.
        let word = unsafe { rcu_real(inode) }.load(Ordering::Acquire);
        if word == 0 {
            return ECHILD.to_errno();
        }
        let real = (word & !RCU_REAL_UPPER) as *mut bindings::inode;
        return from_result(|| {
            // SAFETY: The superblock outlives RCU walks on it; both inodes
            // are RCU-protected (see `rcu_real`) and only used so.
            let (s, i, r) = unsafe {
                (
                    SuperBlock::<T>::from_raw((*inode).i_sb),
                    Inode::from_raw(inode),
                    Inode::from_raw(real),
                )
            };
            T::permission_rcu(s, i, r, word & RCU_REAL_UPPER != 0, mask)?;
            Ok(0)
        });
    }
    from_result(|| {
        // SAFETY: A referenced inode of ours (ref-walk).
        let (s, node, i) = unsafe {
            (
                SuperBlock::<T>::from_raw((*inode).i_sb),
                node_of::<T>(inode),
                Inode::from_raw(inode),
            )
        };
        T::permission(s, node, i, mask)?;
        Ok(0)
    })
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn get_inode_acl_cb<T: Filesystem>(
    inode: *mut bindings::inode,
    acl_type: c_int,
    rcu: bool,
) -> *mut bindings::posix_acl {
    if rcu {
        return ECHILD.to_ptr();
    }
    // SAFETY: A referenced inode of ours (not RCU mode).
    let r = unsafe {
        T::get_acl(
            SuperBlock::<T>::from_raw((*inode).i_sb),
            node_of::<T>(inode),
            acl_type,
        )
    };
    match r {
        Ok(Some(acl)) => acl.into_raw(),
        Ok(None) => ptr::null_mut(),
        Err(e) => e.to_ptr(),
    }
}

/// `LOOKUP_RCU` of linux/namei.h.
const LOOKUP_RCU: c_uint = 0x0040;

/// `FILEID_INVALID`: no handle (or the buffer is too small).
const FILEID_INVALID: c_int = 0xff;

/// # Safety
///
/// Called by the export operations of `rust/shim.c` for a referenced rovl
/// inode, with `max_len` valid and `fid` writable for `*max_len` words.
#[no_mangle]
unsafe extern "C" fn rovl_rs_encode_fh(
    inode: *mut bindings::inode,
    fid: *mut u32,
    max_len: *mut c_int,
    parent: *mut bindings::inode,
) -> c_int {
    // No connectable handles (with the parent's), as overlayfs.
    if !parent.is_null() {
        return FILEID_INVALID;
    }
    // SAFETY: By the safety requirements.
    let words = usize::try_from(unsafe { *max_len }).unwrap_or(0);
    let mut empty = [];
    let buf = if words == 0 || fid.is_null() {
        &mut empty[..]
    } else {
        // SAFETY: By the safety requirements; nothing else uses `fid`
        // during the call.
        unsafe { core::slice::from_raw_parts_mut(fid.cast::<u8>(), words * 4) }
    };
    // SAFETY: A referenced inode of ours keeps its node alive.
    let (sb, node) = unsafe {
        (
            SuperBlock::<Fs>::from_raw((*inode).i_sb),
            node_of::<Fs>(inode),
        )
    };
    // SAFETY: As above.
    let inode = unsafe { Inode::from_raw(inode) };
    match Fs::encode_fh(sb, inode, node, buf) {
        Ok((fh_type, len)) => {
            // SAFETY: By the safety requirements.
            unsafe { *max_len = c_int::try_from(len / 4).unwrap_or(c_int::MAX) };
            if len > words * 4 {
                FILEID_INVALID
            } else {
                c_int::from(fh_type)
            }
        }
        Err(_) => FILEID_INVALID,
    }
}

/// # Safety
///
/// Called by the export operations of `rust/shim.c` for a live rovl
/// superblock, with `fid` readable for `fh_len` words.
#[no_mangle]
unsafe extern "C" fn rovl_rs_fh_to_dentry(
    sb: *mut bindings::super_block,
    fid: *mut c_void,
    fh_len: c_int,
    fh_type: c_int,
) -> *mut bindings::dentry {
    let words = usize::try_from(fh_len).unwrap_or(0);
    let mut empty = [];
    let buf: &[u8] = if words == 0 || fid.is_null() {
        &mut empty[..]
    } else {
        // SAFETY: By the safety requirements.
        unsafe { core::slice::from_raw_parts(fid.cast::<u8>(), words * 4) }
    };
    // SAFETY: By the safety requirements.
    let sb = unsafe { SuperBlock::<Fs>::from_raw(sb) };
    match Fs::fh_to_dentry(sb, buf, fh_type) {
        Ok(Some(d)) => ARef::into_raw(d).as_ptr().cast(),
        Ok(None) => Error::from_errno(ESTALE_ERRNO).to_ptr(),
        Err(e) => e.to_ptr(),
    }
}

/// # Safety
///
/// Called by the export operations of `rust/shim.c` for a live rovl
/// superblock.
#[no_mangle]
unsafe extern "C" fn rovl_rs_fh_to_parent(
    sb: *mut bindings::super_block,
    _fid: *mut c_void,
    _fh_len: c_int,
    _fh_type: c_int,
) -> *mut bindings::dentry {
    // SAFETY: By the safety requirements.
    let sb = unsafe { SuperBlock::<Fs>::from_raw(sb) };
    Fs::fh_to_parent(sb).to_ptr()
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn revalidate_cb<T: Filesystem>(
    dentry: *mut bindings::dentry,
    flags: c_uint,
) -> c_int {
    // SAFETY: As documented.
    unsafe { revalidate_common::<T>(dentry, flags, false) }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn weak_revalidate_cb<T: Filesystem>(
    dentry: *mut bindings::dentry,
    flags: c_uint,
) -> c_int {
    // SAFETY: As documented.
    unsafe { revalidate_common::<T>(dentry, flags, true) }
}

/// # Safety
///
/// `dentry` is a rovl dentry being revalidated by the VFS.
unsafe fn revalidate_common<T: Filesystem>(
    dentry: *mut bindings::dentry,
    flags: c_uint,
    weak: bool,
) -> c_int {
    // In RCU walk mode the inode and its node may go away under us.
    if flags & LOOKUP_RCU != 0 {
        return ECHILD.to_errno();
    }
    // SAFETY: A referenced dentry of ours (ref-walk).
    let inode = unsafe { (*dentry).d_inode };
    if inode.is_null() {
        return 1;
    }
    // SAFETY: A positive dentry of ours keeps its inode and node alive.
    let r = unsafe {
        T::revalidate(
            SuperBlock::<T>::from_raw((*inode).i_sb),
            node_of::<T>(inode),
            flags,
            weak,
        )
    };
    match r {
        Ok(true) => 1,
        Ok(false) => ESTALE_ERRNO,
        Err(e) => e.to_errno(),
    }
}

/// `-ESTALE`, which `kernel::error::code` lacks.
const ESTALE_ERRNO: c_int = -(bindings::ESTALE as c_int);

/// Runs a create-like operation and instantiates `dentry` with its inode.
///
/// # Safety
///
/// `dir` is a locked rovl directory and `dentry` a negative child of it.
unsafe fn create_common<T: Filesystem>(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    kind: NewKind<'_>,
) -> c_int {
    from_result(|| {
        // SAFETY: By the safety requirements.
        let (s, d) = unsafe {
            (
                SuperBlock::<T>::from_raw((*dir).i_sb),
                Dentry::from_raw(dentry),
            )
        };
        let link_inode = match &kind {
            NewKind::Link(old) => Some(old.inode().ok_or(ENOENT)?.as_ptr()),
            _ => None,
        };
        let parent = d.parent();
        let n = T::create(s, &parent, d, kind)?;
        let inode = match (n, link_inode) {
            (_, Some(i)) => {
                // SAFETY: The old inode is live; the new link holds a
                // reference; its link count follows the real inode's.
                unsafe {
                    bindings::ihold(i);
                    sync_attrs::<T>(Inode::from_raw(i), node_of::<T>(i));
                }
                i
            }
            // SAFETY: `s` is live and filled.
            (Some(n), None) => unsafe { new_inode(s, n)? },
            (None, None) => return Err(EIO),
        };
        // SAFETY: The inode's node is set (a new inode, or the old one's).
        d.set_revalidate_from(&mut T::real_dentries(unsafe { node_of::<T>(inode) }));
        // SAFETY: `dentry` is negative and its parent locked; `inode` has
        // a reference for it.
        unsafe { bindings::d_instantiate(dentry, inode) };
        Ok(0)
    })
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn create_cb<T: Filesystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    _excl: bool,
) -> c_int {
    // SAFETY: As documented.
    unsafe { create_common::<T>(dir, dentry, NewKind::File(mode)) }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn mkdir_cb<T: Filesystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
) -> c_int {
    // SAFETY: As documented.
    unsafe { create_common::<T>(dir, dentry, NewKind::Dir(mode)) }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn mknod_cb<T: Filesystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    rdev: bindings::dev_t,
) -> c_int {
    // SAFETY: As documented.
    unsafe { create_common::<T>(dir, dentry, NewKind::Node(mode, rdev)) }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn symlink_cb<T: Filesystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    target: *const c_char,
) -> c_int {
    // SAFETY: The VFS passes a NUL-terminated target.
    let target = unsafe { CStr::from_char_ptr(target) };
    // SAFETY: As documented.
    unsafe { create_common::<T>(dir, dentry, NewKind::Symlink(target)) }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn link_cb<T: Filesystem>(
    old: *mut bindings::dentry,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
) -> c_int {
    // SAFETY: The VFS holds `old` for the call.
    let old = unsafe { Dentry::from_raw(old) };
    // SAFETY: As documented.
    unsafe { create_common::<T>(dir, dentry, NewKind::Link(old)) }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn unlink_cb<T: Filesystem>(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
) -> c_int {
    // SAFETY: As documented.
    unsafe { remove_common::<T>(dir, dentry, false) }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn rmdir_cb<T: Filesystem>(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
) -> c_int {
    // SAFETY: As documented.
    unsafe { remove_common::<T>(dir, dentry, true) }
}

/// # Safety
///
/// `dir` is a locked rovl directory and `dentry` a positive child of it.
unsafe fn remove_common<T: Filesystem>(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    is_dir: bool,
) -> c_int {
    from_result(|| {
        // SAFETY: By the safety requirements.
        let (s, d) = unsafe {
            (
                SuperBlock::<T>::from_raw((*dir).i_sb),
                Dentry::from_raw(dentry),
            )
        };
        T::remove(s, &d.parent(), d, is_dir)?;
        Ok(0)
    })
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn rename_cb<T: Filesystem>(
    _idmap: *mut bindings::mnt_idmap,
    olddir: *mut bindings::inode,
    old: *mut bindings::dentry,
    _newdir: *mut bindings::inode,
    new: *mut bindings::dentry,
    flags: c_uint,
) -> c_int {
    from_result(|| {
        // SAFETY: The VFS holds both parents locked and both dentries.
        let (s, o, n) = unsafe {
            (
                SuperBlock::<T>::from_raw((*olddir).i_sb),
                Dentry::from_raw(old),
                Dentry::from_raw(new),
            )
        };
        T::rename(s, &o.parent(), o, &n.parent(), n, flags)?;
        Ok(0)
    })
}

/// The superblock, dentry and node of a positive rovl dentry.
///
/// # Safety
///
/// `dentry` must be a positive dentry of a `T` mount that stays live for
/// `'a`.
unsafe fn dentry_args<'a, T: Filesystem>(
    dentry: *mut bindings::dentry,
) -> (&'a SuperBlock<T>, &'a Dentry, &'a T::Node) {
    // SAFETY: By the safety requirements the inode and its node are ours
    // and live as long as the dentry.
    unsafe {
        let inode = (*dentry).d_inode;
        (
            SuperBlock::<T>::from_raw((*inode).i_sb),
            Dentry::from_raw(dentry),
            node_of::<T>(inode),
        )
    }
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn fileattr_get_cb<T: Filesystem>(
    dentry: *mut bindings::dentry,
    fa: *mut bindings::fileattr,
) -> c_int {
    from_result(|| {
        // SAFETY: The VFS passes a positive dentry of ours and the
        // fileattr of the call.
        let ((s, d, node), mut fa) =
            unsafe { (dentry_args::<T>(dentry), FileAttrArg::from_raw(fa)) };
        T::fileattr_get(s, d, node, &mut fa)?;
        Ok(0)
    })
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn fileattr_set_cb<T: Filesystem>(
    _idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    fa: *mut bindings::fileattr,
) -> c_int {
    from_result(|| {
        // SAFETY: As for `fileattr_get_cb`.
        let ((s, d, node), mut fa) =
            unsafe { (dentry_args::<T>(dentry), FileAttrArg::from_raw(fa)) };
        T::fileattr_set(s, d, node, &mut fa)?;
        Ok(0)
    })
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn fiemap_cb<T: Filesystem>(
    inode: *mut bindings::inode,
    fi: *mut bindings::fiemap_extent_info,
    start: u64,
    len: u64,
) -> c_int {
    from_result(|| {
        // SAFETY: The VFS maps extents of a live inode of ours.
        let (s, node) = unsafe {
            (
                SuperBlock::<T>::from_raw((*inode).i_sb),
                node_of::<T>(inode),
            )
        };
        // SAFETY: `fi` is the call's and outlives the `Fiemap`.
        let mut f = unsafe { Fiemap::from_raw(fi, start, len) };
        T::fiemap(s, node, &mut f)?;
        Ok(0)
    })
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn update_time_cb<T: Filesystem>(
    inode: *mut bindings::inode,
    flags: c_int,
) -> c_int {
    from_result(|| {
        // SAFETY: The VFS updates times of a live inode of ours.
        let (s, i, node) = unsafe {
            (
                SuperBlock::<T>::from_raw((*inode).i_sb),
                Inode::from_raw(inode),
                node_of::<T>(inode),
            )
        };
        T::update_time(s, i, node, flags)?;
        Ok(0)
    })
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn setattr_cb<T: Filesystem>(
    _idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    attr: *mut bindings::iattr,
) -> c_int {
    from_result(|| {
        // SAFETY: The VFS passes a positive dentry of ours, locked, and
        // its iattr.
        to_result(unsafe {
            bindings::setattr_prepare(&raw mut bindings::nop_mnt_idmap, dentry, attr)
        })?;
        // SAFETY: As above.
        let (s, d, inode, a) = unsafe {
            let inode = (*dentry).d_inode;
            (
                SuperBlock::<T>::from_raw((*inode).i_sb),
                Dentry::from_raw(dentry),
                inode,
                Iattr::from_raw(attr),
            )
        };
        // SAFETY: A positive dentry of ours keeps its inode and node.
        let node = unsafe { node_of::<T>(inode) };
        let size = (a.valid() & bindings::ATTR_SIZE != 0).then(|| a.size());
        if size.is_some() {
            // SAFETY: `inode` is live.
            unsafe { Inode::from_raw(inode) }.write_back_cached()?;
        }
        T::setattr(s, d, node, a)?;
        // SAFETY: `inode` is live.
        let i = unsafe { Inode::from_raw(inode) };
        sync_attrs::<T>(i, node);
        if let Some(size) = size {
            // Cached pages past the new end (and the one it cuts) go.
            i.invalidate_cached(size, i64::MAX - size);
        }
        Ok(0)
    })
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn set_acl_cb<T: Filesystem>(
    _idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    acl: *mut bindings::posix_acl,
    acl_type: c_int,
) -> c_int {
    from_result(|| {
        // SAFETY: The VFS passes a positive dentry of ours.
        let (s, d, inode) = unsafe {
            let inode = (*dentry).d_inode;
            (
                SuperBlock::<T>::from_raw((*inode).i_sb),
                Dentry::from_raw(dentry),
                inode,
            )
        };
        // SAFETY: A positive dentry of ours keeps its inode and node.
        let node = unsafe { node_of::<T>(inode) };
        T::set_acl(s, d, node, acl_type, AclArg(acl))?;
        // SAFETY: `inode` is live.
        sync_attrs::<T>(unsafe { Inode::from_raw(inode) }, node);
        Ok(0)
    })
}

/// `FMODE_OPENED` of linux/fs.h.
const FMODE_OPENED: u32 = 1 << 19;

/// `finish_open`'s open callback for a file whose real file is already
/// open (as `ovl_dummy_open`).
///
/// # Safety
///
/// Called by `finish_open` only.
unsafe extern "C" fn dummy_open(_inode: *mut bindings::inode, _file: *mut bindings::file) -> c_int {
    0
}

/// # Safety
///
/// Only called by the VFS through this module's operation tables, with the
/// arguments the C prototype documents, on objects of a rovl mount.
unsafe extern "C" fn tmpfile_cb<T: Filesystem>(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    file: *mut bindings::file,
    mode: bindings::umode_t,
) -> c_int {
    from_result(|| {
        // SAFETY: The VFS passes the file being opened, whose dentry is a
        // new unnamed child of the locked directory `dir`.
        let (s, f, d) = unsafe {
            (
                SuperBlock::<T>::from_raw((*dir).i_sb),
                File::from_raw(file),
                (*file).f_path.dentry,
            )
        };
        // SAFETY: As above.
        let parent = unsafe { Dentry::from_raw(d) }.parent();
        let (n, sf) = T::tmpfile(s, &parent, f, mode)?;
        // SAFETY: `s` is live and filled.
        let inode = unsafe { new_inode(s, n)? };
        // SAFETY: `d_tmpfile` takes the inode (with one link, which it
        // drops) for the file's dentry; `private_data` is ours until
        // release, which only runs once `finish_open` marked the file open.
        unsafe {
            bindings::set_nlink(inode, 1);
            bindings::d_tmpfile(file, inode);
            sf.into_private(file);
            let r = bindings::finish_open(file, d, Some(dummy_open));
            if (*file).f_mode & FMODE_OPENED == 0 {
                drop(StackedFile::from_private(file));
                (*file).private_data = ptr::null_mut();
            }
            to_result(r)?;
        }
        Ok(0)
    })
}
