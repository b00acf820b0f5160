// SPDX-License-Identifier: GPL-2.0

//! Open files: real files of the layers and the stacked rovl files over them.

use super::{ffi, Cred, Inode, RealPath};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};
use kernel::alloc::{flags::GFP_KERNEL, KBox};
use kernel::bindings;
use kernel::error::{code::EAGAIN, from_err_ptr, to_result, Result};
use kernel::str::CStr;
use kernel::types::{ARef, AlwaysRefCounted, Opaque};

/// A `struct file`.
///
/// # Invariants
///
/// The object is a live file; references are counted by `get_file`/`fput`.
#[repr(transparent)]
pub(crate) struct File(Opaque<bindings::file>);

// SAFETY: Files are refcounted and may be used from any task.
unsafe impl Send for File {}
// SAFETY: As above.
unsafe impl Sync for File {}

// SAFETY: `get_file`/`fput` keep the file alive while a count is held.
unsafe impl AlwaysRefCounted for File {
    fn inc_ref(&self) {
        // SAFETY: `self` is live by the type invariant.
        unsafe { ffi::rovl_get_file(self.0.get()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives up one reference it owns.
        unsafe { bindings::fput(obj.cast().as_ptr()) };
    }
}

impl File {
    /// # Safety
    ///
    /// `ptr` must point to a live file that outlives `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::file) -> &'a Self {
        // SAFETY: `File` is transparent over `bindings::file`.
        unsafe { &*ptr.cast() }
    }

    /// # Safety
    ///
    /// `ptr` must be a live file and the caller must own one reference.
    unsafe fn from_owned(ptr: *mut bindings::file) -> ARef<Self> {
        // SAFETY: By the safety requirements (non-NULL as live).
        unsafe { ARef::from_raw(NonNull::new_unchecked(ptr.cast())) }
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.0.get()
    }

    pub(crate) fn flags(&self) -> u32 {
        // SAFETY: `f_flags` is readable on a live file.
        unsafe { (*self.0.get()).f_flags }
    }

    pub(crate) fn inode(&self) -> &Inode {
        // SAFETY: `f_inode` is pinned for the life of the file.
        unsafe { Inode::from_raw((*self.0.get()).f_inode) }
    }

    /// Whether the file takes `IOCB_NOWAIT` requests (`FMODE_NOWAIT`).
    pub(crate) fn can_nowait(&self) -> bool {
        // SAFETY: `f_mode` is readable on a live file.
        let mode = unsafe { (*self.0.get()).f_mode };
        mode & FMODE_NOWAIT != 0
    }

    /// Whether buffered writes to the file can be nonblocking
    /// (`FOP_BUFFER_WASYNC`).
    pub(crate) fn buffered_writes_nowait(&self) -> bool {
        // SAFETY: `f_op` of a live file is a static table.
        unsafe { (*(*self.0.get()).f_op).fop_flags & FOP_BUFFER_WASYNC != 0 }
    }

    /// Lets the file take `IOCB_NOWAIT` requests (`FMODE_NOWAIT`): only
    /// while it is being opened.
    pub(crate) fn set_nowait(&self) {
        // SAFETY: An opening file is not shared yet.
        unsafe { (*self.0.get()).f_mode |= FMODE_NOWAIT };
    }

    /// The credentials the file was opened with (`f_cred`).
    pub(crate) fn cred(&self) -> &Cred {
        // SAFETY: `f_cred` holds a reference for the life of the file.
        unsafe { Cred::from_raw((*self.0.get()).f_cred) }
    }

    /// Opens a real directory for reading, under `cred` (`dentry_open`).
    pub(crate) fn open_dir(path: &RealPath<'_>, cred: &Cred) -> Result<ARef<File>> {
        let raw = path.raw();
        let flags = (bindings::O_RDONLY | bindings::O_DIRECTORY | bindings::O_LARGEFILE) as i32;
        // SAFETY: `raw` is a valid path and `cred` is live.
        let f = from_err_ptr(unsafe { bindings::dentry_open(&raw, flags, cred.as_ptr()) })?;
        // SAFETY: `dentry_open` returned a new reference.
        Ok(unsafe { Self::from_owned(f) })
    }

    /// Opens a real file with `flags` under `cred` (`dentry_open`), for
    /// copy-up.
    pub(crate) fn open_path(path: &RealPath<'_>, flags: u32, cred: &Cred) -> Result<ARef<File>> {
        let raw = path.raw();
        let flags = (flags | bindings::O_LARGEFILE) as i32;
        // SAFETY: `raw` is a valid path and `cred` is live.
        let f = from_err_ptr(unsafe { bindings::dentry_open(&raw, flags, cred.as_ptr()) })?;
        // SAFETY: `dentry_open` returned a new reference.
        Ok(unsafe { Self::from_owned(f) })
    }

    /// An unnamed regular file of `mode` in the directory `dir`, open for
    /// writing (`kernel_tmpfile_open`).
    pub(crate) fn open_tmpfile_in(
        dir: &RealPath<'_>,
        mode: u16,
        cred: &Cred,
    ) -> Result<ARef<File>> {
        let raw = dir.raw();
        let flags = (bindings::O_LARGEFILE | bindings::O_WRONLY) as i32;
        // SAFETY: `raw` is a valid path of a directory and `cred` is live.
        let f = from_err_ptr(unsafe {
            bindings::kernel_tmpfile_open(dir.mnt.idmap(), &raw, mode, flags, cred.as_ptr())
        })?;
        // SAFETY: `kernel_tmpfile_open` returned a new reference.
        Ok(unsafe { Self::from_owned(f) })
    }

    /// `vfs_llseek` of this (private) file.
    pub(crate) fn seek(&self, offset: i64, whence: u32) -> Result<i64> {
        // SAFETY: `self` is live.
        let r = unsafe { bindings::vfs_llseek(self.0.get(), offset, whence as i32) };
        if r < 0 {
            Err(kernel::error::Error::from_errno(r as i32))
        } else {
            Ok(r)
        }
    }

    /// Copies `len` bytes at `pos` of `self` to the same offset of `out`
    /// (`do_splice_direct`); returns how many were copied.
    pub(crate) fn splice_to(&self, out: &File, pos: i64, len: usize) -> Result<usize> {
        let (mut ipos, mut opos) = (pos, pos);
        // SAFETY: Both files are live and open for reading and writing
        // respectively; the positions are ours.
        let r = unsafe {
            ffi::do_splice_direct(self.0.get(), &mut ipos, out.0.get(), &mut opos, len, 0)
        };
        if r < 0 {
            Err(kernel::error::Error::from_errno(r as i32))
        } else {
            Ok(r as usize)
        }
    }

    /// Shares `len` bytes from offset 0 with `out` (`vfs_clone_file_range`):
    /// a reflink where both are on one filesystem that can.
    pub(crate) fn clone_to(&self, out: &File, len: i64) -> Result<i64> {
        // SAFETY: Both files are live.
        let r = unsafe { bindings::vfs_clone_file_range(self.0.get(), 0, out.0.get(), 0, len, 0) };
        if r < 0 {
            Err(kernel::error::Error::from_errno(r as i32))
        } else {
            Ok(r)
        }
    }

    /// `vfs_fsync` of the whole file.
    pub(crate) fn fsync(&self) -> Result {
        // SAFETY: `self` is live.
        to_result(unsafe { bindings::vfs_fsync(self.0.get(), 0) })
    }

    /// `vfs_fsync_range` of this file: bytes `start..=end`, data only with
    /// `datasync`.
    pub(crate) fn fsync_range(&self, start: i64, end: i64, datasync: bool) -> Result {
        // SAFETY: `self` is live.
        to_result(unsafe {
            bindings::vfs_fsync_range(self.0.get(), start, end, kernel::ffi::c_int::from(datasync))
        })
    }

    /// Reads a whole directory (`iterate_dir`), calling `f(name, ino, d_type)`
    /// for each entry in the filesystem's order.
    pub(crate) fn read_dir(&self, f: &mut dyn FnMut(&[u8], u64, u32) -> Result) -> Result {
        #[repr(C)]
        struct Collect<'a> {
            ctx: bindings::dir_context,
            f: &'a mut dyn FnMut(&[u8], u64, u32) -> Result,
            err: Result,
        }

        /// # Safety
        ///
        /// `filldir_t` actor of `read_dir`: `ctx` is the context passed to `iterate_dir` there.
        unsafe extern "C" fn actor(
            ctx: *mut bindings::dir_context,
            name: *const kernel::ffi::c_char,
            len: kernel::ffi::c_int,
            _off: bindings::loff_t,
            ino: u64,
            d_type: kernel::ffi::c_uint,
        ) -> bool {
            // SAFETY: `ctx` is the first field of the `Collect` passed to
            // `iterate_dir` below, which outlives the call.
            let c = unsafe { &mut *ctx.cast::<Collect<'_>>() };
            // SAFETY: The filesystem passes `len` valid bytes at `name`.
            let name = unsafe { core::slice::from_raw_parts(name, len as usize) };
            match (c.f)(name, ino, d_type) {
                Ok(()) => true,
                Err(e) => {
                    c.err = Err(e);
                    false
                }
            }
        }

        let mut c = Collect {
            ctx: bindings::dir_context {
                actor: Some(actor),
                pos: 0,
            },
            f,
            err: Ok(()),
        };
        loop {
            let pos = c.ctx.pos;
            // SAFETY: `self` is an open directory and `c.ctx` stays valid for
            // the call; `actor` only sees `c` through it.
            to_result(unsafe { bindings::iterate_dir(self.as_ptr(), &mut c.ctx) })?;
            c.err?;
            if c.ctx.pos == pos {
                return Ok(());
            }
        }
    }
}

/// The `f_flags` that `fcntl(F_SETFL)` may change on a rovl file and that
/// its real file must follow (`OVL_SETFL_MASK`).
const SETFL_MASK: u32 =
    bindings::O_APPEND | bindings::O_NONBLOCK | bindings::O_NDELAY | bindings::O_DIRECT;

/// `IOCB_DSYNC` and `IOCB_SYNC` of linux/fs.h (casts of `RWF_*`, which
/// bindgen skips).
const IOCB_SYNC_FLAGS: i32 = 0x2 | 0x4;

/// The private data of an open rovl regular file: the real file it stacks on.
///
/// A file opened while its data was only on a lower layer switches to the
/// upper file at its first operation after a copy-up, and keeps that one:
/// overlayfs opens a temporary real file for every such call instead.
///
/// The value is the file's `private_data` word itself, so an open rovl file
/// allocates nothing of its own (as in overlayfs 6.12): a tagged pointer,
/// which names a boxed [`Pair`] only for the files that need two objects.
///
/// # Invariants
///
/// The word is one of:
/// - untagged, a backing file (`backing_file_open`) of a lower object that
///   has not been switched from, one reference to which the word owns;
/// - [`SETTLED`] and a backing file of the upper object, owned likewise;
/// - [`PAIRED`] and a `KBox<Pair>` from `KBox::into_raw`, owned likewise.
///
/// It changes at most once, from the first form to the last
/// ([`StackedFile::switch`]), and everything it named stays live until the
/// value is dropped. Operations run under the `f_cred` of the first real
/// file (an upper file is opened with them too) unless a [`Held::Cred`]
/// says otherwise.
#[repr(transparent)]
pub(crate) struct StackedFile(AtomicUsize);

/// What a [`StackedFile`] holds besides its first real file.
enum Held {
    /// The upper file that a file opened on a lower layer switched to.
    Upper(ARef<File>),
    /// The credentials operations run under, where the real file was not
    /// opened with them (an `O_TMPFILE` file, created as its opener).
    Cred(ARef<Cred>),
}

/// The objects of a [`StackedFile`] that holds more than one.
struct Pair {
    real: ARef<File>,
    held: Held,
}

impl Pair {
    fn latest(&self) -> &File {
        match &self.held {
            Held::Upper(upper) => upper,
            Held::Cred(_) => &self.real,
        }
    }
}

/// The tag of a [`StackedFile`] whose real file is the upper one for good
/// (files, credentials and boxes are at least 8-byte aligned).
const SETTLED: usize = 1;

/// The tag of a [`StackedFile`] that names a [`Pair`].
const PAIRED: usize = 2;

const TAGS: usize = SETTLED | PAIRED;

/// What a [`StackedFile`] names now.
enum State<'a> {
    /// A lower file that may still switch to an upper one.
    Lower(&'a File),
    Settled(&'a File),
    Paired(&'a Pair),
}

/// `FMODE_NOWAIT` of linux/fs.h (a `__force` cast bindgen skips).
const FMODE_NOWAIT: u32 = 1 << 27;

/// `FOP_BUFFER_WASYNC` of linux/fs.h (a `__force` cast bindgen skips).
pub(crate) const FOP_BUFFER_WASYNC: u32 = 1 << 1;

/// `IOCB_NOWAIT` of linux/fs.h (`RWF_NOWAIT`, a cast bindgen skips).
pub(crate) const IOCB_NOWAIT: i32 = 0x8;

impl Drop for StackedFile {
    fn drop(&mut self) {
        let w = *self.0.get_mut();
        if w & PAIRED != 0 {
            // SAFETY: By the type invariant the word owns the box.
            drop(unsafe { KBox::from_raw((w & !TAGS) as *mut Pair) });
        } else {
            // SAFETY: By the type invariant the word owns one reference.
            unsafe { bindings::fput((w & !TAGS) as *mut bindings::file) };
        }
    }
}

/// The credentials of a stacked file, in force until dropped.
struct Override(*const bindings::cred);

impl Override {
    fn new(cred: &Cred) -> Self {
        // SAFETY: `cred` is live and outlives the override (it is held by
        // the stacked file that makes this guard).
        Self(unsafe { bindings::override_creds(cred.as_ptr()) })
    }
}

impl Drop for Override {
    fn drop(&mut self) {
        // SAFETY: Restores what `override_creds` returned, in this task.
        unsafe { bindings::revert_creds(self.0) };
    }
}

impl StackedFile {
    /// Opens the real file at `path` for the rovl file `user`, with `user`'s
    /// open flags less those that only matter at creation; `upper` says
    /// `path` is on the upper layer.
    pub(crate) fn open(
        user: &File,
        path: &RealPath<'_>,
        upper: bool,
        cred: &ARef<Cred>,
    ) -> Result<Self> {
        let real = ARef::into_raw(Self::open_real(user, path, cred)?).as_ptr() as usize;
        debug_assert_eq!(real & TAGS, 0);
        let tag = if upper { SETTLED } else { 0 };
        // INVARIANT: The word takes the new reference, tagged by layer.
        Ok(Self(AtomicUsize::new(real | tag)))
    }

    fn paired(pair: KBox<Pair>) -> usize {
        let p = KBox::into_raw(pair) as usize;
        debug_assert_eq!(p & TAGS, 0);
        p | PAIRED
    }

    fn state(&self) -> State<'_> {
        let w = self.0.load(Ordering::Acquire);
        let p = w & !TAGS;
        // SAFETY: By the type invariant the word names a live file or pair
        // of its tag, which lives as long as `self`.
        unsafe {
            match w & TAGS {
                0 => State::Lower(File::from_raw(p as *mut bindings::file)),
                SETTLED => State::Settled(File::from_raw(p as *mut bindings::file)),
                _ => State::Paired(&*(p as *const Pair)),
            }
        }
    }

    /// Stores `self` as the private data of the rovl file `file`.
    ///
    /// # Safety
    ///
    /// `file` must be a rovl regular file being opened, whose `private_data`
    /// is then this module's until [`StackedFile::from_private`].
    pub(crate) unsafe fn into_private(self, file: *mut bindings::file) {
        let w = core::mem::ManuallyDrop::new(self).0.load(Ordering::Relaxed);
        // SAFETY: By the safety requirements; the word moves there whole.
        unsafe { (*file).private_data = w as *mut core::ffi::c_void };
    }

    /// The stacked file in the private data of `file`.
    ///
    /// # Safety
    ///
    /// `file` must be a rovl file whose private data
    /// [`StackedFile::into_private`] stored and that stays open for `'a`.
    pub(crate) unsafe fn of<'a>(file: *mut bindings::file) -> &'a Self {
        // SAFETY: By the safety requirements the word holds a value of
        // `Self`, which is transparent over an atomic word of a pointer's
        // size and alignment; only this module accesses it, atomically.
        unsafe { &*(&raw const (*file).private_data).cast::<Self>() }
    }

    /// Takes back the private data of `file` at its release.
    ///
    /// # Safety
    ///
    /// As for [`StackedFile::of`], and no operation of `file` runs any more
    /// or later: the value leaves `file`.
    pub(crate) unsafe fn from_private(file: *mut bindings::file) -> Self {
        // SAFETY: By the safety requirements.
        Self(AtomicUsize::new(unsafe { (*file).private_data } as usize))
    }

    /// The credentials every operation on the real files runs under.
    fn cred(&self) -> &Cred {
        match self.state() {
            State::Lower(f) | State::Settled(f) => f.cred(),
            State::Paired(Pair {
                held: Held::Cred(cred),
                ..
            }) => cred,
            State::Paired(p) => p.real.cred(),
        }
    }

    fn open_real(user: &File, path: &RealPath<'_>, cred: &Cred) -> Result<ARef<File>> {
        let flags = user.flags()
            & !(bindings::O_CREAT | bindings::O_EXCL | bindings::O_NOCTTY | bindings::O_TRUNC);
        let raw = path.raw();
        let _cred = Override::new(cred);
        // SAFETY: `user` is a live rovl file, `raw` a valid path and `cred`
        // live; the result is a new backing file or an error.
        let f = from_err_ptr(unsafe {
            ffi::backing_file_open(user.as_ptr(), flags as i32, &raw, cred.as_ptr())
        })?;
        // SAFETY: `backing_file_open` returned a new reference.
        Ok(unsafe { File::from_owned(f) })
    }

    /// Creates an unnamed real file in the directory `parent` for the rovl
    /// `O_TMPFILE` file `user` (`backing_tmpfile_open`), with `user`'s open
    /// flags and `mode`, as the current credentials; `cred` is what later
    /// operations run under. Returns the real file's dentry too.
    pub(crate) fn open_tmpfile(
        user: &File,
        parent: &RealPath<'_>,
        mode: u16,
        cred: &ARef<Cred>,
    ) -> Result<(Self, ARef<super::Dentry>)> {
        let raw = parent.raw();
        let cur = Cred::current()?;
        // SAFETY: `user` is the file being opened, `raw` a valid path and
        // `cur` live; the result is a new backing file or an error.
        let f = from_err_ptr(unsafe {
            ffi::backing_tmpfile_open(user.as_ptr(), user.flags() as i32, &raw, mode, cur.as_ptr())
        })?;
        // SAFETY: `backing_tmpfile_open` returned a new reference.
        let real = unsafe { File::from_owned(f) };
        // SAFETY: An open file's dentry lives as long as the file.
        let d = ARef::from(unsafe { super::Dentry::from_raw((*f).f_path.dentry) });
        let pair = KBox::new(
            Pair {
                real,
                held: Held::Cred(cred.clone()),
            },
            GFP_KERNEL,
        )?;
        // INVARIANT: The word owns the box.
        Ok((Self(AtomicUsize::new(Self::paired(pair))), d))
    }

    /// The real file the last operation used.
    pub(crate) fn latest(&self) -> &File {
        match self.state() {
            State::Lower(f) | State::Settled(f) => f,
            State::Paired(p) => p.latest(),
        }
    }

    /// The real file an operation of `user` goes to now: the upper file
    /// once `copied_up` names it (opened on first use, as
    /// `ovl_real_fdget_meta` does), carrying `user`'s `F_SETFL` flags
    /// (`ovl_change_flags`).
    /// Where `may_block` is false (an `IOCB_NOWAIT` request), a switch that
    /// is due gives `EAGAIN` instead.
    pub(crate) fn current<'a, 'b>(
        &'a self,
        user: &File,
        copied_up: impl FnOnce() -> Option<RealPath<'b>>,
        may_block: bool,
    ) -> Result<&'a File> {
        let real = match self.state() {
            State::Settled(f) => f,
            State::Paired(p) => p.latest(),
            State::Lower(lower) => match copied_up() {
                Some(path) if !path.dentry.has_inode(lower.inode()) => {
                    if !may_block {
                        return Err(EAGAIN);
                    }
                    self.switch(user, lower, &path)?
                }
                _ => lower,
            },
        };
        if (user.flags() ^ real.flags()) & SETFL_MASK != 0 {
            // SAFETY: `real` is live; the helper updates its flags under
            // `f_lock` as `fcntl(F_SETFL)` would.
            to_result(unsafe { ffi::rovl_change_flags(real.as_ptr(), user.flags()) })?;
        }
        Ok(real)
    }

    /// Opens the upper file at `path` and makes it this file's real file
    /// in place of `lower`; a racing opener's file wins over ours.
    #[cold]
    fn switch<'a>(&'a self, user: &File, lower: &'a File, path: &RealPath<'_>) -> Result<&'a File> {
        let upper = Self::open_real(user, path, lower.cred())?;
        // The pair takes a reference of its own to `lower`: an operation
        // that read the word before the switch may still use it.
        let pair = KBox::new(
            Pair {
                real: lower.into(),
                held: Held::Upper(upper),
            },
            GFP_KERNEL,
        )?;
        let p = Self::paired(pair);
        match self.0.compare_exchange(
            lower.as_ptr() as usize,
            p,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                // SAFETY: The word's reference to `lower` is no longer
                // named by it; the pair's keeps `lower` live.
                drop(unsafe { ARef::from_raw(NonNull::from(lower)) });
            }
            Err(_) => {
                // SAFETY: The exchange failed, so the pair is still ours.
                drop(unsafe { KBox::from_raw((p & !TAGS) as *mut Pair) });
            }
        }
        // INVARIANT: Either way the word names a pair for good now.
        Ok(self.latest())
    }

    fn ctx(&self, user: *mut bindings::file, read: bool) -> ffi::BackingFileCtx {
        ffi::BackingFileCtx {
            cred: self.cred().as_ptr(),
            user_file: user,
            accessed: if read { Some(file_accessed) } else { None },
            end_write: if read { None } else { Some(file_end_write) },
        }
    }

    /// Forwards a read to `real` (`backing_file_read_iter`), which handles
    /// sync and async kiocbs and reports atime back through
    /// `file_accessed`.
    ///
    /// # Safety
    ///
    /// `user`, `iocb` and `iter` must be the arguments of the `->read_iter()`
    /// call of the rovl file that owns `self`, and `real` its current file.
    pub(crate) unsafe fn read_iter(
        &self,
        real: &File,
        user: *mut bindings::file,
        iocb: *mut bindings::kiocb,
        iter: *mut bindings::iov_iter,
    ) -> isize {
        let mut ctx = self.ctx(user, true);
        // SAFETY: By the safety requirements; `ctx` outlives the call (the
        // helper copies what async completion needs).
        unsafe {
            let flags = (*iocb).ki_flags;
            buffered_as_sync(iocb, |iocb| {
                ffi::backing_file_read_iter(real.as_ptr(), iter, iocb, flags, &mut ctx)
            })
        }
    }

    /// Forwards a write to `real` (`backing_file_write_iter`) under the rovl
    /// inode's lock; the inode's mode, size and times follow the real
    /// inode's and pages the rovl inode caches for the range are dropped.
    ///
    /// # Safety
    ///
    /// `user`, `iocb` and `iter` must be the arguments of the `->write_iter()`
    /// call of the rovl file that owns `self`, and `real` its current file.
    pub(crate) unsafe fn write_iter(
        &self,
        real: &File,
        user: *mut bindings::file,
        iocb: *mut bindings::kiocb,
        iter: *mut bindings::iov_iter,
        sync: bool,
    ) -> isize {
        let mut ctx = self.ctx(user, false);
        // SAFETY: By the safety requirements; the rovl inode lock
        // serialises writers as in `ovl_write_iter`.
        unsafe {
            let inode = Inode::from_raw((*user).f_inode);
            let _lock = if (*iocb).ki_flags & IOCB_NOWAIT != 0 {
                // A nonblocking write must not wait for the helper's
                // `file_remove_privs` (set-id bits or security xattrs to
                // drop), nor be buffered into a real file that cannot take
                // it so (rovl files claim `FOP_BUFFER_WASYNC` for io_uring).
                let buffered = (*iocb).ki_flags & bindings::IOCB_DIRECT as i32 == 0;
                if !inode.is_nosec() || (buffered && !real.buffered_writes_nowait()) {
                    return -(bindings::EAGAIN as isize);
                }
                match inode.try_lock() {
                    Some(l) => l,
                    None => return -(bindings::EAGAIN as isize),
                }
            } else {
                inode.lock()
            };
            inode.copy_attr_but_nlink_from(real.inode());
            // Deferred completions are not passed through (overlayfs), nor
            // sync flags where the mount does not sync.
            let mut flags = (*iocb).ki_flags & !(bindings::IOCB_DIO_CALLER_COMP as i32);
            if !sync {
                flags &= !IOCB_SYNC_FLAGS;
            }
            buffered_as_sync(iocb, |iocb| {
                if (*iocb).ki_complete.is_some() {
                    ctx.end_write = Some(file_end_write_queued);
                }
                ffi::backing_file_write_iter(real.as_ptr(), iter, iocb, flags, &mut ctx)
            })
        }
    }

    /// Forwards `splice(2)` from the rovl file to `real`
    /// (`backing_file_splice_read`).
    ///
    /// # Safety
    ///
    /// The arguments must be those of the `->splice_read()` call of the rovl
    /// file `user` that owns `self`, and `real` its current file.
    pub(crate) unsafe fn splice_read(
        &self,
        real: &File,
        user: *mut bindings::file,
        ppos: *mut i64,
        pipe: *mut bindings::pipe_inode_info,
        len: usize,
        flags: u32,
    ) -> isize {
        let mut ctx = self.ctx(user, true);
        // SAFETY: By the safety requirements.
        unsafe { ffi::backing_file_splice_read(real.as_ptr(), ppos, pipe, len, flags, &mut ctx) }
    }

    /// Forwards `splice(2)` into the rovl file to `real` under the rovl
    /// inode's lock, as `write_iter` (`backing_file_splice_write`).
    ///
    /// # Safety
    ///
    /// The arguments must be those of the `->splice_write()` call of the rovl
    /// file `user` that owns `self`, and `real` its current file.
    pub(crate) unsafe fn splice_write(
        &self,
        real: &File,
        pipe: *mut bindings::pipe_inode_info,
        user: *mut bindings::file,
        ppos: *mut i64,
        len: usize,
        flags: u32,
    ) -> isize {
        let mut ctx = self.ctx(user, false);
        // SAFETY: By the safety requirements; the lock order (rovl inode,
        // then the pipe in the helper) is `ovl_splice_write`'s.
        unsafe {
            let inode = Inode::from_raw((*user).f_inode);
            let _lock = inode.lock();
            inode.copy_attr_but_nlink_from(real.inode());
            ffi::backing_file_splice_write(pipe, real.as_ptr(), ppos, len, flags, &mut ctx)
        }
    }

    /// Maps `real`'s pages into `vma` (`backing_file_mmap`): the mapping
    /// then belongs to the real file.
    ///
    /// # Safety
    ///
    /// `user` and `vma` must be the arguments of the `->mmap()` call of the
    /// rovl file that owns `self`, and `real` its current file.
    pub(crate) unsafe fn mmap(
        &self,
        real: &File,
        user: *mut bindings::file,
        vma: *mut bindings::vm_area_struct,
    ) -> i32 {
        let mut ctx = self.ctx(user, true);
        // SAFETY: By the safety requirements.
        unsafe { ffi::backing_file_mmap(real.as_ptr(), vma, &mut ctx) }
    }

    /// `->fallocate()` (`ovl_fallocate`): set-id bits drop as on a write and
    /// the inode's size follows the real inode's.
    ///
    /// # Safety
    ///
    /// `user` must be the rovl file that owns `self`, and `real` its current
    /// file.
    pub(crate) unsafe fn fallocate(
        &self,
        real: &File,
        user: *mut bindings::file,
        mode: i32,
        offset: i64,
        len: i64,
    ) -> i64 {
        // SAFETY: By the safety requirements; the rovl inode lock
        // serialises size changes as in `ovl_fallocate`.
        unsafe {
            let inode = Inode::from_raw((*user).f_inode);
            let _lock = inode.lock();
            inode.copy_attr_but_nlink_from(real.inode());
            let mut r = i64::from(bindings::file_remove_privs(user));
            if r == 0 {
                let _cred = Override::new(self.cred());
                r = bindings::vfs_fallocate(real.as_ptr(), mode, offset, len) as i64;
            }
            inode.copy_attr_but_nlink_from(real.inode());
            // Collapse and insert move everything after `offset`.
            inode.invalidate_cached(offset, i64::MAX - offset);
            r
        }
    }

    /// `->fadvise()` (`ovl_fadvise`): advice for the real file's pages.
    pub(crate) fn fadvise(&self, real: &File, offset: i64, len: i64, advice: i32) -> i32 {
        let _cred = Override::new(self.cred());
        // SAFETY: The real file is live.
        unsafe { bindings::vfs_fadvise(real.as_ptr(), offset, len, advice) }
    }

    /// `->flush()` at each close of a descriptor (`ovl_flush`), for real
    /// files whose filesystem wants it (NFS writes back there).
    pub(crate) fn flush(&self, real: &File, id: bindings::fl_owner_t) -> i32 {
        // SAFETY: `f_op` of a live file is a static table.
        let Some(flush) = (unsafe { (*(*real.as_ptr()).f_op).flush }) else {
            return 0;
        };
        let _cred = Override::new(self.cred());
        // SAFETY: The real file is live.
        unsafe { flush(real.as_ptr(), id) }
    }

    /// `fsync`/`fdatasync` of `real` for bytes `start..=end`.
    pub(crate) fn fsync(&self, real: &File, start: i64, end: i64, datasync: bool) -> Result {
        let _cred = Override::new(self.cred());
        real.fsync_range(start, end, datasync)
    }

    /// `->llseek()`: seeks `real` from the rovl file's position and mirrors
    /// the result, so SEEK_DATA/SEEK_HOLE see the real data.
    pub(crate) fn llseek(&self, real: &File, user: &File, offset: i64, whence: i32) -> i64 {
        let inode = user.inode();
        let _lock = inode.lock();
        let _cred = Override::new(self.cred());
        // SAFETY: Both files are live; the rovl inode lock serialises
        // position updates between the two files as in `ovl_llseek`.
        unsafe {
            (*real.as_ptr()).f_pos = (*user.as_ptr()).f_pos;
            let r = bindings::vfs_llseek(real.as_ptr(), offset, whence);
            (*user.as_ptr()).f_pos = (*real.as_ptr()).f_pos;
            r
        }
    }

    /// `copy_file_range`, `FICLONE*` and `FIDEDUPERANGE` from `self`'s file
    /// to the rovl file `out` (`ovl_copyfile`), under `out`'s inode lock and
    /// its mount's credentials.
    ///
    /// # Safety
    ///
    /// `user_out` must be the rovl file that owns `out`, `real_in` and
    /// `real_out` the current real files of the two.
    #[expect(clippy::too_many_arguments)]
    pub(crate) unsafe fn copy_to(
        &self,
        real_in: &File,
        pos_in: i64,
        out: &StackedFile,
        real_out: &File,
        user_out: *mut bindings::file,
        pos_out: i64,
        len: i64,
        op: CopyOp,
    ) -> i64 {
        // SAFETY: By the safety requirements.
        unsafe {
            let inode = Inode::from_raw((*user_out).f_inode);
            let _lock = inode.lock();
            if !matches!(op, CopyOp::Dedupe(_)) {
                inode.copy_attr_but_nlink_from(real_out.inode());
                let r = bindings::file_remove_privs(user_out);
                if r != 0 {
                    return r.into();
                }
            }
            // Across mounts the copy checks read access with the writer's
            // credentials only: check it with the reader's too.
            if !core::ptr::eq(self.cred().as_ptr(), out.cred().as_ptr()) {
                let _cred = Override::new(self.cred());
                let r = bindings::rw_verify_area(
                    bindings::READ as i32,
                    real_in.as_ptr(),
                    &pos_in,
                    len as usize,
                );
                if r != 0 {
                    return r.into();
                }
            }
            let r = {
                let _cred = Override::new(out.cred());
                let (fi, fo) = (real_in.as_ptr(), real_out.as_ptr());
                match op {
                    CopyOp::Copy(flags) => {
                        bindings::vfs_copy_file_range(fi, pos_in, fo, pos_out, len as usize, flags)
                            as i64
                    }
                    CopyOp::Clone(flags) => {
                        bindings::vfs_clone_file_range(fi, pos_in, fo, pos_out, len, flags)
                    }
                    CopyOp::Dedupe(flags) => {
                        bindings::vfs_dedupe_file_range_one(fi, pos_in, fo, pos_out, len, flags)
                    }
                }
            };
            inode.copy_attr_but_nlink_from(real_out.inode());
            if r > 0 {
                inode.invalidate_cached(pos_out, r);
            }
            r
        }
    }
}

