//! Port I/O, for the drivers that talk to legacy devices.

use x86_64::instructions::port::Port;

/// Writes a byte to an I/O port.
pub fn outb(port: u16, value: u8) {
    // SAFETY: kiln only writes ports of devices it drives (UART, PIC, PIT, fw_cfg,
    // debug-exit, PS/2, VGA); none of them can break memory safety.
    unsafe { Port::<u8>::new(port).write(value) }
}

/// Reads a byte from an I/O port.
pub fn inb(port: u16) -> u8 {
    // SAFETY: see `outb`; reads of these ports have no memory effects.
    unsafe { Port::<u8>::new(port).read() }
}

/// Writes a 16-bit word to an I/O port.
pub fn outw(port: u16, value: u16) {
    // SAFETY: see `outb`.
    unsafe { Port::<u16>::new(port).write(value) }
}

/// Writes a 32-bit word to an I/O port.
pub fn outl(port: u16, value: u32) {
    // SAFETY: see `outb`.
    unsafe { Port::<u32>::new(port).write(value) }
}
