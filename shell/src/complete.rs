//! Tab completion: the [`Completer`] trait the shell implements, and the pure logic
//! that decides what a Tab press does with the candidates.
//!
//! The editor finds the word under the cursor ([`word_start`]: words are separated by
//! spaces and tabs; quotes are not understood), asks the completer for candidates and
//! turns them into a [`Plan`] with [`plan`]:
//!
//! - one candidate: complete it and add a space ([`Plan::Unique`]);
//! - several: extend the word to their longest common prefix, or, when that adds
//!   nothing, list them on a second Tab in a row ([`Plan::Several`]);
//! - none: ring the bell ([`Plan::NoMatch`]).
//!
//! This is the behaviour of bash/readline with its default settings.
//!
//! [`ShellCompleter`] is what the interactive shell completes from: command names in
//! command position, job ids after `%`, baked file names elsewhere.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use kiln_init::exec::Interpreter;
use kiln_init::jobs::JobTable;
use kiln_init::program::{BakedFile, Program};
use kiln_init::rc::ast::BUILTIN_NAMES;

/// Where completion candidates come from (program names, built-ins, baked files, ...).
///
/// Closures `Fn(&str, usize) -> Vec<String>` are completers too.
pub trait Completer {
    /// Candidates for the word `line[word_start..]`, where `line` is the edited line up
    /// to the cursor. Each candidate is a whole word that replaces that word; candidates
    /// that do not start with it, or that hold control characters, are ignored.
    fn complete(&self, line: &str, word_start: usize) -> Vec<String>;
}

impl<F: Fn(&str, usize) -> Vec<String>> Completer for F {
    fn complete(&self, line: &str, word_start: usize) -> Vec<String> {
        self(line, word_start)
    }
}

/// A completer with no candidates: Tab only rings the bell.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCompletion;

impl Completer for NoCompletion {
    fn complete(&self, _line: &str, _word_start: usize) -> Vec<String> {
        Vec::new()
    }
}

/// What a Tab press does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// No candidate: ring the bell.
    NoMatch,
    /// Exactly one candidate: insert `suffix` (the rest of the word and a separator).
    Unique {
        /// Text to insert at the cursor.
        suffix: String,
    },
    /// Several candidates: insert `suffix` (up to their longest common prefix, may be
    /// empty); `candidates` are sorted and deduplicated, for listing.
    Several {
        /// Text to insert at the cursor (empty when the word is already the common prefix).
        suffix: String,
        /// The candidates, sorted, without duplicates.
        candidates: Vec<String>,
    },
}

/// Characters that separate words on the command line.
fn is_separator(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// The byte index where the word ending at the end of `before_cursor` starts.
pub fn word_start(before_cursor: &str) -> usize {
    before_cursor
        .char_indices()
        .rev()
        .find(|&(_, c)| is_separator(c))
        .map_or(0, |(i, c)| i + c.len_utf8())
}

/// The longest common prefix of `words`, cut at a character boundary.
pub fn common_prefix(words: &[String]) -> &str {
    let Some((first, rest)) = words.split_first() else {
        return "";
    };
    let mut len = first.len();
    for word in rest {
        len = first
            .bytes()
            .zip(word.bytes())
            .take(len)
            .take_while(|(a, b)| a == b)
            .count();
    }
    while !first.is_char_boundary(len) {
        len -= 1;
    }
    &first[..len]
}

/// Decides what Tab does for `word` (the text from the word start to the cursor).
pub fn plan(word: &str, mut candidates: Vec<String>) -> Plan {
    candidates.retain(|c| c.starts_with(word) && !c.chars().any(char::is_control));
    candidates.sort_unstable();
    candidates.dedup();
    match candidates.len() {
        0 => Plan::NoMatch,
        1 => {
            let rest = &candidates[0][word.len()..];
            let mut suffix = String::from(rest);
            // A directory-like candidate is usually followed by more of the same word.
            if !candidates[0].ends_with('/') {
                suffix.push(' ');
            }
            Plan::Unique { suffix }
        }
        _ => {
            let suffix = String::from(&common_prefix(&candidates)[word.len()..]);
            Plan::Several { suffix, candidates }
        }
    }
}

/// Words after which the next word is a command name again.
const COMMAND_KEYWORDS: &[&str] = &["if", "then", "elif", "else", "start", "respawn"];
/// Words whose second argument is a command name (`repeat N CMD`, `timeout DUR CMD`).
const COMMAND_AFTER_ONE_ARG: &[&str] = &["repeat", "timeout"];
/// Operators after which a command starts.
const COMMAND_OPERATORS: &[char] = &[';', '&', '|', '{'];
/// The word that asks for a name's usage (`help NAME`).
const HELP: &str = "help";
/// What job specs start with.
const JOB_PREFIX: char = '%';

/// The shell's completer: the first word of a command from the program, built-in and
/// rc word names; `%…` from the job table's ids; any other word from the baked files'
/// names (and the word after `help` from every name).
pub struct ShellCompleter {
    programs: &'static [Program],
    files: &'static [BakedFile],
    builtins: &'static [&'static str],
    jobs: Arc<JobTable>,
}

