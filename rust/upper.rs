// SPDX-License-Identifier: GPL-2.0

//! Changing the upper layer: locked real directories and the namespace
//! calls made under their locks, attribute changes, xattrs, ACLs, file
//! handles and write access to a mount.
//!
//! Every namespace call of the VFS (`vfs_create`, `vfs_rename`, ...) needs
//! its parent directory locked and its dentry looked up under that lock.
//! [`Locked`] holds the lock of one directory, or of two for a rename
//! (`lock_rename`), and only hands out operations on the dentries it
//! looked up in them.

use super::{ffi, Cred, Dentry, File, Inode, Kstat, Mount, PosixAcl, RealPath};
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::{code::*, from_err_ptr, to_result, Result};
use kernel::str::CStr;
use kernel::types::ARef;

/// `I_MUTEX_PARENT` of linux/fs.h (an enum value bindgen names oddly).
const I_MUTEX_PARENT: u32 = 1;

/// One or two real directories of a mount, locked for changes.
///
/// # Invariants
///
/// `dirs[0]` (and `dirs[1]` if set) are directories on `mnt` whose inodes
/// are locked by this guard: with `inode_lock_nested` when there is one,
/// with `lock_rename` when there are two.
pub(crate) struct Locked<'a> {
    mnt: &'a Mount,
    dirs: [Option<&'a Dentry>; 2],
    /// What `lock_rename` found: the child of one directory that is an
    /// ancestor of the other, which no rename may move or replace.
    trap: *mut bindings::dentry,
}

impl<'a> Locked<'a> {
    /// Locks the directory `dir` (`inode_lock_nested(I_MUTEX_PARENT)`).
    pub(crate) fn dir(mnt: &'a Mount, dir: &'a Dentry) -> Result<Self> {
        let inode = dir.inode().ok_or(ENOENT)?;
        // SAFETY: `inode` is the live inode of a referenced directory.
        unsafe { ffi::rovl_inode_lock_nested(inode.as_ptr(), I_MUTEX_PARENT) };
        // INVARIANT: Locked just above.
        Ok(Self {
            mnt,
            dirs: [Some(dir), None],
            trap: core::ptr::null_mut(),
        })
    }

    /// Locks two directories for a rename (`lock_rename`); fails with
    /// `EXDEV` for different filesystems.
    pub(crate) fn rename(mnt: &'a Mount, a: &'a Dentry, b: &'a Dentry) -> Result<Self> {
        if a.same(b) {
            return Self::dir(mnt, a);
        }
        // SAFETY: Both are referenced directories.
        let trap = from_err_ptr(unsafe { ffi::lock_rename(a.as_ptr(), b.as_ptr()) })?;
        // INVARIANT: Locked just above.
        Ok(Self {
            mnt,
            dirs: [Some(a), Some(b)],
            trap,
        })
    }

    fn check(&self, dir: &Dentry) -> Result<*mut bindings::inode> {
        if self.dirs.iter().flatten().any(|d| d.same(dir)) {
            Ok(dir.inode().ok_or(ENOENT)?.as_ptr())
        } else {
            Err(EINVAL)
        }
    }

    /// Looks `name` up in the locked `dir` (`lookup_one`).
    pub(crate) fn lookup(&self, dir: &Dentry, name: &[u8]) -> Result<ARef<Dentry>> {
        self.check(dir)?;
        let len = i32::try_from(name.len()).map_err(|_| super::errno(bindings::ENAMETOOLONG))?;
        // SAFETY: `dir` is locked by this guard (checked); `name` is valid
        // for `len` bytes.
        let d = from_err_ptr(unsafe {
            ffi::lookup_one(self.mnt.idmap(), name.as_ptr(), dir.as_ptr(), len)
        })?;
        // SAFETY: Success returns a referenced, non-NULL dentry.
        Ok(unsafe { ARef::from_raw(NonNull::new_unchecked(d.cast())) })
    }

