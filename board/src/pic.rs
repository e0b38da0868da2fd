//! The 8259 PIC pair, the 8254 PIT and the local APIC's virtual-wire mode.
//!
//! IRQs 0-15 are remapped to vectors 32-47. The PIT ticks at [`TICK_HZ`] on IRQ 0.
//! `-M microvm` has no BIOS to program the local APIC's LINT0, so [`init`] puts the
//! LAPIC in virtual-wire mode (LINT0 = ExtINT) itself; without it PIC interrupts never
//! arrive. Nothing is left to the firmware's routing.

use crate::interrupts::{IRQ_BASE, SPURIOUS_VECTOR};
use crate::port::{inb, outb};

pub const IRQ_TIMER: u8 = 0;
pub const IRQ_KEYBOARD: u8 = 1;
const IRQ_CASCADE: u8 = 2;
pub const IRQ_COM1: u8 = 4;
const IRQ_SPURIOUS_PRIMARY: u8 = 7;
const IRQ_SPURIOUS_SECONDARY: u8 = 15;

const PRIMARY_COMMAND: u16 = 0x20;
const PRIMARY_DATA: u16 = 0x21;
const SECONDARY_COMMAND: u16 = 0xA0;
const SECONDARY_DATA: u16 = 0xA1;
/// ICW1: edge triggered, cascade, ICW4 follows.
const ICW1_INIT_ICW4: u8 = 0x11;
/// ICW4: 8086 mode.
const ICW4_8086: u8 = 0x01;
/// OCW3: read the in-service register next.
const OCW3_READ_ISR: u8 = 0x0B;
const END_OF_INTERRUPT: u8 = 0x20;

const PIT_CHANNEL0: u16 = 0x40;
const PIT_COMMAND: u16 = 0x43;
/// Channel 0, low then high byte, mode 2 (rate generator).
const PIT_CHANNEL0_RATE: u8 = 0x34;
/// The PIT's input clock in Hz.
pub const PIT_HZ: u64 = 1_193_182;
/// Timer interrupts per second.
pub const TICK_HZ: u64 = 1000;

/// MSR holding the LAPIC base and its global enable bit.
const IA32_APIC_BASE: u32 = 0x1B;
const APIC_GLOBAL_ENABLE: u64 = 1 << 11;
const APIC_BASE_MASK: u64 = 0xFFFF_F000;
const LAPIC_SPURIOUS: usize = 0xF0;
const LAPIC_LINT0: usize = 0x350;
const LAPIC_LINT1: usize = 0x360;
const APIC_SOFTWARE_ENABLE: u32 = 1 << 8;
/// Delivery mode ExtINT, unmasked: the PIC's output passes straight through.
const LVT_EXTINT: u32 = 0x700;
/// Delivery mode NMI, unmasked.
const LVT_NMI: u32 = 0x400;
/// CPUID.1:EDX bit for an on-chip APIC.
const CPUID_APIC: u32 = 1 << 9;

/// Programs the PICs, the PIT and the LAPIC; IRQs stay off until `sti`.
pub fn init() {
    outb(PRIMARY_COMMAND, ICW1_INIT_ICW4);
    outb(SECONDARY_COMMAND, ICW1_INIT_ICW4);
    outb(PRIMARY_DATA, IRQ_BASE);
    outb(SECONDARY_DATA, IRQ_BASE + 8);
    outb(PRIMARY_DATA, 1 << IRQ_CASCADE);
    outb(SECONDARY_DATA, 2);
    outb(PRIMARY_DATA, ICW4_8086);
    outb(SECONDARY_DATA, ICW4_8086);
    let unmasked = (1 << IRQ_TIMER) | (1 << IRQ_KEYBOARD) | (1 << IRQ_CASCADE) | (1 << IRQ_COM1);
    outb(PRIMARY_DATA, !unmasked);
    outb(SECONDARY_DATA, 0xFF);

    let divisor = (PIT_HZ / TICK_HZ) as u16;
    outb(PIT_COMMAND, PIT_CHANNEL0_RATE);
    outb(PIT_CHANNEL0, divisor as u8);
    outb(PIT_CHANNEL0, (divisor >> 8) as u8);

    lapic_virtual_wire();
}

