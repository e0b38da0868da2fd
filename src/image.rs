//! Building the image.
//!
//! The image (crate `kiln-board`, binary `kiln-image`) is a freestanding ELF built for
//! the host target. It is built in its own cargo invocation with its own target
//! directory, so host-only dependencies of the launcher and tests never unify
//! features with it (docs/ARCHITECTURE.md, "Cargo").

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (this crate's manifest directory).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where the image's build artefacts go.
pub fn target_dir() -> PathBuf {
    workspace_root().join("target").join("image")
}

/// The image as linked, with full debug information: what gdb reads.
pub fn debug_image_path() -> PathBuf {
    target_dir().join("release").join("kiln-image")
}

/// The bootable image: the same ELF without symbols and debug information, so the VMM
/// has less to read (the debug ELF is several MiB; the code and data are the same).
pub fn image_path() -> PathBuf {
    target_dir().join("release").join("kiln-boot.elf")
}

/// The cargo to run: the one that started us, else `cargo` from PATH.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}

/// The cargo command that builds the image of the workspace at `workspace` into
/// `target` (the ELF lands at `target/release/kiln-image`).
pub fn cargo_build_command(workspace: &Path, target: &Path, quiet: bool) -> Command {
    let mut command = Command::new(cargo());
    command
        .current_dir(workspace)
        .args([
            "build",
            "--release",
            "-p",
            "kiln-board",
            "--bin",
            "kiln-image",
        ])
        .arg("--target-dir")
        .arg(target)
        // The image must not inherit flags meant for host code (e.g. coverage), nor
        // clippy's wrapper when this runs from the launcher's build script.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER");
    if quiet {
        command.arg("--quiet");
    }
    command
}

/// Builds the release image and returns the bootable image's path (see [`image_path`];
/// [`debug_image_path`] is its twin for gdb). Cargo's output goes to stderr.
pub fn build(quiet: bool) -> Result<PathBuf, String> {
    let status = cargo_build_command(workspace_root(), &target_dir(), quiet)
        .status()
        .map_err(|e| format!("kiln: cannot run cargo to build the image: {e}"))?;
    if !status.success() {
        return Err(format!("kiln: building the image failed ({status})"));
    }
    finish(&debug_image_path(), &image_path())?;
    Ok(image_path())
}

/// After a build: writes the symbol table into `debug_image` and strips it into `image`.
pub fn finish(debug_image: &Path, image: &Path) -> Result<(), String> {
    // Several processes may build at once (two test suites, a launcher beside them):
    // cargo serialises its part; this lock serialises the rest, and every file is
    // replaced by a rename, so a QEMU or gdb reading the last one never sees half a file.
    let lock_path = debug_image.with_file_name("post-build.lock");
    let lock = std::fs::File::create(&lock_path)
        .and_then(|file| file.lock().map(|()| file))
        .map_err(|e| format!("kiln: locking {}: {e}", lock_path.display()))?;
    // Without the table the image still runs; reports then lack function names.
    if let Err(why) = crate::symbols::embed(debug_image) {
        eprintln!("{why}; fault reports and ps will not name functions");
    }
    let partial = partial_path(image);
    let stripped = Command::new("strip")
        .arg("--strip-all")
        .arg("-o")
        .arg(&partial)
        .arg(debug_image)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !stripped {
        eprintln!("kiln: strip (binutils) failed; booting the image with its debug information");
        std::fs::copy(debug_image, &partial)
            .map_err(|e| format!("kiln: copying the image: {e}"))?;
    }
    std::fs::rename(&partial, image).map_err(|e| format!("kiln: placing the image: {e}"))?;
    drop(lock);
    Ok(())
}

/// Where this process writes the next version of `path` before renaming it over:
/// beside it, with `.partial.PID` appended to its name.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".partial.{}", std::process::id()));
    path.with_file_name(name)
}

/// Replaces `path` with `bytes` by writing a file beside it and renaming it over: a
/// reader of `path` sees the old file or the new one, never half of one.
pub fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let partial = partial_path(path);
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, path)
}

/// Builds the launcher binary (`kiln`) for tests that run it as a user would, and
/// returns its path. Its own target directory: its build script builds the image in
/// [`target_dir`], which must not be the directory this cargo locks.
pub fn build_launcher() -> Result<PathBuf, String> {
    let status = Command::new(cargo())
        .current_dir(workspace_root())
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "kiln",
            "--bin",
            "kiln",
        ])
        .arg("--target-dir")
        .arg(launcher_dir())
        .status()
        .map_err(|e| format!("kiln: cannot run cargo to build the launcher: {e}"))?;
    if !status.success() {
        return Err(format!("kiln: building the launcher failed ({status})"));
    }
    Ok(launcher_dir().join("release").join("kiln"))
}

fn launcher_dir() -> PathBuf {
    workspace_root().join("target").join("launcher")
}
