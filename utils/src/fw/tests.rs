//! End-to-end tests of the `fw` program through its `main`, against the shared
//! [`TABLE`] (serialised, and reset before each test).

use alloc::vec::Vec;
use std::sync::{Mutex as StdMutex, MutexGuard};

use super::*;
use crate::testing::{BAKED_FILES, Outcome, Run};

/// Tests share the kernel-wide table: one at a time.
static SERIAL: StdMutex<()> = StdMutex::new(());

fn fresh_table() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|poison| poison.into_inner());
    *TABLE.lock() = Firewall::new();
    guard
}

fn fw(args: &[&str]) -> Outcome {
    Run::new(PROGRAM, args).files(BAKED_FILES).run()
}

fn ok(args: &[&str]) -> String {
    let outcome = fw(args);
    assert_eq!(outcome.status, 0, "fw {args:?}: {}", outcome.stderr);
    assert_eq!(outcome.stderr, "", "fw {args:?}");
    outcome.stdout
}

#[test]
fn add_and_list() {
    let _table = fresh_table();
    assert_eq!(ok(&["list"]), "policy: pass\n");
    ok(&[
        "add", "pass", "in", "proto", "tcp", "to", "any", "port", "22",
    ]);
    ok(&["add", "block in quick   proto tcp to any port 7"]);
    assert_eq!(
        ok(&["list"]),
        "1: pass in proto tcp to any port 22 packets=0 bytes=0\n\
         2: block in quick proto tcp to any port 7 packets=0 bytes=0\n\
         policy: pass\n"
    );
}

#[test]
fn a_bad_rule_names_the_rule_and_column_and_changes_nothing() {
    let _table = fresh_table();
    let outcome = fw(&[
        "add", "block", "in", "proto", "tcp", "to", "any", "port", "70000",
    ]);
    assert_eq!(outcome.status, 1);
    assert_eq!(
        outcome.stderr,
        "fw: rule 'block in proto tcp to any port 70000', column 32: bad port '70000'\n  \
         block in proto tcp to any port 70000\n                                 ^\n"
    );
    assert_eq!(ok(&["list"]), "policy: pass\n");
}

#[test]
fn insert_and_del_by_number() {
    let _table = fresh_table();
    ok(&["add", "pass in"]);
    ok(&["add", "pass out"]);
    ok(&["insert", "1", "block", "in", "quick"]);
    ok(&["insert", "4", "block out"]);
    ok(&["del", "2"]);
    assert_eq!(
        ok(&["list"]),
        "1: block in quick packets=0 bytes=0\n2: pass out packets=0 bytes=0\n\
         3: block out packets=0 bytes=0\npolicy: pass\n"
    );
    let outcome = fw(&["del", "4"]);
    assert_eq!(outcome.status, 1);
    assert_eq!(outcome.stderr, "fw: no rule 4 (the table has 3)\n");
    let outcome = fw(&["insert", "5", "pass in"]);
    assert_eq!(outcome.status, 1);
    assert_eq!(
        outcome.stderr,
        "fw: cannot insert at 5 (the table has 3; use 1 to 4)\n"
    );
    let outcome = fw(&["del", "x"]);
    assert_eq!(outcome.status, 2);
    assert!(
        outcome
            .stderr
            .starts_with("fw: bad rule number ('x')\nusage: fw ")
    );
    assert_eq!(fw(&["del", "-1"]).status, 2);
    assert_eq!(fw(&["del"]).status, 2);
    assert_eq!(fw(&["insert", "1"]).status, 2);
    assert_eq!(fw(&["add"]).status, 2);
}

#[test]
fn flush_and_policy() {
    let _table = fresh_table();
    ok(&["add", "pass in"]);
    ok(&["policy", "block"]);
    ok(&["flush"]);
    assert_eq!(ok(&["list"]), "policy: block\n");
    assert_eq!(ok(&["policy"]), "policy: block\n");
    let outcome = fw(&["policy", "allow"]);
    assert_eq!(outcome.status, 2);
    assert!(
        outcome
            .stderr
            .starts_with("fw: policy must be pass or block ('allow')\n")
    );
    assert_eq!(fw(&["flush", "now"]).status, 2);
}

