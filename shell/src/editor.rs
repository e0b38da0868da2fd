//! The line editor: an explicit state machine that turns console input bytes into one
//! edited line, rendered with plain ANSI/VT100 sequences.
//!
//! The caller owns the console. For each line it calls [`Editor::start_line`] (prints
//! the prompt), then [`Editor::feed`] for every input byte until an [`Event`] other
//! than [`Event::None`] comes back:
//!
//! ```
//! use kiln_shell::complete::NoCompletion;
//! use kiln_shell::editor::{Config, Editor, Event};
//!
//! # struct Console(Vec<u8>);
//! # impl embedded_io::ErrorType for Console { type Error = core::convert::Infallible; }
//! # impl embedded_io::Write for Console {
//! #     fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> { self.0.extend_from_slice(b); Ok(b.len()) }
//! #     fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) }
//! # }
//! # let mut console = Console(Vec::new());
//! let mut editor = Editor::new(Config::default());
//! editor.start_line("kiln> ", &mut console).unwrap();
//! for &byte in b"fw load\x1b[D\x1b[Dd\r" {
//!     match editor.feed(byte, &NoCompletion, &mut console).unwrap() {
//!         Event::None => {}
//!         Event::Line(line) => assert_eq!(line, "fw lodad"),
//!         other => panic!("{other:?}"),
//!     }
//! }
//! ```
//!
//! Design:
//! - Decoding and editing are separate: a decoder state machine turns bytes into keys,
//!   then the key edits the buffer and renders. Its states: `Normal`, `AfterCr` (swallow
//!   the LF of a CRLF pair), `Escape` (got ESC), `Csi` (got `ESC [`, collecting
//!   parameters), `Ss3` (got `ESC O`), `Utf8` (inside a multi-byte character) and
//!   `Discarding` (the line got too long: ignore input up to its end). A control byte in
//!   the middle of a sequence abandons the sequence and acts; anything not understood is
//!   dropped.
//! - The editor never asks the terminal anything (no cursor position or size report):
//!   scripts and dumb terminals that only write lines work. All cursor movement is
//!   relative to where the editor left the cursor: `ESC[nD`, `ESC[nC`, and `ESC[K` to
//!   erase to the end of the line. Edits in the middle reprint from the cursor to the end.
//! - With `echo` off ([`Config::echo`]) nothing is written except the prompt: the same
//!   keys edit the line silently, Tab is kept as a literal tab, and `\r`/`\n` end it, which
//!   is a plain line discipline for scripts.
//! - Output errors are returned; the buffer is updated before anything is written, so a
//!   failed write leaves a correct line that [`Editor::redraw`] can show again.
//!
//! Limits: every character is taken to be one column wide (no wide or combining
//! characters), and a line longer than the terminal is wide renders wrongly when edited
//! in the middle, because relative cursor moves do not cross wrapped lines.
//!
//! References: ECMA-48 (control sequences), xterm's ctlseqs (key encodings), Tock's
//! `capsules/core/src/process_console.rs` (`EscState`), GNU readline's key bindings.

use alloc::borrow::ToOwned;
use alloc::string::String;
use core::mem;

use embedded_io::Write;

use crate::complete::{self, Completer, Plan};
use crate::history::History;

