//! `cargo run --release -- bench [--quick] [--skip-peer] [--output FILE]`: measures kiln
//! beside a Linux + BusyBox VM on the same QEMU and writes `BENCHMARKS.md`.
//!
//! What it measures, and how:
//! - boot to prompt: QEMU start to the prompt's last byte on serial, for kiln (an rc
//!   script equivalent to the peer's `/init`, then `shell`), the peer ([`peer`]) and the
//!   VMM floor (a PVH guest that writes one byte, [`pvh`]); on `pc` and `microvm`, under
//!   TCG, and under KVM where `kvm_looks_usable()` and a probe boot say it works;
//! - image size: the stripped ELF with and without utilities ([`image_size`]), and
//!   vmlinuz + initramfs;
//! - RAM floor: the smallest `-m` (MiB) that reaches the prompt, by bisection;
//! - in the image (the `kbench` utility, typed at the kiln shell): job spawn latency,
//!   yield, preemptive switch, 1,000 sleeping jobs;
//! - shell round trip from the host: `echo x` to `x`, idle and with 8 `burn &` jobs;
//! - rc parse throughput on the host (`init/examples/rc_parse_bench.rs`).
//!
//! Every figure is also written as a `key = value` line at the end of the report, which
//! `tests/tests/bench.rs` checks for (never the values).

mod console;
mod image_size;
mod net_load;
mod peer;
mod pvh;
mod stats;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use kiln::BOOT_PHASES;
use kiln::image;
use kiln::qemu::{self, Accel, Bios, Config, Machine};

use console::Guest;
use stats::Summary;

/// The rc script kiln boots with: the same sequence as the peer's `/init`.
pub const KILN_RC: &str = "# The bench rc: the same sequence the Linux peer's /init runs.
echo 'kiln rc: starting'
true
sleep 3600 &
echo 'kiln rc: up'
shell
";
/// kiln's shell prompt.
const KILN_PROMPT: &str = "kiln> ";
/// Guest memory for boot figures, the same for every guest.
const BOOT_MEMORY_MIB: u32 = 256;
/// Guest memory for the in-image figures.
const KBENCH_MEMORY_MIB: u32 = 256;
/// The baked file `busybox md5sum` reads.
const MD5_FILE_BYTES: usize = 8 << 20;
/// Where the RAM floor searches start from (known to boot).
const KILN_RAM_CEILING_MIB: u32 = 64;
const PEER_RAM_CEILING_MIB: u32 = 256;
/// Burners for the loaded round trip.
const BURNERS: usize = 8;
/// How long kiln may take to reach its prompt before a run counts as failed.
const KILN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the peer may take (a Debian kernel under TCG takes seconds).
const PEER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a kbench command may take.
const KBENCH_TIMEOUT: Duration = Duration::from_secs(300);
/// How long one round trip may take.
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(30);
/// The peer's kernel command line for the RAM floor: a panic (out of memory) ends QEMU.
const PEER_RAM_APPEND_EXTRA: &str = "panic=-1";

/// `kiln bench`'s flags.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// Fewer runs and samples (every figure is still produced)
    #[arg(long)]
    quick: bool,
    /// Do not build or boot the Linux + BusyBox peer (peer figures say so)
    #[arg(long)]
    skip_peer: bool,
    /// Where the report goes (default: BENCHMARKS.md at the repo root)
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Measure only these sections (comma-separated; default: all). A partial report
    /// best goes to its own --output
    #[arg(long, value_enum, value_delimiter = ',', value_name = "SECTION")]
    only: Vec<Section>,
}

/// The sections of the report, for `--only`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    /// Boot to prompt: the VMM floor, kiln and the peer per machine
    Boot,
    /// Boot phases (kiln.bootstats)
    Phases,
    /// Image sizes
    Size,
    /// RAM floors
    Ram,
    /// kbench in the image and shell round trips
    Image,
    /// ELF programs in kiln and the peer
    Elf,
    /// TCP round trips and TCP under load
    Net,
    /// kiln bake
    Bake,
    /// rc parse throughput
    Rc,
}

impl Options {
    fn wants(&self, section: Section) -> bool {
        self.only.is_empty() || self.only.contains(&section)
    }
}

/// How much to measure.
struct Plan {
    boot_runs: usize,
    round_trips: usize,
    switch_ms: u64,
    /// `busybox true` runs (and spawns), and the end of `seq`, for the ELF figures.
    true_runs: usize,
    /// getpid calls in the syscall round trip.
    getpid_calls: u64,
    seq_to: u64,
    /// RAM floors are searched over multiples of this (MiB).
    kiln_ram_step: u32,
    peer_ram_step: u32,
    /// TCP connections in a row, and per parallel client, for the network load figures.
    load_sequential: usize,
    load_each: usize,
    /// Bytes of the long TCP echo transfer.
    transfer_bytes: usize,
}

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                boot_runs: 1,
                round_trips: 10,
                switch_ms: 300,
                true_runs: 50,
                getpid_calls: 10_000,
                seq_to: 100_000,
                kiln_ram_step: 1,
                peer_ram_step: 16,
                load_sequential: 100,
                load_each: 5,
                transfer_bytes: 2 << 20,
            }
        } else {
            Plan {
                boot_runs: 11,
                round_trips: 200,
                switch_ms: 2000,
                true_runs: 1000,
                getpid_calls: 100_000,
                seq_to: 1_000_000,
                kiln_ram_step: 1,
                peer_ram_step: 1,
                load_sequential: 1000,
                load_each: 20,
                transfer_bytes: 16 << 20,
            }
        }
    }
}

