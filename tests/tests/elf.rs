//! Unmodified static Linux executables as kiln jobs: C with musl and with glibc
//! (static-pie), Rust std, and Debian's BusyBox, each in its own address space.

use std::path::{Path, PathBuf};
use std::process::Command;

use kiln::files::BakedFile;
use kiln::programs::BakedProgram;
use kiln_tests::{
    Build, PROMPT, TempFile, Vm, Xorshift, busybox_static, config, memstat_figure, test_program,
};

/// Boots a shell with these programs baked in.
fn boot_with(programs: &[(&str, PathBuf)]) -> (Vm, TempFile) {
    let mut config = config();
    config.programs = programs
        .iter()
        .map(|(name, path)| BakedProgram {
            name: name.to_string(),
            path: path.clone(),
        })
        .collect();
    Vm::boot_shell_with(config)
}

fn crash_program() -> PathBuf {
    test_program("crash.c", Build::Musl)
}

/// The lines of `output` (the console's CRLF ends turned into LF).
fn unix(output: &str) -> String {
    output.replace("\r\n", "\n")
}

#[test]
fn c_and_rust_programs_get_their_argv_env_and_status() {
    let (mut vm, _rc) = boot_with(&[
        ("hello", test_program("hello.c", Build::Musl)),
        ("pie", test_program("hello.c", Build::GlibcStaticPie)),
        ("rhello", test_program("hello.rs", Build::RustStd)),
        ("random", test_program("random.c", Build::Musl)),
    ]);
    assert_eq!(
        unix(&vm.run("hello 5 'two  words' \"\"")),
        "argc=4\nargv[0]=[hello]\nargv[1]=[5]\nargv[2]=[two  words]\nargv[3]=[]\nX=[(unset)]\n"
    );
    assert_eq!(vm.run("echo $?"), "5\r\n");
    assert_eq!(
        unix(&vm.run("X=1 pie 0")),
        "argc=2\nargv[0]=[pie]\nargv[1]=[0]\nX=[1]\n"
    );
    assert_eq!(vm.run("echo $?"), "0\r\n");
    assert_eq!(
        unix(&vm.run("X=r rhello 7 x")),
        "rust argc=3\nargv[0]=[rhello]\nargv[1]=[7]\nargv[2]=[x]\nX=[r]\nsum=4999950000\n"
    );
    assert_eq!(vm.run("echo $?"), "7\r\n");
    // AT_RANDOM and getrandom: 16 fresh bytes each time, from the CPU's RDRAND (the
    // board says so on the console when it has to fall back on the TSC).
    let mut seen = Vec::new();
    for _ in 0..2 {
        for line in vm.run("random").lines() {
            assert_eq!(line.len(), 32, "{line:?}");
            assert_ne!(line, "0".repeat(32));
            assert!(!seen.contains(&line.to_string()), "{line} twice: {seen:?}");
            seen.push(line.to_string());
        }
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(
        !vm.transcript().contains("no RDRAND"),
        "{}",
        vm.transcript()
    );
    // `programs` lists them beside the native ones, as ELF.
    let programs = vm.run("programs");
    for name in ["hello", "pie", "rhello"] {
        let row = programs
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} not listed:\n{programs}"));
        assert!(row.contains("(ELF)"), "{row}");
    }
}