    /// `vfs_create` of a regular file at the negative `d` in `dir`.
    pub(crate) fn create(&self, dir: &Dentry, d: &Dentry, mode: u16) -> Result {
        let i = self.check(dir)?;
        let mode = mode & 0o7777 | bindings::S_IFREG as u16;
        // SAFETY: `dir` is locked and `d` was looked up in it by the caller.
        to_result(unsafe { bindings::vfs_create(self.mnt.idmap(), i, d.as_ptr(), mode, true) })
    }

    /// `vfs_mkdir`; returns the new directory's dentry, looked up again if
    /// the filesystem left `d` unhashed (as `ovl_mkdir_real`).
    pub(crate) fn mkdir(&self, dir: &Dentry, d: &Dentry, mode: u16) -> Result<ARef<Dentry>> {
        let i = self.check(dir)?;
        // SAFETY: As for `create`.
        to_result(unsafe { bindings::vfs_mkdir(self.mnt.idmap(), i, d.as_ptr(), mode & 0o7777) })?;
        if d.inode().is_some() && !d.is_unhashed() {
            return Ok(ARef::from(d));
        }
        let again = self.lookup(dir, d.name())?;
        if !again.can_lookup() {
            return Err(ENOENT);
        }
        Ok(again)
    }

    /// `vfs_mknod` of a device, FIFO or socket (`mode` has the type).
    pub(crate) fn mknod(&self, dir: &Dentry, d: &Dentry, mode: u16, rdev: u32) -> Result {
        let i = self.check(dir)?;
        // SAFETY: As for `create`.
        to_result(unsafe { bindings::vfs_mknod(self.mnt.idmap(), i, d.as_ptr(), mode, rdev) })
    }

    /// A whiteout: a 0/0 character device (`ovl_do_whiteout`).
    pub(crate) fn whiteout(&self, dir: &Dentry, d: &Dentry) -> Result {
        self.mknod(dir, d, bindings::S_IFCHR as u16, 0)
    }

    /// `vfs_symlink` to `target`.
    pub(crate) fn symlink(&self, dir: &Dentry, d: &Dentry, target: &CStr) -> Result {
        let i = self.check(dir)?;
        // SAFETY: As for `create`; `target` is NUL-terminated.
        to_result(unsafe {
            bindings::vfs_symlink(self.mnt.idmap(), i, d.as_ptr(), target.as_char_ptr())
        })
    }

    /// `vfs_link` of `old` (on this mount) at `d`.
    pub(crate) fn link(&self, old: &Dentry, dir: &Dentry, d: &Dentry) -> Result {
        let i = self.check(dir)?;
        // SAFETY: As for `create`; `old` is a referenced positive dentry.
        to_result(unsafe {
            bindings::vfs_link(
                old.as_ptr(),
                self.mnt.idmap(),
                i,
                d.as_ptr(),
                core::ptr::null_mut(),
            )
        })
    }

    /// `vfs_unlink` of the non-directory `d` in `dir`.
    pub(crate) fn unlink(&self, dir: &Dentry, d: &Dentry) -> Result {
        let i = self.check(dir)?;
        // SAFETY: As for `create`, `d` positive.
        to_result(unsafe {
            bindings::vfs_unlink(self.mnt.idmap(), i, d.as_ptr(), core::ptr::null_mut())
        })
    }

    /// `vfs_rmdir` of the empty directory `d` in `dir`.
    pub(crate) fn rmdir(&self, dir: &Dentry, d: &Dentry) -> Result {
        let i = self.check(dir)?;
        // SAFETY: As for `create`, `d` positive.
        to_result(unsafe { bindings::vfs_rmdir(self.mnt.idmap(), i, d.as_ptr()) })
    }

