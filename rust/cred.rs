// SPDX-License-Identifier: GPL-2.0

//! Credentials: the mounter's, kept for the life of a mount, and overrides.

use super::ffi;
use core::ptr::NonNull;
use kernel::bindings;
use kernel::error::{code::ENOMEM, Result};
use kernel::types::{ARef, AlwaysRefCounted, Opaque};

/// A `struct cred`.
///
/// # Invariants
///
/// The object is a valid, live credential set whose refcount is managed by
/// `get_cred`/`put_cred`.
#[repr(transparent)]
pub(crate) struct Cred(Opaque<bindings::cred>);

// SAFETY: Credentials are immutable once committed and refcounted atomically.
unsafe impl Send for Cred {}
// SAFETY: As above.
unsafe impl Sync for Cred {}

// SAFETY: `get_cred`/`put_cred` keep the object alive while a count is held.
unsafe impl AlwaysRefCounted for Cred {
    fn inc_ref(&self) {
        // SAFETY: `self` is live by the type invariant.
        unsafe { ffi::rovl_get_cred(self.0.get()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives up one reference it owns.
        unsafe { ffi::rovl_put_cred(obj.cast().as_ptr()) };
    }
}

impl Cred {
    /// # Safety
    ///
    /// `ptr` must be a live credential set that stays live for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *const bindings::cred) -> &'a Self {
        // SAFETY: `Cred` is a transparent wrapper of `struct cred`, live for
        // `'a` by the safety requirements.
        unsafe { &*ptr.cast() }
    }

    /// A copy of the current task's credentials, as overlayfs keeps the
    /// mounter's credentials to access the layers.
    pub(crate) fn prepare() -> Result<ARef<Self>> {
        // SAFETY: `prepare_creds` has no preconditions; it returns a new
        // credential set with one reference, or NULL.
        let ptr = unsafe { bindings::prepare_creds() };
        let ptr = NonNull::new(ptr.cast::<Self>()).ok_or(ENOMEM)?;
        // SAFETY: We own the one reference `prepare_creds` returned.
        Ok(unsafe { ARef::from_raw(ptr) })
    }

    /// The current task's credentials (`get_current_cred`).
    pub(crate) fn current() -> Result<ARef<Self>> {
        // SAFETY: No preconditions; returns a new reference.
        let ptr = unsafe { ffi::rovl_get_current_cred() };
        let ptr = NonNull::new(ptr.cast_mut().cast::<Self>()).ok_or(ENOMEM)?;
        // SAFETY: We own the reference.
        Ok(unsafe { ARef::from_raw(ptr) })
    }

    /// Runs the current task with `self` as its credentials until the guard drops.
    pub(crate) fn override_creds(&self) -> CredGuard {
        // SAFETY: `self` is live; `override_creds` takes its own reference.
        let old = unsafe { bindings::override_creds(self.0.get()) };
        // INVARIANT: `old` is what `override_creds` returned.
        CredGuard { old }
    }

    pub(crate) fn as_ptr(&self) -> *const bindings::cred {
        self.0.get()
    }
}

/// Restores the previous credentials of the current task on drop.
///
/// # Invariants
///
/// `old` was returned by `override_creds` on this task and not yet reverted.
pub(crate) struct CredGuard {
    old: *const bindings::cred,
}

impl Drop for CredGuard {
    fn drop(&mut self) {
        // SAFETY: By the type invariant; the guard is not `Send`, so this
        // runs on the task that overrode its credentials.
        unsafe { bindings::revert_creds(self.old) };
    }
}
