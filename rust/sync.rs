// SPDX-License-Identifier: GPL-2.0

//! A mutex whose waiters a signal can interrupt.

use super::ffi;
use kernel::bindings;
use kernel::error::{to_result, Result};
use kernel::prelude::*;
use kernel::types::Opaque;

/// A kernel `struct mutex` taken with `mutex_lock_interruptible`: a
/// waiter that gets a signal gives up with `EINTR`, as overlayfs's waits
/// for a copy-up do (6.12's `kernel::sync::Mutex` waits uninterruptibly).
/// All of them share one lockdep class.
///
/// # Invariants
///
/// `inner` was initialised by `mutex_init` and never moves.
#[pin_data]
pub(crate) struct SignalMutex {
    #[pin]
    inner: Opaque<bindings::mutex>,
}

// SAFETY: A `struct mutex` may be locked and unlocked from any task; it
// guards no data of its own.
unsafe impl Send for SignalMutex {}
// SAFETY: As above; every method takes `&self`.
unsafe impl Sync for SignalMutex {}

impl SignalMutex {
    /// A new, unlocked mutex.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is pinned and valid for `mutex_init` to fill.
            inner <- Opaque::ffi_init(|slot| unsafe { ffi::rovl_mutex_init(slot) }),
        })
    }

    /// Waits for the mutex, or until a signal is pending (`EINTR`).
    pub(crate) fn lock_interruptible(&self) -> Result<SignalMutexGuard<'_>> {
        // SAFETY: By the type invariants `inner` is an initialised mutex.
        to_result(unsafe { ffi::rovl_mutex_lock_interruptible(self.inner.get()) })?;
        // INVARIANT: The lock was just taken.
        Ok(SignalMutexGuard(self))
    }
}

/// A held [`SignalMutex`], unlocked on drop.
///
/// # Invariants
///
/// The current task holds the mutex.
pub(crate) struct SignalMutexGuard<'a>(&'a SignalMutex);

impl Drop for SignalMutexGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariants this task holds the mutex.
        unsafe { bindings::mutex_unlock(self.0.inner.get()) };
    }
}
