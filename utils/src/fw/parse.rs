//! The rule parser: text to [`Rule`], and ruleset files to [`RuleSet`].
//!
//! A rule is split into words at whitespace (each word keeps its 1-based column),
//! then read by a small state machine ([`State`]): the action, the direction, then
//! clauses in a fixed order (pf.conf(5)'s `quick`, `proto`, `from`, `to`, `label`),
//! each followed by its value. Errors name the column of the word at fault.
//!
//! A ruleset file has one rule per line; `#` starts a comment that runs to the end of
//! the line, and blank lines are skipped. [`RuleSet::parse`] stops at the first error
//! and reports its line and column.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::Ipv4Addr;
use core::str::FromStr;

use super::error::{Error, LineError, Result};
use super::rule::{Action, Direction, Endpoint, MAX_LABEL_LEN, Network, PortRange, Protocol, Rule};

/// The word that stands for every address.
pub const ANY: &str = "any";
/// Starts a comment in a ruleset.
pub const COMMENT: char = '#';
/// Separates the address from the prefix length.
const PREFIX_SEPARATOR: char = '/';
/// Separates the first and last port of a range.
const RANGE_SEPARATOR: char = ':';
/// The keyword that introduces ports after an address.
const PORT: &str = "port";

/// A word of a rule and the 1-based column it starts at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Word<'a> {
    text: &'a str,
    column: usize,
}

/// Splits `line` into words at whitespace, remembering where each starts.
fn words(line: &str) -> Vec<Word<'_>> {
    let mut words = Vec::new();
    // The byte offset and column of the word being read, if inside one.
    let mut current: Option<(usize, usize)> = None;
    for (column, (offset, character)) in (1..).zip(line.char_indices()) {
        match (current, character.is_whitespace()) {
            (None, false) => current = Some((offset, column)),
            (Some((start, start_column)), true) => {
                words.push(Word {
                    text: &line[start..offset],
                    column: start_column,
                });
                current = None;
            }
            _ => {}
        }
    }
    if let Some((start, column)) = current {
        words.push(Word {
            text: &line[start..],
            column,
        });
    }
    words
}

/// The clauses after the direction, in the order they must appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Clause {
    Quick,
    Proto,
    From,
    To,
    Label,
}

impl Clause {
    const ALL: [Clause; 5] = [
        Clause::Quick,
        Clause::Proto,
        Clause::From,
        Clause::To,
        Clause::Label,
    ];

    fn keyword(self) -> &'static str {
        match self {
            Clause::Quick => "quick",
            Clause::Proto => "proto",
            Clause::From => "from",
            Clause::To => "to",
            Clause::Label => "label",
        }
    }

    fn from_keyword(word: &str) -> Option<Clause> {
        Clause::ALL
            .into_iter()
            .find(|clause| clause.keyword() == word)
    }
}

/// The two sides of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    From,
    To,
}

impl Side {
    fn clause(self) -> Clause {
        match self {
            Side::From => Clause::From,
            Side::To => Clause::To,
        }
    }
}

/// Where the parser is in a rule: each state says what the next word must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The action: `pass` or `block`.
    Action,
    /// The direction: `in` or `out`.
    Direction,
    /// A clause keyword after `last` (or `port` right after the address of
    /// `port_side`), or the end of the rule.
    Clauses {
        last: Option<Clause>,
        port_side: Option<Side>,
    },
    /// A protocol name, after `proto`.
    Protocol,
    /// An address or `any`, after `from` or `to`.
    Address(Side),
    /// A port or `P:Q` range, after `port`.
    Ports(Side),
    /// A name, after `label`.
    Label,
}

impl State {
    /// What the rule still needs if it ends in this state (`None`: it may end here).
    fn missing(self) -> Option<&'static str> {
        match self {
            State::Action => Some("action ('pass' or 'block')"),
            State::Direction => Some("direction ('in' or 'out')"),
            State::Clauses { .. } => None,
            State::Protocol => Some("protocol after 'proto'"),
            State::Address(Side::From) => Some("address after 'from'"),
            State::Address(Side::To) => Some("address after 'to'"),
            State::Ports(_) => Some("port after 'port'"),
            State::Label => Some("name after 'label'"),
        }
    }
}

/// The rule being read.
struct Draft {
    rule: Rule,
    /// Clauses seen so far, to report repeats.
    seen: Vec<Clause>,
}

impl Draft {
    fn endpoint(&mut self, side: Side) -> &mut Endpoint {
        match side {
            Side::From => &mut self.rule.from,
            Side::To => &mut self.rule.to,
        }
    }
}

