//! Kernel locks: a spin lock that holds off preemption while held.
//!
//! Shared kernel state (the job table, pipes, the firewall table, a console) is
//! guarded by [`Mutex`]. While a thread holds one, the platform does not preempt it,
//! so `kill -9` (which ends a thread at a preemption point) can never strand a lock,
//! and no other thread ever spins on a held lock. The platform installs its
//! preemption counter once at boot with [`set_preemption`]; without one (host tests)
//! the hooks do nothing. Hold these locks briefly and never block while holding one.

use core::ops::{Deref, DerefMut};

/// The platform's preemption counter.
pub trait Preemption: Sync {
    /// Holds off preemption of the calling thread (nests).
    fn disable(&self);
    /// Undoes one `disable`; preemption resumes when the count reaches zero.
    fn enable(&self);
}

static PREEMPTION: spin::Once<&'static dyn Preemption> = spin::Once::new();

/// Installs the platform's preemption counter (once; later calls are ignored).
pub fn set_preemption(preemption: &'static dyn Preemption) {
    PREEMPTION.call_once(|| preemption);
}

fn disable_preemption() {
    if let Some(p) = PREEMPTION.get() {
        p.disable();
    }
}

fn enable_preemption() {
    if let Some(p) = PREEMPTION.get() {
        p.enable();
    }
}

/// A spin lock for kernel state; see the module docs.
pub struct Mutex<T> {
    inner: spin::Mutex<T>,
}

/// Holds a [`Mutex`]; preemption comes back when dropped.
pub struct MutexGuard<'a, T> {
    guard: Option<spin::MutexGuard<'a, T>>,
}

impl<T> Mutex<T> {
    pub const fn new(value: T) -> Self {
        Self {
            inner: spin::Mutex::new(value),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, T> {
        disable_preemption();
        MutexGuard {
            guard: Some(self.inner.lock()),
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("held until drop")
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("held until drop")
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.guard = None;
        enable_preemption();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicI32, Ordering};

    struct Counter(AtomicI32);

    impl Preemption for Counter {
        fn disable(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn enable(&self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }

    static COUNTER: Counter = Counter(AtomicI32::new(0));

    #[test]
    fn a_held_lock_holds_off_preemption() {
        set_preemption(&COUNTER);
        let lock = Mutex::new(5);
        {
            let mut guard = lock.lock();
            *guard += 1;
            assert_eq!(COUNTER.0.load(Ordering::SeqCst), 1);
            let other = Mutex::new(());
            let _nested = other.lock();
            assert_eq!(COUNTER.0.load(Ordering::SeqCst), 2);
        }
        assert_eq!(COUNTER.0.load(Ordering::SeqCst), 0);
        assert_eq!(*lock.lock(), 6);
    }
}
