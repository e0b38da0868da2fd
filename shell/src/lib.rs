//! kiln's console shell: a line editor over embedded-io, history, completion and built-ins.
//!
//! - [`editor`]: the line editor, a state machine over input bytes rendering with
//!   plain ANSI/VT100 sequences (never a terminal query).
//! - [`history`]: the bounded list of past lines.
//! - [`complete`]: the [`complete::Completer`] trait and what Tab does with candidates.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod complete;
pub mod editor;
pub mod history;

pub use complete::{Completer, NoCompletion};
pub use editor::{Config, Editor, Event};
pub use history::History;
