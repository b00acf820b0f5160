// SPDX-License-Identifier: GPL-2.0

//! rovl's safe abstractions over the VFS.
//!
//! The 6.12 kernel crate has no filesystem abstractions, so rovl carries the
//! small set it needs. All `unsafe` code of the module lives here; the
//! filesystem logic in `fs/` is safe Rust on top of these types.

mod cred;
mod dentry;
mod ffi;
mod file;
mod super_block;
mod sync;
mod upper;

pub(crate) use cred::Cred;
pub(crate) use dentry::{
    Dentry, DentrySlot, Fiemap, Inode, Kstat, Mount, OwnedPath, PosixAcl, PrivateMount, RealPath,
    VerityDigest, VERITY_MAX_DIGEST,
};
pub(crate) use file::{
    CopyOp, DelayedCall, DirEmitter, File, Kstatfs, RealDir, SeqFile, StackedFile,
};
pub(crate) use super_block::{
    hash_by_key, magic_of, sb_nosec_of, sb_of, stack_depth_of, sync_attrs, AclArg,
    DentryOperations, ExportOperations, FileOperations, FileSystem, InodeOperations, NewKind,
    NewNode, Registration, SuperBlock, SuperOperations, XattrOperations, COPY_I_FLAGS,
};
pub(crate) use sync::SignalMutex;
pub(crate) use upper::{
    current_umask, CreateCreds, FileAttrArg, Iattr, InUse, Locked, NewAcls, WriteAccess,
    COPY_FS_FLAGS, PROT_FS_FLAGS,
};

/// Directory entry types, as `d_type` in `getdents64`.
pub(crate) const DT_CHR: u32 = 2;
pub(crate) const DT_REG: u32 = 8;

/// A snapshot of the module parameters (overlayfs's defaults).
#[derive(Clone, Copy)]
pub(crate) struct ModuleParams {
    pub(crate) redirect_dir: bool,
    pub(crate) redirect_always_follow: bool,
    pub(crate) xino_auto: bool,
    pub(crate) index: bool,
    pub(crate) nfs_export: bool,
    pub(crate) metacopy: bool,
    /// Also register the filesystem type as `overlay`.
    pub(crate) register_overlay: bool,
}

impl ModuleParams {
    pub(crate) fn read() -> Self {
        // SAFETY: The parameters are plain `bool`s that sysfs may rewrite at
        // any time; a volatile read gets one whole value, as overlayfs's
        // plain reads of its own parameters do.
        unsafe {
            Self {
                redirect_dir: core::ptr::read_volatile(&raw const ffi::rovl_param_redirect_dir),
                redirect_always_follow: core::ptr::read_volatile(
                    &raw const ffi::rovl_param_redirect_always_follow,
                ),
                xino_auto: core::ptr::read_volatile(&raw const ffi::rovl_param_xino_auto),
                index: core::ptr::read_volatile(&raw const ffi::rovl_param_index),
                nfs_export: core::ptr::read_volatile(&raw const ffi::rovl_param_nfs_export),
                metacopy: core::ptr::read_volatile(&raw const ffi::rovl_param_metacopy),
                register_overlay: core::ptr::read_volatile(
                    &raw const ffi::rovl_param_register_overlay,
                ),
            }
        }
    }
}

/// Why mount options are being parsed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Mount,
    /// A remount through the new mount API.
    Reconfigure,
    /// A remount through mount(2).
    ReconfigureOldApi,
}

/// The ratelimit state of one `pr_warn_ratelimited!` call site: the
/// kernel's `ratelimit_state` with its defaults (a burst of ten lines per
/// five seconds), set up by its first use.
///
/// # Invariants
///
/// Once `ready` reads [`Ratelimit::READY`], `rs` is initialised and only
/// used through `___ratelimit`, which takes its lock.
pub(crate) struct Ratelimit {
    rs: kernel::types::Opaque<kernel::bindings::ratelimit_state>,
    ready: core::sync::atomic::AtomicU8,
}

// SAFETY: The state is set up by one task (`ready`'s compare-exchange) and
// then only changed under its lock.
unsafe impl Sync for Ratelimit {}

impl Ratelimit {
    const UNINIT: u8 = 0;
    const SETTING_UP: u8 = 1;
    const READY: u8 = 2;

    pub(crate) const fn new() -> Self {
        Self {
            rs: kernel::types::Opaque::uninit(),
            ready: core::sync::atomic::AtomicU8::new(Self::UNINIT),
        }
    }