    /// `vfs_rename` of `old` in `olddir` to `new` in `newdir`, both
    /// looked up under this lock; `flags` as renameat2.
    pub(crate) fn rename_entry(
        &self,
        olddir: &Dentry,
        old: &Dentry,
        newdir: &Dentry,
        new: &Dentry,
        flags: u32,
    ) -> Result {
        let (oi, ni) = (self.check(olddir)?, self.check(newdir)?);
        // Renaming the trap would move a directory into itself; the
        // layers changed under the mount (as overlayfs: `ESTALE`).
        if old.as_ptr() == self.trap || new.as_ptr() == self.trap {
            return Err(super::errno(bindings::ESTALE));
        }
        let mut rd = bindings::renamedata {
            old_mnt_idmap: self.mnt.idmap(),
            old_dir: oi,
            old_dentry: old.as_ptr(),
            new_mnt_idmap: self.mnt.idmap(),
            new_dir: ni,
            new_dentry: new.as_ptr(),
            delegated_inode: core::ptr::null_mut(),
            flags,
        };
        // SAFETY: Both parents are locked by this guard, the dentries were
        // looked up in them under it.
        to_result(unsafe { bindings::vfs_rename(&mut rd) })
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the directories are locked by us.
        unsafe {
            match self.dirs {
                [Some(a), Some(b)] => ffi::unlock_rename(a.as_ptr(), b.as_ptr()),
                [Some(a), None] => {
                    if let Some(i) = a.inode() {
                        ffi::rovl_inode_unlock(i.as_ptr());
                    }
                }
                _ => {}
            }
        }
    }
}

/// Write access to a mount (`mnt_want_write`) for as long as it lives.
///
/// # Invariants
///
/// `mnt_want_write(mnt)` succeeded and is not yet dropped.
pub(crate) struct WriteAccess<'a> {
    mnt: &'a Mount,
}

impl<'a> WriteAccess<'a> {
    pub(crate) fn get(mnt: &'a Mount) -> Result<Self> {
        // SAFETY: `mnt` is live.
        to_result(unsafe { bindings::mnt_want_write(mnt.as_ptr()) })?;
        // INVARIANT: Succeeded just above.
        Ok(Self { mnt })
    }
}

impl Drop for WriteAccess<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant.
        unsafe { bindings::mnt_drop_write(self.mnt.as_ptr()) };
    }
}

/// A time as `struct timespec64`.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Time {
    pub(crate) sec: i64,
    pub(crate) nsec: i64,
}

/// Attribute changes for `notify_change`, a `struct iattr`.
pub(crate) struct Iattr(bindings::iattr);

impl Iattr {
    /// Changes nothing yet.
    pub(crate) fn new() -> Self {
        // SAFETY: All-zero is a valid `struct iattr` with nothing to change.
        Self(unsafe { core::mem::MaybeUninit::zeroed().assume_init() })
    }

    /// # Safety
    ///
    /// `ptr` must be the valid, exclusively borrowed `iattr` of a
    /// `->setattr()` call, for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::iattr) -> &'a mut Self {
        // SAFETY: Transparent-compatible by layout: `Iattr` wraps exactly one
        // `bindings::iattr`, and the caller gives exclusive access.
        unsafe { &mut *ptr.cast() }
    }

    pub(crate) fn valid(&self) -> u32 {
        self.0.ia_valid
    }

    /// The new size of an `ATTR_SIZE` change.
    pub(crate) fn size(&self) -> i64 {
        self.0.ia_size
    }

    pub(crate) fn set_valid(&mut self, v: u32) {
        self.0.ia_valid = v;
    }

    pub(crate) fn mode(mut self, mode: u16) -> Self {
        self.0.ia_valid |= bindings::ATTR_MODE;
        self.0.ia_mode = mode;
        self
    }

    /// Owner and group as in `stat` (kernel ids).
    pub(crate) fn owner(mut self, stat: &mut Kstat) -> Self {
        self.0.ia_valid |= bindings::ATTR_UID | bindings::ATTR_GID;
        let (uid, gid) = stat.ids();
        self.0.__bindgen_anon_1.ia_uid = uid;
        self.0.__bindgen_anon_2.ia_gid = gid;
        self
    }

    pub(crate) fn truncate(mut self, size: i64) -> Self {
        self.0.ia_valid |= bindings::ATTR_SIZE;
        self.0.ia_size = size;
        self
    }

    pub(crate) fn times(mut self, atime: Time, mtime: Time) -> Self {
        self.0.ia_valid |= bindings::ATTR_ATIME
            | bindings::ATTR_MTIME
            | bindings::ATTR_ATIME_SET
            | bindings::ATTR_MTIME_SET;
        self.0.ia_atime.tv_sec = atime.sec;
        self.0.ia_atime.tv_nsec = atime.nsec as _;
        self.0.ia_mtime.tv_sec = mtime.sec;
        self.0.ia_mtime.tv_nsec = mtime.nsec as _;
        self
    }

    /// Forgets the open file the VFS attached (`ATTR_FILE`): the change is
    /// made on another filesystem's inode.
    pub(crate) fn drop_file(&mut self) {
        self.0.ia_valid &= !bindings::ATTR_FILE;
        self.0.ia_file = core::ptr::null_mut();
    }

    pub(crate) fn as_ptr(&mut self) -> *mut bindings::iattr {
        &mut self.0
    }
}

