//! Writes a [`Script`] back as canonical rc text (`impl Display for Script`).
//!
//! Top-level items go one per line; nested lists are written inline (`{ a; b & }`).
//! Words are quoted only when needed: unsafe literals are single-quoted (`'\''` for a quote),
//! variables are written `$NAME`, or `${NAME}` when a name char follows. Printing then
//! parsing gives a tree equal to the original (spans aside).

use core::fmt::{self, Display, Formatter, Write};
use core::time::Duration;

use super::ast::{
    AndOr, Assignment, Builtin, Command, Connector, IfCommand, Item, Pipeline, Script,
    SimpleCommand, Word, WordPart,
};
use super::lexer::{KEYWORDS, is_name_char};

/// Where a word is written; it decides what must be quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    /// A command name: keywords, `NAME=`-like and `-`-led words are quoted.
    CommandName,
    /// Any other argument: a leading `#` is quoted.
    Argument,
    /// After `NAME=`: nothing extra.
    Value,
}

const MILLIS_PER_SECOND: u128 = 1000;
const MILLIS_PER_MINUTE: u128 = 60 * MILLIS_PER_SECOND;

impl Display for Script {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for item in &self.items {
            write_and_or(f, &item.and_or)?;
            f.write_str(if item.background { " &\n" } else { "\n" })?;
        }
        Ok(())
    }
}

/// Items written inline, each followed by `; ` or ` & `.
fn write_list(f: &mut Formatter<'_>, items: &[Item]) -> fmt::Result {
    for item in items {
        write_and_or(f, &item.and_or)?;
        f.write_str(if item.background { " & " } else { "; " })?;
    }
    Ok(())
}

fn write_and_or(f: &mut Formatter<'_>, and_or: &AndOr) -> fmt::Result {
    write_pipeline(f, &and_or.first)?;
    for (connector, pipeline) in &and_or.rest {
        f.write_str(match connector {
            Connector::And => " && ",
            Connector::Or => " || ",
        })?;
        write_pipeline(f, pipeline)?;
    }
    Ok(())
}

fn write_pipeline(f: &mut Formatter<'_>, pipeline: &Pipeline) -> fmt::Result {
    for (i, command) in pipeline.commands.iter().enumerate() {
        if i > 0 {
            f.write_str(" | ")?;
        }
        write_command(f, command)?;
    }
    Ok(())
}

fn write_command(f: &mut Formatter<'_>, command: &Command) -> fmt::Result {
    match command {
        Command::Simple(simple) => write_simple(f, simple),
        Command::Group { body, .. } => {
            f.write_str("{ ")?;
            write_list(f, body)?;
            f.write_str("}")
        }
        Command::If(if_command) => write_if(f, if_command),
        Command::Builtin(builtin) => write_builtin(f, builtin),
    }
}

fn write_if(f: &mut Formatter<'_>, if_command: &IfCommand) -> fmt::Result {
    for (i, (condition, body)) in if_command.branches.iter().enumerate() {
        f.write_str(if i == 0 { "if " } else { "elif " })?;
        write_list(f, condition)?;
        f.write_str("then ")?;
        write_list(f, body)?;
    }
    if let Some(otherwise) = &if_command.otherwise {
        f.write_str("else ")?;
        write_list(f, otherwise)?;
    }
    f.write_str("fi")
}

fn write_simple(f: &mut Formatter<'_>, simple: &SimpleCommand) -> fmt::Result {
    let mut separator = "";
    for assignment in &simple.assignments {
        f.write_str(separator)?;
        write_assignment(f, assignment)?;
        separator = " ";
    }
    for (i, word) in simple.words.iter().enumerate() {
        f.write_str(separator)?;
        let position = if i == 0 {
            Position::CommandName
        } else {
            Position::Argument
        };
        write_word(f, word, position)?;
        separator = " ";
    }
    Ok(())
}

fn write_assignment(f: &mut Formatter<'_>, assignment: &Assignment) -> fmt::Result {
    f.write_str(&assignment.name)?;
    f.write_char('=')?;
    if assignment.value.parts.is_empty() {
        return Ok(());
    }
    write_word(f, &assignment.value, Position::Value)
}

fn write_words(f: &mut Formatter<'_>, words: &[Word]) -> fmt::Result {
    for word in words {
        f.write_char(' ')?;
        write_word(f, word, Position::Argument)?;
    }
    Ok(())
}

