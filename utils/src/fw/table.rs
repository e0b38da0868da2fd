//! The rule table: numbered rules with counters, a default policy, and evaluation.
//!
//! Evaluation is pf's: the rules are read in order and the last matching rule wins,
//! except that a matching `quick` rule wins at once. A packet no rule matches gets the
//! default policy (initially `pass`). Only the rule that decided counts the packet.
//! Rule numbers are 1-based, as `fw list` shows them.

use alloc::vec::Vec;

use super::error::{Error, Result};
use super::parse::RuleSet;
use super::rule::{Action, Packet, Rule};

/// Packets and bytes a rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
}

impl Counters {
    fn count(&mut self, packet: &Packet) {
        self.packets = self.packets.saturating_add(1);
        self.bytes = self.bytes.saturating_add(u64::from(packet.length));
    }
}

/// A rule in the table and its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub rule: Rule,
    pub counters: Counters,
}

/// What decided a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decider {
    /// The rule with this 1-based number.
    Rule(usize),
    /// No rule matched: the default policy.
    Policy,
}

/// The firewall's answer for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub action: Action,
    pub decider: Decider,
}

/// The rule table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Firewall {
    entries: Vec<Entry>,
    policy: Action,
}

impl Default for Firewall {
    fn default() -> Self {
        Self::new()
    }
}

impl Firewall {
    /// The policy of a new table.
    pub const INITIAL_POLICY: Action = Action::Pass;

    /// An empty table with the initial policy (`const`, for a `static`).
    pub const fn new() -> Self {
        Firewall {
            entries: Vec::new(),
            policy: Self::INITIAL_POLICY,
        }
    }