impl Dentry {
    /// `notify_change` of this real dentry on `mnt`, under its inode lock.
    pub(crate) fn setattr(&self, mnt: &Mount, attr: &mut Iattr) -> Result {
        let inode = self.inode().ok_or(ENOENT)?.as_ptr();
        // SAFETY: `self` is a referenced positive dentry of `mnt`; the
        // inode is locked around the call as `notify_change` requires.
        unsafe {
            ffi::rovl_inode_lock(inode);
            let r = bindings::notify_change(
                mnt.idmap(),
                self.as_ptr(),
                attr.as_ptr(),
                core::ptr::null_mut(),
            );
            ffi::rovl_inode_unlock(inode);
            to_result(r)
        }
    }

    /// `vfs_setxattr` (flags as setxattr(2)).
    pub(crate) fn setxattr(&self, mnt: &Mount, name: &CStr, value: &[u8], flags: i32) -> Result {
        // SAFETY: `self` is a referenced dentry of `mnt`; `value` is valid
        // for its length; the function takes the locks it needs.
        to_result(unsafe {
            ffi::vfs_setxattr(
                mnt.idmap(),
                self.as_ptr(),
                name.as_char_ptr(),
                value.as_ptr().cast(),
                value.len(),
                flags,
            )
        })
    }

    /// `vfs_removexattr`.
    pub(crate) fn removexattr(&self, mnt: &Mount, name: &CStr) -> Result {
        // SAFETY: As for `setxattr`.
        to_result(unsafe { ffi::vfs_removexattr(mnt.idmap(), self.as_ptr(), name.as_char_ptr()) })
    }

    /// Copies the POSIX ACL `name` (`system.posix_acl_access` or
    /// `_default`) of `self` on `mnt` to `to` on `to_mnt` (`ovl_copy_acl`).
    pub(crate) fn copy_acl(&self, mnt: &Mount, name: &CStr, to: &Dentry, to_mnt: &Mount) -> Result {
        // SAFETY: `self` is a referenced dentry of `mnt`.
        let acl = from_err_ptr(unsafe {
            ffi::vfs_get_acl(mnt.idmap(), self.as_ptr(), name.as_char_ptr())
        });
        let acl = match acl {
            Ok(p) if p.is_null() => return Ok(()),
            Ok(p) => p,
            // No ACL support on the lower filesystem: nothing to copy.
            Err(e) if e == super::errno(bindings::EOPNOTSUPP) => return Ok(()),
            Err(e) => return Err(e),
        };
        // SAFETY: `to` is a referenced dentry of `to_mnt`; `acl` is a
        // reference we own and release after the call.
        unsafe {
            let r = ffi::vfs_set_acl(to_mnt.idmap(), to.as_ptr(), name.as_char_ptr(), acl);
            ffi::rovl_posix_acl_release(acl);
            to_result(r)
        }
    }

    /// `vfs_set_acl` of an ACL given to the rovl inode, or `vfs_remove_acl`
    /// when `acl` is NULL.
    ///
    /// # Safety
    ///
    /// `acl` must be NULL or an ACL the caller keeps alive for the call.
    pub(crate) unsafe fn set_acl_raw(
        &self,
        mnt: &Mount,
        name: &CStr,
        acl: *mut bindings::posix_acl,
    ) -> Result {
        // SAFETY: `self` is a referenced dentry of `mnt`; `acl` by the
        // safety requirements.
        to_result(unsafe {
            if acl.is_null() {
                ffi::vfs_remove_acl(mnt.idmap(), self.as_ptr(), name.as_char_ptr())
            } else {
                ffi::vfs_set_acl(mnt.idmap(), self.as_ptr(), name.as_char_ptr(), acl)
            }
        })
    }

