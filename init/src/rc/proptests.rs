//! Property tests: no input makes the parser panic, and whatever parses prints back to text
//! that parses to the same tree (and prints identically again).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use proptest::prelude::*;

use super::super::ast::Script;
use super::super::{Names, parse};

/// Accepts every command name, so random scripts get past name checks.
struct AnyName;

impl Names for AnyName {
    fn contains(&self, _name: &str) -> bool {
        true
    }

    fn candidates(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// Valid scripts that mutations start from.
const CORPUS: &[&str] = &[
    "fw load default\nmemstat --every 1s &\nproducer | consumer\n",
    "fw check && httpd || poweroff 3\nprog1; { prog2 & prog3 & wait; }\n",
    "wait %1 httpd\nLEVEL=debug httpd --port 80\nexport NAME=value; unset NAME\n",
    "if fw check; then echo ok; elif x; then y; else echo bad; fi\n",
    "start --timeout 5s httpd --port 80\nrespawn --max 3 --delay 1s logger -v\n",
    "timeout 500ms prog a 'b c' \"d $X ${Y}z $?\" e\\ f # comment\nsource boot.rc\n",
    "shell\nhalt\nreboot\nA=1 B=\"$A\"\n{ if a; then { b; }; fi; } &\n",
    "echo a \\\n  b && \\\n c |\n d\n",
];

/// Pieces that random scripts are glued from: words, keywords, operators, quoting.
const PIECES: &[&str] = &[
    "fw",
    "echo",
    "x",
    "A=1",
    "B=",
    "'q q'",
    "\"d $X\"",
    "${Y}z",
    "$?",
    "$P",
    "\\ ",
    "#c",
    "if",
    "then",
    "elif",
    "else",
    "fi",
    "{",
    "}",
    ";",
    "&",
    "|",
    "&&",
    "||",
    "\n",
    " ",
    "wait",
    "%1",
    "export",
    "unset",
    "start",
    "--timeout",
    "respawn",
    "--max",
    "--delay",
    "timeout",
    "5s",
    "2m",
    "500ms",
    "3",
    "source",
    "shell",
    "poweroff",
    "halt",
    "reboot",
    "'",
    "\"",
    "\\",
    "é",
    "-v",
    "=",
    "\t",
    "\\\n",
    "it's",
];

/// Characters that mutations insert.
const SPECIAL: &[char] = &[
    '\'', '"', '\\', '$', '{', '}', ';', '&', '|', '\n', ' ', '#', '=', '%', '?', 'é', '\u{0}',
    '>', '(', 'a', '-', '\t', '\r',
];

/// One edit of a script, positions taken modulo its length.
#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, char),
    Delete(usize, usize),
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), proptest::sample::select(SPECIAL))
            .prop_map(|(at, c)| Mutation::Insert(at, c)),
        (any::<usize>(), 1..8usize).prop_map(|(at, n)| Mutation::Delete(at, n)),
        (any::<usize>(), 1..12usize).prop_map(|(at, n)| Mutation::Duplicate(at, n)),
    ]
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for mutation in mutations {
        let len = chars.len().max(1);
        match *mutation {
            Mutation::Insert(at, c) => chars.insert(at % (chars.len() + 1), c),
            Mutation::Delete(at, n) => {
                let start = (at % len).min(chars.len());
                let end = (start + n).min(chars.len());
                chars.drain(start..end);
            }
            Mutation::Duplicate(at, n) => {
                let start = (at % len).min(chars.len());
                let end = (start + n).min(chars.len());
                let copy: Vec<char> = chars[start..end].to_vec();
                chars.splice(start..start, copy);
            }
        }
    }
    chars.into_iter().collect()
}

/// Random scripts: raw bytes, glued pieces, and mutated valid scripts.
fn script_text() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..48)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        proptest::collection::vec(proptest::sample::select(PIECES), 0..24).prop_map(|pieces| {
            let mut text = String::new();
            for piece in pieces {
                text.push_str(piece);
                text.push(' ');
            }
            text
        }),
        (
            proptest::sample::select(CORPUS),
            proptest::collection::vec(mutation(), 1..5)
        )
            .prop_map(|(text, mutations)| apply(text, &mutations)),
    ]
}

/// Printing `script` and parsing the text gives the same tree, and the same text again.
fn assert_round_trip(script: &Script, source: &str) {
    let printed = script.to_string();
    let reparsed = parse("printed", &printed, &AnyName).unwrap_or_else(|e| {
        panic!(
            "printed text of {source:?} does not parse:\n{printed}\n{}",
            e.render(&printed)
        )
    });
    assert_eq!(
        &reparsed, script,
        "source {source:?} printed as {printed:?}"
    );
    assert_eq!(reparsed.to_string(), printed);
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::with_cases(100_000)
    })]

    /// No input panics; errors render; whatever parses round-trips through the printer.
    #[test]
    fn never_panics_and_round_trips(text in script_text()) {
        match parse("rc", &text, &AnyName) {
            Ok(script) => assert_round_trip(&script, &text),
            Err(error) => {
                prop_assert!(error.line >= 1 && error.column >= 1 && error.len >= 1);
                let rendered = error.render(&text);
                prop_assert!(rendered.starts_with(&error.to_string()));
                prop_assert_eq!(rendered.lines().count(), 3);
            }
        }
        // The same text with name checks on must not panic either.
        let _ = parse("rc", &text, &["fw", "echo"]);
    }
}

#[test]
fn the_corpus_parses_and_round_trips() {
    for text in CORPUS {
        let script = parse("rc", text, &AnyName).unwrap_or_else(|e| panic!("{}", e.render(text)));
        assert_round_trip(&script, text);
    }
}
