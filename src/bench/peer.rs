//! The peer: a Linux + BusyBox initramfs VM built from Debian packages, cached under
//! `target/bench/peer/`.
//!
//! - the kernel: the package Debian's `linux-image-amd64` metapackage depends on,
//!   fetched with `apt-get download` and unpacked with `dpkg-deb -x`; its
//!   `boot/vmlinuz-*` is the peer's kernel;
//! - `busybox-static`, unpacked the same way, is the whole userland;
//! - the initramfs is `cpio -o -H newc | gzip -9` of a root with busybox, its applet
//!   links and [`INIT`]. The kernel's built-in initramfs provides `/dev/console`.
//!
//! `cpio` is installed with apt-get when missing and we are root; otherwise building
//! fails with the one-line install command.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The metapackage whose dependency is the current kernel package.
const KERNEL_METAPACKAGE: &str = "linux-image-amd64";
const BUSYBOX_PACKAGE: &str = "busybox-static";
/// The peer's prompt (`PS1`).
pub const PROMPT: &str = "peer# ";
/// The peer's kernel command line.
pub const APPEND: &str = "console=ttyS0 quiet";
/// BusyBox applets the peer's `/init` and the RAM floor's workload use.
const APPLETS: &[&str] = &[
    "sh", "echo", "true", "sleep", "mount", "setsid", "cttyhack", "cat", "wc", "free",
];
/// Bump when the recipe changes, so a cached peer is rebuilt.
const RECIPE_VERSION: &str = "2";

/// The peer's `/init`: the same rc sequence as kiln's (see `bench::KILN_RC`), then an
/// interactive `sh` on the console (ttyS0) with a recognisable prompt.
pub const INIT: &str = "#!/bin/sh
# The peer's rc: the same sequence kiln's bench rc script runs.
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo 'peer rc: starting'
true
sleep 3600 &
echo 'peer rc: up'
export PS1='peer# '
exec setsid cttyhack sh
";

/// The built peer.
#[derive(Clone, Debug)]
pub struct Peer {
    pub vmlinuz: PathBuf,
    pub initramfs: PathBuf,
    /// The kernel package it came from (e.g. `linux-image-6.1.0-56-amd64`).
    pub kernel_package: String,
    pub busybox_version: String,
}

fn run(command: &mut Command, what: &str) -> Result<String, String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("kiln bench: {what}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "kiln bench: {what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The kernel package `linux-image-amd64` depends on.
fn kernel_package() -> Result<String, String> {
    let find = || -> Option<String> {
        let text = run(
            Command::new("apt-cache").args(["depends", KERNEL_METAPACKAGE]),
            "apt-cache depends",
        )
        .ok()?;
        text.lines()
            .filter_map(|line| line.trim().strip_prefix("Depends: "))
            .map(str::trim)
            .find(|p| p.starts_with("linux-image-") && p.ends_with("-amd64"))
            .map(String::from)
    };
    if let Some(package) = find() {
        return Ok(package);
    }
    if kiln::tools::is_root() {
        let _ = run(
            Command::new("apt-get").args(["update", "-qq"]),
            "apt-get update",
        );
        if let Some(package) = find() {
            return Ok(package);
        }
    }
    Err(format!(
        "kiln bench: cannot tell which kernel package {KERNEL_METAPACKAGE} depends on (apt-cache depends {KERNEL_METAPACKAGE}; is this Debian with its package lists?)"
    ))
}

/// Downloads `package` into `dir` and unpacks it into `into`.
fn fetch_and_unpack(package: &str, dir: &Path, into: &Path) -> Result<(), String> {
    let debs = dir.join("debs");
    std::fs::create_dir_all(&debs).map_err(|e| format!("kiln bench: {}: {e}", debs.display()))?;
    let prefix = format!("{package}_");
    let find_deb = || -> Option<PathBuf> {
        std::fs::read_dir(&debs)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
            })
    };
    if find_deb().is_none() {
        run(
            Command::new("apt-get")
                .args(["download", package])
                .current_dir(&debs)
                .stderr(Stdio::null()),
            &format!("apt-get download {package}"),
        )?;
    }
    let deb = find_deb().ok_or(format!(
        "kiln bench: apt-get download {package} left no .deb"
    ))?;
    let _ = std::fs::remove_dir_all(into);
    run(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(into),
        &format!("dpkg-deb -x {}", deb.display()),
    )?;
    Ok(())
}