impl ShellCompleter {
    /// A completer over `interp`'s programs, files and jobs, and the shell's `builtins`.
    pub fn new(interp: &Interpreter, builtins: &'static [&'static str]) -> Self {
        ShellCompleter {
            programs: interp.programs(),
            files: interp.files(),
            builtins,
            jobs: interp.jobs().clone(),
        }
    }

    /// Every command name: programs, the shell's built-ins and rc's words.
    fn command_names(&self) -> Vec<String> {
        self.programs
            .iter()
            .map(|p| p.name)
            .chain(self.builtins.iter().copied())
            .chain(BUILTIN_NAMES.iter().copied())
            .map(String::from)
            .collect()
    }
}

impl Completer for ShellCompleter {
    fn complete(&self, line: &str, word_start: usize) -> Vec<String> {
        let word = &line[word_start..];
        let before = &line[..word_start];
        if word.starts_with(JOB_PREFIX) {
            return self
                .jobs
                .numbered()
                .iter()
                .map(|job| format!("{JOB_PREFIX}{}", job.number))
                .collect();
        }
        if is_command_position(before) || before.split_whitespace().next_back() == Some(HELP) {
            return self.command_names();
        }
        self.files.iter().map(|f| String::from(f.name)).collect()
    }
}

/// True if a word after `before` is a command name.
fn is_command_position(before: &str) -> bool {
    let trimmed = before.trim_end();
    if trimmed.is_empty() || trimmed.ends_with(COMMAND_OPERATORS) {
        return true;
    }
    let mut words = trimmed.split_whitespace().rev();
    let last = words.next().unwrap_or("");
    let second_last = words.next().unwrap_or("");
    COMMAND_KEYWORDS.contains(&last) || COMMAND_AFTER_ONE_ARG.contains(&second_last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn word_start_after_the_last_separator() {
        assert_eq!(word_start(""), 0);
        assert_eq!(word_start("fw"), 0);
        assert_eq!(word_start("fw "), 3);
        assert_eq!(word_start("fw lo"), 3);
        assert_eq!(word_start("a\tb"), 2);
        assert_eq!(word_start("é é"), 3);
    }

    #[test]
    fn common_prefix_respects_char_boundaries() {
        assert_eq!(common_prefix(&[]), "");
        assert_eq!(common_prefix(&words(&["abc"])), "abc");
        assert_eq!(common_prefix(&words(&["abc", "abd", "ab"])), "ab");
        // 'é' is C3 A9 and 'è' is C3 A8: they share a byte, not a character.
        assert_eq!(common_prefix(&words(&["xé", "xè"])), "x");
    }

    #[test]
    fn plans() {
        assert_eq!(plan("q", words(&["fw"])), Plan::NoMatch);
        assert_eq!(
            plan("f", words(&["fw"])),
            Plan::Unique {
                suffix: "w ".to_string()
            }
        );
        assert_eq!(
            plan("et", words(&["etc/"])),
            Plan::Unique {
                suffix: "c/".to_string()
            }
        );
        assert_eq!(
            plan("m", words(&["memstat", "memtest", "memstat", "fw"])),
            Plan::Several {
                suffix: "em".to_string(),
                candidates: words(&["memstat", "memtest"])
            }
        );
        assert_eq!(
            plan("x", vec!["x\x1b[2J".to_string()]),
            Plan::NoMatch,
            "candidates with control characters are ignored"
        );
    }

    #[test]
    fn closures_are_completers() {
        let c = |_: &str, _: usize| words(&["one"]);
        assert_eq!(Completer::complete(&c, "o", 0), words(&["one"]));
        assert!(NoCompletion.complete("o", 0).is_empty());
    }
}
