//! The bootable image: prompt on both machine types, the console round trip, power-off
//! status, hostile input, and the in-image self-tests.

use kiln_tests::{Machine, PROMPT, Vm, Xorshift, config};

fn boots_to_prompt_on(machine: Machine) {
    let mut config = config();
    config.machine = machine;
    let mut vm = Vm::boot(&config);
    vm.expect("kiln 0.1.0");
    vm.expect(PROMPT);
    vm.send_line("poweroff 0");
    assert_eq!(vm.wait_exit(), Some(0));
}

#[test]
fn boots_to_a_prompt_on_pc() {
    boots_to_prompt_on(Machine::Pc);
}

#[test]
fn boots_to_a_prompt_on_microvm() {
    boots_to_prompt_on(Machine::Microvm);
}

#[test]
fn boots_repeatedly_on_microvm() {
    // The timer must come up every time (docs/ARCHITECTURE.md: a Debian kernel hung 8 in 40).
    for _ in 0..5 {
        boots_to_prompt_on(Machine::Microvm);
    }
}

#[test]
fn echo_round_trip() {
    let mut vm = Vm::boot_to_prompt();
    let output = vm.run("echo hello   kiln");
    assert_eq!(output.trim_end(), "hello kiln");
}

#[test]
fn poweroff_status_is_the_exit_status() {
    let mut vm = Vm::boot_to_prompt();
    vm.send_line("poweroff 7");
    assert_eq!(vm.wait_exit(), Some(7));
}

#[test]
fn a_long_line_and_random_bytes_leave_the_console_usable() {
    let mut vm = Vm::boot_to_prompt();
    let long = "x".repeat(4096);
    vm.send_line(&long);
    vm.expect("line too long");
    vm.expect(PROMPT);

    let mut rng = Xorshift::new(0x6b696c6e);
    // Ctrl-D on an empty line leaves the shell, as in sh: the garbage has none.
    let garbage: Vec<u8> = rng
        .bytes(64 * 1024)
        .into_iter()
        .filter(|&b| b != 0x04)
        .collect();
    for chunk in garbage.chunks(1024) {
        vm.send_bytes(chunk);
    }
    // Ctrl-C and a fresh line: whatever the garbage left half-typed is discarded.
    vm.send_bytes(b"\x03\r");
    vm.send_line("echo alive");
    vm.expect("alive\r\n");
    vm.expect(PROMPT);
}

#[test]
fn in_image_self_tests_pass() {
    let mut config = config();
    config.append = "kiln.selftest".into();
    let mut vm = Vm::boot(&config);
    vm.expect("selftest: 5 passed, 0 failed");
    assert_eq!(vm.wait_exit(), Some(0));
    let transcript = vm.transcript();
    for name in ["timer", "preemption", "sleep", "heap", "join"] {
        assert!(
            transcript.contains(&format!("selftest {name}: ok")),
            "self-test {name} did not pass:\n{transcript}"
        );
    }
}

#[test]
fn the_harness_fails_on_a_wrong_expectation() {
    assert!(kiln_tests::expect_fails_on_wrong_text());
}
