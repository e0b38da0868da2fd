//! `fw`: the firewall configurator, and the firewall engine it drives.
//!
//! The engine is a pure library: [`rule`] (rules, packets, matching, canonical text),
//! [`parse`] (the rule language and ruleset files), [`table`] (the numbered rule table,
//! counters, policy, evaluation) and [`error`] (the one error type). The rule language
//! and evaluation follow OpenBSD's pf.conf(5): last match wins, `quick` wins at once.
//!
//! The table itself is shared kernel state, [`TABLE`], not per-run state: it outlives
//! every `fw` run. Every command locks it only for the moment it reads or changes it
//! (never across output or any other blocking call), and does all parsing first, so
//! a bad rule or ruleset never leaves the table half changed.

pub mod error;
pub mod parse;
pub mod rule;
pub mod table;
pub mod wire;

#[cfg(test)]
mod model_tests;

use alloc::format;
use alloc::string::{String, ToString};
use core::fmt::Write as _;

use kiln_init::program::{Context, Program, Status};
use kiln_init::sync::Mutex;

pub use error::{Error, LineError, Result};
pub use parse::{RuleSet, parse_rule};
pub use rule::{Action, Direction, Endpoint, Network, Packet, PortRange, Protocol, Rule};
pub use table::{Counters, Decider, Entry, Firewall, Verdict};

use crate::cli::{self, STATUS_FAILURE, STATUS_OK};
use crate::outln;
use kiln_init::program::find_file;

/// The firewall's rule table. Hold the lock briefly, never across a blocking call.
pub static TABLE: Mutex<Firewall> = Mutex::new(Firewall::new());

/// The length a `fw test` packet is counted with (a minimum Ethernet frame), so that
/// its rule's `bytes` counter moves by 64 and its `packets` counter by 1.
pub const TEST_PACKET_BYTES: u32 = 64;

pub const PROGRAM: Program = Program {
    name: "fw",
    about: "configure the firewall: rules, policy, rulesets, test packets",
    usage: "\
usage: fw add|insert|del|flush|policy|list|load|check|test ...
  fw add RULE...          append a rule
  fw insert N RULE...     insert a rule so that it becomes rule N (1-based)
  fw del N                delete rule N
  fw flush                delete every rule (the policy stays)
  fw policy [pass|block]  show or set what happens to packets no rule matches
  fw list                 the numbered rules with their counters, then the policy
  fw load NAME            replace the rules with a baked ruleset (all or nothing)
  fw check NAME           only validate a baked ruleset
  fw test in|out PROTO SRC[:PORT] DST[:PORT]
                          decide a packet and count it (64 bytes) against its rule;
                          status 0 if it passes, 1 if it is blocked
rule: pass|block in|out [quick] [proto tcp|udp|icmp]
        [from ADDR[/LEN] [port P[:Q]]] [to ADDR[/LEN] [port P[:Q]]] [label NAME]
      'any' is every address; the last matching rule wins, a matching quick rule
      wins at once, and no match means the policy (initially pass)
ruleset file: one rule per line, '#' comments, blank lines",
    main,
};

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, body)
}

fn body(ctx: &mut Context<'_>) -> cli::Result<Status> {
    execute(ctx, &TABLE)
}

/// Runs one `fw` command against `table`.
fn execute(ctx: &Context<'_>, table: &Mutex<Firewall>) -> cli::Result<Status> {
    let Some((command, rest)) = ctx.args().split_first() else {
        return Err(cli::Error::missing("missing command"));
    };
    match command.as_str() {
        "add" => {
            let rule = rule_from_args(rest)?;
            table.lock().add(rule);
        }
        "insert" => {
            let (number, rule_args) = rest
                .split_first()
                .ok_or_else(|| cli::Error::missing("missing rule number"))?;
            let number = rule_number(number)?;
            let rule = rule_from_args(rule_args)?;
            table
                .lock()
                .insert(number, rule)
                .map_err(cli::Error::failed)?;
        }
        "del" => {
            let number = rule_number(single_arg(rest, "missing rule number")?)?;
            table.lock().delete(number).map_err(cli::Error::failed)?;
        }
        "flush" => {
            cli::no_more_args(rest)?;
            table.lock().flush();
        }
        "policy" => policy(ctx, table, rest)?,
        "list" => {
            cli::no_more_args(rest)?;
            let listing = list(&table.lock());
            cli::write_str(&mut ctx.out(), &listing)?;
        }
        "load" => load(ctx, table, rest, Mode::Load)?,
        "check" => load(ctx, table, rest, Mode::Check)?,
        "test" => return test(ctx, table, rest),
        _ => return Err(cli::Error::usage("unknown command", command)),
    }
    Ok(STATUS_OK)
}

/// The only argument left, or a usage error.
fn single_arg<'a>(rest: &'a [String], missing: &str) -> cli::Result<&'a str> {
    let (first, more) = rest
        .split_first()
        .ok_or_else(|| cli::Error::missing(missing))?;
    cli::no_more_args(more)?;
    Ok(first)
}

fn rule_number(text: &str) -> cli::Result<usize> {
    if !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(cli::Error::usage("bad rule number", text));
    }
    text.parse()
        .map_err(|_| cli::Error::usage("bad rule number", text))
}

/// Parses a rule given as arguments (joined by spaces).
fn rule_from_args(args: &[String]) -> cli::Result<Rule> {
    if args.is_empty() {
        return Err(cli::Error::missing("missing rule"));
    }
    let text = args.join(" ");
    parse_rule(&text).map_err(|error| {
        let column = error.column().unwrap_or(1);
        cli::Error::Failed(format!(
            "rule '{text}', column {column}: {error}\n{}",
            pointer(&text, column)
        ))
    })
}