/// Parses one rule (no comments) from `text`.
pub fn parse_rule(text: &str) -> Result<Rule> {
    let words = words(text);
    if words.is_empty() {
        return Err(Error::EmptyRule);
    }
    let mut draft = Draft {
        rule: Rule::new(Action::Pass, Direction::In),
        seen: Vec::new(),
    };
    let mut state = State::Action;
    for word in &words {
        state = step(state, *word, &mut draft)?;
    }
    match state.missing() {
        None => Ok(draft.rule),
        Some(expected) => Err(Error::Missing {
            column: text.chars().count() + 1,
            expected,
        }),
    }
}

/// Reads one word in `state` and returns the next state.
fn step(state: State, word: Word<'_>, draft: &mut Draft) -> Result<State> {
    let after_clause = |clause: Clause| State::Clauses {
        last: Some(clause),
        port_side: None,
    };
    Ok(match state {
        State::Action => {
            draft.rule.action = match word.text {
                "pass" => Action::Pass,
                "block" => Action::Block,
                _ => return Err(unexpected(word, "'pass' or 'block'")),
            };
            State::Direction
        }
        State::Direction => {
            draft.rule.direction = match word.text {
                "in" => Direction::In,
                "out" => Direction::Out,
                _ => return Err(unexpected(word, "'in' or 'out'")),
            };
            State::Clauses {
                last: None,
                port_side: None,
            }
        }
        State::Clauses { last, port_side } => {
            if word.text == PORT
                && let Some(side) = port_side
            {
                if draft.rule.protocol.is_some_and(|p| !p.has_ports()) {
                    return Err(Error::PortsNeedTcpOrUdp {
                        column: word.column,
                    });
                }
                return Ok(State::Ports(side));
            }
            let Some(clause) = Clause::from_keyword(word.text) else {
                return Err(unexpected(word, &expected_clauses(last, port_side)));
            };
            if draft.seen.contains(&clause) {
                return Err(Error::Repeated {
                    column: word.column,
                    keyword: clause.keyword(),
                });
            }
            if let Some(last) = last
                && clause < last
            {
                return Err(Error::OutOfOrder {
                    column: word.column,
                    keyword: clause.keyword(),
                    after: last.keyword(),
                });
            }
            draft.seen.push(clause);
            match clause {
                Clause::Quick => {
                    draft.rule.quick = true;
                    after_clause(Clause::Quick)
                }
                Clause::Proto => State::Protocol,
                Clause::From => State::Address(Side::From),
                Clause::To => State::Address(Side::To),
                Clause::Label => State::Label,
            }
        }
        State::Protocol => {
            draft.rule.protocol = Some(parse_protocol(word.text, word.column)?);
            after_clause(Clause::Proto)
        }
        State::Address(side) => {
            draft.endpoint(side).network = parse_network(word.text, word.column)?;
            State::Clauses {
                last: Some(side.clause()),
                port_side: Some(side),
            }
        }
        State::Ports(side) => {
            draft.endpoint(side).ports = Some(parse_ports(word.text, word.column)?);
            after_clause(side.clause())
        }
        State::Label => {
            draft.rule.label = Some(parse_label(word.text, word.column)?);
            after_clause(Clause::Label)
        }
    })
}

fn unexpected(word: Word<'_>, expected: &str) -> Error {
    Error::Unexpected {
        column: word.column,
        found: word.text.to_string(),
        expected: expected.to_string(),
    }
}

/// Lists what may follow in a `Clauses` state: `'port', 'to', 'label' or end of rule`.
fn expected_clauses(last: Option<Clause>, port_side: Option<Side>) -> String {
    let mut options: Vec<&str> = Vec::new();
    if port_side.is_some() {
        options.push(PORT);
    }
    options.extend(
        Clause::ALL
            .into_iter()
            .filter(|clause| last.is_none_or(|last| *clause > last))
            .map(Clause::keyword),
    );
    let mut text = String::new();
    for option in options {
        text.push('\'');
        text.push_str(option);
        text.push_str("', ");
    }
    text.truncate(text.len().saturating_sub(", ".len()));
    if text.is_empty() {
        text.push_str("end of rule");
    } else {
        text.push_str(" or end of rule");
    }
    text
}

/// Parses a decimal number made of ASCII digits only (no sign, no spaces).
fn parse_decimal<T: FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parses `tcp`, `udp` or `icmp`; `column` is where `text` starts.
pub fn parse_protocol(text: &str, column: usize) -> Result<Protocol> {
    [Protocol::Tcp, Protocol::Udp, Protocol::Icmp]
        .into_iter()
        .find(|protocol| protocol.keyword() == text)
        .ok_or_else(|| Error::UnknownProtocol {
            column,
            found: text.to_string(),
        })
}

/// Parses a dotted IPv4 address.
pub fn parse_address(text: &str, column: usize) -> Result<Ipv4Addr> {
    text.parse().map_err(|_| Error::BadAddress {
        column,
        found: text.to_string(),
    })
}

