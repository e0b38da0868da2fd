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
//!   scripts and dumb terminals that only write lines work. It knows the terminal's
//!   width ([`Config::columns`]: the kernel command line's `kiln.columns=N`, `stty cols
//!   N`, or a size report `ESC[8;rows;cols t` that arrives as input, which the launcher
//!   sends when its terminal is resized) and tracks where the terminal's cursor is
//!   (`Shown`), so a line longer than a row is drawn by rows: moves go up and down
//!   (`ESC[nA`, `ESC[nB`) and along (`ESC[nC`, `ESC[nD`, `\r`), and an edit erases from
//!   its place to the end of the screen (`ESC[J`) and prints the rest of the line again.
//!   A row filled to its last column wraps the way VT100s do (the cursor waits in the
//!   last column until the next character).
//! - With `echo` off ([`Config::echo`]) nothing is written except the prompt: the same
//!   keys edit the line silently, Tab is kept as a literal tab, and `\r`/`\n` end it, which
//!   is a plain line discipline for scripts.
//! - Output errors are returned; the buffer is updated before anything is written, so a
//!   failed write leaves a correct line that [`Editor::redraw`] can show again.
//!
//! Limits: every character is taken to be one column wide (no wide or combining
//! characters); a line with more rows than the screen cannot be edited above its top
//! row; and the prompt is assumed to start in the first column.
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

/// `ESC [ 8 ; rows ; columns t`: xterm's report of the text area's size (the answer to
/// `ESC [ 18 t`); the launcher sends it unasked when the host terminal is resized.
const KEY_SIZE_REPORT: u8 = b't';
const SIZE_REPORT_NUMBER: u16 = 8;

// Output sequences (ECMA-48 8.3).
/// ED 0: erase from the cursor to the end of the screen (the rows of a wrapped line).
const ERASE_BELOW: &[u8] = b"\x1b[J";
const CLEAR_SCREEN: &[u8] = b"\x1b[H\x1b[2J";
const NEWLINE: &[u8] = b"\r\n";
const CARRIAGE_RETURN: &[u8] = b"\r";
const INTERRUPT_ECHO: &str = "^C";
/// CUU, CUD, CUF, CUB: the cursor up, down, right, left by n (they stop at the edges).
const CURSOR_UP: u8 = b'A';
const CURSOR_DOWN: u8 = b'B';
const CURSOR_RIGHT: u8 = b'C';
const CURSOR_LEFT: u8 = b'D';
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
    /// The terminal's width in columns: where a long line wraps, and how wide
    /// completion listings are. 80 unless known (VGA is 80 wide; the launcher passes
    /// its terminal's width as `kiln.columns=N` and reports resizes); the editor never
    /// queries a terminal.
    pub columns: usize,
}

impl Config {
    /// The default longest line, in bytes.
    pub const DEFAULT_MAX_LEN: usize = 1024;
    /// The default history size, in lines.
    pub const DEFAULT_HISTORY: usize = 64;
    /// The width assumed for a terminal that did not say (as bash without `COLUMNS`).
    pub const DEFAULT_COLUMNS: usize = 80;
    /// The kernel command line's word for the serial terminal's width.
    pub const COLUMNS_WORD: &str = "kiln.columns=";
    /// The widest terminal the command line may name.
    pub const MAX_COLUMNS: usize = 1000;

    /// The width a kernel command line gives with `kiln.columns=N` (the launcher adds it
    /// when its terminal is interactive); `None` if absent or not a width.
    pub fn columns_from_command_line(command_line: &str) -> Option<usize> {
        command_line
            .split_whitespace()
            .filter_map(|word| word.strip_prefix(Self::COLUMNS_WORD))
            .next_back()?
            .parse()
            .ok()
            .filter(|n| (1..=Self::MAX_COLUMNS).contains(n))
    }
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
    /// The first three numeric parameters (key number, xterm modifier; or the three
    /// numbers of a size report); missing ones are 0.
    params: [u16; 3],
    /// Index of the parameter being collected (more than three are ignored).
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
        let [number, modifier, third] = self.params;
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
            KEY_SIZE_REPORT if number == SIZE_REPORT_NUMBER && third > 0 => {
                Some(Key::Resize(usize::from(third)))
            }
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
    /// The terminal is now this many columns wide (a size report).
    Resize(usize),
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
}