/// Which of the data-sharing calls `StackedFile::copy_to` makes, with the
/// caller's flags.
#[derive(Clone, Copy)]
pub(crate) enum CopyOp {
    Copy(u32),
    Clone(u32),
    Dedupe(u32),
}

/// `backing_file_ctx.accessed`: mirrors the real inode's times after a read.
///
/// # Safety
///
/// Called by the backing-file helpers with a rovl regular file opened by `StackedFile::open`.
unsafe extern "C" fn file_accessed(user: *mut bindings::file) {
    // SAFETY: Called by the backing-file helpers with the live rovl file
    // whose private data is the `StackedFile` that started the I/O.
    unsafe {
        let sf = StackedFile::of(user);
        File::from_raw(user)
            .inode()
            .copy_times_from(sf.latest().inode());
    }
}

/// `backing_file_ctx.end_write` of a write done in the call: the bytes
/// written end at `pos` (an append's start is only known there).
///
/// # Safety
///
/// Called by the backing-file helpers with a rovl regular file opened by `StackedFile::open`.
unsafe extern "C" fn file_end_write(user: *mut bindings::file, pos: bindings::loff_t, ret: isize) {
    // SAFETY: By the safety requirements.
    unsafe { write_ended(user, pos - ret as i64, ret as i64) };
}

