//! Finding QEMU, choosing the accelerator, and building QEMU's command line.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::status;

/// QEMU's default CPU model with RDRAND added (TCG emulates it from the host's
/// getrandom; under KVM the host CPU's own is passed through).
pub const CPU: &str = "qemu64,+rdrand";

/// The QEMU binary kiln runs.
pub const QEMU: &str = "qemu-system-x86_64";
/// The distribution package that provides it.
pub const QEMU_PACKAGE: &str = "qemu-system-x86";
/// The fw_cfg name the image reads its rc script from.
pub const RC_FW_CFG_NAME: &str = "opt/kiln/rc";
/// `isa-debug-exit` as the image expects it (see board/src/power.rs).
const DEBUG_EXIT_DEVICE: &str = "isa-debug-exit,iobase=0xf4,iosize=0x04";
/// The kernel command line word that makes the image power off right after boot.
pub const PROBE_WORD: &str = "kiln.probe";
/// How long a KVM probe boot may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The QEMU machine type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    Pc,
    Microvm,
    /// QEMU's microvm shaped like a Firecracker VM ([`FIRECRACKER_MACHINE`]): no PCI,
    /// no fw_cfg files, no isa-debug-exit, no RTC, no ACPI; an i8042 that only resets;
    /// the rc script, programs and files in a boot module (`-initrd`).
    Firecracker,
}

/// QEMU's `-M` for [`Machine::Firecracker`].
pub const FIRECRACKER_MACHINE: &str = "microvm,x-option-roms=off,rtc=off,acpi=off,pcie=off";

impl Machine {
    pub fn parse(text: &str) -> Option<Machine> {
        match text {
            "pc" => Some(Machine::Pc),
            "microvm" => Some(Machine::Microvm),
            "firecracker" => Some(Machine::Firecracker),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Machine::Pc => "pc",
            Machine::Microvm => "microvm",
            Machine::Firecracker => "firecracker",
        }
    }

    /// The virtio-net device for `--net`: on PCI (pc), or on virtio-mmio (microvm,
    /// Firecracker), which QEMU names on the kernel command line for the guest.
    pub fn net_device(self) -> &'static str {
        match self {
            Machine::Pc => "virtio-net-pci,netdev=net0",
            Machine::Microvm | Machine::Firecracker => "virtio-net-device,netdev=net0",
        }
    }

    /// QEMU's `-M` value.
    pub fn qemu_machine(self) -> &'static str {
        match self {
            Machine::Firecracker => FIRECRACKER_MACHINE,
            other => other.name(),
        }
    }
}

/// The firmware QEMU runs before kiln on `-M pc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bios {
    /// QEMU's default, SeaBIOS: most of a pc boot's time is spent in it.
    SeaBios,
    /// qboot ([`QBOOT`]), a minimal firmware that loads the kernel and jumps to it.
    Qboot,
}

/// Where Debian's QEMU ships qboot.
pub const QBOOT: &str = "/usr/share/qemu/qboot.rom";

impl Bios {
    pub fn parse(text: &str) -> Option<Bios> {
        match text {
            "seabios" => Some(Bios::SeaBios),
            "qboot" => Some(Bios::Qboot),
            _ => None,
        }
    }

    /// qboot where QEMU has it, else SeaBIOS.
    pub fn default_for_this_qemu() -> Bios {
        if Path::new(QBOOT).is_file() {
            Bios::Qboot
        } else {
            Bios::SeaBios
        }
    }
}

/// The accelerator, as asked for on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Auto,
    Kvm,
    Tcg,
}

impl Accel {
    pub fn parse(text: &str) -> Option<Accel> {
        match text {
            "auto" => Some(Accel::Auto),
            "kvm" => Some(Accel::Kvm),
            "tcg" => Some(Accel::Tcg),
            _ => None,
        }
    }
}

/// What a forwarded port carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardProtocol {
    Tcp,
    Udp,
}

impl ForwardProtocol {
    pub fn name(self) -> &'static str {
        match self {
            ForwardProtocol::Tcp => "tcp",
            ForwardProtocol::Udp => "udp",
        }
    }
}

