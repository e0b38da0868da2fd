//! `cargo run --release -- [FLAGS] [-- QEMU-ARGS...]`: build the kiln image and boot it
//! in QEMU with the serial console on this terminal. Exits with the guest's status.
//!
//! On a terminal, stdin is put in raw mode so Ctrl-C reaches the guest; Ctrl-] quits.
//! From a pipe, bytes pass straight through once the guest's console is up.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};

use kiln::qemu::{self, Accel, Config, Machine};
use kiln::{image, status};

mod bench;

/// Ctrl-]: quits the launcher from a raw terminal (as telnet does).
const QUIT_KEY: u8 = 0x1D;
/// Exit status when QEMU ended without the guest powering off.
const NO_GUEST_STATUS: u8 = 1;
/// Exit status for a bad command line.
const USAGE_STATUS: u8 = 2;

const USAGE: &str = "\
usage: cargo run --release -- [FLAGS] [-- QEMU-ARGS...]

  --rc FILE                 run FILE as the rc script (fw_cfg opt/kiln/rc)
  --accel auto|kvm|tcg      accelerator (default auto: KVM only after a probe boot works)
  --machine pc|microvm      QEMU machine type (default pc)
  --mem MIB                 guest memory in MiB (default 64)
  --append TEXT             kernel command line (e.g. kiln.selftest)
  --program NAME=PATH       bake the static x86-64 Linux executable PATH as program NAME
                            (repeatable; the same file may have several names)
  --file NAME=PATH          bake the file PATH as /NAME (repeatable)
  --display none|gtk|sdl|vnc=127.0.0.1:N
                            where the VGA screen shows (pc; default none: type on its
                            PS/2 keyboard and read it through the QEMU monitor socket
                            the launcher prints)
  --gdb                     start QEMU's gdb stub on 127.0.0.1, paused, and print the gdb command
  --print-image             build the image, print its path and exit
  --net user[,hostfwd=tcp:127.0.0.1:HOSTPORT-:GUESTPORT]...
                            a virtio-net device on QEMU's user network (pc only); forwarded
                            ports bind to 127.0.0.1 only (udp: forwards work too)
  bench [--quick]           measure kiln beside a Linux + BusyBox VM; writes BENCHMARKS.md
  -h, --help                this text
  -- QEMU-ARGS...           passed to QEMU as they are

On a terminal, press Ctrl-] to quit.";

struct Options {
    config: Config,
    print_image: bool,
    gdb: bool,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut config = Config::new(PathBuf::new());
    config.accel = Accel::Auto;
    let mut print_image = false;
    let mut gdb = false;
    let mut i = 0;
    let value = |i: usize, flag: &str| -> Result<String, String> {
        args.get(i + 1)
            .cloned()
            .ok_or_else(|| format!("kiln: {flag} needs a value"))
    };
    while i < args.len() {
        let arg = args[i].as_str();
        match arg {
            "--rc" => {
                let file = PathBuf::from(value(i, arg)?);
                if !file.is_file() {
                    return Err(format!("kiln: --rc: no such file '{}'", file.display()));
                }
                config.rc = Some(file);
                i += 1;
            }
            "--accel" => {
                let text = value(i, arg)?;
                config.accel = Accel::parse(&text).ok_or(format!(
                    "kiln: --accel: unknown accelerator '{text}' (use auto, kvm or tcg)"
                ))?;
                i += 1;
            }
            "--machine" => {
                let text = value(i, arg)?;
                config.machine = Machine::parse(&text).ok_or(format!(
                    "kiln: --machine: unknown machine '{text}' (use pc or microvm)"
                ))?;
                i += 1;
            }
            "--mem" => {
                let text = value(i, arg)?;
                config.memory_mib = text
                    .parse()
                    .ok()
                    .filter(|&m: &u32| m >= 2)
                    .ok_or(format!("kiln: --mem: '{text}' is not a size in MiB (>= 2)"))?;
                i += 1;
            }
            "--append" => {
                config.append = value(i, arg)?;
                i += 1;
            }
            "--program" => {
                let program = kiln::programs::parse(&value(i, arg)?, &config.programs)?;
                config.programs.push(program);
                i += 1;
            }
            "--file" => {
                let file = kiln::files::parse(&value(i, arg)?, &config.files)?;
                config.files.push(file);
                i += 1;
            }
            "--net" => {
                config.net = Some(qemu::NetConfig::parse(&value(i, arg)?)?);
                i += 1;
            }
            "--display" => {
                config.display = value(i, arg)?;
                i += 1;
            }
            "--gdb" => gdb = true,
            "--print-image" => print_image = true,
            "-h" | "--help" => return Err(USAGE.to_string()),
            "--" => {
                config.extra = args[i + 1..].to_vec();
                break;
            }
            other => return Err(format!("kiln: unknown flag '{other}'\n{USAGE}")),
        }
        i += 1;
    }
    // `-M pc` has a VGA screen and a PS/2 keyboard with a shell of their own.
    config.vga = config.machine == Machine::Pc;
    if config.net.is_some() && config.machine != Machine::Pc {
        return Err("kiln: --net needs --machine pc (the driver is virtio-net over PCI)".into());
    }
    Ok(Options {
        config,
        print_image,
        gdb,
    })
}

