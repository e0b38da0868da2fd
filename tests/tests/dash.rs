//! The differential test: a corpus of small scripts within kiln's rc subset runs under
//! the host's `dash` and in the image, and each case's stdout and status must match.
//!
//! Both run the whole corpus as one script (so a variable one case sets is seen by the
//! next in both), each case between markers: `echo '=== N'`, the case, then
//! `echo "=== status $?"`. Under dash, shell functions stand in for kiln's `args`,
//! `ret` and `upper`. Where kiln deliberately differs from sh (README, "The rc
//! language"), the case gives kiln's expected output and says why.

use std::process::Command;

use kiln_tests::{TempFile, Vm, ensure_tool};

/// What dash runs first: kiln's small programs as functions.
const DASH_PRELUDE: &str = r#"args() { for a in "$@"; do printf '[%s]\n' "$a"; done; }
ret() { return "$1"; }
upper() { tr '[:lower:]' '[:upper:]'; }
"#;

/// Cases where kiln differs on purpose: (case, kiln's section, why).
const DELIBERATE: &[(&str, &str, &str)] = &[
    (
        "E=; args $E x",
        "[]\n[x]\n=== status 0\n",
        "an expanded word is never dropped: the argv is exactly what the script says",
    ),
    (
        "X='a b'; args $X \"$X\"",
        "[a b]\n[a b]\n=== status 0\n",
        "an expanded word is never split (rumprun lost quoting there)",
    ),
];