/// Runs `kiln bench`.
pub fn main(mut options: Options) -> ExitCode {
    let output = options
        .output
        .take()
        .unwrap_or_else(|| image::workspace_root().join("BENCHMARKS.md"));
    options.output = Some(output.clone());
    match run(&options) {
        Ok(()) => {
            eprintln!("kiln bench: wrote {}", output.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// The report under construction: markdown sections and `key = value` figures.
#[derive(Default)]
struct Report {
    body: String,
    figures: Vec<(String, String)>,
}

impl Report {
    fn line(&mut self, text: &str) {
        self.body.push_str(text);
        self.body.push('\n');
    }

    /// `commands` as a fenced `sh` block.
    fn shell_block(&mut self, commands: &[String]) {
        self.line("```sh");
        for command in commands {
            self.line(command);
        }
        self.line("```");
    }

    fn figure(&mut self, key: &str, value: impl std::fmt::Display) {
        self.figures.push((key.to_string(), value.to_string()));
    }

    /// Records `key.median`, `key.min`, `key.max`, `key.runs`.
    fn summary(&mut self, key: &str, summary: &Summary) {
        self.figure(&format!("{key}.median"), format!("{:.3}", summary.median));
        self.figure(&format!("{key}.min"), format!("{:.3}", summary.min));
        self.figure(&format!("{key}.max"), format!("{:.3}", summary.max));
        self.figure(&format!("{key}.runs"), summary.runs);
    }
}

fn progress(message: &str) {
    eprintln!("kiln bench: {message}");
}

/// A command line as one shell-quoted string, for the report.
fn shown(command: &Command) -> String {
    let quote = |s: &str| {
        if !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c))
        {
            s.to_string()
        } else {
            format!("'{}'", s.replace('\'', "'\\''"))
        }
    };
    let root = image::workspace_root().display().to_string();
    let mut words = vec![quote(&command.get_program().to_string_lossy())];
    words.extend(command.get_args().map(|a| quote(&a.to_string_lossy())));
    // Paths relative to the repo root read better and reproduce anywhere.
    words.join(" ").replace(&format!("{root}/"), "")
}

/// The QEMU command line shared by the peer and the VMM floor guest (kiln's comes
/// from `kiln::qemu::Config`, with the same flags).
/// QEMU with `kernel` and nothing else kiln's launcher adds; `-M pc` gets `bios`, so
/// every guest of a row runs the same firmware.
fn plain_command(
    qemu: &Path,
    machine: Machine,
    bios: Bios,
    accel: Accel,
    memory_mib: u32,
    kernel: &Path,
) -> Command {
    let mut command = Command::new(qemu);
    command
        .arg("-M")
        .arg(machine.qemu_machine())
        .arg("-accel")
        .arg(if accel == Accel::Kvm { "kvm" } else { "tcg" })
        .arg("-m")
        .arg(memory_mib.to_string())
        .arg("-kernel")
        .arg(kernel)
        .args(["-nodefaults", "-no-user-config"])
        .args(["-chardev", "stdio,id=console,signal=off"])
        .args(["-serial", "chardev:console"])
        .args(["-display", "none"]);
    if machine == Machine::Pc && bios == Bios::Qboot {
        command.args(["-bios", qemu::QBOOT]);
    }
    command
}

fn peer_command(
    qemu: &Path,
    peer: &peer::Peer,
    machine: Machine,
    bios: Bios,
    accel: Accel,
    memory_mib: u32,
    append_extra: &str,
) -> Command {
    let mut command = plain_command(qemu, machine, bios, accel, memory_mib, &peer.vmlinuz);
    let append = if append_extra.is_empty() {
        peer::APPEND.to_string()
    } else {
        format!("{} {append_extra}", peer::APPEND)
    };
    command
        .arg("-initrd")
        .arg(&peer.initramfs)
        .arg("-append")
        .arg(append);
    command
}

/// The machines the boot figures measure, with their firmware and report name: pc
/// with SeaBIOS too where qboot is the default.
fn boot_shapes() -> Vec<(Machine, Bios, &'static str)> {
    let default_bios = Bios::default_for_this_qemu();
    let mut shapes = vec![
        (Machine::Microvm, default_bios, "microvm"),
        (Machine::Firecracker, default_bios, "firecracker"),
        (Machine::Pc, default_bios, "pc"),
    ];
    if default_bios == Bios::Qboot {
        shapes.push((Machine::Pc, Bios::SeaBios, "pc_seabios"));
    }
    shapes
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// One guest of the boot figures and what its runs gave.
struct BootGuest<'a> {
    key: &'static str,
    label: &'static str,
    make: &'a dyn Fn() -> Command,
    prompt: &'a str,
    timeout: Duration,
    /// Milliseconds from QEMU start to the prompt, one per successful run.
    times: Vec<f64>,
    failures: usize,
    last_error: Option<String>,
}

impl<'a> BootGuest<'a> {
    fn new(
        key: &'static str,
        label: &'static str,
        make: &'a dyn Fn() -> Command,
        prompt: &'a str,
        timeout: Duration,
    ) -> BootGuest<'a> {
        BootGuest {
            key,
            label,
            make,
            prompt,
            timeout,
            times: Vec::new(),
            failures: 0,
            last_error: None,
        }
    }

    /// One boot; a failure is counted and remembered.
    fn boot(&mut self) {
        match Guest::start((self.make)()) {
            Ok(mut guest) => match guest.expect(self.prompt, self.timeout) {
                Ok(at) => self.times.push(ms(at - guest.started)),
                Err(why) => {
                    self.failures += 1;
                    self.last_error =
                        Some(format!("{why}; console ended with: {:?}", guest.tail(300)));
                }
            },
            Err(why) => {
                self.failures += 1;
                self.last_error = Some(why);
            }
        }
    }
}

/// Boots the guests in turn, round after round, until each has `runs` runs that
/// reached the prompt (or twice as many attempts): interleaving spreads the host's
/// load over every guest alike.
fn boot_rounds(guests: &mut [BootGuest<'_>], runs: usize) {
    loop {
        let mut booted = false;
        for guest in guests.iter_mut() {
            if guest.times.len() < runs && guest.times.len() + guest.failures < 2 * runs {
                guest.boot();
                booted = true;
            }
        }
        if !booted {
            return;
        }
    }
}

/// What a guest must still do at its RAM floor: the lines to type, each with a word of
/// its expected answer. The floor is where the image works, not where a prompt shows.
type Workload = &'static [(&'static str, &'static str)];

/// kiln at its floor: a 3-stage pipeline, `fw list` and `memstat`.
const KILN_FLOOR_WORKLOAD: Workload = &[
    ("producer 3 | upper | consumer\r", "3 lines"),
    ("fw list\r", "policy: pass"),
    ("memstat\r", "heap: size="),
];
/// The peer at its floor: a 3-stage BusyBox pipeline and `free`.
const PEER_FLOOR_WORKLOAD: Workload = &[("echo a b c | cat | wc -w\r", "\n3"), ("free\r", "Mem:")];

/// True if `make(mib)` reaches `prompt` within `timeout`, then answers every line of
/// `workload` (each followed by the prompt again).
fn works_at(
    make: &dyn Fn(u32) -> Command,
    mib: u32,
    prompt: &str,
    timeout: Duration,
    workload: Workload,
) -> bool {
    let Ok(mut guest) = Guest::start(make(mib)) else {
        return false;
    };
    // Every part of the image must have started: kiln says so when one could not (the
    // keyboard console needs memory of its own).
    match guest.expect_text(prompt, timeout) {
        Ok((_, boot)) if !boot.contains("cannot start") && !boot.contains("no memory") => {}
        _ => return false,
    }
    workload.iter().all(|(line, answer)| {
        guest.send(line.as_bytes()).is_ok()
            && guest.expect(answer, timeout).is_ok()
            && guest.expect(prompt, timeout).is_ok()
    })
}

/// The smallest multiple of `step` MiB (up to `ceiling`) at which the guest reaches the
/// prompt and runs `workload`, by bisection; `None` if even `ceiling` does not. Assumes
/// more memory never hurts.
fn ram_floor(
    make: &dyn Fn(u32) -> Command,
    prompt: &str,
    timeout: Duration,
    workload: Workload,
    ceiling: u32,
    step: u32,
) -> Option<(u32, usize)> {
    let reaches = |make: &dyn Fn(u32) -> Command, mib, prompt: &str, timeout| {
        works_at(make, mib, prompt, timeout, workload)
    };
    let mut boots = 1;
    if !reaches(make, ceiling, prompt, timeout) {
        return None;
    }
    // In units of `step`: `low` fails (0 MiB cannot boot), `high` works.
    let (mut low, mut high) = (0, ceiling / step);
    while high - low > 1 {
        let mid = (low + high) / 2;
        boots += 1;
        if reaches(make, mid * step, prompt, timeout) {
            high = mid;
        } else {
            low = mid;
        }
    }
    Some((high * step, boots))
}

/// What the machine is, for the report's header.
fn machine_info(qemu: &Path) -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let output = |program: &Path, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .ok()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
            .unwrap_or_else(|| "unknown".into())
    };
    let root = image::workspace_root();
    let commit = Command::new("git")
        .current_dir(root)
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    vec![
        (
            "date".into(),
            output(Path::new("date"), &["-u", "+%Y-%m-%d %H:%M:%S UTC"]),
        ),
        ("nproc".into(), output(Path::new("nproc"), &[])),
        ("CPU".into(), model),
        ("host kernel".into(), output(Path::new("uname"), &["-sr"])),
        ("QEMU".into(), output(qemu, &["--version"])),
        ("kiln commit".into(), commit),
    ]
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn kiln_config(image: &Path, machine: Machine, accel: Accel, memory_mib: u32, rc: &Path) -> Config {
    let mut config = Config::new(image.to_path_buf());
    config.machine = machine;
    config.accel = accel;
    config.memory_mib = memory_mib;
    config.rc = Some(rc.to_path_buf());
    if machine == Machine::Firecracker {
        // No fw_cfg there: the rc script goes in the boot module, as the launcher does.
        let initrd = rc.with_extension("initrd");
        if let Ok(Some(bundle)) = qemu::initrd_bundle(&config)
            && std::fs::write(&initrd, bundle).is_ok()
        {
            config.initrd = Some(initrd);
        }
    }
    config
}

fn write_file(path: &Path, contents: &[u8]) -> Result<(), String> {
    std::fs::write(path, contents).map_err(|e| format!("kiln bench: {}: {e}", path.display()))
}

fn run(options: &Options) -> Result<(), String> {
    let plan = Plan::new(options.quick);
    let root = image::workspace_root();
    let dir = root.join("target").join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("kiln bench: {}: {e}", dir.display()))?;
    let load_at_start = load();

    progress("building the image");
    image::build(options.quick)?;
    // The "kiln" row boots the ELF as linked (with debug information); the stripped row
    // is what the launcher boots.
    let image = image::debug_image_path();
    let qemu = qemu::find_or_install()?;
    let machine = machine_info(&qemu);

    let rc = dir.join("kiln-bench.rc");
    write_file(&rc, KILN_RC.as_bytes())?;
    let shell_rc = dir.join("kiln-shell.rc");
    write_file(&shell_rc, b"shell\n")?;
    let floor_elf = dir.join("pvh-floor.elf");
    write_file(&floor_elf, &pvh::elf())?;

    let peer = if options.skip_peer {
        None
    } else {
        progress("building the peer (Debian kernel + busybox-static initramfs)");
        Some(peer::build(&dir.join("peer"))?)
    };

    let mut report = Report::default();
    let mode = if options.quick { "--quick" } else { "full" };
    report.line("# kiln benchmarks");
    report.line("");
    report.line(&format!(
        "Written by `cargo run --release -- bench{}` ({mode} mode). Every figure below was measured in this one run; the command behind each is given with it. Reproduce with the same command.",
        if options.quick { " --quick" } else { "" }
    ));
    report.line("");
    report.line("## Machine");
    report.line("");
    report.line("| | |");
    report.line("|---|---|");
    for (name, value) in &machine {
        report.line(&format!("| {name} | {value} |"));
    }
    report.line(&format!(
        "| load average at start (1, 5, 15 min) | {load_at_start} |"
    ));
    let load_row = report.body.len();

    let (stripped_image, _) = image_size::stripped(&image, &dir, "kiln-image.stripped")?;

    // ---------------------------------------------------------------- accelerators
    let mut accels = vec![Accel::Tcg];
    let kvm_note = if !qemu::kvm_looks_usable() {
        "KVM: not measured. `kiln::qemu::kvm_looks_usable()` says no here (no vmx/svm flag in /proc/cpuinfo, or the software-assisted `kvm_pvm` module is loaded, which faults on SSE), so every figure is under TCG.".to_string()
    } else if qemu::kvm_probe(&qemu, &Config::new(image.clone())) {
        accels.push(Accel::Kvm);
        "KVM: usable (a probe boot powered off cleanly), measured beside TCG.".to_string()
    } else {
        "KVM: not measured. `/dev/kvm` looked usable but the probe boot failed, so every figure is under TCG.".to_string()
    };
    report.figure("kvm.measured", accels.contains(&Accel::Kvm));

    if options.wants(Section::Boot) {
        // ---------------------------------------------------------------- boot to prompt
        report.line("");
        report.line("## Boot to prompt");
        report.line("");
        report.line(&format!(
        "QEMU start (just before `spawn`) to the arrival of the prompt's last byte on the serial pipe; median, min and max of {} runs each, -m {BOOT_MEMORY_MIB} for every guest. kiln runs an rc script equivalent to the peer's `/init` (two echos, `true`, `sleep 3600 &`, then the shell); the VMM floor is a {}-byte PVH guest that writes one character to COM1 and halts. kiln's own share is its median minus the floor's.",
        plan.boot_runs,
        pvh::elf().len()
    ));
        report.line("");
        report.line(&kvm_note);
        report.line("");
        report.line(
        "| machine | accel | guest | median ms | min ms | max ms | runs (failed) | peer / kiln |",
    );
        report.line("|---|---|---|---|---|---|---|---|");
        let mut commands = Vec::new();
        let mut microvm_notes: Vec<String> = Vec::new();
        for &accel in &accels {
            let accel_name = if accel == Accel::Kvm { "kvm" } else { "tcg" };
            for (machine_type, bios, m) in boot_shapes() {
                let key = |guest: &str| format!("boot.{m}.{accel_name}.{guest}");

                // On microvm the Debian kernel cannot calibrate its TSC (no HPET or PM
                // timer) and then waits for a timer tick that never comes; telling it the
                // TSC rate avoids that. How often the plain command line hangs is measured.
                let extra = match machine_type {
                    Machine::Microvm | Machine::Firecracker => {
                        format!("tsc_early_khz={}", host_tsc_khz())
                    }
                    Machine::Pc => String::new(),
                };
                if let Some(peer) = &peer
                    && machine_type == Machine::Microvm
                {
                    progress(&format!(
                        "peer on {m}/{accel_name} with its plain command line"
                    ));
                    let plain_make = |_: u32| {
                        peer_command(&qemu, peer, machine_type, bios, accel, BOOT_MEMORY_MIB, "")
                    };
                    let tries = plan.boot_runs;
                    let hung = (0..tries)
                        .filter(|_| {
                            !works_at(
                                &plain_make,
                                BOOT_MEMORY_MIB,
                                peer::PROMPT,
                                PEER_TIMEOUT,
                                &[],
                            )
                        })
                        .count();
                    report.figure(&key("peer_plain_hung"), format!("{hung}/{tries}"));
                    microvm_notes.push(format!(
                    "On microvm/{accel_name} the peer boots with `{extra}` added to its command line: with the plain `{}` it hung (no prompt within {} s) in {hung} of {tries} boots in this run. The Debian kernel finds no HPET or PM timer to calibrate its TSC against, marks the TSC unstable and waits for a timer tick that never comes (docs/ARCHITECTURE.md, \"Boot\").",
                    peer::APPEND,
                    PEER_TIMEOUT.as_secs()
                ));
                }

                progress(&format!("boot to prompt: {m}, {accel_name}"));
                let floor_char = (pvh::CHARACTER as char).to_string();
                let floor_make = || {
                    plain_command(
                        &qemu,
                        machine_type,
                        bios,
                        accel,
                        BOOT_MEMORY_MIB,
                        &floor_elf,
                    )
                };
                let kiln_make = || {
                    let mut config = kiln_config(&image, machine_type, accel, BOOT_MEMORY_MIB, &rc);
                    config.bios = bios;
                    config.command(&qemu)
                };
                let stripped_make = || {
                    let mut config =
                        kiln_config(&stripped_image, machine_type, accel, BOOT_MEMORY_MIB, &rc);
                    config.bios = bios;
                    config.command(&qemu)
                };
                let peer_make = || {
                    let peer = peer.as_ref().expect("only made with a peer");
                    peer_command(
                        &qemu,
                        peer,
                        machine_type,
                        bios,
                        accel,
                        BOOT_MEMORY_MIB,
                        &extra,
                    )
                };
                let mut guests: Vec<BootGuest<'_>> = vec![
                    BootGuest::new("floor", "VMM floor", &floor_make, &floor_char, KILN_TIMEOUT),
                    BootGuest::new("kiln", "kiln", &kiln_make, KILN_PROMPT, KILN_TIMEOUT),
                    BootGuest::new(
                        "kiln_stripped",
                        "kiln, stripped ELF (same image, no symbols/debug info)",
                        &stripped_make,
                        KILN_PROMPT,
                        KILN_TIMEOUT,
                    ),
                ];
                // The peer's Debian kernel is measured on pc and microvm only.
                if peer.is_some() && machine_type != Machine::Firecracker {
                    guests.push(BootGuest::new(
                        "peer",
                        "Linux + BusyBox",
                        &peer_make,
                        peer::PROMPT,
                        PEER_TIMEOUT,
                    ));
                }
                boot_rounds(&mut guests, plan.boot_runs);

                let mut summaries = Vec::new();
                for guest in &guests {
                    let summary = Summary::of(&guest.times).ok_or_else(|| {
                        format!(
                            "kiln bench: {} never reached its prompt on {m}/{accel_name}: {:?}",
                            guest.label, guest.last_error
                        )
                    })?;
                    report.summary(&key(guest.key), &summary);
                    commands.push((
                        format!("{}, {m}, {accel_name}", guest.label),
                        shown(&(guest.make)()),
                    ));
                    summaries.push(summary);
                }
                let (floor_s, kiln_s) = (summaries[0], summaries[1]);
                let share = kiln_s.median - floor_s.median;
                report.figure(&key("kiln_share_ms"), format!("{share:.3}"));
                let over_floor = kiln_s.median / floor_s.median;
                report.figure(&key("kiln_floor_ratio"), format!("{over_floor:.3}"));
                let stripped_over_floor = summaries[2].median / floor_s.median;
                report.figure(
                    &key("kiln_stripped_floor_ratio"),
                    format!("{stripped_over_floor:.3}"),
                );
                let stripped_share = summaries[2].median - floor_s.median;
                report.figure(
                    &key("kiln_stripped_share_ms"),
                    format!("{stripped_share:.3}"),
                );
                let row = |guest: &BootGuest<'_>, s: &Summary, ratio: &str| {
                    format!(
                        "| {m} | {accel_name} | {} | {:.1} | {:.1} | {:.1} | {} ({}) | {ratio} |",
                        guest.label, s.median, s.min, s.max, s.runs, guest.failures
                    )
                };
                for (i, (guest, summary)) in guests.iter().zip(&summaries).enumerate() {
                    let ratio = if guest.key == "peer" {
                        let ratio = summary.median / kiln_s.median;
                        report.figure(&key("ratio"), format!("{ratio:.1}"));
                        report.figure(&key("peer_failed"), guest.failures);
                        format!("{ratio:.1}×")
                    } else {
                        String::new()
                    };
                    report.line(&row(guest, summary, &ratio));
                    if i == 1 {
                        report.line(&format!(
                        "| {m} | {accel_name} | kiln's own share (kiln − floor); kiln / floor | {share:.1}; {over_floor:.2}× | | | | |"
                    ));
                    }
                    if i == 2 {
                        report.line(&format!(
                        "| {m} | {accel_name} | stripped kiln's own share (stripped − floor); stripped / floor | {stripped_share:.1}; {stripped_over_floor:.2}× | | | | |"
                    ));
                    }
                }
                if peer.is_none() {
                    report.line(&format!(
                        "| {m} | {accel_name} | Linux + BusyBox | skipped (--skip-peer) | | | | |"
                    ));
                } else if machine_type == Machine::Firecracker {
                    report.line(&format!(
                    "| {m} | {accel_name} | Linux + BusyBox | not measured (kiln's Firecracker shape only) | | | | |"
                ));
                }
            }
        }
        report.line("");
        report.line(&format!(
        "Firmware on pc: `pc` is {} (`-bios {}`, the launcher's default when QEMU has it), `pc_seabios` is QEMU's default SeaBIOS; the floor, kiln and the peer of a row run the same one.",
        if Bios::default_for_this_qemu() == Bios::Qboot { "qboot" } else { "SeaBIOS (qboot is not installed)" },
        qemu::QBOOT
    ));
        report.line("");
        report.line("Failed runs (did not reach the prompt within the timeout: kiln 10 s, peer 30 s) are retried, up to twice the run count, and shown in brackets.");
        for note in &microvm_notes {
            report.line("");
            report.line(note);
        }
        report.line("");
        report.line("Commands (the kiln rc file is `target/bench/kiln-bench.rc`, written by the bench with the sequence above):");
        report.line("");
        report.line("```sh");
        for (what, command) in &commands {
            report.line(&format!("# {what}"));
            report.line(command);
        }
        report.line("```");
    }

    // ---------------------------------------------------------------- boot phases
    if options.wants(Section::Phases) {
        progress("boot phases (kiln.bootstats)");
        boot_phases(&mut report, &plan, &qemu, &image, &rc)?;
    }

    // ---------------------------------------------------------------- image size
    if options.wants(Section::Size) {
        progress("image sizes");
        report.line("");
        report.line("## Image size");
        report.line("");
        let with_utils = std::fs::metadata(&stripped_image)
            .map_err(|e| format!("kiln bench: {e}"))?
            .len();
        let no_utils_image =
            image_size::build_without_utilities(root, &dir.join("no-utils"), options.quick)?;
        let (_, without_utils) =
            image_size::stripped(&no_utils_image, &dir, "kiln-image-no-utils.stripped")?;
        report.figure("size.kiln.stripped_bytes", with_utils);
        report.figure("size.kiln_no_utils.stripped_bytes", without_utils);
        report.line("| image | bytes | KiB |");
        report.line("|---|---|---|");
        let kib = |b: u64| b as f64 / 1024.0;
        report.line(&format!(
            "| kiln, stripped, with its utilities ({} baked programs) | {with_utils} | {:.1} |",
            kiln_utils_count(),
            kib(with_utils)
        ));
        report.line(&format!(
        "| kiln, stripped, without utilities (empty program registry) | {without_utils} | {:.1} |",
        kib(without_utils)
    ));
        if let Some(peer) = &peer {
            let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            let (vmlinuz, initramfs) = (size(&peer.vmlinuz), size(&peer.initramfs));
            report.figure("size.peer.vmlinuz_bytes", vmlinuz);
            report.figure("size.peer.initramfs_bytes", initramfs);
            report.figure("size.peer.total_bytes", vmlinuz + initramfs);
            report.figure(
                "size.ratio",
                format!("{:.1}", (vmlinuz + initramfs) as f64 / with_utils as f64),
            );
            report.line(&format!(
                "| peer vmlinuz ({}) | {vmlinuz} | {:.1} |",
                peer.kernel_package,
                kib(vmlinuz)
            ));
            report.line(&format!(
                "| peer initramfs.cpio.gz (busybox-static {}) | {initramfs} | {:.1} |",
                peer.busybox_version,
                kib(initramfs)
            ));
            report.line(&format!(
                "| peer total | {} | {:.1} ({:.1}× kiln) |",
                vmlinuz + initramfs,
                kib(vmlinuz + initramfs),
                (vmlinuz + initramfs) as f64 / with_utils as f64
            ));
        }
        report.line("");
        report.line("Commands: `cargo build --release -p kiln-board --bin kiln-image --target-dir target/image` (what `kiln::image::build` runs), then `strip` on a copy (`target/bench/kiln-image.stripped`). Without utilities: the same build of a copy of the workspace (`target/bench/no-utils/src`) whose `kiln_utils::PROGRAMS` is `&[]`; the rest of the image (board, init, shell, the net driver's firewall engine) is unchanged. Peer: `stat -c %s target/bench/peer/vmlinuz target/bench/peer/initramfs.cpio.gz`.");
    }

    // ---------------------------------------------------------------- RAM floor
    if options.wants(Section::Ram) {
        report.line("");
        report.line("## RAM floor");
        report.line("");
        progress("RAM floor: kiln");
        let kiln_ram_make =
            |mib: u32| kiln_config(&image, Machine::Pc, Accel::Tcg, mib, &rc).command(&qemu);
        let (kiln_floor, kiln_boots) = ram_floor(
            &kiln_ram_make,
            KILN_PROMPT,
            KILN_TIMEOUT,
            KILN_FLOOR_WORKLOAD,
            KILN_RAM_CEILING_MIB,
            plan.kiln_ram_step,
        )
        .ok_or(format!(
            "kiln bench: kiln did not boot with -m {KILN_RAM_CEILING_MIB}"
        ))?;
        report.figure("ram.kiln.mib", kiln_floor);
        report.line(&format!(
        "Bisection over `-m` in steps of {} MiB (kiln) and {} MiB (peer) on pc/TCG, from a ceiling that boots ({KILN_RAM_CEILING_MIB} and {PEER_RAM_CEILING_MIB} MiB). A size counts only if the guest reaches its prompt and then does real work within the timeout: kiln runs `producer 3 | upper | consumer`, `fw list` and `memstat`; the peer runs `echo a b c | cat | wc -w` and `free`.",
        plan.kiln_ram_step, plan.peer_ram_step
    ));
        report.line("");
        report.line("| guest | RAM floor (MiB) | boots tried |");
        report.line("|---|---|---|");
        report.line(&format!("| kiln | {kiln_floor} | {kiln_boots} |"));
        let mut ram_commands = vec![shown(&kiln_ram_make(kiln_floor))];
        if let Some(peer) = &peer {
            progress("RAM floor: peer");
            let peer_ram_make = |mib: u32| {
                let mut command = peer_command(
                    &qemu,
                    peer,
                    Machine::Pc,
                    Bios::default_for_this_qemu(),
                    Accel::Tcg,
                    mib,
                    PEER_RAM_APPEND_EXTRA,
                );
                command.arg("-no-reboot");
                command
            };
            match ram_floor(
                &peer_ram_make,
                peer::PROMPT,
                PEER_TIMEOUT,
                PEER_FLOOR_WORKLOAD,
                PEER_RAM_CEILING_MIB,
                plan.peer_ram_step,
            ) {
                Some((peer_floor, peer_boots)) => {
                    report.figure("ram.peer.mib", peer_floor);
                    report.figure(
                        "ram.ratio",
                        format!("{:.1}", peer_floor as f64 / kiln_floor as f64),
                    );
                    report.line(&format!(
                        "| Linux + BusyBox | {peer_floor} | {peer_boots} |"
                    ));
                    ram_commands.push(shown(&peer_ram_make(peer_floor)));
                }
                None => {
                    return Err(format!(
                        "kiln bench: the peer did not boot with -m {PEER_RAM_CEILING_MIB}"
                    ));
                }
            }
        } else {
            report.line("| Linux + BusyBox | skipped (--skip-peer) | |");
        }
        report.line("");
        report.line("Commands at the floor (the peer's adds `panic=-1 -no-reboot` so an out-of-memory panic ends QEMU at once):");
        report.line("");
        report.shell_block(&ram_commands);
    }

    // ---------------------------------------------------------------- in the image
    if options.wants(Section::Image) {
        progress("in-image figures (kbench) and shell round trips");
        in_image(&mut report, &plan, &qemu, &image, &shell_rc)?;
    }

    // ---------------------------------------------------------------- ELF programs
    if options.wants(Section::Elf) {
        if let Some(peer) = &peer {
            progress("ELF programs: busybox in kiln and in the peer");
            elf_programs(&mut report, &plan, &qemu, &image, &shell_rc, peer, &dir)?;
        } else {
            report.line("");
            report.line("## ELF programs");
            report.line("");
            report.line(
                "Skipped (--skip-peer): the figures compare the peer's own busybox in both guests.",
            );
        }
    }

    // ---------------------------------------------------------------- network
    if options.wants(Section::Net) {
        progress("TCP echo round trips: virtio-pci and virtio-mmio");
        net_round_trips(&mut report, &plan, &qemu, &image, &dir)?;
        progress("TCP load: connections per second and echo throughput, kiln and the peer");
        net_load(&mut report, &plan, &qemu, &image, &dir, peer.as_ref())?;
    }

    // ---------------------------------------------------------------- bake
    if options.wants(Section::Bake) {
        progress("kiln bake: packaging time and image size");
        bake_figures(&mut report, &dir, peer.is_some())?;
    }

    // ---------------------------------------------------------------- rc parse
    if options.wants(Section::Rc) {
        progress("rc parse throughput");
        rc_parse(&mut report, &dir)?;
    }

    // ---------------------------------------------------------------- end
    let load_at_end = load();
    report.body.insert_str(
        load_row,
        &format!("| load average at end | {load_at_end} |\n"),
    );
    report.line("");
    report.line("## Figures, machine-readable");
    report.line("");
    report.line("Times in ms unless the key says `_ns`; sizes in bytes; RAM in MiB. `tests/tests/bench.rs` checks that every key is present (never the values).");
    report.line("");
    report.line("```text");
    let figures = std::mem::take(&mut report.figures);
    for (key, value) in &figures {
        report.line(&format!("{key} = {value}"));
    }
    report.line("```");
    write_file(
        options.output.as_deref().expect("set by main"),
        report.body.as_bytes(),
    )
}