/// Puts the terminal in raw mode and restores it when dropped.
struct RawTerminal {
    saved: libc::termios,
}

impl RawTerminal {
    fn enable() -> Option<RawTerminal> {
        // SAFETY: termios calls on fd 0 with a zeroed, then filled, struct.
        unsafe {
            if libc::isatty(0) != 1 {
                return None;
            }
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut saved) != 0 {
                return None;
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(0, libc::TCSANOW, &raw) != 0 {
                return None;
            }
            Some(RawTerminal { saved })
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: restores the attributes read in `enable`.
        unsafe {
            libc::tcsetattr(0, libc::TCSANOW, &self.saved);
        }
    }
}

/// The host terminal's size as (rows, columns), when stdin is a terminal.
fn terminal_size() -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills the winsize struct it is given, on fd 0.
    unsafe {
        let mut size: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut size) != 0 || size.ws_col == 0 {
            return None;
        }
        Some((size.ws_row, size.ws_col))
    }
}

/// Blocks SIGWINCH in this thread and the threads it starts from now on, so that
/// [`report_resizes`] can wait for it; returns the set to wait on.
fn block_resize_signal() -> libc::sigset_t {
    // SAFETY: sigset calls on a local set, then this thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGWINCH);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Waits for the host terminal to change size and tells the guest's line editor with
/// xterm's size report, `ESC [ 8 ; rows ; columns t`, on the serial input.
fn report_resizes(set: libc::sigset_t, guest_in: Arc<Mutex<std::process::ChildStdin>>) {
    loop {
        let mut signal = 0;
        // SAFETY: waits on a set of signals blocked in every thread of the launcher.
        if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
            return;
        }
        if let Some((rows, columns)) = terminal_size() {
            let report = format!("\x1b[8;{rows};{columns}t");
            let mut guest = guest_in.lock().expect("guest input lock");
            if guest.write_all(report.as_bytes()).is_err() || guest.flush().is_err() {
                return;
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(1234)
}

fn run(options: Options) -> Result<u8, String> {
    let image = image::build(false)?;
    if options.print_image {
        println!("{}", image.display());
        return Ok(0);
    }
    let qemu = qemu::find_or_install()?;
    let mut config = options.config;
    if config.vga && config.display == "none" && std::io::stdin().is_terminal() {
        let socket = std::env::temp_dir().join(format!("kiln-{}.monitor", std::process::id()));
        eprintln!(
            "kiln: VGA screen and PS/2 keyboard: --display gtk shows them, or use the monitor: \
             socat - UNIX-CONNECT:{} (sendkey KEY, screendump FILE)",
            socket.display()
        );
        config.monitor_socket = Some(socket);
    }
    // The serial shell wraps long lines at the terminal's width.
    let terminal = std::io::stdin().is_terminal().then(terminal_size).flatten();
    if let Some((_, columns)) = terminal {
        config.append = format!("{} kiln.columns={columns}", config.append)
            .trim()
            .to_string();
    }
    config.image = image.clone();
    config.accel = qemu::resolve_accel(&qemu, &config);
    if options.gdb {
        let port = free_port();
        config.gdb_port = Some(port);
        eprintln!("kiln: QEMU is paused for gdb; attach with:");
        let script = if config.programs.is_empty() {
            String::new()
        } else {
            // The baked programs' symbols, and kiln-break-NAME to break in one of them.
            let path = image::debug_image_path().with_file_name("kiln-programs.gdb");
            std::fs::write(&path, kiln::programs::gdb_script(&config.programs))
                .map_err(|e| format!("kiln: writing {}: {e}", path.display()))?;
            let names: Vec<&str> = config.programs.iter().map(|p| p.name.as_str()).collect();
            eprintln!(
                "  (with every program's symbols; break in one program with kiln-break-NAME LOCATION, NAME one of: {})",
                names.join(", ")
            );
            format!(" -x {}", path.display())
        };
        eprintln!(
            "  gdb {} -ex 'target remote 127.0.0.1:{port}'{script}",
            image::debug_image_path().display()
        );
    }
    // Spawned from the main thread, so QEMU dies with the launcher (kiln::child).
    let mut command = config.command(&qemu);
    let mut child = kiln::child::die_with_parent(&mut command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("kiln: cannot start {}: {e}", qemu.display()))?;
    let raw = RawTerminal::enable();
    let interactive = raw.is_some();
    // Before any thread starts, so that none of them takes the signal.
    let resize_signal = block_resize_signal();

    // Guest output -> our stdout, kept for the status line; the first byte means the
    // guest's UART is initialised, so input may flow (QEMU drops earlier bytes).
    let transcript = Arc::new(Mutex::new(Vec::<u8>::new()));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let mut guest_out = child.stdout.take().expect("stdout is piped");
    let output_log = transcript.clone();
    let output = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut stdout = std::io::stdout();
        let mut signalled = false;
        while let Ok(n) = guest_out.read(&mut buf) {
            if n == 0 {
                break;
            }
            let _ = stdout.write_all(&buf[..n]);
            let _ = stdout.flush();
            let mut log = output_log.lock().expect("transcript lock");
            log.extend_from_slice(&buf[..n]);
            // Only the tail matters for the status line.
            if log.len() > 1 << 20 {
                let excess = log.len() - 4096;
                log.drain(..excess);
            }
            if !signalled {
                let _ = ready_tx.send(());
                signalled = true;
            }
        }
    });

    let guest_in = Arc::new(Mutex::new(child.stdin.take().expect("stdin is piped")));
    if interactive && terminal.is_some() {
        let guest_in = guest_in.clone();
        std::thread::spawn(move || report_resizes(resize_signal, guest_in));
    }
    let quit = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let quit_flag = quit.clone();
    let child_id = child.id();
    std::thread::spawn(move || {
        if ready_rx.recv().is_err() {
            return;
        }
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 {
                break;
            }
            let bytes = &buf[..n];
            let mut guest_in = guest_in.lock().expect("guest input lock");
            if interactive && let Some(at) = bytes.iter().position(|&b| b == QUIT_KEY) {
                let _ = guest_in.write_all(&bytes[..at]);
                quit_flag.store(true, std::sync::atomic::Ordering::SeqCst);
                // SIGKILL, not SIGTERM: QEMU would print "terminating on signal 15" over
                // the console line, and the guest has nothing to save.
                // SAFETY: sends SIGKILL to our own QEMU child.
                unsafe {
                    libc::kill(child_id as i32, libc::SIGKILL);
                }
                return;
            }
            if guest_in.write_all(bytes).is_err() {
                break;
            }
            let _ = guest_in.flush();
        }
        // stdin ended: keep the pipe open so the guest's console is not torn down;
        // the guest decides when to power off.
        std::mem::forget(guest_in);
    });

    let exit = child
        .wait()
        .map_err(|e| format!("kiln: waiting for QEMU: {e}"))?;
    let _ = output.join();
    drop(raw);
    if quit.load(std::sync::atomic::Ordering::SeqCst) {
        eprintln!("\r\nkiln: quit (Ctrl-])");
        // The guest did not power off.
        return Ok(NO_GUEST_STATUS);
    }
    let text = String::from_utf8_lossy(&transcript.lock().expect("transcript lock")).into_owned();
    match status::guest_status(exit.code(), &text) {
        Some(code) => Ok(code),
        None => {
            eprintln!("kiln: QEMU ended without the guest powering off ({exit})");
            Ok(NO_GUEST_STATUS)
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("bench") {
        return bench::main(&args[1..]);
    }
    let options = match parse_args(&args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            let help = args.iter().any(|a| a == "-h" || a == "--help");
            return ExitCode::from(if help { 0 } else { USAGE_STATUS });
        }
    };
    match run(options) {
        Ok(status) => ExitCode::from(status),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(NO_GUEST_STATUS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        parse_args(&args)
    }

    #[test]
    fn pc_has_a_vga_screen_by_default_and_microvm_none() {
        let pc = parse(&[]).unwrap().config;
        assert!(pc.vga);
        assert_eq!(pc.display, "none");
        let shown = parse(&["--display", "gtk"]).unwrap().config;
        assert_eq!(shown.display, "gtk");
        assert!(!parse(&["--machine", "microvm"]).unwrap().config.vga);
        assert!(parse(&["--display"]).is_err());
    }
}
