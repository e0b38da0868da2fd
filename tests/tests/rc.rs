//! The rc language through the real image: scripts passed with fw_cfg (`--rc FILE`).

use kiln_tests::{PROMPT, TempFile, Vm};

/// Boots with `script` as the rc file; returns the VM and keeps the file alive.
fn boot_rc(script: &str) -> (Vm, TempFile) {
    let file = TempFile::new("rc", script.as_bytes());
    let vm = Vm::boot_with_rc(&file.path);
    (vm, file)
}

/// Runs `script` to its end and returns (console transcript, power-off status).
fn run_rc(script: &str) -> (String, Option<u8>) {
    let (mut vm, _file) = boot_rc(script);
    let status = vm.wait_exit();
    (vm.transcript(), status)
}

#[test]
fn argv_arrives_exactly_as_written() {
    let script = r#"X='two  spaces'
export EMPTY=
args 'single quoted' "double $X" $X "" "$EMPTY" it\'s "say \"hi\"" a\ b ${X}! '$X'
"#;
    let (out, status) = run_rc(script);
    let expected = "[single quoted]\r\n[double two  spaces]\r\n[two  spaces]\r\n[]\r\n[]\r\n\
                    [it's]\r\n[say \"hi\"]\r\n[a b]\r\n[two  spaces!]\r\n[$X]\r\n";
    assert!(out.contains(expected), "argv differs:\n{out}");
    assert_eq!(status, Some(0));
}

#[test]
fn env_for_one_job_and_exported_variables() {
    let script = "export LEVEL=info\nLEVEL=debug args \"$LEVEL\"\nargs \"$LEVEL\"\nunset LEVEL\nargs \"[$LEVEL]\"\n";
    let (out, _) = run_rc(script);
    // The assignment prefix is the job's env, not a shell variable: $LEVEL is expanded
    // by the shell before the job starts, so both lines show the shell's value.
    assert!(out.contains("[info]\r\n[info]\r\n[[]]\r\n"), "{out}");
}

#[test]
fn sequence_then_parallel_group_then_wait() {
    // prog1 first; only when it ends, prog2 and prog3 in parallel; then wait for both.
    // producer | consumer moves 40 KiB through a 4 KiB pipe, so its stages must overlap.
    let script = "echo prog1 start; sleep 200ms; echo prog1 end\n\
                  { producer 3000 | consumer & ret 3 & wait; }\n\
                  echo group status $?\n\
                  sleep 100ms & ret 4 &\n\
                  wait ret\necho ret status $?\n";
    let (out, status) = run_rc(script);
    let order = [
        "prog1 start",
        "prog1 end",
        "3000 lines",
        "group status 0",
        "ret status 4",
    ];
    let mut at = 0;
    for text in order {
        match out[at..].find(text) {
            Some(found) => at += found + text.len(),
            None => panic!("{text:?} missing or out of order:\n{out}"),
        }
    }
    // The script's status is its last command's (the echo).
    assert_eq!(status, Some(0), "{out}");
}

#[test]
fn and_or_and_if_branch_on_real_statuses() {
    let script = "ret 3 && echo not-printed || echo or-ran $?\n\
                  true && echo and-ran\n\
                  if ret 1; then echo wrong; elif ret 0; then echo elif-ran; else echo wrong; fi\n\
                  if false; then echo wrong; else echo else-ran; fi\n\
                  ret 9 || ret 6\n";
    let (out, status) = run_rc(script);
    assert!(
        !out.contains("not-printed") && !out.contains("wrong"),
        "{out}"
    );
    for text in ["or-ran 3", "and-ran", "elif-ran", "else-ran"] {
        assert!(out.contains(text), "{text:?} missing:\n{out}");
    }
    assert_eq!(status, Some(6));
}

#[test]
fn a_pipe_connects_two_programs() {
    let (out, _) = run_rc("producer 3 | upper\necho hello | upper | upper\n");
    assert!(out.contains("LINE 1\r\nLINE 2\r\nLINE 3\r\n"), "{out}");
    assert!(out.contains("HELLO\r\n"), "{out}");
}

#[test]
fn start_waits_for_readiness_or_times_out() {
    let script = "start --timeout 30s memstat --every 1h\necho started $?\n\
                  start --timeout 300ms sleep 1m\necho timed out $?\n\
                  timeout 200ms sleep 1m\necho timeout $?\n\
                  timeout 5s sleep 10ms\necho in time $?\n\
                  poweroff 0\n";
    let (out, status) = run_rc(script);
    let heap_line = out.find("heap: size=").expect("memstat printed");
    let Some(started) = out.find("started 0") else {
        panic!("start did not return 0 once ready:\n{out}");
    };
    assert!(
        heap_line < started,
        "start returned before readiness:\n{out}"
    );
    for text in ["timed out 124", "timeout 124", "in time 0"] {
        assert!(out.contains(text), "{text:?} missing:\n{out}");
    }
    assert_eq!(status, Some(0));
}

#[test]
fn respawn_restarts_a_failing_program_up_to_max() {
    let script = "respawn --max 2 --delay 50ms ret 7\nwait\necho all done\n";
    let (out, _) = run_rc(script);
    assert!(
        out.contains("'ret' exited with status 7, restart 1 of 2"),
        "{out}"
    );
    assert!(
        out.contains("'ret' exited with status 7, restart 2 of 2"),
        "{out}"
    );
    assert!(!out.contains("restart 3"), "{out}");
    assert!(out.contains("all done"), "{out}");
}

#[test]
fn the_scripts_status_is_the_launchers_exit_code() {
    let (_, status) = run_rc("echo ending\nret 42\n");
    assert_eq!(status, Some(42));
    let (_, status) = run_rc("poweroff 200\necho never\n");
    assert_eq!(status, Some(200));
}

#[test]
fn a_typo_reports_line_and_column_and_opens_the_console() {
    let script = "echo must-not-run\nfw load default.rules\n  memsat --every 1s &\n";
    let (mut vm, _file) = boot_rc(script);
    vm.expect("rc:3:3: unknown program 'memsat' (did you mean 'memstat'?)\r\n");
    vm.expect("      memsat --every 1s &\r\n");
    vm.expect("      ^^^^^^\r\n");
    vm.expect(PROMPT);
    assert!(
        !vm.transcript().contains("must-not-run"),
        "a broken script ran"
    );
    let out = vm.run("echo still here");
    assert_eq!(out.trim_end(), "still here");
}

#[test]
fn each_parse_error_class_has_its_own_message() {
    for (script, message) in [
        ("echo 'open\n", "rc:1:6: unterminated single quote"),
        ("echo \"open\n", "rc:1:6: unterminated double quote"),
        ("echo hi; }\n", "rc:1:10: '}' without '{'"),
        ("fi\n", "rc:1:1: 'fi' without 'if'"),
        ("timeout 5x sleep 1\n", "rc:1:9: bad duration '5x'"),
    ] {
        let (mut vm, _file) = boot_rc(script);
        let found = vm.try_expect(message, kiln_tests::DEFAULT_TIMEOUT);
        if found.is_err() {
            vm.fail(&format!("{script:?} should report {message:?}"));
        }
        vm.expect(PROMPT);
    }
}

#[test]
fn the_rc_script_comes_through_fw_cfg_on_microvm_too() {
    let file = TempFile::new("rc", b"echo rc on microvm\nret 5\n");
    let mut config = kiln_tests::config();
    config.machine = kiln_tests::Machine::Microvm;
    config.rc = Some(file.path.clone());
    let mut vm = Vm::boot(&config);
    vm.expect("rc on microvm\r\n");
    assert_eq!(vm.wait_exit(), Some(5));
}
