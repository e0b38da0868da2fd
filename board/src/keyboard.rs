//! The PS/2 keyboard: scancodes from IRQ 1 into a queue; [`KeyboardInput`] decodes
//! them with pc-keyboard (layout from `kiln.keymap=us|uk|de|fr|no|fise|dvorak|colemak|jis`
//! on the kernel command line, US by default) into the bytes a terminal would send
//! (UTF-8 text, control characters, ANSI sequences for arrows, Home, End, Delete), so
//! the same line editor serves serial and keyboard. Output goes to [`crate::vga`].

use core::sync::atomic::{AtomicU64, Ordering};

use pc_keyboard::layouts::{
    AnyLayout, Azerty, Colemak, De105Key, Dvorak104Key, FiSe105Key, Jis109Key, No105Key, Uk105Key,
    Us104Key,
};
use pc_keyboard::{DecodedKey, HandleControl, KeyCode, KeyState, PS2Keyboard, ScancodeSet1};

use crate::port::{inb, outb};
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

/// Status bit: the controller has not taken the last byte written yet.
const INPUT_FULL: u8 = 0x02;
/// Controller commands: read and write the configuration byte.
const READ_CONFIG: u8 = 0x20;
const WRITE_CONFIG: u8 = 0x60;
/// Configuration bits: IRQ 1 for the keyboard, translation to scancode set 1.
const CONFIG_KEYBOARD_IRQ: u8 = 0x01;
const CONFIG_TRANSLATE: u8 = 0x40;
/// Polls of the status register before giving up on the controller.
const CONTROLLER_POLLS: u32 = 100_000;

/// Sets the controller up as a PC BIOS would (qboot does not): keyboard interrupts on,
/// and translation to scancode set 1, which the decoder reads.
pub fn init() {
    // With IRQ 1 off, so the handler does not take the controller's answer.
    x86_64::instructions::interrupts::without_interrupts(configure_controller);
}

fn configure_controller() {
    // Whatever waits in the output buffer is not the answer.
    for _ in 0..16 {
        if inb(STATUS_PORT) & OUTPUT_FULL == 0 {
            break;
        }
        let _ = inb(DATA_PORT);
    }
    let ready_to_write = || (0..CONTROLLER_POLLS).any(|_| inb(STATUS_PORT) & INPUT_FULL == 0);
    let ready_to_read = || (0..CONTROLLER_POLLS).any(|_| inb(STATUS_PORT) & OUTPUT_FULL != 0);
    if !ready_to_write() {
        return;
    }
    outb(STATUS_PORT, READ_CONFIG);
    if !ready_to_read() {
        return;
    }
    let config = inb(DATA_PORT) | CONFIG_KEYBOARD_IRQ | CONFIG_TRANSLATE;
    if !ready_to_write() {
        return;
    }
    outb(STATUS_PORT, WRITE_CONFIG);
    if ready_to_write() {
        outb(DATA_PORT, config);
    }
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

/// Picks the layout named on the kernel command line (`kiln.keymap=NAME`).
pub fn layout_from_command_line(command_line: &str) -> AnyLayout {
    let name = command_line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("kiln.keymap="))
        .unwrap_or("us");
    match name {
        "uk" => AnyLayout::Uk105Key(Uk105Key),
        "de" => AnyLayout::De105Key(De105Key),
        "fr" => AnyLayout::Azerty(Azerty),
        "no" => AnyLayout::No105Key(No105Key),
        "fise" => AnyLayout::FiSe105Key(FiSe105Key),
        "dvorak" => AnyLayout::Dvorak104Key(Dvorak104Key),
        "colemak" => AnyLayout::Colemak(Colemak),
        "jis" => AnyLayout::Jis109Key(Jis109Key),
        _ => AnyLayout::Us104Key(Us104Key),
    }
}

/// The keyboard as a terminal's input stream.
pub struct KeyboardInput {
    decoder: PS2Keyboard<AnyLayout, ScancodeSet1>,
    pending: heapless::Deque<u8, 16>,
}

impl KeyboardInput {
    pub fn new(layout: AnyLayout) -> KeyboardInput {
        KeyboardInput {
            decoder: PS2Keyboard::new(
                ScancodeSet1::new(),
                layout,
                HandleControl::MapLettersToUnicode,
            ),
            pending: heapless::Deque::new(),
        }
    }

    fn queue(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            let _ = self.pending.push_back(byte);
        }
    }

    /// Decodes scancodes until a key yields bytes.
    fn fill(&mut self) {
        while self.pending.is_empty() {
            let code = next_scancode();
            let Ok(Some(event)) = self.decoder.add_byte(code) else {
                continue;
            };
            // pc-keyboard decodes Delete as the character DEL (0x7f), which terminals
            // send for Backspace: send what a terminal sends for Delete instead.
            if event.code == KeyCode::Delete {
                if event.state == KeyState::Down {
                    self.queue(b"\x1b[3~");
                }
                continue;
            }
            match self.decoder.process_keyevent(event) {
                Some(DecodedKey::Unicode(c)) => {
                    let mut utf8 = [0u8; 4];
                    let text = c.encode_utf8(&mut utf8);
                    // Enter arrives as '\n'; terminals send '\r'.
                    let bytes = if text == "\n" {
                        b"\r" as &[u8]
                    } else {
                        text.as_bytes()
                    };
                    self.queue(bytes);
                }
                Some(DecodedKey::RawKey(key)) => {
                    let sequence: &[u8] = match key {
                        KeyCode::ArrowUp => b"\x1b[A",
                        KeyCode::ArrowDown => b"\x1b[B",
                        KeyCode::ArrowRight => b"\x1b[C",
                        KeyCode::ArrowLeft => b"\x1b[D",
                        KeyCode::Home => b"\x1b[H",
                        KeyCode::End => b"\x1b[F",
                        _ => b"",
                    };
                    self.queue(sequence);
                }
                None => {}
            }
        }
    }
}

impl embedded_io::ErrorType for KeyboardInput {
    type Error = core::convert::Infallible;
}

impl embedded_io::Read for KeyboardInput {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.fill();
        let mut n = 0;
        while n < buf.len() {
            match self.pending.pop_front() {
                Some(byte) => {
                    buf[n] = byte;
                    n += 1;
                }
                None => break,
            }
        }
        Ok(n)
    }
}