/// `backing_file_ctx.end_write` of a write the real filesystem completes
/// later (asynchronous direct I/O): every own page goes, since whether
/// `pos` was advanced at completion is up to that filesystem.
///
/// # Safety
///
/// As for `file_end_write`.
unsafe extern "C" fn file_end_write_queued(
    user: *mut bindings::file,
    _pos: bindings::loff_t,
    ret: isize,
) {
    // SAFETY: By the safety requirements.
    unsafe { write_ended(user, 0, if ret > 0 { i64::MAX } else { 0 }) };
}

/// Mirrors the real inode's size and times after a write and drops the
/// rovl inode's own pages for bytes `pos..pos + len`.
///
/// # Safety
///
/// As for `file_end_write`.
unsafe fn write_ended(user: *mut bindings::file, pos: i64, len: i64) {
    // SAFETY: As for `file_accessed`.
    unsafe {
        let sf = StackedFile::of(user);
        let inode = File::from_raw(user).inode();
        inode.copy_attr_but_nlink_from(sf.latest().inode());
        inode.invalidate_cached(pos, len);
    }
}

/// Runs `f` on `iocb`, or, for an asynchronous buffered request, on a
/// synchronous copy of it, whose position then becomes `iocb`'s.
///
/// Buffered I/O ends inside the real file's `->read_iter()` or
/// `->write_iter()` (a rovl file takes no `IOCB_WAITQ`, lacking
/// `FMODE_BUF_RASYNC`), so the backing-file helpers' asynchronous path only
/// adds an allocation, a file reference and a completion to each request;
/// io_uring sends every one through it. A filesystem that would queue
/// buffered I/O (FUSE in `direct_io` mode) completes it in the call
/// instead, as for `read(2)` and `write(2)`.
///
/// # Safety
///
/// `iocb` must be a live request of a `->read_iter()` or `->write_iter()`
/// call in progress.
unsafe fn buffered_as_sync(
    iocb: *mut bindings::kiocb,
    f: impl FnOnce(*mut bindings::kiocb) -> isize,
) -> isize {
    // SAFETY: By the safety requirements.
    unsafe {
        if (*iocb).ki_complete.is_none() || (*iocb).ki_flags & bindings::IOCB_DIRECT as i32 != 0 {
            return f(iocb);
        }
        let mut sync = bindings::kiocb {
            ki_filp: (*iocb).ki_filp,
            ki_pos: (*iocb).ki_pos,
            ki_complete: None,
            private: core::ptr::null_mut(),
            ki_flags: (*iocb).ki_flags,
            ki_ioprio: (*iocb).ki_ioprio,
            __bindgen_anon_1: bindings::kiocb__bindgen_ty_1 {
                ki_waitq: core::ptr::null_mut(),
            },
        };
        let ret = f(&mut sync);
        (*iocb).ki_pos = sync.ki_pos;
        ret
    }
}

