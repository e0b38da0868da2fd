//! `kiln bake`: one bootable image from kiln and a user's programs, files and rc script.
//!
//! The launcher carries the kiln image it was built with ([`BASE_IMAGE`], built by
//! `build.rs`). Baking ELF programs, files and an rc script is packaging: their bytes go
//! into a bundle (crate `kiln-bundle`) appended to a copy of that ELF file as one more
//! `PT_LOAD` segment, right above the kernel's memory, and the kernel's bundle pointer
//! (`board/src/bundle.rs`) is written with its address. Nothing is compiled, and the
//! same inputs give the same bytes.
//!
//! Every check happens here, before any boot: names (against kiln's native programs,
//! built-ins and files, and each other, naming both sources), static x86-64 ELF files,
//! readable files, the manifest's syntax (`Kiln.toml:L:C`), and the rc script, parsed with
//! the image's own parser against the programs the image will hold (`rc:L:C`).

use std::fmt;
use std::path::{Path, PathBuf};

use kiln_bundle::Kind;

/// The kiln image this launcher was built with (stripped, symbol table embedded).
pub const BASE_IMAGE: &[u8] = include_bytes!(env!("KILN_BASE_IMAGE"));

/// The manifest's name in a user's project.
pub const MANIFEST: &str = "Kiln.toml";

/// Where an input was given, for messages that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag, as typed (`--program hello=./hello`).
    Flag(String),
    /// A manifest entry: the file and the key (`[programs] hello`).
    Manifest { path: PathBuf, key: String },
    /// One of kiln's own native programs or shell built-ins.
    Kiln,
    /// One of kiln's own files (the repo's `files/`).
    KilnFile,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(text) => write!(f, "{text}"),
            Source::Manifest { path, key } => write!(f, "{} {key}", path.display()),
            Source::Kiln => write!(f, "kiln's own program or built-in"),
            Source::KilnFile => write!(f, "kiln's own file (files/)"),
        }
    }
}

/// A program or file to bake: its name in the image, the host file, and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub name: String,
    pub path: PathBuf,
    pub source: Source,
}

/// Everything a bake takes.
#[derive(Debug, Clone, Default)]
pub struct Recipe {
    pub programs: Vec<Input>,
    pub files: Vec<Input>,
    /// The default rc script (the last one given wins: a flag over the manifest).
    pub rc: Option<(PathBuf, Source)>,
    pub crates: Vec<(PathBuf, Source)>,
}

/// The manifest, as users write it (paths relative to the manifest's folder):
///
/// ```toml
/// rc = "rc"
/// crates = ["hello-native"]
///
/// [programs]
/// hello = "build/hello"
///
/// [files]
/// "motd.txt" = "motd.txt"
/// ```
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    rc: Option<String>,
    #[serde(default)]
    crates: Vec<String>,
    #[serde(default)]
    programs: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    files: std::collections::BTreeMap<String, String>,
}

/// `NAME=PATH` of a flag.
fn split_spec<'s>(flag: &str, spec: &'s str) -> Result<(&'s str, &'s str), String> {
    spec.split_once('=')
        .filter(|(name, path)| !name.is_empty() && !path.is_empty())
        .ok_or_else(|| format!("kiln bake: {flag} '{spec}': use NAME=PATH"))
}