// Control bytes (C0) the editor acts on.
/// Ctrl-A: cursor to the start of the line.
const CTRL_A: u8 = 0x01;
/// Ctrl-B: cursor one character left.
const CTRL_B: u8 = 0x02;
/// Ctrl-C: discard the line, [`Event::Interrupt`].
const CTRL_C: u8 = 0x03;
/// Ctrl-D: [`Event::Eof`] on an empty line, otherwise delete under the cursor.
const CTRL_D: u8 = 0x04;
/// Ctrl-E: cursor to the end of the line.
const CTRL_E: u8 = 0x05;
/// Ctrl-F: cursor one character right.
const CTRL_F: u8 = 0x06;
/// BEL: rung when completion has nothing to offer or a line gets too long.
const BEL: u8 = 0x07;
/// Backspace (Ctrl-H), sent by some terminals instead of DEL.
const BS: u8 = 0x08;
/// Tab: complete the word under the cursor.
const TAB: u8 = 0x09;
/// Line feed: ends the line (alone or after CR).
const LF: u8 = 0x0a;
/// Ctrl-K: kill from the cursor to the end of the line.
const CTRL_K: u8 = 0x0b;
/// Ctrl-L: clear the screen and redraw the line.
const CTRL_L: u8 = 0x0c;
/// Carriage return: ends the line.
const CR: u8 = 0x0d;
/// Ctrl-N: next (newer) history entry, like Down.
const CTRL_N: u8 = 0x0e;
/// Ctrl-P: previous (older) history entry, like Up.
const CTRL_P: u8 = 0x10;
/// Ctrl-U: kill from the start of the line to the cursor.
const CTRL_U: u8 = 0x15;
/// Ctrl-W: kill the word before the cursor.
const CTRL_W: u8 = 0x17;
/// Escape: starts an escape sequence.
const ESC: u8 = 0x1b;
/// The last C0 control byte; bytes up to here that are not listed above are ignored.
const LAST_C0: u8 = 0x1f;
/// DEL: what most terminals send for the Backspace key.
const DEL: u8 = 0x7f;

// Escape sequence bytes (ECMA-48 5.4).
/// `ESC [` starts a control sequence (CSI).
const CSI_INTRODUCER: u8 = b'[';
/// `ESC O` starts a single-shift-3 key (application cursor keys, Home/End).
const SS3_INTRODUCER: u8 = b'O';
/// CSI parameter bytes: digits, `;` and private markers.
const CSI_PARAM: core::ops::RangeInclusive<u8> = 0x30..=0x3f;
/// CSI intermediate bytes.
const CSI_INTERMEDIATE: core::ops::RangeInclusive<u8> = 0x20..=0x2f;
/// CSI final bytes: the sequence ends here.
const CSI_FINAL: core::ops::RangeInclusive<u8> = 0x40..=0x7e;
/// Separates CSI parameters.
const CSI_SEPARATOR: u8 = b';';
/// A control sequence with more parameter bytes than this names no key; it is still
/// read up to its final byte (or a control byte), then dropped.
const MAX_CSI_LEN: u8 = 16;
/// Final bytes of the keys the editor knows (CSI and SS3 alike).
const KEY_UP: u8 = b'A';
const KEY_DOWN: u8 = b'B';
const KEY_RIGHT: u8 = b'C';
const KEY_LEFT: u8 = b'D';
const KEY_HOME: u8 = b'H';
const KEY_END: u8 = b'F';
/// Final byte of the `ESC [ n ~` keys.
const KEY_TILDE: u8 = b'~';
/// `ESC [ n ~` key numbers: VT220 and rxvt/linux console Home, Delete, End.
const TILDE_HOME: u16 = 1;
const TILDE_DELETE: u16 = 3;
const TILDE_END: u16 = 4;
const TILDE_HOME_RXVT: u16 = 7;
const TILDE_END_RXVT: u16 = 8;
/// xterm modifier parameter (`ESC [ 1 ; m D`): m - 1 is a bit set; these bits make an
/// arrow move by words.
const MOD_ALT: u16 = 0b010;
const MOD_CTRL: u16 = 0b100;
/// `ESC b` / `ESC f` (Alt-b, Alt-f): move a word left / right.
const ALT_WORD_LEFT: u8 = b'b';
const ALT_WORD_RIGHT: u8 = b'f';

// UTF-8 leading bytes (RFC 3629): the range and how long the character is.
const UTF8_LEAD_2: core::ops::RangeInclusive<u8> = 0xc2..=0xdf;
const UTF8_LEAD_3: core::ops::RangeInclusive<u8> = 0xe0..=0xef;
const UTF8_LEAD_4: core::ops::RangeInclusive<u8> = 0xf0..=0xf4;
const UTF8_CONTINUATION: core::ops::RangeInclusive<u8> = 0x80..=0xbf;
const UTF8_MAX_LEN: usize = 4;

// Output sequences.
const ERASE_TO_END: &[u8] = b"\x1b[K";
const CLEAR_SCREEN: &[u8] = b"\x1b[H\x1b[2J";
const NEWLINE: &[u8] = b"\r\n";
const CLEAR_LINE: &[u8] = b"\r\x1b[K";
const INTERRUPT_ECHO: &[u8] = b"^C\r\n";
/// Between candidates in a completion listing.
const LIST_GAP: &[u8] = b"  ";

