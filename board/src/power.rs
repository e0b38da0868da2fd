//! Power off, halt and reboot.
//!
//! Power off writes the status to QEMU's `isa-debug-exit` device (I/O port
//! [`DEBUG_EXIT_PORT`]); QEMU then exits with `(status << 1) | 1`, and the launcher
//! turns that back into the status (exact for 0-127). The status is also printed as
//! `kiln: power off (status N)`, which the launcher prefers, so 128-255 survive too.
//! Without the device (other VMMs) it falls back to ACPI power off, then to a reset
//! through the i8042 (Firecracker stops the VM on it), then halts.

use core::sync::atomic::{AtomicU8, Ordering};

use crate::port::{inb, outb, outw};

/// The status the VM powers off with after a kernel panic or a fault outside any job.
pub const KERNEL_PANIC_STATUS: u8 = 255;
/// The kernel command line option that chooses what a kernel panic does.
pub const PANIC_OPTION: &str = "kiln.panic=";

/// What a kernel panic does (`kiln.panic=poweroff|halt|reboot`, as Linux's `panic=`).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum PanicAction {
    PowerOff = 0,
    Halt = 1,
    Reboot = 2,
}

static PANIC_ACTION: AtomicU8 = AtomicU8::new(PanicAction::PowerOff as u8);

/// Reads `kiln.panic=` from the kernel command line; an unknown value is reported and
/// the default (power off) kept.
pub fn configure_panic(command_line: &str) {
    let Some(value) = command_line
        .split_whitespace()
        .find_map(|word| word.strip_prefix(PANIC_OPTION))
    else {
        return;
    };
    let action = match value {
        "poweroff" => PanicAction::PowerOff,
        "halt" => PanicAction::Halt,
        "reboot" => PanicAction::Reboot,
        other => {
            crate::kprintln!(
                "kiln: {PANIC_OPTION}{other}: unknown (poweroff, halt or reboot); powering off on panic"
            );
            PanicAction::PowerOff
        }
    };
    PANIC_ACTION.store(action as u8, Ordering::Relaxed);
}

fn panic_action() -> PanicAction {
    match PANIC_ACTION.load(Ordering::Relaxed) {
        1 => PanicAction::Halt,
        2 => PanicAction::Reboot,
        _ => PanicAction::PowerOff,
    }
}

/// What a kernel panic is about to do, for its report line.
pub fn panic_action_name() -> &'static str {
    match panic_action() {
        PanicAction::PowerOff => "powering off (status 255)",
        PanicAction::Halt => "halting",
        PanicAction::Reboot => "rebooting",
    }
}

/// After a kernel panic's report: power off with [`KERNEL_PANIC_STATUS`], halt or
/// reboot, as configured. Takes no lock the panicking code may hold.
pub fn on_kernel_panic() -> ! {
    match panic_action() {
        PanicAction::PowerOff => {
            crate::kpanicln!("kiln: power off (status {KERNEL_PANIC_STATUS})");
            stop_the_vm(KERNEL_PANIC_STATUS)
        }
        PanicAction::Halt => halt(),
        PanicAction::Reboot => reboot(),
    }
}

/// I/O port of QEMU's `isa-debug-exit` device, as the launcher configures it.
pub const DEBUG_EXIT_PORT: u16 = 0xF4;
/// QEMU's PIIX/ICH9 ACPI PM1a control block.
const ACPI_PM1A_CONTROL: u16 = 0x604;
/// SLP_TYP 0 with SLP_EN: soft off on QEMU's ACPI.
const ACPI_SLEEP_ENABLE: u16 = 0x2000;
const KEYBOARD_CONTROLLER: u16 = 0x64;
const KEYBOARD_RESET_PULSE: u8 = 0xFE;
/// Port 0xCF9 reset control: full reset.
const RESET_CONTROL: u16 = 0xCF9;
const RESET_FULL: u8 = 0x0E;

/// Powers the machine off with `status`.
pub fn power_off(status: u8) -> ! {
    crate::kprintln!("kiln: power off (status {status})");
    stop_the_vm(status)
}

/// Tells the VMM to stop with `status`: isa-debug-exit (QEMU as the launcher runs it),
/// then ACPI soft off (QEMU's pc), then a reset through the i8042 controller, which is
/// how Firecracker's guests stop (QEMU with `-no-reboot` exits on it too); else halts.
fn stop_the_vm(status: u8) -> ! {
    outb(DEBUG_EXIT_PORT, status);
    outw(ACPI_PM1A_CONTROL, ACPI_SLEEP_ENABLE);
    x86_64::instructions::interrupts::disable();
    if inb(KEYBOARD_CONTROLLER) != 0xFF {
        outb(KEYBOARD_CONTROLLER, KEYBOARD_RESET_PULSE);
    }
    halt()
}

/// Stops the CPU for good.
pub fn halt() -> ! {
    x86_64::instructions::interrupts::disable();
    loop {
        x86_64::instructions::hlt();
    }
}

/// Resets the machine.
pub fn reboot() -> ! {
    // No lock: a kernel panic may reboot (`kiln.panic=reboot`) with the writers' lock held.
    crate::kpanicln!("kiln: reboot");
    x86_64::instructions::interrupts::disable();
    outb(RESET_CONTROL, RESET_FULL);
    if inb(KEYBOARD_CONTROLLER) != 0xFF {
        outb(KEYBOARD_CONTROLLER, KEYBOARD_RESET_PULSE);
    }
    // Last resort: a triple fault through an empty IDT.
    static EMPTY: x86_64::structures::idt::InterruptDescriptorTable =
        x86_64::structures::idt::InterruptDescriptorTable::new();
    // SAFETY: loading an empty IDT and trapping is meant to reset the CPU.
    unsafe {
        EMPTY.load_unsafe();
        core::arch::asm!("int3");
    }
    halt()
}