/// The line and column (1-based) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl Recipe {
    /// Adds `--program NAME=PATH`.
    pub fn program_flag(&mut self, spec: &str) -> Result<(), String> {
        let (name, path) = split_spec("--program", spec)?;
        self.programs.push(Input {
            name: name.into(),
            path: path.into(),
            source: Source::Flag(format!("--program {spec}")),
        });
        Ok(())
    }

    /// Adds `--file NAME=PATH`.
    pub fn file_flag(&mut self, spec: &str) -> Result<(), String> {
        let (name, path) = split_spec("--file", spec)?;
        self.files.push(Input {
            name: name.into(),
            path: path.into(),
            source: Source::Flag(format!("--file {spec}")),
        });
        Ok(())
    }

    /// Adds what the manifest at `path` says.
    pub fn manifest(&mut self, path: &Path) -> Result<(), String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("kiln bake: cannot read {}: {e}", path.display()))?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((1, 1), |span| line_column(&text, span.start));
            format!(
                "kiln bake: {}:{line}:{column}: {}",
                path.display(),
                e.message()
            )
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let source = |key: String| Source::Manifest {
            path: path.to_path_buf(),
            key,
        };
        if let Some(rc) = manifest.rc {
            self.rc = Some((dir.join(rc), source("rc".into())));
        }
        for krate in manifest.crates {
            self.crates
                .push((dir.join(&krate), source(format!("crates \"{krate}\""))));
        }
        for (name, file) in manifest.programs {
            self.programs.push(Input {
                path: dir.join(file),
                source: source(format!("[programs] {name}")),
                name,
            });
        }
        for (name, file) in manifest.files {
            self.files.push(Input {
                path: dir.join(file),
                source: source(format!("[files] {name}")),
                name,
            });
        }
        Ok(())
    }
}

/// A name a program or file may have in the image.
fn valid_name(name: &str) -> bool {
    crate::programs::name_characters_ok(name)
        && !name.starts_with('-')
        && name != "."
        && name != ".."
}

/// The bytes of a program or file (`what`) to bake, once its name is valid and not in
/// `taken` (a clash names both sources); its name then is.
fn checked_input(
    input: &Input,
    what: &str,
    taken: &mut Vec<(String, Source)>,
) -> Result<Vec<u8>, String> {
    if !valid_name(&input.name) {
        return Err(format!(
            "kiln bake: {}: '{}' is not a {what} name (letters, digits, '-', '_', '.')",
            input.source, input.name
        ));
    }
    if let Some((_, first)) = taken.iter().find(|(n, _)| *n == input.name) {
        return Err(format!(
            "kiln bake: two {what}s named '{}': {first} and {}",
            input.name, input.source
        ));
    }
    let bytes = std::fs::read(&input.path).map_err(|e| {
        format!(
            "kiln bake: {}: cannot read '{}': {e}",
            input.source,
            input.path.display()
        )
    })?;
    taken.push((input.name.clone(), input.source.clone()));
    Ok(bytes)
}

/// What a bake made.
#[derive(Debug)]
pub struct Baked {
    pub image: Vec<u8>,
    pub programs: usize,
    pub files: usize,
    pub bundle_bytes: usize,
}