/// Editor settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The longest line, in bytes; a longer one is discarded ([`Event::TooLong`]).
    pub max_len: usize,
    /// How many past lines the history keeps (0: none).
    pub history_capacity: usize,
    /// Echo input and redraw edits (an operator); off: silent line discipline (a script).
    pub echo: bool,
    /// The terminal's width in columns, for completion listings (80 unless known:
    /// VGA is 80 wide, and the editor never queries a terminal).
    pub columns: usize,
}

impl Config {
    /// The default longest line, in bytes.
    pub const DEFAULT_MAX_LEN: usize = 1024;
    /// The default history size, in lines.
    pub const DEFAULT_HISTORY: usize = 64;
    /// The width assumed for a terminal that did not say (as bash without `COLUMNS`).
    pub const DEFAULT_COLUMNS: usize = 80;
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_len: Self::DEFAULT_MAX_LEN,
            history_capacity: Self::DEFAULT_HISTORY,
            echo: true,
            columns: Self::DEFAULT_COLUMNS,
        }
    }
}

/// What a fed byte produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Nothing yet: the line is still being edited.
    None,
    /// Enter: the finished line (without its line end), already added to the history.
    Line(String),
    /// Ctrl-C: the line was discarded (`^C` was echoed).
    Interrupt,
    /// Ctrl-D on an empty line: the caller decides what end of input means.
    Eof,
    /// The line grew past `max` bytes and was discarded up to its end; the caller reports
    /// it (`line too long (max N bytes), discarded`).
    TooLong {
        /// The longest line allowed, in bytes.
        max: usize,
    },
}

/// The input decoder's state: where in a key's byte sequence the last byte left us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Plain input: printable characters insert, control bytes act.
    Normal,
    /// A line just ended with CR: an LF next is the rest of a CRLF pair and is swallowed.
    AfterCr,
    /// Got ESC: waiting for `[` (CSI), `O` (SS3) or an Alt-key letter.
    Escape,
    /// Got `ESC [`: collecting parameter bytes up to the final byte.
    Csi(Csi),
    /// Got `ESC O`: the next byte names the key.
    Ss3,
    /// Inside a multi-byte UTF-8 character: `have` of `need` bytes collected in `bytes`.
    Utf8 {
        bytes: [u8; UTF8_MAX_LEN],
        have: u8,
        need: u8,
    },
    /// The line grew past the maximum: ignore input up to the end of the line.
    Discarding,
}

/// The parameters of a control sequence being collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Csi {
    /// The first two numeric parameters (key number, xterm modifier); missing ones are 0.
    params: [u16; 2],
    /// Index of the parameter being collected (more than two are ignored).
    index: u8,
    /// Bytes collected so far.
    len: u8,
    /// A private marker or intermediate byte was seen: not a key the editor knows.
    unknown: bool,
}

impl Csi {
    /// Adds a parameter or intermediate byte.
    fn push(&mut self, byte: u8) {
        self.len = self.len.saturating_add(1);
        match byte {
            b'0'..=b'9' => {
                if let Some(param) = self.params.get_mut(usize::from(self.index)) {
                    *param = param
                        .saturating_mul(10)
                        .saturating_add(u16::from(byte - b'0'));
                }
            }
            CSI_SEPARATOR => self.index = self.index.saturating_add(1),
            _ => self.unknown = true,
        }
        if self.len > MAX_CSI_LEN {
            self.unknown = true;
        }
    }

    /// The key this sequence names when it ends with `last`.
    fn key(&self, last: u8) -> Option<Key> {
        if self.unknown {
            return None;
        }
        let [number, modifier] = self.params;
        // The xterm modifier is 1 + a bit set; none (0) or 1 means no modifier.
        let bits = modifier.saturating_sub(1);
        let by_word = bits & (MOD_ALT | MOD_CTRL) != 0;
        match last {
            KEY_TILDE => match number {
                TILDE_HOME | TILDE_HOME_RXVT => Some(Key::Home),
                TILDE_END | TILDE_END_RXVT => Some(Key::End),
                TILDE_DELETE => Some(Key::Delete),
                _ => None,
            },
            KEY_LEFT if by_word => Some(Key::WordLeft),
            KEY_RIGHT if by_word => Some(Key::WordRight),
            _ => cursor_key(last),
        }
    }
}

