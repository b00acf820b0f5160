// SPDX-License-Identifier: GPL-2.0

//! Dentries, inodes, mounts and paths of the real (layer) filesystems.

use super::ffi;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::bindings;
use kernel::error::{from_err_ptr, to_result, Result};
use kernel::str::CStr;
use kernel::types::{ARef, AlwaysRefCounted, Opaque};

/// A dentry's name as `printk` prints it ([`Dentry::printed_name`]).
pub(crate) struct PrintedName {
    buf: [u8; PrintedName::SIZE],
    len: usize,
}

impl PrintedName {
    /// Two names and a `/` (`%pd2`), and the NUL.
    const SIZE: usize = 2 * bindings::NAME_MAX as usize + 2;
}

impl core::ops::Deref for PrintedName {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// A `struct dentry`.
///
/// # Invariants
///
/// The object is a live dentry; references are counted by `dget`/`dput`.
#[repr(transparent)]
pub(crate) struct Dentry(Opaque<bindings::dentry>);

// SAFETY: Dentries are refcounted and protected by the dcache's own locking.
unsafe impl Send for Dentry {}
// SAFETY: As above.
unsafe impl Sync for Dentry {}

// SAFETY: `dget`/`dput` keep the dentry alive while a count is held.
unsafe impl AlwaysRefCounted for Dentry {
    fn inc_ref(&self) {
        // SAFETY: `self` is live by the type invariant.
        unsafe { ffi::rovl_dget(self.0.get()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives up one reference it owns.
        unsafe { bindings::dput(obj.cast().as_ptr()) };
    }
}

impl Dentry {
    /// # Safety
    ///
    /// `ptr` must point to a live dentry that outlives `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::dentry) -> &'a Self {
        // SAFETY: `Dentry` is transparent over `bindings::dentry`.
        unsafe { &*ptr.cast() }
    }

    /// Takes over one reference to `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be a live dentry and the caller must own one reference.
    unsafe fn from_owned(ptr: NonNull<bindings::dentry>) -> ARef<Self> {
        // SAFETY: By the safety requirements.
        unsafe { ARef::from_raw(ptr.cast()) }
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::dentry {
        self.0.get()
    }

    /// The inode, or `None` for a negative dentry.
    pub(crate) fn inode(&self) -> Option<&Inode> {
        // SAFETY: `d_inode` of a referenced dentry only changes from NULL to
        // an inode under the parent's lock (d_instantiate); a positive
        // dentry we hold stays positive until dput, except on unlink, which
        // the layers' owner must not do under a mount (as overlayfs).
        let inode = unsafe { (*self.0.get()).d_inode };
        // SAFETY: The inode lives as long as the positive dentry.
        NonNull::new(inode).map(|p| unsafe { Inode::from_raw(p.as_ptr()) })
    }

    fn flags(&self) -> u32 {
        // SAFETY: `d_flags` of a live dentry; a racy read of the type bits
        // is what the C `d_is_*()` helpers do too.
        unsafe { core::ptr::read_volatile(&(*self.0.get()).d_flags) }
    }

    /// A directory that can be looked up in (`d_can_lookup`).
    pub(crate) fn can_lookup(&self) -> bool {
        self.flags() & DCACHE_ENTRY_TYPE == DCACHE_DIRECTORY_TYPE
    }

    /// A regular file (`d_is_reg`).
    pub(crate) fn is_reg(&self) -> bool {
        self.flags() & DCACHE_ENTRY_TYPE == DCACHE_REGULAR_TYPE
    }

    /// What overlayfs refuses to stack on (`ovl_dentry_weird`): automount
    /// points, lookupless directories and names with their own hash or
    /// compare (case-insensitive filesystems).
    pub(crate) fn is_weird(&self) -> bool {
        let t = self.flags() & DCACHE_ENTRY_TYPE;
        let plain = matches!(
            t,
            DCACHE_DIRECTORY_TYPE | DCACHE_REGULAR_TYPE | DCACHE_SPECIAL_TYPE | DCACHE_SYMLINK_TYPE
        );
        !plain || self.flags() & DCACHE_WEIRD != 0
    }

    /// Whether the filesystem asks for (weak) revalidation of this dentry.
    pub(crate) fn needs_revalidate(&self, weak: bool) -> bool {
        self.flags()
            & if weak {
                DCACHE_OP_WEAK_REVALIDATE
            } else {
                DCACHE_OP_REVALIDATE
            }
            != 0
    }

    /// Revalidates this real dentry with its filesystem (`->d_revalidate()`
    /// or `->d_weak_revalidate()`): `Ok(false)` when it is stale, after
    /// invalidating it.
    pub(crate) fn revalidate(&self, flags: u32, weak: bool) -> Result<bool> {
        if !self.needs_revalidate(weak) {
            return Ok(true);
        }
        // SAFETY: The flag says `d_op` is set with the matching operation;
        // `self` is a live, referenced dentry (not RCU mode: callers
        // return `-ECHILD` there).
        let r = unsafe {
            let ops = &*(*self.0.get()).d_op;
            let op = if weak {
                ops.d_weak_revalidate
            } else {
                ops.d_revalidate
            };
            match op {
                Some(f) => f(self.0.get(), flags),
                None => 1,
            }
        };
        to_result(r.min(0))?;
        if r == 0 && !weak {
            // SAFETY: `self` is live and referenced.
            unsafe { bindings::d_invalidate(self.0.get()) };
            return Ok(false);
        }
        Ok(true)
    }

    /// Keeps this rovl dentry's revalidate flags only where the real
    /// dentries have them (`ovl_dentry_init_flags`), so local layers pay
    /// nothing.
    pub(crate) fn set_revalidate_from(&self, real: &mut dyn Iterator<Item = &Dentry>) {
        let flags = real.fold(0, |f, d| f | d.flags());
        // SAFETY: `self` is live; the helper takes `d_lock`.
        unsafe { ffi::rovl_dentry_set_reval(self.0.get(), flags) };
    }

    /// The superblock this dentry lives on.
    pub(crate) fn sb_ptr(&self) -> *const bindings::super_block {
        // SAFETY: `d_sb` never changes for a live dentry.
        unsafe { (*self.0.get()).d_sb }
    }

    /// Whether file handles of this dentry's filesystem decode: 0 no, 1 as
    /// generic 32-bit inode numbers (`FILEID_INO32_GEN`), -1 in their own
    /// format (`ovl_can_decode_fh`).
    pub(crate) fn sb_can_decode_fh(&self) -> i32 {
        // SAFETY: `d_sb` of a live dentry is a live superblock.
        unsafe { ffi::rovl_can_decode_fh((*self.0.get()).d_sb) }
    }

    /// Whether `self` is `other` or below it (`is_subdir`).
    pub(crate) fn is_subdir_of(&self, other: &Dentry) -> bool {
        // SAFETY: Both dentries are live.
        unsafe { bindings::is_subdir(self.0.get(), other.0.get()) }
    }

    /// The UUID of this dentry's filesystem (`s_uuid`).
    pub(crate) fn sb_uuid(&self) -> [u8; 16] {
        // SAFETY: `d_sb` of a live dentry is a live superblock; `s_uuid` is
        // set at mount.
        unsafe { (*(*self.0.get()).d_sb).s_uuid.b }
    }

    /// Whether `self` and `other` are the same dentry.
    pub(crate) fn same(&self, other: &Dentry) -> bool {
        core::ptr::eq(self, other)
    }

    /// Whether `self` is positive and its inode is `inode`.
    pub(crate) fn has_inode(&self, inode: &Inode) -> bool {
        self.inode().is_some_and(|i| i.id() == inode.id())
    }

    /// Whether `self` and `other` are positive and name the same inode
    /// (`ovl_matches_upper`).
    pub(crate) fn same_inode(&self, other: &Dentry) -> bool {
        match (self.inode(), other.inode()) {
            (Some(x), Some(y)) => x.id() == y.id(),
            _ => false,
        }
    }

    /// The parent dentry (the dentry itself for a root).
    pub(crate) fn parent(&self) -> ARef<Dentry> {
        // SAFETY: `dget_parent` returns a referenced, live dentry.
        let p = unsafe { bindings::dget_parent(self.0.get()) };
        // SAFETY: `dget_parent` never returns NULL and gave us a reference.
        unsafe { Self::from_owned(NonNull::new_unchecked(p)) }
    }

    /// The name as `printk`'s `%pd` (`parents` 0) or `%pd2` (1) prints it:
    /// the last one or two components of the path, taken safely whatever
    /// renames happen meanwhile. For messages that read as overlayfs's.
    pub(crate) fn printed_name(&self, parents: u32) -> PrintedName {
        let fmt = if parents > 0 {
            kernel::c_str!("%pd2")
        } else {
            kernel::c_str!("%pd")
        };
        let mut p = PrintedName {
            buf: [0; PrintedName::SIZE],
            len: 0,
        };
        // SAFETY: `buf` has `SIZE` bytes; `%pd` reads the names of a live
        // dentry and its parent under RCU; `scnprintf` returns how many
        // bytes it stored before the NUL, less than `SIZE`.
        let n = unsafe {
            bindings::scnprintf(
                p.buf.as_mut_ptr().cast(),
                PrintedName::SIZE,
                fmt.as_char_ptr(),
                self.0.get(),
            )
        };
        p.len = usize::try_from(n).unwrap_or(0).min(PrintedName::SIZE - 1);
        p
    }

    /// The entry's name; only stable while the parent is locked or the entry
    /// is otherwise pinned (as in `->lookup()`).
    pub(crate) fn name(&self) -> &[u8] {
        // SAFETY: `d_name` holds `len` bytes at `name`, valid per the doc comment.
        unsafe {
            let q = &(*self.0.get()).d_name;
            core::slice::from_raw_parts(q.name, q.__bindgen_anon_1.__bindgen_anon_1.len as usize)
        }
    }

    /// Looks `name` up in this directory (`lookup_one_unlocked`): a negative
    /// dentry when it does not exist.
    pub(crate) fn lookup_one(&self, mnt: &Mount, name: &[u8]) -> Result<ARef<Dentry>> {
        let len = i32::try_from(name.len()).map_err(|_| super::errno(bindings::ENAMETOOLONG))?;
        // SAFETY: `self` is a live directory dentry of `mnt`; `name` is valid
        // for `len` bytes; the function takes the locks it needs.
        let d = unsafe { ffi::lookup_one_unlocked(mnt.idmap(), name.as_ptr(), self.0.get(), len) };
        let d = super::from_err_ptr_inline(d)?;
        // SAFETY: Success returns a referenced, non-NULL dentry.
        Ok(unsafe { Self::from_owned(NonNull::new_unchecked(d)) })
    }

    /// Whether this dentry was decoded from a file handle and not yet
    /// connected to its parents (`DCACHE_DISCONNECTED`).
    pub(crate) fn is_disconnected(&self) -> bool {
        self.flags() & DCACHE_DISCONNECTED != 0
    }

    /// Calls `f` with a copy of the name that stays valid whatever renames
    /// happen meanwhile (`take_dentry_name_snapshot`).
    pub(crate) fn with_name_snapshot<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let mut snap = core::mem::MaybeUninit::<bindings::name_snapshot>::uninit();
        // SAFETY: `self` is live; `snap` is writable and stays in place
        // (it may point into itself) until it is released below.
        unsafe { bindings::take_dentry_name_snapshot(snap.as_mut_ptr(), self.0.get()) };
        // SAFETY: The snapshot was taken above: its name is `len` bytes
        // that live until it is released.
        let name = unsafe {
            let q = &(*snap.as_ptr()).name;
            core::slice::from_raw_parts(q.name, q.__bindgen_anon_1.__bindgen_anon_1.len as usize)
        };
        let r = f(name);
        // SAFETY: Taken above and not released yet; `name` is not used
        // after this.
        unsafe { bindings::release_dentry_name_snapshot(snap.as_mut_ptr()) };
        r
    }

    /// Looks `name` up in this directory of a stacked filesystem itself,
    /// with its own operations and no idmapping (`lookup_one_len`), under
    /// the directory's lock that `lock` holds.
    pub(crate) fn lookup_locked(&self, lock: &InodeLock<'_>, name: &[u8]) -> Result<ARef<Dentry>> {
        if !self.inode().is_some_and(|i| core::ptr::eq(i, lock.0)) {
            return Err(kernel::error::code::EINVAL);
        }
        let len = i32::try_from(name.len()).map_err(|_| super::errno(bindings::ENAMETOOLONG))?;
        // SAFETY: `self` is live and its inode locked by `lock` (checked);
        // `name` is valid for `len` bytes.
        let d = unsafe {
            ffi::lookup_one(
                &raw mut bindings::nop_mnt_idmap,
                name.as_ptr(),
                self.0.get(),
                len,
            )
        };
        let d = from_err_ptr(d)?;
        // SAFETY: Success returns a referenced, non-NULL dentry.
        Ok(unsafe { Self::from_owned(NonNull::new_unchecked(d)) })
    }

    /// The child `name` of this directory if the dcache has it
    /// (`d_hash_and_lookup`): never calls into the filesystem.
    pub(crate) fn lookup_cached(&self, name: &[u8]) -> Option<ARef<Dentry>> {
        // SAFETY: All-zero is a valid `qstr`; name and length are set below.
        let mut q: bindings::qstr = unsafe { core::mem::MaybeUninit::zeroed().assume_init() };
        q.name = name.as_ptr();
        q.__bindgen_anon_1.__bindgen_anon_1.len = u32::try_from(name.len()).ok()?;
        // SAFETY: `self` is live; `q` points to `name`, valid for the call;
        // the function computes the hash itself.
        let d = unsafe { bindings::d_hash_and_lookup(self.0.get(), &mut q) };
        let d = from_err_ptr(d).ok()?;
        // SAFETY: A non-NULL result is a new reference.
        NonNull::new(d).map(|p| unsafe { Self::from_owned(p) })
    }

    /// Reads xattr `name` into `buf`, returning its length; an empty `buf`
    /// asks for the length only.
    pub(crate) fn getxattr(&self, mnt: &Mount, name: &CStr, buf: &mut [u8]) -> Result<usize> {
        // SAFETY: `self` is a live dentry of `mnt`; `buf` is writable for its
        // length, and NULL with size 0 asks for the size.
        let r = unsafe {
            ffi::vfs_getxattr(
                mnt.idmap(),
                self.0.get(),
                name.as_char_ptr(),
                buf_ptr(buf).cast(),
                buf.len(),
            )
        };
        isize_result(r)
    }

    /// Lists xattr names into `buf` (`vfs_listxattr`); an empty `buf` asks
    /// for the length only.
    pub(crate) fn listxattr(&self, buf: &mut [u8]) -> Result<usize> {
        // SAFETY: As for `getxattr`.
        let r = unsafe { ffi::vfs_listxattr(self.0.get(), buf_ptr(buf), buf.len()) };
        isize_result(r)
    }

    /// Follows this symlink (`vfs_get_link`); the result lives until `done` runs.
    pub(crate) fn get_link(&self, done: &super::DelayedCall) -> Result<*const u8> {
        // SAFETY: `self` is live and `done` wraps the caller's delayed_call.
        let p = unsafe { bindings::vfs_get_link(self.0.get(), done.as_ptr()) };
        Ok(from_err_ptr(p.cast_mut())?.cast_const())
    }
}

impl Dentry {
    /// The target of this real symlink, copied.
    pub(crate) fn read_link(&self) -> Result<kernel::alloc::KVec<u8>> {
        super::DelayedCall::with(|done| {
            let p = self.get_link(done)?;
            // SAFETY: `vfs_get_link` returns a NUL-terminated string that
            // lives until `done` runs, after this closure.
            let s = unsafe { CStr::from_char_ptr(p.cast()) };
            let mut v = kernel::alloc::KVec::new();
            v.extend_from_slice(s.as_bytes_with_nul(), kernel::alloc::flags::GFP_KERNEL)?;
            Ok(v)
        })
    }
}

fn buf_ptr(buf: &mut [u8]) -> *mut u8 {
    if buf.is_empty() {
        core::ptr::null_mut()
    } else {
        buf.as_mut_ptr()
    }
}

fn isize_result(r: isize) -> Result<usize> {
    if r < 0 {
        Err(kernel::error::Error::from_errno(r as i32))
    } else {
        Ok(r as usize)
    }
}

// Dentry flags of linux/dcache.h (`BIT()` macros bindgen skips).
const DCACHE_OP_HASH: u32 = 1 << 0;
const DCACHE_OP_COMPARE: u32 = 1 << 1;
const DCACHE_OP_REVALIDATE: u32 = 1 << 2;
const DCACHE_OP_WEAK_REVALIDATE: u32 = 1 << 11;
const DCACHE_DISCONNECTED: u32 = 1 << 5;
const DCACHE_NEED_AUTOMOUNT: u32 = 1 << 17;
const DCACHE_MANAGE_TRANSIT: u32 = 1 << 18;
const DCACHE_WEIRD: u32 =
    DCACHE_NEED_AUTOMOUNT | DCACHE_MANAGE_TRANSIT | DCACHE_OP_HASH | DCACHE_OP_COMPARE;
const DCACHE_ENTRY_TYPE: u32 = 7 << 20;
const DCACHE_DIRECTORY_TYPE: u32 = 2 << 20;
const DCACHE_REGULAR_TYPE: u32 = 4 << 20;
const DCACHE_SPECIAL_TYPE: u32 = 5 << 20;
const DCACHE_SYMLINK_TYPE: u32 = 6 << 20;

/// A `struct inode`.
///
/// # Invariants
///
/// The object is a live inode for the lifetime of any reference to it.
#[repr(transparent)]
pub(crate) struct Inode(Opaque<bindings::inode>);

/// The extent map request of a `->fiemap()` call (`FS_IOC_FIEMAP`).
///
/// # Invariants
///
/// `fi` is the live `fiemap_extent_info` of the call in progress.
pub(crate) struct Fiemap {
    fi: *mut bindings::fiemap_extent_info,
    start: u64,
    len: u64,
}

impl Fiemap {
    /// # Safety
    ///
    /// `fi` must be the request of a `->fiemap()` call in progress, and the
    /// value must not outlive it.
    pub(crate) unsafe fn from_raw(
        fi: *mut bindings::fiemap_extent_info,
        start: u64,
        len: u64,
    ) -> Self {
        Self { fi, start, len }
    }