/// Where kiln's boot time goes: `kiln.bootstats` on each machine shape, the median of
/// each phase's stamp over the runs, in ms since the image's first instruction (cycles
/// at the host's TSC rate, which TCG's TSC follows).
fn boot_phases(
    report: &mut Report,
    plan: &Plan,
    qemu: &Path,
    image: &Path,
    rc: &Path,
) -> Result<(), String> {
    let khz = host_tsc_khz() as f64;
    let shapes = boot_shapes();
    let mut columns = Vec::new();
    for (machine, bios, label) in &shapes {
        let mut runs: Vec<Vec<f64>> = vec![Vec::new(); BOOT_PHASES.len()];
        for _ in 0..plan.boot_runs {
            let mut config = kiln_config(image, *machine, Accel::Tcg, BOOT_MEMORY_MIB, rc);
            config.bios = *bios;
            config.append = "kiln.bootstats".into();
            let mut guest = Guest::start(config.command(qemu))?;
            guest.expect("kiln: bootstats cycles since entry: ", KILN_TIMEOUT)?;
            let (_, line) = guest.expect_text("\r\n", KILN_TIMEOUT)?;
            for (at, (name, value)) in kbench_pairs(&line).into_iter().enumerate() {
                if BOOT_PHASES.get(at) != Some(&name.as_str()) {
                    return Err(format!("kiln bench: bootstats on {label}: {line:?}"));
                }
                let cycles: f64 = value
                    .parse()
                    .map_err(|_| format!("kiln bench: bootstats on {label}: {line:?}"))?;
                runs[at].push(cycles / khz);
            }
        }
        let medians: Vec<f64> = runs
            .iter()
            .map(|samples| stats::percentile(samples, 50.0).unwrap_or(f64::NAN))
            .collect();
        for (name, median) in BOOT_PHASES.iter().zip(&medians) {
            report.figure(
                &format!("bootstats.{label}.{name}_ms"),
                format!("{median:.3}"),
            );
        }
        columns.push((*label, medians));
    }
    report.line("");
    report.line("## Boot phases");
    report.line("");
    report.line(&format!(
        "`kiln.bootstats` on the kernel command line: the image stamps its boot phases with the TSC and prints them in one line before its first prompt. Median of {} boots per shape (TCG, -m {BOOT_MEMORY_MIB}), in ms since kiln's first instruction (cycles at the host's {:.0} MHz, which TCG's TSC follows). What the VMM and firmware do before that first instruction is the floor above.",
        plan.boot_runs,
        khz / 1000.0
    ));
    report.line("");
    let mut header = String::from("| phase |");
    let mut rule = String::from("|---|");
    for (label, _) in &columns {
        header.push_str(&format!(" {label} |"));
        rule.push_str("---|");
    }
    report.line(&header);
    report.line(&rule);
    for (at, name) in BOOT_PHASES.iter().enumerate() {
        let mut row = format!("| {name} |");
        for (_, medians) in &columns {
            row.push_str(&format!(" {:.2} |", medians[at]));
        }
        report.line(&row);
    }
    report.line("");
    report.line("Phases: `long_mode` paging on and 64-bit code; `heap` the heap claimed; `interrupts` GDT/IDT, threads, PIC/PIT/LAPIC and interrupts on; `init` init's thread runs; `keyboard` the keyboard console started (or not there); `net` the network device looked for; `rc` the rc script loaded; `prompt` the shell about to show its first prompt, after the rc script's commands ran.");
    Ok(())
}

