//! CPU exceptions and panics: end the job, never the image.
//!
//! A fault in a program's thread ends that thread with status 128 + vector, a panic
//! with 101. The thread is never resumed; its job gets the status and a one-line
//! report (the exception, the instruction pointer and its symbol, the faulting address
//! for a page fault, "stack overflow" when it hit the guard page, or the panic message
//! and location) through its body's `aborted`, and writes it to the job's stderr. A
//! fault or panic in the kernel itself (an interrupt handler, the idle thread, a
//! kernel thread) prints the report on the serial console and then does what
//! `kiln.panic=` says: power off with [`power::KERNEL_PANIC_STATUS`] (the default),
//! halt, or reboot (see `power::on_kernel_panic`). A program thread that faults or
//! panics while it holds a kernel lock or runs with interrupts off is in kernel code,
//! with kernel state half changed: that is a kernel fault too.

use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicU32, Ordering};

use kiln_init::platform::Abort;
use x86_64::registers::control::Cr2;

use crate::interrupts::{Frame, exception_name};
use crate::{power, sched, stack, symbols};

/// Status base for a job ended by a CPU exception (as sh reports signals).
pub const FAULT_STATUS_BASE: u8 = 128;
/// Status of a job whose program panicked (as Rust's test harness reports it).
pub const PANIC_STATUS: u8 = 101;
/// The page-fault vector.
pub const PAGE_FAULT_VECTOR: u8 = 14;
/// RFLAGS.IF: interrupts were on where the fault happened.
const INTERRUPT_FLAG: u64 = 1 << 9;
/// The board function that faults on a program's request (its symbol contains this).
const RAISE_FAULT_SYMBOL: &str = "raise_fault";
/// How far up the stack a fault raised for a program looks for the program's frame.
const CALLER_SEARCH_BYTES: u64 = 512;
/// How `alloc::alloc::handle_alloc_error` words its panic.
const OUT_OF_MEMORY_MESSAGE: &str = "memory allocation of";

/// Interrupt handlers currently running (0 or 1: they never nest).
static INTERRUPT_DEPTH: AtomicU32 = AtomicU32::new(0);

/// Marks the start and end of interrupt handling, for the panic handler.
pub fn interrupt_entered() {
    INTERRUPT_DEPTH.fetch_add(1, Ordering::Relaxed);
}

pub fn interrupt_left() {
    INTERRUPT_DEPTH.fetch_sub(1, Ordering::Relaxed);
}

/// True when the code that faulted or panicked is the kernel's (see the module docs):
/// more than `handlers` interrupt handlers deep, on the idle or a kernel thread, or a
/// program thread inside kernel code (a kernel lock held, or interrupts off).
fn is_kernel_code(handlers: u32, interrupts_were_on: bool) -> bool {
    INTERRUPT_DEPTH.load(Ordering::Relaxed) > handlers
        || sched::current_is_idle()
        || !sched::current_is_program()
        || sched::kernel_locks_held()
        || !interrupts_were_on
}

/// Reports a fault or panic of the kernel and does what `kiln.panic=` says.
fn kernel_died(what: &str, report: &str) -> ! {
    crate::kpanicln!(
        "kiln: {what} in the kernel, thread {} '{}': {report}; {}",
        sched::current_id(),
        sched::current_name(),
        power::panic_action_name()
    );
    power::on_kernel_panic()
}

/// Where a fault happened, for the report. A fault a program asked for
/// (`Platform::raise_fault`, as `crash` does) is reported where the program asked: the
/// first return address on its stack outside the board's `raise_fault`.
fn fault_site(f: &Frame) -> String {
    let in_raise_fault = |address: u64| {
        symbols::lookup(address).is_some_and(|(name, _)| name.contains(RAISE_FAULT_SYMBOL))
    };
    if in_raise_fault(f.rip) {
        let (_, top) = sched::current_stack();
        let words = (f.rsp..top.min(f.rsp + CALLER_SEARCH_BYTES)).step_by(8);
        for at in words.filter(|at| at + 8 <= top) {
            // SAFETY: `at` lies between the faulting RSP and the top of the running
            // thread's stack, which is mapped (the thread used it to get here).
            let word = unsafe { (at as *const u64).read() };
            if symbols::lookup(word).is_some() && !in_raise_fault(word) {
                return format!(
                    "rip {word:#x}{} (raised through Platform::raise_fault)",
                    symbols::describe(word)
                );
            }
        }
    }
    format!("rip {:#x}{}", f.rip, symbols::describe(f.rip))
}

