//! The rc language (docs/ARCHITECTURE.md, "The rc language"): a strict subset of POSIX sh for rc
//! scripts and for lines typed at the shell.
//!
//! [`parse`] turns text into a [`Script`](ast::Script): the [`lexer`] resolves quoting (byte
//! scans for plain words, small nom parsers for quotes and expansions), the [`parser`] builds
//! the tree by recursive descent, types the built-ins and checks every command name against
//! [`Names`] before anything runs. Errors ([`error`]) carry source, line and column and render with a caret.
//! The [`printer`] writes a tree back as canonical rc text that parses to an equal tree.

pub mod ast;
pub mod error;
mod lexer;
mod parser;
pub mod printer;

#[cfg(test)]
mod tests;

use alloc::string::String;
use alloc::vec::Vec;

use crate::program::Program;

pub use ast::Script;
pub use error::{Error, ErrorKind, Result, Unsupported};
pub(crate) use parser::suggest;

/// The deepest nesting of `{ }` and `if` a script may use. The parser and the
/// interpreter recurse once per level (about 3 KiB of stack each in the release image):
/// 32 levels fit the kernel threads' stacks (board's `KERNEL_STACK_SIZE`) with room to
/// spare, which tests/tests/memory.rs checks at this very bound.
pub const MAX_DEPTH: usize = 32;
/// The longest script accepted, in bytes.
pub const MAX_SCRIPT_BYTES: usize = 1024 * 1024;

/// The command names a script may run besides rc's built-ins: baked programs, plus the extra
/// built-ins of the caller (the shell's `jobs`, `kill`, `fg`, ...).
pub trait Names {
    /// True if `name` can be run.
    fn contains(&self, name: &str) -> bool;
    /// Every name, for did-you-mean suggestions (only asked when a name is unknown).
    fn candidates(&self) -> Vec<&str>;
}

/// Names that accept every program name: the shell looks names up when it runs them,
/// as sh does (see `Interpreter::run_typed_line`).
pub struct AnyName;

impl Names for AnyName {
    fn contains(&self, _name: &str) -> bool {
        true
    }

    fn candidates(&self) -> Vec<&str> {
        Vec::new()
    }
}

impl Names for &[&str] {
    fn contains(&self, name: &str) -> bool {
        <[&str]>::contains(self, &name)
    }

    fn candidates(&self) -> Vec<&str> {
        self.to_vec()
    }
}

impl<const N: usize> Names for [&str; N] {
    fn contains(&self, name: &str) -> bool {
        <[&str]>::contains(self, &name)
    }

    fn candidates(&self) -> Vec<&str> {
        self.to_vec()
    }
}

impl Names for Vec<&str> {
    fn contains(&self, name: &str) -> bool {
        <[&str]>::contains(self, &name)
    }

    fn candidates(&self) -> Vec<&str> {
        self.clone()
    }
}

impl Names for Vec<String> {
    fn contains(&self, name: &str) -> bool {
        self.iter().any(|n| n == name)
    }

    fn candidates(&self) -> Vec<&str> {
        self.iter().map(String::as_str).collect()
    }
}

impl Names for &[Program] {
    fn contains(&self, name: &str) -> bool {
        self.iter().any(|p| p.name == name)
    }

    fn candidates(&self) -> Vec<&str> {
        self.iter().map(|p| p.name).collect()
    }
}

/// Parses a whole script (or one typed line) named `source_name` in messages.
///
/// The whole text is parsed and every command name checked against `names` (rc's own
/// built-ins are always known) before anything runs; the first error is returned. Words that
/// start with an expansion in command position (`$PROG`) are not checked.
pub fn parse(source_name: &str, text: &str, names: &dyn Names) -> Result<Script> {
    parser::parse_script(source_name, text, names)
}
