//! Host tests of the rc parser: every construct, every error with its rendering, the printer
//! round trip, and a property test that no input panics.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use super::ast::*;
use super::*;

const NAMES: [&str; 12] = [
    "httpd", "fw", "memstat", "producer", "consumer", "logger", "echo", "prog1", "prog2", "prog3",
    "prog", "jobs",
];

fn try_parse(text: &str) -> Result<Script> {
    parse("rc", text, &NAMES)
}

fn ok(text: &str) -> Script {
    try_parse(text).unwrap_or_else(|e| panic!("{}", e.render(text)))
}

fn rendered_error(text: &str) -> String {
    match try_parse(text) {
        Ok(script) => panic!("{text:?} parsed as {script:?}"),
        Err(error) => error.render(text),
    }
}

fn lit(text: &str) -> WordPart {
    WordPart::Literal(text.to_string())
}

fn var(name: &str) -> WordPart {
    WordPart::Var(name.to_string())
}

fn word(parts: Vec<WordPart>) -> Word {
    Word {
        parts,
        span: Span::default(),
    }
}

fn w(text: &str) -> Word {
    word(vec![lit(text)])
}

fn assign(name: &str, value: Word) -> Assignment {
    Assignment {
        name: name.to_string(),
        value,
        span: Span::default(),
    }
}

fn simple(assignments: Vec<Assignment>, words: &[&str]) -> SimpleCommand {
    SimpleCommand {
        assignments,
        words: words.iter().map(|t| w(t)).collect(),
        span: Span::default(),
    }
}

fn cmd(words: &[&str]) -> Command {
    Command::Simple(simple(vec![], words))
}

fn single(command: Command) -> AndOr {
    AndOr {
        first: Pipeline {
            commands: vec![command],
        },
        rest: vec![],
    }
}

fn item(command: Command, background: bool) -> Item {
    Item {
        and_or: single(command),
        background,
    }
}

/// The only command of a one-command script.
fn only_command(text: &str) -> Command {
    let script = ok(text);
    assert_eq!(script.items.len(), 1, "{text:?}");
    let and_or = &script.items[0].and_or;
    assert!(and_or.rest.is_empty());
    assert_eq!(and_or.first.commands.len(), 1);
    and_or.first.commands[0].clone()
}

/// The words of the only simple command of `text`.
fn words_of(text: &str) -> Vec<Word> {
    match only_command(text) {
        Command::Simple(simple) => simple.words,
        other => panic!("not a simple command: {other:?}"),
    }
}

#[test]
fn simple_commands_and_separators() {
    let script = ok("fw load default\nmemstat --every 1s &\nprog1; prog2 & prog3\n");
    assert_eq!(
        script.items,
        vec![
            item(cmd(&["fw", "load", "default"]), false),
            item(cmd(&["memstat", "--every", "1s"]), true),
            item(cmd(&["prog1"]), false),
            item(cmd(&["prog2"]), true),
            item(cmd(&["prog3"]), false),
        ]
    );
    assert_eq!(ok("").items, vec![]);
    assert_eq!(ok("\n\n  # only a comment\n\t\n").items, vec![]);
}

#[test]
fn comments_start_only_at_word_start() {
    assert_eq!(words_of("echo a#b # c d"), vec![w("echo"), w("a#b")]);
}

#[test]
fn pipelines_and_and_or_lists() {
    let script = ok("producer | consumer\nfw check &&\n  httpd ||\n  poweroff 3\n");
    assert_eq!(
        script.items[0].and_or.first.commands,
        vec![cmd(&["producer"]), cmd(&["consumer"])]
    );
    let and_or = &script.items[1].and_or;
    assert_eq!(and_or.first.commands, vec![cmd(&["fw", "check"])]);
    assert_eq!(and_or.rest.len(), 2);
    assert_eq!(and_or.rest[0].0, Connector::And);
    assert_eq!(and_or.rest[0].1.commands, vec![cmd(&["httpd"])]);
    assert_eq!(and_or.rest[1].0, Connector::Or);
    assert_eq!(
        and_or.rest[1].1.commands,
        vec![Command::Builtin(Builtin::Poweroff(Some(w("3"))))]
    );
    let piped = ok("producer |\n\n consumer");
    assert_eq!(piped.items[0].and_or.first.commands.len(), 2);
}

