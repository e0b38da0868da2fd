//! The kernel command line as Linux splits it: words separated by spaces, where double
//! quotes group spaces into a word and are removed (`kiln.rc="echo a; poweroff 3"`).

use alloc::string::String;
use alloc::vec::Vec;

/// The words of `line`, quotes removed (an unclosed quote runs to the end).
pub fn words(line: &str) -> Vec<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Between,
        Word,
        Quoted,
    }
    let mut words = Vec::new();
    let mut word = String::new();
    let mut state = State::Between;
    for c in line.chars() {
        state = match (state, c) {
            (State::Quoted, '"') => State::Word,
            (State::Quoted, c) => {
                word.push(c);
                State::Quoted
            }
            (_, '"') => State::Quoted,
            (State::Word, c) if c.is_whitespace() => {
                words.push(core::mem::take(&mut word));
                State::Between
            }
            (State::Between, c) if c.is_whitespace() => State::Between,
            (_, c) => {
                word.push(c);
                State::Word
            }
        };
    }
    if state != State::Between {
        words.push(word);
    }
    words
}

/// The value of the last `KEY=VALUE` word (`key` given with its `=`).
pub fn value(line: &str, key: &str) -> Option<String> {
    words(line)
        .into_iter()
        .filter_map(|w| w.strip_prefix(key).map(String::from))
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_group_spaces_and_are_removed() {
        assert_eq!(
            words(r#"console=ttyS0 kiln.rc="echo a  b; poweroff 3" quiet"#),
            ["console=ttyS0", "kiln.rc=echo a  b; poweroff 3", "quiet"]
        );
        assert_eq!(words(r#""kiln.rc=echo x""#), ["kiln.rc=echo x"]);
        assert_eq!(words("  a   b "), ["a", "b"]);
        assert_eq!(words(r#"a "b c"#), ["a", "b c"]);
        assert!(words("").is_empty());
    }

    #[test]
    fn the_last_value_of_a_key_wins() {
        let line = r#"kiln.rc=one kiln.rc="two words" other=1"#;
        assert_eq!(value(line, "kiln.rc=").as_deref(), Some("two words"));
        assert_eq!(value(line, "nope="), None);
        assert_eq!(value("kiln.rc=", "kiln.rc=").as_deref(), Some(""));
    }
}
