//! `--program NAME=PATH`: an ELF executable baked into the image under NAME.
//!
//! The file is checked here, before boot, with the image's own rules
//! (`kiln_linux::elf::plan`): it must be a static x86-64 executable. NAME must be free:
//! not a native program, a shell built-in or an rc word, and not given twice. The image
//! gets the file as fw_cfg `opt/kiln/program/NAME`.

use std::path::{Path, PathBuf};

/// The fw_cfg prefix the image reads programs from (board/src/process.rs).
pub const FW_CFG_PREFIX: &str = "opt/kiln/program/";
/// QEMU's fw_cfg names hold 55 bytes.
const FW_CFG_NAME_MAX: usize = 55;

/// A program to bake: its name in the image and the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BakedProgram {
    pub name: String,
    pub path: PathBuf,
}

impl BakedProgram {
    /// The `-fw_cfg` argument that passes it.
    pub fn fw_cfg(&self) -> String {
        format!(
            "name={FW_CFG_PREFIX}{},file={}",
            self.name,
            self.path.display()
        )
    }
}

/// A gdb script for a session on an image with `programs` baked in: each program's
/// symbols at the address the image loads it, and for each a command
/// `kiln-break-NAME LOCATION` that sets a hardware breakpoint stopping only while that
/// program runs (`kiln_running_program` holds the running one's id). Hardware, because a
/// software breakpoint at a user address would be written into whatever the CPU maps
/// there when gdb inserts it, the kernel's memory too.
pub fn gdb_script(programs: &[BakedProgram]) -> String {
    let mut script = String::from("# Written by the kiln launcher for --gdb with --program.\n");
    for program in programs {
        let offset = std::fs::read(&program.path)
            .ok()
            .and_then(|bytes| kiln_linux::elf::plan(&bytes).ok())
            .map_or(0, |plan| plan.bias());
        script.push_str(&format!(
            "add-symbol-file {} -o {offset:#x}\n",
            program.path.display()
        ));
    }
    for program in programs {
        let id = kiln_linux::elf::program_id(&program.name);
        script.push_str(&format!(
            "define kiln-break-{name}\n  set language c\n  hbreak $arg0 if *(unsigned long long *)&kiln_running_program == {id:#x}ULL\n  set language auto\nend\n\
             document kiln-break-{name}\nkiln-break-{name} LOCATION: a hardware breakpoint at LOCATION that stops only in program {name}.\nend\n",
            name = program.name
        ));
    }
    script
}

/// Names that are taken in the image: native programs, built-ins and rc words.
pub fn taken_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = kiln_utils::PROGRAMS.iter().map(|p| p.name).collect();
    names.extend(kiln_shell::builtins::NAMES);
    names.extend(kiln_init::rc::ast::BUILTIN_NAMES);
    names
}

/// True when `name` has only the characters a baked name may have: letters, digits,
/// `-`, `_` and `.` (programs, files and bake share this; each adds its own rule).
pub fn name_characters_ok(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Parses and checks `NAME=PATH`; `earlier` are the programs already given.
pub fn parse(spec: &str, earlier: &[BakedProgram]) -> Result<BakedProgram, String> {
    let Some((name, path)) = spec.split_once('=') else {
        return Err(format!("kiln: --program '{spec}': use NAME=PATH"));
    };
    let valid = name_characters_ok(name) && !name.starts_with('-');
    if !valid {
        return Err(format!(
            "kiln: --program '{spec}': '{name}' is not a program name (letters, digits, '-', '_', '.')"
        ));
    }
    if FW_CFG_PREFIX.len() + name.len() > FW_CFG_NAME_MAX {
        return Err(format!(
            "kiln: --program '{spec}': the name is too long (at most {} characters)",
            FW_CFG_NAME_MAX - FW_CFG_PREFIX.len()
        ));
    }
    if taken_names().contains(&name) {
        return Err(format!(
            "kiln: --program '{spec}': '{name}' is already a kiln program or built-in; choose another name"
        ));
    }
    if earlier.iter().any(|p| p.name == name) {
        return Err(format!("kiln: --program '{spec}': '{name}' is given twice"));
    }
    let path = Path::new(path);
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "kiln: --program '{spec}': cannot read '{}': {e}",
            path.display()
        )
    })?;
    kiln_linux::elf::plan(&bytes)
        .map_err(|e| format!("kiln: --program '{spec}': '{}' is {e}", path.display()))?;
    Ok(BakedProgram {
        name: name.to_string(),
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, bytes: &[u8]) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("kiln-programs-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn bad_specs_are_refused_with_what_is_wrong() {
        let script = temp("script", b"#!/bin/sh\necho hi\n");
        let cases = [
            ("hello", "use NAME=PATH".to_string()),
            ("=x", "is not a program name".to_string()),
            ("a b=x", "is not a program name".to_string()),
            (
                "echo=/bin/true",
                "already a kiln program or built-in".to_string(),
            ),
            (
                "jobs=/bin/true",
                "already a kiln program or built-in".to_string(),
            ),
            (
                "wait=/bin/true",
                "already a kiln program or built-in".to_string(),
            ),
            ("x=/no/such/file", "cannot read '/no/such/file'".to_string()),
            (
                &*format!("x={}", script.display()),
                "is not an ELF file".to_string(),
            ),
        ];
        for (spec, want) in cases {
            let error = parse(spec, &[]).unwrap_err();
            assert!(error.contains(&want), "{spec}: {error}");
            assert!(error.starts_with("kiln: --program"), "{error}");
        }
        let long = format!("{}=x", "n".repeat(40));
        assert!(parse(&long, &[]).unwrap_err().contains("too long"));
        let _ = std::fs::remove_file(script);
    }

    #[test]
    fn a_host_executable_that_is_dynamic_is_refused() {
        // /bin/true on Debian is dynamically linked.
        let error = parse("t=/bin/true", &[]).unwrap_err();
        assert!(error.contains("dynamically linked"), "{error}");
    }

    #[test]
    fn a_name_given_twice_is_refused() {
        let earlier = [BakedProgram {
            name: "hello".into(),
            path: "/x".into(),
        }];
        assert!(
            parse("hello=/bin/true", &earlier)
                .unwrap_err()
                .contains("given twice")
        );
    }
}
