//! The console shell over serial, and the keyboard + VGA console through QEMU's monitor.

use std::time::{Duration, Instant};

use kiln_tests::{Monitor, PROMPT, TempFile, VGA_COLUMNS, Vm, Xorshift, config};

const CTRL_C: &[u8] = b"\x03";
const CTRL_D: u8 = 0x04;
const UP_ARROW: &[u8] = b"\x1b[A";
const TAB: &[u8] = b"\t";

#[test]
fn runs_a_baked_program_with_arguments() {
    let (mut vm, _rc) = Vm::boot_shell();
    let output = vm.run("args one 'two three' \"\"");
    assert_eq!(output, "[one]\r\n[two three]\r\n[]\r\n");
    let output = vm.run("ret 3; echo status $?");
    assert_eq!(output, "status 3\r\n");
}

#[test]
fn background_job_listed_killed_and_gone() {
    let (mut vm, _rc) = Vm::boot_shell();
    vm.run("sleep 30 &");
    let jobs = vm.run("jobs");
    assert!(jobs.contains("[1]+ running sleep 30"), "{jobs}");
    // The job ends (cancelled) and is reported once as ended: announced before a
    // prompt, or listed by `jobs`, whichever comes first.
    let mut ended = vm.run("kill %1");
    let deadline = Instant::now() + kiln_tests::DEFAULT_TIMEOUT;
    while !ended.contains("done(130)") && Instant::now() < deadline {
        ended = vm.run("jobs");
    }
    assert!(ended.contains("[1]+ done(130) sleep 30"), "{ended}");
    let after = vm.run("jobs");
    assert!(
        !after.contains("sleep"),
        "a reported job is forgotten: {after}"
    );
}

#[test]
fn ctrl_c_interrupts_a_foreground_job() {
    let (mut vm, _rc) = Vm::boot_shell();
    vm.send_line("sleep 30");
    vm.expect("sleep 30\r\n");
    let sent = Instant::now();
    vm.send_bytes(CTRL_C);
    vm.expect(PROMPT);
    // Not a timing assertion on speed: only that it did not wait out the 30 s sleep.
    assert!(sent.elapsed() < Duration::from_secs(25));
    assert_eq!(vm.run("echo $?"), "130\r\n");
}

#[test]
fn up_arrow_recalls_history() {
    let (mut vm, _rc) = Vm::boot_shell();
    vm.run("echo from history");
    vm.send_bytes(UP_ARROW);
    // The editor redraws the recalled line (and erases the rest of the row).
    vm.expect("echo from history");
    vm.send_bytes(b"\r");
    vm.expect("\r\nfrom history\r\n");
    vm.expect(PROMPT);
}

#[test]
fn tab_completes_a_unique_program_name() {
    let (mut vm, _rc) = Vm::boot_shell();
    vm.send_bytes(b"mems");
    vm.send_bytes(TAB);
    vm.send_bytes(b"\r");
    vm.expect("memstat \r\n");
    vm.expect("heap: size=");
    vm.expect(PROMPT);
}

#[test]
fn ps_lists_a_running_job() {
    let (mut vm, _rc) = Vm::boot_shell();
    vm.run("sleep 60 &");
    let ps = vm.run("ps");
    assert!(
        ps.contains("ID") && ps.contains("NAME") && ps.contains("CPU"),
        "{ps}"
    );
    let row = ps
        .lines()
        .find(|l| l.contains("sleep"))
        .unwrap_or_else(|| panic!("no sleep row:\n{ps}"));
    assert!(row.contains("running"), "{row}");
}

#[test]
fn parse_errors_show_a_caret() {
    let (mut vm, _rc) = Vm::boot_shell();
    let output = vm.run("echo ok && fi");
    assert!(
        output.contains("shell:1:9: expected a command after '&&'"),
        "{output}"
    );
    assert!(output.contains("\r\n            ^^\r\n"), "{output}");
}

#[test]
fn random_bytes_then_echo_alive() {
    let (mut vm, _rc) = Vm::boot_shell();
    let mut rng = Xorshift::new(0x5eed);
    // Avoid the power words and `exit` only by chance: the bytes are random. Ctrl-D
    // on an empty line leaves the shell, as in sh, so it is left out.
    let garbage: Vec<u8> = rng
        .bytes(64 * 1024)
        .into_iter()
        .filter(|&b| b != CTRL_D)
        .collect();
    for chunk in garbage.chunks(512) {
        vm.send_bytes(chunk);
    }
    vm.send_bytes(CTRL_C);
    vm.send_line("echo alive");
    vm.expect("alive\r\n");
}