/// The host's TSC rate in kHz (from /proc/cpuinfo's `cpu MHz`), for the peer's
/// `tsc_early_khz`; 2 GHz if unknown.
fn host_tsc_khz() -> u64 {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("cpu MHz").and_then(|r| r.split_once(':')))
                .and_then(|(_, mhz)| mhz.trim().parse::<f64>().ok())
        })
        .map(|mhz| (mhz * 1000.0) as u64)
        .unwrap_or(2_000_000)
}

/// How many programs the image bakes.
fn kiln_utils_count() -> String {
    let lib = image::workspace_root().join("utils/src/lib.rs");
    std::fs::read_to_string(lib)
        .ok()
        .and_then(|text| {
            let start = text.find("pub const PROGRAMS")?;
            let end = start + text[start..].find("];")?;
            Some(text[start..end].matches("::PROGRAM").count().to_string())
        })
        .unwrap_or_else(|| "?".into())
}

/// Parses `kbench NAME k=v k=v ...` into pairs.
fn kbench_pairs(line: &str) -> Vec<(String, String)> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

/// Types `command` at the kiln shell and returns the pairs of its `kbench NAME` line.
fn kbench(guest: &mut Guest, command: &str, output: &str) -> Result<Vec<(String, String)>, String> {
    guest.send(format!("{command}\r").as_bytes())?;
    let fail = |why: String, guest: &Guest| {
        format!(
            "kiln bench: `{command}` in the image: {why}; console: {:?}",
            guest.tail(400)
        )
    };
    guest
        .expect(&format!("{output} "), KBENCH_TIMEOUT)
        .map_err(|why| fail(why, guest))?;
    let (_, line) = guest
        .expect_text("\r\n", KBENCH_TIMEOUT)
        .map_err(|why| fail(why, guest))?;
    guest
        .expect(KILN_PROMPT, KBENCH_TIMEOUT)
        .map_err(|why| fail(why, guest))?;
    Ok(kbench_pairs(&line))
}

/// `echo x` round trips: from the write of `echo x\r` to the arrival of the output line.
fn round_trips(guest: &mut Guest, count: usize) -> Result<Vec<f64>, String> {
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let sent = guest.send(b"echo x\r")?;
        let arrived = guest
            .expect("\r\nx\r\n", ROUND_TRIP_TIMEOUT)
            .map_err(|why| {
                format!(
                    "kiln bench: round trip: {why}; console: {:?}",
                    guest.tail(300)
                )
            })?;
        samples.push(ms(arrived - sent));
        guest.expect(KILN_PROMPT, ROUND_TRIP_TIMEOUT)?;
    }
    Ok(samples)
}

