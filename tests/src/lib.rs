//! The QEMU console harness every QEMU test uses.
//!
//! [`Vm::boot`] builds the image once per test process, starts QEMU with the serial
//! console on pipes, and collects everything the guest prints. Tests then
//! [`Vm::expect`] text (with a timeout, never a sleep), [`Vm::send_line`] or
//! [`Vm::send_bytes`], and [`Vm::wait_exit`] for the power-off status. On failure the
//! whole console transcript is printed. Dropping a `Vm` kills QEMU, and so does the
//! end of the test process, however it ends (SIGKILL too).
//!
//! When QEMU is missing the harness installs it where it may (root with apt-get) and
//! otherwise fails with the one-line install command; it never skips.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use kiln::qemu::{Accel, Config, Machine};
use kiln::{image, qemu, status};

/// How long `expect` waits by default: generous, because CI machines are shared and
/// TCG is slow; tests never assert a duration.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The prompt the shell prints by default.
pub const PROMPT: &str = "kiln> ";

static IMAGE: OnceLock<Result<PathBuf, String>> = OnceLock::new();
static QEMU_BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The release image, built once per test process.
pub fn image_path() -> PathBuf {
    IMAGE
        .get_or_init(|| image::build(true))
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// QEMU, installed if needed and allowed.
pub fn qemu_path() -> PathBuf {
    QEMU_BINARY
        .get_or_init(qemu::find_or_install)
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A default boot configuration: pc, TCG, 64 MiB.
pub fn config() -> Config {
    Config::new(image_path())
}

/// What QEMU printed (stdout and stderr), and how many of the two streams are open.
#[derive(Default)]
struct Console {
    bytes: Vec<u8>,
    /// Set once both streams have ended, so nothing more can arrive.
    closed: bool,
    streams_ended: u8,
}

/// QEMU's stdout and stderr.
const STREAMS: u8 = 2;

/// A running image.
pub struct Vm {
    child: Child,
    stdin: Option<ChildStdin>,
    console: Arc<(Mutex<Console>, Condvar)>,
    /// Bytes of the transcript already matched by `expect`.
    cursor: usize,
    exit_code: Option<Option<i32>>,
}

impl Vm {
    /// Boots with `config` and waits for nothing.
    pub fn boot(config: &Config) -> Vm {
        // QEMU dies with the thread that boots it (kiln::child): each test makes and
        // drops its `Vm` on its own thread, and a killed test process leaves no QEMU.
        let mut command = config.command(&qemu_path());
        let child = kiln::child::die_with_parent(&mut command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start QEMU: {e}"));
        Vm::attach(child)
    }

    /// Watches a started child with its stdout and stderr piped (and stdin, to type):
    /// QEMU, or the launcher with QEMU behind it. Dropping the `Vm` kills the child.
    pub fn attach(mut child: Child) -> Vm {
        let console = Arc::new((Mutex::new(Console::default()), Condvar::new()));
        for stream in [
            Box::new(child.stdout.take().expect("piped")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("piped")),
        ] {
            let console = console.clone();
            std::thread::spawn(move || pump(stream, console));
        }
        let stdin = child.stdin.take();
        Vm {
            child,
            stdin,
            console,
            cursor: 0,
            exit_code: None,
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Ends the child with SIGKILL, as `kill -9` would, and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Boots pc/TCG with an rc script file and waits for nothing.
    pub fn boot_with_rc(rc: &Path) -> Vm {
        let mut config = config();
        config.rc = Some(rc.to_path_buf());
        Vm::boot(&config)
    }

    /// Boots with an rc script that only opens the shell (so no background job of the
    /// default script prints into the session) and waits for the first prompt.
    pub fn boot_to_prompt() -> Vm {
        let (vm, rc) = Vm::boot_shell();
        // QEMU has read the file by the time the prompt shows.
        drop(rc);
        vm
    }

    /// Everything the guest printed so far, lossily decoded.
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.console.0.lock().expect("console lock").bytes).into_owned()
    }

    /// Fails the test with the transcript.
    pub fn fail(&self, message: &str) -> ! {
        panic!(
            "{message}\n----- console transcript -----\n{}\n----- end of transcript -----",
            self.transcript()
        );
    }

    /// Waits for `text` after the last match; returns what came before it and the
    /// match. Fails the test after [`DEFAULT_TIMEOUT`].
    pub fn expect(&mut self, text: &str) -> String {
        self.expect_within(text, DEFAULT_TIMEOUT)
    }

    /// `expect` with a timeout of your own.
    pub fn expect_within(&mut self, text: &str, timeout: Duration) -> String {
        match self.try_expect(text, timeout) {
            Ok(seen) => seen,
            Err(why) => self.fail(&format!("expected {text:?}: {why}")),
        }
    }

    /// Waits for `text`; `Err` says why it did not come (timeout or QEMU gone).
    pub fn try_expect(&mut self, text: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let (lock, ready) = &*self.console;
        let mut console = lock.lock().expect("console lock");
        loop {
            let unread = &console.bytes[self.cursor.min(console.bytes.len())..];
            if let Some(at) = find(unread, text.as_bytes()) {
                let end = self.cursor + at + text.len();
                let seen = String::from_utf8_lossy(&console.bytes[self.cursor..end]).into_owned();
                self.cursor = end;
                return Ok(seen);
            }
            if console.closed {
                return Err("QEMU closed the console".into());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("nothing matched within {timeout:?}"));
            }
            console = ready
                .wait_timeout(console, deadline - now)
                .expect("console lock")
                .0;
        }
    }

    /// Sends raw bytes to the serial console.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        if let Err(e) = stdin.write_all(bytes).and_then(|_| stdin.flush()) {
            self.fail(&format!("cannot write to the console: {e}"));
        }
    }

    /// Sends a line, ended with `\r` as a terminal would.
    pub fn send_line(&mut self, line: &str) {
        self.send_bytes(format!("{line}\r").as_bytes());
    }

    /// Types `command`, waits for the prompt after it, and returns the output between.
    pub fn run(&mut self, command: &str) -> String {
        self.send_line(command);
        self.expect(&format!("{command}\r\n"));
        let output = self.expect(PROMPT);
        output[..output.len() - PROMPT.len()].to_string()
    }

    /// Waits for QEMU to exit and returns the guest's power-off status (`None` if
    /// QEMU ended without one). Kills QEMU and fails after `timeout`.
    pub fn wait_exit_within(&mut self, timeout: Duration) -> Option<u8> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(exit)) => {
                    self.exit_code = Some(exit.code());
                    // Let the pumps drain the last bytes.
                    let (lock, ready) = &*self.console;
                    let mut console = lock.lock().expect("console lock");
                    let drain_deadline = Instant::now() + Duration::from_secs(5);
                    while !console.closed && Instant::now() < drain_deadline {
                        console = ready
                            .wait_timeout(console, Duration::from_millis(50))
                            .expect("console lock")
                            .0;
                    }
                    drop(console);
                    return status::guest_status(exit.code(), &self.transcript());
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                _ => {
                    let _ = self.child.kill();
                    self.fail(&format!("QEMU did not exit within {timeout:?}"));
                }
            }
        }
    }

    /// QEMU's own exit code, once `wait_exit_within` saw it end (`None` if a signal
    /// ended it).
    pub fn qemu_exit_code(&self) -> Option<i32> {
        self.exit_code.flatten()
    }

    /// Boots `config` on QEMU's microvm shaped like Firecracker: its rc script,
    /// programs and files go in a boot module (`-initrd`), kept until the `Vm` is dropped.
    pub fn boot_firecracker(mut config: Config) -> (Vm, Option<TempFile>) {
        config.machine = Machine::Firecracker;
        let initrd = kiln::qemu::initrd_bundle(&config)
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|bundle| TempFile::new("initrd", &bundle));
        config.initrd = initrd.as_ref().map(|f| f.path.clone());
        (Vm::boot(&config), initrd)
    }

    /// `wait_exit_within` with [`DEFAULT_TIMEOUT`].
    pub fn wait_exit(&mut self) -> Option<u8> {
        self.wait_exit_within(DEFAULT_TIMEOUT)
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
    }
}

