//! Boot where unikernels are deployed: QEMU's microvm shaped like Firecracker
//! (`--machine firecracker`: no PCI, no fw_cfg files, no isa-debug-exit, no RTC, no
//! ACPI; the rc script, programs and files in `-initrd`; stopping by an i8042 reset),
//! the rc script from a boot module or the kernel command line, and stopping without
//! the debug-exit device.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use kiln::status;
use kiln_tests::{Machine, PROMPT, TempFile, Vm, config};

/// How long one boot may take to power off (TCG on a loaded 2-core machine).
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

use kiln_tests::launcher;

/// Boots the mimic mode with `rc` and returns the guest's status from its last line.
fn firecracker_status(rc: &str) -> (Option<u8>, String) {
    let file = TempFile::new("rc", rc.as_bytes());
    let mut config = config();
    config.rc = Some(file.path.clone());
    let (mut vm, _initrd) = Vm::boot_firecracker(config);
    vm.wait_exit_within(BOOT_TIMEOUT);
    let transcript = vm.transcript();
    (
        status::guest_status_from_line(vm.qemu_exit_code(), &transcript),
        transcript,
    )
}

#[test]
fn the_firecracker_shape_boots_to_a_prompt_with_its_rc_from_the_initrd() {
    let rc = TempFile::new("rc", b"echo rc from the initrd\nshell\n");
    let mut config = config();
    config.rc = Some(rc.path.clone());
    let (mut vm, _initrd) = Vm::boot_firecracker(config);
    vm.expect("rc from the initrd\r\n");
    vm.expect(PROMPT);
    // What Firecracker does not have is not on QEMU's command line.
    let command = {
        let mut c = kiln_tests::config();
        c.machine = Machine::Firecracker;
        c.command(Path::new("qemu"))
    };
    let words: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    for absent in ["isa-debug-exit", "-fw_cfg", "-pci"] {
        assert!(
            !words.iter().any(|w| w.contains(absent)),
            "{absent} in {words:?}"
        );
    }
    assert!(words.iter().any(|w| w == "-no-reboot"), "{words:?}");
    assert!(words.iter().any(|w| w.contains("pcie=off")), "{words:?}");
    assert_eq!(vm.run("echo $?"), "0\r\n");
    vm.send_line("poweroff 6");
    vm.wait_exit_within(BOOT_TIMEOUT);
    assert_eq!(
        status::guest_status_from_line(vm.qemu_exit_code(), &vm.transcript()),
        Some(6)
    );
}

#[test]
fn the_launchers_exit_code_is_the_status_of_an_rc_from_the_initrd() {
    let rc = TempFile::new("rc", b"echo from the initrd\npoweroff 42\n");
    let output = launcher()
        .args(["--machine", "firecracker", "--accel", "tcg", "--rc"])
        .arg(&rc.path)
        .stdin(Stdio::null())
        .output()
        .expect("the launcher runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("from the initrd"), "{stdout}");
    assert_eq!(output.status.code(), Some(42), "{stdout}");
    // A reset ends QEMU too (Firecracker stops on it); the launcher says so.
    let rc = TempFile::new("rc", b"reboot\n");
    let output = launcher()
        .args(["--machine", "firecracker", "--accel", "tcg", "--rc"])
        .arg(&rc.path)
        .stdin(Stdio::null())
        .output()
        .expect("the launcher runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the guest reset (reboot)"), "{stderr}");
}

#[test]
fn programs_and_files_travel_in_the_initrd_too() {
    let motd = TempFile::new("motd", b"from the boot module\n");
    let rc = TempFile::new(
        "rc",
        b"busybox cat /motd\nbusybox echo 'two  words'\nshell\n",
    );
    let mut config = config();
    config.rc = Some(rc.path.clone());
    config.programs = vec![kiln::programs::BakedProgram {
        name: "busybox".into(),
        path: kiln_tests::busybox_static(),
    }];
    config.files = vec![kiln::files::BakedFile {
        name: "motd".into(),
        path: motd.path.clone(),
    }];
    let (mut vm, _initrd) = Vm::boot_firecracker(config);
    vm.expect("from the boot module\r\ntwo  words\r\n");
    vm.expect(PROMPT);
}

#[test]
fn a_plain_text_initrd_and_a_one_line_kiln_rc_are_rc_scripts_on_microvm() {
    let rc = TempFile::new("rc", b"echo plain text module\npoweroff 5\n");
    let mut config = config();
    config.machine = Machine::Microvm;
    config.initrd = Some(rc.path.clone());
    let mut vm = Vm::boot(&config);
    vm.expect("plain text module\r\n");
    assert_eq!(vm.wait_exit_within(BOOT_TIMEOUT), Some(5));

    let mut config = kiln_tests::config();
    config.machine = Machine::Microvm;
    config.append = r#"kiln.rc="echo one line; echo  two  ; poweroff 4""#.into();
    let mut vm = Vm::boot(&config);
    vm.expect("one line\r\ntwo\r\n");
    assert_eq!(vm.wait_exit_within(BOOT_TIMEOUT), Some(4));
}

#[test]
fn fw_cfg_comes_before_the_initrd_which_comes_before_kiln_rc() {
    let by_fw_cfg = TempFile::new("rc", b"echo by fw_cfg\npoweroff 1\n");
    let by_module = TempFile::new("rc", b"echo by the module\npoweroff 2\n");
    let mut config = config();
    config.machine = Machine::Microvm;
    config.rc = Some(by_fw_cfg.path.clone());
    config.initrd = Some(by_module.path.clone());
    config.append = r#"kiln.rc="echo by the command line; poweroff 3""#.into();
    let mut vm = Vm::boot(&config);
    assert_eq!(vm.wait_exit_within(BOOT_TIMEOUT), Some(1));
    config.rc = None;
    let mut vm = Vm::boot(&config);
    assert_eq!(vm.wait_exit_within(BOOT_TIMEOUT), Some(2));
    config.initrd = None;
    let mut vm = Vm::boot(&config);
    assert_eq!(vm.wait_exit_within(BOOT_TIMEOUT), Some(3));
}

#[test]
fn a_hundred_boots_in_a_row_power_off_with_the_right_status() {
    for round in 0..100u8 {
        let status = round % 7;
        let (got, transcript) = firecracker_status(&format!("poweroff {status}\n"));
        assert_eq!(got, Some(status), "firecracker boot {round}:\n{transcript}");
        let rc = TempFile::new("rc", format!("poweroff {status}\n").as_bytes());
        let mut config = config();
        config.machine = Machine::Microvm;
        config.rc = Some(rc.path.clone());
        let mut vm = Vm::boot(&config);
        assert_eq!(
            vm.wait_exit_within(BOOT_TIMEOUT),
            Some(status),
            "microvm boot {round}:\n{}",
            vm.transcript()
        );
    }
}
