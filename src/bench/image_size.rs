//! Image sizes: kiln's stripped ELF with and without its utilities, and the peer's
//! vmlinuz + initramfs.
//!
//! "Without utilities" is the same image with an empty program registry: the workspace
//! is copied to `target/bench/no-utils/src` (mtimes kept, so rebuilds are incremental),
//! `kiln_utils::PROGRAMS` is replaced by `&[]` in the copy, and the image is built there
//! with the same cargo command as `kiln::image::build`. The repo itself is not touched.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The registry's first line in `utils/src/lib.rs`.
const REGISTRY_START: &str = "pub const PROGRAMS: &[Program] = &[";

/// Copies `image` to `dir/name`, strips the copy with `strip` (or `objcopy
/// --strip-all`) and returns the copy's path and size in bytes.
pub fn stripped(image: &Path, dir: &Path, name: &str) -> Result<(PathBuf, u64), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("kiln bench: {}: {e}", dir.display()))?;
    let copy = dir.join(name);
    std::fs::copy(image, &copy).map_err(|e| format!("kiln bench: copying the image: {e}"))?;
    let stripped = Command::new("strip")
        .arg(&copy)
        .status()
        .is_ok_and(|s| s.success())
        || Command::new("objcopy")
            .arg("--strip-all")
            .arg(&copy)
            .status()
            .is_ok_and(|s| s.success());
    if !stripped {
        return Err(
            "kiln bench: neither strip nor objcopy could strip the image (install binutils)".into(),
        );
    }
    let size = std::fs::metadata(&copy)
        .map_err(|e| format!("kiln bench: {e}"))?
        .len();
    Ok((copy, size))
}

/// `utils/src/lib.rs` with an empty registry.
fn without_programs(lib: &str) -> Result<String, String> {
    let start = lib
        .find(REGISTRY_START)
        .ok_or("kiln bench: utils/src/lib.rs has no `pub const PROGRAMS` registry")?;
    let body = start + REGISTRY_START.len();
    let end = lib[body..]
        .find("];")
        .ok_or("kiln bench: the PROGRAMS registry has no end")?;
    Ok(format!("{}{}{}", &lib[..body], "]", &lib[body + end + 1..]))
}

/// Builds the image with no baked programs and returns its path.
pub fn build_without_utilities(root: &Path, dir: &Path, quiet: bool) -> Result<PathBuf, String> {
    let copy = dir.join("src");
    std::fs::create_dir_all(&copy).map_err(|e| format!("kiln bench: {e}"))?;
    let entries = std::fs::read_dir(root).map_err(|e| format!("kiln bench: {e}"))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let to = copy.join(&name);
        let _ = std::fs::remove_dir_all(&to);
        let _ = std::fs::remove_file(&to);
        let status = Command::new("cp")
            .arg("-a")
            .arg(entry.path())
            .arg(&to)
            .status()
            .map_err(|e| format!("kiln bench: cp: {e}"))?;
        if !status.success() {
            return Err(format!(
                "kiln bench: copying {} failed",
                entry.path().display()
            ));
        }
    }
    let lib_path = copy.join("utils/src/lib.rs");
    let original = std::fs::read_to_string(&lib_path).map_err(|e| format!("kiln bench: {e}"))?;
    std::fs::write(&lib_path, without_programs(&original)?)
        .map_err(|e| format!("kiln bench: {e}"))?;
    // Keep the original's mtime, so an unchanged tree does not rebuild.
    let _ = Command::new("touch")
        .arg("-r")
        .arg(root.join("utils/src/lib.rs"))
        .arg(&lib_path)
        .status();
    let target = dir.join("target");
    let status = kiln::image::cargo_build_command(&copy, &target, quiet)
        .status()
        .map_err(|e| format!("kiln bench: cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!(
            "kiln bench: building the image without utilities failed ({status})"
        ));
    }
    Ok(target.join("release").join("kiln-image"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empties_the_registry() {
        let lib = "use x;\npub const PROGRAMS: &[Program] = &[\n    a::PROGRAM,\n    b::PROGRAM,\n];\n\nconst _: () = f(PROGRAMS);\n";
        assert_eq!(
            without_programs(lib).unwrap(),
            "use x;\npub const PROGRAMS: &[Program] = &[];\n\nconst _: () = f(PROGRAMS);\n"
        );
        assert!(without_programs("nothing").is_err());
    }
}