/// Checks the recipe and packages it with the launcher's own kiln image, or, with
/// crates, with an image built with their programs linked in (the only case that runs
/// cargo).
pub fn bake(recipe: &Recipe) -> Result<Baked, String> {
    // Names: kiln's own first, then each input in order; a clash names both sources.
    let mut taken: Vec<(String, Source)> = crate::programs::taken_names()
        .into_iter()
        .map(|n| (n.to_string(), Source::Kiln))
        .collect();
    let built;
    let base: &[u8] = if recipe.crates.is_empty() {
        BASE_IMAGE
    } else {
        built = crates::build(&recipe.crates)?;
        // The image's lists: kiln's own programs, then each crate's, in order.
        let lists = native_programs(&built)?;
        for (list, (_, source)) in lists.iter().skip(1).zip(&recipe.crates) {
            for name in list {
                if let Some((_, first)) = taken.iter().find(|(n, _)| n == name) {
                    return Err(format!(
                        "kiln bake: two programs named '{name}': {first} and {source}"
                    ));
                }
                taken.push((name.clone(), source.clone()));
            }
        }
        &built
    };
    let mut entries: Vec<(Kind, String, Vec<u8>)> = Vec::new();
    for input in &recipe.programs {
        let bytes = checked_input(input, "program", &mut taken)?;
        kiln_linux::elf::plan(&bytes).map_err(|e| {
            format!(
                "kiln bake: {}: '{}' is {e}",
                input.source,
                input.path.display()
            )
        })?;
        entries.push((Kind::Program, input.name.clone(), bytes));
    }
    let mut files: Vec<(String, Source)> = crate::files::repo_file_names()
        .into_iter()
        .map(|n| (n, Source::KilnFile))
        .collect();
    for input in &recipe.files {
        let bytes = checked_input(input, "file", &mut files)?;
        entries.push((Kind::File, input.name.clone(), bytes));
    }
    if let Some((path, source)) = &recipe.rc {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "kiln bake: {source}: cannot read the rc script '{}': {e}",
                path.display()
            )
        })?;
        let names: Vec<String> = taken.iter().map(|(n, _)| n.clone()).collect();
        kiln_init::rc::parse("rc", &text, &names).map_err(|e| {
            format!(
                "kiln bake: the rc script '{}' ({source}):\n{}",
                path.display(),
                e.render(&text)
            )
        })?;
        entries.push((Kind::Rc, "rc".into(), text.into_bytes()));
    }
    entries.push((
        Kind::Info,
        "version".into(),
        env!("CARGO_PKG_VERSION").as_bytes().to_vec(),
    ));
    let programs = recipe.programs.len();
    let files = recipe.files.len();
    let borrowed: Vec<(Kind, &str, &[u8])> = entries
        .iter()
        .map(|(kind, name, bytes)| (*kind, name.as_str(), bytes.as_slice()))
        .collect();
    let bundle = kiln_bundle::write(&borrowed);
    let image = append_bundle(base, &bundle)?;
    Ok(Baked {
        image,
        programs,
        files,
        bundle_bytes: bundle.len(),
    })
}

/// Images with native programs from crates outside kiln's tree.
mod crates {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use super::Source;
    use crate::image;