/// Sends `line` at a prompt and returns how long (ms) until the next `prompt`, and
/// what came before it.
fn timed_line(
    guest: &mut Guest,
    line: &str,
    prompt: &str,
    timeout: Duration,
) -> Result<(f64, String), String> {
    let sent = guest.send(format!("{line}\r").as_bytes())?;
    let (arrived, output) = guest.expect_text(prompt, timeout).map_err(|why| {
        format!(
            "kiln bench: `{line}`: {why}; console: {:?}",
            guest.tail(300)
        )
    })?;
    Ok((ms(arrived - sent), output))
}

/// The bench's own ELF programs (tests/programs), built with musl-gcc into `dir`:
/// `elfbench` (fork+exec spawn loop, getpid loop) and `first-instruction`.
fn build_elf_programs(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let musl = kiln::tools::find_or_install("musl-gcc", "musl-tools")?;
    let sources = image::workspace_root().join("tests").join("programs");
    std::fs::create_dir_all(dir).map_err(|e| format!("kiln bench: {}: {e}", dir.display()))?;
    let build = |source: &str, out: &str, flags: &[&str]| -> Result<PathBuf, String> {
        let path = dir.join(out);
        let status = Command::new(&musl)
            .args(flags)
            .arg("-o")
            .arg(&path)
            .arg(sources.join(source))
            .status()
            .map_err(|e| format!("kiln bench: musl-gcc: {e}"))?;
        if !status.success() {
            return Err(format!("kiln bench: musl-gcc {source} failed ({status})"));
        }
        Ok(path)
    };
    Ok((
        build("elfbench.c", "elfbench", &["-static", "-O2"])?,
        build(
            "first_instruction.c",
            "first-instruction",
            &["-static", "-nostdlib", "-O2"],
        )?,
    ))
}

/// `len` bytes that do not compress (splitmix64 from a fixed seed): the md5sum input.
fn incompressible(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x6b69_6c6e_6d64_3573;
    let mut bytes = Vec::with_capacity(len + 8);
    while bytes.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        bytes.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    bytes.truncate(len);
    bytes
}

/// The peer's static BusyBox and the bench's own C programs, run in kiln as ELF jobs
/// and in the peer: spawning, a pipe, reading a baked file, and the syscall round trip.
fn elf_programs(
    report: &mut Report,
    plan: &Plan,
    qemu: &Path,
    image: &Path,
    shell_rc: &Path,
    peer: &peer::Peer,
    dir: &Path,
) -> Result<(), String> {
    let busybox = dir.join("peer").join("busybox").join("bin").join("busybox");
    let (elfbench_program, first) = build_elf_programs(&dir.join("elf"))?;
    let md5_file = dir.join("elf").join("md5.bin");
    write_file(&md5_file, &incompressible(MD5_FILE_BYTES))?;
    let mut config = kiln_config(image, Machine::Pc, Accel::Tcg, KBENCH_MEMORY_MIB, shell_rc);
    for (name, path) in [
        ("busybox", &busybox),
        ("elfbench", &elfbench_program),
        ("first-instruction", &first),
    ] {
        let program =
            kiln::programs::parse(&format!("{name}={}", path.display()), &config.programs)?;
        config.programs.push(program);
    }
    config.files.push(kiln::files::parse(
        &format!("md5.bin={}", md5_file.display()),
        &[],
    )?);
    let kiln_command = config.command(qemu);
    let kiln_shown = shown(&kiln_command);
    let mut kiln = Guest::start(kiln_command)?;
    kiln.expect(KILN_PROMPT, Duration::from_secs(60))?;
    let peer = peer::with_extras(
        peer,
        &dir.join("peer"),
        &[
            ("bin/elfbench", &elfbench_program),
            ("bin/first-instruction", &first),
            ("md5.bin", &md5_file),
        ],
    )?;
    let peer_command = peer_command(
        qemu,
        &peer,
        Machine::Pc,
        Bios::default_for_this_qemu(),
        Accel::Tcg,
        BOOT_MEMORY_MIB,
        "",
    );
    let peer_shown = shown(&peer_command);
    let mut peer_guest = Guest::start(peer_command)?;
    peer_guest.expect(peer::PROMPT, Duration::from_secs(120))?;
    let timeout = Duration::from_secs(600);

    // In-guest figures, each guest timing itself with its TSC.
    let spawns = plan.true_runs;
    let spawn_line = format!("elfbench spawn {spawns} /bin/first-instruction");
    let kbench_spawn = kbench(
        &mut kiln,
        &format!("kbench spawn {spawns} first-instruction"),
        "kbench spawn_ns",
    )?;
    let kiln_fork = elfbench_line(&mut kiln, &spawn_line, KILN_PROMPT, timeout)?;
    let peer_fork = elfbench_line(&mut peer_guest, &spawn_line, peer::PROMPT, timeout)?;
    let getpid_line = format!("elfbench getpid {}", plan.getpid_calls);
    let kiln_getpid = elfbench_line(&mut kiln, &getpid_line, KILN_PROMPT, timeout)?;
    let peer_getpid = elfbench_line(&mut peer_guest, &getpid_line, peer::PROMPT, timeout)?;
    let get = |pairs: &[(String, String)], key: &str, what: &str| -> Result<f64, String> {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.parse().ok())
            .ok_or(format!("kiln bench: {what} printed no {key}: {pairs:?}"))
    };

    report.line("");
    report.line("## ELF programs");
    report.line("");
    report.line(&format!(
        "Static Linux executables run in kiln as ELF jobs (their own address space, ring 3, kiln's syscall layer) beside the same files in the Linux + BusyBox peer: the peer's own BusyBox (busybox-static {}) and the bench's C programs `tests/programs/elfbench.c` and `tests/programs/first_instruction.c` (musl-gcc -static; the second's first instruction reads the TSC and writes it to stdout). One boot each (pc, TCG, -m {KBENCH_MEMORY_MIB}); kiln gets them with `--program` and `--file md5.bin=...`, the peer in its initramfs.",
        peer.busybox_version
    ));
    report.line("");
    report.line("Timed inside each guest with its TSC (elfbench converts cycles with the rate it measures against CLOCK_MONOTONIC over 200 ms):");
    report.line("");
    report.line("| figure | kiln | peer | peer / kiln |");
    report.line("|---|---|---|---|");
    let kbench_what = format!("`kbench spawn {spawns} first-instruction`");
    let spawn_rows = [
        (
            "elf.spawn_job",
            format!(
                "ELF job spawn to its first instruction, p50 (kiln: {kbench_what}, an rc job through `JobTable::spawn`; the peer has no such path)"
            ),
            get(&kbench_spawn, "p50", &kbench_what)?,
            None,
        ),
        (
            "elf.spawn_fork_exec",
            format!("fork + execve to the child's first instruction, p50 (`{spawn_line}`)"),
            get(&kiln_fork, "p50", &spawn_line)?,
            Some(get(&peer_fork, "p50", &spawn_line)?),
        ),
        (
            "elf.spawn_fork_exec_min",
            "the same, min".to_string(),
            get(&kiln_fork, "min", &spawn_line)?,
            Some(get(&peer_fork, "min", &spawn_line)?),
        ),
        (
            "elf.getpid",
            format!("getpid round trip (`{getpid_line}`, per call)"),
            get(&kiln_getpid, "per_call", &getpid_line)?,
            Some(get(&peer_getpid, "per_call", &getpid_line)?),
        ),
    ];
    for (key, what, kiln_ns, peer_ns) in &spawn_rows {
        report.figure(&format!("{key}.kiln_ns"), format!("{kiln_ns:.0}"));
        let (peer_cell, ratio) = match peer_ns {
            Some(peer_ns) => {
                report.figure(&format!("{key}.peer_ns"), format!("{peer_ns:.0}"));
                report.figure(&format!("{key}.ratio"), format!("{:.2}", peer_ns / kiln_ns));
                (fmt_ns(*peer_ns), format!("{:.2}×", peer_ns / kiln_ns))
            }
            None => ("—".to_string(), String::new()),
        };
        report.line(&format!(
            "| {what} | {} | {peer_cell} | {ratio} |",
            fmt_ns(*kiln_ns)
        ));
    }

    // Host-timed lines.
    let runs = plan.true_runs;
    let seq = format!("busybox seq 1 {} | busybox wc -l", plan.seq_to);
    let md5 = "busybox md5sum /md5.bin".to_string();
    let cases = [
        (
            "true_loop",
            format!("`busybox true`, {runs} times in a row"),
            format!("repeat {runs} busybox true"),
            format!("i=0; while [ $i -lt {runs} ]; do busybox true; i=$((i+1)); done"),
        ),
        (
            "seq_wc",
            format!("`{seq}`: a pipe between two ELF jobs"),
            seq.clone(),
            seq.clone(),
        ),
        (
            "md5sum",
            format!(
                "`{md5}`: reading an {} MiB baked file",
                MD5_FILE_BYTES >> 20
            ),
            md5.clone(),
            md5.clone(),
        ),
    ];
    report.line("");
    report.line(
        "Host time from sending the line to the next prompt (both include their shell's own loop):",
    );
    report.line("");
    report.line(
        "| figure | kiln line | peer line | kiln ms | peer ms | per run in kiln | peer / kiln |",
    );
    report.line("|---|---|---|---|---|---|---|");
    for (key, what, kiln_line, peer_line) in &cases {
        let (kiln_ms, kiln_out) = timed_line(&mut kiln, kiln_line, KILN_PROMPT, timeout)?;
        let (peer_ms, peer_out) = timed_line(&mut peer_guest, peer_line, peer::PROMPT, timeout)?;
        let want = match *key {
            "seq_wc" => Some(plan.seq_to.to_string()),
            "md5sum" => Some("  /md5.bin".to_string()),
            _ => None,
        };
        if let Some(want) = want {
            let line_of = |out: &str| {
                out.lines()
                    .map(str::trim)
                    .find(|l| l.ends_with(&want))
                    .map(str::to_string)
            };
            let (kiln_said, peer_said) = (line_of(&kiln_out), line_of(&peer_out));
            if kiln_said.is_none() || kiln_said != peer_said {
                return Err(format!(
                    "kiln bench: `{kiln_line}`: kiln printed {kiln_out:?}, the peer {peer_out:?}"
                ));
            }
        }
        let per_run = if *key == "true_loop" {
            format!("{:.2} ms", kiln_ms / runs as f64)
        } else {
            String::new()
        };
        report.figure(&format!("elf.{key}.kiln_ms"), format!("{kiln_ms:.1}"));
        report.figure(&format!("elf.{key}.peer_ms"), format!("{peer_ms:.1}"));
        report.figure(
            &format!("elf.{key}.ratio"),
            format!("{:.2}", peer_ms / kiln_ms),
        );
        let cell = |text: &str| text.replace('|', "\\|");
        report.line(&format!(
            "| {} | `{}` | `{}` | {kiln_ms:.1} | {peer_ms:.1} | {per_run} | {:.2}× |",
            cell(what),
            cell(kiln_line),
            cell(peer_line),
            peer_ms / kiln_ms
        ));
    }
    report.line("");
    report.line("Why kiln's syscall round trip is slower: every syscall (and every interrupt from ring 3) switches to the kernel's page tables and back, because user programs live at the low addresses where kiln's kernel identity-maps the RAM; under TCG each CR3 write empties QEMU's software TLB. A higher-half kernel, mapped supervisor-only into every process, would remove both switches (docs/ARCHITECTURE.md, \"ELF processes\").");
    report.line("");
    report.line("Commands (the programs and md5.bin are under `target/bench/elf/`; the peer's initramfs with them is `target/bench/peer/initramfs-extras.cpio.gz`):");
    report.line("");
    report.line("```sh");
    report.line(&kiln_shown);
    report.line(&peer_shown);
    report.line("```");
    Ok(())
}

