//! `kiln.bootstats`: TSC stamps of the boot's phases, printed in one line just before
//! the first prompt, in cycles since the 32-bit entry (the TSC rate is only learnt from
//! timer ticks later, `time.rs`; under TCG the TSC runs at the host's rate).
//!
//! Phases, in order: `entry` (the first instruction, `boot.rs`), `long_mode` (paging
//! on, 64-bit), `heap`, `interrupts`, `init` (init's thread runs), `keyboard` (the
//! keyboard console started, or not there), `net` (the network looked for), `rc`
//! (the rc script loaded; it is parsed as it starts to run), `prompt` (the shell about
//! to show its first prompt).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Stamped by `boot.rs` in 32-bit code: the TSC at `pvh_start` and after paging. In
/// `.data`, since `.bss` is cleared after the first stamp.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".data.kiln_boot_tsc")]
static mut kiln_boot_tsc: [u64; 2] = [0; 2];

/// The phases after the two the assembly stamps, in order.
const PHASES: &[&str] = kiln_init::platform::BOOT_PHASES.split_at(2).1;

static STAMPS: [AtomicU64; PHASES.len()] = [const { AtomicU64::new(0) }; PHASES.len()];
static ENABLED: AtomicBool = AtomicBool::new(false);
/// init's thread, which runs the serial session: its prompt is the one that counts (the
/// keyboard console's may come first).
static INIT_THREAD: AtomicU64 = AtomicU64::new(0);
static PRINTED: AtomicBool = AtomicBool::new(false);

/// The kernel command line word.
pub const WORD: &str = "kiln.bootstats";

/// Turns the line on when `command_line` has [`WORD`].
pub fn configure(command_line: &str) {
    if command_line.split_whitespace().any(|w| w == WORD) {
        ENABLED.store(true, Ordering::Relaxed);
    }
}

/// Stamps `phase` (its first time only); at `prompt`, prints the line.
pub fn mark(phase: &str) {
    // Without the word, nothing to stamp: no code run that the boot does not need.
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let Some(index) = PHASES.iter().position(|p| *p == phase) else {
        return;
    };
    let thread = crate::sched::current_id();
    match phase {
        "init" => INIT_THREAD.store(thread, Ordering::Relaxed),
        "prompt" if INIT_THREAD.load(Ordering::Relaxed) != thread => return,
        _ => {}
    }
    let _ = STAMPS[index].compare_exchange(
        0,
        crate::time::rdtsc(),
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    if phase == "prompt" && !PRINTED.swap(true, Ordering::Relaxed) {
        print();
    }
}

fn print() {
    // SAFETY: written once by the boot code before any Rust ran; read-only since.
    let [entry, long_mode] = unsafe { core::ptr::read_volatile(&raw const kiln_boot_tsc) };
    let mut line = alloc::format!(
        "kiln: bootstats cycles since entry: entry=0 long_mode={}",
        long_mode.saturating_sub(entry)
    );
    for (name, stamp) in PHASES.iter().zip(&STAMPS) {
        let at = stamp.load(Ordering::Relaxed);
        line.push_str(&alloc::format!(" {name}={}", at.saturating_sub(entry)));
    }
    crate::kprintln!("{line}");
}