/// What went wrong, in one line.
fn describe(f: &Frame) -> String {
    let name = exception_name(f.vector);
    let at = fault_site(f);
    if f.vector != u64::from(PAGE_FAULT_VECTOR) {
        return format!("{name} (vector {}) at {at}", f.vector);
    }
    let address = Cr2::read_raw();
    let (guard, _top) = sched::current_stack();
    if (guard..guard + crate::guard::PAGE_SIZE as u64).contains(&address) {
        format!("stack overflow: page fault on the guard page at {address:#x}, {at}")
    } else if stack::is_unbacked(address) {
        format!("out of memory: no page for the stack to grow into at {address:#x}, {at}")
    } else {
        format!(
            "page fault (vector 14) at address {address:#x} (error code {:#x}), {at}",
            f.error_code
        )
    }
}

/// What went wrong in a process in ring 3, in one line (addresses are its own, with
/// the function when the program has symbols).
fn describe_user(f: &Frame) -> String {
    let function = crate::process::function_at(f.rip)
        .map(|name| format!(" ({name})"))
        .unwrap_or_default();
    if f.vector == u64::from(PAGE_FAULT_VECTOR) {
        return format!(
            "segmentation fault: page fault at address {:#x} (error code {:#x}) at rip {:#x}{function}",
            Cr2::read_raw(),
            f.error_code,
            f.rip
        );
    }
    format!(
        "{} (vector {}) at rip {:#x}{function}",
        exception_name(f.vector),
        f.vector,
        f.rip
    )
}

/// A CPU exception (vectors 0-31).
pub fn on_exception(frame: *mut Frame) -> *mut Frame {
    // SAFETY: the entry stub passes its freshly pushed frame.
    let f = unsafe { &*frame };
    // This handler is one interrupt deep itself.
    let in_kernel = is_kernel_code(1, f.rflags & INTERRUPT_FLAG != 0);
    // A program's stack growing into its next page: map it and go on.
    if f.vector == u64::from(PAGE_FAULT_VECTOR)
        && f.cs & 3 == 0
        && stack::grow(Cr2::read_raw(), f.error_code, in_kernel)
    {
        return frame;
    }
    let report = if f.cs & 3 == 3 {
        describe_user(f)
    } else {
        describe(f)
    };
    if in_kernel {
        kernel_died("fault", &report);
    }
    // A process in ring 3: the status a Linux shell shows for the signal it would get.
    let status = if f.cs & 3 == 3 {
        let signal = kiln_linux::abi::signal_for_exception(f.vector as u8);
        kiln_linux::abi::signal_status(signal)
    } else {
        FAULT_STATUS_BASE + f.vector as u8
    };
    sched::abort_from_interrupt(frame, Abort { status, report })
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    // Decided before the guard below counts as a kernel lock.
    let in_kernel = is_kernel_code(0, x86_64::instructions::interrupts::are_enabled());
    // The report outlives the program, whose own memory is reclaimed: make it the
    // kernel's (and exempt from the program's share, which an out-of-memory panic has
    // just exhausted). The thread never runs again, so the guard is never dropped.
    core::mem::forget(sched::NoPreempt::enter());
    let location = info
        .location()
        .map(|l| (l.file(), l.line(), l.column()))
        .unwrap_or(("?", 0, 0));
    let message = format!("{}", info.message());
    // The allocator's out-of-memory path panics inside `alloc`; its location is noise.
    let report = if message.starts_with(OUT_OF_MEMORY_MESSAGE) {
        format!("out of memory: {message}")
    } else {
        format!(
            "panicked at {}:{}:{}: {message}",
            location.0, location.1, location.2
        )
    };
    // Nothing on this stack is dropped once the thread ends: free it now.
    drop(message);
    if in_kernel {
        kernel_died("panic", &report);
    }
    sched::abort_current(Abort {
        status: PANIC_STATUS,
        report,
    })
}