#[test]
fn keyboard_and_vga_console() {
    let socket = TempFile::new("monitor.sock", b"");
    let _ = std::fs::remove_file(&socket.path);
    let mut config = config();
    config.vga = true;
    config.monitor_socket = Some(socket.path.clone());
    let (vm, _rc) = Vm::boot_shell_with(config);
    let mut monitor = Monitor::connect(&socket.path);
    let deadline = Instant::now() + kiln_tests::DEFAULT_TIMEOUT;
    while !monitor
        .screen()
        .iter()
        .any(|l| l.starts_with(PROMPT.trim_end()))
    {
        if Instant::now() > deadline {
            vm.fail(&format!(
                "no prompt on the VGA screen:\n{:#?}",
                monitor.screen()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    monitor.type_text("args vga-typed 42\n");
    let deadline = Instant::now() + kiln_tests::DEFAULT_TIMEOUT;
    loop {
        let screen = monitor.screen();
        let typed = screen.iter().any(|l| l == "kiln> args vga-typed 42");
        let output =
            screen.iter().any(|l| l == "[vga-typed]") && screen.iter().any(|l| l == "[42]");
        if typed && output {
            break;
        }
        if Instant::now() > deadline {
            vm.fail(&format!(
                "command or output missing on the VGA screen:\n{screen:#?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The serial console is a separate session and saw none of it.
    assert!(!vm.transcript().contains("vga-typed"));

    // Delete removes the character under the cursor (Backspace the one before it).
    monitor.type_text("args abc");
    monitor.press(&["left", "delete", "ret"]);
    monitor.type_text("args xyz");
    monitor.press(&["left", "backspace", "ret"]);
    let deadline = Instant::now() + kiln_tests::DEFAULT_TIMEOUT;
    loop {
        let screen = monitor.screen();
        let ran = |arg: &str| screen.iter().any(|l| l == arg);
        if ran("[ab]") && ran("[xz]") {
            break;
        }
        if ran("[ac]") || Instant::now() > deadline {
            vm.fail(&format!(
                "Delete or Backspace did the wrong thing on the VGA screen:\n{screen:#?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // A line longer than the screen is wide, edited at its start: the rows show what runs.
    monitor.press(&["ctrl-l"]);
    let words: Vec<String> = (1..=25).map(|i| format!("a{i:02}")).collect();
    let line = format!("echo {}", words.join(" "));
    monitor.type_text(&line);
    monitor.press(&["home", "right", "right", "right", "right", "right"]);
    monitor.type_text("X");
    let edited = line.replacen("a01", "Xa01", 1);
    // The screen reader trims rows, as it does the expected ones.
    let shown = format!("{PROMPT}{edited}");
    let expected = [
        shown[..VGA_COLUMNS].trim_end().to_string(),
        shown[VGA_COLUMNS..].trim_end().to_string(),
    ];
    let deadline = Instant::now() + kiln_tests::DEFAULT_TIMEOUT;
    loop {
        let screen = monitor.screen();
        if screen[..2] == expected && screen[2..].iter().all(|row| row.is_empty()) {
            break;
        }
        if Instant::now() > deadline {
            vm.fail(&format!(
                "the wrapped line is not what will run:\n{screen:#?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    monitor.press(&["ret"]);
    let deadline = Instant::now() + kiln_tests::DEFAULT_TIMEOUT;
    while !monitor
        .screen()
        .iter()
        .any(|row| row.starts_with("Xa01 a02 "))
    {
        if Instant::now() > deadline {
            vm.fail(&format!(
                "the edited line did not run:\n{:#?}",
                monitor.screen()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `echo word01 ... word30 END`: 218 characters, the observation's line.
fn long_echo_line() -> String {
    let words: Vec<String> = (1..=30).map(|i| format!("word{i:02}")).collect();
    format!("echo {} END", words.join(" "))
}

/// `text` cut into rows of `columns` characters, as a terminal wraps it.
fn wrapped(text: &str, columns: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .chunks(columns)
        .map(|row| row.iter().collect())
        .collect()
}

#[test]
fn a_wrapped_line_edited_at_its_start_shows_what_runs_on_serial() {
    const COLUMNS: u16 = 40;
    let mut config = config();
    config.append = format!("kiln.columns={COLUMNS}");
    let (mut vm, _rc) = Vm::boot_shell_with(config);
    assert_eq!(vm.run("stty"), "columns 40\r\n");
    let line = long_echo_line();
    // Type it, go Home, then right past `echo ` and insert X; recall it, change the end.
    vm.send_bytes(line.as_bytes());
    vm.send_bytes(b"\x01\x1b[C\x1b[C\x1b[C\x1b[C\x1b[CX\r");
    let edited = line.replacen("word01", "Xword01", 1);
    vm.expect(&format!("{}\r\n", &edited[5..]));
    vm.expect(PROMPT);
    vm.send_bytes(b"\x1b[A\x7f\x7fZ\r");
    let recalled = format!("{}Z", &edited[..edited.len() - 2]);
    vm.expect(&format!("{}\r\n", &recalled[5..]));
    vm.expect(PROMPT);
    // What a 40-column terminal shows of all the bytes the console sent.
    let mut terminal = vt100::Parser::new(500.try_into().unwrap(), COLUMNS.try_into().unwrap(), 0);
    terminal.process(vm.transcript().as_bytes());
    let rows: Vec<String> = terminal.screen().rows(0, COLUMNS).collect();
    let rows: Vec<&str> = rows.iter().map(|r| r.trim_end()).collect();
    let mut expected: Vec<String> = wrapped(&format!("{PROMPT}{edited}"), 40);
    expected.extend(wrapped(&edited[5..], 40));
    expected.extend(wrapped(&format!("{PROMPT}{recalled}"), 40));
    expected.extend(wrapped(&recalled[5..], 40));
    expected.push(PROMPT.to_string());
    let expected: Vec<&str> = expected.iter().map(|r| r.trim_end()).collect();
    let start = rows
        .iter()
        .rposition(|r| *r == "kiln> stty")
        .expect("the stty line")
        + 2;
    let shown: Vec<&str> = rows[start..]
        .iter()
        .copied()
        .filter(|r| !r.is_empty())
        .collect();

    assert_eq!(shown, expected, "the screen of a 40-column terminal");
}

#[test]
fn exit_4_from_the_rc_shell_ends_the_script_and_the_launcher_with_4() {
    let (mut vm, _rc) = Vm::boot_shell();
    vm.send_line("exit 4");
    assert_eq!(vm.wait_exit(), Some(4));
}

#[test]
fn ctrl_d_leaves_the_shell_and_the_rc_script_goes_on() {
    let rc = TempFile::new("rc", b"shell\necho rc goes on after $?\npoweroff 9\n");
    let mut config = config();
    config.rc = Some(rc.path.clone());
    let mut vm = Vm::boot(&config);
    vm.expect(PROMPT);
    vm.run("ret 5");
    vm.send_bytes(b"\x04");
    vm.expect("rc goes on after 5");
    assert_eq!(vm.wait_exit(), Some(9));
}

#[test]
fn an_unknown_program_is_127_and_the_line_goes_on() {
    let (mut vm, _rc) = Vm::boot_shell();
    let output = vm.run("nosuchprog; echo $?");
    assert!(output.contains("unknown program 'nosuchprog'"), "{output}");
    assert!(output.ends_with("127\r\n"), "{output}");
}

#[test]
fn an_unfinished_command_gets_a_continuation_prompt() {
    let (mut vm, _rc) = Vm::boot_shell();
    vm.send_line("if true");
    vm.expect("\r\n> ");
    vm.send_line("then args yes");
    vm.expect("\r\n> ");
    let output = vm.run("fi");
    assert_eq!(output, "[yes]\r\n");
}

/// Runs `jobs` until it lists exactly `want` (an ended job is announced first).
fn await_jobs(vm: &mut Vm, want: &str) {
    let deadline = Instant::now() + kiln_tests::DEFAULT_TIMEOUT;
    loop {
        let jobs = vm.run("jobs");
        if jobs == want {
            return;
        }
        if Instant::now() > deadline {
            vm.fail(&format!("jobs never listed {want:?}; last: {jobs:?}"));
        }
    }
}

#[test]
fn job_numbers_are_for_background_jobs_as_in_sh() {
    let (mut vm, _rc) = Vm::boot_shell();
    assert_eq!(vm.run("sleep 1m &"), "[1]\r\n");
    // Foreground commands and pipelines take no number.
    vm.run("echo a");
    vm.run("echo a | upper");
    assert_eq!(vm.run("sleep 1m &"), "[2]\r\n");
    assert_eq!(
        vm.run("jobs"),
        "[1]- running sleep 1m\r\n[2]+ running sleep 1m\r\n"
    );
    // A name two jobs run is refused, with the jobs it could mean.
    let refused = vm.run("kill sleep");
    assert!(
        refused.contains("kill: 'sleep' names more than one job: %1 %2 (use %N)"),
        "{refused}"
    );
    // What kill did, then (now or at a later prompt) the job's end.
    let killed = vm.run("kill %1");
    assert!(killed.starts_with("[1] stopping sleep 1m\r\n"), "{killed}");
    await_jobs(&mut vm, "[2]+ running sleep 1m\r\n");
    // The lowest free number comes back; a pipeline is one job, and kill ends every
    // stage of it.
    assert_eq!(vm.run("producer 100000 | upper | consumer &"), "[1]\r\n");
    let jobs = vm.run("jobs");
    assert!(
        jobs.contains("[1]+ running producer 100000 | upper | consumer"),
        "{jobs}"
    );
    vm.run("kill %1");
    await_jobs(&mut vm, "[2]+ running sleep 1m\r\n");
    let ps = vm.run("ps");
    assert!(
        !ps.contains("producer") && !ps.contains("upper") && !ps.contains("consumer"),
        "{ps}"
    );
}

/// The CPU column (ms) of `name`'s row in `ps`.
fn cpu_ms(vm: &mut Vm, name: &str) -> u64 {
    let ps = vm.run("ps");
    let row = ps
        .lines()
        .find(|row| row.split_whitespace().nth(1) == Some(name))
        .unwrap_or_else(|| vm.fail(&format!("no {name} row in ps:\n{ps}")));
    let fields: Vec<&str> = row.split_whitespace().collect();
    fields[3]
        .parse()
        .unwrap_or_else(|_| vm.fail(&format!("no CPU figure in {row:?}")))
}

const CTRL_Z: &[u8] = b"\x1a";

#[test]
fn ctrl_z_stops_a_job_that_then_costs_no_cpu_until_bg_and_fg() {
    let (mut vm, _rc) = Vm::boot_shell();
    vm.send_line("sleep 1m");
    vm.expect("sleep 1m\r\n");
    vm.send_bytes(CTRL_Z);
    vm.expect("[1]+ stopped sleep 1m\r\n");
    vm.expect(PROMPT);
    assert_eq!(vm.run("echo $?"), "148\r\n");
    assert_eq!(vm.run("jobs"), "[1]+ stopped sleep 1m\r\n");

    // A CPU hog, stopped: its CPU time stands still while time passes.
    vm.send_line("burn");
    vm.expect("burn\r\n");
    vm.send_bytes(CTRL_Z);
    vm.expect("[2]+ stopped burn\r\n");
    vm.expect(PROMPT);
    let stopped = cpu_ms(&mut vm, "burn");
    vm.run("sleep 1");
    assert_eq!(cpu_ms(&mut vm, "burn"), stopped, "a stopped job ran");
    let ps = vm.run("ps");
    assert!(ps.contains("stopped"), "{ps}");
    // bg: it runs again, in the background.
    assert_eq!(vm.run("bg %2"), "[2]+ burn &\r\n");
    vm.run("sleep 1");
    let running = cpu_ms(&mut vm, "burn");
    assert!(
        running > stopped,
        "bg did not resume it: {stopped} then {running} ms"
    );
    // fg, then Ctrl-C ends it (burn ignores the cancel: it is ended after the grace).
    vm.send_line("fg %2");
    vm.expect("fg %2\r\nburn\r\n");
    vm.send_bytes(b"\x03");
    vm.expect(PROMPT);
    assert_eq!(vm.run("echo $?"), "130\r\n");
    // The stopped sleep is still there; kill ends it although it is stopped.
    assert_eq!(vm.run("jobs"), "[1]+ stopped sleep 1m\r\n");
    let killed = vm.run("kill %1");
    assert!(killed.starts_with("[1] stopping sleep 1m\r\n"), "{killed}");
    await_jobs(&mut vm, "");
    // burn ends once the grace after Ctrl-C is over.
    let deadline = Instant::now() + kiln_tests::DEFAULT_TIMEOUT;
    loop {
        let ps = vm.run("ps");
        if !ps.contains("sleep") && !ps.contains("burn") {
            break;
        }
        if Instant::now() > deadline {
            vm.fail(&format!("the jobs never ended:\n{ps}"));
        }
        vm.run("sleep 0.2");
    }
}