fn write_duration(f: &mut Formatter<'_>, duration: &Duration) -> fmt::Result {
    let millis = duration.as_millis();
    if millis != 0 && millis.is_multiple_of(MILLIS_PER_MINUTE) {
        write!(f, "{}m", millis / MILLIS_PER_MINUTE)
    } else if millis.is_multiple_of(MILLIS_PER_SECOND) {
        write!(f, "{}s", millis / MILLIS_PER_SECOND)
    } else {
        write!(f, "{millis}ms")
    }
}

fn write_builtin(f: &mut Formatter<'_>, builtin: &Builtin) -> fmt::Result {
    f.write_str(builtin.name())?;
    match builtin {
        Builtin::Wait(words) | Builtin::Unset(words) => write_words(f, words),
        Builtin::Export(assignments) => {
            for assignment in assignments {
                f.write_char(' ')?;
                write_assignment(f, assignment)?;
            }
            Ok(())
        }
        Builtin::Start { timeout, command } => {
            if let Some(timeout) = timeout {
                f.write_str(" --timeout ")?;
                write_duration(f, timeout)?;
            }
            f.write_char(' ')?;
            write_simple(f, command)
        }
        Builtin::Respawn {
            max,
            delay,
            command,
        } => {
            if let Some(max) = max {
                write!(f, " --max {max}")?;
            }
            if let Some(delay) = delay {
                f.write_str(" --delay ")?;
                write_duration(f, delay)?;
            }
            f.write_char(' ')?;
            write_simple(f, command)
        }
        Builtin::Timeout { limit, command } => {
            f.write_char(' ')?;
            write_duration(f, limit)?;
            f.write_char(' ')?;
            write_simple(f, command)
        }
        Builtin::Source(word) => write_words(f, core::slice::from_ref(word)),
        Builtin::Poweroff(status) | Builtin::Exit(status) => write_words(f, status.as_slice()),
        Builtin::Shell | Builtin::Halt | Builtin::Reboot => Ok(()),
    }
}

/// Characters that never need quoting in a literal (globs do: rc refuses them bare).
fn is_safe(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '-' | '_'
                | '.'
                | '/'
                | ':'
                | ','
                | '+'
                | '@'
                | '%'
                | '^'
                | '~'
                | '!'
                | ']'
                | '='
                | '#'
                | '{'
                | '}'
        )
}

fn write_word(f: &mut Formatter<'_>, word: &Word, position: Position) -> fmt::Result {
    if word.parts.is_empty() {
        return f.write_str("''");
    }
    for (i, part) in word.parts.iter().enumerate() {
        match part {
            WordPart::Literal(text) => {
                let at_start = i == 0;
                let whole = word.parts.len() == 1;
                if needs_quotes(text, at_start, whole, position) {
                    write_single_quoted(f, text)?;
                } else {
                    f.write_str(text)?;
                }
            }
            WordPart::Var(name) => {
                let glued = match word.parts.get(i + 1) {
                    Some(WordPart::Literal(next)) => next.starts_with(is_name_char),
                    _ => false,
                };
                if glued {
                    write!(f, "${{{name}}}")?;
                } else {
                    write!(f, "${name}")?;
                }
            }
            WordPart::LastStatus => f.write_str("$?")?,
            WordPart::LastBackground => f.write_str("$!")?,
        }
    }
    Ok(())
}

/// True if literal `text` must be quoted to read back the same.
fn needs_quotes(text: &str, at_start: bool, whole: bool, position: Position) -> bool {
    if !text.chars().all(is_safe) {
        return true;
    }
    if !at_start || position == Position::Value {
        return false;
    }
    if text.starts_with('#') || text.starts_with('~') {
        return true;
    }
    match position {
        Position::CommandName => {
            (whole && KEYWORDS.contains(&text)) || text.contains('=') || text.starts_with('-')
        }
        _ => false,
    }
}

/// `word` as rc text that reads back as exactly `word` (an argument, not a command
/// name): bare when it is safe, else in single quotes.
pub fn quote_word(word: &str) -> alloc::string::String {
    struct Quoted<'a>(&'a str);
    impl fmt::Display for Quoted<'_> {
        fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
            let text = self.0;
            if text.is_empty() {
                f.write_str("''")
            } else if needs_quotes(text, true, true, Position::Argument) {
                write_single_quoted(f, text)
            } else {
                f.write_str(text)
            }
        }
    }
    alloc::format!("{}", Quoted(word))
}

/// `'text'`, with each `'` written as `'\''`.
fn write_single_quoted(f: &mut Formatter<'_>, text: &str) -> fmt::Result {
    f.write_char('\'')?;
    for (i, piece) in text.split('\'').enumerate() {
        if i > 0 {
            f.write_str("'\\''")?;
        }
        f.write_str(piece)?;
    }
    f.write_char('\'')
}