/// Parses `any` (as `None`), `ADDR` or `ADDR/LEN`.
pub fn parse_network(text: &str, column: usize) -> Result<Option<Network>> {
    if text == ANY {
        return Ok(None);
    }
    let (address_text, prefix_text) = match text.split_once(PREFIX_SEPARATOR) {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (text, None),
    };
    let address = parse_address(address_text, column).map_err(|_| Error::BadAddress {
        column,
        found: text.to_string(),
    })?;
    let prefix_len = match prefix_text {
        None => Network::HOST_PREFIX_LEN,
        Some(prefix) => parse_decimal(prefix)
            .filter(|&len| len <= Network::HOST_PREFIX_LEN)
            .ok_or_else(|| Error::BadPrefixLength {
                column: column + address_text.chars().count() + 1,
                found: prefix.to_string(),
            })?,
    };
    // The prefix length was checked above, so this always succeeds.
    Network::new(address, prefix_len)
        .map(Some)
        .ok_or(Error::BadPrefixLength {
            column,
            found: text.to_string(),
        })
}

/// Parses a port number 0 to 65535.
pub fn parse_port(text: &str, column: usize) -> Result<u16> {
    parse_decimal(text).ok_or_else(|| Error::BadPort {
        column,
        found: text.to_string(),
    })
}

/// Parses `P` or `P:Q` (with P <= Q).
pub fn parse_ports(text: &str, column: usize) -> Result<PortRange> {
    let Some((first_text, last_text)) = text.split_once(RANGE_SEPARATOR) else {
        return Ok(PortRange::single(parse_port(text, column)?));
    };
    let first = parse_port(first_text, column)?;
    let last = parse_port(last_text, column + first_text.chars().count() + 1)?;
    PortRange::new(first, last).ok_or_else(|| Error::BadPortRange {
        column,
        found: text.to_string(),
    })
}

/// Checks a label: 1 to [`MAX_LABEL_LEN`] letters, digits, `-`, `_` or `.`.
pub fn parse_label(text: &str, column: usize) -> Result<String> {
    let allowed = |byte: u8| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.');
    if text.is_empty() || text.len() > MAX_LABEL_LEN || !text.bytes().all(allowed) {
        return Err(Error::BadLabel {
            column,
            found: text.to_string(),
        });
    }
    Ok(text.to_string())
}

/// The rules of a ruleset file, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
}

impl RuleSet {
    /// Parses a ruleset: one rule per line, `#` comments, blank lines skipped.
    /// Returns the first error with its line and column.
    pub fn parse(text: &str) -> core::result::Result<RuleSet, LineError> {
        let mut rules = Vec::new();
        for (line, content) in (1..).zip(text.lines()) {
            let rule_text = strip_comment(content);
            if rule_text.trim().is_empty() {
                continue;
            }
            let rule = parse_rule(rule_text).map_err(|error| LineError { line, error })?;
            rules.push(rule);
        }
        Ok(RuleSet { rules })
    }
}

