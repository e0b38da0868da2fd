//! The rc language's syntax tree, as [`parse`](super::parse) produces it.
//!
//! The tree mirrors the grammar: a [`Script`] is a [`List`] of [`Item`]s; an item is an
//! [`AndOr`] of [`Pipeline`]s of [`Command`]s. Words are already unquoted: a [`Word`] is a
//! sequence of literal text and variable expansions, and an expanded word is never split
//! again, so quoting is not remembered. Built-ins arrive typed and validated ([`Builtin`]).
//!
//! Every [`Span`] compares equal to every other, so `==` on trees compares structure only
//! (what the printer round-trip needs); compare span fields directly to check positions.

use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

/// Where a piece of syntax sits in the source: byte offset and length, 1-based line and column
/// (the column counts chars, not bytes).
#[derive(Debug, Clone, Copy, Default, Eq)]
pub struct Span {
    pub offset: usize,
    pub line: u32,
    pub column: u32,
    pub len: usize,
}

impl PartialEq for Span {
    /// Always true: trees compare by structure, whatever their positions.
    fn eq(&self, _other: &Span) -> bool {
        true
    }
}

/// A whole script (or one line typed at the shell).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Script {
    pub items: List,
}

/// Items run in order.
pub type List = Vec<Item>;

/// One and-or list, ended by `;`/newline (run and wait) or `&` (run in the background).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub and_or: AndOr,
    pub background: bool,
}

/// `first && p2 || p3 ...`: each later pipeline runs depending on the previous status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AndOr {
    pub first: Pipeline,
    pub rest: Vec<(Connector, Pipeline)>,
}

/// The operator between two pipelines of an [`AndOr`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connector {
    /// `&&`: run the next pipeline if the status so far is 0.
    And,
    /// `||`: run the next pipeline if the status so far is not 0.
    Or,
}

/// `a | b | c`: commands connected stdout to stdin; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    pub commands: Vec<Command>,
}

/// One command of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A baked program (or a caller's extra built-in) with its argv and per-job env.
    Simple(SimpleCommand),
    /// `{ list; }`: a list run as one command; `span` covers the `{`.
    Group { body: List, span: Span },
    /// `if ...; then ...; elif ...; else ...; fi`.
    If(IfCommand),
    /// One of rc's own built-ins, with validated arguments.
    Builtin(Builtin),
}

/// `NAME=value... word...`: assignments are the job's env; `words[0]` is the program.
///
/// `words` is empty only for a bare assignment line (`NAME=value`), which sets shell
/// variables. `span` covers the command from its first assignment or word to its last word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleCommand {
    pub assignments: Vec<Assignment>,
    pub words: Vec<Word>,
    pub span: Span,
}

/// `NAME=value`; `span` covers the whole word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub name: String,
    pub value: Word,
    pub span: Span,
}

/// One argument after unquoting: its parts are concatenated after expansion, never split.
///
/// Adjacent literals are merged and never empty, so `''` is a word with no parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub parts: Vec<WordPart>,
    pub span: Span,
}

/// A piece of a [`Word`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WordPart {
    /// Text taken as is.
    Literal(String),
    /// `$NAME` or `${NAME}`.
    Var(String),
    /// `$?`: the status of the last command.
    LastStatus,
    /// `$!`: the last background job, as `%N` (empty before the first).
    LastBackground,
}

/// `if c1; then b1; elif c2; then b2; else e; fi`: `branches` holds (condition, body) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfCommand {
    pub branches: Vec<(List, List)>,
    pub otherwise: Option<List>,
    /// The `if` keyword.
    pub span: Span,
}

/// rc's own built-ins, recognised by the parser with their arguments checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Builtin {
    /// `wait [%N | NAME]...`: wait for the given jobs, or all of them.
    Wait(Vec<Word>),
    /// `export NAME=value...`: set and export shell variables.
    Export(Vec<Assignment>),
    /// `unset NAME...`: remove variables (each word is a literal name).
    Unset(Vec<Word>),
    /// `start [--timeout D] cmd`: run in the background, continue once it is ready or exits.
    Start {
        timeout: Option<Duration>,
        command: SimpleCommand,
    },
    /// `respawn [--max N] [--delay D] cmd`: run in the background, restart on non-zero exit.
    Respawn {
        max: Option<u32>,
        delay: Option<Duration>,
        command: SimpleCommand,
    },
    /// `timeout D cmd`: run, and stop the job once it runs longer than `limit`.
    Timeout {
        limit: Duration,
        command: SimpleCommand,
    },
    /// `source NAME`: run a baked script file.
    Source(Word),
    /// `shell`: an interactive shell on the console, here.
    Shell,
    /// `poweroff [STATUS]`: power off with STATUS (default: the last status).
    Poweroff(Option<Word>),
    /// `exit [STATUS]`: leave the shell, or end the script, with STATUS (default: the
    /// last status).
    Exit(Option<Word>),
    /// `halt`: stop the CPU.
    Halt,
    /// `reboot`: reset the machine.
    Reboot,
}

impl Builtin {
    /// The built-in's name as written in rc.
    pub fn name(&self) -> &'static str {
        match self {
            Builtin::Wait(_) => "wait",
            Builtin::Export(_) => "export",
            Builtin::Unset(_) => "unset",
            Builtin::Start { .. } => "start",
            Builtin::Respawn { .. } => "respawn",
            Builtin::Timeout { .. } => "timeout",
            Builtin::Source(_) => "source",
            Builtin::Shell => "shell",
            Builtin::Poweroff(_) => "poweroff",
            Builtin::Exit(_) => "exit",
            Builtin::Halt => "halt",
            Builtin::Reboot => "reboot",
        }
    }
}

/// The names of rc's built-ins; they cannot be used as program names.
pub const BUILTIN_NAMES: &[&str] = &[
    "wait", "export", "unset", "start", "respawn", "timeout", "source", "shell", "poweroff",
    "halt", "reboot", "exit",
];

impl Word {
    /// The word's text if it is literal only (no expansion), without copying.
    pub fn literal(&self) -> Option<&str> {
        Word::literal_of(&self.parts)
    }

    /// The text of `parts` if they are literal only (no expansion), without copying.
    pub(crate) fn literal_of(parts: &[WordPart]) -> Option<&str> {
        match parts {
            [] => Some(""),
            [WordPart::Literal(text)] => Some(text),
            _ => None,
        }
    }

    /// The word's text if it is literal only (no expansion), e.g. a program name.
    pub fn as_literal(&self) -> Option<String> {
        let mut text = String::new();
        for part in &self.parts {
            match part {
                WordPart::Literal(s) => text.push_str(s),
                _ => return None,
            }
        }
        Some(text)
    }
}

/// The parts of a word whose text is `text`, taken literally: none for an empty text.
pub(crate) fn literal_parts(text: &str) -> Vec<WordPart> {
    if text.is_empty() {
        Vec::new()
    } else {
        alloc::vec![WordPart::Literal(String::from(text))]
    }
}