    /// Whether a line may be printed now (`__ratelimit`). Where it is
    /// missed, the state's next window logs "rovl: N callbacks suppressed".
    pub(crate) fn allow(&self) -> bool {
        use core::sync::atomic::Ordering;
        if self.ready.load(Ordering::Acquire) != Self::READY {
            if self
                .ready
                .compare_exchange(
                    Self::UNINIT,
                    Self::SETTING_UP,
                    Ordering::Acquire,
                    Ordering::Acquire,
                )
                .is_err()
            {
                // Another task is setting it up: print rather than wait.
                return true;
            }
            // SAFETY: This task alone won the state, which nothing uses yet.
            unsafe { ffi::rovl_ratelimit_default_init(self.rs.get()) };
            self.ready.store(Self::READY, Ordering::Release);
        }
        // SAFETY: `rs` is initialised (`ready` is `READY`, read with
        // acquire ordering or set by this task); the name is a C string.
        unsafe {
            kernel::bindings::___ratelimit(self.rs.get(), kernel::c_str!("rovl").as_char_ptr()) != 0
        }
    }
}

/// `pr_warn!` as `pr_warn_ratelimited`, with a limit per call site: for
/// what a lookup or copy-up finds on the layers, which a crafted layer can
/// make happen at will.
macro_rules! pr_warn_ratelimited {
    ($($arg:tt)*) => {{
        static RS: $crate::vfs::Ratelimit = $crate::vfs::Ratelimit::new();
        if RS.allow() {
            kernel::pr_warn!($($arg)*);
        }
    }};
}
pub(crate) use pr_warn_ratelimited;

/// Sorts `v` by `cmp` with the kernel's heapsort (`sort_r`), in place and
/// without allocating.
///
/// Core's slice sorts call `panic_on_ord_violation`, which the 6.12
/// objtool does not know to be `noreturn`: a function ending in that call
/// "falls through to next function" and fails objtool's checks.
pub(crate) fn sort_unstable_by<T, F>(v: &mut [T], mut cmp: F)
where
    F: FnMut(&T, &T) -> core::cmp::Ordering,
{
    /// # Safety
    ///
    /// `a` and `b` point to `T`s and `f` to an `F`, all live and not
    /// mutated for the call.
    unsafe extern "C" fn cmp_r<T, F>(
        a: *const kernel::ffi::c_void,
        b: *const kernel::ffi::c_void,
        f: *const kernel::ffi::c_void,
    ) -> kernel::ffi::c_int
    where
        F: FnMut(&T, &T) -> core::cmp::Ordering,
    {
        // SAFETY: By the safety requirements; `sort_r` calls back one at a
        // time, from the task that called it, so `f` is borrowed mutably
        // by this call alone.
        let (a, b, f) = unsafe {
            (
                &*a.cast::<T>(),
                &*b.cast::<T>(),
                &mut *f.cast_mut().cast::<F>(),
            )
        };
        f(a, b) as kernel::ffi::c_int
    }
    if v.len() < 2 || core::mem::size_of::<T>() == 0 {
        return;
    }
    // SAFETY: `v` is `v.len()` `T`s of `size_of::<T>()` bytes each, which
    // `sort_r` compares in place through `cmp_r` and swaps bytewise (a move
    // of each value, and values are not borrowed elsewhere while `v` is
    // borrowed mutably); `cmp` outlives the call.
    unsafe {
        ffi::sort_r(
            v.as_mut_ptr().cast(),
            v.len(),
            core::mem::size_of::<T>(),
            Some(cmp_r::<T, F>),
            None,
            (&raw mut cmp).cast_const().cast(),
        )
    };
}

/// `capable(CAP_SYS_ADMIN)` of the current task.
pub(crate) fn capable_sys_admin() -> bool {
    // SAFETY: No preconditions.
    unsafe { ffi::rovl_capable_sys_admin() }
}

/// `capable(CAP_DAC_READ_SEARCH)` of the current task: may it decode file
/// handles (open objects by handle).
pub(crate) fn capable_dac_read_search() -> bool {
    /// `CAP_DAC_READ_SEARCH` of linux/capability.h.
    const CAP_DAC_READ_SEARCH: i32 = 2;
    // SAFETY: No preconditions.
    unsafe { kernel::bindings::capable(CAP_DAC_READ_SEARCH) }
}