/// The TCP echo round trip through each virtio transport: one connection from the host
/// to `tcpecho` in the guest (QEMU's user network, a forwarded loopback port), one byte
/// sent and read back at a time.
fn net_round_trips(
    report: &mut Report,
    plan: &Plan,
    qemu: &Path,
    image: &Path,
    dir: &Path,
) -> Result<(), String> {
    use std::io::{Read, Write};
    let rc = kiln_net_rc(dir)?;
    report.line("");
    report.line("## TCP echo round trip");
    report.line("");
    report.line(&format!(
        "From the host: one TCP connection to `tcpecho` in kiln (QEMU's user network, a forwarded 127.0.0.1 port, `restrict=on`), then {} times one byte written and read back (TCP_NODELAY), timed on the host; TCG, -m {KBENCH_MEMORY_MIB}. The same firewall and smoltcp path on each transport: virtio-net over PCI on pc, over virtio-mmio (found on the kernel command line, its interrupt on the PIC) on microvm and on the Firecracker shape.",
        plan.round_trips
    ));
    report.line("");
    report.line("| machine | transport | p50 ms | p99 ms | min ms | max ms | samples |");
    report.line("|---|---|---|---|---|---|---|");
    let mut commands = Vec::new();
    for machine in [Machine::Pc, Machine::Microvm, Machine::Firecracker] {
        let port = free_ports(1)?[0];
        let mut config = kiln_config(image, machine, Accel::Tcg, KBENCH_MEMORY_MIB, &rc);
        config.net = Some(tcp_forward(&[port]));
        let command = config.command(qemu);
        commands.push(shown(&command));
        let mut guest = Guest::start(command)?;
        guest.expect(KILN_PROMPT, Duration::from_secs(60))?;
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let io = |e: std::io::Error| format!("kiln bench: tcpecho on {}: {e}", machine.name());
        // QEMU's user network accepts a connection before the guest's tcpecho may be
        // listening: a connection counts once one byte has come back through it.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut stream = loop {
            let attempt = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(5))
                .and_then(|mut stream| {
                    stream.set_nodelay(true)?;
                    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
                    stream.write_all(b"w")?;
                    let mut back = [0u8; 1];
                    stream.read_exact(&mut back)?;
                    Ok(stream)
                });
            match attempt {
                Ok(stream) => break stream,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(io(e)),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(io)?;
        let mut samples = Vec::with_capacity(plan.round_trips);
        for i in 0..plan.round_trips {
            let byte = [i as u8];
            let sent = Instant::now();
            stream.write_all(&byte).map_err(io)?;
            let mut back = [0u8; 1];
            stream.read_exact(&mut back).map_err(io)?;
            samples.push(ms(sent.elapsed()));
            if back != byte {
                return Err(format!(
                    "kiln bench: tcpecho on {} sent back {back:?} for {byte:?}",
                    machine.name()
                ));
            }
        }
        drop(stream);
        drop(guest);
        let m = machine.name();
        let transport = if machine == Machine::Pc {
            "virtio-pci"
        } else {
            "virtio-mmio"
        };
        let (p50, p99, s) = latencies(&samples)?;
        report.figure(&format!("tcp_rtt.{m}.p50"), format!("{p50:.3}"));
        report.figure(&format!("tcp_rtt.{m}.p99"), format!("{p99:.3}"));
        report.figure(&format!("tcp_rtt.{m}.min"), format!("{:.3}", s.min));
        report.line(&format!(
            "| {m} | {transport} | {p50:.3} | {p99:.3} | {:.3} | {:.3} | {} |",
            s.min, s.max, s.runs
        ));
    }
    report.line("");
    report.line("Commands (`target/bench/kiln-net.rc` holds `net up`, `start tcpecho --port 7`, `shell`; the Firecracker shape gets it in `-initrd`):");
    report.line("");
    report.shell_block(&commands);
    Ok(())
}

/// `target/bench/kiln-net.rc`: the network up and `tcpecho` on the echo port, then the
/// shell; the rc of both network sections.
fn kiln_net_rc(dir: &Path) -> Result<PathBuf, String> {
    let rc = dir.join("kiln-net.rc");
    let text = format!(
        "net up\nstart tcpecho --port {}\nshell\n",
        peer::NET_ECHO_PORT
    );
    write_file(&rc, text.as_bytes())?;
    Ok(rc)
}

/// QEMU's user network (`restrict=on`) with each of `host_ports` on 127.0.0.1
/// forwarded to the guest's echo port.
fn tcp_forward(host_ports: &[u16]) -> qemu::NetConfig {
    qemu::NetConfig {
        forwards: host_ports
            .iter()
            .map(|&host_port| qemu::Forward {
                protocol: qemu::ForwardProtocol::Tcp,
                host_port,
                guest_port: peer::NET_ECHO_PORT,
            })
            .collect(),
        restrict: true,
    }
}

/// `count` distinct free ports (each found while the others are still held).
fn free_ports(count: usize) -> Result<Vec<u16>, String> {
    let held = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| format!("kiln bench: no free port: {e}"))?;
    held.iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| format!("kiln bench: no free port: {e}"))
}

/// Parallel clients of the network load figure.
const LOAD_CLIENTS: usize = 32;
/// Bytes each connection of the load figures echoes.
const LOAD_PAYLOAD_BYTES: usize = 512;
/// How long a guest may take from its prompt to its first echo.
const ECHO_READY_TIMEOUT: Duration = Duration::from_secs(120);

/// The network load figures of one guest; each rate with the host's listen overflows
/// during it (connections QEMU's hostfwd socket had no room for).
struct Load {
    sequential: (net_load::Rate, Option<u64>),
    parallel: (net_load::Rate, Option<u64>),
    parallel_ports: (net_load::Rate, Option<u64>),
    transfer_seconds: f64,
}

/// `measure`, with the host's listen overflows counted around it.
fn with_overflows(
    measure: impl FnOnce() -> Result<net_load::Rate, String>,
) -> Result<(net_load::Rate, Option<u64>), String> {
    let before = net_load::host_listen_overflows();
    let rate = measure()?;
    let after = net_load::host_listen_overflows();
    Ok((rate, after.zip(before).map(|(a, b)| a.saturating_sub(b))))
}