/// What `line` prints on the host, run by `sh` in `files/` (the baked files) with
/// `busybox` being the same binary.
fn on_host(busybox: &Path, line: &str) -> String {
    let files = Path::new(env!("CARGO_MANIFEST_DIR")).join("../files");
    let output = Command::new("sh")
        .arg("-c")
        .arg(line.replace("busybox", &busybox.display().to_string()))
        .current_dir(&files)
        .output()
        .expect("sh runs on the host");
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[test]
fn a_file_baked_with_dash_dash_file_reads_back_byte_for_byte() {
    let busybox = busybox_static();
    let data = TempFile::new("data.bin", &Xorshift::new(0x66696c65).bytes(1 << 20));
    let mut config = config();
    config.programs = vec![BakedProgram {
        name: "busybox".into(),
        path: busybox.clone(),
    }];
    config.files = vec![BakedFile {
        name: "data.bin".into(),
        path: data.path.clone(),
    }];
    let (mut vm, _rc) = Vm::boot_shell_with(config);
    let on_host = Command::new(&busybox)
        .args(["md5sum"])
        .stdin(std::fs::File::open(&data.path).unwrap())
        .output()
        .unwrap();
    let host_sum = String::from_utf8(on_host.stdout).unwrap();
    let host_sum = host_sum.split_whitespace().next().unwrap();
    assert_eq!(
        unix(&vm.run("busybox md5sum /data.bin")),
        format!("{host_sum}  /data.bin\n")
    );
    // Native programs see it too, beside the repo's files.
    assert_eq!(
        unix(&vm.run("cat /data.bin | busybox md5sum")),
        format!("{host_sum}  -\n")
    );
    let listed = unix(&vm.run("busybox ls -1 /"));
    assert!(listed.lines().any(|l| l == "data.bin"), "{listed}");
    assert!(listed.lines().any(|l| l == "default.rules"), "{listed}");
}

#[test]
fn busybox_applets_print_byte_for_byte_what_they_print_on_the_host() {
    let busybox = busybox_static();
    let (mut vm, _rc) = boot_with(&[("busybox", busybox.clone())]);
    // (in kiln, on the host): the baked files are at / in kiln, in files/ on the host.
    let cases = [
        ("busybox echo a 'b  c' ''", "busybox echo a 'b  c' ''"),
        ("busybox seq 1 3 20", "busybox seq 1 3 20"),
        ("busybox cat /default.rules", "busybox cat default.rules"),
        (
            "busybox head -n 3 /default.rules",
            "busybox head -n 3 default.rules",
        ),
        (
            "busybox cat /default.rules | busybox sort",
            "busybox sort < default.rules",
        ),
        (
            "busybox cat /default.rules | busybox tr a-z A-Z",
            "busybox tr a-z A-Z < default.rules",
        ),
        (
            "busybox cat /default.rules | busybox md5sum",
            "busybox md5sum < default.rules",
        ),
        (
            "busybox cat /default.rules | busybox wc -l",
            "busybox wc -l < default.rules",
        ),
        // Not a terminal on the host: one name a line, as -1 asks in kiln.
        ("busybox ls -1 /", "busybox ls"),
        ("busybox seq 5 | busybox wc", "busybox seq 5 | busybox wc"),
    ];
    for (line, host_line) in cases {
        let guest = unix(&vm.run(line));
        assert_eq!(
            guest,
            on_host(&busybox, host_line),
            "`{line}` in kiln and on the host"
        );
    }
    // Pipes between native programs and ELF jobs, both ways.
    assert_eq!(
        unix(&vm.run("producer 3 | busybox tr a-z A-Z")),
        "LINE 1\nLINE 2\nLINE 3\n"
    );
    assert_eq!(unix(&vm.run("busybox seq 3 | upper")), "1\n2\n3\n");
    // The baked files are read-only: creating one is EROFS.
    let created = vm.run("busybox cp /rc /copy");
    assert!(created.contains("Read-only file system"), "{created}");
    // A missing file is ENOENT, as on Linux.
    let missing = vm.run("busybox cat /nosuch");
    assert!(missing.contains("No such file or directory"), "{missing}");
    assert_eq!(vm.run("echo $?"), "1\r\n");
}

#[test]
fn crashes_end_only_their_job_with_the_status_a_shell_shows() {
    let (mut vm, _rc) = boot_with(&[("ccrash", crash_program())]);
    vm.run("sleep 1h &");
    for (how, status, report) in [
        // The report names the function: the test program has its symbols.
        (
            "null",
            139,
            "segmentation fault: page fault at address 0x0 (error code 0x7) at rip 0x",
        ),
        ("kernel", 139, "page fault at address 0x100000"),
        ("heap", 139, "page fault at address 0x1000000"),
        ("stacks", 139, "page fault at address 0x1000000000"),
        ("text", 139, "segmentation fault: page fault at address 0x4"),
        ("divzero", 136, "divide error"),
        ("ud2", 132, "invalid opcode"),
        ("abort", 134, ""),
    ] {
        let output = vm.run(&format!("ccrash {how}"));
        assert!(
            output.contains(report) && !output.contains("still here"),
            "{how}: {output}"
        );
        if !report.is_empty() {
            assert!(
                output.starts_with("ccrash: "),
                "the report names the program: {output}"
            );
        }
        assert_eq!(vm.run("echo $?"), format!("{status}\r\n"), "{how}");
    }
    let null = vm.run("ccrash null");
    assert!(
        null.contains(" (main+0x"),
        "no function in the report: {null}"
    );
    // Ctrl-C of a program computing in a loop (no syscall to notice it in) ends it as
    // SIGINT would, at once, not after the forced kill's grace.
    vm.send_line("ccrash spin");
    vm.expect("ccrash spin\r\n");
    vm.send_bytes(b"\x03");
    vm.expect(PROMPT);
    assert_eq!(vm.run("echo $?"), "130\r\n");
    // Syscall arguments that point at the kernel, or ask for all memory, are errors.
    assert_eq!(
        vm.run("ccrash hostile"),
        "hostile: write errno 14, mmap failed, fixed errno 12, brk refused\r\n"
    );
    // The code it tried to write is intact for the next run.
    assert!(vm.run("ccrash none").contains("still here"));
    // The rest goes on: the background job and the shell.
    assert!(vm.run("jobs").contains("running sleep 1h"));
    // An unsupported syscall says so, once, and fails.
    let output = vm.run("ccrash syscall");
    assert!(
        output.contains("kiln: ccrash: syscall 999 (unknown) not supported\r\n")
            && output.contains("syscall 999 returned -1"),
        "{output}"
    );
    assert_eq!(vm.run("echo $?"), "3\r\n");
}

#[test]
fn a_hundred_crashes_leave_the_heap_as_it_was() {
    let (mut vm, _rc) = boot_with(&[("ccrash", crash_program())]);
    let used = |vm: &mut Vm| memstat_figure(&vm.run("memstat"), "used=");
    vm.run("repeat 5 ccrash kernel");
    let before = used(&mut vm);
    vm.run("repeat 25 ccrash kernel");
    let after_n = used(&mut vm);
    vm.run("repeat 75 ccrash null");
    let after_3n = used(&mut vm);
    // 75 more crashes may not add what 25 did not: no growth per crash.
    assert!(
        after_3n - after_n <= 1024 && after_n - before <= 1024,
        "the heap grew: {before} -> {after_n} (25 crashes) -> {after_3n} (75 more)"
    );
    // A program that asks for all the memory gets NULL from malloc, not a dead kernel,
    // and gives it all back.
    for _ in 0..2 {
        let output = vm.run("ccrash hog");
        assert!(output.starts_with("hog: malloc failed after "), "{output}");
        assert_eq!(vm.run("echo $?"), "0\r\n");
        // (Within a page: the shell's history holds the lines typed meanwhile.)
        let now = used(&mut vm);
        assert!(
            (now - after_3n).abs() <= 4096,
            "the hog's memory did not all come back: {after_3n} then {now}"
        );
    }
}

#[test]
fn ctrl_c_ends_a_sleeping_busybox_and_parallel_sleeps_overlap() {
    let (mut vm, _rc) = boot_with(&[("busybox", busybox_static())]);
    vm.send_line("busybox sleep 60");
    vm.expect("busybox sleep 60\r\n");
    vm.send_bytes(b"\x03");
    vm.expect(PROMPT);
    assert_eq!(vm.run("echo $?"), "130\r\n");
    // SIGTERM is 143: a process that sends it to itself.
    assert_eq!(vm.run("busybox sh -c 'kill $$'; echo $?"), "143\r\n");
    // `kill` of the job: 143 once the program sees the cancel, or the forced end
    // (`killed`) when a loaded host did not run it within the grace.
    assert_eq!(vm.run("busybox sleep 60 &"), "[1]\r\n");
    let mut listing = vm.run("kill %1");
    assert!(
        listing.starts_with("[1] stopping busybox sleep 60"),
        "{listing}"
    );
    let deadline = std::time::Instant::now() + kiln_tests::DEFAULT_TIMEOUT;
    while !listing.contains("[1]+ done(143) busybox sleep 60")
        && !listing.contains("[1]+ killed busybox sleep 60")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "never ended: {listing}"
        );
        listing += &vm.run("jobs");
    }
    // Two 2 s sleeps side by side take about 2 s, not 4 (a loose bound: TCG is slow,
    // but a sleep does not compute).
    let seconds = |text: &str| -> f64 {
        text.trim()
            .trim_start_matches("up ")
            .trim_end_matches(" s")
            .parse()
            .unwrap_or_else(|_| panic!("uptime said {text:?}"))
    };
    let start = seconds(&vm.run("uptime"));
    vm.run("busybox sleep 2 & busybox sleep 2 & wait");
    let took = seconds(&vm.run("uptime")) - start;
    assert!(
        (2.0..3.6).contains(&took),
        "two parallel 2 s sleeps took {took:.3} s"
    );
}

