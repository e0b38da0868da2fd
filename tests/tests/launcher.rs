//! The launcher as a user runs it: `cargo run --release` with stdin from a pipe; and
//! what a `kill -9` of the launcher, or of a test process, leaves behind: no QEMU.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kiln_tests::{PROMPT, Vm};

/// How long a QEMU may take to go after its parent was killed: a bound on liveness,
/// generous for a loaded machine, not a measure of speed.
const QEMU_GONE_TIMEOUT: Duration = Duration::from_secs(10);
/// Set for the test process that `a_killed_test_process_leaves_no_qemu` starts, so
/// that `holds_a_vm_until_killed` holds a VM there (and does nothing anywhere else).
const HOLD_VM_ENV: &str = "KILN_TEST_HOLD_A_VM";
/// What that test process prints once its VM is at the prompt.
const HOLDING_MARK: &str = "holding a VM at the prompt";

use kiln_tests::launcher;

/// One process as /proc/PID/stat shows it.
struct Stat {
    comm: String,
    state: char,
    ppid: u32,
    /// Clock ticks after boot when it started: tells a reused pid apart.
    start_time: u64,
}

/// Parses /proc/PID/stat; `None` once the process is gone.
fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let (head, rest) = text.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_string();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 3, 4 and 22 of proc_pid_stat(5), counted after comm (field 2).
    Some(Stat {
        comm,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// The QEMU processes whose parent is `parent`, with their start times.
fn qemu_children(parent: u32) -> Vec<(u32, u64)> {
    let entries = std::fs::read_dir("/proc").expect("read /proc");
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, stat(pid)?)))
        .filter(|(_, stat)| stat.ppid == parent && stat.comm.starts_with("qemu"))
        .map(|(pid, stat)| (pid, stat.start_time))
        .collect()
}

/// True while that very process runs (a zombie no longer does: it waits for a reaper
/// that may never come, e.g. a container's init).
fn running(pid: u32, start_time: u64) -> bool {
    stat(pid).is_some_and(|s| s.start_time == start_time && !matches!(s.state, 'Z' | 'X'))
}

/// Finds the one QEMU that `vm`'s process started, SIGKILLs that process, and fails
/// unless the QEMU is gone within [`QEMU_GONE_TIMEOUT`].
fn kill_and_expect_qemu_gone(vm: &mut Vm, what: &str) {
    let qemus = qemu_children(vm.pid());
    let &[(qemu, start_time)] = qemus.as_slice() else {
        vm.fail(&format!(
            "want exactly one QEMU child of the {what}, found {qemus:?}"
        ));
    };
    vm.kill();
    let deadline = Instant::now() + QEMU_GONE_TIMEOUT;
    while running(qemu, start_time) {
        if Instant::now() > deadline {
            // Not left behind for the next test run.
            let _ = Command::new("kill")
                .args(["-9", &qemu.to_string()])
                .status();
            vm.fail(&format!(
                "QEMU {qemu} still ran {QEMU_GONE_TIMEOUT:?} after its {what} was killed"
            ));
        }
        // Polling /proc for the process's end, not synchronising with the guest.
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn piped_stdin_reaches_the_console_and_the_exit_status_is_the_guests() {
    let mut child = launcher()
        .args(["--accel", "tcg"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the launcher");
    // Written at once: the launcher holds input until the guest's console is up.
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(b"echo from a pipe\npoweroff 9\n")
        .expect("write stdin");
    let output = child.wait_with_output().expect("launcher runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("kiln 0.1.0"), "no banner:\n{stdout}");
    assert!(stdout.contains("kiln> "), "no prompt:\n{stdout}");
    assert!(stdout.contains("from a pipe\r\n"), "no echo:\n{stdout}");
    assert_eq!(output.status.code(), Some(9), "stdout:\n{stdout}");
}

#[test]
fn print_image_prints_the_elf_path() {
    let output = launcher()
        .arg("--print-image")
        .output()
        .expect("launcher runs");
    assert!(output.status.success());
    let path = String::from_utf8_lossy(&output.stdout).trim().to_string();
    let bytes = std::fs::read(&path).expect("the printed path exists");
    assert_eq!(&bytes[..4], b"\x7fELF");
}

#[test]
fn bad_flags_are_reported_with_status_2() {
    for (args, message) in [
        (vec!["--machine", "q35"], "unknown machine 'q35'"),
        (vec!["--accel", "hvf"], "unknown accelerator 'hvf'"),
        (vec!["--mem", "lots"], "'lots' is not a size"),
        (vec!["--rc", "/nonexistent/rc"], "no such file"),
        (vec!["--frobnicate"], "unexpected argument '--frobnicate'"),
    ] {
        let output = launcher().args(&args).output().expect("launcher runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

#[test]
fn killing_the_launcher_kills_its_qemu() {
    let child = launcher()
        .args(["--accel", "tcg"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the launcher");
    let mut vm = Vm::attach(child);
    vm.expect(PROMPT);
    kill_and_expect_qemu_gone(&mut vm, "launcher");
}

#[test]
fn a_killed_test_process_leaves_no_qemu() {
    // Built here, so the test process below has nothing to build.
    kiln_tests::image_path();
    kiln_tests::qemu_path();
    let mut command = Command::new(std::env::current_exe().expect("this test binary"));
    command
        .args([
            "holds_a_vm_until_killed",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(HOLD_VM_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = kiln::child::die_with_parent(&mut command)
        .spawn()
        .expect("start a test process");
    let mut vm = Vm::attach(child);
    vm.expect(HOLDING_MARK);
    kill_and_expect_qemu_gone(&mut vm, "test process");
}

/// Run by `a_killed_test_process_leaves_no_qemu` in a test process of its own: boots a
/// VM with the harness, says so, and waits to be killed.
#[test]
#[ignore = "a helper: a_killed_test_process_leaves_no_qemu runs it"]
fn holds_a_vm_until_killed() {
    if std::env::var_os(HOLD_VM_ENV).is_none() {
        return;
    }
    let (_vm, _rc) = Vm::boot_shell();
    println!("{HOLDING_MARK}");
    loop {
        std::thread::park();
    }
}