    /// `vfs_remove_acl`: removes the POSIX ACL `name` of `self` on `mnt`.
    pub(crate) fn remove_acl(&self, mnt: &Mount, name: &CStr) -> Result {
        // SAFETY: A NULL ACL asks for `vfs_remove_acl`.
        unsafe { self.set_acl_raw(mnt, name, core::ptr::null_mut()) }
    }

    /// Whether the dentry was unhashed (deleted or invalidated).
    pub(crate) fn is_unhashed(&self) -> bool {
        // SAFETY: `self` is live; `d_unhashed` is a racy read in C too.
        unsafe { ffi::rovl_d_unhashed(self.as_ptr()) }
    }

    /// Encodes a file handle of this dentry's inode (non-connectable, as
    /// overlayfs does for origins) into `fid`: returns its type and length
    /// in bytes.
    pub(crate) fn encode_fh(&self, fid: &mut [u32]) -> Result<(i32, usize)> {
        let inode = self.inode().ok_or(ENOENT)?;
        let mut dwords = i32::try_from(fid.len()).map_err(|_| EINVAL)?;
        // SAFETY: `inode` is live; `fid` is writable for `dwords` words.
        let t = unsafe {
            ffi::exportfs_encode_inode_fh(
                inode.as_ptr(),
                fid.as_mut_ptr().cast(),
                &mut dwords,
                core::ptr::null_mut(),
                0,
            )
        };
        // FILEID_INVALID is 0xff.
        if t < 0 || t == 0xff || dwords < 0 || dwords as usize > fid.len() {
            return Err(EIO);
        }
        Ok((t, dwords as usize * 4))
    }
}

impl Mount {
    /// Decodes a file handle on this mount (`exportfs_decode_fh`): a
    /// non-directory may come back disconnected; with `connected`, a
    /// directory must be connected below the mount's root
    /// (`ovl_acceptable`), else it may be disconnected too.
    pub(crate) fn decode_fh(
        &self,
        fid: &mut [u32],
        len: usize,
        fh_type: i32,
        connected: bool,
    ) -> Result<ARef<Dentry>> {
        let words = i32::try_from(len / 4).map_err(|_| EINVAL)?;
        if len / 4 > fid.len() {
            return Err(EINVAL);
        }
        // SAFETY: `fid` is valid for `words` words; the callback only reads
        // the dentry it is given and `ctx`, which is this live mount.
        let d = unsafe {
            ffi::exportfs_decode_fh(
                self.as_ptr(),
                fid.as_mut_ptr().cast(),
                words,
                fh_type,
                if connected { Some(acceptable) } else { None },
                self.as_ptr().cast(),
            )
        };
        let d = from_err_ptr(d)?;
        let d = NonNull::new(d).ok_or_else(|| super::errno(bindings::ESTALE))?;
        // SAFETY: Success returns a new reference.
        Ok(unsafe { ARef::from_raw(d.cast()) })
    }
}

/// Which decoded dentries to take (`ovl_acceptable`): any non-directory,
/// since only its inode number is needed; a directory only if it is still
/// hashed and below the root of the mount decoded on.
///
/// # Safety
///
/// Called by `exportfs_decode_fh` with the live mount passed as `ctx` and a
/// referenced dentry.
unsafe extern "C" fn acceptable(
    ctx: *mut kernel::ffi::c_void,
    dentry: *mut bindings::dentry,
) -> i32 {
    // SAFETY: By the safety requirements.
    let (d, root) = unsafe {
        (
            Dentry::from_raw(dentry),
            (*ctx.cast::<bindings::vfsmount>()).mnt_root,
        )
    };
    if !d.can_lookup() {
        return 1;
    }
    if d.is_unhashed() {
        return 0;
    }
    // SAFETY: Both dentries are live.
    i32::from(unsafe { bindings::is_subdir(dentry, root) })
}

