//! `kiln bake`, `kiln inspect` and the baked image booted by plain QEMU: the example
//! project in `examples/bake/`, as a user would bake it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kiln_tests::{PROMPT, Vm, ensure_tool};

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The `kiln` binary, with a PATH that has no cargo or rustc: what it does, it does
/// on its own.
fn kiln() -> Command {
    let path = kiln::image::build_launcher().unwrap_or_else(|e| panic!("{e}"));
    let mut command = Command::new(path);
    command
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env_remove("CARGO")
        .env_remove("RUSTC");
    command
}

/// A folder removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("kiln-bake-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A copy of `examples/bake` with its C program built there (musl-gcc), as the
/// README's walk-through does.
fn example_project(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    let example = repo().join("examples/bake");
    for entry in std::fs::read_dir(&example).expect("examples/bake") {
        let entry = entry.expect("an entry");
        if entry.path().is_file() {
            std::fs::copy(entry.path(), dir.0.join(entry.file_name())).expect("copy");
        }
    }
    let built = Command::new(ensure_tool("musl-gcc", "musl-tools"))
        .args(["-static", "-O2", "-o"])
        .arg(dir.0.join("hello"))
        .arg(dir.0.join("hello.c"))
        .status()
        .expect("musl-gcc runs");
    assert!(built.success());
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn bake(args: &[&str]) -> Output {
    kiln()
        .arg("bake")
        .args(args)
        .output()
        .expect("kiln bake runs")
}

/// The README's plain QEMU line (section "Baking your own programs"), for `image`.
fn readme_qemu_line(image: &Path) -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let line = readme
        .lines()
        .find(|l| l.starts_with("qemu-system-x86_64 ") && l.ends_with("-kernel IMAGE"))
        .expect("the README gives the plain QEMU line ending in -kernel IMAGE");
    line.split_whitespace()
        .map(|word| {
            if word == "IMAGE" {
                image.display().to_string()
            } else {
                word.to_string()
            }
        })
        .collect()
}

#[test]
fn the_example_bakes_without_a_toolchain_inspects_and_boots_with_plain_qemu() {
    let project = example_project("example");
    let manifest = project.0.join("Kiln.toml");
    let manifest = manifest.to_str().unwrap();
    let image = project.0.join("example.img");
    let again = project.0.join("again.img");
    for out in [&image, &again] {
        let output = bake(&["--manifest", manifest, "-o", out.to_str().unwrap()]);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
    // Reproducible: the same inputs give the same bytes.
    let bytes = std::fs::read(&image).unwrap();
    assert_eq!(bytes, std::fs::read(&again).unwrap(), "two bakes differ");

    // inspect lists every part.
    let inspected = kiln().arg("inspect").arg(&image).output().unwrap();
    assert!(inspected.status.success(), "{}", text(&inspected.stderr));
    let listing = text(&inspected.stdout);
    let hello_size = std::fs::metadata(project.0.join("hello")).unwrap().len();
    assert!(
        listing.starts_with(&format!("kiln {} image\n", env!("CARGO_PKG_VERSION"))),
        "{listing}"
    );
    for want in [
        "native programs (20):".to_string(),
        "memstat hog fw".to_string(),
        "ELF programs (1):".to_string(),
        format!("{hello_size} bytes  entry 0x"),
        "files (1):".to_string(),
        "motd.txt".to_string(),
        "  | WHO=operator hello one \"two words\"".to_string(),
    ] {
        assert!(listing.contains(&want), "no {want:?} in:\n{listing}");
    }

    // Booted by QEMU alone, with exactly the README's line.
    let mut words = readme_qemu_line(&image).into_iter();
    let _qemu = words.next();
    let mut command = Command::new(kiln_tests::qemu_path());
    command.args(words);
    let child = kiln::child::die_with_parent(&mut command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("QEMU starts");
    let mut vm = Vm::attach(child);
    vm.expect("example: up\r\n");
    vm.expect("hello from C: [one] [two words]\r\nmotd: baked by kiln bake\r\n");
    vm.expect("example: hello said 0\r\n");
    vm.expect("hello from C: [alone]\r\n");
    vm.expect("example: without WHO, hello said 3\r\n");
    vm.expect("LINE 1\r\nLINE 2\r\n");
    vm.expect(PROMPT);
    let programs = vm.run("programs");
    assert!(
        programs
            .lines()
            .any(|l| l.starts_with("hello ") && l.contains("(ELF)")),
        "{programs}"
    );
    assert!(programs.lines().any(|l| l.starts_with("fw ")), "{programs}");
    assert!(
        vm.run("ls").contains("motd.txt"),
        "the baked file is listed"
    );
    assert!(
        !vm.transcript().contains("no RDRAND"),
        "the README's line gives RDRAND"
    );
    vm.kill();
}

#[test]
fn bake_time_errors_name_what_and_where_and_exit_2() {
    let project = example_project("errors");
    let dir = &project.0;
    let out = dir.join("x.img");
    let out = out.to_str().unwrap();
    let manifest = dir.join("Kiln.toml");
    let manifest = manifest.to_str().unwrap();
    let hello = dir.join("hello");
    std::fs::write(dir.join("bad.toml"), "rc = \"rc\"\n[programs]\nhello = 3\n").unwrap();
    std::fs::write(dir.join("bad.rc"), "echo up\nhello\nnosuch 1\n").unwrap();
    let bad_toml = dir.join("bad.toml");
    let bad_rc = dir.join("bad.rc");
    let hello_flag = format!("hello={}", hello.display());
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["--manifest".into(), manifest.into(), "--program".into(), hello_flag.clone()],
            format!(
                "kiln bake: two programs named 'hello': {manifest} [programs] hello and --program {hello_flag}\n"
            ),
        ),
        (
            vec!["--program".into(), "fw=/bin/true".into()],
            "kiln bake: two programs named 'fw': kiln's own program or built-in and --program fw=/bin/true\n".into(),
        ),
        (
            vec!["--program".into(), "t=/bin/true".into()],
            "kiln bake: --program t=/bin/true: '/bin/true' is dynamically linked (it names a loader, PT_INTERP): kiln runs static executables; link with -static or -static-pie\n".into(),
        ),
        (
            vec!["--file".into(), "data=/no/such/file".into()],
            "kiln bake: --file data=/no/such/file: cannot read '/no/such/file': No such file or directory (os error 2)\n".into(),
        ),
        (
            vec!["--manifest".into(), bad_toml.display().to_string()],
            format!(
                "kiln bake: {}:3:9: invalid type: integer `3`, expected a string\n",
                bad_toml.display()
            ),
        ),
        (
            vec![
                "--program".into(),
                hello_flag.clone(),
                "--rc".into(),
                bad_rc.display().to_string(),
            ],
            format!(
                "kiln bake: the rc script '{rc}' (--rc {rc}):\nrc:3:1: unknown program 'nosuch'",
                rc = bad_rc.display()
            ),
        ),
    ];
    for (args, want) in cases {
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.extend(["-o", out]);
        let output = bake(&all);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(&want),
            "{args:?}:\n{stderr}\nwanted:\n{want}"
        );
        assert!(!Path::new(out).exists(), "{args:?} wrote an image");
    }
}