/// A host port forwarded to the guest: 127.0.0.1:HOST_PORT on the host, GUEST_PORT on
/// the guest's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forward {
    pub protocol: ForwardProtocol,
    pub host_port: u16,
    pub guest_port: u16,
}

/// A virtio-net device on QEMU's user-mode network (slirp), with forwarded ports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetConfig {
    pub forwards: Vec<Forward>,
    /// `restrict=on`: the guest reaches nothing but its forwarded connections.
    pub restrict: bool,
}

/// The only host address a forwarded port may bind to.
pub const FORWARD_HOST: &str = "127.0.0.1";

impl NetConfig {
    /// Parses `user[,restrict=on|off][,hostfwd=tcp|udp:127.0.0.1:HOSTPORT-[GUESTADDR]:GUESTPORT]...`.
    /// A forward must name 127.0.0.1 as its host address: the image is never reachable
    /// from other machines.
    pub fn parse(text: &str) -> Result<NetConfig, String> {
        let mut parts = text.split(',');
        if parts.next() != Some("user") {
            return Err(format!(
                "--net: '{text}': only the user network is supported (user,hostfwd=tcp:127.0.0.1:HOSTPORT-:GUESTPORT)"
            ));
        }
        let mut config = NetConfig::default();
        for part in parts {
            if let Some(forward) = part.strip_prefix("hostfwd=") {
                config.forwards.push(parse_forward(forward)?);
            } else if part == "restrict=on" || part == "restrict=yes" {
                config.restrict = true;
            } else if part == "restrict=off" || part == "restrict=no" {
                config.restrict = false;
            } else {
                return Err(format!(
                    "--net: unknown option '{part}' (use hostfwd=... or restrict=on)"
                ));
            }
        }
        Ok(config)
    }

    /// QEMU's `-netdev` value.
    pub fn netdev(&self) -> String {
        let mut netdev = String::from("user,id=net0");
        if self.restrict {
            netdev.push_str(",restrict=on");
        }
        for forward in &self.forwards {
            netdev.push_str(&format!(
                ",hostfwd={}:{FORWARD_HOST}:{}-:{}",
                forward.protocol.name(),
                forward.host_port,
                forward.guest_port
            ));
        }
        netdev
    }
}

/// Parses `tcp|udp:127.0.0.1:HOSTPORT-[GUESTADDR]:GUESTPORT`.
fn parse_forward(text: &str) -> Result<Forward, String> {
    let bad = |why: &str| format!("--net: hostfwd={text}: {why}");
    let (protocol, rest) = match text.split_once(':') {
        Some(("tcp", rest)) => (ForwardProtocol::Tcp, rest),
        Some(("udp", rest)) => (ForwardProtocol::Udp, rest),
        _ => return Err(bad("want tcp:127.0.0.1:HOSTPORT-:GUESTPORT")),
    };
    let (host, guest) = rest
        .split_once('-')
        .ok_or_else(|| bad("want tcp:127.0.0.1:HOSTPORT-:GUESTPORT"))?;
    let (host_address, host_port) = host
        .rsplit_once(':')
        .ok_or_else(|| bad("want 127.0.0.1:HOSTPORT before '-'"))?;
    if host_address != FORWARD_HOST {
        return Err(bad("forwarded ports bind to 127.0.0.1 only"));
    }
    let (guest_address, guest_port) = guest
        .rsplit_once(':')
        .ok_or_else(|| bad("want :GUESTPORT after '-'"))?;
    if !guest_address.is_empty() && guest_address.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(bad("the guest address must be empty or an IPv4 address"));
    }
    let port = |text: &str| -> Result<u16, String> {
        text.parse::<u16>()
            .ok()
            .filter(|&p| p != 0 && text.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| bad(&format!("bad port '{text}'")))
    };
    Ok(Forward {
        protocol,
        host_port: port(host_port)?,
        guest_port: port(guest_port)?,
    })
}