/// `line` without its `#` comment.
pub fn strip_comment(line: &str) -> &str {
    line.split_once(COMMENT).map_or(line, |(rule, _)| rule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn error(text: &str) -> String {
        let error = parse_rule(text).unwrap_err();
        format!("{}: {error}", error.column().unwrap())
    }

    fn canonical(text: &str) -> String {
        format!("{}", parse_rule(text).unwrap())
    }

    #[test]
    fn words_keep_their_columns() {
        let found: Vec<(&str, usize)> = words("  pass\tin  x")
            .iter()
            .map(|w| (w.text, w.column))
            .collect();
        assert_eq!(found, [("pass", 3), ("in", 8), ("x", 12)]);
        assert!(words("   ").is_empty());
    }

    #[test]
    fn full_rules_parse_to_canonical_text() {
        for text in [
            "pass in",
            "block out",
            "block in quick proto tcp to any port 7",
            "pass in proto tcp from 10.0.0.0/8 port 1024:65535 to 192.168.1.1 port 22 label ssh",
            "pass out proto icmp from 1.2.3.4 to 0.0.0.0/0",
            "pass in from any port 53",
            "block in label x.y_z-1",
        ] {
            assert_eq!(canonical(text), text);
        }
    }

    #[test]
    fn parsing_normalises_text() {
        assert_eq!(canonical("  pass   in from any to any  "), "pass in");
        assert_eq!(
            canonical("pass in from 10.1.2.3/8"),
            "pass in from 10.0.0.0/8"
        );
        assert_eq!(canonical("pass in to 1.2.3.4/32"), "pass in to 1.2.3.4");
        assert_eq!(
            canonical("pass in to any port 22:22"),
            "pass in to any port 22"
        );
        assert_eq!(
            canonical("pass in to any port 0080"),
            "pass in to any port 80"
        );
    }

    #[test]
    fn rule_fields_are_set() {
        let rule =
            parse_rule("block out quick proto udp from 10.0.0.1 port 5:6 label dns").unwrap();
        assert_eq!(rule.action, Action::Block);
        assert_eq!(rule.direction, Direction::Out);
        assert!(rule.quick);
        assert_eq!(rule.protocol, Some(Protocol::Udp));
        assert_eq!(rule.from.ports, PortRange::new(5, 6));
        assert_eq!(rule.to, Endpoint::ANY);
        assert_eq!(rule.label.as_deref(), Some("dns"));
    }

    #[test]
    fn every_error_names_its_column() {
        let cases = [
            ("", "1: empty rule"),
            (
                "allow in",
                "1: unexpected 'allow' (expected 'pass' or 'block')",
            ),
            ("pass up", "6: unexpected 'up' (expected 'in' or 'out')"),
            ("pass", "5: missing direction ('in' or 'out')"),
            (
                "pass in bogus",
                "9: unexpected 'bogus' (expected 'quick', 'proto', 'from', 'to', 'label' or end of rule)",
            ),
            (
                "pass in from any bogus",
                "18: unexpected 'bogus' (expected 'port', 'to', 'label' or end of rule)",
            ),
            (
                "pass in label a b",
                "17: unexpected 'b' (expected end of rule)",
            ),
            ("pass in proto", "14: missing protocol after 'proto'"),
            ("pass in from", "13: missing address after 'from'"),
            ("pass in to", "11: missing address after 'to'"),
            ("pass in to any port", "20: missing port after 'port'"),
            ("pass in label", "14: missing name after 'label'"),
            ("pass in quick quick", "15: 'quick' given twice"),
            ("pass in proto tcp proto udp", "19: 'proto' given twice"),
            (
                "pass in to any from any",
                "16: 'from' must come before 'to' (order: quick, proto, from, to, label)",
            ),
            (
                "pass in proto sctp",
                "15: unknown protocol 'sctp' (expected tcp, udp or icmp)",
            ),
            ("pass in from 10.0.0", "14: bad address '10.0.0'"),
            ("pass in from any/8", "14: bad address 'any/8'"),
            (
                "pass in from 10.0.0.1/33",
                "23: bad prefix length '33' (expected 0 to 32)",
            ),
            (
                "pass in from 10.0.0.1/+8",
                "23: bad prefix length '+8' (expected 0 to 32)",
            ),
            (
                "block in proto tcp to any port 70000",
                "32: bad port '70000'",
            ),
            ("block in to any port 1:70000", "24: bad port '70000'"),
            ("block in to any port +1", "22: bad port '+1'"),
            ("block in to any port 22:", "25: bad port ''"),
            (
                "block in to any port 30:20",
                "22: bad port range '30:20' (first port above last)",
            ),
            (
                "block in proto icmp to any port 7",
                "28: 'port' needs proto tcp or udp",
            ),
            (
                "pass in label bad!",
                "15: bad label 'bad!' (1 to 32 letters, digits, '-', '_' or '.')",
            ),
            (
                "pass in label aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "15: bad label 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' (1 to 32 letters, digits, '-', '_' or '.')",
            ),
            (
                "pass in to any port 22 port 23",
                "24: unexpected 'port' (expected 'label' or end of rule)",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(error(text), expected, "{text:?}");
        }
    }

    #[test]
    fn rulesets_skip_comments_and_blank_lines() {
        let set =
            RuleSet::parse("# header\n\npass in   # trailing comment\n   \n\tblock out quick\n")
                .unwrap();
        assert_eq!(set.rules.len(), 2);
        assert_eq!(format!("{}", set.rules[1]), "block out quick");
        assert_eq!(RuleSet::parse("").unwrap().rules.len(), 0);
    }

    #[test]
    fn rulesets_report_the_first_error_with_line_and_column() {
        let error =
            RuleSet::parse("pass in\n# ok\nblock in to any port 70000\npass up\n").unwrap_err();
        assert_eq!(error.line, 3);
        assert_eq!(format!("{error}"), "3:22: bad port '70000'");
    }

    #[test]
    fn the_baked_rulesets_parse_as_intended() {
        let good = RuleSet::parse(include_str!("../../../files/default.rules")).unwrap();
        assert!(good.rules.len() >= 3);
        let bad = RuleSet::parse(include_str!("../../../files/bad.rules")).unwrap_err();
        assert_eq!(bad.line, 3);
        assert_eq!(format!("{bad}"), "3:32: bad port '70000'");
    }
}