    /// Answers the request from the real inode `real` (its filesystem's
    /// `->fiemap()`; `EOPNOTSUPP` where it has none).
    pub(crate) fn forward(&mut self, real: &Inode) -> Result {
        // SAFETY: `real` is live; its `i_op` is a static table; `fi` is
        // valid by the type invariant.
        unsafe {
            match (*(*real.as_ptr()).i_op).fiemap {
                None => Err(kernel::error::Error::from_errno(
                    -(bindings::EOPNOTSUPP as i32),
                )),
                Some(f) => to_result(f(real.as_ptr(), self.fi, self.start, self.len)),
            }
        }
    }
}

/// The write lock of an inode's `i_rwsem` (`inode_lock`).
///
/// # Invariants
///
/// The inode is locked by this guard.
pub(crate) struct InodeLock<'a>(&'a Inode);

impl Drop for InodeLock<'_> {
    fn drop(&mut self) {
        // SAFETY: Locked by this guard (type invariant).
        unsafe { ffi::rovl_inode_unlock(self.0 .0.get()) };
    }
}

// SAFETY: Inodes are shared kernel objects with their own locking.
unsafe impl Send for Inode {}
// SAFETY: As above.
unsafe impl Sync for Inode {}

/// The largest fs-verity digest (`FS_VERITY_MAX_DIGEST_SIZE`).
pub(crate) const VERITY_MAX_DIGEST: usize = 64;

