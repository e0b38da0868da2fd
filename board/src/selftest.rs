//! Self-tests of the board, run inside the image when the kernel command line says
//! `kiln.selftest` (as Unikraft's uktest does). Each prints `selftest NAME: ok|FAIL`
//! with its figures, then a summary line `selftest: N passed, M failed`.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kiln_init::platform::{ThreadKind, closure_body};

use crate::{heap, kprintln, sched, time};

const MILLI: u64 = 1_000_000;

/// A self-test: its name, and a function that says whether it passed.
type SelfTest = (&'static str, fn() -> bool);

/// Runs every self-test; returns how many failed.
pub fn run() -> u32 {
    let tests: [SelfTest; 6] = [
        ("timer", timer),
        ("preemption", preemption),
        ("sleep", sleep_accuracy),
        // Before `heap`: its figures probe the largest free block, which grows the arena.
        ("arena", arena_grows_on_demand),
        ("heap", heap_roundtrip),
        ("join", spawn_and_join),
    ];
    let mut failed = 0;
    for (name, test) in tests {
        let ok = test();
        kprintln!("selftest {name}: {}", if ok { "ok" } else { "FAIL" });
        if !ok {
            failed += 1;
        }
    }
    kprintln!(
        "selftest: {} passed, {} failed",
        tests.len() as u32 - failed,
        failed
    );
    failed
}

/// The tick counter advances while a thread sleeps.
fn timer() -> bool {
    let before = time::ticks();
    sched::park(Some(50 * MILLI));
    let after = time::ticks();
    kprintln!("selftest timer: {} ticks in a 50 ms park", after - before);
    after - before >= 40
}

/// Two threads that never yield both make progress: the timer preempts them.
fn preemption() -> bool {
    let stop = Arc::new(AtomicBool::new(false));
    let counters: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let mut ids = Vec::new();
    for index in 0..2 {
        let (stop, counters) = (stop.clone(), counters.clone());
        let body = closure_body(
            move || {
                while !stop.load(Ordering::Relaxed) {
                    counters[index].fetch_add(1, Ordering::Relaxed);
                }
            },
            |_| {},
        );
        match sched::spawn("busy", ThreadKind::Kernel, body) {
            Ok(id) => ids.push(id),
            Err(_) => return false,
        }
    }
    sched::park(Some(100 * MILLI));
    let seen = [
        counters[0].load(Ordering::Relaxed),
        counters[1].load(Ordering::Relaxed),
    ];
    sched::park(Some(50 * MILLI));
    let later = [
        counters[0].load(Ordering::Relaxed),
        counters[1].load(Ordering::Relaxed),
    ];
    stop.store(true, Ordering::Relaxed);
    for id in ids {
        sched::join(id);
    }
    kprintln!(
        "selftest preemption: busy counters {:?} then {:?}, {} switches so far",
        seen,
        later,
        sched::switches()
    );
    seen.iter().all(|&c| c > 0) && later[0] > seen[0] && later[1] > seen[1]
}

/// A 20 ms sleep lasts at least 20 ms and not much longer.
fn sleep_accuracy() -> bool {
    let mut worst_late = 0;
    let mut early = false;
    for _ in 0..5 {
        let start = time::now_ns();
        let deadline = start + 20 * MILLI;
        while time::now_ns() < deadline {
            sched::park_until(Some(deadline));
        }
        let took = time::now_ns() - start;
        early |= took < 20 * MILLI;
        worst_late = worst_late.max(took.saturating_sub(20 * MILLI));
    }
    kprintln!(
        "selftest sleep: 5 x 20 ms, worst overshoot {} us",
        worst_late / 1000
    );
    !early && worst_late < 10 * MILLI
}

/// The boot claims only the start of the heap, and a block beyond it still fits.
fn arena_grows_on_demand() -> bool {
    let before = heap::arena_bytes();
    let wanted = before + (1 << 20);
    // The free part of the arena is smaller than `wanted`, so talc must grow it.
    let block: Vec<u8> = alloc::vec![0x5A; wanted];
    let after = heap::arena_bytes();
    let intact = block.iter().all(|&b| b == 0x5A);
    drop(block);
    kprintln!("selftest arena: {before} bytes at boot, {after} after a {wanted}-byte block");
    intact && before < heap::stats().size && after >= before + wanted
}

/// Allocating shows in the heap figures, and freeing gives it back.
fn heap_roundtrip() -> bool {
    let before = heap::stats();
    let block: Vec<u8> = alloc::vec![0xA5; 1 << 20];
    let during = heap::stats();
    let intact = block.iter().all(|&b| b == 0xA5);
    drop(block);
    let after = heap::stats();
    kprintln!(
        "selftest heap: size {} used {} -> {} -> {}, largest free {}",
        before.size,
        before.used,
        during.used,
        after.used,
        after.largest_free
    );
    intact && during.used >= before.used + (1 << 20) && after.used <= before.used + 64
}

/// A spawned thread runs to the end and `join` waits for it.
fn spawn_and_join() -> bool {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let Ok(id) = sched::spawn(
        "joinee",
        ThreadKind::Kernel,
        closure_body(
            move || {
                sched::park(Some(5 * MILLI));
                flag.store(true, Ordering::Relaxed);
            },
            |_| {},
        ),
    ) else {
        return false;
    };
    sched::join(id);
    done.load(Ordering::Relaxed)
}
