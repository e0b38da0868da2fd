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
fn bootstats_prints_every_phase_in_order_on_each_machine_and_firmware() {
    let phases = kiln::BOOT_PHASES;
    let shapes = [
        (Machine::Pc, kiln::qemu::Bios::Qboot),
        (Machine::Pc, kiln::qemu::Bios::SeaBios),
        (Machine::Microvm, kiln::qemu::Bios::SeaBios),
        (Machine::Firecracker, kiln::qemu::Bios::SeaBios),
    ];
    for (machine, bios) in shapes {
        if bios == kiln::qemu::Bios::Qboot && !std::path::Path::new(kiln::qemu::QBOOT).is_file() {
            continue;
        }
        let mut config = config();
        config.machine = machine;
        config.bios = bios;
        config.append = "kiln.bootstats".into();
        let (mut vm, _initrd) = if machine == Machine::Firecracker {
            Vm::boot_firecracker(config)
        } else {
            (Vm::boot(&config), None)
        };
        vm.expect("kiln: bootstats cycles since entry: ");
        let line = vm.expect("\r\n");
        vm.expect(PROMPT);
        let stamps: Vec<(&str, u64)> = line
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k, v.parse().unwrap_or_else(|_| panic!("{w}", w = v))))
            .collect();
        let names: Vec<&str> = stamps.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, phases, "{machine:?}/{bios:?}: {line}");
        // Stamps of one TSC, taken in this order: never decreasing, and the prompt last.
        assert!(
            stamps.windows(2).all(|w| w[0].1 <= w[1].1),
            "{machine:?}/{bios:?}: {line}"
        );
        assert!(stamps[8].1 > 0, "{line}");
        vm.kill();
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
    vm.expect("selftest: 6 passed, 0 failed");
    assert_eq!(vm.wait_exit(), Some(0));
    let transcript = vm.transcript();
    for name in ["timer", "preemption", "sleep", "arena", "heap", "join"] {
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