    /// The rules and their counters, rule 1 first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The rule with 1-based `number`.
    pub fn entry(&self, number: usize) -> Option<&Entry> {
        number
            .checked_sub(1)
            .and_then(|index| self.entries.get(index))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn policy(&self) -> Action {
        self.policy
    }

    pub fn set_policy(&mut self, policy: Action) {
        self.policy = policy;
    }

    /// Appends `rule` with zero counters.
    ///
    /// The table keeps a copy: made under the table's lock, the copy is kernel memory,
    /// while `rule` itself is the calling program's and goes back when it ends (see
    /// docs/ARCHITECTURE.md, "Memory ownership"). Every method that stores rules does so.
    pub fn add(&mut self, rule: Rule) {
        self.entries.push(Entry {
            rule: rule.clone(),
            counters: Counters::default(),
        });
    }

    /// Inserts `rule` so that it becomes rule `number` (1 to len + 1).
    pub fn insert(&mut self, number: usize, rule: Rule) -> Result<()> {
        let count = self.len();
        if !(1..=count + 1).contains(&number) {
            return Err(Error::NoSuchPosition { number, count });
        }
        self.entries.insert(
            number - 1,
            Entry {
                rule: rule.clone(),
                counters: Counters::default(),
            },
        );
        Ok(())
    }

    /// Removes rule `number` (1 to len) and returns it.
    pub fn delete(&mut self, number: usize) -> Result<Rule> {
        let count = self.len();
        if !(1..=count).contains(&number) {
            return Err(Error::NoSuchRule { number, count });
        }
        Ok(self.entries.remove(number - 1).rule)
    }

    /// Removes every rule (the policy stays).
    pub fn flush(&mut self) {
        self.entries.clear();
    }

    /// Replaces every rule with `set` (counters start at zero; the policy stays).
    pub fn replace(&mut self, set: RuleSet) {
        self.entries = set
            .rules
            .iter()
            .map(|rule| Entry {
                rule: rule.clone(),
                counters: Counters::default(),
            })
            .collect();
    }

    /// Decides `packet` without counting it.
    pub fn evaluate(&self, packet: &Packet) -> Verdict {
        let mut decider = None;
        for (index, entry) in self.entries.iter().enumerate() {
            if entry.rule.matches(packet) {
                decider = Some(index);
                if entry.rule.quick {
                    break;
                }
            }
        }
        match decider {
            Some(index) => Verdict {
                action: self.entries[index].rule.action,
                decider: Decider::Rule(index + 1),
            },
            None => Verdict {
                action: self.policy,
                decider: Decider::Policy,
            },
        }
    }

    /// Decides `packet` and counts it against the rule that decided.
    pub fn filter(&mut self, packet: &Packet) -> Verdict {
        let verdict = self.evaluate(packet);
        if let Decider::Rule(number) = verdict.decider {
            self.entries[number - 1].counters.count(packet);
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fw::parse::parse_rule;
    use crate::fw::rule::{Direction, Protocol};

    fn table(rules: &[&str]) -> Firewall {
        let mut firewall = Firewall::new();
        for rule in rules {
            firewall.add(parse_rule(rule).unwrap());
        }
        firewall
    }

    fn tcp_in(destination_port: u16) -> Packet {
        Packet {
            direction: Direction::In,
            protocol: Protocol::Tcp,
            source: "10.0.0.9".parse().unwrap(),
            source_port: Some(40000),
            destination: "10.0.0.1".parse().unwrap(),
            destination_port: Some(destination_port),
            length: 100,
        }
    }

    #[test]
    fn the_last_matching_rule_wins() {
        let mut firewall = table(&["block in", "pass in proto tcp to any port 22", "pass out"]);
        let verdict = firewall.filter(&tcp_in(22));
        assert_eq!(verdict.action, Action::Pass);
        assert_eq!(verdict.decider, Decider::Rule(2));
        let verdict = firewall.filter(&tcp_in(80));
        assert_eq!(verdict.action, Action::Block);
        assert_eq!(verdict.decider, Decider::Rule(1));
    }

    #[test]
    fn a_matching_quick_rule_wins_at_once() {
        let firewall = table(&[
            "pass in",
            "block in quick proto tcp to any port 7",
            "pass in proto tcp",
            "block in quick",
        ]);
        assert_eq!(
            firewall.evaluate(&tcp_in(7)),
            Verdict {
                action: Action::Block,
                decider: Decider::Rule(2)
            }
        );
        assert_eq!(firewall.evaluate(&tcp_in(8)).decider, Decider::Rule(4));
    }

    #[test]
    fn no_match_gets_the_policy() {
        let mut firewall = table(&["pass out"]);
        assert_eq!(firewall.policy(), Action::Pass);
        assert_eq!(
            firewall.evaluate(&tcp_in(1)),
            Verdict {
                action: Action::Pass,
                decider: Decider::Policy
            }
        );
        firewall.set_policy(Action::Block);
        assert_eq!(firewall.evaluate(&tcp_in(1)).action, Action::Block);
        firewall.flush();
        assert_eq!(firewall.policy(), Action::Block);
    }

    #[test]
    fn only_the_deciding_rule_counts() {
        let mut firewall = table(&["pass in", "block in proto tcp", "pass out"]);
        firewall.filter(&tcp_in(1));
        firewall.filter(&tcp_in(2));
        let counters: Vec<Counters> = firewall.entries().iter().map(|e| e.counters).collect();
        assert_eq!(
            counters,
            [
                Counters::default(),
                Counters {
                    packets: 2,
                    bytes: 200
                },
                Counters::default()
            ]
        );
        // evaluate() does not count.
        firewall.evaluate(&tcp_in(1));
        assert_eq!(firewall.entry(2).unwrap().counters.packets, 2);
    }

    #[test]
    fn insert_and_delete_check_their_bounds() {
        let mut firewall = table(&["pass in", "pass out"]);
        let rule = parse_rule("block in").unwrap();
        assert_eq!(
            firewall.insert(0, rule.clone()),
            Err(Error::NoSuchPosition {
                number: 0,
                count: 2
            })
        );
        assert_eq!(
            firewall.insert(4, rule.clone()),
            Err(Error::NoSuchPosition {
                number: 4,
                count: 2
            })
        );
        firewall.insert(3, rule.clone()).unwrap();
        firewall.insert(1, rule.clone()).unwrap();
        assert_eq!(firewall.len(), 4);
        assert_eq!(firewall.entry(1).unwrap().rule, rule);
        assert_eq!(firewall.entry(4).unwrap().rule, rule);
        assert_eq!(
            firewall.delete(5),
            Err(Error::NoSuchRule {
                number: 5,
                count: 4
            })
        );
        assert_eq!(
            firewall.delete(0),
            Err(Error::NoSuchRule {
                number: 0,
                count: 4
            })
        );
        assert_eq!(firewall.delete(2).unwrap(), parse_rule("pass in").unwrap());
        assert_eq!(firewall.len(), 3);
        assert!(firewall.entry(0).is_none() && firewall.entry(4).is_none());
    }

    #[test]
    fn replace_resets_rules_and_counters_but_keeps_the_policy() {
        let mut firewall = table(&["pass in"]);
        firewall.set_policy(Action::Block);
        firewall.filter(&tcp_in(1));
        let set = RuleSet::parse("pass in\nblock out\n").unwrap();
        firewall.replace(set);
        assert_eq!(firewall.len(), 2);
        assert_eq!(firewall.entry(1).unwrap().counters, Counters::default());
        assert_eq!(firewall.policy(), Action::Block);
    }
}