/// An fs-verity file digest (`fsverity_get_digest`).
pub(crate) struct VerityDigest {
    /// The algorithm (`FS_VERITY_HASH_ALG_*`).
    pub(crate) alg: u8,
    /// How many bytes of `bytes` are the digest.
    pub(crate) len: usize,
    pub(crate) bytes: [u8; VERITY_MAX_DIGEST],
}

impl VerityDigest {
    /// The digest bytes.
    pub(crate) fn digest(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Inode {
    /// Some dentry of this inode (`d_find_any_alias`).
    pub(crate) fn any_alias(&self) -> Option<ARef<Dentry>> {
        // SAFETY: `self` is live; a non-NULL result is a new reference.
        let d = unsafe { bindings::d_find_any_alias(self.0.get()) };
        // SAFETY: As above.
        NonNull::new(d).map(|p| unsafe { Dentry::from_owned(p) })
    }

    /// Takes the inode's `i_rwsem` for writing until the guard drops.
    pub(crate) fn lock(&self) -> InodeLock<'_> {
        // SAFETY: `self` is live.
        unsafe { ffi::rovl_inode_lock(self.0.get()) };
        // INVARIANT: Locked just above.
        InodeLock(self)
    }

    /// Whether writes need not look for set-id bits or security xattrs to
    /// drop (`IS_NOSEC`).
    pub(crate) fn is_nosec(&self) -> bool {
        // SAFETY: A racy read of `i_flags`, as `IS_NOSEC()` in C.
        let flags = unsafe { core::ptr::read_volatile(&(*self.0.get()).i_flags) };
        flags & bindings::S_NOSEC != 0
    }

    /// As `lock`, if the lock is free now (`inode_trylock`).
    pub(crate) fn try_lock(&self) -> Option<InodeLock<'_>> {
        // SAFETY: `self` is live.
        let locked = unsafe { ffi::rovl_inode_trylock(self.0.get()) };
        // INVARIANT: Locked where `locked` says so. (`then_some` would
        // build the guard, and drop it, unlocking, when not locked.)
        if locked {
            Some(InodeLock(self))
        } else {
            None
        }
    }