/// Emits entries to a `getdents` caller (`dir_emit`).
///
/// # Invariants
///
/// `ctx` is the live `dir_context` of the current `->iterate_shared()` call
/// on the directory `dir`, whose inode lock `iterate_dir` holds (shared)
/// for the call.
pub(crate) struct DirEmitter {
    ctx: *mut bindings::dir_context,
    dir: *mut bindings::dentry,
}

impl DirEmitter {
    /// # Safety
    ///
    /// `ctx` must be the context of an `->iterate_shared()` call in progress
    /// on the directory `dir`, and the emitter must not outlive that call.
    pub(crate) unsafe fn new(ctx: *mut bindings::dir_context, dir: *mut bindings::dentry) -> Self {
        Self { ctx, dir }
    }

    /// Looks `name` up in the directory being listed through its own
    /// filesystem (`lookup_one`), as overlayfs's listings do for the
    /// numbers they show: a negative dentry when there is nothing.
    pub(crate) fn lookup(&self, name: &[u8]) -> Result<ARef<super::Dentry>> {
        let len = i32::try_from(name.len()).map_err(|_| super::errno(bindings::ENAMETOOLONG))?;
        // SAFETY: By the type invariant `dir` is live and locked for the
        // call, as `lookup_one` needs; `name` is valid for `len` bytes; a
        // rovl mount is never idmapped.
        let d = from_err_ptr(unsafe {
            ffi::lookup_one(
                &raw mut bindings::nop_mnt_idmap,
                name.as_ptr(),
                self.dir,
                len,
            )
        })?;
        // SAFETY: Success returns a referenced, non-NULL dentry.
        Ok(unsafe { ARef::from_raw(NonNull::new_unchecked(d.cast())) })
    }

