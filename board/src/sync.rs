//! Interrupt-safe locks.
//!
//! [`IrqMutex`] disables interrupts while held, so an interrupt handler never spins on
//! a lock its own CPU holds, and the holder is never preempted. Keep sections short.

use core::ops::{Deref, DerefMut};
use x86_64::instructions::interrupts;

/// A spin lock that disables interrupts while held.
pub struct IrqMutex<T> {
    inner: spin::Mutex<T>,
}

/// Holds an [`IrqMutex`]; interrupts come back (if they were on) when dropped.
pub struct IrqGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
    interrupts_were_enabled: bool,
}

impl<T> IrqMutex<T> {
    pub const fn new(value: T) -> Self {
        Self {
            inner: spin::Mutex::new(value),
        }
    }

    /// The lock if it is free now. On one CPU with interrupts off, a held lock is held
    /// by the code this CPU interrupted: a fault or panic path must not spin on it.
    pub fn try_lock(&self) -> Option<IrqGuard<'_, T>> {
        let interrupts_were_enabled = interrupts::are_enabled();
        interrupts::disable();
        match self.inner.try_lock() {
            Some(guard) => Some(IrqGuard {
                guard: Some(guard),
                interrupts_were_enabled,
            }),
            None => {
                if interrupts_were_enabled {
                    interrupts::enable();
                }
                None
            }
        }
    }

    pub fn lock(&self) -> IrqGuard<'_, T> {
        let interrupts_were_enabled = interrupts::are_enabled();
        interrupts::disable();
        IrqGuard {
            guard: Some(self.inner.lock()),
            interrupts_were_enabled,
        }
    }
}

impl<T> Deref for IrqGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("guard is held until drop")
    }
}

impl<T> DerefMut for IrqGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("guard is held until drop")
    }
}

impl<T> Drop for IrqGuard<'_, T> {
    fn drop(&mut self) {
        self.guard = None;
        if self.interrupts_were_enabled {
            interrupts::enable();
        }
    }
}
