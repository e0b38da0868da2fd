//! The monotonic clock: PIT ticks, refined with the TSC between ticks.
//!
//! The tick counter advances at [`crate::pic::TICK_HZ`]. The TSC rate is learnt from
//! the ticks themselves once enough have passed (no calibration delay at boot); until
//! then, and whenever the TSC looks wrong, time has tick resolution.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::pic::TICK_HZ;

const NANOS_PER_TICK: u64 = 1_000_000_000 / TICK_HZ;
/// Ticks to wait before trusting the measured TSC rate.
const CALIBRATION_TICKS: u64 = 100;

static TICKS: AtomicU64 = AtomicU64::new(0);
static TSC_AT_TICK: AtomicU64 = AtomicU64::new(0);
static TSC_AT_BOOT: AtomicU64 = AtomicU64::new(0);
/// TSC cycles per tick once calibrated, else 0.
static TSC_PER_TICK: AtomicU64 = AtomicU64::new(0);

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects and is available on every x86_64 CPU.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Records the TSC at boot; called before interrupts are on.
pub fn init() {
    let now = rdtsc();
    TSC_AT_BOOT.store(now, Ordering::Relaxed);
    TSC_AT_TICK.store(now, Ordering::Relaxed);
}

/// Counts a timer interrupt; returns the new tick count.
pub fn on_tick() -> u64 {
    let ticks = TICKS.fetch_add(1, Ordering::Relaxed) + 1;
    let tsc = rdtsc();
    TSC_AT_TICK.store(tsc, Ordering::Relaxed);
    if ticks == CALIBRATION_TICKS {
        let per_tick = (tsc - TSC_AT_BOOT.load(Ordering::Relaxed)) / CALIBRATION_TICKS;
        TSC_PER_TICK.store(per_tick, Ordering::Relaxed);
    }
    ticks
}

/// Timer interrupts since boot.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// TSC cycles per second, once calibrated.
pub fn tsc_hz() -> Option<u64> {
    match TSC_PER_TICK.load(Ordering::Relaxed) {
        0 => None,
        per_tick => Some(per_tick * TICK_HZ),
    }
}

/// Nanoseconds since boot.
pub fn now_ns() -> u64 {
    loop {
        let ticks = TICKS.load(Ordering::Acquire);
        let tick_tsc = TSC_AT_TICK.load(Ordering::Acquire);
        let tsc = rdtsc();
        if TICKS.load(Ordering::Acquire) != ticks {
            continue; // a tick landed in between: read a consistent pair again
        }
        let base = ticks * NANOS_PER_TICK;
        let per_tick = TSC_PER_TICK.load(Ordering::Relaxed);
        if per_tick == 0 {
            return base;
        }
        let since_tick = tsc.saturating_sub(tick_tsc);
        // A tick may be pending while interrupts are off: never report a whole tick more.
        return base + (since_tick * NANOS_PER_TICK / per_tick).min(NANOS_PER_TICK - 1);
    }
}