/// Measures [`Load`]: the echo server is forwarded from `ports[0]`, and from each of
/// the others for the one-port-per-client figure.
fn load_figures(ports: &[u16], plan: &Plan) -> Result<Load, String> {
    let addresses: Vec<_> = ports
        .iter()
        .map(|&port| std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .collect();
    let address = addresses[0];
    net_load::await_server(address, ECHO_READY_TIMEOUT)?;
    let payload = incompressible(LOAD_PAYLOAD_BYTES);
    let sequential =
        with_overflows(|| net_load::sequential(address, plan.load_sequential, &payload))?;
    let parallel =
        with_overflows(|| net_load::parallel(address, LOAD_CLIENTS, plan.load_each, &payload))?;
    let parallel_ports = with_overflows(|| {
        let source = net_load::SourcePorts::new();
        net_load::parallel_to(&addresses[1..], plan.load_each, &payload, &source)
    })?;
    let transfer_seconds = net_load::transfer(address, &incompressible(plan.transfer_bytes))?;
    Ok(Load {
        sequential,
        parallel,
        parallel_ports,
        transfer_seconds,
    })
}

/// Connections per second (sequential and parallel) and echo throughput, from the host
/// through QEMU's user network: kiln's `tcpecho` beside the peer's BusyBox `nc -ll -e
/// cat`, both on pc (SeaBIOS, which assigns the virtio-net device's PCI BARs).
fn net_load(
    report: &mut Report,
    plan: &Plan,
    qemu: &Path,
    image: &Path,
    dir: &Path,
    peer: Option<&peer::Peer>,
) -> Result<(), String> {
    let kiln_ports = free_ports(1 + LOAD_CLIENTS)?;
    let mut config = kiln_config(
        image,
        Machine::Pc,
        Accel::Tcg,
        KBENCH_MEMORY_MIB,
        &kiln_net_rc(dir)?,
    );
    config.net = Some(tcp_forward(&kiln_ports));
    let kiln_command = config.command(qemu);
    let mut commands = vec![shown(&kiln_command)];
    let mut guest = Guest::start(kiln_command)?;
    guest.expect(KILN_PROMPT, Duration::from_secs(60))?;
    let kiln = load_figures(&kiln_ports, plan).map_err(|e| format!("kiln bench: kiln: {e}"))?;
    guest.send(b"net\r")?;
    let (_, net) = guest.expect_text(KILN_PROMPT, Duration::from_secs(30))?;
    let counters = net
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("tcp accepted="))
        .unwrap_or("(no counters)")
        .to_string();
    drop(guest);

    let peer_load = match peer {
        Some(peer) => {
            let net_peer = peer::with_network(peer, &dir.join("peer"))?;
            let ports = free_ports(1 + LOAD_CLIENTS)?;
            let mut command = peer_command(
                qemu,
                &net_peer,
                Machine::Pc,
                Bios::SeaBios,
                Accel::Tcg,
                KBENCH_MEMORY_MIB,
                "",
            );
            command
                .arg("-netdev")
                .arg(tcp_forward(&ports).netdev())
                .args(["-device", Machine::Pc.net_device()]);
            commands.push(shown(&command));
            let mut guest = Guest::start(command)?;
            guest.expect(peer::NET_READY, PEER_TIMEOUT)?;
            let load = load_figures(&ports, plan).map_err(|e| format!("kiln bench: peer: {e}"))?;
            drop(guest);
            Some(load)
        }
        None => None,
    };

    let mb_per_s = |load: &Load| plan.transfer_bytes as f64 / load.transfer_seconds / 1e6;
    report.line("");
    report.line("## TCP under load");
    report.line("");
    report.line(&format!(
        "From the host through QEMU's user network (`restrict=on`, a forwarded 127.0.0.1 port) to an echo server on pc (TCG, -m {KBENCH_MEMORY_MIB}, SeaBIOS: qboot assigns no PCI BARs): kiln's `tcpecho` (one job, up to 32 connections multiplexed, backlog 32) and the peer's BusyBox `nc -ll -p 7 -e cat` (a persistent server that forks `cat` for each connection). A connection writes {LOAD_PAYLOAD_BYTES} bytes, closes its writing half and reads them all back. QEMU's user network resets some connections of a burst on the host's side before the guest sees them; those are tried again after a back-off and counted as retries. QEMU's hostfwd socket on the host listens with a backlog of 1 (`ss -ltn` shows Send-Q 1), so 32 clients on one forwarded port queue mostly on the host, whose kernel drops their SYNs and counts them as listen overflows (`TcpExtListenOverflows` in /proc/net/netstat, counted around each figure); with one forwarded port per client the same 32 clients reach the guest's listen backlog. QEMU gives the guest each forwarded connection from 10.0.2.2 and the host client's source port, so clients of different forwarded ports bind distinct source ports (else two of them can share one and become one connection in the guest, which stalls or resets; `src/bench/net_load.rs`). Throughput: one connection writes {} MiB while it reads the echo back; MB/s is 10^6 bytes per second of echoed data.",
        plan.transfer_bytes >> 20
    ));
    report.line("");
    report.line("| figure | kiln | peer | kiln / peer |");
    report.line("|---|---|---|---|");
    let rate_detail = |(rate, overflows): &(net_load::Rate, Option<u64>)| {
        let overflows = overflows.map_or("?".to_string(), |n| n.to_string());
        format!(
            "{} in {:.2} s; {} retries, {overflows} host listen overflows",
            rate.connections, rate.seconds, rate.retries
        )
    };
    type Row<'a> = (
        &'a str,
        &'a str,
        &'a dyn Fn(&Load) -> f64,
        &'a dyn Fn(&Load) -> String,
    );
    let rows: [Row; 4] = [
        (
            "sequential",
            "connections per second, one after another",
            &|l| l.sequential.0.per_second(),
            &|l| rate_detail(&l.sequential),
        ),
        (
            "parallel",
            "connections per second, 32 clients at once on one forwarded port",
            &|l| l.parallel.0.per_second(),
            &|l| rate_detail(&l.parallel),
        ),
        (
            "parallel_ports",
            "connections per second, 32 clients at once, each on its own forwarded port",
            &|l| l.parallel_ports.0.per_second(),
            &|l| rate_detail(&l.parallel_ports),
        ),
        (
            "transfer",
            "echo throughput, MB/s",
            &|l| mb_per_s(l),
            &|l| format!("{:.2} s", l.transfer_seconds),
        ),
    ];
    for (key, label, figure, detail) in rows {
        let ours = figure(&kiln);
        report.figure(&format!("net_load.{key}.kiln"), format!("{ours:.1}"));
        let (theirs, ratio) = match &peer_load {
            Some(peer) => {
                let theirs = figure(peer);
                report.figure(&format!("net_load.{key}.peer"), format!("{theirs:.1}"));
                (
                    format!("{theirs:.1} ({})", detail(peer)),
                    format!("{:.2}×", ours / theirs),
                )
            }
            None => ("not measured (--skip-peer)".to_string(), String::new()),
        };
        report.line(&format!(
            "| {label} | {ours:.1} ({}) | {theirs} | {ratio} |",
            detail(&kiln)
        ));
    }
    report.line("");
    report.line(&format!(
        "kiln's own counters after the load (`net`): `{counters}`. Connections: {} sequential + 2×{LOAD_CLIENTS}×{} parallel + 1 transfer, and those that waited for the server to echo. kiln's sockets have 8 KiB of send and of receive buffer each (`board/src/net/mod.rs`, `TCP_BUFFER_LEN`), which bounds its window and so its throughput.",
        plan.load_sequential, plan.load_each
    ));
    report.line("");
    report.line("Commands (the peer's initramfs `target/bench/peer/initramfs-net.cpio.gz` adds Debian's virtio-net modules, loaded with `insmod`, and an `/init` that sets eth0 to 10.0.2.15 and starts `nc`):");
    report.line("");
    report.shell_block(&commands);
    Ok(())
}

/// `kiln bake` of 1, 10 and 50 ELF programs (packaging only), run as a user runs it:
/// this binary, with a PATH that has no cargo. Median of 5 runs each.
fn bake_figures(report: &mut Report, dir: &Path, have_peer: bool) -> Result<(), String> {
    let busybox = dir.join("peer").join("busybox").join("bin").join("busybox");
    let program = if have_peer && busybox.is_file() {
        busybox
    } else {
        build_elf_programs(&dir.join("elf"))?.0
    };
    let program_bytes = std::fs::metadata(&program)
        .map_err(|e| format!("kiln bench: {}: {e}", program.display()))?
        .len();
    // 50 different programs: the file with 8 bytes of its own appended (past every
    // segment, so each still runs), since bake stores identical files once.
    let copies_dir = dir.join("bake-programs");
    std::fs::create_dir_all(&copies_dir).map_err(|e| format!("kiln bench: {e}"))?;
    let original = std::fs::read(&program).map_err(|e| format!("kiln bench: {e}"))?;
    let mut copies = Vec::new();
    for i in 0..50u64 {
        let copy = copies_dir.join(format!("p{i}"));
        let mut bytes = original.clone();
        bytes.extend_from_slice(&i.to_le_bytes());
        write_file(&copy, &bytes)?;
        copies.push(copy);
    }
    let program_bytes = program_bytes + 8;
    let kiln = std::env::current_exe().map_err(|e| format!("kiln bench: {e}"))?;
    let out = dir.join("baked.img");
    let base = kiln::bake::BASE_IMAGE.len() as u64;
    report.line("");
    report.line("## Bake");
    report.line("");
    report.line(&format!(
        "`kiln bake` of N different static ELF programs (copies of `{}` with 8 bytes of their own appended, {program_bytes} bytes each; bake stores identical files once), packaging only: the launcher binary run as a user runs it, with `PATH=/usr/bin:/bin` (no cargo or rustc), from its start to its exit; median of 5 runs. The image is kiln's own ({base} bytes) with the bundle appended.",
        program.file_name().and_then(|n| n.to_str()).unwrap_or("?")
    ));
    report.line("");
    report.line(
        "| programs | bake ms (median) | min | max | image bytes | sum of parts | image / parts |",
    );
    report.line("|---|---|---|---|---|---|---|");
    let mut shown_command = String::new();
    for count in [1usize, 10, 50] {
        let mut command = Command::new(&kiln);
        command
            .arg("bake")
            .arg("-o")
            .arg(&out)
            .env("PATH", "/usr/bin:/bin")
            .env_remove("CARGO")
            .stderr(std::process::Stdio::null());
        for copy in &copies[..count] {
            command.arg("--program").arg(format!(
                "{}={}",
                copy.file_name().and_then(|n| n.to_str()).unwrap_or("p"),
                copy.display()
            ));
        }
        let mut samples = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let status = command
                .status()
                .map_err(|e| format!("kiln bench: kiln bake: {e}"))?;
            samples.push(ms(started.elapsed()));
            if !status.success() {
                return Err(format!(
                    "kiln bench: kiln bake of {count} programs failed ({status})"
                ));
            }
        }
        let summary = Summary::of(&samples).ok_or("kiln bench: no bake samples")?;
        let image = std::fs::metadata(&out)
            .map_err(|e| format!("kiln bench: {e}"))?
            .len();
        let parts = base + count as u64 * program_bytes;
        report.figure(
            &format!("bake.programs_{count}.median_ms"),
            format!("{:.1}", summary.median),
        );
        report.figure(&format!("bake.programs_{count}.image_bytes"), image);
        report.figure(&format!("bake.programs_{count}.parts_bytes"), parts);
        report.line(&format!(
            "| {count} | {:.1} | {:.1} | {:.1} | {image} | {parts} | {:.3} |",
            summary.median,
            summary.min,
            summary.max,
            image as f64 / parts as f64
        ));
        if count == 1 {
            shown_command = shown(&command);
        }
    }
    // One file under 50 names, as BusyBox is baked: stored once.
    let mut command = Command::new(&kiln);
    command
        .arg("bake")
        .arg("-o")
        .arg(&out)
        .stderr(std::process::Stdio::null());
    for i in 0..50 {
        command
            .arg("--program")
            .arg(format!("n{i}={}", program.display()));
    }
    let status = command
        .status()
        .map_err(|e| format!("kiln bench: kiln bake: {e}"))?;
    if !status.success() {
        return Err("kiln bench: kiln bake of one file under 50 names failed".into());
    }
    let shared = std::fs::metadata(&out)
        .map_err(|e| format!("kiln bench: {e}"))?
        .len();
    report.figure("bake.one_file_50_names.image_bytes", shared);
    report.line(&format!(
        "| 1 file under 50 names | | | | {shared} | {} | {:.3} |",
        base + program_bytes - 8,
        shared as f64 / (base + program_bytes - 8) as f64
    ));
    let _ = std::fs::remove_file(&out);
    report.line("");
    report.line("The image is larger than its parts by page padding (each program starts on a 4 KiB page, so the kernel maps it without a copy) and the bundle's table. Command (1 program; the others add `--program pI=...`):");
    report.line("");
    report.line("```sh");
    report.line(&shown_command);
    report.line("```");
    Ok(())
}