    /// Drops the pages this inode's own mapping caches for bytes
    /// `pos..pos + len`, unmapping them first, so the next fault reads them
    /// again: only files mapped from a lower layer have such pages.
    /// Writes this inode's dirty own pages (stores through a shared
    /// mapping of them) back to the upper file, so the real file has them
    /// before it is read, written or synced.
    pub(crate) fn write_back_cached(&self) -> Result {
        // SAFETY: `self` is live; `i_data` is its own mapping.
        to_result(unsafe { ffi::rovl_write_back_cached(&raw mut (*self.0.get()).i_data) })
    }

    /// The inode's page cache (`i_mapping`).
    pub(crate) fn mapping_ptr(&self) -> *mut bindings::address_space {
        // SAFETY: `i_mapping` of a live inode is set for its life.
        unsafe { (*self.0.get()).i_mapping }
    }

    /// Whether this inode caches pages of its own or some mapping uses them.
    pub(crate) fn has_own_pages(&self) -> bool {
        // SAFETY: A racy read of `nrpages`, as `mapping_empty()` in C.
        let n = unsafe { core::ptr::read_volatile(&(*self.0.get()).i_data.nrpages) };
        n > 0 || self.own_pages_mapped()
    }

    /// Whether some mapping uses this inode's own pages.
    pub(crate) fn own_pages_mapped(&self) -> bool {
        // SAFETY: As above.
        unsafe { ffi::rovl_mapping_mapped(&raw mut (*self.0.get()).i_data) }
    }

    /// Sets the flags of `mask` (`S_APPEND`, ...) to those of `flags`.
    pub(crate) fn set_flags(&self, flags: u32, mask: u32) {
        // SAFETY: `self` is live; `inode_set_flags` updates atomically.
        unsafe { bindings::inode_set_flags(self.0.get(), flags & mask, mask) };
    }

    /// Takes the access time of `real` (after `touch_atime` there).
    pub(crate) fn copy_atime_from(&self, real: &Inode) {
        // SAFETY: As for `copy_attr_from`.
        unsafe {
            let (d, s) = (&mut *self.0.get(), &*real.0.get());
            d.i_atime_sec = s.i_atime_sec;
            d.i_atime_nsec = s.i_atime_nsec;
        }
    }