/// The cursor key named by the final byte of `ESC [ x` or `ESC O x`.
fn cursor_key(last: u8) -> Option<Key> {
    match last {
        KEY_UP => Some(Key::Up),
        KEY_DOWN => Some(Key::Down),
        KEY_RIGHT => Some(Key::Right),
        KEY_LEFT => Some(Key::Left),
        KEY_HOME => Some(Key::Home),
        KEY_END => Some(Key::End),
        _ => None,
    }
}

/// A decoded key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Char(char),
    Left,
    Right,
    WordLeft,
    WordRight,
    Home,
    End,
    Up,
    Down,
    Backspace,
    Delete,
    CtrlD,
    KillToEnd,
    KillToStart,
    KillWord,
    ClearScreen,
    Tab,
    Enter,
    Interrupt,
}

/// Characters that separate words for Ctrl-W and word moves.
fn is_space(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// `candidates` in columns that fit `columns`, filled down each column first, as bash
/// lists completions; one per row when even two do not fit.
fn listing_rows(candidates: &[String], columns: usize) -> alloc::vec::Vec<String> {
    let cell = candidates.iter().map(|c| width(c)).max().unwrap_or(0) + LIST_GAP.len();
    let per_row = ((columns + LIST_GAP.len()) / cell).max(1);
    let rows = candidates.len().div_ceil(per_row);
    (0..rows)
        .map(|row| {
            let cells: alloc::vec::Vec<&String> =
                candidates.iter().skip(row).step_by(rows).collect();
            let mut line = String::new();
            for (i, candidate) in cells.iter().enumerate() {
                line.push_str(candidate);
                if i + 1 < cells.len() {
                    line.extend(core::iter::repeat_n(' ', cell - width(candidate)));
                }
            }
            line
        })
        .collect()
}

/// The number of characters (columns, for this editor) in `s`.
fn width(s: &str) -> usize {
    s.chars().count()
}

/// Output that is written only when echo is on.
struct Term<'a, W> {
    out: &'a mut W,
    echo: bool,
}

impl<W: Write> Term<'_, W> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), W::Error> {
        if self.echo {
            self.out.write_all(bytes)?;
        }
        Ok(())
    }

    /// `ESC [ n <dir>`: moves the cursor `n` columns (nothing for 0).
    fn step(&mut self, n: usize, dir: u8) -> Result<(), W::Error> {
        if n == 0 {
            return Ok(());
        }
        self.put(b"\x1b[")?;
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = n;
        loop {
            at -= 1;
            // Lossless: a remainder of 10 is a single digit.
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        self.put(&digits[at..])?;
        self.put(&[dir])
    }

    fn left(&mut self, n: usize) -> Result<(), W::Error> {
        self.step(n, KEY_LEFT)
    }

    fn right(&mut self, n: usize) -> Result<(), W::Error> {
        self.step(n, KEY_RIGHT)
    }
}

/// A line editor for one console; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Editor {
    config: Config,
    state: State,
    /// The line being edited; always valid UTF-8 and at most `config.max_len` bytes.
    buf: String,
    /// Byte index of the cursor in `buf`, always on a character boundary.
    cursor: usize,
    /// The prompt of the current line, for redraws.
    prompt: String,
    history: History,
    /// While walking the history: how far back the shown entry is (0: newest).
    walk: Option<usize>,
    /// The line that was being edited when the history walk began.
    draft: String,
    /// The previous key was a Tab that left several candidates.
    tab_again: bool,
    /// Entered lines go into the history (`set -o history`, the default).
    record_history: bool,
}

