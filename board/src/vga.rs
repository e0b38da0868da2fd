//! The VGA text screen (80x25 at 0xB8000): a small terminal for the keyboard console.
//!
//! It understands what the line editor sends: printable text, `\r`, `\n`, backspace,
//! and the ANSI sequences `ESC[K` (erase to end of line), `ESC[J` (erase to the end of
//! the screen), `ESC[nA`/`ESC[nB`/`ESC[nC`/`ESC[nD` (cursor up/down/right/left),
//! `ESC[H` (home) and `ESC[2J` (clear). Other sequences are dropped. A character in
//! the last column leaves the cursor waiting there (`column == WIDTH`) and the next one
//! wraps, as on a VT100, so the editor's row arithmetic holds here too. The screen
//! scrolls; the hardware cursor follows through the CRTC ports.

use crate::port::outb;
use crate::sync::IrqMutex;

const BUFFER: usize = 0xB8000;
const WIDTH: usize = 80;
const HEIGHT: usize = 25;
/// Light grey on black.
const ATTRIBUTE: u16 = 0x07 << 8;
const BLANK: u16 = ATTRIBUTE | b' ' as u16;
const CRTC_INDEX: u16 = 0x3D4;
const CRTC_DATA: u16 = 0x3D5;
const CURSOR_HIGH: u8 = 0x0E;
const CURSOR_LOW: u8 = 0x0F;
const ESC: u8 = 0x1B;
const BACKSPACE: u8 = 0x08;
/// Parameter digits kept for one CSI sequence.
const MAX_PARAM: usize = 999;

/// Where the escape-sequence parser is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EscState {
    /// Plain text.
    Normal,
    /// Got ESC.
    Escape,
    /// Got ESC [ and maybe digits.
    Csi,
}

struct Screen {
    row: usize,
    column: usize,
    state: EscState,
    param: usize,
}

static SCREEN: IrqMutex<Screen> = IrqMutex::new(Screen {
    row: 0,
    column: 0,
    state: EscState::Normal,
    param: 0,
});

fn cell(row: usize, column: usize) -> *mut u16 {
    (BUFFER + 2 * (row * WIDTH + column)) as *mut u16
}

fn put(row: usize, column: usize, value: u16) {
    // SAFETY: row < HEIGHT and column < WIDTH keep the write inside the text buffer,
    // which is identity-mapped device memory.
    unsafe { core::ptr::write_volatile(cell(row, column), value) }
}

fn get(row: usize, column: usize) -> u16 {
    // SAFETY: as in `put`.
    unsafe { core::ptr::read_volatile(cell(row, column)) }
}

impl Screen {
    fn newline(&mut self) {
        self.column = 0;
        if self.row + 1 < HEIGHT {
            self.row += 1;
            return;
        }
        for row in 1..HEIGHT {
            for column in 0..WIDTH {
                put(row - 1, column, get(row, column));
            }
        }
        for column in 0..WIDTH {
            put(HEIGHT - 1, column, BLANK);
        }
    }

    fn erase_row_from(&mut self, from: usize) {
        for column in from..WIDTH {
            put(self.row, column, BLANK);
        }
    }

    fn clear(&mut self) {
        for row in 0..HEIGHT {
            for column in 0..WIDTH {
                put(row, column, BLANK);
            }
        }
        self.row = 0;
        self.column = 0;
    }

    fn byte(&mut self, byte: u8) {
        match self.state {
            EscState::Normal => match byte {
                ESC => self.state = EscState::Escape,
                b'\n' => self.newline(),
                b'\r' => self.column = 0,
                BACKSPACE => self.column = self.column.saturating_sub(1),
                0x20..=0x7E => {
                    if self.column == WIDTH {
                        self.newline();
                    }
                    put(self.row, self.column, ATTRIBUTE | u16::from(byte));
                    self.column += 1;
                }
                // UTF-8 lead bytes show as one placeholder; continuation bytes none.
                0xC0..=0xFF => self.byte(b'?'),
                _ => {}
            },
            EscState::Escape => {
                self.param = 0;
                self.state = if byte == b'[' {
                    EscState::Csi
                } else {
                    EscState::Normal
                };
            }
            EscState::Csi => match byte {
                b'0'..=b'9' => {
                    self.param = (self.param * 10 + usize::from(byte - b'0')).min(MAX_PARAM);
                }
                b';' => {}
                final_byte => {
                    let count = self.param.max(1);
                    // Waiting to wrap means standing on the last column.
                    let column = self.column.min(WIDTH - 1);
                    match final_byte {
                        b'K' => self.erase_row_from(column),
                        b'J' if self.param == 2 => self.clear(),
                        b'J' if self.param == 0 => {
                            self.erase_row_from(column);
                            for row in self.row + 1..HEIGHT {
                                for column in 0..WIDTH {
                                    put(row, column, BLANK);
                                }
                            }
                        }
                        b'A' => {
                            self.row = self.row.saturating_sub(count);
                            self.column = column;
                        }
                        b'B' => {
                            self.row = (self.row + count).min(HEIGHT - 1);
                            self.column = column;
                        }
                        b'D' => self.column = column.saturating_sub(count),
                        b'C' => self.column = (column + count).min(WIDTH - 1),
                        b'H' => {
                            self.row = 0;
                            self.column = 0;
                        }
                        _ => {}
                    }
                    self.state = EscState::Normal;
                }
            },
        }
    }