    pub(crate) fn pos(&self) -> i64 {
        // SAFETY: By the type invariant.
        unsafe { (*self.ctx).pos }
    }

    pub(crate) fn set_pos(&mut self, pos: i64) {
        // SAFETY: By the type invariant.
        unsafe { (*self.ctx).pos = pos };
    }

    /// Emits one entry; `false` when the caller's buffer is full.
    pub(crate) fn emit(&mut self, name: &[u8], ino: u64, d_type: u32) -> bool {
        // SAFETY: By the type invariant; `name` is valid for its length.
        unsafe { ffi::rovl_dir_emit(self.ctx, name.as_ptr(), name.len() as i32, ino, d_type) }
    }
}

/// A real directory open for the listings of one open rovl directory
/// that shows it as it is, at its own positions.
///
/// # Invariants
///
/// The file is an open directory that [`RealDir::open`] opened and that
/// nothing else uses: its position and per-open state are this object's.
pub(crate) struct RealDir(ARef<File>);

impl RealDir {
    /// Opens the real directory at `path` under `cred`.
    pub(crate) fn open(path: &RealPath<'_>, cred: &Cred) -> Result<Self> {
        File::open_dir(path, cred).map(Self)
    }

    /// Whether this is an open file of the real directory `dentry`.
    pub(crate) fn is_of(&self, dentry: &super::Dentry) -> bool {
        // SAFETY: `f_path` is constant for the life of the file.
        core::ptr::eq(unsafe { (*self.0.as_ptr()).f_path.dentry }, dentry.as_ptr())
    }