    pub(crate) fn invalidate_cached(&self, pos: i64, len: i64) {
        if len <= 0 || pos < 0 {
            return;
        }
        // SAFETY: `self` is live; `i_data` is its own mapping.
        unsafe {
            let mapping = &raw mut (*self.0.get()).i_data;
            if (*mapping).nrpages == 0 {
                return;
            }
            let first = (pos as u64) >> bindings::PAGE_SHIFT;
            let last = (pos as u64).saturating_add(len as u64 - 1) >> bindings::PAGE_SHIFT;
            // Clean pages (these never are dirty) always go: nothing to
            // report.
            let _ = ffi::invalidate_inode_pages2_range(mapping, first as _, last as _);
        }
    }

    /// # Safety
    ///
    /// `ptr` must point to a live inode that outlives `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::inode) -> &'a Self {
        // SAFETY: `Inode` is transparent over `bindings::inode`.
        unsafe { &*ptr.cast() }
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::inode {
        self.0.get()
    }

    /// The inode's identity (its address), to compare inodes.
    pub(crate) fn id(&self) -> usize {
        self.0.get() as usize
    }

    pub(crate) fn mode(&self) -> u16 {
        // SAFETY: The file type bits of `i_mode` never change.
        unsafe { (*self.0.get()).i_mode }
    }

    pub(crate) fn ino(&self) -> u64 {
        // SAFETY: `i_ino` is set before the inode is visible and never changes.
        unsafe { (*self.0.get()).i_ino as u64 }
    }

    /// The inode flags (`i_flags`: `S_APPEND`, `S_IMMUTABLE`, ...).
    pub(crate) fn flags(&self) -> u32 {
        // SAFETY: A racy read of `i_flags`, as `IS_APPEND()` in C.
        unsafe { core::ptr::read_volatile(&(*self.0.get()).i_flags) }
    }

    /// Whether fs-verity's data of this inode is loaded (`fsverity_active`):
    /// it is from the first open of a verity file on.
    pub(crate) fn fsverity_active(&self) -> bool {
        // The helper's acquire load of `i_verity_info` pairs with its publication.
        // SAFETY: `self` is live.
        unsafe { ffi::rovl_fsverity_active(self.0.get()) }
    }

    /// The fs-verity digest of this inode and its `FS_VERITY_HASH_ALG_*`
    /// number, or `None` where it has none loaded (`fsverity_get_digest`).
    pub(crate) fn fsverity_digest(&self) -> Option<VerityDigest> {
        let mut d = VerityDigest {
            alg: 0,
            len: 0,
            bytes: [0; VERITY_MAX_DIGEST],
        };
        // The shim checks at build time that `bytes` has the callee's
        // `FS_VERITY_MAX_DIGEST_SIZE`.
        // SAFETY: `self` is live, `bytes` and `alg` are writable for that.
        let n = unsafe {
            ffi::rovl_fsverity_get_digest(self.0.get(), d.bytes.as_mut_ptr(), &mut d.alg)
        };
        d.len = usize::try_from(n)
            .ok()
            .filter(|&n| n > 0 && n <= VERITY_MAX_DIGEST)?;
        Some(d)
    }

    /// Whether a hashed dentry other than `d` names this inode.
    pub(crate) fn has_other_alias(&self, d: &Dentry) -> bool {
        // SAFETY: Both are live; the helper walks `i_dentry` under `i_lock`.
        unsafe { ffi::rovl_inode_has_other_alias(self.0.get(), d.as_ptr()) }
    }

    pub(crate) fn nlink(&self) -> u32 {
        // SAFETY: A racy read of `i_nlink`, as `d_inode(x)->i_nlink` in C.
        unsafe { core::ptr::read_volatile(&(*self.0.get()).__bindgen_anon_1.i_nlink) }
    }

    pub(crate) fn rdev(&self) -> u32 {
        // SAFETY: `i_rdev` never changes for a live inode.
        unsafe { (*self.0.get()).i_rdev }
    }

    pub(crate) fn size(&self) -> i64 {
        // SAFETY: `self` is live; `i_size_read` is the safe way to read it.
        unsafe { ffi::rovl_i_size_read(self.0.get()) }
    }

    pub(crate) fn is_dir(&self) -> bool {
        u32::from(self.mode()) & bindings::S_IFMT == bindings::S_IFDIR
    }

    /// A whiteout: a character device with device number 0/0.
    pub(crate) fn is_whiteout(&self) -> bool {
        u32::from(self.mode()) & bindings::S_IFMT == bindings::S_IFCHR && self.rdev() == 0
    }

    /// Copies the attributes overlayfs mirrors from a real inode
    /// (`ovl_copyattr`): owner, mode, size, link count and times.
    pub(crate) fn copy_attr_from(&self, real: &Inode) {
        self.copy_attr_but_nlink_from(real);
        self.set_nlink(real.nlink());
    }

    /// Sets the link count (`set_nlink`): a stacked inode may count links
    /// its real inode does not have (an inodes index's union count).
    pub(crate) fn set_nlink(&self, nlink: u32) {
        // SAFETY: `self` is live; `set_nlink` updates a plain field and the
        // superblock's orphan count.
        unsafe { bindings::set_nlink(self.0.get(), nlink) };
    }

    /// As `copy_attr_from`, keeping the link count: writes do not change
    /// it, and it may not be the real inode's.
    pub(crate) fn copy_attr_but_nlink_from(&self, real: &Inode) {
        // SAFETY: Both inodes are live; these are plain fields that
        // overlayfs also copies without the inode lock.
        unsafe {
            let (d, s) = (&mut *self.0.get(), &*real.0.get());
            d.i_uid = s.i_uid;
            d.i_gid = s.i_gid;
            d.i_mode = s.i_mode;
            d.i_atime_sec = s.i_atime_sec;
            d.i_atime_nsec = s.i_atime_nsec;
            d.i_mtime_sec = s.i_mtime_sec;
            d.i_mtime_nsec = s.i_mtime_nsec;
            d.i_ctime_sec = s.i_ctime_sec;
            d.i_ctime_nsec = s.i_ctime_nsec;
            d.i_size = ffi::rovl_i_size_read(s);
            d.i_blocks = s.i_blocks;
        }
    }

