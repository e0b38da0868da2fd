//! The launcher as a user runs it: `cargo run --release` with stdin from a pipe.

use std::io::Write;
use std::process::{Command, Stdio};

fn launcher() -> Command {
    let path = kiln::image::build_launcher().unwrap_or_else(|e| panic!("{e}"));
    kiln_tests::qemu_path();
    let mut command = Command::new(path);
    command.env("CARGO", env!("CARGO"));
    command
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
        (vec!["--frobnicate"], "unknown flag '--frobnicate'"),
    ] {
        let output = launcher().args(&args).output().expect("launcher runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