    /// The real directory's position.
    pub(crate) fn pos(&self) -> i64 {
        // SAFETY: The file is open; by the type invariant nobody else moves
        // its position.
        unsafe { (*self.0.as_ptr()).f_pos }
    }

    /// Seeks the real directory with its own `llseek` (`vfs_llseek`).
    pub(crate) fn seek(&mut self, offset: i64, whence: u32) -> Result<i64> {
        self.0.seek(offset, whence)
    }

    /// Moves the real directory to the position a listing continues from.
    /// Positions follow the real directory's (its `llseek` moves both), but
    /// one set before the directory was listed from there may not; a rewind
    /// always reaches the real `llseek`, where a filesystem may reset
    /// per-open state.
    fn seek_to(&mut self, pos: i64) -> Result {
        if pos == 0 || self.pos() != pos {
            self.seek(pos, bindings::SEEK_SET)?;
        }
        Ok(())
    }

    /// Passes the `getdents` caller of `out` to the real directory from
    /// `out`'s position (`iterate_dir`, as overlayfs lists a real
    /// directory): the real filesystem emits its own entries, numbers and
    /// positions.
    pub(crate) fn iterate(&mut self, out: &mut DirEmitter) -> Result {
        self.seek_to(out.pos())?;
        let f = self.0.as_ptr();
        // SAFETY: `f` is an open directory; `out.ctx` is the live context of
        // the rovl directory's `->iterate_shared()` by the `DirEmitter`
        // invariant; `iterate_dir` starts it at `f`'s position, which is
        // `pos`, and leaves its end in `ctx->pos` for the caller.
        to_result(unsafe { bindings::iterate_dir(f, out.ctx) })
    }