#[test]
fn load_then_test_counts_against_the_deciding_rule() {
    let _table = fresh_table();
    assert_eq!(
        ok(&["load", "default.rules"]),
        "fw: loaded 7 rules from default.rules\n"
    );

    let telnet = fw(&["test", "in", "tcp", "10.0.0.9:40000", "10.0.0.2:23"]);
    assert_eq!(telnet.status, 1);
    assert_eq!(
        telnet.stdout,
        "block (rule 1: block in quick proto tcp to any port 23 label telnet)\n"
    );
    let ssh = fw(&["test", "in", "tcp", "10.0.0.9:40000", "10.0.0.2:22"]);
    assert_eq!(ssh.status, 0);
    assert_eq!(
        ssh.stdout,
        "pass (rule 3: pass in proto tcp to any port 22 label ssh)\n"
    );
    let other = fw(&["test", "in", "tcp", "10.0.0.9", "10.0.0.2:8080"]);
    assert_eq!(other.status, 1);
    assert!(other.stdout.starts_with("block (rule 2: "));
    let dns = fw(&["test", "in", "udp", "10.0.0.9:5353", "10.0.0.2:53"]);
    assert_eq!((dns.status, dns.stdout.as_str()), (0, "pass (policy)\n"));

    let listing = ok(&["list"]);
    let counted: Vec<&str> = listing
        .lines()
        .filter(|line| !line.ends_with("packets=0 bytes=0"))
        .collect();
    assert_eq!(
        counted,
        [
            "1: block in quick proto tcp to any port 23 label telnet packets=1 bytes=64",
            "2: block in proto tcp label tcp-in packets=1 bytes=64",
            "3: pass in proto tcp to any port 22 label ssh packets=1 bytes=64",
            "policy: pass",
        ]
    );
}

#[test]
fn a_bad_ruleset_is_all_or_nothing() {
    let _table = fresh_table();
    ok(&["add", "block out"]);
    let outcome = fw(&["load", "bad.rules"]);
    assert_eq!(outcome.status, 1);
    assert_eq!(
        outcome.stderr,
        "fw: bad.rules:3:32: bad port '70000'\n  \
         block in proto tcp to any port 70000\n                                 ^\n"
    );
    assert_eq!(
        ok(&["list"]),
        "1: block out packets=0 bytes=0\npolicy: pass\n"
    );
}

#[test]
fn check_only_validates() {
    let _table = fresh_table();
    assert_eq!(
        ok(&["check", "default.rules"]),
        "default.rules: ok, 7 rules\n"
    );
    assert_eq!(ok(&["list"]), "policy: pass\n");
    let outcome = fw(&["check", "bad.rules"]);
    assert_eq!(outcome.status, 1);
    assert!(
        outcome
            .stderr
            .starts_with("fw: bad.rules:3:32: bad port '70000'\n")
    );
    let outcome = fw(&["check", "missing.rules"]);
    assert_eq!(outcome.status, 1);
    assert_eq!(outcome.stderr, "fw: no such file ('missing.rules')\n");
    assert_eq!(fw(&["load"]).status, 2);
    assert_eq!(fw(&["load", "a", "b"]).status, 2);
}

#[test]
fn test_arguments_are_checked() {
    let _table = fresh_table();
    let cases: [(&[&str], &str); 6] = [
        (
            &["test", "sideways", "tcp", "1.1.1.1", "2.2.2.2"],
            "fw: direction must be in or out ('sideways')",
        ),
        (
            &["test", "in", "sctp", "1.1.1.1", "2.2.2.2"],
            "fw: protocol must be tcp, udp or icmp ('sctp')",
        ),
        (
            &["test", "in", "tcp", "1.1.1", "2.2.2.2"],
            "fw: bad address ('1.1.1')",
        ),
        (
            &["test", "in", "tcp", "1.1.1.1", "2.2.2.2:70000"],
            "fw: bad port ('2.2.2.2:70000')",
        ),
        (
            &["test", "in", "icmp", "1.1.1.1:5", "2.2.2.2"],
            "fw: icmp has no ports ('1.1.1.1:5')",
        ),
        (
            &["test", "in", "tcp", "1.1.1.1"],
            "fw: test needs in|out PROTO SRC[:PORT] DST[:PORT]",
        ),
    ];
    for (args, message) in cases {
        let outcome = fw(args);
        assert_eq!(outcome.status, 2, "{args:?}");
        assert!(
            outcome
                .stderr
                .starts_with(&format!("{message}\nusage: fw ")),
            "{args:?}: {}",
            outcome.stderr
        );
    }
    assert_eq!(
        fw(&["test", "in", "tcp", "1.1.1.1", "2.2.2.2", "x"]).status,
        2
    );
    // Nothing was counted.
    assert_eq!(ok(&["list"]), "policy: pass\n");
}

#[test]
fn icmp_and_portless_packets_skip_port_rules() {
    let _table = fresh_table();
    ok(&["add", "block in to any port 0:65535"]);
    let ping = fw(&["test", "in", "icmp", "1.1.1.1", "2.2.2.2"]);
    assert_eq!((ping.status, ping.stdout.as_str()), (0, "pass (policy)\n"));
    let tcp = fw(&["test", "in", "tcp", "1.1.1.1", "2.2.2.2:1"]);
    assert_eq!(tcp.status, 1);
}

#[test]
fn unknown_and_missing_commands_are_usage_errors() {
    let _table = fresh_table();
    let outcome = fw(&["frob"]);
    assert_eq!(outcome.status, 2);
    assert_eq!(
        outcome.stderr,
        "fw: unknown command ('frob')\nusage: fw add|insert|del|flush|policy|list|load|check|test ...\n"
    );
    let outcome = fw(&[]);
    assert_eq!(outcome.status, 2);
    assert!(outcome.stderr.starts_with("fw: missing command\n"));
}