impl Kstat {
    /// Owner and group (kernel ids).
    pub(crate) fn ids(&mut self) -> (bindings::kuid_t, bindings::kgid_t) {
        let s = self.raw();
        (s.uid, s.gid)
    }

    pub(crate) fn mode(&mut self) -> u16 {
        self.raw().mode
    }

    pub(crate) fn nlink(&mut self) -> u32 {
        self.raw().nlink
    }

    pub(crate) fn atime(&mut self) -> Time {
        let t = self.raw().atime;
        Time {
            sec: t.tv_sec,
            nsec: t.tv_nsec as i64,
        }
    }

    pub(crate) fn mtime(&mut self) -> Time {
        let t = self.raw().mtime;
        Time {
            sec: t.tv_sec,
            nsec: t.tv_nsec as i64,
        }
    }
}

/// Credentials for creating an object on the upper layer on behalf of the
/// caller: the mounter's, with the caller's fsuid and fsgid so the object
/// gets the caller's ownership (overlayfs's `ovl_create_or_link`).
pub(crate) struct CreateCreds {
    cred: ARef<super::Cred>,
}

impl CreateCreds {
    /// Must be called in the caller's context, before overriding creds.
    /// `dir` is the rovl directory the object goes in: a setgid one gives
    /// its group (`inode_init_owner`).
    pub(crate) fn new(mounter: &super::Cred, dir: &super::Inode) -> Result<Self> {
        let mut uid = bindings::kuid_t { val: 0 };
        let mut gid = bindings::kgid_t { val: 0 };
        // SAFETY: Both are writable.
        unsafe { ffi::rovl_current_fsids(&mut uid, &mut gid) };
        if dir.mode() & bindings::S_ISGID as u16 != 0 {
            // SAFETY: `i_gid` of a live inode, read as C does.
            gid = unsafe { (*dir.as_ptr()).i_gid };
        }
        let cred = {
            let _g = mounter.override_creds();
            super::Cred::prepare()?
        };
        // SAFETY: `prepare_creds` gave us a private, uncommitted copy that
        // nobody else sees yet: its ids may be written.
        unsafe {
            let c = cred.as_ptr().cast_mut();
            (*c).fsuid = uid;
            (*c).fsgid = gid;
        }
        Ok(Self { cred })
    }

    pub(crate) fn override_creds(&self) -> super::cred::CredGuard {
        self.cred.override_creds()
    }
}

/// The current task's umask.
pub(crate) fn current_umask() -> u16 {
    // SAFETY: No preconditions.
    unsafe { bindings::current_umask() as u16 }
}

/// The exclusive-use mark of an upper or work directory, held for the life
/// of a mount (overlayfs's `I_OVL_INUSE`).
///
/// # Invariants
///
/// `dir` is positive and its inode carries the mark this object set.
pub(crate) struct InUse {
    dir: ARef<Dentry>,
}

impl InUse {
    /// Marks `dir` as in use, or `None` if another mount did.
    pub(crate) fn try_lock(dir: &Dentry) -> Option<Self> {
        dir.inode()?;
        // SAFETY: `dir` is a referenced positive dentry.
        let locked = unsafe { ffi::rovl_inuse_trylock(dir.as_ptr()) };
        // INVARIANT: The mark was set just above.
        locked.then(|| Self {
            dir: ARef::from(dir),
        })
    }

    /// Whether some mount marked `dir` as its upper or work directory.
    pub(crate) fn is_marked(dir: &Dentry) -> bool {
        // SAFETY: `dir` is a referenced dentry; positive is checked first.
        dir.inode().is_some() && unsafe { ffi::rovl_is_inuse(dir.as_ptr()) }
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the mark is ours.
        unsafe { ffi::rovl_inuse_unlock(self.dir.as_ptr()) };
    }
}

/// A file's attribute flags (`struct fileattr`): `FS_*_FL` as
/// `FS_IOC_GETFLAGS` shows them and `FS_XFLAG_*` as `FS_IOC_FSGETXATTR`.
pub(crate) struct FileAttr {
    flags: u32,
    xflags: u32,
}

