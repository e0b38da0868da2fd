//! gdb breaks at a baked program's entry by name (`break kiln_utils::fw::main`), through
//! QEMU's gdb stub, while the operator runs the program from the serial shell.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kiln_tests::{DEFAULT_TIMEOUT, PROMPT, Vm, config};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// gdb in batch mode, its output collected in the background.
struct Gdb {
    child: Child,
    output: Arc<Mutex<String>>,
}

impl Gdb {
    fn start(image: &std::path::Path, port: u16, commands: &[&str]) -> Gdb {
        let gdb = kiln_tests::ensure_tool("gdb", "gdb");
        let mut command = Command::new(gdb);
        command.args(["-batch", "-nx", "-ex", "set pagination off"]);
        command
            .arg("-ex")
            .arg(format!("target remote 127.0.0.1:{port}"));
        for c in commands {
            command.arg("-ex").arg(c);
        }
        let mut child = command
            .arg(image)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start gdb");
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().expect("piped")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("piped")),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    output
                        .lock()
                        .expect("gdb output")
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        Gdb { child, output }
    }

    fn output(&self) -> String {
        self.output.lock().expect("gdb output").clone()
    }

    /// Waits until gdb printed `text`.
    fn expect(&self, text: &str) {
        let deadline = Instant::now() + DEFAULT_TIMEOUT;
        while !self.output().contains(text) {
            assert!(
                Instant::now() < deadline,
                "gdb never printed {text:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gdb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Boots paused for gdb; returns the VM, its rc file, the gdb port, and the debug ELF
/// gdb reads (the twin of the stripped image QEMU boots).
fn boot_paused_for_gdb() -> (Vm, kiln_tests::TempFile, u16, std::path::PathBuf) {
    let port = free_port();
    let rc = kiln_tests::TempFile::new("rc", b"shell\n");
    let mut config = config();
    config.rc = Some(rc.path.clone());
    config.gdb_port = Some(port);
    let vm = Vm::boot(&config);
    (vm, rc, port, kiln::image::debug_image_path())
}

#[test]
fn a_breakpoint_on_fw_entry_is_hit_when_fw_runs() {
    let (mut vm, _rc, port, image) = boot_paused_for_gdb();
    let gdb = Gdb::start(
        &image,
        port,
        &[
            "break kiln_utils::fw::main",
            "continue",
            "bt 1",
            "delete",
            "detach",
        ],
    );
    gdb.expect("Breakpoint 1 at");
    vm.expect(PROMPT);
    vm.send_line("fw list");
    gdb.expect("Breakpoint 1, kiln_utils::fw::main");
    gdb.expect("detached");
    // Once gdb lets go, the program runs on and its output reaches the console.
    vm.expect("policy: pass");
    vm.expect(PROMPT);
}

#[test]
fn a_breakpoint_on_another_program_is_not_hit() {
    let (mut vm, _rc, port, image) = boot_paused_for_gdb();
    let gdb = Gdb::start(
        &image,
        port,
        &["break kiln_utils::memstat::main", "continue"],
    );
    gdb.expect("Breakpoint 1 at");
    vm.expect(PROMPT);
    vm.send_line("fw list");
    vm.expect("policy: pass");
    vm.expect(PROMPT);
    assert_eq!(vm.run("echo after"), "after\r\n");
    assert!(
        !gdb.output().contains("Breakpoint 1,"),
        "memstat's breakpoint was hit:\n{}",
        gdb.output()
    );
}

#[test]
fn a_breakpoint_on_main_of_one_elf_program_stops_only_in_that_program() {
    use kiln::programs::{BakedProgram, gdb_script};
    use kiln_tests::{Build, test_program};
    // Two C programs that both define main (musl puts both at the same address).
    let programs: Vec<BakedProgram> = ["first", "second"]
        .iter()
        .map(|name| BakedProgram {
            name: name.to_string(),
            path: test_program(&format!("{name}.c"), Build::Musl),
        })
        .collect();
    let port = free_port();
    let rc = kiln_tests::TempFile::new("rc", b"shell\n");
    let script = kiln_tests::TempFile::new("programs.gdb", gdb_script(&programs).as_bytes());
    let mut config = config();
    config.rc = Some(rc.path.clone());
    config.gdb_port = Some(port);
    config.programs = programs;
    let mut vm = Vm::boot(&config);
    let source = format!("source {}", script.path.display());
    let gdb = Gdb::start(
        &kiln::image::debug_image_path(),
        port,
        &[
            &source,
            "kiln-break-second main",
            "continue",
            "print/x *(unsigned long long *)&kiln_running_program",
            "delete",
            "detach",
        ],
    );
    let second_id = format!("= {:#x}", kiln_linux::elf::program_id("second"));
    gdb.expect("Hardware assisted breakpoint 1 at");
    vm.expect(PROMPT);
    vm.send_line("first");
    vm.expect("first ran\r\n");
    vm.expect(PROMPT);
    assert!(
        !gdb.output().contains("Breakpoint 1,"),
        "the breakpoint stopped in first:\n{}",
        gdb.output()
    );
    vm.send_line("second");
    // Both mains are at one address, so gdb may name either file; the program that
    // stopped is the one kiln says is running.
    gdb.expect("Breakpoint 1, main");
    gdb.expect(&second_id);
    gdb.expect("detached");
    vm.expect("second ran\r\n");
    vm.expect(PROMPT);
}