impl Editor {
    /// An editor with an empty line and history.
    pub fn new(config: Config) -> Self {
        let history = History::new(config.history_capacity);
        Self {
            config,
            state: State::Normal,
            buf: String::new(),
            cursor: 0,
            prompt: String::new(),
            history,
            walk: None,
            draft: String::new(),
            tab_again: false,
            record_history: true,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Turns echo on (operator) or off (script).
    pub fn set_echo(&mut self, echo: bool) {
        self.config.echo = echo;
    }

    /// Turns the recording of entered lines on or off (`set +o history`, as in bash).
    pub fn set_history(&mut self, on: bool) {
        self.record_history = on;
    }

    /// True while entered lines go into the history.
    pub fn records_history(&self) -> bool {
        self.record_history
    }

    /// The line as edited so far.
    pub fn line(&self) -> &str {
        &self.buf
    }

    /// The cursor position, in characters from the start of the line.
    pub fn cursor(&self) -> usize {
        width(&self.buf[..self.cursor])
    }

    /// The history, oldest first.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Forgets every history entry (for a `history -c` built-in).
    pub fn clear_history(&mut self) {
        self.history.clear();
    }

    /// Begins a new, empty line: remembers `prompt` for redraws and prints it (also with
    /// echo off, so a script can wait for it). A pending CR of a CRLF pair stays pending.
    pub fn start_line<W: Write>(&mut self, prompt: &str, out: &mut W) -> Result<(), W::Error> {
        self.end_line();
        if self.state != State::AfterCr {
            self.state = State::Normal;
        }
        prompt.clone_into(&mut self.prompt);
        out.write_all(prompt.as_bytes())
    }

    /// Erases the prompt and the partial line from the screen (`\r ESC[K`) so that other
    /// output can be printed; [`Editor::redraw`] shows them again. Nothing with echo off.
    pub fn clear_line<W: Write>(&self, out: &mut W) -> Result<(), W::Error> {
        self.term(out).put(CLEAR_LINE)
    }

    /// Prints the prompt and the partial line, and puts the cursor back where it was in
    /// the line. Call it with the screen cursor at the start of an empty line (after
    /// [`Editor::clear_line`] and other output). Nothing with echo off.
    pub fn redraw<W: Write>(&self, out: &mut W) -> Result<(), W::Error> {
        self.draw(&mut self.term(out))
    }

    /// Handles one input byte; see [`Event`]. `completer` is asked for candidates when
    /// Tab is pressed.
    ///
    /// An error is the output's: the byte has still been taken into the line, and
    /// [`Editor::redraw`] can show it again once the output works.
    pub fn feed<W: Write>(
        &mut self,
        byte: u8,
        completer: &dyn Completer,
        out: &mut W,
    ) -> Result<Event, W::Error> {
        if self.state == State::Discarding {
            return self.discard(byte, out);
        }
        match self.decode(byte) {
            Some(key) => self.act(key, completer, out),
            None => Ok(Event::None),
        }
    }

    fn term<'a, W: Write>(&self, out: &'a mut W) -> Term<'a, W> {
        Term {
            out,
            echo: self.config.echo,
        }
    }

    /// Resets the per-line state after a line ended (or a new one starts).
    fn end_line(&mut self) {
        self.buf.clear();
        self.cursor = 0;
        self.walk = None;
        self.draft.clear();
        self.tab_again = false;
    }

    /// The Discarding state: waits for the end of the over-long line (or Ctrl-C).
    fn discard<W: Write>(&mut self, byte: u8, out: &mut W) -> Result<Event, W::Error> {
        let event = match byte {
            CR | LF => {
                self.state = if byte == CR {
                    State::AfterCr
                } else {
                    State::Normal
                };
                self.term(out).put(NEWLINE)?;
                Event::TooLong {
                    max: self.config.max_len,
                }
            }
            CTRL_C => {
                self.state = State::Normal;
                self.term(out).put(INTERRUPT_ECHO)?;
                Event::Interrupt
            }
            _ => return Ok(Event::None),
        };
        self.end_line();
        Ok(event)
    }