    /// As [`RealDir::iterate`], with each entry's number replaced by
    /// `map(name, ino)` on its way to the caller (`ovl_iterate_real`). `map`
    /// runs under the real directory's lock: it must not look anything up
    /// there.
    pub(crate) fn iterate_mapped(
        &mut self,
        out: &mut DirEmitter,
        map: &dyn Fn(&[u8], u64) -> u64,
    ) -> Result {
        #[repr(C)]
        struct Translate<'a> {
            ctx: bindings::dir_context,
            orig: *mut bindings::dir_context,
            map: &'a dyn Fn(&[u8], u64) -> u64,
        }

        /// # Safety
        ///
        /// `filldir_t` actor of `iterate_mapped`: `ctx` is the context passed
        /// to `iterate_dir` there.
        unsafe extern "C" fn actor(
            ctx: *mut bindings::dir_context,
            name: *const kernel::ffi::c_char,
            len: kernel::ffi::c_int,
            off: bindings::loff_t,
            ino: u64,
            d_type: kernel::ffi::c_uint,
        ) -> bool {
            // SAFETY: `ctx` is the first field of the `Translate` passed to
            // `iterate_dir` below, which outlives the call.
            let t = unsafe { &*ctx.cast::<Translate<'_>>() };
            // SAFETY: The filesystem passes `len` valid bytes at `name`.
            let n = unsafe { core::slice::from_raw_parts(name.cast::<u8>(), len as usize) };
            let ino = (t.map)(n, ino);
            // SAFETY: `orig` is the live context of the rovl directory's
            // `->iterate_shared()` (the `DirEmitter` invariant); its actor
            // takes exactly what the real filesystem passed, but the number.
            unsafe {
                match (*t.orig).actor {
                    Some(a) => a(t.orig, name, len, off, ino, d_type),
                    None => false,
                }
            }
        }

        let pos = out.pos();
        self.seek_to(pos)?;
        let mut t = Translate {
            ctx: bindings::dir_context {
                actor: Some(actor),
                pos,
            },
            orig: out.ctx,
            map,
        };
        // SAFETY: The file is an open directory; `t.ctx` stays valid for the
        // call and `actor` only sees `t` through it.
        let r = to_result(unsafe { bindings::iterate_dir(self.0.as_ptr(), &mut t.ctx) });
        out.set_pos(t.ctx.pos);
        r
    }
}