/// Builds the peer under `dir` (or reuses the one built there before).
pub fn build(dir: &Path) -> Result<Peer, String> {
    let vmlinuz = dir.join("vmlinuz");
    let initramfs = dir.join("initramfs.cpio.gz");
    let stamp = dir.join("recipe");
    let stamp_text = format!("{RECIPE_VERSION}\n{INIT}");
    let versions = dir.join("versions");
    if vmlinuz.is_file()
        && initramfs.is_file()
        && std::fs::read_to_string(&stamp).is_ok_and(|s| s == stamp_text)
        && let Ok(text) = std::fs::read_to_string(&versions)
        && let Some((kernel, busybox)) = text.trim().split_once(' ')
    {
        return Ok(Peer {
            vmlinuz,
            initramfs,
            kernel_package: kernel.into(),
            busybox_version: busybox.into(),
        });
    }
    for tool in ["apt-get", "apt-cache", "dpkg-deb", "gzip"] {
        if kiln::tools::on_path(tool).is_none() {
            return Err(format!(
                "kiln bench: {tool} not found; building the Linux peer needs Debian's package tools"
            ));
        }
    }
    kiln::tools::find_or_install("cpio", "cpio")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("kiln bench: {}: {e}", dir.display()))?;
    eprintln!(
        "kiln bench: building the Linux + BusyBox peer in {}",
        dir.display()
    );

    let kernel_package = kernel_package()?;
    let kernel_dir = dir.join("kernel");
    fetch_and_unpack(&kernel_package, dir, &kernel_dir)?;
    let boot = kernel_dir.join("boot");
    let image = std::fs::read_dir(&boot)
        .map_err(|e| format!("kiln bench: {}: {e}", boot.display()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .ok_or(format!(
            "kiln bench: {kernel_package} has no boot/vmlinuz-*"
        ))?;
    std::fs::copy(&image, &vmlinuz).map_err(|e| format!("kiln bench: copying vmlinuz: {e}"))?;

    let busybox_dir = dir.join("busybox");
    fetch_and_unpack(BUSYBOX_PACKAGE, dir, &busybox_dir)?;
    let busybox_version = run(
        Command::new("dpkg-deb")
            .args(["-f"])
            .arg(
                std::fs::read_dir(dir.join("debs"))
                    .map_err(|e| format!("kiln bench: {e}"))?
                    .flatten()
                    .map(|e| e.path())
                    .find(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with(&format!("{BUSYBOX_PACKAGE}_")))
                    })
                    .ok_or("kiln bench: the busybox-static .deb is gone")?,
            )
            .arg("Version"),
        "dpkg-deb -f busybox-static Version",
    )?
    .trim()
    .to_string();

    let root = dir.join("root");
    let _ = std::fs::remove_dir_all(&root);
    for sub in ["bin", "dev", "proc", "sys"] {
        std::fs::create_dir_all(root.join(sub)).map_err(|e| format!("kiln bench: {e}"))?;
    }
    std::fs::copy(busybox_dir.join("bin/busybox"), root.join("bin/busybox"))
        .map_err(|e| format!("kiln bench: copying busybox: {e}"))?;
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))
            .map_err(|e| format!("kiln bench: linking {applet}: {e}"))?;
    }
    let init = root.join("init");
    std::fs::write(&init, INIT).map_err(|e| format!("kiln bench: writing /init: {e}"))?;
    std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("kiln bench: chmod /init: {e}"))?;
    run(
        Command::new("sh")
            .arg("-c")
            .arg(
                "find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -9 > ../initramfs.cpio.gz",
            )
            .current_dir(&root),
        "cpio -o -H newc | gzip -9",
    )?;
    std::fs::write(&versions, format!("{kernel_package} {busybox_version}\n"))
        .map_err(|e| format!("kiln bench: {e}"))?;
    std::fs::write(&stamp, stamp_text).map_err(|e| format!("kiln bench: {e}"))?;
    Ok(Peer {
        vmlinuz,
        initramfs,
        kernel_package,
        busybox_version,
    })
}