    /// Advances the decoder by one byte; returns the key it completes, if any.
    fn decode(&mut self, byte: u8) -> Option<Key> {
        match self.state {
            State::Normal | State::Discarding => self.decode_normal(byte),
            State::AfterCr => {
                self.state = State::Normal;
                if byte == LF {
                    None
                } else {
                    self.decode_normal(byte)
                }
            }
            State::Escape => match byte {
                CSI_INTRODUCER => {
                    self.state = State::Csi(Csi::default());
                    None
                }
                SS3_INTRODUCER => {
                    self.state = State::Ss3;
                    None
                }
                // A control byte (including another ESC) cancels the sequence and acts.
                0..=LAST_C0 => self.decode_normal(byte),
                ALT_WORD_LEFT => self.back_to_normal(Some(Key::WordLeft)),
                ALT_WORD_RIGHT => self.back_to_normal(Some(Key::WordRight)),
                _ => self.back_to_normal(None),
            },
            State::Csi(mut csi) => {
                if CSI_PARAM.contains(&byte) || CSI_INTERMEDIATE.contains(&byte) {
                    csi.push(byte);
                    self.state = State::Csi(csi);
                    None
                } else if CSI_FINAL.contains(&byte) {
                    self.back_to_normal(csi.key(byte))
                } else if byte <= LAST_C0 {
                    self.decode_normal(byte)
                } else {
                    self.back_to_normal(None)
                }
            }
            State::Ss3 => {
                if byte <= LAST_C0 {
                    self.decode_normal(byte)
                } else {
                    self.back_to_normal(cursor_key(byte))
                }
            }
            State::Utf8 {
                mut bytes,
                have,
                need,
            } => {
                if !UTF8_CONTINUATION.contains(&byte) {
                    // A truncated character is dropped; the new byte starts afresh.
                    return self.decode_normal(byte);
                }
                bytes[usize::from(have)] = byte;
                let have = have + 1;
                if have < need {
                    self.state = State::Utf8 { bytes, have, need };
                    return None;
                }
                let c = core::str::from_utf8(&bytes[..usize::from(need)])
                    .ok()
                    .and_then(|s| s.chars().next())
                    .filter(|c| !c.is_control());
                self.back_to_normal(c.map(Key::Char))
            }
        }
    }

    fn back_to_normal(&mut self, key: Option<Key>) -> Option<Key> {
        self.state = State::Normal;
        key
    }

    /// Decodes a byte that starts something new.
    fn decode_normal(&mut self, byte: u8) -> Option<Key> {
        self.state = State::Normal;
        let key = match byte {
            CR => {
                self.state = State::AfterCr;
                Key::Enter
            }
            LF => Key::Enter,
            CTRL_A => Key::Home,
            CTRL_B => Key::Left,
            CTRL_C => Key::Interrupt,
            CTRL_D => Key::CtrlD,
            CTRL_E => Key::End,
            CTRL_F => Key::Right,
            BS | DEL => Key::Backspace,
            TAB => Key::Tab,
            CTRL_K => Key::KillToEnd,
            CTRL_L => Key::ClearScreen,
            CTRL_N => Key::Down,
            CTRL_P => Key::Up,
            CTRL_U => Key::KillToStart,
            CTRL_W => Key::KillWord,
            ESC => {
                self.state = State::Escape;
                return None;
            }
            0..=LAST_C0 => return None,
            b' '..=b'~' => Key::Char(char::from(byte)),
            _ => {
                let need = if UTF8_LEAD_2.contains(&byte) {
                    2
                } else if UTF8_LEAD_3.contains(&byte) {
                    3
                } else if UTF8_LEAD_4.contains(&byte) {
                    4
                } else {
                    // A stray continuation byte, or a byte UTF-8 never uses.
                    return None;
                };
                let mut bytes = [0; UTF8_MAX_LEN];
                bytes[0] = byte;
                self.state = State::Utf8 {
                    bytes,
                    have: 1,
                    need,
                };
                return None;
            }
        };
        Some(key)
    }