/// A `struct kstatfs` being filled by `->statfs()`.
#[repr(transparent)]
pub(crate) struct Kstatfs(Opaque<bindings::kstatfs>);

impl Kstatfs {
    /// # Safety
    ///
    /// `ptr` must be valid for writes and not aliased for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::kstatfs) -> &'a mut Self {
        // SAFETY: `Kstatfs` is transparent over `bindings::kstatfs`.
        unsafe { &mut *ptr.cast() }
    }

    pub(crate) fn as_ptr(&mut self) -> *mut bindings::kstatfs {
        self.0.get()
    }

    /// Sets the filesystem type and longest name.
    pub(crate) fn set_type_namelen(&mut self, t: i64, namelen: i64) {
        // SAFETY: Exclusive by the `from_raw` contract.
        unsafe { ffi::rovl_kstatfs_set(self.0.get(), t, namelen) };
    }

    /// Sets the filesystem id folded from a UUID (`uuid_to_fsid`).
    pub(crate) fn set_fsid_from_uuid(&mut self, uuid: &[u8; 16]) {
        // SAFETY: Exclusive by the `from_raw` contract; `uuid` is 16 bytes.
        unsafe { ffi::rovl_kstatfs_set_fsid(self.0.get(), uuid.as_ptr()) };
    }
}

/// `ESCAPE_OCTAL` of linux/string_helpers.h, a macro bindgen skips.
const ESCAPE_OCTAL: u32 = 1 << 3;

/// A `struct seq_file` being written by `->show_options()`.
#[repr(transparent)]
pub(crate) struct SeqFile(Opaque<bindings::seq_file>);

impl SeqFile {
    /// # Safety
    ///
    /// `ptr` must be a live seq_file for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::seq_file) -> &'a Self {
        // SAFETY: `SeqFile` is transparent over `bindings::seq_file`.
        unsafe { &*ptr.cast() }
    }

    pub(crate) fn puts(&self, s: &CStr) {
        self.write(s.as_bytes());
    }

    pub(crate) fn write(&self, b: &[u8]) {
        // SAFETY: `self` is live and `b` valid for its length.
        unsafe { bindings::seq_write(self.0.get(), b.as_ptr().cast(), b.len()) };
    }

    /// Writes `s`, escaping the characters in `esc` as octal, as mount
    /// options are shown (`seq_escape_mem`).
    pub(crate) fn escape(&self, s: &[u8], esc: &CStr) {
        // SAFETY: `self` is live, `s` valid for its length, `esc` NUL-terminated.
        unsafe {
            bindings::seq_escape_mem(
                self.0.get(),
                s.as_ptr(),
                s.len(),
                ESCAPE_OCTAL,
                esc.as_char_ptr(),
            )
        };
    }
}

/// A `struct delayed_call` that frees a symlink body after use.
#[repr(transparent)]
pub(crate) struct DelayedCall(Opaque<bindings::delayed_call>);

impl DelayedCall {
    /// Runs `f` with a fresh delayed call, and the call after it.
    pub(crate) fn with<R>(f: impl FnOnce(&DelayedCall) -> R) -> R {
        let dc = DelayedCall(Opaque::new(bindings::delayed_call {
            fn_: None,
            arg: core::ptr::null_mut(),
        }));
        let r = f(&dc);
        // SAFETY: `dc` is ours; `do_delayed_call` is a static inline: run
        // what it would.
        unsafe {
            let raw = &*dc.0.get();
            if let Some(cb) = raw.fn_ {
                cb(raw.arg);
            }
        }
        r
    }

    /// # Safety
    ///
    /// `ptr` must be the `done` argument of a live `->get_link()` call.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::delayed_call) -> &'a Self {
        // SAFETY: `DelayedCall` is transparent over `bindings::delayed_call`.
        unsafe { &*ptr.cast() }
    }

    pub(crate) fn as_ptr(&self) -> *mut bindings::delayed_call {
        self.0.get()
    }
}