/// `ns_capable_noaudit(&init_user_ns, CAP_SYS_ADMIN)`: may the current
/// task see trusted xattrs.
pub(crate) fn capable_trusted_xattr() -> bool {
    // SAFETY: No preconditions.
    unsafe { ffi::rovl_ns_capable_noaudit_sys_admin() }
}

/// An anonymous device number (`get_anon_bdev`), freed on drop.
///
/// # Invariants
///
/// `dev` came from `get_anon_bdev` and is not freed yet.
pub(crate) struct AnonDev {
    dev: u32,
}

impl AnonDev {
    pub(crate) fn new() -> kernel::error::Result<Self> {
        let mut dev = 0;
        // SAFETY: `dev` is writable.
        kernel::error::to_result(unsafe { kernel::bindings::get_anon_bdev(&mut dev) })?;
        Ok(Self { dev })
    }

    pub(crate) fn dev(&self) -> u32 {
        self.dev
    }
}

impl Drop for AnonDev {
    fn drop(&mut self) {
        // SAFETY: By the type invariant.
        unsafe { kernel::bindings::free_anon_bdev(self.dev) };
    }
}

/// A value set at most once, then shared (a lock-free `OnceCell`).
///
/// # Invariants
///
/// `ptr` is NULL or came from `KBox::into_raw` and is owned by `self`.
pub(crate) struct SetOnce<T> {
    ptr: core::sync::atomic::AtomicPtr<T>,
}

// SAFETY: Owns a `T`, hands out `&T` only.
unsafe impl<T: Send + Sync> Send for SetOnce<T> {}
// SAFETY: As above.
unsafe impl<T: Send + Sync> Sync for SetOnce<T> {}

impl<T> SetOnce<T> {
    pub(crate) const fn new() -> Self {
        Self {
            ptr: core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()),
        }
    }

    pub(crate) fn get(&self) -> Option<&T> {
        let p = self.ptr.load(core::sync::atomic::Ordering::Acquire);
        // SAFETY: A non-NULL pointer is a live `KBox` owned by `self`, never
        // replaced once set.
        unsafe { p.as_ref() }
    }

    /// Sets the value unless another task did first; returns the value set.
    pub(crate) fn set(&self, v: kernel::alloc::KBox<T>) -> &T {
        use core::sync::atomic::Ordering;
        let new = kernel::alloc::KBox::into_raw(v);
        match self.ptr.compare_exchange(
            core::ptr::null_mut(),
            new,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: `new` is now owned by `self` and lives as long as it.
            Ok(_) => unsafe { &*new },
            Err(old) => {
                // SAFETY: We still own `new`; `old` is owned by `self`.
                unsafe {
                    drop(kernel::alloc::KBox::from_raw(new));
                    &*old
                }
            }
        }
    }
}

impl<T> Drop for SetOnce<T> {
    fn drop(&mut self) {
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: By the type invariant we own it.
            drop(unsafe { kernel::alloc::KBox::from_raw(p) });
        }
    }
}

/// Fills `buf` with random bytes (`get_random_bytes`).
pub(crate) fn random_bytes(buf: &mut [u8]) {
    // SAFETY: `buf` is writable for its length.
    unsafe { kernel::bindings::get_random_bytes(buf.as_mut_ptr().cast(), buf.len()) };
}

/// Turns a kernel errno constant from `bindings` into an [`kernel::error::Error`].
///
/// `from_err_ptr` with the `IS_ERR` test inline rather than a call to its C
/// helper, for calls made once per layer of a lookup.
#[inline]
pub(crate) fn from_err_ptr_inline<T>(ptr: *mut T) -> kernel::error::Result<*mut T> {
    let v = ptr as isize;
    if (-(kernel::bindings::MAX_ERRNO as isize)..0).contains(&v) {
        Err(kernel::error::Error::from_errno(v as i32))
    } else {
        Ok(ptr)
    }
}

/// Whether the current task was sent a fatal signal: long loops give up.
pub(crate) fn fatal_signal_pending() -> bool {
    // SAFETY: Reads the current task's signal state, which is always valid.
    unsafe { ffi::rovl_fatal_signal_pending() }
}

/// The 6.12 kernel crate lacks ENODATA, EOPNOTSUPP and friends in
/// `kernel::error::code`.
pub(crate) fn errno(e: u32) -> kernel::error::Error {
    kernel::error::Error::from_errno(-(e as i32))
}