    /// The Rust name of the library of the crate at `dir` (its `[lib] name`, else its
    /// package name with `-` as `_`), checked to be a library.
    fn library_name(dir: &Path, source: &Source) -> Result<String, String> {
        let manifest = dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).map_err(|e| {
            format!(
                "kiln bake: {source}: cannot read '{}': {e}",
                manifest.display()
            )
        })?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| {
            let (line, column) = e
                .span()
                .map_or((1, 1), |span| super::line_column(&text, span.start));
            format!(
                "kiln bake: {}:{line}:{column}: {}",
                manifest.display(),
                e.message()
            )
        })?;
        let named = |table: Option<&toml::Value>| {
            table
                .and_then(|t| t.get("name"))
                .and_then(|n| n.as_str())
                .map(str::to_string)
        };
        let package = named(table.get("package")).ok_or_else(|| {
            format!(
                "kiln bake: {source}: '{}' has no [package] name",
                manifest.display()
            )
        })?;
        if !dir.join("src/lib.rs").is_file() && table.get("lib").is_none() {
            return Err(format!(
                "kiln bake: {source}: crate '{package}' has no library (src/lib.rs) with `pub const PROGRAMS: &[Program]`"
            ));
        }
        Ok(named(table.get("lib")).unwrap_or(package.replace('-', "_")))
    }

    /// Builds kiln's image with the programs of `crates` linked in (each crate's
    /// `PROGRAMS`, after kiln's own), in a generated crate under kiln's `target/bake`,
    /// and returns the stripped image.
    pub fn build(crates: &[(PathBuf, Source)]) -> Result<Vec<u8>, String> {
        let kiln = image::workspace_root();
        let mut dependencies = String::new();
        let mut lists = vec![String::from("kiln_utils::PROGRAMS")];
        for (dir, source) in crates {
            let dir = dir
                .canonicalize()
                .map_err(|e| format!("kiln bake: {source}: '{}': {e}", dir.display()))?;
            let library = library_name(&dir, source)?;
            dependencies.push_str(&format!(
                "{library} = {{ path = {:?} }}\n",
                dir.display().to_string()
            ));
            lists.push(format!("{library}::PROGRAMS"));
        }
        let key = kiln_linux::elf::program_id(&dependencies);
        let generated = kiln
            .join("target")
            .join("bake")
            .join(format!("image-{key:016x}"));
        std::fs::create_dir_all(&generated)
            .map_err(|e| format!("kiln bake: {}: {e}", generated.display()))?;
        let link_args = std::fs::read_to_string(kiln.join("board/link-args.txt"))
            .map_err(|e| format!("kiln bake: kiln's board/link-args.txt: {e}"))?;
        let mut build_rs = String::from(
            "// Generated by kiln bake: links the image as board/build.rs does.\nfn main() {\n",
        );
        for arg in link_args.lines().filter(|l| !l.is_empty()) {
            build_rs.push_str(&format!(
                "    println!(\"cargo:rustc-link-arg-bins={arg}\");\n"
            ));
        }
        build_rs.push_str(&format!(
            "    println!(\"cargo:rustc-link-arg-bins=-Wl,-T,{}\");\n}}\n",
            kiln.join("board/linker.ld").display()
        ));
        let path = |p: &str| format!("{:?}", kiln.join(p).display().to_string());
        let manifest = format!(
            "# Generated by kiln bake: kiln's image with native programs from crates.\n\
             [package]\nname = \"kiln-baked-image\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
             [[bin]]\nname = \"kiln-image\"\npath = \"main.rs\"\ntest = false\nbench = false\n\n\
             [dependencies]\nkiln-board = {{ path = {} }}\nkiln-utils = {{ path = {} }}\n{dependencies}\n\
             [profile.dev]\npanic = \"abort\"\n\n\
             [profile.release]\npanic = \"abort\"\nopt-level = \"s\"\ncodegen-units = 1\nlto = true\ndebug = true\n\n\
             [workspace]\n",
            path("board"),
            path("utils"),
        );
        let main = format!(
            "//! Generated by kiln bake.\n#![no_std]\n#![no_main]\n\nkiln_board::image!({});\n",
            lists.join(", ")
        );
        for (name, text) in [
            ("Cargo.toml", manifest.as_str()),
            ("build.rs", build_rs.as_str()),
            ("main.rs", main.as_str()),
        ] {
            write_if_changed(&generated.join(name), text.as_bytes())?;
        }
        // kiln's own lock file: the same versions of every dependency kiln pins.
        if !generated.join("Cargo.lock").is_file() {
            std::fs::copy(kiln.join("Cargo.lock"), generated.join("Cargo.lock"))
                .map_err(|e| format!("kiln bake: copying Cargo.lock: {e}"))?;
        }
        let target = kiln.join("target").join("bake").join("target");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&generated)
            .args(["build", "--release", "--quiet", "--bin", "kiln-image"])
            .arg("--target-dir")
            .arg(&target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("RUSTC_WRAPPER")
            .status()
            .map_err(|e| format!("kiln bake: --crate needs cargo: {e}"))?;
        if !status.success() {
            return Err(format!(
                "kiln bake: building the image with {} failed ({status}); cargo said why above",
                crates
                    .iter()
                    .map(|(_, s)| s.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let debug_image = target.join("release").join("kiln-image");
        let stripped = generated.join("kiln-boot.elf");
        image::finish(&debug_image, &stripped)?;
        std::fs::read(&stripped).map_err(|e| format!("kiln bake: {}: {e}", stripped.display()))
    }

    /// Writes `bytes` unless the file holds them already (cargo then has nothing to redo).
    fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), String> {
        if std::fs::read(path).is_ok_and(|old| old == bytes) {
            return Ok(());
        }
        std::fs::write(path, bytes).map_err(|e| format!("kiln bake: {}: {e}", path.display()))
    }
}

const PAGE: u64 = 4096;
const PT_LOAD: u32 = 1;
const PF_R: u32 = 4;
const PHDR_SIZE: usize = 56;

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// One program header: (type, file offset, physical address, file size, memory size).
struct Segment {
    kind: u32,
    offset: u64,
    paddr: u64,
    filesz: u64,
    memsz: u64,
}

/// The program headers of a kiln image (an ELF64 little-endian x86-64 executable).
fn segments(image: &[u8]) -> Result<(usize, usize, Vec<Segment>), String> {
    let bad = || "kiln: not a kiln image (not an ELF64 x86-64 executable)".to_string();
    if image.len() < 64 || &image[..4] != b"\x7fELF" || image[4] != 2 || image[5] != 1 {
        return Err(bad());
    }
    if u16_at(image, 0x12) != 62 || usize::from(u16_at(image, 0x36)) != PHDR_SIZE {
        return Err(bad());
    }
    let phoff = usize::try_from(u64_at(image, 0x20)).map_err(|_| bad())?;
    let phnum = usize::from(u16_at(image, 0x38));
    if phoff
        .checked_add(phnum * PHDR_SIZE)
        .is_none_or(|end| end > image.len())
    {
        return Err(bad());
    }
    let list = (0..phnum)
        .map(|i| {
            let at = phoff + i * PHDR_SIZE;
            Segment {
                kind: u32_at(image, at),
                offset: u64_at(image, at + 8),
                paddr: u64_at(image, at + 24),
                filesz: u64_at(image, at + 32),
                memsz: u64_at(image, at + 40),
            }
        })
        .collect();
    Ok((phoff, phnum, list))
}

/// Where the kernel's bundle pointer is in the file: the one place its magic appears.
fn pointer_offset(image: &[u8]) -> Result<usize, String> {
    let magic = kiln_bundle::POINTER_MAGIC;
    let mut found = image
        .windows(magic.len())
        .enumerate()
        .filter(|(_, w)| w == magic)
        .map(|(at, _)| at);
    match (found.next(), found.next()) {
        (Some(at), None) if at + kiln_bundle::POINTER_SIZE <= image.len() => Ok(at),
        _ => Err("kiln: not a kiln image (no bundle pointer)".into()),
    }
}

/// `kernel` with `bundle` appended as a read-only `PT_LOAD` segment at the first page
/// above the kernel's memory, and the kernel's pointer to it written in.
pub fn append_bundle(kernel: &[u8], bundle: &[u8]) -> Result<Vec<u8>, String> {
    let (phoff, phnum, list) = segments(kernel)?;
    let pointer = pointer_offset(kernel)?;
    if u64_at(kernel, pointer + 16) != 0 {
        return Err("kiln: this image is baked already; bake from kiln's own image".into());
    }
    let address = list
        .iter()
        .filter(|s| s.kind == PT_LOAD)
        .map(|s| s.paddr + s.memsz)
        .max()
        .ok_or("kiln: the kiln image has no loadable segment")?
        .next_multiple_of(PAGE);
    let mut out = kernel.to_vec();
    out.resize((out.len() as u64).next_multiple_of(PAGE) as usize, 0);
    let bundle_offset = out.len() as u64;
    out.extend_from_slice(bundle);
    out.resize(out.len().next_multiple_of(8), 0);
    // The program headers move to the end, one longer (e_phoff may point anywhere).
    let new_phoff = out.len() as u64;
    out.extend_from_slice(&kernel[phoff..phoff + phnum * PHDR_SIZE]);
    let mut header = Vec::with_capacity(PHDR_SIZE);
    header.extend_from_slice(&PT_LOAD.to_le_bytes());
    header.extend_from_slice(&PF_R.to_le_bytes());
    for value in [
        bundle_offset,
        address,
        address,
        bundle.len() as u64,
        (bundle.len() as u64).next_multiple_of(PAGE),
        PAGE,
    ] {
        header.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&header);
    out[0x20..0x28].copy_from_slice(&new_phoff.to_le_bytes());
    let count = u16::try_from(phnum + 1).map_err(|_| "kiln: too many program headers")?;
    out[0x38..0x3a].copy_from_slice(&count.to_le_bytes());
    out[pointer + 16..pointer + 24].copy_from_slice(&address.to_le_bytes());
    out[pointer + 24..pointer + 32].copy_from_slice(&(bundle.len() as u64).to_le_bytes());
    Ok(out)
}

/// Must match `board/src/lib.rs`.
const NAMES_MAGIC: &[u8; 16] = b"KILN-NATIVE-v1\0\0";

/// The image's native programs, list by list (kiln's own, then each crate's), from the
/// names table its binary holds (`kiln_board::image!`).
pub fn native_programs(image: &[u8]) -> Result<Vec<Vec<String>>, String> {
    let at = image
        .windows(NAMES_MAGIC.len())
        .position(|w| w == NAMES_MAGIC)
        .ok_or("kiln: not a kiln image (no table of native programs)")?;
    let table = &image[at + NAMES_MAGIC.len()..];
    let end = table.iter().position(|&b| b == 0).unwrap_or(table.len());
    let text = String::from_utf8_lossy(&table[..end]);
    let mut lists = vec![Vec::new()];
    for line in text.split('\n') {
        if line.is_empty() {
            lists.push(Vec::new());
        } else if let Some(list) = lists.last_mut() {
            list.push(line.to_string());
        }
    }
    lists.retain(|list| !list.is_empty());
    Ok(lists)
}

/// What `kiln inspect` shows of an image.
#[derive(Debug, Default)]
pub struct Inspection {
    pub version: Option<String>,
    pub native: Vec<String>,
    /// (name, size in bytes, entry point as loaded)
    pub programs: Vec<(String, usize, u64)>,
    /// (name, size in bytes)
    pub files: Vec<(String, usize)>,
    pub rc: Option<String>,
    /// False for kiln's own image, which has no bundle.
    pub baked: bool,
}

/// Reads what an image holds, without booting it.
pub fn inspect(image: &[u8]) -> Result<Inspection, String> {
    let (_, _, list) = segments(image)?;
    let pointer = pointer_offset(image)?;
    let address = u64_at(image, pointer + 16);
    let length = u64_at(image, pointer + 24);
    let mut inspection = Inspection {
        native: native_programs(image)?.concat(),
        ..Inspection::default()
    };
    if address == 0 {
        return Ok(inspection);
    }
    let segment = list
        .iter()
        .find(|s| s.kind == PT_LOAD && s.paddr == address && s.filesz == length)
        .ok_or("kiln: the image's bundle pointer names no segment of it (damaged image)")?;
    let start = usize::try_from(segment.offset).map_err(|_| "kiln: damaged image")?;
    let bundle = image
        .get(start..start + length as usize)
        .ok_or("kiln: the image is cut short (its bundle is missing)")?;
    let entries =
        kiln_bundle::read(bundle).map_err(|e| format!("kiln: the image's bundle: {e}"))?;
    inspection.baked = true;
    for entry in entries {
        let text = || String::from_utf8_lossy(entry.bytes).into_owned();
        match (entry.kind, entry.name) {
            (Kind::Info, "version") => inspection.version = Some(text()),
            (Kind::Info, _) => {}
            (Kind::Program, name) => {
                let entry_point = kiln_linux::elf::plan(entry.bytes)
                    .map(|plan| plan.entry + plan.bias())
                    .unwrap_or(0);
                inspection
                    .programs
                    .push((name.to_string(), entry.bytes.len(), entry_point));
            }
            (Kind::File, name) => inspection.files.push((name.to_string(), entry.bytes.len())),
            (Kind::Rc, _) => inspection.rc = Some(text()),
        }
    }
    Ok(inspection)
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.baked {
            writeln!(
                f,
                "kiln image (not baked: kiln's own programs, files and rc)"
            )?;
        } else {
            writeln!(
                f,
                "kiln {} image",
                self.version.as_deref().unwrap_or("(unknown version)")
            )?;
        }
        writeln!(f, "native programs ({}):", self.native.len())?;
        writeln!(f, "  {}", self.native.join(" "))?;
        writeln!(f, "ELF programs ({}):", self.programs.len())?;
        for (name, size, entry) in &self.programs {
            writeln!(f, "  {name:<20} {size:>10} bytes  entry {entry:#x}")?;
        }
        writeln!(f, "files ({}):", self.files.len())?;
        for (name, size) in &self.files {
            writeln!(f, "  {name:<20} {size:>10} bytes")?;
        }
        match &self.rc {
            Some(rc) => {
                writeln!(f, "rc script:")?;
                for line in rc.lines() {
                    writeln!(f, "  | {line}")?;
                }
            }
            None => writeln!(f, "rc script: kiln's default (files/rc)")?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, bytes: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kiln-bake-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn lines_and_columns_count_from_one() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
    }

    #[test]
    fn a_bake_of_files_and_an_rc_reads_back_with_inspect_and_is_reproducible() {
        let mut recipe = Recipe::default();
        recipe
            .file_flag(&format!("motd.txt={}", temp("motd", b"hello\n").display()))
            .unwrap();
        recipe.rc = Some((temp("rc", b"echo hi\nshell\n"), Source::Flag("--rc".into())));
        let one = bake(&recipe).unwrap();
        let two = bake(&recipe).unwrap();
        assert_eq!(one.image, two.image);
        let seen = inspect(&one.image).unwrap();
        assert!(seen.baked);
        assert_eq!(seen.files, [("motd.txt".to_string(), 6)]);
        assert_eq!(seen.rc.as_deref(), Some("echo hi\nshell\n"));
        assert_eq!(seen.version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
        assert!(seen.native.iter().any(|n| n == "fw"));
        assert!(!inspect(BASE_IMAGE).unwrap().baked);
        // A baked image is not baked again.
        let again = append_bundle(&one.image, b"x").unwrap_err();
        assert!(again.contains("baked already"), "{again}");
    }

    #[test]
    fn bake_errors_say_what_and_where() {
        let script = temp("script", b"#!/bin/sh\n");
        let cases: Vec<(Recipe, &str)> = vec![
            (
                {
                    let mut r = Recipe::default();
                    r.program_flag("echo=/bin/true").unwrap();
                    r
                },
                "two programs named 'echo': kiln's own program or built-in and --program echo=/bin/true",
            ),
            (
                {
                    let mut r = Recipe::default();
                    r.program_flag(&format!("s={}", script.display())).unwrap();
                    r
                },
                "is not an ELF file",
            ),
            (
                {
                    let mut r = Recipe::default();
                    r.file_flag("x=/no/such").unwrap();
                    r
                },
                "kiln bake: --file x=/no/such: cannot read '/no/such'",
            ),
            (
                {
                    let mut r = Recipe::default();
                    r.file_flag("default.rules=/etc/hostname").unwrap();
                    r
                },
                "two files named 'default.rules': kiln's own file (files/) and --file default.rules=/etc/hostname",
            ),
        ];
        for (recipe, want) in cases {
            let error = bake(&recipe).unwrap_err();
            assert!(error.contains(want), "{error}\nwanted: {want}");
        }
    }

    #[test]
    fn an_rc_naming_a_missing_program_is_refused_with_its_line_and_column() {
        let recipe = Recipe {
            rc: Some((
                temp("bad-rc", b"echo ok\n  nosuch 1\n"),
                Source::Flag("--rc".into()),
            )),
            ..Recipe::default()
        };
        let error = bake(&recipe).unwrap_err();
        assert!(error.contains("rc:2:3:"), "{error}");
        assert!(error.contains("nosuch"), "{error}");
    }

    #[test]
    fn manifest_errors_have_their_line_and_column() {
        let manifest = temp("Kiln.toml", b"rc = \"rc\"\n[programs]\nhello = 3\n");
        let error = Recipe::default().manifest(&manifest).unwrap_err();
        assert!(
            error.contains(&format!("{}:3:9:", manifest.display())),
            "{error}"
        );
        let unknown = temp("Kiln2.toml", b"programz = {}\n");
        let error = Recipe::default().manifest(&unknown).unwrap_err();
        assert!(error.contains(":1:1:"), "{error}");
        assert!(error.contains("programz"), "{error}");
    }
}