    /// Carries out one key press.
    fn act<W: Write>(
        &mut self,
        key: Key,
        completer: &dyn Completer,
        out: &mut W,
    ) -> Result<Event, W::Error> {
        let tab_again = mem::take(&mut self.tab_again);
        let mut term = self.term(out);
        match key {
            Key::Char(c) => self.insert_char(c, &mut term)?,
            Key::Left => {
                if let Some(c) = self.buf[..self.cursor].chars().next_back() {
                    self.cursor -= c.len_utf8();
                    term.left(1)?;
                }
            }
            Key::Right => {
                if let Some(c) = self.buf[self.cursor..].chars().next() {
                    self.cursor += c.len_utf8();
                    term.right(1)?;
                }
            }
            Key::WordLeft => {
                let to = self.word_left();
                term.left(width(&self.buf[to..self.cursor]))?;
                self.cursor = to;
            }
            Key::WordRight => {
                let to = self.word_right();
                term.right(width(&self.buf[self.cursor..to]))?;
                self.cursor = to;
            }
            Key::Home => {
                term.left(width(&self.buf[..self.cursor]))?;
                self.cursor = 0;
            }
            Key::End => {
                term.right(width(&self.buf[self.cursor..]))?;
                self.cursor = self.buf.len();
            }
            Key::Backspace => {
                if let Some(c) = self.buf[..self.cursor].chars().next_back() {
                    self.cursor -= c.len_utf8();
                    self.buf.remove(self.cursor);
                    term.left(1)?;
                    self.redraw_tail(&mut term)?;
                }
            }
            Key::Delete => self.delete(&mut term)?,
            Key::CtrlD => {
                if self.buf.is_empty() {
                    self.end_line();
                    return Ok(Event::Eof);
                }
                self.delete(&mut term)?;
            }
            Key::KillToEnd => {
                if self.cursor < self.buf.len() {
                    self.buf.truncate(self.cursor);
                    term.put(ERASE_TO_END)?;
                }
            }
            Key::KillToStart if self.cursor == 0 => {}
            Key::KillWord if self.cursor == 0 => {}
            Key::KillToStart => {
                let n = width(&self.buf[..self.cursor]);
                self.buf.replace_range(..self.cursor, "");
                self.cursor = 0;
                term.left(n)?;
                self.redraw_tail(&mut term)?;
            }
            Key::KillWord => {
                let from = self.word_left();
                let n = width(&self.buf[from..self.cursor]);
                self.buf.replace_range(from..self.cursor, "");
                self.cursor = from;
                term.left(n)?;
                self.redraw_tail(&mut term)?;
            }
            Key::ClearScreen => {
                term.put(CLEAR_SCREEN)?;
                self.draw(&mut term)?;
            }
            Key::Up => self.history_up(&mut term)?,
            Key::Down => self.history_down(&mut term)?,
            Key::Tab => {
                if self.config.echo {
                    self.complete(completer, tab_again, &mut term)?;
                } else {
                    // No completion without a screen: a script's tab is text.
                    self.insert_char('\t', &mut term)?;
                }
            }
            Key::Enter => {
                term.put(NEWLINE)?;
                let line = mem::take(&mut self.buf);
                if self.record_history {
                    self.history.push(&line);
                }
                self.end_line();
                return Ok(Event::Line(line));
            }
            Key::Interrupt => {
                term.put(INTERRUPT_ECHO)?;
                self.end_line();
                return Ok(Event::Interrupt);
            }
        }
        Ok(Event::None)
    }

    /// Inserts `c` at the cursor, or starts discarding the line when it would get too long.
    fn insert_char<W: Write>(&mut self, c: char, term: &mut Term<'_, W>) -> Result<(), W::Error> {
        if self.buf.len() + c.len_utf8() > self.config.max_len {
            self.state = State::Discarding;
            return term.put(&[BEL]);
        }
        self.buf.insert(self.cursor, c);
        self.cursor += c.len_utf8();
        let mut utf8 = [0; UTF8_MAX_LEN];
        term.put(c.encode_utf8(&mut utf8).as_bytes())?;
        self.redraw_tail_after_insert(term)
    }

    /// Inserts `text` at the cursor if the line stays short enough (else rings the bell).
    fn insert_str<W: Write>(&mut self, text: &str, term: &mut Term<'_, W>) -> Result<(), W::Error> {
        if self.buf.len() + text.len() > self.config.max_len {
            return term.put(&[BEL]);
        }
        self.buf.insert_str(self.cursor, text);
        self.cursor += text.len();
        term.put(text.as_bytes())?;
        self.redraw_tail_after_insert(term)
    }

    /// After an insertion echoed at the cursor: the rest of the line moved right.
    fn redraw_tail_after_insert<W: Write>(&self, term: &mut Term<'_, W>) -> Result<(), W::Error> {
        if self.cursor == self.buf.len() {
            // Appended at the end: the echo was all it took.
            return Ok(());
        }
        self.redraw_tail(term)
    }

    /// Deletes the character under the cursor.
    fn delete<W: Write>(&mut self, term: &mut Term<'_, W>) -> Result<(), W::Error> {
        if self.cursor < self.buf.len() {
            self.buf.remove(self.cursor);
            self.redraw_tail(term)?;
        }
        Ok(())
    }