/// How to boot the image.
#[derive(Clone, Debug)]
pub struct Config {
    pub image: PathBuf,
    pub machine: Machine,
    /// `Kvm` or `Tcg`; resolve `Auto` with [`resolve_accel`] first.
    pub accel: Accel,
    pub memory_mib: u32,
    pub rc: Option<PathBuf>,
    /// The kernel command line.
    pub append: String,
    /// Starts QEMU's gdb stub on this loopback port, paused.
    pub gdb_port: Option<u16>,
    /// A QEMU monitor on this Unix socket (the keyboard tests use it).
    pub monitor_socket: Option<PathBuf>,
    /// A VGA display device (pc only), for the keyboard console.
    pub vga: bool,
    /// QEMU's `-display` for the VGA screen (`none`, `gtk`, `sdl`, `vnc=HOST:N`).
    pub display: String,
    /// A virtio-net device on the user network (pc only).
    pub net: Option<NetConfig>,
    /// ELF programs to bake (`--program`).
    pub programs: Vec<crate::programs::BakedProgram>,
    /// Data files to bake (`--file`).
    pub files: Vec<crate::files::BakedFile>,
    /// The firmware of `-M pc` (microvm has its own).
    pub bios: Bios,
    /// A boot module (`-initrd`): with [`Machine::Firecracker`], the bundle that carries
    /// the rc script, programs and files (see [`initrd_bundle`]).
    pub initrd: Option<PathBuf>,
    /// Arguments passed to QEMU as they are.
    pub extra: Vec<String>,
}

impl Config {
    pub fn new(image: PathBuf) -> Config {
        Config {
            image,
            machine: Machine::Pc,
            accel: Accel::Tcg,
            memory_mib: 64,
            rc: None,
            append: String::new(),
            gdb_port: None,
            monitor_socket: None,
            vga: false,
            display: String::from("none"),
            net: None,
            programs: Vec::new(),
            files: Vec::new(),
            bios: Bios::default_for_this_qemu(),
            initrd: None,
            extra: Vec::new(),
        }
    }

    /// QEMU's `-M`: microvm with a network has no ACPI, for QEMU names virtio-mmio
    /// devices on the kernel command line only then (with ACPI they are in its tables,
    /// which kiln does not read).
    pub fn qemu_machine(&self) -> &'static str {
        match self.machine {
            Machine::Microvm if self.net.is_some() => "microvm,acpi=off",
            machine => machine.qemu_machine(),
        }
    }

    /// The firmware `-M pc` runs: [`Config::bios`], except that a network takes SeaBIOS,
    /// since qboot leaves the virtio-net device's PCI BARs unassigned.
    pub fn firmware(&self) -> Bios {
        if self.net.is_some() {
            Bios::SeaBios
        } else {
            self.bios
        }
    }

    /// QEMU's command line; the serial console is QEMU's stdin/stdout.
    pub fn command(&self, qemu: &Path) -> Command {
        let mut command = Command::new(qemu);
        command
            .arg("-M")
            .arg(self.qemu_machine())
            .arg("-accel")
            .arg(match self.accel {
                Accel::Kvm => "kvm",
                _ => "tcg",
            })
            // RDRAND: programs' AT_RANDOM and getrandom (QEMU's default CPU lacks it).
            .args(["-cpu", CPU])
            .arg("-m")
            .arg(self.memory_mib.to_string())
            .arg("-kernel")
            .arg(&self.image)
            .args(["-nodefaults", "-no-user-config"]);
        if self.machine == Machine::Pc && self.firmware() == Bios::Qboot {
            command.args(["-bios", QBOOT]);
        }
        command
            // Ctrl-C goes to the guest, not to QEMU.
            .args(["-chardev", "stdio,id=console,signal=off"])
            .args(["-serial", "chardev:console"]);
        if self.machine == Machine::Firecracker {
            // The guest stops by resetting through the i8042, which QEMU then obeys.
            command.args(["-device", "i8042", "-no-reboot"]);
        } else {
            command.args(["-device", DEBUG_EXIT_DEVICE]);
        }
        if self.vga && self.machine == Machine::Pc {
            command.args(["-vga", "std", "-display", &self.display]);
        } else {
            command.args(["-display", "none"]);
        }
        if !self.append.is_empty() {
            command.arg("-append").arg(&self.append);
        }
        if let Some(initrd) = &self.initrd {
            command.arg("-initrd").arg(initrd);
        }
        // Firecracker has no fw_cfg: what these carry is in the boot module.
        if self.machine != Machine::Firecracker {
            if let Some(rc) = &self.rc {
                command
                    .arg("-fw_cfg")
                    .arg(format!("name={RC_FW_CFG_NAME},file={}", rc.display()));
            }
            for program in &self.programs {
                command.arg("-fw_cfg").arg(program.fw_cfg());
            }
            for file in &self.files {
                command.arg("-fw_cfg").arg(file.fw_cfg());
            }
        }
        if let Some(port) = self.gdb_port {
            command
                .arg("-gdb")
                .arg(format!("tcp:127.0.0.1:{port}"))
                .arg("-S");
        }
        if let Some(socket) = &self.monitor_socket {
            command
                .arg("-monitor")
                .arg(format!("unix:{},server=on,wait=off", socket.display()));
        }
        if let Some(net) = &self.net {
            command
                .arg("-netdev")
                .arg(net.netdev())
                .args(["-device", self.machine.net_device()]);
        }
        command.args(&self.extra);
        command
    }
}

