//! Baked utilities through the serial shell: fw, memstat, programs; and the registry's
//! duplicate-name check, which must fail the build.

use std::process::Command;

use kiln_tests::{Vm, memstat_figure};

#[test]
fn fw_add_list_test_del_and_flush() {
    let (mut vm, _rc) = Vm::boot_shell();
    assert!(vm.run("fw list").contains("policy: pass"));
    vm.run("fw add block in quick proto tcp to any port 7 label echo");
    vm.run("fw add pass in proto tcp from 10.0.2.0/24 to any port 22");
    let list = vm.run("fw list");
    assert!(
        list.contains("1: block in quick proto tcp to any port 7 label echo packets=0 bytes=0"),
        "{list}"
    );
    assert!(
        list.contains("2: pass in proto tcp from 10.0.2.0/24 to any port 22"),
        "{list}"
    );
    let verdict = vm.run("fw test in tcp 10.0.2.2:4000 10.0.2.15:7; echo status $?");
    assert!(
        verdict.contains("block (rule 1: block in quick proto tcp to any port 7"),
        "{verdict}"
    );
    assert!(verdict.contains("status 1"), "{verdict}");
    let verdict = vm.run("fw test in tcp 10.0.2.2:4000 10.0.2.15:22; echo status $?");
    assert!(
        verdict.contains("pass (rule 2:") && verdict.contains("status 0"),
        "{verdict}"
    );
    // The deciding rule counted the test packet.
    assert!(vm.run("fw list").contains("label echo packets=1 bytes=64"));
    vm.run("fw del 1");
    let list = vm.run("fw list");
    assert!(
        !list.contains("port 7") && list.contains("1: pass in proto tcp"),
        "{list}"
    );
    vm.run("fw flush");
    let list = vm.run("fw list");
    assert!(
        !list.contains("1:") && list.contains("policy: pass"),
        "{list}"
    );
    // A bad rule names the column and changes nothing.
    let error = vm.run("fw add block in proto tcp to any port 70000; echo status $?");
    assert!(
        error.contains("column") && error.contains("bad port '70000'"),
        "{error}"
    );
    assert!(error.contains("status 1"), "{error}");
}

#[test]
fn a_bad_ruleset_leaves_the_old_table() {
    let (mut vm, _rc) = Vm::boot_shell();
    let loaded = vm.run("fw load default.rules");
    assert!(loaded.contains("loaded"), "{loaded}");
    let before = vm.run("fw list");
    let error = vm.run("fw load bad.rules; echo status $?");
    assert!(error.contains("bad.rules:3:"), "{error}");
    assert!(error.contains("status 1"), "{error}");
    assert_eq!(vm.run("fw list"), before, "a failed load changed the table");
    let check = vm.run("fw check default.rules");
    assert!(check.contains("ok"), "{check}");
}

fn used(memstat: &str) -> i64 {
    memstat_figure(memstat, "used=")
}

fn stack_pages(memstat: &str) -> i64 {
    memstat_figure(memstat, "stack_pages=")
}

#[test]
fn memstat_sees_what_a_program_allocates() {
    let (mut vm, _rc) = Vm::boot_shell();
    let before = used(&vm.run("memstat"));
    // A firewall rule is kept by the kernel after `fw` ends.
    for port in 1000..1020 {
        vm.run(&format!("fw add block in proto tcp to any port {port}"));
    }
    let after = used(&vm.run("memstat"));
    assert!(after > before, "used {before} -> {after}");
    // A running job holds its records and a page of stack (taken from a chunk the
    // stack pool holds already, so `used=` grows by the records alone); memstat sees
    // both come and go.
    let pages_before = stack_pages(&vm.run("memstat"));
    vm.run("sleep 3600 &");
    let with_job_line = vm.run("memstat");
    let with_job = used(&with_job_line);
    assert!(
        with_job > after + 512,
        "used {after} -> {with_job} with a job running"
    );
    assert_eq!(
        stack_pages(&with_job_line),
        pages_before + 1,
        "{with_job_line}"
    );
    vm.run("kill sleep; wait sleep");
    let without = used(&vm.run("memstat"));
    assert!(
        without < with_job,
        "used {with_job} -> {without} after the job ended"
    );
}

#[test]
fn programs_lists_everything_baked_and_each_answers_help() {
    let (mut vm, _rc) = Vm::boot_shell();
    let listing = vm.run("programs");
    let names: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for expected in [
        "echo", "true", "false", "sleep", "args", "upper", "ret", "cat", "ls", "burn", "crash",
        "memstat", "fw",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from:\n{listing}"
        );
    }
    for name in &names {
        let help = vm.run(&format!("{name} --help; echo status $?"));
        assert!(help.contains("usage:"), "{name} --help:\n{help}");
        assert!(help.contains("status 0"), "{name} --help:\n{help}");
    }
    let files = vm.run("ls");
    assert!(
        files.contains("default.rules") && files.contains("rc"),
        "{files}"
    );
    assert!(vm.run("cat default.rules").contains("block in quick"));
}

#[test]
fn two_programs_with_one_name_do_not_compile() {
    let fixture = kiln::image::workspace_root().join("tests/fixtures/duplicate-program");
    let output = Command::new(env!("CARGO"))
        .args(["check", "--quiet", "--manifest-path"])
        .arg(fixture.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(kiln::image::workspace_root().join("target/fixtures"))
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the duplicate registry compiled");
    assert!(
        stderr.contains("two baked programs share a name"),
        "the build failed for another reason:\n{stderr}"
    );
}
