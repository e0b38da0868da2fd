//! The session's screen: one writer shared by the line editor, the built-ins and the
//! jobs, so that output from a background job does not trample the line being edited.
//!
//! The screen owns the console's writer and the [`Editor`] behind one `kiln_init::sync::Mutex`.
//! Everything the session prints goes through it:
//!
//! - editor output (prompt, echo, redraws) is written as the editor renders it;
//! - text (built-ins, jobs, errors) has each lone `\n` turned into `\r\n`;
//! - text that arrives while a line is being edited with echo on (a background job
//!   printing) is held until its line is complete, then the prompt line is cleared
//!   ([`Editor::clear_line`]), the text written, and the prompt and partial line drawn
//!   again ([`Editor::redraw`]). A partial line longer than [`MAX_HELD`] is written
//!   with a line end added.
//!
//! Nothing is ever redrawn when no line is being edited (or with echo off), so the same
//! input gives the same bytes when nothing runs in the background.
//!
//! [`SessionConsole`] is the [`Console`] jobs get: it writes text through the screen.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::mem;

use embedded_io::Write;
use kiln_init::platform::Console;

use crate::complete::Completer;
use crate::editor::{Config, Editor, Event};

/// Line feed, which jobs end lines with.
const LF: u8 = b'\n';
/// Carriage return, which terminals need before a line feed.
const CR: u8 = b'\r';
/// A terminal line end.
pub(crate) const CRLF: &[u8] = b"\r\n";
/// The longest partial line of background output held back while a line is edited.
pub const MAX_HELD: usize = 256;

/// The console's writer and the editor, shared under one lock.
pub(crate) struct Screen<W> {
    out: W,
    pub(crate) editor: Editor,
    /// A prompt is on screen and the operator is editing a line.
    editing: bool,
    /// The last text byte written was `\r` (so a `\n` right after it needs no `\r`).
    after_cr: bool,
    /// Background output held back while a line is edited, up to its line end.
    held: Vec<u8>,
}

impl<W: Write> Screen<W> {
    pub(crate) fn new(out: W, config: Config) -> Self {
        Screen {
            out,
            editor: Editor::new(config),
            editing: false,
            after_cr: false,
            held: Vec::new(),
        }
    }

    /// Prints `prompt` and starts editing a new line.
    pub(crate) fn begin_line(&mut self, prompt: &str) {
        self.flush_held();
        // Output errors have nowhere to go: the console is all there is.
        let _ = self.editor.start_line(prompt, &mut self.out);
        self.editing = true;
    }

    /// Feeds one input byte to the editor; editing ends with any event but `None`.
    pub(crate) fn feed(&mut self, byte: u8, completer: &dyn Completer) -> Event {
        let event = self
            .editor
            .feed(byte, completer, &mut self.out)
            .unwrap_or(Event::None);
        if event != Event::None {
            self.end_line();
        }
        event
    }

    /// No line is being edited any more: held output is written.
    pub(crate) fn end_line(&mut self) {
        self.editing = false;
        self.flush_held();
    }

    /// Writes bytes as they are (terminal control sequences, line ends).
    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        if let Some(&last) = bytes.last() {
            self.after_cr = last == CR;
        }
        let _ = self.out.write_all(bytes);
    }

    /// Writes text from a built-in or a job; see the module docs.
    pub(crate) fn text(&mut self, bytes: &[u8]) {
        if !self.editing || !self.editor.config().echo {
            self.flush_held();
            self.translate(bytes);
            return;
        }
        self.held.extend_from_slice(bytes);
        let upto = match self.held.iter().rposition(|&b| b == LF) {
            Some(end) => end + 1,
            None if self.held.len() >= MAX_HELD => self.held.len(),
            None => return,
        };
        let lines: Vec<u8> = self.held.drain(..upto).collect();
        if self.held.is_empty() {
            // Keep no capacity: how much was held depends on timing, and memory that
            // stays behind would make the heap's figures depend on it too.
            self.held = Vec::new();
        }
        let _ = self.editor.clear_line(&mut self.out);
        self.translate(&lines);
        if lines.last() != Some(&LF) {
            self.raw(CRLF);
        }
        let _ = self.editor.redraw(&mut self.out);
    }

    /// Writes what was held back, as it is (the line end comes later, or never).
    fn flush_held(&mut self) {
        if !self.held.is_empty() {
            let held = mem::take(&mut self.held);
            self.translate(&held);
        }
    }

    /// Writes `bytes`, turning each `\n` not preceded by `\r` into `\r\n`.
    fn translate(&mut self, bytes: &[u8]) {
        let mut start = 0;
        for (at, &byte) in bytes.iter().enumerate() {
            if byte == LF && !self.after_cr {
                let _ = self.out.write_all(&bytes[start..at]);
                let _ = self.out.write_all(CRLF);
                start = at + 1;
            }
            self.after_cr = byte == CR;
        }
        let _ = self.out.write_all(&bytes[start..]);
    }
}

/// The console a session's jobs write to (see the module docs); cheap to clone.
pub struct SessionConsole<W> {
    screen: Arc<kiln_init::sync::Mutex<Screen<W>>>,
}

impl<W> SessionConsole<W> {
    pub(crate) fn new(screen: Arc<kiln_init::sync::Mutex<Screen<W>>>) -> Self {
        SessionConsole { screen }
    }
}

impl<W> Clone for SessionConsole<W> {
    fn clone(&self) -> Self {
        SessionConsole {
            screen: self.screen.clone(),
        }
    }
}

impl<W: Write + Send> Console for SessionConsole<W> {
    fn write(&self, bytes: &[u8]) {
        self.screen.lock().text(bytes);
    }
}