fn pump(mut stream: Box<dyn Read + Send>, console: Arc<(Mutex<Console>, Condvar)>) {
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).unwrap_or(0);
        let (lock, ready) = &*console;
        let mut console = lock.lock().expect("console lock");
        if n == 0 {
            console.streams_ended += 1;
            console.closed = console.streams_ended == STREAMS;
            ready.notify_all();
            return;
        }
        console.bytes.extend_from_slice(&buf[..n]);
        ready.notify_all();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A temporary file that is removed when dropped.
pub struct TempFile {
    pub path: PathBuf,
}

impl TempFile {
    /// Writes `contents` to a fresh file under the system temp directory.
    pub fn new(name: &str, contents: &[u8]) -> TempFile {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let unique = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("kiln-test-{}-{unique}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("write temp file");
        TempFile { path }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A small deterministic PRNG (xorshift64*) for garbage-input tests.
pub struct Xorshift(u64);

impl Xorshift {
    pub fn new(seed: u64) -> Xorshift {
        Xorshift(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// Whether the harness test itself fails on a wrong expectation (used by the
/// harness's own negative test).
pub fn expect_fails_on_wrong_text() -> bool {
    let mut vm = Vm::boot_to_prompt();
    vm.send_line("echo right");
    vm.try_expect("wrong", Duration::from_secs(3)).is_err()
}

impl Vm {
    /// Boots with an rc script that only opens the shell, and waits for the prompt.
    pub fn boot_shell() -> (Vm, TempFile) {
        Vm::boot_shell_with(config())
    }

    /// `boot_shell` with a configuration of your own (its `rc` is replaced).
    pub fn boot_shell_with(mut config: Config) -> (Vm, TempFile) {
        let rc = TempFile::new("rc", b"shell\n");
        config.rc = Some(rc.path.clone());
        let mut vm = Vm::boot(&config);
        vm.expect(PROMPT);
        (vm, rc)
    }
}

/// QEMU's human monitor on a Unix socket: `sendkey` for the PS/2 keyboard, `xp` to read
/// guest memory (the VGA text buffer).
pub struct Monitor {
    stream: std::os::unix::net::UnixStream,
}

/// The monitor's prompt.
const MONITOR_PROMPT: &str = "(qemu) ";
/// The VGA text buffer: 80 x 25 cells of (character, attribute).
const VGA_TEXT: u64 = 0xB8000;
pub const VGA_COLUMNS: usize = 80;
pub const VGA_ROWS: usize = 25;

impl Monitor {
    /// Connects to the socket QEMU was told to serve (`Config::monitor_socket`).
    pub fn connect(path: &Path) -> Monitor {
        let deadline = Instant::now() + DEFAULT_TIMEOUT;
        let stream = loop {
            match std::os::unix::net::UnixStream::connect(path) {
                Ok(stream) => break stream,
                Err(e) if Instant::now() > deadline => panic!("monitor socket: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        stream
            .set_read_timeout(Some(DEFAULT_TIMEOUT))
            .expect("socket timeout");
        let mut monitor = Monitor { stream };
        monitor.read_until_prompt();
        monitor
    }

    fn read_until_prompt(&mut self) -> String {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&seen).ends_with(MONITOR_PROMPT) {
            let n = self.stream.read(&mut buf).expect("monitor read");
            assert!(n > 0, "the monitor closed");
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    }

    /// Runs a monitor command and returns what it printed.
    pub fn command(&mut self, command: &str) -> String {
        self.stream
            .write_all(format!("{command}\n").as_bytes())
            .expect("monitor write");
        self.read_until_prompt()
    }

    /// Types `text` on the PS/2 keyboard, one `sendkey` per character.
    pub fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            let key = match c {
                'a'..='z' | '0'..='9' => c.to_string(),
                'A'..='Z' => format!("shift-{}", c.to_ascii_lowercase()),
                ' ' => "spc".into(),
                '\n' => "ret".into(),
                '-' => "minus".into(),
                '.' => "dot".into(),
                '/' => "slash".into(),
                '=' => "equal".into(),
                other => panic!("no sendkey name for {other:?}"),
            };
            self.command(&format!("sendkey {key}"));
        }
    }

    /// Presses keys by their `sendkey` names (`left`, `delete`, `ret`, ...).
    pub fn press(&mut self, keys: &[&str]) {
        for key in keys {
            self.command(&format!("sendkey {key}"));
        }
    }

    /// The VGA text screen as 25 lines of 80 characters.
    pub fn screen(&mut self) -> Vec<String> {
        let cells = VGA_COLUMNS * VGA_ROWS;
        let dump = self.command(&format!("xp /{cells}hx {VGA_TEXT:#x}"));
        let chars: Vec<char> = dump
            .lines()
            .filter_map(|line| line.split_once(": "))
            .flat_map(|(_, words)| words.split_whitespace())
            .filter_map(|word| u16::from_str_radix(word.trim_start_matches("0x"), 16).ok())
            .map(|cell| match (cell & 0xFF) as u8 {
                0x20..=0x7E => (cell & 0xFF) as u8 as char,
                _ => ' ',
            })
            .collect();
        chars
            .chunks(VGA_COLUMNS)
            .map(|row| row.iter().collect::<String>().trim_end().to_string())
            .collect()
    }
}

/// Figure `NAME=` (e.g. `"used="`) of the last `memstat` line (`heap: ...`) in `text`.
pub fn memstat_figure(text: &str, name: &str) -> i64 {
    text.lines()
        .rev()
        .find(|l| l.starts_with("heap: "))
        .and_then(|line| {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(name))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or_else(|| panic!("no {name} in a memstat line of {text:?}"))
}

/// Finds a tool on PATH; as root with apt-get, installs `package` when missing;
/// otherwise fails with the one-line install command. Never skips.
pub fn ensure_tool(tool: &str, package: &str) -> PathBuf {
    kiln::tools::find_or_install(tool, package).unwrap_or_else(|e| panic!("{e}"))
}

/// Where the test programs are built (`tests/programs/`), and where BusyBox lands.
fn test_programs_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-programs");
    std::fs::create_dir_all(&dir).expect("test programs directory");
    dir
}

/// How a test program is built.
#[derive(Clone, Copy, Debug)]
pub enum Build {
    /// C with musl (`musl-gcc -static`): a fixed-address executable.
    Musl,
    /// C without a libc (`musl-gcc -static -nostdlib`): its own `_start`.
    NoLibc,
    /// C with glibc (`gcc -static-pie`): position-independent.
    GlibcStaticPie,
    /// Rust std (`rustc -C target-feature=+crt-static`): static-pie with glibc.
    RustStd,
}

/// The launcher binary (`kiln`), run as a user would; a killed test process leaves no
/// launcher, so no QEMU either.
pub fn launcher() -> std::process::Command {
    let path = kiln::image::build_launcher().unwrap_or_else(|e| panic!("{e}"));
    qemu_path();
    let mut command = std::process::Command::new(path);
    command.env("CARGO", env!("CARGO"));
    kiln::child::die_with_parent(&mut command);
    command
}

/// Builds `tests/programs/SOURCE` once per test process and returns the executable.
/// Builds go to a temporary name first, so parallel test processes never see half a file.
pub fn test_program(source: &str, build: Build) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let key = format!("{source}-{build:?}");
    let mut built = BUILT.lock().expect("build lock");
    if let Some((_, path)) = built.iter().find(|(k, _)| *k == key) {
        return path.clone();
    }
    let source_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("programs")
        .join(source);
    let out = test_programs_dir().join(key.to_lowercase());
    let partial = out.with_extension(format!("partial{}", std::process::id()));
    let mut command = match build {
        Build::Musl => {
            let mut c = std::process::Command::new(ensure_tool("musl-gcc", "musl-tools"));
            c.args(["-static", "-O2", "-g", "-o"])
                .arg(&partial)
                .arg(&source_path);
            c
        }
        Build::NoLibc => {
            let mut c = std::process::Command::new(ensure_tool("musl-gcc", "musl-tools"));
            c.args(["-static", "-nostdlib", "-O2", "-o"])
                .arg(&partial)
                .arg(&source_path);
            c
        }
        Build::GlibcStaticPie => {
            let mut c = std::process::Command::new(ensure_tool("gcc", "gcc"));
            c.args(["-static-pie", "-O2", "-o"])
                .arg(&partial)
                .arg(&source_path);
            c
        }
        Build::RustStd => {
            let mut c = std::process::Command::new("rustc");
            c.args(["-O", "-C", "target-feature=+crt-static", "-o"])
                .arg(&partial)
                .arg(&source_path);
            c
        }
    };
    let status = command.status().expect("the compiler runs");
    assert!(status.success(), "building {source} ({build:?}) failed");
    std::fs::rename(&partial, &out).expect("move the built program into place");
    built.push((key, out.clone()));
    out
}

/// Debian's static BusyBox: the installed `busybox` if it is the static build, else
/// `busybox-static` fetched with `apt-get download` and unpacked with `dpkg-deb -x`
/// (no root needed).
pub fn busybox_static() -> PathBuf {
    static BUSYBOX: OnceLock<PathBuf> = OnceLock::new();
    BUSYBOX
        .get_or_init(|| {
            let is_static = |path: &Path| {
                std::fs::read(path).is_ok_and(|bytes| kiln_linux::elf::plan(&bytes).is_ok())
            };
            for candidate in ["/bin/busybox", "/usr/bin/busybox"] {
                if is_static(Path::new(candidate)) {
                    return PathBuf::from(candidate);
                }
            }
            let dir = test_programs_dir().join("busybox-static");
            let unpacked = dir.join("bin/busybox");
            if is_static(&unpacked) {
                return unpacked;
            }
            std::fs::create_dir_all(&dir).expect("busybox directory");
            let downloaded = std::process::Command::new("apt-get")
                .args(["download", "busybox-static"])
                .current_dir(&dir)
                .status()
                .is_ok_and(|s| s.success());
            let deb = std::fs::read_dir(&dir)
                .ok()
                .and_then(|entries| {
                    entries
                        .flatten()
                        .map(|e| e.path())
                        .find(|p| p.extension().is_some_and(|e| e == "deb"))
                });
            let Some(deb) = deb.filter(|_| downloaded) else {
                panic!(
                    "kiln: a static BusyBox is needed: install it with: sudo apt-get install busybox-static"
                );
            };
            let unpacked_ok = std::process::Command::new("dpkg-deb")
                .arg("-x")
                .arg(&deb)
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(unpacked_ok && is_static(&unpacked), "unpacking {}", deb.display());
            unpacked
        })
        .clone()
}
