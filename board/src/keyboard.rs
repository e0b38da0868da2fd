//! The PS/2 keyboard: scancodes from IRQ 1 into a queue a console thread decodes.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::port::inb;
use crate::sched;
use crate::sync::IrqMutex;

const DATA_PORT: u16 = 0x60;
const STATUS_PORT: u16 = 0x64;
/// Status bit: the output buffer holds a byte.
const OUTPUT_FULL: u8 = 0x01;
const QUEUE_LEN: usize = 256;

static SCANCODES: IrqMutex<heapless::Deque<u8, QUEUE_LEN>> = IrqMutex::new(heapless::Deque::new());
static WAITER: AtomicU64 = AtomicU64::new(0);

/// True when an i8042 controller answers (not on `-M microvm`).
pub fn present() -> bool {
    inb(STATUS_PORT) != 0xFF
}

/// IRQ 1: queue the scancode and wake the keyboard console.
pub fn on_interrupt() {
    if inb(STATUS_PORT) & OUTPUT_FULL == 0 {
        return;
    }
    let code = inb(DATA_PORT);
    let _ = SCANCODES.lock().push_back(code);
    let waiter = WAITER.load(Ordering::Acquire);
    if waiter != 0 {
        sched::unpark(waiter);
    }
}

/// Blocks until a scancode arrives.
pub fn next_scancode() -> u8 {
    loop {
        WAITER.store(sched::current_id(), Ordering::Release);
        if let Some(code) = SCANCODES.lock().pop_front() {
            return code;
        }
        sched::park(None);
    }
}