    /// The inode's filesystem enforces POSIX ACLs (`IS_POSIXACL`).
    pub(crate) fn is_posixacl(&self) -> bool {
        // SAFETY: `i_sb` of a live inode is a live superblock.
        unsafe { (*(*self.0.get()).i_sb).s_flags & (1 << 16) != 0 }
    }

    /// Whether the current task may keep this inode's set-group-ID bit
    /// when changing its mode: it is in the inode's group or has
    /// `CAP_FSETID` over it (`in_group_or_capable` without an idmap).
    pub(crate) fn in_group_or_capable_fsetid(&self) -> bool {
        // SAFETY: `self` is live; `nop_mnt_idmap` is a static.
        unsafe {
            bindings::in_group_p((*self.0.get()).i_gid) != 0
                || bindings::capable_wrt_inode_uidgid(
                    &raw mut bindings::nop_mnt_idmap,
                    self.0.get(),
                    bindings::CAP_FSETID as i32,
                )
        }
    }

    /// `generic_permission` of this inode for the current credentials.
    pub(crate) fn generic_permission(&self, mask: i32) -> Result {
        // SAFETY: `self` is live; `nop_mnt_idmap` is a static.
        to_result(unsafe {
            bindings::generic_permission(&raw mut bindings::nop_mnt_idmap, self.0.get(), mask)
        })
    }

    /// `inode_permission` of this real inode, seen through `mnt`.
    pub(crate) fn permission(&self, mnt: &Mount, mask: i32) -> Result {
        // SAFETY: `self` is a live inode on `mnt`.
        to_result(unsafe { bindings::inode_permission(mnt.idmap(), self.0.get(), mask) })
    }

    /// `inode_permission` of this real inode on a mount without an idmap.
    pub(crate) fn permission_unmapped(&self, mask: i32) -> Result {
        // SAFETY: `self` is live (or RCU-protected, with `MAY_NOT_BLOCK` in
        // `mask`); `nop_mnt_idmap` is a static.
        to_result(unsafe {
            bindings::inode_permission(&raw mut bindings::nop_mnt_idmap, self.0.get(), mask)
        })
    }

    /// The POSIX ACL of `acl_type` of this real inode (`get_inode_acl`).
    pub(crate) fn get_acl(&self, acl_type: i32) -> Result<Option<PosixAcl>> {
        // SAFETY: `self` is live; the result is NULL, an error, or a new
        // reference to an ACL.
        let p = from_err_ptr(unsafe { ffi::get_inode_acl(self.0.get(), acl_type) })?;
        // INVARIANT: We own the reference `get_inode_acl` returned.
        Ok(NonNull::new(p).map(|acl| PosixAcl { acl }))
    }

    /// Copies access and change times only, after reads touch the real inode.
    pub(crate) fn copy_times_from(&self, real: &Inode) {
        // SAFETY: As for `copy_attr_from`.
        unsafe {
            let (d, s) = (&mut *self.0.get(), &*real.0.get());
            d.i_atime_sec = s.i_atime_sec;
            d.i_atime_nsec = s.i_atime_nsec;
            d.i_mtime_sec = s.i_mtime_sec;
            d.i_mtime_nsec = s.i_mtime_nsec;
            d.i_ctime_sec = s.i_ctime_sec;
            d.i_ctime_nsec = s.i_ctime_nsec;
        }
    }
}

/// A referenced `struct posix_acl`.
///
/// # Invariants
///
/// `acl` holds one reference.
pub(crate) struct PosixAcl {
    pub(super) acl: NonNull<bindings::posix_acl>,
}

impl PosixAcl {
    pub(crate) fn as_ptr(&self) -> *mut bindings::posix_acl {
        self.acl.as_ptr()
    }

    /// Hands the reference to the caller (the VFS, from `->get_inode_acl()`).
    pub(crate) fn into_raw(self) -> *mut bindings::posix_acl {
        let p = self.acl.as_ptr();
        core::mem::forget(self);
        p
    }
}

impl Drop for PosixAcl {
    fn drop(&mut self) {
        // SAFETY: We own one reference; `posix_acl_release` is a static
        // inline, so drop it the way it does.
        unsafe { ffi::rovl_posix_acl_release(self.acl.as_ptr()) };
    }
}

/// A mounted filesystem, `struct vfsmount`.
///
/// # Invariants
///
/// The object is a live vfsmount while a reference to it exists.
#[repr(transparent)]
pub(crate) struct Mount(Opaque<bindings::vfsmount>);

// SAFETY: vfsmounts are refcounted kernel objects.
unsafe impl Send for Mount {}
// SAFETY: As above.
unsafe impl Sync for Mount {}

impl Mount {
    pub(crate) fn as_ptr(&self) -> *mut bindings::vfsmount {
        self.0.get()
    }

    /// The mount's idmapping, for calls into the real filesystem: the
    /// acquire load of `mnt_idmap()`, done here as a lookup through many
    /// layers takes it once per layer.
    pub(crate) fn idmap(&self) -> *mut bindings::mnt_idmap {
        // SAFETY: `self` is a live vfsmount; `mnt_idmap` is only ever
        // published with a release store, as `mnt_idmap()` expects.
        let field = unsafe { AtomicPtr::from_ptr(&raw mut (*self.0.get()).mnt_idmap) };
        field.load(Ordering::Acquire)
    }

    /// Whether the mount maps ids (an idmapped mount).
    pub(crate) fn is_idmapped(&self) -> bool {
        !core::ptr::eq(self.idmap(), &raw mut bindings::nop_mnt_idmap)
    }

    /// The root dentry of the mount.
    pub(crate) fn root(&self) -> &Dentry {
        // SAFETY: `mnt_root` is pinned for the life of the mount.
        unsafe { Dentry::from_raw((*self.0.get()).mnt_root) }
    }
}

/// A private clone of a layer's mount (`clone_private_mount`), as overlayfs
/// holds its layers: immune to later changes of the caller's namespace.
///
/// # Invariants
///
/// `mnt` holds the long-term reference `clone_private_mount` returned.
pub(crate) struct PrivateMount {
    mnt: NonNull<Mount>,
}