    /// After an edit at the cursor (screen and buffer cursor agree): reprints the rest of
    /// the line, erases what is left of the old one, and moves back to the cursor.
    fn redraw_tail<W: Write>(&self, term: &mut Term<'_, W>) -> Result<(), W::Error> {
        let tail = &self.buf[self.cursor..];
        term.put(tail.as_bytes())?;
        term.put(ERASE_TO_END)?;
        term.left(width(tail))
    }

    /// Prints prompt and line and places the cursor, from the start of a screen line.
    fn draw<W: Write>(&self, term: &mut Term<'_, W>) -> Result<(), W::Error> {
        term.put(self.prompt.as_bytes())?;
        term.put(self.buf.as_bytes())?;
        term.put(ERASE_TO_END)?;
        term.left(width(&self.buf[self.cursor..]))
    }

    /// Shows `line` instead of the current one, with the cursor at its end.
    fn replace_line<W: Write>(
        &mut self,
        line: String,
        term: &mut Term<'_, W>,
    ) -> Result<(), W::Error> {
        term.left(width(&self.buf[..self.cursor]))?;
        self.buf = line;
        self.cursor = self.buf.len();
        term.put(self.buf.as_bytes())?;
        term.put(ERASE_TO_END)
    }

    /// Up: shows the next older history entry, saving the edited line on the first step.
    fn history_up<W: Write>(&mut self, term: &mut Term<'_, W>) -> Result<(), W::Error> {
        let age = self.walk.map_or(0, |age| age + 1);
        let Some(entry) = self.history.back(age) else {
            return Ok(());
        };
        let entry = String::from(entry);
        if self.walk.is_none() {
            self.draft.clone_from(&self.buf);
        }
        self.walk = Some(age);
        self.replace_line(entry, term)
    }

    /// Down: shows the next newer history entry, and finally the saved edited line.
    fn history_down<W: Write>(&mut self, term: &mut Term<'_, W>) -> Result<(), W::Error> {
        let line = match self.walk {
            None => return Ok(()),
            Some(0) => {
                self.walk = None;
                mem::take(&mut self.draft)
            }
            Some(age) => {
                self.walk = Some(age - 1);
                String::from(self.history.back(age - 1).unwrap_or_default())
            }
        };
        self.replace_line(line, term)
    }

    /// Tab: completes the word before the cursor (see [`crate::complete`]).
    fn complete<W: Write>(
        &mut self,
        completer: &dyn Completer,
        tab_again: bool,
        term: &mut Term<'_, W>,
    ) -> Result<(), W::Error> {
        let before = &self.buf[..self.cursor];
        let start = complete::word_start(before);
        let candidates = completer.complete(before, start);
        match complete::plan(&before[start..], candidates) {
            Plan::NoMatch => term.put(&[BEL]),
            Plan::Unique { suffix } => self.insert_str(&suffix, term),
            Plan::Several { suffix, candidates } => {
                // The next Tab lists them, whatever this one did.
                self.tab_again = true;
                if !suffix.is_empty() {
                    self.insert_str(&suffix, term)
                } else if tab_again {
                    term.put(NEWLINE)?;
                    for row in listing_rows(&candidates, self.config.columns) {
                        term.put(row.as_bytes())?;
                        term.put(NEWLINE)?;
                    }
                    self.draw(term)
                } else {
                    term.put(&[BEL])
                }
            }
        }
    }

    /// The byte index of the start of the word before the cursor (Ctrl-W, Alt-b).
    fn word_left(&self) -> usize {
        let before = &self.buf[..self.cursor];
        let trimmed = before.trim_end_matches(is_space);
        trimmed
            .char_indices()
            .rev()
            .find(|&(_, c)| is_space(c))
            .map_or(0, |(i, c)| i + c.len_utf8())
    }

    /// The byte index of the end of the word after the cursor (Alt-f).
    fn word_right(&self) -> usize {
        let after = &self.buf[self.cursor..];
        let skipped = after.len() - after.trim_start_matches(is_space).len();
        let word = &after[skipped..];
        let end = word.find(is_space).unwrap_or(word.len());
        self.cursor + skipped + end
    }
}

#[cfg(test)]
mod tests;