#[test]
fn groups() {
    let command = only_command("{ prog2 & prog3 & wait; }");
    assert_eq!(
        command,
        Command::Group {
            body: vec![
                item(cmd(&["prog2"]), true),
                item(cmd(&["prog3"]), true),
                item(Command::Builtin(Builtin::Wait(vec![])), false),
            ],
            span: Span::default(),
        }
    );
    let multiline = only_command("{\n  prog1\n  prog2\n}");
    assert!(matches!(multiline, Command::Group { ref body, .. } if body.len() == 2));
    // `}` after a word (no separator) is an argument, as in sh.
    assert_eq!(words_of("echo }"), vec![w("echo"), w("}")]);
}

#[test]
fn if_elif_else() {
    let command =
        only_command("if fw check; then echo ok; elif prog; then echo maybe; else echo bad; fi");
    assert_eq!(
        command,
        Command::If(IfCommand {
            branches: vec![
                (
                    vec![item(cmd(&["fw", "check"]), false)],
                    vec![item(cmd(&["echo", "ok"]), false)]
                ),
                (
                    vec![item(cmd(&["prog"]), false)],
                    vec![item(cmd(&["echo", "maybe"]), false)]
                ),
            ],
            otherwise: Some(vec![item(cmd(&["echo", "bad"]), false)]),
            span: Span::default(),
        })
    );
    let multiline = only_command("if fw check\nthen\n  echo ok\nfi");
    assert!(matches!(multiline, Command::If(ref i) if i.otherwise.is_none()));
    // Keywords are plain words in argument position.
    assert_eq!(
        words_of("echo if then fi"),
        vec![w("echo"), w("if"), w("then"), w("fi")]
    );
    // A compound command may be followed directly by a closing keyword.
    ok("if fw; then { echo; } fi");
}

#[test]
fn assignments_are_per_job_env() {
    let command = only_command("LEVEL=debug EMPTY= httpd --port 80");
    assert_eq!(
        command,
        Command::Simple(simple(
            vec![assign("LEVEL", w("debug")), assign("EMPTY", word(vec![]))],
            &["httpd", "--port", "80"]
        ))
    );
    // Only before the command name; later `A=b` is an argument.
    assert_eq!(words_of("echo A=b"), vec![w("echo"), w("A=b")]);
    // A quoted name is not an assignment.
    assert!(try_parse("'A=b' echo").is_err());
    let bare = only_command("A=1 B=$A");
    assert_eq!(
        bare,
        Command::Simple(SimpleCommand {
            assignments: vec![assign("A", w("1")), assign("B", word(vec![var("A")]))],
            words: vec![],
            span: Span::default(),
        })
    );
}