/// The offending line, indented, and a caret under `column`.
fn pointer(line: &str, column: usize) -> String {
    const INDENT: &str = "  ";
    let shown: String = line
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    format!(
        "{INDENT}{shown}\n{INDENT}{}^",
        " ".repeat(column.saturating_sub(1))
    )
}

/// `fw policy` shows the policy; `fw policy pass|block` sets it.
fn policy(ctx: &Context<'_>, table: &Mutex<Firewall>, rest: &[String]) -> cli::Result<()> {
    match rest {
        [] => {
            let policy = table.lock().policy();
            outln!(ctx, "policy: {policy}")
        }
        [choice, more @ ..] => {
            cli::no_more_args(more)?;
            let policy = parse_action(choice)
                .ok_or_else(|| cli::Error::usage("policy must be pass or block", choice))?;
            table.lock().set_policy(policy);
            Ok(())
        }
    }
}

fn parse_action(text: &str) -> Option<Action> {
    [Action::Pass, Action::Block]
        .into_iter()
        .find(|action| action.keyword() == text)
}

/// `N: RULE packets=N bytes=N` per rule, then `policy: ACTION`.
fn list(firewall: &Firewall) -> String {
    let mut text = String::new();
    for (number, entry) in (1..).zip(firewall.entries()) {
        // Writing to a String cannot fail.
        let _ = writeln!(
            text,
            "{number}: {} packets={} bytes={}",
            entry.rule, entry.counters.packets, entry.counters.bytes
        );
    }
    let _ = writeln!(text, "policy: {}", firewall.policy());
    text
}

/// What `load` does once the ruleset has parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Replace the table's rules.
    Load,
    /// Only report that the ruleset is valid.
    Check,
}

/// `fw load NAME` / `fw check NAME`: parse the whole file first, so an error
/// leaves the table untouched.
fn load(
    ctx: &Context<'_>,
    table: &Mutex<Firewall>,
    rest: &[String],
    mode: Mode,
) -> cli::Result<()> {
    let name = single_arg(rest, "missing ruleset name")?;
    let file = find_file(ctx.files, name)
        .ok_or_else(|| cli::Error::failed(format_args!("no such file ('{name}')")))?;
    let text = core::str::from_utf8(file.contents)
        .map_err(|_| cli::Error::failed(format_args!("{name}: not UTF-8 text")))?;
    let set = RuleSet::parse(text).map_err(|error| {
        let line = text.lines().nth(error.line - 1).unwrap_or_default();
        let column = error.error.column().unwrap_or(1);
        cli::Error::Failed(format!("{name}:{error}\n{}", pointer(line, column)))
    })?;
    let count = set.rules.len();
    let rules = if count == 1 { "rule" } else { "rules" };
    match mode {
        Mode::Check => outln!(ctx, "{name}: ok, {count} {rules}"),
        Mode::Load => {
            table.lock().replace(set);
            outln!(ctx, "fw: loaded {count} {rules} from {name}")
        }
    }
}

/// `fw test in|out PROTO SRC[:PORT] DST[:PORT]`: decides and counts a packet of
/// [`TEST_PACKET_BYTES`], prints the verdict and what decided it.
fn test(ctx: &Context<'_>, table: &Mutex<Firewall>, rest: &[String]) -> cli::Result<Status> {
    let [direction, protocol, source, destination, more @ ..] = rest else {
        return Err(cli::Error::missing(
            "test needs in|out PROTO SRC[:PORT] DST[:PORT]",
        ));
    };
    cli::no_more_args(more)?;
    let direction = match direction.as_str() {
        "in" => Direction::In,
        "out" => Direction::Out,
        _ => return Err(cli::Error::usage("direction must be in or out", direction)),
    };
    let protocol = parse::parse_protocol(protocol, 1)
        .map_err(|_| cli::Error::usage("protocol must be tcp, udp or icmp", protocol))?;
    let (source, source_port) = socket(source, protocol)?;
    let (destination, destination_port) = socket(destination, protocol)?;
    let packet = Packet {
        direction,
        protocol,
        source,
        source_port,
        destination,
        destination_port,
        length: TEST_PACKET_BYTES,
    };
    let (verdict, rule_text) = {
        let mut firewall = table.lock();
        let verdict = firewall.filter(&packet);
        let rule_text = match verdict.decider {
            Decider::Rule(number) => firewall.entry(number).map(|entry| entry.rule.to_string()),
            Decider::Policy => None,
        };
        (verdict, rule_text)
    };
    match (verdict.decider, rule_text) {
        (Decider::Rule(number), Some(rule)) => {
            outln!(ctx, "{} (rule {number}: {rule})", verdict.action)?
        }
        _ => outln!(ctx, "{} (policy)", verdict.action)?,
    }
    Ok(match verdict.action {
        Action::Pass => STATUS_OK,
        Action::Block => STATUS_FAILURE,
    })
}

/// Parses `ADDR` or `ADDR:PORT` for `fw test`.
fn socket(text: &str, protocol: Protocol) -> cli::Result<(core::net::Ipv4Addr, Option<u16>)> {
    let (address_text, port_text) = match text.split_once(':') {
        Some((address, port)) => (address, Some(port)),
        None => (text, None),
    };
    let address = parse::parse_address(address_text, 1)
        .map_err(|_| cli::Error::usage("bad address", text))?;
    let port = match port_text {
        None => None,
        Some(_) if !protocol.has_ports() => {
            return Err(cli::Error::usage(format!("{protocol} has no ports"), text));
        }
        Some(port) => {
            Some(parse::parse_port(port, 1).map_err(|_| cli::Error::usage("bad port", text))?)
        }
    };
    Ok((address, port))
}

#[cfg(test)]
mod tests;