/// Types an `elfbench` line and returns the pairs of its `elfbench NAME ...` line.
fn elfbench_line(
    guest: &mut Guest,
    line: &str,
    prompt: &str,
    timeout: Duration,
) -> Result<Vec<(String, String)>, String> {
    let (_, output) = timed_line(guest, line, prompt, timeout)?;
    output
        .lines()
        // Not the echo of the line typed: the result line has `NAME_ns k=v ...`.
        .find(|l| l.trim_start().starts_with("elfbench ") && l.contains("_ns "))
        .map(kbench_pairs)
        .ok_or(format!("kiln bench: `{line}` printed {output:?}"))
}

fn in_image(
    report: &mut Report,
    plan: &Plan,
    qemu: &Path,
    image: &Path,
    shell_rc: &Path,
) -> Result<(), String> {
    let config = kiln_config(image, Machine::Pc, Accel::Tcg, KBENCH_MEMORY_MIB, shell_rc);
    let command = config.command(qemu);
    let shown_command = shown(&command);
    let mut guest = Guest::start(command)?;
    guest
        .expect(KILN_PROMPT, Duration::from_secs(60))
        .map_err(|why| format!("kiln bench: the kbench image did not reach its prompt: {why}"))?;

    let spawns = 1000;
    let yields = 1000;
    let sleepers = 1000;
    let tests = [
        (
            "spawn",
            format!("kbench spawn {spawns}"),
            "kbench spawn_ns",
            "job spawn latency: `JobTable::spawn` to the program's first instruction (1,000 spawns)",
        ),
        (
            "yield",
            format!("kbench yield {yields}"),
            "kbench yield_ns",
            "yield between two jobs (1,000 batches of 10 round trips; per yield)",
        ),
        (
            "switch",
            format!("kbench switch {}", plan.switch_ms),
            "kbench switch_ns",
            "preemptive switch between two busy jobs (timer tick to the other job's next instruction)",
        ),
    ];
    report.line("");
    report.line("## In the image (kbench)");
    report.line("");
    report.line(&format!(
        "Typed at the kiln shell of one boot (pc, TCG, -m {KBENCH_MEMORY_MIB}); the `kbench` utility (`utils/src/kbench.rs`) times with the raw TSC (`Platform::cycles`, converted with the rate the board calibrated against its timer ticks) and prints percentiles over its samples. Under TCG the TSC is QEMU's emulated counter, which follows host time, so these are emulated-CPU times and include any time the host took QEMU's vCPU thread off the CPU."
    ));
    report.line("");
    report.line("| figure | command | p50 | p99 | min | max | samples |");
    report.line("|---|---|---|---|---|---|---|");
    for (key, command, output, what) in &tests {
        let pairs = kbench(&mut guest, command, output)?;
        let get = |k: &str| -> Result<f64, String> {
            pairs
                .iter()
                .find(|(name, _)| name == k)
                .and_then(|(_, v)| v.parse().ok())
                .ok_or(format!("kiln bench: `{command}` printed no {k}: {pairs:?}"))
        };
        let (p50, p99, min, max, n) = (
            get("p50")?,
            get("p99")?,
            get("min")?,
            get("max")?,
            get("n")?,
        );
        for (name, value) in [
            ("p50", p50),
            ("p99", p99),
            ("min", min),
            ("max", max),
            ("samples", n),
        ] {
            report.figure(&format!("kbench.{key}_ns.{name}"), value);
        }
        report.line(&format!(
            "| {what} | `{command}` | {} | {} | {} | {} | {n} |",
            fmt_ns(p50),
            fmt_ns(p99),
            fmt_ns(min),
            fmt_ns(max)
        ));
    }

    let pairs = kbench(
        &mut guest,
        &format!("kbench sleepers {sleepers}"),
        "kbench memory",
    )?;
    let get = |k: &str| -> Result<u64, String> {
        pairs
            .iter()
            .find(|(name, _)| name == k)
            .and_then(|(_, v)| v.parse().ok())
            .ok_or(format!(
                "kiln bench: `kbench sleepers` printed no {k}: {pairs:?}"
            ))
    };
    let (n, before, after, delta, per_job) = (
        get("n")?,
        get("before")?,
        get("after")?,
        get("delta")?,
        get("per_job")?,
    );
    report.figure("sleepers.jobs", n);
    report.figure("sleepers.heap_before_bytes", before);
    report.figure("sleepers.heap_after_bytes", after);
    report.figure("sleepers.delta_bytes", delta);
    report.figure("sleepers.per_job_bytes", per_job);
    report.line("");
    report.line(&format!(
        "1,000 concurrent sleeping jobs (`kbench sleepers {sleepers}`: {n} `sleep 1h` jobs started through a job table and parked; heap used read with the allocator's statistics, as `memstat` shows them): heap used {before} bytes before, {after} after: **{delta} bytes ({:.1} MiB), {per_job} bytes per job**: one 4 KiB page of stack (program stacks are backed page by page as they grow) and the job's records.",
        delta as f64 / (1024.0 * 1024.0)
    ));

    // Round trips: idle, then with burners.
    let idle = round_trips(&mut guest, plan.round_trips)?;
    for _ in 0..BURNERS {
        guest.send(b"burn &\r")?;
        guest.expect(KILN_PROMPT, ROUND_TRIP_TIMEOUT)?;
    }
    let loaded = round_trips(&mut guest, plan.round_trips)?;
    report.line("");
    report.line("## Shell round trip");
    report.line("");
    report.line(&format!(
        "From the host: the write of `echo x\\r` to the serial pipe, to the arrival of the output line `x` (pc, TCG, same boot as above), {} samples each; the loaded case after `burn &` typed {BURNERS} times (8 CPU-bound jobs that ignore Ctrl-C).",
        plan.round_trips
    ));
    report.line("");
    report.line("| case | p50 ms | p99 ms | min ms | max ms | samples |");
    report.line("|---|---|---|---|---|---|");
    for (key, name, samples) in [("idle", "idle", &idle), ("burners", "8 burners", &loaded)] {
        let (p50, p99, s) = latencies(samples)?;
        report.figure(&format!("rtt.{key}.p50"), format!("{p50:.3}"));
        report.figure(&format!("rtt.{key}.p99"), format!("{p99:.3}"));
        report.figure(&format!("rtt.{key}.min"), format!("{:.3}", s.min));
        report.figure(&format!("rtt.{key}.max"), format!("{:.3}", s.max));
        report.line(&format!(
            "| {name} | {p50:.2} | {p99:.2} | {:.2} | {:.2} | {} |",
            s.min, s.max, s.runs
        ));
    }
    report.line("");
    report.line("Command (then the lines above typed at `kiln> `; `target/bench/kiln-shell.rc` holds `shell`):");
    report.line("");
    report.line("```sh");
    report.line(&shown_command);
    report.line("```");
    Ok(())
}

/// The p50, p99 and summary of round-trip samples (ms).
fn latencies(samples: &[f64]) -> Result<(f64, f64, Summary), String> {
    let p50 = stats::percentile(samples, 50.0).unwrap_or(f64::NAN);
    let p99 = stats::percentile(samples, 99.0).unwrap_or(f64::NAN);
    let summary = Summary::of(samples).ok_or("kiln bench: no round trips")?;
    Ok((p50, p99, summary))
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 10_000.0 {
        format!("{:.1} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

/// Runs `init/examples/rc_parse_bench.rs` and reads its `rc parse:` line.
fn rc_parse(report: &mut Report, dir: &Path) -> Result<(), String> {
    let root = image::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(&cargo)
        .current_dir(root)
        .args([
            "run",
            "--quiet",
            "--release",
            "-p",
            "kiln-init",
            "--example",
            "rc_parse_bench",
        ])
        .arg("--target-dir")
        .arg(dir.join("host"))
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output()
        .map_err(|e| format!("kiln bench: cannot run cargo: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!(
            "kiln bench: rc_parse_bench failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let (median, min, max, runs) = parse_rc_bench(&text).ok_or(format!(
        "kiln bench: rc_parse_bench printed no 'rc parse:' line: {text}"
    ))?;
    let script = text
        .lines()
        .find(|l| l.starts_with("script:"))
        .unwrap_or("")
        .trim();
    report.figure("rc_parse.mb_s.median", &median);
    report.figure("rc_parse.mb_s.min", &min);
    report.figure("rc_parse.mb_s.max", &max);
    report.line("");
    report.line("## rc parse throughput (host)");
    report.line("");
    report.line(&format!(
        "**{median} MB/s** median of {runs} parses (min {min}, max {max}; 10^6 bytes per second) of a generated script ({script}), on the host."
    ));
    report.line("");
    report.line("```sh");
    report.line("cargo run --release -p kiln-init --example rc_parse_bench");
    report.line("```");
    Ok(())
}

/// `rc parse: 87.1 MB/s (median of 15; min 80.0, max 90.2)` -> (median, min, max, runs).
fn parse_rc_bench(text: &str) -> Option<(String, String, String, String)> {
    let line = text.lines().find_map(|l| l.strip_prefix("rc parse: "))?;
    let median = line.split_whitespace().next()?.to_string();
    let runs = line
        .split("median of ")
        .nth(1)?
        .split(';')
        .next()?
        .trim()
        .to_string();
    let min = line
        .split("min ")
        .nth(1)?
        .split(',')
        .next()?
        .trim()
        .to_string();
    let max = line
        .split("max ")
        .nth(1)?
        .trim_end_matches(')')
        .trim()
        .to_string();
    Some((median, min, max, runs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_rc_bench_line() {
        let text = "script: 1 bytes\nrc parse: 87.1 MB/s (median of 15; min 80.0, max 90.2)\n";
        assert_eq!(
            parse_rc_bench(text),
            Some(("87.1".into(), "80.0".into(), "90.2".into(), "15".into()))
        );
    }

    #[test]
    fn reads_kbench_pairs() {
        assert_eq!(
            kbench_pairs("p50=1 p99=2 n=3\r"),
            vec![
                ("p50".to_string(), "1".to_string()),
                ("p99".to_string(), "2".to_string()),
                ("n".to_string(), "3".to_string())
            ]
        );
    }

    #[test]
    fn bisects_to_the_floor() {
        // Fake guests: "reaches" is decided by the -m argument.
        let make = |mib: u32| {
            let mut command = Command::new("sh");
            command
                .arg("-c")
                .arg(if mib >= 37 { "echo ok" } else { "true" });
            command
        };
        let found = ram_floor(&make, "ok", Duration::from_secs(5), &[], 64, 1);
        assert_eq!(found.map(|(m, _)| m), Some(37));
        let found = ram_floor(&make, "ok", Duration::from_secs(5), &[], 64, 16);
        assert_eq!(found.map(|(m, _)| m), Some(48));
    }
}