    fn move_cursor(&self) {
        let position = (self.row * WIDTH + self.column.min(WIDTH - 1)) as u16;
        outb(CRTC_INDEX, CURSOR_HIGH);
        outb(CRTC_DATA, (position >> 8) as u8);
        outb(CRTC_INDEX, CURSOR_LOW);
        outb(CRTC_DATA, position as u8);
    }
}

/// Clears the screen.
/// The registers of VGA mode 3 (80x25 text, 16 colours), as a VGA BIOS leaves them.
/// kiln sets them itself because a minimal firmware (qboot) runs no VGA BIOS; the font
/// such a BIOS loads is not there then, so a screen shown to a person wants SeaBIOS
/// (the launcher picks it for `--display`), while the text buffer at 0xB8000 works.
const MODE3_MISC: u8 = 0x67;
const MODE3_SEQUENCER: [u8; 5] = [0x03, 0x00, 0x03, 0x00, 0x02];
const MODE3_CRTC: [u8; 25] = [
    0x5F, 0x4F, 0x50, 0x82, 0x55, 0x81, 0xBF, 0x1F, 0x00, 0x4F, 0x0D, 0x0E, 0x00, 0x00, 0x00, 0x50,
    0x9C, 0x0E, 0x8F, 0x28, 0x1F, 0x96, 0xB9, 0xA3, 0xFF,
];
const MODE3_GRAPHICS: [u8; 9] = [0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0E, 0x00, 0xFF];
const MODE3_ATTRIBUTE: [u8; 21] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F,
    0x0C, 0x00, 0x0F, 0x08, 0x00,
];

/// Programs mode 3 through the VGA's I/O ports.
fn set_text_mode() {
    use crate::port::{inb, outb};
    outb(0x3C2, MODE3_MISC);
    for (index, &value) in MODE3_SEQUENCER.iter().enumerate() {
        outb(0x3C4, index as u8);
        outb(0x3C5, value);
    }
    // Unlock CRTC registers 0-7 (register 0x11 bit 7), then write them all.
    outb(0x3D4, 0x11);
    outb(0x3D5, MODE3_CRTC[0x11] & 0x7F);
    for (index, &value) in MODE3_CRTC.iter().enumerate() {
        outb(0x3D4, index as u8);
        outb(0x3D5, value);
    }
    for (index, &value) in MODE3_GRAPHICS.iter().enumerate() {
        outb(0x3CE, index as u8);
        outb(0x3CF, value);
    }
    // Reading the input status register resets the attribute controller's flip-flop.
    for (index, &value) in MODE3_ATTRIBUTE.iter().enumerate() {
        let _ = inb(0x3DA);
        outb(0x3C0, index as u8);
        outb(0x3C0, value);
    }
    // Palette access off: the display shows again.
    let _ = inb(0x3DA);
    outb(0x3C0, 0x20);
}

/// True when a VGA answers on its I/O ports (the misc output register reads back; a
/// machine without one, such as microvm, reads 0xFF).
pub fn present() -> bool {
    crate::port::inb(0x3CC) != 0xFF
}

pub fn init() {
    set_text_mode();
    let mut screen = SCREEN.lock();
    screen.clear();
    screen.move_cursor();
}

/// Writes bytes as a terminal would show them.
pub fn write(bytes: &[u8]) {
    let mut screen = SCREEN.lock();
    for &byte in bytes {
        screen.byte(byte);
    }
    screen.move_cursor();
}

/// The screen as an output stream.
#[derive(Clone, Copy, Default)]
pub struct VgaScreen;

impl embedded_io::ErrorType for VgaScreen {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for VgaScreen {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}