#[test]
fn fork_exec_wait_and_pipes_run_busybox_sh_pipelines() {
    let (mut vm, _rc) = boot_with(&[
        ("busybox", busybox_static()),
        ("forker", test_program("fork.c", Build::Musl)),
        ("ccrash", crash_program()),
        ("elfbench", test_program("elfbench.c", Build::Musl)),
        (
            "first-instruction",
            test_program("first_instruction.c", Build::NoLibc),
        ),
    ]);
    // A burst of fork + execve + wait (the bench's spawn loop): each child's thread
    // needs fresh stack pages; once in about 150 a burst used up the ready ones and the
    // child ended with 126 before its first instruction.
    let spawned = unix(&vm.run("elfbench spawn 400 /bin/first-instruction"));
    assert!(
        spawned.starts_with("elfbench spawn_ns p50=") && spawned.ends_with(" n=400\n"),
        "{spawned}"
    );
    let calls = unix(&vm.run("elfbench getpid 1000"));
    assert!(calls.starts_with("elfbench getpid_ns per_call="), "{calls}");
    // A C program's own fork, waitpid and pipe.
    let forked = unix(&vm.run("forker"));
    assert!(
        forked.contains("child pid ")
            && forked.contains("exited=1 status=3")
            && forked.contains("read 17: through the pipe"),
        "{forked}"
    );
    // BusyBox's shell: pipelines of applets (fork, then exec of /proc/self/exe), loops,
    // its status, and xargs.
    assert_eq!(unix(&vm.run("busybox sh -c 'seq 3 | wc -l'")), "3\n");
    assert_eq!(
        unix(&vm.run("busybox sh -c 'for i in 1 2 3; do echo $i; done | tr 123 abc'")),
        "a\nb\nc\n"
    );
    assert_eq!(
        unix(&vm.run("busybox sh -c 'seq 1 200 | sort -rn | head -2; exit 4'")),
        "200\n199\n"
    );
    assert_eq!(vm.run("echo $?"), "4\r\n");
    assert_eq!(
        unix(&vm.run("busybox seq 3 | busybox xargs -n1 echo x")),
        "x 1\nx 2\nx 3\n"
    );
    // The shell finds other baked programs on its PATH; a crash there is the child's.
    let crashed = unix(&vm.run("busybox sh -c 'ccrash null; echo after $?'"));
    assert!(
        crashed.ends_with("Segmentation fault\nafter 139\n"),
        "{crashed}"
    );
    // Pipelines in a loop leave nothing behind: 60 more add what 20 did not.
    let used = |vm: &mut Vm| memstat_figure(&vm.run("memstat"), "used=");
    vm.run("repeat 5 busybox sh -c 'seq 3 | wc -l'");
    let before = used(&mut vm);
    vm.run("repeat 20 busybox sh -c 'seq 3 | wc -l'");
    let after_n = used(&mut vm);
    vm.run("repeat 60 busybox sh -c 'seq 3 | wc -l'");
    let after_3n = used(&mut vm);
    assert!(
        after_3n - after_n <= 4096 && after_n - before <= 4096,
        "pipelines leak: {before} -> {after_n} (20) -> {after_3n} (60 more)"
    );
    // Ctrl-C ends the shell and its children.
    vm.send_line("busybox sh -c 'sleep 60 | cat'");
    vm.expect("busybox sh -c 'sleep 60 | cat'\r\n");
    // (A Ctrl-C that comes before the shell started stops it as it starts.)
    vm.send_bytes(b"\x03");
    vm.expect(PROMPT);
    assert_eq!(vm.run("echo $?"), "130\r\n");
}
