//! CPU exceptions and panics: end the job, never the image.
//!
//! A fault in a program's thread prints a report (thread, exception, instruction
//! pointer, faulting address for a page fault, "stack overflow" when it hit the guard
//! page) and ends that thread with status 128 + vector; a panic ends it with 101.
//! Either way the thread is never resumed and its job learns the status through the
//! `on_abort` hook. A fault or panic in the kernel itself (an interrupt handler, the
//! idle thread, a thread without a job) halts with the report.

use core::sync::atomic::{AtomicU32, Ordering};

use x86_64::registers::control::Cr2;

use crate::interrupts::{Frame, exception_name};
use crate::{kprintln, power, sched};

/// Status base for a job ended by a CPU exception (as sh reports signals).
pub const FAULT_STATUS_BASE: u8 = 128;
/// Status of a job whose program panicked (as Rust's test harness reports it).
pub const PANIC_STATUS: u8 = 101;
const PAGE_FAULT: u64 = 14;

/// Interrupt handlers currently running (0 or 1: they never nest).
static INTERRUPT_DEPTH: AtomicU32 = AtomicU32::new(0);

/// Marks the start and end of interrupt handling, for the panic handler.
pub fn interrupt_entered() {
    INTERRUPT_DEPTH.fetch_add(1, Ordering::Relaxed);
}

pub fn interrupt_left() {
    INTERRUPT_DEPTH.fetch_sub(1, Ordering::Relaxed);
}

/// A CPU exception (vectors 0-31).
pub fn on_exception(frame: *mut Frame) -> *mut Frame {
    // SAFETY: the entry stub passes its freshly pushed frame.
    let f = unsafe { &*frame };
    let name = exception_name(f.vector);
    let thread = sched::current_name();
    let in_kernel = INTERRUPT_DEPTH.load(Ordering::Relaxed) > 1
        || sched::current_is_idle()
        || !sched::current_has_job();
    kprintln!(
        "kiln: fault: {name} (vector {}) in thread {} '{}'",
        f.vector,
        sched::current_id(),
        thread
    );
    kprintln!(
        "kiln:   at rip {:#x}{}",
        f.rip,
        crate::symbols::describe(f.rip)
    );
    if f.vector == PAGE_FAULT {
        let address = Cr2::read_raw();
        let (guard, _top) = sched::current_stack();
        if (guard..guard + crate::guard::PAGE_SIZE as u64).contains(&address) {
            kprintln!("kiln:   stack overflow (hit the guard page at {address:#x})");
        } else {
            kprintln!(
                "kiln:   faulting address {address:#x}, error code {:#x}",
                f.error_code
            );
        }
    }
    if in_kernel {
        kprintln!("kiln: fault in the kernel; halting");
        power::halt();
    }
    sched::abort_from_interrupt(frame, FAULT_STATUS_BASE + f.vector as u8)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let thread = sched::current_name();
    let location = info
        .location()
        .map(|l| (l.file(), l.line(), l.column()))
        .unwrap_or(("?", 0, 0));
    kprintln!(
        "kiln: panic in thread {} '{}' at {}:{}:{}: {}",
        sched::current_id(),
        thread,
        location.0,
        location.1,
        location.2,
        info.message()
    );
    if INTERRUPT_DEPTH.load(Ordering::Relaxed) > 0
        || sched::current_is_idle()
        || !sched::current_has_job()
    {
        kprintln!("kiln: panic in the kernel; halting");
        power::halt();
    }
    sched::abort_current(PANIC_STATUS)
}