/// The boot module for [`Machine::Firecracker`]: a bundle (crate `kiln-bundle`) with
/// the config's rc script, programs and files, which the image reads as it reads a
/// baked image's; `None` when there is nothing to carry.
pub fn initrd_bundle(config: &Config) -> Result<Option<Vec<u8>>, String> {
    use kiln_bundle::Kind;
    let mut entries: Vec<(Kind, String, Vec<u8>)> = Vec::new();
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| format!("kiln: cannot read '{}': {e}", path.display()))
    };
    if let Some(rc) = &config.rc {
        entries.push((Kind::Rc, "rc".into(), read(rc)?));
    }
    for program in &config.programs {
        entries.push((Kind::Program, program.name.clone(), read(&program.path)?));
    }
    for file in &config.files {
        entries.push((Kind::File, file.name.clone(), read(&file.path)?));
    }
    if entries.is_empty() {
        return Ok(None);
    }
    let borrowed: Vec<(Kind, &str, &[u8])> = entries
        .iter()
        .map(|(kind, name, bytes)| (*kind, name.as_str(), bytes.as_slice()))
        .collect();
    Ok(Some(kiln_bundle::write(&borrowed)))
}

/// Finds QEMU; as root on Debian/Ubuntu, installs it when missing.
pub fn find_or_install() -> Result<PathBuf, String> {
    crate::tools::find_or_install(QEMU, QEMU_PACKAGE)
}

/// True when this machine's KVM can be trusted with the image: the CPU shows vmx or
/// svm and the software-assisted `kvm_pvm` is not loaded (docs/ARCHITECTURE.md, "KVM here").
pub fn kvm_looks_usable() -> bool {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let virtualization = cpuinfo
        .lines()
        .filter(|line| line.starts_with("flags"))
        .any(|line| line.split_whitespace().any(|f| f == "vmx" || f == "svm"));
    let pvm = Path::new("/sys/module/kvm_pvm").exists();
    virtualization && !pvm && Path::new("/dev/kvm").exists()
}