/// What the terminal shows of the edited line, as the editor last left it.
///
/// Places are offsets in columns from the first column of the prompt's row, counted as
/// if the rows were one long row: offset `o` is on row `o / columns`, column
/// `o % columns`. Terminals wrap a full row with DEC's "last column flag": after a
/// character lands in the last column the cursor stays there, and only the next
/// printed character goes to the next row. Cursor moves and `\r` clear the flag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Shown {
    /// Where the terminal's cursor is.
    at: usize,
    /// The cursor filled the last column of a row and waits there to wrap: it is on the
    /// row above `at`, in the last column.
    pending_wrap: bool,
    /// Where the drawn text ends; rows past it may not exist on the screen.
    end: usize,
}

impl Shown {
    /// After printing `n` characters at the cursor.
    fn advance(&mut self, n: usize, columns: usize) {
        if n == 0 {
            return;
        }
        self.at += n;
        self.pending_wrap = self.at.is_multiple_of(columns);
        self.end = self.end.max(self.at);
    }

    /// The cursor's row and column on the screen.
    fn row_column(&self, columns: usize) -> (usize, usize) {
        if self.pending_wrap {
            (self.at / columns - 1, columns - 1)
        } else {
            (self.at / columns, self.at % columns)
        }
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
    /// Where the terminal's cursor is and how much of the line it shows.
    shown: Shown,
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
            shown: Shown::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Sets the terminal's width (`stty cols N`); the next redraw wraps at it.
    pub fn set_columns(&mut self, columns: usize) {
        self.config.columns = columns.max(1);
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
        self.shown = Shown::default();
        out.write_all(prompt.as_bytes())?;
        self.shown.advance(width(prompt), self.columns());
        Ok(())
    }

    /// Erases the prompt and the partial line from the screen, all of its rows, and
    /// leaves the cursor where the prompt began, so that other output can be printed;
    /// [`Editor::redraw`] shows them again. Nothing with echo off.
    pub fn clear_line<W: Write>(&mut self, out: &mut W) -> Result<(), W::Error> {
        let mut term = self.term(out);
        self.go(0, &mut term)?;
        self.erase_below(&mut term)
    }

    /// Prints the prompt and the partial line, and puts the cursor back where it was in
    /// the line. Call it with the screen cursor at the start of an empty line (after
    /// [`Editor::clear_line`] and other output). Nothing with echo off.
    pub fn redraw<W: Write>(&mut self, out: &mut W) -> Result<(), W::Error> {
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
        // Until the next prompt, nothing is drawn before the line.
        self.prompt.clear();
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
                self.leave_line("", &mut self.term(out))?;
                Event::TooLong {
                    max: self.config.max_len,
                }
            }
            CTRL_C => {
                self.state = State::Normal;
                self.leave_line(INTERRUPT_ECHO, &mut self.term(out))?;
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
                    self.move_cursor(self.cursor - c.len_utf8(), &mut term)?;
                }
            }
            Key::Right => {
                if let Some(c) = self.buf[self.cursor..].chars().next() {
                    self.move_cursor(self.cursor + c.len_utf8(), &mut term)?;
                }
            }
            Key::WordLeft => self.move_cursor(self.word_left(), &mut term)?,
            Key::WordRight => self.move_cursor(self.word_right(), &mut term)?,
            Key::Home => self.move_cursor(0, &mut term)?,
            Key::End => self.move_cursor(self.buf.len(), &mut term)?,
            Key::Backspace => {
                if let Some(c) = self.buf[..self.cursor].chars().next_back() {
                    self.cursor -= c.len_utf8();
                    self.buf.remove(self.cursor);
                    self.render_from(self.cursor, &mut term)?;
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
                    self.render_from(self.cursor, &mut term)?;
                }
            }
            Key::KillToStart if self.cursor == 0 => {}
            Key::KillWord if self.cursor == 0 => {}
            Key::KillToStart => {
                self.buf.replace_range(..self.cursor, "");
                self.cursor = 0;
                self.render_from(0, &mut term)?;
            }
            Key::KillWord => {
                let from = self.word_left();
                self.buf.replace_range(from..self.cursor, "");
                self.cursor = from;
                self.render_from(from, &mut term)?;
            }
            Key::ClearScreen => {
                term.put(CLEAR_SCREEN)?;
                self.draw(&mut term)?;
            }
            Key::Resize(columns) => self.resize(columns, &mut term)?,
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
                self.leave_line("", &mut term)?;
                let line = mem::take(&mut self.buf);
                if self.record_history {
                    self.history.push(&line);
                }
                self.end_line();
                return Ok(Event::Line(line));
            }
            Key::Interrupt => {
                self.leave_line(INTERRUPT_ECHO, &mut term)?;
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
        let mut utf8 = [0; UTF8_MAX_LEN];
        self.insert_str(c.encode_utf8(&mut utf8), term)
    }

    /// Inserts `text` at the cursor if the line stays short enough (else rings the bell).
    fn insert_str<W: Write>(&mut self, text: &str, term: &mut Term<'_, W>) -> Result<(), W::Error> {
        if self.buf.len() + text.len() > self.config.max_len {
            return term.put(&[BEL]);
        }
        let at = self.cursor;
        self.buf.insert_str(at, text);
        self.cursor += text.len();
        if self.cursor == self.buf.len() {
            // Appended at the end: the echo is all it takes.
            term.put(text.as_bytes())?;
            self.shown.advance(width(text), self.columns());
            return Ok(());
        }
        self.render_from(at, term)
    }

    /// Deletes the character under the cursor.
    fn delete<W: Write>(&mut self, term: &mut Term<'_, W>) -> Result<(), W::Error> {
        if self.cursor < self.buf.len() {
            self.buf.remove(self.cursor);
            self.render_from(self.cursor, term)?;
        }
        Ok(())
    }

    /// The terminal's width, at least one column.
    fn columns(&self) -> usize {
        self.config.columns.max(1)
    }

    /// The screen offset (see [`Shown`]) of byte `index` of the line.
    fn offset_of(&self, index: usize) -> usize {
        width(&self.prompt) + width(&self.buf[..index])
    }

    /// The character drawn at screen offset `offset`: the prompt's, then the line's.
    fn char_at(&self, offset: usize) -> Option<char> {
        let prompt = width(&self.prompt);
        if offset < prompt {
            self.prompt.chars().nth(offset)
        } else {
            self.buf.chars().nth(offset - prompt)
        }
    }

    /// Moves the terminal's cursor to screen offset `to`, within or at the end of what
    /// is drawn: up or down by rows, then along the row.
    fn go<W: Write>(&mut self, to: usize, term: &mut Term<'_, W>) -> Result<(), W::Error> {
        if to == self.shown.at {
            return Ok(());
        }
        let columns = self.columns();
        if to > 0 && to.is_multiple_of(columns) && to >= self.shown.end {
            // `to` starts a row that is not on the screen yet, and moves cannot make one:
            // print the character before it again, which leaves the terminal there.
            self.go(to - 1, term)?;
            if let Some(c) = self.char_at(to - 1) {
                let mut utf8 = [0; UTF8_MAX_LEN];
                term.put(c.encode_utf8(&mut utf8).as_bytes())?;
                self.shown.advance(1, columns);
            }
            return Ok(());
        }
        let (row, mut column) = self.shown.row_column(columns);
        if self.shown.pending_wrap {
            // A carriage return is the one move every terminal agrees on from there.
            term.put(CARRIAGE_RETURN)?;
            column = 0;
        }
        let (to_row, to_column) = (to / columns, to % columns);
        if to_row < row {
            term.step(row - to_row, CURSOR_UP)?;
        } else {
            term.step(to_row - row, CURSOR_DOWN)?;
        }
        if to_column == 0 && column > 0 {
            term.put(CARRIAGE_RETURN)?;
        } else if to_column < column {
            term.step(column - to_column, CURSOR_LEFT)?;
        } else {
            term.step(to_column - column, CURSOR_RIGHT)?;
        }
        self.shown.at = to;
        self.shown.pending_wrap = false;
        Ok(())
    }

    /// Puts the cursor on byte `index` of the line.
    fn move_cursor<W: Write>(
        &mut self,
        index: usize,
        term: &mut Term<'_, W>,
    ) -> Result<(), W::Error> {
        self.cursor = index;
        self.go(self.offset_of(index), term)
    }

    /// Erases from the cursor to the end of the screen. A cursor waiting to wrap is
    /// moved to the next row first: the erase would take the last column's character.
    fn erase_below<W: Write>(&mut self, term: &mut Term<'_, W>) -> Result<(), W::Error> {
        if self.shown.pending_wrap {
            term.put(NEWLINE)?;
            self.shown.pending_wrap = false;
        }
        term.put(ERASE_BELOW)?;
        self.shown.end = self.shown.at;
        Ok(())
    }

    /// After an edit that left the line unchanged before byte `index`: draws the line
    /// again from there, erases what is left of the old one, and puts the cursor back.
    fn render_from<W: Write>(
        &mut self,
        index: usize,
        term: &mut Term<'_, W>,
    ) -> Result<(), W::Error> {
        self.go(self.offset_of(index), term)?;
        self.erase_below(term)?;
        let tail = &self.buf[index..];
        term.put(tail.as_bytes())?;
        self.shown.advance(width(tail), self.columns());
        self.go(self.offset_of(self.cursor), term)
    }

    /// Prints prompt and line and places the cursor, from the start of an empty row.
    fn draw<W: Write>(&mut self, term: &mut Term<'_, W>) -> Result<(), W::Error> {
        let columns = self.columns();
        self.shown = Shown::default();
        term.put(self.prompt.as_bytes())?;
        self.shown.advance(width(&self.prompt), columns);
        term.put(self.buf.as_bytes())?;
        self.shown.advance(width(&self.buf), columns);
        self.go(self.offset_of(self.cursor), term)
    }

    /// Moves below the line (after printing `note` at its end, like `^C`) to the start
    /// of a fresh row, where the caller's output goes.
    fn leave_line<W: Write>(&mut self, note: &str, term: &mut Term<'_, W>) -> Result<(), W::Error> {
        let end = self.offset_of(self.buf.len());
        self.go(end, term)?;
        term.put(note.as_bytes())?;
        self.shown.advance(width(note), self.columns());
        let on_fresh_row = !self.shown.pending_wrap
            && self.shown.at > 0
            && self.shown.at.is_multiple_of(self.columns());
        if !on_fresh_row {
            term.put(NEWLINE)?;
        }
        self.shown = Shown::default();
        Ok(())
    }

    /// The terminal is now `columns` wide. Terminals that rewrap their rows (tmux, VTE,
    /// kitty) keep the line where its text was: erase from its first row and draw it
    /// again at the new width.
    fn resize<W: Write>(&mut self, columns: usize, term: &mut Term<'_, W>) -> Result<(), W::Error> {
        if columns == self.columns() {
            return Ok(());
        }
        self.set_columns(columns);
        let at = self.shown.at - usize::from(self.shown.pending_wrap);
        term.put(CARRIAGE_RETURN)?;
        term.step(at / self.columns(), CURSOR_UP)?;
        self.shown = Shown::default();
        self.erase_below(term)?;
        self.draw(term)
    }

    /// Shows `line` instead of the current one, with the cursor at its end.
    fn replace_line<W: Write>(
        &mut self,
        line: String,
        term: &mut Term<'_, W>,
    ) -> Result<(), W::Error> {
        self.buf = line;
        self.cursor = self.buf.len();
        self.render_from(0, term)
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
                    self.leave_line("", term)?;
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
