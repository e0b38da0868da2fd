//! Fault containment: a crashing program ends its job with a status and a report,
//! never the image; the shell and the other jobs carry on.

use kiln_tests::Vm;

/// (kind, status, words of the report on the job's stderr)
const CRASHES: [(&str, u8, &str); 6] = [
    ("panic", 101, "crash: panicked at utils/src/crash.rs"),
    ("divzero", 128, "crash: divide error (vector 0) at rip"),
    ("ud2", 134, "crash: invalid opcode (vector 6) at rip"),
    (
        "pagefault",
        142,
        "crash: page fault (vector 14) at address 0x4000000000",
    ),
    (
        "stack",
        142,
        "crash: stack overflow: page fault on the guard page",
    ),
    ("oom", 101, "crash: out of memory: memory allocation of"),
];

/// Starts a healthy background job and returns its job spec.
fn start_healthy(vm: &mut Vm) {
    vm.run("sleep 3600 &");
}

fn assert_healthy_and_alive(vm: &mut Vm) {
    let jobs = vm.run("jobs");
    assert!(
        jobs.contains("running sleep 3600"),
        "the healthy job is gone:\n{jobs}"
    );
    assert_eq!(vm.run("echo alive"), "alive\r\n");
}

/// Types empty commands until `text` has appeared on the console (a background job's
/// end is announced before the first prompt after it): a bounded poll, no sleep.
fn await_in_transcript(vm: &mut Vm, text: &str) {
    for _ in 0..100 {
        if vm.transcript().contains(text) {
            return;
        }
        vm.run("true");
    }
    vm.fail(&format!("{text:?} never appeared"));
}

#[test]
fn each_crash_in_the_foreground_ends_only_its_job() {
    let (mut vm, _rc) = Vm::boot_shell();
    start_healthy(&mut vm);
    for (kind, status, report) in CRASHES {
        let output = vm.run(&format!("crash {kind}"));
        assert!(
            output.contains(report),
            "crash {kind}: no report {report:?}:\n{output}"
        );
        // A CPU exception the program raised is reported in the program's code.
        if matches!(kind, "divzero" | "ud2" | "pagefault") {
            assert!(
                output.contains(" in kiln_utils::crash::"),
                "crash {kind}: the report does not name the program:\n{output}"
            );
        }
        assert_eq!(vm.run("echo $?"), format!("{status}\r\n"), "crash {kind}");
        assert_healthy_and_alive(&mut vm);
    }
}

#[test]
fn each_crash_in_the_background_ends_only_its_job() {
    let (mut vm, _rc) = Vm::boot_shell();
    start_healthy(&mut vm);
    for (kind, status, report) in CRASHES {
        vm.send_line(&format!("crash {kind} &"));
        // The report comes before the next prompt or after it (and the prompt is then
        // redrawn); either way a prompt follows it.
        vm.expect(report);
        vm.expect(kiln_tests::PROMPT);
        // Its end is announced, with the status, before a prompt.
        await_in_transcript(&mut vm, &format!("faulted({status}) crash {kind}"));
        assert_healthy_and_alive(&mut vm);
    }
}

#[test]
fn kill_9_of_a_job_that_has_not_run_yet_still_reports_it() {
    // Under load a new job's thread may not have run when `kill -9` lands; its report
    // went nowhere then (its stderr was recorded by the thread itself), so the operator
    // saw "killed" without the line saying so. 8 burners make that the common case.
    let (mut vm, _rc) = Vm::boot_shell();
    for _ in 0..8 {
        vm.run("burn &");
    }
    for round in 0..5 {
        vm.send_line("crash hang & kill -9 crash");
        if let Err(why) = vm.try_expect("crash: killed (kill -9)", kiln_tests::DEFAULT_TIMEOUT) {
            vm.fail(&format!("round {round}: {why}"));
        }
        vm.expect(kiln_tests::PROMPT);
    }
}

#[test]
fn a_hang_is_ended_by_kill_9_in_the_background_and_by_ctrl_c_in_the_foreground() {
    let (mut vm, _rc) = Vm::boot_shell();
    start_healthy(&mut vm);
    vm.run("crash hang &");
    // The report comes whenever the kill lands: before or after the next prompt, which
    // is redrawn after it. Either way a prompt follows it.
    vm.send_line("kill -9 crash");
    vm.expect("crash: killed (kill -9)");
    vm.expect(kiln_tests::PROMPT);
    // The end is announced (before this prompt or a later one) and then forgotten.
    await_in_transcript(&mut vm, "killed crash hang");
    let jobs = vm.run("jobs");
    assert!(!jobs.contains("running crash"), "{jobs}");
    assert_healthy_and_alive(&mut vm);

    // In the foreground, Ctrl-C gives the prompt back at once, and the hang is ended
    // after the grace period (tests/tests/memory.rs follows it in `ps`).
    vm.send_line("crash hang");
    vm.expect("crash hang\r\n");
    vm.send_bytes(b"\x03");
    vm.expect(kiln_tests::PROMPT);
    assert_eq!(vm.run("echo $?"), "130\r\n");
    assert_healthy_and_alive(&mut vm);
}

#[test]
fn ps_shows_the_memory_a_job_holds_and_memstat_what_was_reclaimed() {
    let (mut vm, _rc) = Vm::boot_shell();
    vm.run("sleep 3600 &");
    // The shell waits for this job, so the sleep job gets the CPU and sets up.
    vm.run("true");
    let ps = vm.run("ps");
    let row = ps
        .lines()
        .find(|l| l.contains("sleep"))
        .expect("a sleep row");
    // What its thread holds now: a figure (possibly 0 this early), never "-".
    let mem = row.split_whitespace().nth(4).unwrap_or_default();
    assert!(mem.parse::<u64>().is_ok(), "no MEM figure in {row:?}");
    let reclaimed = |text: &str| -> u64 {
        text.split_whitespace()
            .find_map(|f| f.strip_prefix("reclaimed="))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no reclaimed= in {text:?}"))
    };
    let before = reclaimed(&vm.run("memstat"));
    vm.run("crash oom");
    // The chunks the job held when it died were freed for it, and counted.
    assert!(reclaimed(&vm.run("memstat")) > before + (1 << 20));
}
