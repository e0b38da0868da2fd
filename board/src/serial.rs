//! The 16550 UART on COM1: 115200 8N1, FIFO trigger level 1, interrupt-driven input.
//!
//! Output polls the transmit-holding-register-empty bit (QEMU's UART is not rate
//! limited). Input arrives on IRQ 4: [`on_interrupt`] drains the receive FIFO into a
//! ring buffer and wakes the reader, so bytes that arrive while the CPU is busy are
//! kept (up to [`RX_BUFFER_SIZE`]; beyond that they are counted as dropped).
//! [`Serial`] exposes it as embedded-io `Read`, `ReadReady` and `Write`.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::port::{inb, outb};
use crate::sched;
use crate::sync::IrqMutex;

/// COM1's I/O base.
const COM1: u16 = 0x3F8;
const DATA: u16 = COM1;
const INTERRUPT_ENABLE: u16 = COM1 + 1;
const FIFO_CONTROL: u16 = COM1 + 2;
const LINE_CONTROL: u16 = COM1 + 3;
const MODEM_CONTROL: u16 = COM1 + 4;
const LINE_STATUS: u16 = COM1 + 5;

/// LCR bit that exposes the divisor latch.
const DLAB: u8 = 0x80;
/// 8 data bits, no parity, one stop bit.
const EIGHT_N_ONE: u8 = 0x03;
/// 115200 baud = 115200 / divisor 1.
const DIVISOR_115200: u8 = 1;
/// Enable and clear both FIFOs; trigger level 1 (bits 6-7 = 0).
const FIFO_ENABLE_CLEAR_TRIGGER_1: u8 = 0x07;
/// DTR, RTS and OUT2 (OUT2 gates the IRQ line).
const MODEM_DTR_RTS_OUT2: u8 = 0x0B;
/// Interrupt on received data.
const IER_RX_AVAILABLE: u8 = 0x01;
/// LSR: a received byte is waiting.
const LSR_DATA_READY: u8 = 0x01;
/// LSR: the transmit holding register is empty.
const LSR_THR_EMPTY: u8 = 0x20;

/// Bytes of input kept while nobody reads.
pub const RX_BUFFER_SIZE: usize = 8192;

static RX: IrqMutex<heapless::Deque<u8, RX_BUFFER_SIZE>> = IrqMutex::new(heapless::Deque::new());
/// The thread blocked in `read`, or 0.
static RX_WAITER: AtomicU64 = AtomicU64::new(0);
/// Bytes lost because the ring was full.
static RX_DROPPED: AtomicU64 = AtomicU64::new(0);
/// Serialises writers so lines from different threads do not interleave mid-write.
static TX: IrqMutex<()> = IrqMutex::new(());

/// Programs the UART. Bytes that reached it before this were discarded by QEMU.
pub fn init() {
    outb(INTERRUPT_ENABLE, 0);
    outb(LINE_CONTROL, DLAB);
    outb(DATA, DIVISOR_115200);
    outb(INTERRUPT_ENABLE, 0);
    outb(LINE_CONTROL, EIGHT_N_ONE);
    outb(FIFO_CONTROL, FIFO_ENABLE_CLEAR_TRIGGER_1);
    outb(MODEM_CONTROL, MODEM_DTR_RTS_OUT2);
    outb(INTERRUPT_ENABLE, IER_RX_AVAILABLE);
}

fn put_byte(byte: u8) {
    while inb(LINE_STATUS) & LSR_THR_EMPTY == 0 {
        core::hint::spin_loop();
    }
    outb(DATA, byte);
}

/// Writes bytes as they are.
pub fn write_bytes(bytes: &[u8]) {
    let _tx = TX.lock();
    for &byte in bytes {
        put_byte(byte);
    }
}

/// Writes text, turning `\n` into `\r\n` for terminals.
pub fn write_str(text: &str) {
    write_text(text.as_bytes());
}

/// Writes bytes of text, turning `\n` into `\r\n` for terminals.
pub fn write_text(bytes: &[u8]) {
    let _tx = TX.lock();
    for &byte in bytes {
        if byte == b'\n' {
            put_byte(b'\r');
        }
        put_byte(byte);
    }
}

/// Writes text without taking the writers' lock: for a kernel panic's report, which
/// may come while the panicking code holds that lock. Lines may interleave.
pub fn write_str_unlocked(text: &str) {
    for &byte in text.as_bytes() {
        if byte == b'\n' {
            put_byte(b'\r');
        }
        put_byte(byte);
    }
}

/// COM1 for a kernel panic's report (see [`write_str_unlocked`]).
pub struct PanicSerial;

impl core::fmt::Write for PanicSerial {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        write_str_unlocked(s);
        Ok(())
    }
}

/// IRQ 4: drain the receive FIFO into the ring and wake the reader.
pub fn on_interrupt() {
    let mut rx = RX.lock();
    while inb(LINE_STATUS) & LSR_DATA_READY != 0 {
        let byte = inb(DATA);
        if rx.push_back(byte).is_err() {
            RX_DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
    drop(rx);
    let waiter = RX_WAITER.load(Ordering::Acquire);
    if waiter != 0 {
        sched::unpark(waiter);
    }
}

/// Takes buffered input without blocking.
pub fn try_read(buf: &mut [u8]) -> usize {
    let mut rx = RX.lock();
    let mut n = 0;
    while n < buf.len() {
        match rx.pop_front() {
            Some(byte) => {
                buf[n] = byte;
                n += 1;
            }
            None => break,
        }
    }
    n
}

/// True when input is waiting.
pub fn has_input() -> bool {
    !RX.lock().is_empty()
}

/// Blocks until at least one byte arrives, then takes what is buffered.
pub fn read_blocking(buf: &mut [u8]) -> usize {
    if buf.is_empty() {
        return 0;
    }
    loop {
        RX_WAITER.store(sched::current_id(), Ordering::Release);
        let n = try_read(buf);
        if n > 0 {
            RX_WAITER.store(0, Ordering::Release);
            return n;
        }
        sched::park(None);
    }
}

/// COM1 as embedded-io streams.
#[derive(Clone, Copy, Default)]
pub struct Serial;

impl embedded_io::ErrorType for Serial {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for Serial {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        Ok(read_blocking(buf))
    }
}

impl embedded_io::ReadReady for Serial {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(has_input())
    }
}

impl embedded_io::Write for Serial {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        write_bytes(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl core::fmt::Write for Serial {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        write_str(s);
        Ok(())
    }
}

/// Prints to COM1 with `format_args!` syntax.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = write!($crate::serial::Serial, $($arg)*);
    }};
}

/// Prints a line to COM1 without taking the writers' lock (kernel panics only).
#[macro_export]
macro_rules! kpanicln {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::serial::PanicSerial, $($arg)*);
    }};
}

/// Prints a line to COM1.
#[macro_export]
macro_rules! kprintln {
    () => { $crate::kprint!("\n") };
    ($($arg:tt)*) => {{ $crate::kprint!($($arg)*); $crate::kprint!("\n"); }};
}
