//! Parse errors of the rc language: one typed [`ErrorKind`], placed by [`Error`].
//!
//! `Display` gives `rc:3:14: message` (source, line, column, message); [`Error::render`]
//! adds the offending line and a caret line under the columns, like compilers do.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::ast::Span;

/// What was wrong with a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// `'...` with no closing `'`.
    UnterminatedSingleQuote,
    /// `"...` with no closing `"`.
    UnterminatedDoubleQuote,
    /// A `\` as the very last character.
    TrailingBackslash,
    /// `${...}` that is not `${NAME}`.
    BadSubstitution(String),
    /// A `}` with no open `{`.
    StrayCloseBrace,
    /// `then`, `elif`, `else` or `fi` with no open `if`.
    KeywordWithoutIf(&'static str),
    /// A keyword where another was needed (`if a; fi`).
    Expected {
        expected: &'static str,
        found: String,
    },
    /// The script ended inside `if ... then`.
    MissingThen,
    /// The script ended inside an `if`.
    MissingFi,
    /// The script ended inside a `{`.
    MissingCloseBrace,
    /// Nothing before an operator (`&& b`, `| x`, `;;`).
    EmptyCommand { before: &'static str },
    /// Nothing after an operator or keyword (`a && ;`, `then fi`).
    MissingCommand { after: &'static str },
    /// The script ended where a command was needed (`a &&`).
    UnexpectedEnd { after: &'static str },
    /// A token that cannot appear here (a word after `}`, a stray `;`).
    UnexpectedToken(String),
    /// A construct of sh that kiln's rc does not have: what it is and what to do
    /// instead (see [`Unsupported`]).
    Unsupported(Unsupported),
    /// Not `NUMBER` + `ms`, `s` or `m`.
    BadDuration(String),
    /// Not a number in range.
    BadNumber(String),
    /// A `wait` argument starting with `%` that is not `%N`.
    BadJobSpec(String),
    /// Not a valid variable name (`unset 1x`).
    BadName(String),
    /// A command name that is neither baked nor a built-in, with the closest known name.
    UnknownProgram {
        name: String,
        suggestion: Option<String>,
    },
    /// A built-in used where a program is needed (`timeout 5s wait`).
    NotAProgram { builtin: &'static str, name: String },
    /// A built-in needed an argument it did not get.
    MissingArgument {
        builtin: &'static str,
        what: &'static str,
    },
    /// A built-in got more arguments than it takes.
    TooManyArguments { builtin: &'static str },
    /// An option the built-in does not have (`start --foo`).
    UnknownOption {
        builtin: &'static str,
        option: String,
    },
    /// An `export` argument without `=`.
    NotAnAssignment(String),
    /// `NAME=value` before a built-in that does not take an environment.
    AssignmentBeforeBuiltin(&'static str),
    /// More nested `{ }`/`if` than [`MAX_DEPTH`](super::MAX_DEPTH).
    NestingTooDeep { limit: usize },
    /// A script longer than [`MAX_SCRIPT_BYTES`](super::MAX_SCRIPT_BYTES).
    ScriptTooLarge { size: usize, limit: usize },
}

/// The constructs of sh outside kiln's subset, each with its own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsupported {
    /// `>`, `>>`, `<`, `2>`.
    Redirection(char),
    /// `$(...)` or `` `...` ``.
    CommandSubstitution,
    /// `$((...))`.
    Arithmetic,
    /// `( ... )`, or `name()` defining a function.
    Subshell,
    /// `for`, `while`, `until`.
    Loop(&'static str),
    /// `case`.
    Case,
    /// `function`.
    Function,
    /// `$1`..`$9`, `$@`, `$*`, `$0`.
    Positional(char),
    /// `$$` or `$-`.
    ShellParameter(char),
    /// An unquoted `*`, `?` or `[`.
    Glob(char),
    /// An unquoted `~` starting a word.
    Tilde,
}

impl Unsupported {
    /// What the construct is, and what to use instead.
    fn describe(&self) -> (String, &'static str) {
        match *self {
            Unsupported::Redirection(c) => (
                format!("redirection '{c}'"),
                "jobs read and write their console; connect programs with a pipe (prog | upper)",
            ),
            Unsupported::CommandSubstitution => (
                String::from("command substitution"),
                "pass values in variables (NAME=value) instead",
            ),
            Unsupported::Arithmetic => (
                String::from("arithmetic expansion '$((...))'"),
                "write the number itself",
            ),
            Unsupported::Subshell => (
                String::from("'(' (a subshell or a function)"),
                "group commands with { ...; }",
            ),
            Unsupported::Loop(word) => (
                format!("the '{word}' loop"),
                "at the shell, 'repeat N COMMAND' runs a command N times",
            ),
            Unsupported::Case => (String::from("'case'"), "use if/elif/else"),
            Unsupported::Function => (
                String::from("'function'"),
                "bake a script and run it with 'source NAME'",
            ),
            Unsupported::Positional(c) => (
                format!("'${c}'"),
                "rc scripts take no arguments ($# is 0); use variables",
            ),
            Unsupported::ShellParameter(c) => (
                format!("'${c}'"),
                "jobs have numbers, not process ids: $! is the last background job (%N)",
            ),
            Unsupported::Glob(c) => (
                format!("the glob '{c}'"),
                "kiln has no file names to match; quote it ('{c}') to mean the character",
            ),
            Unsupported::Tilde => (
                String::from("'~' (a home directory)"),
                "kiln has no home directories; quote it ('~') to mean the character",
            ),
        }
    }
}

impl ErrorKind {
    /// `$?` after a line rejected with this error: 127 for a program that does not
    /// exist, 2 (a syntax error) for the rest, as sh.
    pub fn status(&self) -> crate::program::Status {
        match self {
            ErrorKind::UnknownProgram { .. } => crate::exec::NOT_FOUND_STATUS,
            _ => crate::exec::SYNTAX_ERROR_STATUS,
        }
    }

    /// True if more input could complete the script (the shell then asks for another line).
    pub fn is_incomplete(&self) -> bool {
        matches!(
            self,
            ErrorKind::UnterminatedSingleQuote
                | ErrorKind::UnterminatedDoubleQuote
                | ErrorKind::TrailingBackslash
                | ErrorKind::MissingThen
                | ErrorKind::MissingFi
                | ErrorKind::MissingCloseBrace
                | ErrorKind::UnexpectedEnd { .. }
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::UnterminatedSingleQuote => f.write_str("unterminated single quote"),
            ErrorKind::UnterminatedDoubleQuote => f.write_str("unterminated double quote"),
            ErrorKind::TrailingBackslash => f.write_str("backslash at the end of the input"),
            ErrorKind::BadSubstitution(text) => {
                write!(f, "bad substitution '{text}' (use ${{NAME}})")
            }
            ErrorKind::StrayCloseBrace => f.write_str("'}' without '{'"),
            ErrorKind::KeywordWithoutIf(keyword) => write!(f, "'{keyword}' without 'if'"),
            ErrorKind::Expected { expected, found } => {
                write!(f, "expected '{expected}', found '{found}'")
            }
            ErrorKind::MissingThen => f.write_str("'if' without 'then'"),
            ErrorKind::MissingFi => f.write_str("'if' without 'fi'"),
            ErrorKind::MissingCloseBrace => f.write_str("'{' without '}'"),
            ErrorKind::EmptyCommand { before } => write!(f, "empty command before '{before}'"),
            ErrorKind::MissingCommand { after } => write!(f, "expected a command after '{after}'"),
            ErrorKind::UnexpectedEnd { after } => {
                write!(f, "the input ends where a command should follow '{after}'")
            }
            ErrorKind::UnexpectedToken(token) => write!(f, "unexpected '{token}'"),
            ErrorKind::Unsupported(construct) => {
                let (what, instead) = construct.describe();
                write!(f, "{what} is not supported by kiln's rc: {instead}")
            }
            ErrorKind::BadDuration(text) => {
                write!(
                    f,
                    "bad duration '{text}' (seconds, or with ms, s, m, h or d: 1.5s, 500ms)"
                )
            }
            ErrorKind::BadNumber(text) => write!(f, "bad number '{text}'"),
            ErrorKind::BadJobSpec(text) => write!(f, "bad job '{text}' (use %N or a name)"),
            ErrorKind::BadName(text) => write!(f, "bad variable name '{text}'"),
            ErrorKind::UnknownProgram { name, suggestion } => match suggestion {
                Some(s) => write!(f, "unknown program '{name}' (did you mean '{s}'?)"),
                None => write!(f, "unknown program '{name}'"),
            },
            ErrorKind::NotAProgram { builtin, name } => {
                write!(f, "{builtin}: '{name}' is a built-in, not a program")
            }
            ErrorKind::MissingArgument { builtin, what } => write!(f, "{builtin}: missing {what}"),
            ErrorKind::TooManyArguments { builtin } => write!(f, "{builtin}: too many arguments"),
            ErrorKind::UnknownOption { builtin, option } => {
                write!(f, "{builtin}: unknown option '{option}'")
            }
            ErrorKind::NotAnAssignment(text) => {
                write!(f, "export: '{text}' is not NAME=value or NAME")
            }
            ErrorKind::AssignmentBeforeBuiltin(builtin) => {
                write!(f, "assignments cannot precede '{builtin}'")
            }
            ErrorKind::NestingTooDeep { limit } => {
                write!(
                    f,
                    "nesting too deep (more than {limit} levels of {{ }} or if)"
                )
            }
            ErrorKind::ScriptTooLarge { size, limit } => {
                write!(f, "script too large ({size} bytes, limit {limit})")
            }
        }
    }
}

/// A parse error placed in its source: 1-based line and column, `len` chars (at least 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    /// The script's name (`rc`, a baked file's name, `shell`).
    pub source: String,
    pub line: u32,
    pub column: u32,
    pub len: u32,
}

/// The rc parser's result.
pub type Result<T> = core::result::Result<T, Error>;

/// Messages quote at most this many chars of an offending token.
const MAX_QUOTED_CHARS: usize = 40;

/// `text` for a one-line message: control chars escaped, cut to [`MAX_QUOTED_CHARS`] chars.
pub(crate) fn excerpt(text: &str) -> String {
    let mut short = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_QUOTED_CHARS {
            short.push_str("...");
            break;
        }
        if c.is_control() {
            short.extend(c.escape_debug());
        } else {
            short.push(c);
        }
    }
    short
}

/// Caret lines under very long tokens are cut to this many columns.
const MAX_CARETS: usize = 200;
/// What the source line and the caret line are indented by.
const RENDER_INDENT: &str = "    ";

impl Error {
    /// An error of `kind` covering `span` of `text` (the length is counted in chars).
    pub(crate) fn at(kind: ErrorKind, source: &str, span: Span, text: &str) -> Error {
        let end = span.offset.saturating_add(span.len).min(text.len());
        let chars = text
            .get(span.offset.min(end)..end)
            .map_or(1, |s| s.chars().count());
        Error {
            kind,
            source: String::from(source),
            line: span.line.max(1),
            column: span.column.max(1),
            len: u32::try_from(chars.max(1)).unwrap_or(u32::MAX),
        }
    }

    /// True if more input could complete the script (see [`ErrorKind::is_incomplete`]).
    pub fn is_incomplete(&self) -> bool {
        self.kind.is_incomplete()
    }

    /// The message, then the offending line of `text` indented by 4 spaces, then carets under
    /// the offending columns. Tabs show as one space so the carets stay aligned.
    pub fn render(&self, text: &str) -> String {
        let line_index = usize::try_from(self.line.saturating_sub(1)).unwrap_or(usize::MAX);
        let line = text.split('\n').nth(line_index).unwrap_or("");
        let line = line.strip_suffix('\r').unwrap_or(line);
        let shown: String = line
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .collect();
        let line_chars = shown.chars().count();
        let column = usize::try_from(self.column.max(1)).unwrap_or(usize::MAX);
        let room = line_chars.saturating_sub(column - 1).max(1);
        let carets = usize::try_from(self.len)
            .unwrap_or(usize::MAX)
            .clamp(1, room)
            .min(MAX_CARETS);
        let pad = " ".repeat((column - 1).min(line_chars));
        let caret_line: String = core::iter::repeat_n('^', carets).collect();
        let lines: Vec<String> = [
            format!("{self}"),
            format!("{RENDER_INDENT}{shown}"),
            format!("{RENDER_INDENT}{pad}{caret_line}"),
        ]
        .into();
        lines.join("\n")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.source, self.line, self.column, self.kind
        )
    }
}

impl core::error::Error for Error {}