// SAFETY: The reference can be dropped from any task.
unsafe impl Send for PrivateMount {}
// SAFETY: Only shared access to the mount is handed out.
unsafe impl Sync for PrivateMount {}

impl PrivateMount {
    /// Clones the mount of `path`; the clone's root is `path.dentry`.
    pub(crate) fn clone_of(path: &OwnedPath) -> Result<Self> {
        // SAFETY: `path.raw` is a referenced, valid path.
        let m = from_err_ptr(unsafe { ffi::clone_private_mount(&path.raw) })?;
        // INVARIANT: Success returns a new long-term reference.
        Ok(Self {
            // SAFETY: Success never returns NULL.
            mnt: unsafe { NonNull::new_unchecked(m.cast()) },
        })
    }
}

impl PrivateMount {
    /// Makes a lower layer's clone read-only and `noatime` (`ovl_get_layers`):
    /// a stray `fchmod` fails instead of changing the layer, and reads do
    /// not dirty it.
    pub(crate) fn make_lower(&self) {
        // SAFETY: The clone is private to this mount and not yet in use;
        // `mnt_flags` is a plain field.
        unsafe {
            (*self.as_ptr()).mnt_flags |= (bindings::MNT_READONLY | bindings::MNT_NOATIME) as i32
        };
    }

    /// The writeback error sequence of the layer's filesystem now
    /// (`errseq_sample` of `s_wb_err`).
    pub(crate) fn wb_err_sample(&self) -> u32 {
        // SAFETY: A live mount's superblock is live.
        unsafe { bindings::errseq_sample(&raw mut (*(*self.as_ptr()).mnt_sb).s_wb_err) }
    }

    /// The writeback error the layer's filesystem saw since `since`, if any
    /// (`errseq_check`).
    pub(crate) fn wb_err_since(&self, since: u32) -> Result {
        // SAFETY: As above.
        to_result(unsafe {
            bindings::errseq_check(&raw mut (*(*self.as_ptr()).mnt_sb).s_wb_err, since)
        })
    }

    /// `sync_filesystem` of the layer's filesystem, under its `s_umount`
    /// read lock as `syncfs(2)` takes it.
    pub(crate) fn sync_filesystem(&self) -> Result {
        // SAFETY: As above; the lock is released before returning.
        unsafe {
            let sb = (*self.as_ptr()).mnt_sb;
            bindings::down_read(&raw mut (*sb).s_umount);
            let r = bindings::sync_filesystem(sb);
            bindings::up_read(&raw mut (*sb).s_umount);
            to_result(r)
        }
    }

    /// Drops the atime flags the upper layer's clone inherited
    /// (`ovl_get_upper`): rovl's own mount options apply.
    pub(crate) fn make_upper(&self) {
        // SAFETY: As for `make_lower`.
        unsafe {
            (*self.as_ptr()).mnt_flags &= !((bindings::MNT_NOATIME
                | bindings::MNT_NODIRATIME
                | bindings::MNT_RELATIME) as i32)
        };
    }
}

impl core::ops::Deref for PrivateMount {
    type Target = Mount;
    fn deref(&self) -> &Mount {
        // SAFETY: The mount is live while we hold our reference.
        unsafe { self.mnt.as_ref() }
    }
}

impl Drop for PrivateMount {
    fn drop(&mut self) {
        // SAFETY: We own the long-term reference; `kern_unmount` drops it.
        unsafe { ffi::kern_unmount(self.mnt.as_ptr().cast()) };
    }
}

/// `AT_GETATTR_NOSEC` of uapi/linux/fcntl.h.
const AT_GETATTR_NOSEC: u32 = 0x8000_0000;

// Lookup flags of linux/namei.h, not in `bindings`.
const LOOKUP_FOLLOW: u32 = 0x0001;
const LOOKUP_NO_SYMLINKS: u32 = 0x01_0000;
const LOOKUP_NO_XDEV: u32 = 0x04_0000;
const LOOKUP_BENEATH: u32 = 0x08_0000;

/// A `struct path` holding references to its mount and dentry.
///
/// # Invariants
///
/// `raw` holds one reference on both `mnt` and `dentry`.
pub(crate) struct OwnedPath {
    raw: bindings::path,
}

// SAFETY: Path references may be dropped from any task.
unsafe impl Send for OwnedPath {}

impl OwnedPath {
    /// Resolves `name` in the caller's namespace (`kern_path`), following
    /// symlinks.
    pub(crate) fn lookup(name: &CStr) -> Result<Self> {
        let mut raw = bindings::path {
            mnt: core::ptr::null_mut(),
            dentry: core::ptr::null_mut(),
        };
        // SAFETY: `name` is NUL-terminated and `raw` is writable.
        to_result(unsafe { ffi::kern_path(name.as_char_ptr(), LOOKUP_FOLLOW, &mut raw) })?;
        // INVARIANT: Success fills `raw` with referenced mnt and dentry.
        Ok(Self { raw })
    }

    pub(crate) fn dentry(&self) -> &Dentry {
        // SAFETY: We hold a reference on the dentry.
        unsafe { Dentry::from_raw(self.raw.dentry) }
    }

    /// Whether the path's mount is read-only (`__mnt_is_readonly`).
    pub(crate) fn is_readonly(&self) -> bool {
        // SAFETY: We hold a reference on the mount.
        unsafe { bindings::__mnt_is_readonly(self.raw.mnt) }
    }

    /// Whether both paths are on the same mount.
    pub(crate) fn same_mount(&self, other: &OwnedPath) -> bool {
        self.raw.mnt == other.raw.mnt
    }
}

impl Drop for OwnedPath {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own these references.
        unsafe { bindings::path_put(&self.raw) };
    }
}

/// A borrowed path into a layer: a mount and a dentry on it.
pub(crate) struct RealPath<'a> {
    pub(crate) mnt: &'a Mount,
    pub(crate) dentry: &'a Dentry,
}