/// The corpus: each entry is one case (it may hold several lines).
fn corpus() -> Vec<String> {
    let mut cases: Vec<String> = [
        // Simple commands, statuses.
        "true",
        "false",
        "ret 0",
        "ret 7",
        "ret 255",
        "echo hello world",
        "echo",
        "args one two three",
        "args 'a b' c",
        "args",
        // Quoting.
        "args 'single $X quoted'",
        "args \"double quoted\"",
        "args a\\ b",
        "args \\'x\\'",
        "args \"it's\"",
        "args 'say \"hi\"'",
        "args \"say \\\"hi\\\"\"",
        "args \"back\\\\slash\"",
        "args \"dollar \\$X\"",
        "args ''",
        "args \"\"",
        "args a'b'\"c\"d",
        "args '#not a comment'",
        "args a#b",
        "echo a # a comment",
        "args \"a  b\"  c",
        // Variables.
        "X=1; args $X",
        "X=two; args \"$X\" ${X}s",
        "X=1; X=2; args $X",
        "X=1; unset X; args \"[$X]\"",
        "args \"[$NEVER_SET]\"",
        "X=a Y=b; args $X$Y",
        "X=${NEVER_SET}; args \"[$X]\"",
        "export E1=1; args $E1",
        "export A=1 B=2; args $A $B",
        "X=1; export X; args $X",
        "export X=1 Y=$X; args \"[$Y]\"",
        "V=pre; args ${V}post",
        "ret 3; args $?",
        "ret 3; X=$?; args $X",
        "false; echo $?; echo $?",
        // Pipelines.
        "echo hi | upper",
        "args a b | upper",
        "echo hi | upper | upper",
        "ret 3 | true",
        "true | ret 4",
        "false | false",
        "echo x | ret 5",
        // Groups.
        "{ echo a; echo b; }",
        "{ ret 3; }",
        "{ echo a; ret 4; }",
        "{ { echo nested; }; }",
        "{ X=in; }; args $X",
        "{ echo a; } | upper",
        // Background and wait.
        "ret 3 & wait",
        "true & false & wait",
        "ret 6 & wait $!",
        "{ ret 2; } & wait $!",
        // if.
        "if true; then echo yes; fi",
        "if false; then echo yes; fi",
        "if false; then echo yes; else echo no; fi",
        "if ret 2; then echo a; elif true; then echo b; else echo c; fi",
        "if ret 2; then echo a; elif false; then echo b; else echo c; fi",
        "if true; then ret 4; fi",
        "if false; then true; fi",
        "if false; then true; else ret 5; fi",
        "if if true; then false; fi; then echo a; else echo b; fi",
        "if true\nthen\n  echo multi\nfi",
        "if { true; false; }; then echo a; else echo b; fi",
        "if true; then if false; then echo x; else echo y; fi; fi",
        // Lines and separators.
        "echo a; echo b",
        "echo a\necho b",
        "echo a;\necho b",
        "echo one \\\n two",
        "   echo   spaced   out  ",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // And/or lists over every combination of statuses.
    for a in ["true", "false"] {
        for b in ["true", "false"] {
            cases.push(format!("{a} && {b}"));
            cases.push(format!("{a} || {b}"));
            cases.push(format!("{a} && echo then || echo else; {b}"));
            for c in ["ret 0", "ret 3"] {
                cases.push(format!("{a} && {b} || {c}"));
                cases.push(format!("{a} || {b} && {c}"));
                cases.push(format!("{a} && {b} && {c}"));
                cases.push(format!("{a} || {b} || {c}"));
            }
        }
    }
    cases
}

/// The whole corpus as one script, each case between markers.
fn combined(cases: &[String]) -> String {
    let mut script = String::new();
    for (i, case) in cases.iter().enumerate() {
        script.push_str(&format!("echo '=== {i}'\n{case}\necho \"=== status $?\"\n"));
    }
    script
}

/// The section of each case in `output` (`\r\n` as `\n`), by case number.
fn sections(output: &str, count: usize) -> Vec<String> {
    let text = output.replace("\r\n", "\n");
    (0..count)
        .map(|i| {
            let start_marker = format!("=== {i}\n");
            let start = text
                .find(&start_marker)
                .unwrap_or_else(|| panic!("case {i}: no start marker in:\n{text}"))
                + start_marker.len();
            let rest = &text[start..];
            let end = rest.find("=== status ").expect("a status marker");
            let status_end = rest[end..].find('\n').map_or(rest.len(), |e| end + e + 1);
            rest[..status_end].to_string()
        })
        .collect()
}

#[test]
fn the_corpus_behaves_as_under_dash() {
    let dash = ensure_tool("dash", "dash");
    let mut cases = corpus();
    cases.extend(DELIBERATE.iter().map(|(case, _, _)| case.to_string()));
    assert!(cases.len() >= 100, "only {} cases", cases.len());
    let script = combined(&cases);

    let host = Command::new(&dash)
        .arg("-c")
        .arg(format!("{DASH_PRELUDE}{script}"))
        .env_clear()
        .output()
        .expect("dash runs");
    let host_output = String::from_utf8_lossy(&host.stdout).into_owned();
    let expected = sections(&host_output, cases.len());

    let rc = TempFile::new("rc", format!("{script}poweroff 0\n").as_bytes());
    let mut vm = Vm::boot_with_rc(&rc.path);
    assert_eq!(vm.wait_exit(), Some(0), "{}", vm.transcript());
    let got = sections(&vm.transcript(), cases.len());

    let mut differences = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let want = match DELIBERATE.iter().find(|(c, _, _)| c == case) {
            Some((_, kiln, _)) => kiln.to_string(),
            None => expected[i].clone(),
        };
        if got[i] != want {
            differences.push(format!(
                "case {i}: {case:?}\n  dash (or expected): {want:?}\n  kiln: {:?}",
                got[i]
            ));
        }
    }
    // The deliberate differences really differ from dash (or they are not differences).
    for (case, kiln, why) in DELIBERATE {
        let i = cases.iter().position(|c| c == case).expect("listed");
        assert_ne!(
            &expected[i], kiln,
            "{case:?} no longer differs from dash ({why})"
        );
    }
    assert!(
        differences.is_empty(),
        "{} of {} cases differ from dash:\n{}",
        differences.len(),
        cases.len(),
        differences.join("\n")
    );
}