/// The kernel modules the peer's virtio-net needs (Debian builds them as modules), in
/// the order `insmod` must load them (each after what its `depends=` names).
const NET_MODULES: &[&str] = &[
    "drivers/virtio/virtio_ring.ko",
    "drivers/virtio/virtio.ko",
    "drivers/virtio/virtio_pci_modern_dev.ko",
    "drivers/virtio/virtio_pci_legacy_dev.ko",
    "drivers/virtio/virtio_pci.ko",
    "net/core/failover.ko",
    "drivers/net/net_failover.ko",
    "drivers/net/virtio_net.ko",
];
/// Applets the network peer's `/init` uses beyond [`APPLETS`].
const NET_APPLETS: &[&str] = &["insmod", "ifconfig", "route", "nc"];
/// The TCP port the network peer's echo server listens on.
pub const NET_ECHO_PORT: u16 = 7;
/// What the network peer prints once its echo server runs.
pub const NET_READY: &str = "peer net: up";

/// The network peer's `/init`: virtio-net up at QEMU's user-network address, then
/// BusyBox's echo server (`nc -ll`: a persistent server, forking `cat` per connection).
fn net_init() -> String {
    let insmods: String = NET_MODULES
        .iter()
        .map(|m| format!("insmod /lib/net/{}\n", module_file(m)))
        .collect();
    format!(
        "#!/bin/sh
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
{insmods}ifconfig lo 127.0.0.1 up
ifconfig eth0 10.0.2.15 netmask 255.255.255.0 up
route add default gw 10.0.2.2
nc -ll -p {NET_ECHO_PORT} -e cat &
echo '{NET_READY}'
export PS1='{PROMPT}'
exec setsid cttyhack sh
"
    )
}

fn module_file(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The peer with virtio-net and an echo server on [`NET_ECHO_PORT`], for the network
/// load figures only: its initramfs adds the modules and a `/init` from [`net_init`].
pub fn with_network(peer: &Peer, dir: &Path) -> Result<Peer, String> {
    let modules = std::fs::read_dir(dir.join("kernel").join("lib").join("modules"))
        .map_err(|e| format!("kiln bench: the peer's kernel modules: {e}"))?
        .flatten()
        .map(|e| e.path().join("kernel"))
        .find(|p| p.is_dir())
        .ok_or("kiln bench: the peer's kernel package has no lib/modules/*/kernel")?;
    variant(peer, dir, "net", |root| {
        let lib = root.join("lib").join("net");
        std::fs::create_dir_all(&lib).map_err(|e| format!("kiln bench: {e}"))?;
        for module in NET_MODULES {
            std::fs::copy(modules.join(module), lib.join(module_file(module)))
                .map_err(|e| format!("kiln bench: copying the module {module}: {e}"))?;
        }
        for applet in NET_APPLETS {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))
                .map_err(|e| format!("kiln bench: linking {applet}: {e}"))?;
        }
        std::fs::write(root.join("init"), net_init())
            .map_err(|e| format!("kiln bench: writing /init: {e}"))
    })
}

/// The peer with `extras` (path in its root, host file) added to its initramfs, for the
/// ELF figures only: the boot and RAM figures use the plain one.
pub fn with_extras(peer: &Peer, dir: &Path, extras: &[(&str, &Path)]) -> Result<Peer, String> {
    variant(peer, dir, "extras", |root| {
        for (path, file) in extras {
            let to = root.join(path.trim_start_matches('/'));
            std::fs::copy(file, &to).map_err(|e| {
                format!(
                    "kiln bench: copying {} to the peer's {path}: {e}",
                    file.display()
                )
            })?;
        }
        Ok(())
    })
}

/// The peer with an initramfs of its own, `initramfs-NAME.cpio.gz`: a copy of the
/// plain root (`root-NAME`) that `change` adds to.
fn variant(
    peer: &Peer,
    dir: &Path,
    name: &str,
    change: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<Peer, String> {
    let root = dir.join("root");
    let copy = dir.join(format!("root-{name}"));
    let _ = std::fs::remove_dir_all(&copy);
    run(
        Command::new("cp").arg("-a").arg(&root).arg(&copy),
        &format!("cp -a root root-{name}"),
    )?;
    change(&copy)?;
    let initramfs = dir.join(format!("initramfs-{name}.cpio.gz"));
    run(
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1 > ../initramfs-{name}.cpio.gz"
            ))
            .current_dir(&copy),
        "cpio -o -H newc | gzip -1",
    )?;
    Ok(Peer {
        initramfs,
        ..peer.clone()
    })
}