impl RealPath<'_> {
    pub(crate) fn raw(&self) -> bindings::path {
        bindings::path {
            mnt: self.mnt.as_ptr(),
            dentry: self.dentry.as_ptr(),
        }
    }

    /// Resolves `name` below this path without leaving it, following no
    /// symlinks and crossing no mounts (`vfs_path_lookup` with
    /// `LOOKUP_BENEATH | LOOKUP_NO_SYMLINKS | LOOKUP_NO_XDEV`).
    pub(crate) fn lookup_beneath(&self, name: &[u8]) -> Result<OwnedPath> {
        let mut c =
            kernel::alloc::KVec::with_capacity(name.len() + 1, kernel::alloc::flags::GFP_KERNEL)?;
        c.extend_from_slice(name, kernel::alloc::flags::GFP_KERNEL)?;
        c.push(0, kernel::alloc::flags::GFP_KERNEL)?;
        let mut raw = bindings::path {
            mnt: core::ptr::null_mut(),
            dentry: core::ptr::null_mut(),
        };
        // SAFETY: `self` borrows a live mount and dentry; `c` is
        // NUL-terminated; `raw` is writable.
        to_result(unsafe {
            ffi::vfs_path_lookup(
                self.dentry.as_ptr(),
                self.mnt.as_ptr(),
                c.as_ptr(),
                LOOKUP_NO_SYMLINKS | LOOKUP_NO_XDEV | LOOKUP_BENEATH,
                &mut raw,
            )
        })?;
        // INVARIANT: Success fills `raw` with referenced mnt and dentry.
        Ok(OwnedPath { raw })
    }

    /// `vfs_getattr` of the real path; `vfs_getattr_nosec` when the caller
    /// already skipped the LSM check (`AT_GETATTR_NOSEC`, as overlayfs).
    pub(crate) fn getattr(&self, stat: &mut Kstat, mask: u32, flags: u32) -> Result {
        let raw = self.raw();
        // SAFETY: `raw` is valid while the borrows live; `stat` is writable.
        to_result(unsafe {
            if flags & AT_GETATTR_NOSEC != 0 {
                bindings::vfs_getattr_nosec(&raw, stat.as_ptr(), mask, flags)
            } else {
                bindings::vfs_getattr(&raw, stat.as_ptr(), mask, flags)
            }
        })
    }

    /// Updates the access time of the object (`touch_atime`), as the
    /// filesystem's `atime` options say.
    pub(crate) fn touch_atime(&self) {
        let raw = self.raw();
        // SAFETY: `raw` is valid while the borrows live.
        unsafe { bindings::touch_atime(&raw) };
    }

    /// The longest name the filesystem of this path takes (`f_namelen`).
    pub(crate) fn namelen(&self) -> Result<usize> {
        let raw = self.raw();
        // SAFETY: `raw` is valid while the borrows live.
        let r = unsafe { ffi::rovl_path_namelen(&raw) };
        isize_result(r as isize)
    }

    /// `vfs_statfs` of the real path.
    pub(crate) fn statfs(&self, buf: &mut super::Kstatfs) -> Result {
        let raw = self.raw();
        // SAFETY: `raw` is valid while the borrows live; `buf` is writable.
        to_result(unsafe { bindings::vfs_statfs(&raw, buf.as_ptr()) })
    }
}

/// A `struct kstat` being filled by `->getattr()`.
#[repr(transparent)]
pub(crate) struct Kstat(Opaque<bindings::kstat>);

impl Kstat {
    /// # Safety
    ///
    /// `ptr` must be valid for writes and not aliased for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::kstat) -> &'a mut Self {
        // SAFETY: `Kstat` is transparent over `bindings::kstat`.
        unsafe { &mut *ptr.cast() }
    }

    fn as_ptr(&mut self) -> *mut bindings::kstat {
        self.0.get()
    }

    pub(super) fn raw(&mut self) -> &mut bindings::kstat {
        // SAFETY: We have exclusive access by the `from_raw` contract.
        unsafe { &mut *self.0.get() }
    }

    pub(crate) fn set_dev(&mut self, dev: u32) {
        self.raw().dev = dev;
    }

    pub(crate) fn ino(&mut self) -> u64 {
        self.raw().ino
    }

    pub(crate) fn set_ino(&mut self, ino: u64) {
        self.raw().ino = ino;
    }

    pub(crate) fn size(&mut self) -> i64 {
        self.raw().size
    }

    pub(crate) fn blksize(&mut self) -> u32 {
        self.raw().blksize
    }

    pub(crate) fn blocks(&mut self) -> u64 {
        self.raw().blocks
    }

    pub(crate) fn set_blocks(&mut self, blocks: u64) {
        self.raw().blocks = blocks;
    }

    /// A zeroed kstat for a nested getattr.
    pub(crate) fn new_zeroed() -> Self {
        Self(Opaque::new(
            // SAFETY: All-zero is a valid `struct kstat`.
            unsafe { core::mem::MaybeUninit::zeroed().assume_init() },
        ))
    }

    pub(crate) fn set_nlink(&mut self, nlink: u32) {
        self.raw().nlink = nlink;
    }
}

/// At most one referenced dentry, taken out and put back whole
/// (overlayfs's `ofs->whiteout`).
///
/// # Invariants
///
/// `ptr` is NULL or a dentry whose reference `self` owns.
pub(crate) struct DentrySlot {
    ptr: AtomicPtr<Dentry>,
}

impl DentrySlot {
    pub(crate) const fn new() -> Self {
        Self {
            ptr: AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    /// Takes the dentry out, if there is one.
    pub(crate) fn take(&self) -> Option<ARef<Dentry>> {
        let p = NonNull::new(self.ptr.swap(core::ptr::null_mut(), Ordering::AcqRel))?;
        // SAFETY: By the type invariant we owned this reference; the swap
        // handed it to us alone.
        Some(unsafe { ARef::from_raw(p) })
    }

    /// Puts `d` in, dropping the reference to one put in meanwhile.
    pub(crate) fn put(&self, d: ARef<Dentry>) {
        let old = self.ptr.swap(ARef::into_raw(d).as_ptr(), Ordering::AcqRel);
        if let Some(p) = NonNull::new(old) {
            // SAFETY: By the type invariant we owned that reference.
            drop(unsafe { ARef::from_raw(p) });
        }
    }
}

impl Drop for DentrySlot {
    fn drop(&mut self) {
        drop(self.take());
    }
}
