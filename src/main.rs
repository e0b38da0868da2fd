//! `cargo run --release -- [FLAGS] [-- QEMU-ARGS...]`: build the kiln image and boot it
//! in QEMU with the serial console on this terminal. Exits with the guest's status.
//!
//! On a terminal, stdin is put in raw mode so Ctrl-C reaches the guest; Ctrl-] quits.
//! From a pipe, bytes pass straight through once the guest's console is up.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};

use clap::Parser;
use kiln::qemu::{self, Accel, Config, Machine};
use kiln::{bake, image, status};

mod bench;

/// Ctrl-]: quits the launcher from a raw terminal (as telnet does).
const QUIT_KEY: u8 = 0x1D;
/// Exit status when QEMU ended without the guest powering off.
const NO_GUEST_STATUS: u8 = 1;
/// Exit status for a bad command line.
const USAGE_STATUS: u8 = 2;

/// kiln: build the kiln unikernel image and boot it in QEMU, or bake your own.
///
/// Without a subcommand, boots kiln's image with its default rc script. On a terminal,
/// press Ctrl-] to quit.
#[derive(Parser, Debug)]
#[command(
    name = "kiln",
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Arguments after `--` go to QEMU as they are: kiln [OPTIONS] -- QEMU-ARGS..., kiln run IMAGE [OPTIONS] -- QEMU-ARGS..."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Subcommand>,
    #[command(flatten)]
    boot: BootArgs,
}

#[derive(clap::Subcommand, Debug)]
enum Subcommand {
    /// Bake ELF programs, files and an rc script into one bootable image
    Bake(BakeArgs),
    /// List what an image holds, without booting it
    Inspect {
        /// The image (from `kiln bake`, or kiln's own)
        image: PathBuf,
    },
    /// Boot an image (from `kiln bake`) with the launcher's flags
    Run {
        /// The image to boot
        image: PathBuf,
        #[command(flatten)]
        boot: BootArgs,
    },
    /// Measure kiln beside a Linux + BusyBox VM; writes BENCHMARKS.md
    Bench(bench::Options),
}

#[derive(clap::Args, Debug)]
struct BakeArgs {
    /// Where the image goes
    #[arg(short, long, value_name = "IMAGE")]
    output: PathBuf,
    /// A manifest that says what to bake (paths in it are relative to it)
    #[arg(long, value_name = "Kiln.toml")]
    manifest: Option<PathBuf>,
    /// The image's default rc script (over the manifest's)
    #[arg(long, value_name = "FILE")]
    rc: Option<PathBuf>,
    /// Bake the data file PATH as /NAME (repeatable)
    #[arg(long = "file", value_name = "NAME=PATH")]
    files: Vec<String>,
    /// Bake the static x86-64 Linux executable PATH as program NAME (repeatable)
    #[arg(long = "program", value_name = "NAME=PATH")]
    programs: Vec<String>,
    /// A Rust crate of native kiln programs (repeatable)
    #[arg(long = "crate", value_name = "PATH")]
    crates: Vec<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct BootArgs {
    /// Run FILE as the rc script (fw_cfg opt/kiln/rc)
    #[arg(long, value_name = "FILE", value_parser = existing_file)]
    rc: Option<PathBuf>,
    /// Accelerator (auto: KVM only after a probe boot works)
    #[arg(long, value_name = "auto|kvm|tcg", default_value = "auto", value_parser = accel)]
    accel: Accel,
    /// QEMU machine type; firecracker: microvm shaped like a Firecracker VM (no PCI, no
    /// fw_cfg, no isa-debug-exit; the rc script, programs and files go in -initrd)
    #[arg(long, value_name = "pc|microvm|firecracker", default_value = "pc", value_parser = machine)]
    machine: Machine,
    /// The firmware of -M pc: qboot (fast; kiln sets the VGA text mode itself, but the
    /// font a VGA BIOS loads is missing, so --display gtk|sdl|vnc takes SeaBIOS, and it
    /// assigns no PCI BARs, so --net does too) or SeaBIOS, QEMU's default; auto: qboot
    /// when QEMU has it
    #[arg(long, value_name = "auto|qboot|seabios", default_value = "auto", value_parser = bios)]
    bios: BiosChoice,
    /// Guest memory in MiB
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = memory)]
    mem: u32,
    /// Kernel command line (e.g. kiln.selftest)
    #[arg(long, value_name = "TEXT", default_value = "")]
    append: String,
    /// Bake the static x86-64 Linux executable PATH as program NAME (repeatable; the
    /// same file may have several names)
    #[arg(long = "program", value_name = "NAME=PATH")]
    programs: Vec<String>,
    /// Bake the file PATH as /NAME (repeatable)
    #[arg(long = "file", value_name = "NAME=PATH")]
    files: Vec<String>,
    /// Where the VGA screen shows (pc; none: type on its PS/2 keyboard through the QEMU
    /// monitor socket the launcher prints)
    #[arg(
        long,
        value_name = "none|gtk|sdl|vnc=127.0.0.1:N",
        default_value = "none"
    )]
    display: String,
    /// Start QEMU's gdb stub on 127.0.0.1, paused, and print the gdb command
    #[arg(long)]
    gdb: bool,
    /// Build the image, print its path and exit
    #[arg(long)]
    print_image: bool,
    /// A virtio-net device on QEMU's user network (virtio-pci on pc, virtio-mmio on
    /// microvm and firecracker); forwarded ports bind to 127.0.0.1 only
    #[arg(
        long,
        value_name = "user[,hostfwd=tcp:127.0.0.1:HOSTPORT-:GUESTPORT]..."
    )]
    net: Option<String>,
    /// What follows `--` (split off before parsing, so that a mistyped subcommand gets
    /// a suggestion instead of being taken for a QEMU argument).
    #[arg(skip)]
    qemu_args: Vec<String>,
}

