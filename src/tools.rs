//! Host tools kiln needs (QEMU, gdb, expect, cpio): found on PATH, installed from the
//! distribution's packages when missing and allowed (root with apt-get), otherwise a
//! one-line error that says how to install them. Never a silent skip.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The executable `tool` on PATH.
pub fn on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

/// True when running as root (installs are allowed).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The one line that says how to get `tool`.
pub fn install_hint(tool: &str, package: &str) -> String {
    format!("kiln: {tool} not found; install it with: sudo apt-get install {package}")
}

/// Finds `tool`; as root on Debian/Ubuntu, installs `package` when it is missing.
pub fn find_or_install(tool: &str, package: &str) -> Result<PathBuf, String> {
    if let Some(found) = on_path(tool) {
        return Ok(found);
    }
    if is_root() && on_path("apt-get").is_some() {
        eprintln!("kiln: {tool} not found; installing {package} with apt-get");
        let installed = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq {package}"
            ))
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if installed && let Some(found) = on_path(tool) {
            return Ok(found);
        }
    }
    Err(install_hint(tool, package))
}
