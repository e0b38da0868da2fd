//! kiln's console shell: a line editor over embedded-io, history, completion and built-ins.
//!
//! - [`session`]: an operator [`Session`] on one console: prompt, running typed lines
//!   with init's interpreter, Ctrl-C for the foreground job; the entry point for board.
//! - [`console`]: the screen the editor, built-ins and jobs share ([`SessionConsole`]),
//!   which redraws the edited line around background output.
//! - [`input`]: the input pump thread that reads the console while commands run.
//! - [`builtins`]: `help`, `jobs`, `fg`, `kill`, `ps`, `set`, `repeat`, ...
//! - [`editor`]: the line editor, a state machine over input bytes rendering with
//!   plain ANSI/VT100 sequences (never a terminal query).
//! - [`history`]: the bounded list of past lines.
//! - [`complete`]: the [`complete::Completer`] trait, what Tab does with candidates,
//!   and the shell's [`complete::ShellCompleter`].
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod builtins;
pub mod complete;
pub mod console;
pub mod editor;
pub mod history;
pub mod input;
pub mod session;

pub use builtins::{Error, Result};
pub use complete::{Completer, NoCompletion, ShellCompleter};
pub use console::SessionConsole;
pub use editor::{Config, Editor, Event};
pub use history::History;
pub use session::{Options, Session};