fn existing_file(text: &str) -> Result<PathBuf, String> {
    let file = PathBuf::from(text);
    if file.is_file() {
        Ok(file)
    } else {
        Err(format!("no such file '{text}'"))
    }
}

fn accel(text: &str) -> Result<Accel, String> {
    Accel::parse(text).ok_or(format!(
        "unknown accelerator '{text}' (use auto, kvm or tcg)"
    ))
}

fn machine(text: &str) -> Result<Machine, String> {
    Machine::parse(text).ok_or(format!(
        "unknown machine '{text}' (use pc, microvm or firecracker)"
    ))
}

/// `--bios`: a firmware, or `auto`.
#[derive(Clone, Copy, Debug)]
struct BiosChoice(Option<qemu::Bios>);

fn bios(text: &str) -> Result<BiosChoice, String> {
    if text == "auto" {
        return Ok(BiosChoice(None));
    }
    qemu::Bios::parse(text)
        .map(|b| BiosChoice(Some(b)))
        .ok_or(format!(
            "unknown firmware '{text}' (use auto, qboot or seabios)"
        ))
}

fn memory(text: &str) -> Result<u32, String> {
    text.parse()
        .ok()
        .filter(|&m: &u32| m >= 2)
        .ok_or(format!("'{text}' is not a size in MiB (>= 2)"))
}

struct Options {
    config: Config,
    print_image: bool,
    gdb: bool,
    /// A baked image to boot instead of kiln's own (`kiln run IMAGE`).
    image: Option<PathBuf>,
}

impl BootArgs {
    /// The checked launcher options.
    fn options(self, image: Option<PathBuf>) -> Result<Options, String> {
        let mut config = Config::new(PathBuf::new());
        config.rc = self.rc;
        config.accel = self.accel;
        config.machine = self.machine;
        config.memory_mib = self.mem;
        config.append = self.append;
        for spec in &self.programs {
            let program = kiln::programs::parse(spec, &config.programs)?;
            config.programs.push(program);
        }
        for spec in &self.files {
            let file = kiln::files::parse(spec, &config.files)?;
            config.files.push(file);
        }
        if let Some(net) = &self.net {
            config.net = Some(qemu::NetConfig::parse(net)?);
        }
        config.display = self.display;
        config.bios = match self.bios.0 {
            Some(qemu::Bios::Qboot) if !std::path::Path::new(qemu::QBOOT).is_file() => {
                return Err(format!(
                    "kiln: --bios qboot: QEMU's {} is not here",
                    qemu::QBOOT
                ));
            }
            Some(chosen) => chosen,
            // A screen for a person needs the font SeaBIOS's VGA BIOS loads.
            None if config.display != "none" => qemu::Bios::SeaBios,
            None => qemu::Bios::default_for_this_qemu(),
        };
        config.extra = self.qemu_args;
        // `-M pc` has a VGA screen and a PS/2 keyboard with a shell of their own.
        config.vga = config.machine == Machine::Pc;
        Ok(Options {
            config,
            print_image: self.print_image,
            gdb: self.gdb,
            image,
        })
    }
}