fn lapic_virtual_wire() {
    let has_apic = core::arch::x86_64::__cpuid(1).edx & CPUID_APIC != 0;
    if !has_apic {
        return;
    }
    let msr = x86_64::registers::model_specific::Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists when CPUID reports an APIC; setting the global
    // enable bit keeps the default base.
    let base = unsafe {
        let value = msr.read();
        let mut msr = msr;
        msr.write(value | APIC_GLOBAL_ENABLE);
        value & APIC_BASE_MASK
    };
    let write = |offset: usize, value: u32| {
        // SAFETY: the LAPIC page is identity-mapped by the boot page tables; these are
        // its architectural registers.
        unsafe { core::ptr::write_volatile((base as usize + offset) as *mut u32, value) }
    };
    write(
        LAPIC_SPURIOUS,
        APIC_SOFTWARE_ENABLE | u32::from(SPURIOUS_VECTOR),
    );
    write(LAPIC_LINT0, LVT_EXTINT);
    write(LAPIC_LINT1, LVT_NMI);
}

fn in_service(command_port: u16) -> u8 {
    outb(command_port, OCW3_READ_ISR);
    inb(command_port)
}

/// True for a spurious IRQ 7/15 (no bit in service); it gets no end-of-interrupt
/// (except the cascade's, for a spurious IRQ 15).
pub fn is_spurious(irq: u8) -> bool {
    match irq {
        IRQ_SPURIOUS_PRIMARY => in_service(PRIMARY_COMMAND) & (1 << 7) == 0,
        IRQ_SPURIOUS_SECONDARY => {
            let spurious = in_service(SECONDARY_COMMAND) & (1 << 7) == 0;
            if spurious {
                outb(PRIMARY_COMMAND, END_OF_INTERRUPT);
            }
            spurious
        }
        _ => false,
    }
}

/// Acknowledges `irq` so the PIC delivers the next one.
pub fn end_of_interrupt(irq: u8) {
    if irq >= 8 {
        outb(SECONDARY_COMMAND, END_OF_INTERRUPT);
    }
    outb(PRIMARY_COMMAND, END_OF_INTERRUPT);
}

/// True for a line a PCI device may have: not one of the lines kiln drives itself
/// (timer, keyboard, cascade, COM1) and not the spurious ones.
pub fn is_free_line(irq: u8) -> bool {
    irq < 16
        && ![
            IRQ_TIMER,
            IRQ_KEYBOARD,
            IRQ_CASCADE,
            IRQ_COM1,
            IRQ_SPURIOUS_PRIMARY,
            IRQ_SPURIOUS_SECONDARY,
        ]
        .contains(&irq)
}

fn mask_port_and_bit(irq: u8) -> (u16, u8) {
    if irq < 8 {
        (PRIMARY_DATA, 1 << irq)
    } else {
        (SECONDARY_DATA, 1 << (irq - 8))
    }
}

/// Masks `irq` (a device line, e.g. the network's, until its driver has acknowledged
/// the device). Call with interrupts off: it reads, changes and writes the mask.
pub fn mask(irq: u8) {
    let (port, bit) = mask_port_and_bit(irq);
    outb(port, inb(port) | bit);
}

/// Unmasks `irq` (and the cascade, for a secondary line). Call with interrupts off.
pub fn unmask(irq: u8) {
    let (port, bit) = mask_port_and_bit(irq);
    outb(port, inb(port) & !bit);
    if irq >= 8 {
        outb(PRIMARY_DATA, inb(PRIMARY_DATA) & !(1 << IRQ_CASCADE));
    }
}