/// The `struct fileattr` of a `->fileattr_get()`/`->fileattr_set()` call,
/// borrowed for the call (`FS_IOC_GETFLAGS`, `FS_IOC_FSGETXATTR`, ...).
///
/// # Invariants
///
/// Points to the live fileattr of the call in progress.
pub(crate) struct FileAttrArg(*mut bindings::fileattr);

/// `FS_APPEND_FL | FS_IMMUTABLE_FL` and `FS_XFLAG_APPEND |
/// FS_XFLAG_IMMUTABLE`: the flags kept in `protattr` on upper objects.
pub(crate) const PROT_FS_FLAGS: u32 = 0x20 | 0x10;
const PROT_FSX_FLAGS: u32 = 0x10 | 0x8;

impl FileAttrArg {
    /// # Safety
    ///
    /// `fa` must be the fileattr of a `->fileattr_get/set()` call in
    /// progress, and the value must not outlive it.
    pub(crate) unsafe fn from_raw(fa: *mut bindings::fileattr) -> Self {
        Self(fa)
    }

    /// The `FS_*_FL` flags, and whether the call is the `FS_IOC_FS*XATTR`
    /// form.
    pub(crate) fn flags(&self) -> (u32, bool) {
        let (mut flags, mut xflags, mut fsx) = (0, 0, false);
        // SAFETY: By the type invariant; the out pointers are valid.
        unsafe { ffi::rovl_fileattr_words(self.0, &mut flags, &mut xflags, &mut fsx) };
        (flags, fsx)
    }

    fn words(&self) -> (u32, u32) {
        let (mut flags, mut xflags, mut fsx) = (0, 0, false);
        // SAFETY: By the type invariant; the out pointers are valid.
        unsafe { ffi::rovl_fileattr_words(self.0, &mut flags, &mut xflags, &mut fsx) };
        (flags, xflags)
    }

    /// Adds (`on`) or removes the append-only and immutable flags of
    /// `inode_flags` (`S_APPEND`, `S_IMMUTABLE`) in both flag words.
    pub(crate) fn set_prot(&mut self, inode_flags: u32, on: bool) {
        let (mut flags, mut xflags) = self.words();
        if on {
            if inode_flags & bindings::S_APPEND != 0 {
                flags |= 0x20;
                xflags |= 0x10;
            }
            if inode_flags & bindings::S_IMMUTABLE != 0 {
                flags |= 0x10;
                xflags |= 0x8;
            }
        } else {
            flags &= !PROT_FS_FLAGS;
            xflags &= !PROT_FSX_FLAGS;
        }
        // SAFETY: By the type invariant.
        unsafe { ffi::rovl_fileattr_set_words(self.0, flags, xflags) };
    }

    /// Fills this fileattr from the real object at `path`
    /// (`ovl_real_fileattr_get`), after the LSM check an ioctl on it would
    /// get.
    pub(crate) fn get_from(&mut self, path: &RealPath<'_>, cred: &Cred) -> Result {
        self.security(path, false, cred)?;
        // SAFETY: By the type invariant; `path` holds a positive dentry.
        match to_result(unsafe { ffi::vfs_fileattr_get(path.dentry.as_ptr(), self.0) }) {
            Err(e) if e.to_errno() == -(bindings::ENOIOCTLCMD as i32) => Err(ENOTTY),
            r => r,
        }
    }

    /// Sets this fileattr on the real object at `path`
    /// (`ovl_real_fileattr_set`).
    pub(crate) fn set_on(&self, path: &RealPath<'_>, cred: &Cred) -> Result {
        self.security(path, true, cred)?;
        // SAFETY: By the type invariant; `path` holds a positive dentry.
        to_result(unsafe { ffi::vfs_fileattr_set(path.mnt.idmap(), path.dentry.as_ptr(), self.0) })
    }