/// `kiln bake`: checks everything, writes the image, and says what went in.
fn bake(args: BakeArgs) -> Result<(), String> {
    let started = std::time::Instant::now();
    let mut recipe = bake::Recipe::default();
    if let Some(manifest) = &args.manifest {
        recipe.manifest(manifest)?;
    }
    if let Some(rc) = args.rc {
        recipe.rc = Some((
            rc.clone(),
            bake::Source::Flag(format!("--rc {}", rc.display())),
        ));
    }
    for spec in &args.programs {
        recipe.program_flag(spec)?;
    }
    for spec in &args.files {
        recipe.file_flag(spec)?;
    }
    for krate in args.crates {
        recipe.crates.push((
            krate.clone(),
            bake::Source::Flag(format!("--crate {}", krate.display())),
        ));
    }
    let baked = bake::bake(&recipe)?;
    std::fs::write(&args.output, &baked.image)
        .map_err(|e| format!("kiln bake: writing {}: {e}", args.output.display()))?;
    eprintln!(
        "kiln bake: wrote {} ({} bytes: {} ELF programs, {} files, rc {}; bundle {} bytes) in {:.1} ms",
        args.output.display(),
        baked.image.len(),
        baked.programs,
        baked.files,
        if recipe.rc.is_some() {
            "baked"
        } else {
            "kiln's default"
        },
        baked.bundle_bytes,
        started.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}

/// A file removed when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
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
    let image = match &options.image {
        Some(baked) => baked.clone(),
        None => image::build(false)?,
    };
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
    // Firecracker's shape has no fw_cfg: the rc script, programs and files travel in a
    // boot module, removed when QEMU has ended.
    let _initrd = match qemu::initrd_bundle(&config)? {
        Some(bundle) if config.machine == Machine::Firecracker => {
            let path = std::env::temp_dir().join(format!("kiln-{}.initrd", std::process::id()));
            std::fs::write(&path, bundle)
                .map_err(|e| format!("kiln: writing {}: {e}", path.display()))?;
            config.initrd = Some(path.clone());
            Some(RemoveOnDrop(path))
        }
        _ => None,
    };
    config.accel = qemu::resolve_accel(&qemu, &config);
    let machine = config.machine;
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
    let status = if machine == Machine::Firecracker {
        status::guest_status_from_line(exit.code(), &text)
    } else {
        status::guest_status(exit.code(), &text)
    };
    if status.is_none()
        && machine == Machine::Firecracker
        && text.trim_end().ends_with("kiln: reboot")
    {
        eprintln!(
            "kiln: the guest reset (reboot); QEMU runs it with -no-reboot, as Firecracker stops"
        );
        return Ok(NO_GUEST_STATUS);
    }
    match status {
        Some(code) => Ok(code),
        None => {
            eprintln!("kiln: QEMU ended without the guest powering off ({exit})");
            Ok(NO_GUEST_STATUS)
        }
    }
}

/// `kiln run IMAGE`: the image is a kiln image, and `--program`/`--file` add names it
/// does not hold yet.
fn check_run(image: &Path, boot: &BootArgs) -> Result<(), String> {
    let bytes = std::fs::read(image)
        .map_err(|e| format!("kiln run: cannot read '{}': {e}", image.display()))?;
    let held = bake::inspect(&bytes).map_err(|e| format!("kiln run: {e}"))?;
    for spec in &boot.programs {
        let name = spec.split_once('=').map_or(spec.as_str(), |(n, _)| n);
        if held.native.iter().any(|n| n == name) || held.programs.iter().any(|p| p.0 == name) {
            return Err(format!(
                "kiln run: --program {spec}: '{}' already holds a program named '{name}'",
                image.display()
            ));
        }
    }
    for spec in &boot.files {
        let name = spec.split_once('=').map_or(spec.as_str(), |(n, _)| n);
        if held.files.iter().any(|f| f.0 == name) {
            return Err(format!(
                "kiln run: --file {spec}: '{}' already holds a file named '{name}'",
                image.display()
            ));
        }
    }
    Ok(())
}

/// The command line split at the first `--`: kiln's part, and QEMU's.
fn split_qemu_args(args: Vec<String>) -> (Vec<String>, Vec<String>) {
    match args.iter().position(|a| a == "--") {
        Some(at) => (args[..at].to_vec(), args[at + 1..].to_vec()),
        None => (args, Vec::new()),
    }
}

fn main() -> ExitCode {
    let (args, qemu_args) = split_qemu_args(std::env::args().collect());
    let mut cli = Cli::parse_from(args);
    let (mut boot, image) = match cli.command.take() {
        Some(Subcommand::Bench(options)) => return bench::main(options),
        Some(Subcommand::Bake(args)) => {
            return match bake(args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("{message}");
                    ExitCode::from(USAGE_STATUS)
                }
            };
        }
        Some(Subcommand::Inspect { image }) => {
            let shown = std::fs::read(&image)
                .map_err(|e| format!("kiln inspect: cannot read {}: {e}", image.display()))
                .and_then(|bytes| bake::inspect(&bytes));
            return match shown {
                Ok(inspection) => {
                    print!("{inspection}");
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("{message}");
                    ExitCode::from(USAGE_STATUS)
                }
            };
        }
        Some(Subcommand::Run { image, boot }) => {
            if let Err(message) = check_run(&image, &boot) {
                eprintln!("{message}");
                return ExitCode::from(USAGE_STATUS);
            }
            (boot, Some(image))
        }
        None => (cli.boot, None),
    };
    boot.qemu_args = qemu_args;
    let options = match boot.options(image) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(USAGE_STATUS);
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
        let all = std::iter::once("kiln").chain(args.iter().copied());
        let (args, qemu_args) = split_qemu_args(all.map(String::from).collect());
        let mut cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
        cli.boot.qemu_args = qemu_args;
        cli.boot.options(None)
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
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

    #[test]
    fn qemu_arguments_follow_a_double_dash() {
        let options = parse(&["--mem", "128", "--", "-smp", "2"]).unwrap();
        assert_eq!(options.config.memory_mib, 128);
        assert_eq!(options.config.extra, ["-smp", "2"]);
    }

    #[test]
    fn a_typo_gets_a_suggestion() {
        let error = parse(&["--progam", "x=y"])
            .err()
            .expect("a typo is refused");
        assert!(error.contains("--program"), "{error}");
        let error = Cli::try_parse_from(["kiln", "bak"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("bake"), "{error}");
    }
}