#[test]
fn quoting_and_expansion() {
    assert_eq!(
        words_of(r#"echo 'a b' "c $X ${Y}z $? \"\\\$" d\ e \$f '' """#),
        vec![
            w("echo"),
            w("a b"),
            word(vec![
                lit("c "),
                var("X"),
                lit(" "),
                var("Y"),
                lit("z "),
                WordPart::LastStatus,
                lit(" \"\\$"),
            ]),
            w("d e"),
            w("$f"),
            word(vec![]),
            word(vec![]),
        ]
    );
    // Other backslashes stay inside double quotes; `$` without a name is literal.
    assert_eq!(
        words_of(r#"echo "\n" $ a$"#),
        vec![w("echo"), w("\\n"), w("$"), w("a$")]
    );
    // Adjacent pieces make one word.
    assert_eq!(
        words_of("echo pre'q'\"$V\"post"),
        vec![w("echo"), word(vec![lit("preq"), var("V"), lit("post")])]
    );
    assert_eq!(words_of("echo \\é\\ü"), vec![w("echo"), w("éü")]);
    assert_eq!(
        words_of("echo $A$B"),
        vec![w("echo"), word(vec![var("A"), var("B")])]
    );
}

#[test]
fn line_continuation() {
    assert_eq!(words_of("echo a \\\n  b"), vec![w("echo"), w("a"), w("b")]);
    assert_eq!(words_of("echo ab\\\ncd"), vec![w("echo"), w("abcd")]);
    assert_eq!(words_of("echo \"ab\\\ncd\""), vec![w("echo"), w("abcd")]);
    assert_eq!(words_of("echo 'a\\\nb'"), vec![w("echo"), w("a\\\nb")]);
}

#[test]
fn command_names_from_expansions_are_not_checked() {
    assert_eq!(words_of("$PROG x"), vec![word(vec![var("PROG")]), w("x")]);
    assert_eq!(
        words_of("\"$P\"rog"),
        vec![word(vec![var("P"), lit("rog")])]
    );
    // A quoted literal name is still checked.
    assert!(try_parse("'nope'").is_err());
    assert_eq!(words_of("'echo' hi"), vec![w("echo"), w("hi")]);
}

#[test]
fn builtins() {
    let builtin = |text: &str| match only_command(text) {
        Command::Builtin(b) => b,
        other => panic!("not a built-in: {other:?}"),
    };
    assert_eq!(builtin("wait"), Builtin::Wait(vec![]));
    assert_eq!(
        builtin("wait %1 httpd"),
        Builtin::Wait(vec![w("%1"), w("httpd")])
    );
    assert_eq!(
        builtin("export NAME=value B="),
        Builtin::Export(vec![assign("NAME", w("value")), assign("B", word(vec![]))])
    );
    assert_eq!(
        builtin("unset NAME B"),
        Builtin::Unset(vec![w("NAME"), w("B")])
    );
    assert_eq!(
        builtin("start --timeout 5s httpd --port 80"),
        Builtin::Start {
            timeout: Some(Duration::from_secs(5)),
            command: simple(vec![], &["httpd", "--port", "80"]),
        }
    );
    assert_eq!(
        builtin("LEVEL=debug start A=1 httpd"),
        Builtin::Start {
            timeout: None,
            command: simple(
                vec![assign("LEVEL", w("debug")), assign("A", w("1"))],
                &["httpd"]
            ),
        }
    );
    assert_eq!(
        builtin("respawn --max 3 --delay 500ms logger -v"),
        Builtin::Respawn {
            max: Some(3),
            delay: Some(Duration::from_millis(500)),
            command: simple(vec![], &["logger", "-v"]),
        }
    );
    assert_eq!(
        builtin("respawn logger"),
        Builtin::Respawn {
            max: None,
            delay: None,
            command: simple(vec![], &["logger"]),
        }
    );
    assert_eq!(
        builtin("timeout 2m prog x"),
        Builtin::Timeout {
            limit: Duration::from_secs(120),
            command: simple(vec![], &["prog", "x"]),
        }
    );
    assert_eq!(builtin("source boot.rc"), Builtin::Source(w("boot.rc")));
    assert_eq!(builtin("shell"), Builtin::Shell);
    assert_eq!(builtin("poweroff"), Builtin::Poweroff(None));
    assert_eq!(
        builtin("poweroff $?"),
        Builtin::Poweroff(Some(word(vec![WordPart::LastStatus])))
    );
    assert_eq!(builtin("halt"), Builtin::Halt);
    assert_eq!(builtin("reboot"), Builtin::Reboot);
    // The inner command of start/respawn/timeout may be an expansion.
    assert!(matches!(builtin("timeout 1s $P"), Builtin::Timeout { .. }));
}

#[test]
fn durations() {
    assert_eq!(parser::parse_duration("0ms"), Some(Duration::ZERO));
    assert_eq!(
        parser::parse_duration("500ms"),
        Some(Duration::from_millis(500))
    );
    assert_eq!(parser::parse_duration("5s"), Some(Duration::from_secs(5)));
    assert_eq!(parser::parse_duration("2m"), Some(Duration::from_secs(120)));
    // One grammar with the programs' (`init/src/duration.rs`): bare seconds and
    // fractions as coreutils takes them.
    assert_eq!(parser::parse_duration("5"), Some(Duration::from_secs(5)));
    assert_eq!(
        parser::parse_duration("1.5s"),
        Some(Duration::from_millis(1500))
    );
    for bad in [
        "",
        "s",
        "5x",
        "5 s",
        "-5s",
        "5sm",
        "99999999999999999999999s",
    ] {
        assert_eq!(parser::parse_duration(bad), None, "{bad:?}");
    }
}

#[test]
fn spans_are_lines_and_char_columns() {
    let script = ok("fw\n  echo é httpd\n");
    let Command::Simple(simple) = &script.items[1].and_or.first.commands[0] else {
        panic!("not simple");
    };
    let span = simple.words[2].span;
    assert_eq!(
        (span.offset, span.line, span.column, span.len),
        (13, 2, 10, 5)
    );
    let error = try_parse("fw\n  echo é; nope\n").unwrap_err();
    assert_eq!((error.line, error.column, error.len), (2, 11, 4));
    let error = try_parse("echo 'é").unwrap_err();
    assert_eq!(
        error.render("echo 'é"),
        "rc:1:6: unterminated single quote\n    echo 'é\n         ^"
    );
    let words = words_of("echo  \"a b\"");
    let span = words[1].span;
    assert_eq!(
        (span.offset, span.line, span.column, span.len),
        (6, 1, 7, 5)
    );
    let Command::Simple(simple) = only_command("A=1 echo hi") else {
        panic!("not simple");
    };
    assert_eq!((simple.span.offset, simple.span.len), (0, 11));
    let value = simple.assignments[0].value.span;
    assert_eq!((value.offset, value.column, value.len), (2, 3, 1));
}

#[test]
fn extra_names_of_the_caller_are_known() {
    assert!(parse("shell", "jobs", &NAMES).is_ok());
    assert!(parse("shell", "jobs", &["fw"]).is_err());
    let programs: &[crate::program::Program] = &[];
    assert!(parse("rc", "wait; halt", &programs).is_ok());
}

#[test]
fn incomplete_input_is_flagged_for_the_shell() {
    for text in [
        "echo 'a",
        "echo \"a",
        "echo \\",
        "if fw",
        "if fw; then echo",
        "{ echo",
        "fw &&",
        "fw |",
    ] {
        assert!(try_parse(text).unwrap_err().is_incomplete(), "{text:?}");
    }
    for text in ["}", "fi", "fw && ;", "nope"] {
        assert!(!try_parse(text).unwrap_err().is_incomplete(), "{text:?}");
    }
}

/// Every error class with its exact rendering.
#[test]
fn error_messages_render_with_a_caret() {
    let cases: &[(&str, &str)] = &[
        (
            "fw load default\n# start the web server\nLEVEL=debug htttpd --port 80 &\n",
            "rc:3:13: unknown program 'htttpd' (did you mean 'httpd'?)\n    LEVEL=debug htttpd --port 80 &\n                ^^^^^^",
        ),
        (
            "fw\n\nhtttpd --port 80 &\n",
            "rc:3:1: unknown program 'htttpd' (did you mean 'httpd'?)\n    htttpd --port 80 &\n    ^^^^^^",
        ),
        (
            "zzzzzz",
            "rc:1:1: unknown program 'zzzzzz'\n    zzzzzz\n    ^^^^^^",
        ),
        (
            "wiat %1",
            "rc:1:1: unknown program 'wiat' (did you mean 'wait'?)\n    wiat %1\n    ^^^^",
        ),
        (
            "echo 'abc",
            "rc:1:6: unterminated single quote\n    echo 'abc\n         ^",
        ),
        (
            "echo \"abc\nd",
            "rc:1:6: unterminated double quote\n    echo \"abc\n         ^",
        ),
        (
            "echo \\",
            "rc:1:6: backslash at the end of the input\n    echo \\\n         ^",
        ),
        (
            "echo ${1x}",
            "rc:1:6: bad substitution '${1x}' (use ${NAME})\n    echo ${1x}\n         ^^^^^",
        ),
        (
            "echo ${X",
            "rc:1:6: bad substitution '${X' (use ${NAME})\n    echo ${X\n         ^^^",
        ),
        ("fw; }", "rc:1:5: '}' without '{'\n    fw; }\n        ^"),
        ("fi", "rc:1:1: 'fi' without 'if'\n    fi\n    ^^"),
        (
            "fw\nthen echo",
            "rc:2:1: 'then' without 'if'\n    then echo\n    ^^^^",
        ),
        (
            "{ fw; else echo; }",
            "rc:1:7: 'else' without 'if'\n    { fw; else echo; }\n          ^^^^",
        ),
        (
            "if fw; elif",
            "rc:1:8: expected 'then', found 'elif'\n    if fw; elif\n           ^^^^",
        ),
        (
            "{ if fw; then echo; }",
            "rc:1:21: expected 'fi', found '}'\n    { if fw; then echo; }\n                        ^",
        ),
        ("if fw\n", "rc:1:1: 'if' without 'then'\n    if fw\n    ^^"),
        (
            "if fw; then\n  echo\n",
            "rc:1:1: 'if' without 'fi'\n    if fw; then\n    ^^",
        ),
        (
            "fw\n{ echo;\n",
            "rc:2:1: '{' without '}'\n    { echo;\n    ^",
        ),
        (
            "timeout 5x prog",
            "rc:1:9: bad duration '5x' (seconds, or with ms, s, m, h or d: 1.5s, 500ms)\n    timeout 5x prog\n            ^^",
        ),
        (
            "start --timeout 1.5x httpd",
            "rc:1:17: bad duration '1.5x' (seconds, or with ms, s, m, h or d: 1.5s, 500ms)\n    start --timeout 1.5x httpd\n                    ^^^^",
        ),
        (
            "respawn --max -1 logger",
            "rc:1:15: bad number '-1'\n    respawn --max -1 logger\n                  ^^",
        ),
        (
            "poweroff 256",
            "rc:1:10: bad number '256'\n    poweroff 256\n             ^^^",
        ),
        (
            "wait %x",
            "rc:1:6: bad job '%x' (use %N or a name)\n    wait %x\n         ^^",
        ),
        (
            "unset A-B",
            "rc:1:7: bad variable name 'A-B'\n    unset A-B\n          ^^^",
        ),
        (
            "&& fw",
            "rc:1:1: empty command before '&&'\n    && fw\n    ^^",
        ),
        ("| fw", "rc:1:1: empty command before '|'\n    | fw\n    ^"),
        (
            "fw;;",
            "rc:1:4: empty command before ';'\n    fw;;\n       ^",
        ),
        (
            "fw && ;",
            "rc:1:4: expected a command after '&&'\n    fw && ;\n       ^^",
        ),
        (
            "{ }",
            "rc:1:1: expected a command after '{'\n    { }\n    ^",
        ),
        (
            "if fw; then fi",
            "rc:1:8: expected a command after 'then'\n    if fw; then fi\n           ^^^^",
        ),
        (
            "fw ||",
            "rc:1:4: the input ends where a command should follow '||'\n    fw ||\n       ^^",
        ),
        (
            "echo a > b",
            "rc:1:8: redirection '>' is not supported by kiln's rc: jobs read and write their console; connect programs with a pipe (prog | upper)\n    echo a > b\n           ^",
        ),
        (
            "{ fw; } echo",
            "rc:1:9: unexpected 'echo'\n    { fw; } echo\n            ^^^^",
        ),
        (
            "timeout",
            "rc:1:1: timeout: missing a duration\n    timeout\n    ^^^^^^^",
        ),
        (
            "start --timeout",
            "rc:1:7: start: missing a duration after --timeout\n    start --timeout\n          ^^^^^^^^^",
        ),
        (
            "respawn --delay 1s",
            "rc:1:1: respawn: missing a program to run\n    respawn --delay 1s\n    ^^^^^^^",
        ),
        (
            "source",
            "rc:1:1: source: missing a script name\n    source\n    ^^^^^^",
        ),
        (
            "source a b",
            "rc:1:10: source: too many arguments\n    source a b\n             ^",
        ),
        (
            "halt now",
            "rc:1:6: halt: too many arguments\n    halt now\n         ^^^",
        ),
        (
            "start --foo x",
            "rc:1:7: start: unknown option '--foo'\n    start --foo x\n          ^^^^^",
        ),
        (
            "export 1A",
            "rc:1:8: export: '1A' is not NAME=value or NAME\n    export 1A\n           ^^",
        ),
        (
            "A=1 wait",
            "rc:1:1: assignments cannot precede 'wait'\n    A=1 wait\n    ^^^",
        ),
        (
            "timeout 1s halt",
            "rc:1:12: timeout: 'halt' is a built-in, not a program\n    timeout 1s halt\n               ^^^^",
        ),
        (
            "\techo\t'a",
            "rc:1:7: unterminated single quote\n     echo 'a\n          ^",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(rendered_error(text), *expected, "for {text:?}");
    }
}

#[test]
fn nesting_is_bounded() {
    let depth = MAX_DEPTH;
    let ok_text = format!("{}fw{}", "{ ".repeat(depth), "; }".repeat(depth));
    ok(&ok_text);
    let deep = format!("{}fw{}", "{ ".repeat(depth + 1), "; }".repeat(depth + 1));
    let error = try_parse(&deep).unwrap_err();
    assert_eq!(error.kind, ErrorKind::NestingTooDeep { limit: MAX_DEPTH });
    assert_eq!(error.column, 1 + 2 * u32::try_from(depth).unwrap());
    assert_eq!(
        error.to_string(),
        "rc:1:65: nesting too deep (more than 32 levels of { } or if)"
    );
    let ifs = "if fw; then ".repeat(depth + 1);
    let error = try_parse(&ifs).unwrap_err();
    assert_eq!(error.kind, ErrorKind::NestingTooDeep { limit: MAX_DEPTH });
    // Far deeper input fails the same way, without exhausting the stack.
    let very_deep = "{ ".repeat(100_000);
    assert!(matches!(
        try_parse(&very_deep).unwrap_err().kind,
        ErrorKind::NestingTooDeep { .. }
    ));
}

#[test]
fn size_is_bounded() {
    let big = "#".repeat(MAX_SCRIPT_BYTES + 1);
    let error = try_parse(&big).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "rc:1:1: script too large ({} bytes, limit {})",
            MAX_SCRIPT_BYTES + 1,
            MAX_SCRIPT_BYTES
        )
    );
    ok(&"#".repeat(MAX_SCRIPT_BYTES));
}

#[test]
fn the_first_error_wins_and_nothing_runs_before_the_whole_script_parses() {
    // The unknown program on line 3 is reported even though line 1 is fine.
    let error = try_parse("fw\necho ok\nnope\n'unterminated").unwrap_err();
    assert_eq!(error.line, 3);
}

#[test]
fn printer_writes_canonical_text() {
    let cases: &[(&str, &str)] = &[
        ("fw   load\tdefault", "fw load default\n"),
        ("memstat --every 1s&", "memstat --every 1s &\n"),
        (
            "fw check&&httpd||poweroff 3",
            "fw check && httpd || poweroff 3\n",
        ),
        (
            "prog1; { prog2 & prog3 & wait; }",
            "prog1\n{ prog2 & prog3 & wait; }\n",
        ),
        (
            "LEVEL=debug httpd --port 80",
            "LEVEL=debug httpd --port 80\n",
        ),
        (
            "export NAME=value; unset NAME",
            "export NAME=value\nunset NAME\n",
        ),
        (
            "if fw check\nthen echo ok\nelse echo bad\nfi",
            "if fw check; then echo ok; else echo bad; fi\n",
        ),
        ("start --timeout 5000ms httpd", "start --timeout 5s httpd\n"),
        (
            "respawn --max 2 --delay 120s logger",
            "respawn --max 2 --delay 2m logger\n",
        ),
        ("timeout 1500ms prog", "timeout 1500ms prog\n"),
        (
            "echo \"a b\" it\\'s \"$X\"y \"${X}\" '' $?",
            "echo 'a b' 'it'\\''s' ${X}y $X '' $?\n",
        ),
        ("echo \\# '#' a#", "echo '#' '#' a#\n"),
        ("'if' x", "'if' x\n"),
    ];
    let names = ["if"];
    for (text, expected) in cases {
        let script = parse("rc", text, &[&NAMES[..], &names[..]].concat())
            .unwrap_or_else(|e| panic!("{}", e.render(text)));
        let printed = script.to_string();
        assert_eq!(printed, *expected, "for {text:?}");
        let reparsed = parse("rc", &printed, &[&NAMES[..], &names[..]].concat()).unwrap();
        assert_eq!(reparsed, script);
    }
}

/// The lexer's keyword match and the KEYWORDS list (the printer quotes those) agree.
#[test]
fn keywords_match_the_keyword_list() {
    use super::lexer::{KEYWORDS, Lexer, Token};
    let mut lexer = Lexer::new("if then elif else fi { } iff fi2 'if' \\fi e$X");
    let mut found = Vec::new();
    while let Ok(Token::Word(word)) = lexer.next_token() {
        found.push(word.keyword());
    }
    let mut expected: Vec<Option<&str>> = KEYWORDS.iter().copied().map(Some).collect();
    expected.extend([None; 5]);
    assert_eq!(found, expected);
}

#[path = "proptests.rs"]
mod proptests;

#[test]
fn constructs_outside_the_subset_each_get_their_own_located_message() {
    let names: &[&str] = &["echo", "args", "true"];
    let cases: &[(&str, &str, u32)] = &[
        ("args x < in", "redirection '<'", 8),
        ("args x 2> err", "redirection '>'", 9),
        ("args $(true)", "command substitution", 6),
        ("args `true`", "command substitution", 6),
        ("args $((1 + 2))", "arithmetic expansion '$((...))'", 6),
        ("( true )", "'(' (a subshell or a function)", 1),
        ("for i in a b; do echo $i; done", "the 'for' loop", 1),
        ("while true; do true; done", "the 'while' loop", 1),
        ("until true; do true; done", "the 'until' loop", 1),
        ("case x in x) true;; esac", "'case'", 1),
        ("function f { true; }", "'function'", 1),
        ("args $1", "'$1'", 6),
        ("args $@", "'$@'", 6),
        ("args $0", "'$0'", 6),
        ("args $$", "'$$'", 6),
        ("args *", "the glob '*'", 6),
        ("args a?b", "the glob '?'", 7),
        ("args [ab]", "the glob '['", 6),
        ("args ~ ~/x", "'~' (a home directory)", 6),
    ];
    for (text, what, column) in cases {
        let error = crate::rc::parse("rc", text, &names).expect_err(text);
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "rc:1:{column}: {what} is not supported by kiln's rc: "
            )),
            "{text}: {message}"
        );
    }
    // Quoted, each is the character itself; `$#` is 0 (no arguments), `$!` the last
    // background job, and a `~` inside a word is a `~`.
    for text in ["args '*' \"a?b\" '[ab]' '~' '$1'", "args $# $! a~b"] {
        assert!(crate::rc::parse("rc", text, &names).is_ok(), "{text}");
    }
}