    /// `security_file_ioctl` on the real object, which needs a file
    /// (`ovl_security_fileattr`).
    fn security(&self, path: &RealPath<'_>, set: bool, cred: &Cred) -> Result {
        const GETFLAGS: u32 = 0x8008_6601;
        const SETFLAGS: u32 = 0x4008_6602;
        const FSGETXATTR: u32 = 0x801c_581f;
        const FSSETXATTR: u32 = 0x401c_5820;
        let fsx = self.flags().1;
        let cmd = match (set, fsx) {
            (false, false) => GETFLAGS,
            (false, true) => FSGETXATTR,
            (true, false) => SETFLAGS,
            (true, true) => FSSETXATTR,
        };
        let f = File::open_path(path, bindings::O_RDONLY, cred)?;
        // SAFETY: `f` is a live file.
        to_result(unsafe { ffi::rovl_security_file_ioctl(f.as_ptr(), cmd) })
    }
}

/// `FS_SYNC_FL` and `FS_NOATIME_FL`, with their `FS_XFLAG_*` twins: the
/// flags copy-up copies as they are (`OVL_COPY_FS_FLAGS_MASK`).
pub(crate) const COPY_FS_FLAGS: u32 = 0x8 | 0x80;
const COPY_FSX_FLAGS: u32 = 0x20 | 0x40;

impl FileAttr {
    pub(crate) fn flags(&self) -> u32 {
        self.flags
    }
}

impl Dentry {
    /// The attribute flags of this real object (`vfs_fileattr_get`);
    /// `ENOTTY` where its filesystem has none.
    pub(crate) fn fileattr_get(&self) -> Result<FileAttr> {
        let mut fa = FileAttr {
            flags: 0,
            xflags: 0,
        };
        // SAFETY: `self` is a referenced positive dentry; the out pointers
        // are valid.
        to_result(unsafe { ffi::rovl_fileattr_get(self.as_ptr(), &mut fa.flags, &mut fa.xflags) })?;
        Ok(fa)
    }

    /// Gives this real object on `mnt` the copy-up flags of `from`, keeping
    /// its other flags (`ovl_copy_fileattr`).
    pub(crate) fn copy_fileattr(&self, mnt: &Mount, from: &FileAttr) -> Result {
        // SAFETY: `self` is a referenced positive dentry of `mnt`.
        to_result(unsafe {
            ffi::rovl_fileattr_set_masked(
                mnt.idmap(),
                self.as_ptr(),
                from.flags,
                from.xflags,
                COPY_FS_FLAGS,
                COPY_FSX_FLAGS,
            )
        })
    }
}

/// What a new object in a directory gets from the directory's default ACL
/// (`posix_acl_create`): its mode (with the umask applied if there is no
/// default ACL), its access ACL and, for a directory, its default ACL.
pub(crate) struct NewAcls {
    pub(crate) mode: u16,
    access: Option<PosixAcl>,
    default: Option<PosixAcl>,
}

impl NewAcls {
    /// For an object of `mode` (with its type) made in the rovl directory
    /// `dir`, whose ACLs are its upper directory's.
    pub(crate) fn new(dir: &Inode, mode: u16) -> Result<Self> {
        let mut m: bindings::umode_t = mode;
        let mut default = core::ptr::null_mut();
        let mut access = core::ptr::null_mut();
        // SAFETY: `dir` is a live directory inode; the out pointers are
        // valid and receive NULL or a reference each.
        to_result(unsafe {
            ffi::posix_acl_create(dir.as_ptr(), &mut m, &mut default, &mut access)
        })?;
        Ok(Self {
            mode: m,
            // INVARIANT: `posix_acl_create` gave us these references.
            access: NonNull::new(access).map(|acl| PosixAcl { acl }),
            default: NonNull::new(default).map(|acl| PosixAcl { acl }),
        })
    }

    /// Sets the ACLs on the new real object `d` on `mnt`.
    pub(crate) fn apply(&self, d: &Dentry, mnt: &Mount) -> Result {
        for (acl, name) in [
            (&self.access, kernel::c_str!("system.posix_acl_access")),
            (&self.default, kernel::c_str!("system.posix_acl_default")),
        ] {
            if let Some(a) = acl {
                // SAFETY: `d` is a referenced dentry of `mnt`; `a` holds a
                // reference for the duration of the call.
                unsafe { d.set_acl_raw(mnt, name, a.as_ptr())? };
            }
        }
        Ok(())
    }
}