/// Boots the image once under KVM with the probe word; true if it powered off cleanly.
pub fn kvm_probe(qemu: &Path, base: &Config) -> bool {
    let mut config = base.clone();
    config.accel = Accel::Kvm;
    config.append = PROBE_WORD.to_string();
    config.rc = None;
    config.gdb_port = None;
    config.monitor_socket = None;
    config.net = None;
    config.extra.clear();
    // Waited for (or killed) before this returns, so any thread may call this.
    let mut command = config.command(qemu);
    let Ok(mut child) = crate::child::die_with_parent(&mut command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(exit)) => {
                let output = child
                    .stdout
                    .take()
                    .map(|mut out| {
                        let mut text = String::new();
                        let _ = std::io::Read::read_to_string(&mut out, &mut text);
                        text
                    })
                    .unwrap_or_default();
                return status::guest_status(exit.code(), &output) == Some(0);
            }
            Ok(None) if started.elapsed() < PROBE_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// Turns `Auto` into `Kvm` (when it looks usable and a probe boot works) or `Tcg`.
pub fn resolve_accel(qemu: &Path, config: &Config) -> Accel {
    match config.accel {
        Accel::Auto if kvm_looks_usable() && kvm_probe(qemu, config) => Accel::Kvm,
        Accel::Auto => Accel::Tcg,
        chosen => chosen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_forwards_parse_and_bind_to_loopback_only() {
        let config = NetConfig::parse(
            "user,hostfwd=tcp:127.0.0.1:5555-:7,hostfwd=udp:127.0.0.1:5556-10.0.2.15:9",
        )
        .unwrap();
        assert_eq!(
            config.forwards,
            [
                Forward {
                    protocol: ForwardProtocol::Tcp,
                    host_port: 5555,
                    guest_port: 7
                },
                Forward {
                    protocol: ForwardProtocol::Udp,
                    host_port: 5556,
                    guest_port: 9
                },
            ]
        );
        assert_eq!(
            config.netdev(),
            "user,id=net0,hostfwd=tcp:127.0.0.1:5555-:7,hostfwd=udp:127.0.0.1:5556-:9"
        );
        assert!(NetConfig::parse("user").unwrap().forwards.is_empty());
        assert!(
            NetConfig::parse("user,restrict=on")
                .unwrap()
                .netdev()
                .contains("restrict=on")
        );
        for bad in [
            "tap,ifname=tap0",
            "user,hostfwd=tcp::5555-:7",
            "user,hostfwd=tcp:0.0.0.0:5555-:7",
            "user,hostfwd=tcp:10.1.1.1:5555-:7",
            "user,hostfwd=sctp:127.0.0.1:5555-:7",
            "user,hostfwd=tcp:127.0.0.1:0-:7",
            "user,hostfwd=tcp:127.0.0.1:5555-:x",
            "user,hostfwd=tcp:127.0.0.1:5555",
            "user,smb=/tmp",
        ] {
            assert!(NetConfig::parse(bad).is_err(), "{bad}");
        }
        let error = NetConfig::parse("user,hostfwd=tcp:0.0.0.0:5555-:7").unwrap_err();
        assert!(error.contains("127.0.0.1 only"), "{error}");
    }

    #[test]
    fn a_vga_screen_goes_to_the_chosen_display_on_pc_only() {
        let args = |config: &Config| -> Vec<String> {
            config
                .command(Path::new("qemu"))
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        let mut config = Config::new(PathBuf::from("kiln.elf"));
        config.vga = true;
        config.display = String::from("gtk");
        let pc = args(&config);
        assert!(
            pc.windows(4)
                .any(|w| w == ["-vga", "std", "-display", "gtk"]),
            "{pc:?}"
        );
        config.machine = Machine::Microvm;
        let microvm = args(&config);
        assert!(!microvm.iter().any(|a| a == "-vga"), "{microvm:?}");
        assert!(
            microvm.windows(2).any(|w| w == ["-display", "none"]),
            "{microvm:?}"
        );
    }

    #[test]
    fn the_command_line_has_the_netdev_and_the_device() {
        let mut config = Config::new(PathBuf::from("kiln.elf"));
        config.net = Some(NetConfig::parse("user,hostfwd=tcp:127.0.0.1:5555-:7").unwrap());
        let command = config.command(Path::new("qemu"));
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let at = args.iter().position(|a| a == "-netdev").expect("a -netdev");
        assert_eq!(args[at + 1], "user,id=net0,hostfwd=tcp:127.0.0.1:5555-:7");
        assert!(
            args.windows(2)
                .any(|w| w[0] == "-device" && w[1] == "virtio-net-pci,netdev=net0")
        );
    }
}
