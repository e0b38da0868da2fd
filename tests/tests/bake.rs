//! `kiln bake`, `kiln inspect` and the baked image booted by plain QEMU: the example
//! project in `examples/bake/`, as a user would bake it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use kiln_tests::{PROMPT, Vm, ensure_tool};

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The `kiln` binary.
fn kiln() -> Command {
    let path = kiln::image::build_launcher().unwrap_or_else(|e| panic!("{e}"));
    let mut command = Command::new(path);
    command.env("CARGO", env!("CARGO"));
    command
}

/// The `kiln` binary with a PATH that has no cargo or rustc: a packaging-only bake
/// does on its own what it does.
fn kiln_without_a_toolchain() -> Command {
    let mut command = kiln();
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

/// Copies the files of `from` into `to`, folders too.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a folder");
    for entry in std::fs::read_dir(from).expect("a folder to copy") {
        let entry = entry.expect("an entry");
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy");
        }
    }
}

/// A copy of `examples/bake` outside kiln's tree, as a user's project would be: its
/// crate depends on kiln's program API by an absolute path, and its C program is built
/// there (musl-gcc), as the README's walk-through does.
fn example_project(name: &str) -> TempDir {
    let dir = TempDir::new(name);
    copy_tree(&repo().join("examples/bake"), &dir.0);
    let _ = std::fs::remove_dir_all(dir.0.join("greet/target"));
    let crate_manifest = dir.0.join("greet/Cargo.toml");
    let text = std::fs::read_to_string(&crate_manifest).unwrap();
    let init = repo().join("init").canonicalize().unwrap();
    let text = text.replace(
        "\"../../../init\"",
        &format!("{:?}", init.display().to_string()),
    );
    std::fs::write(&crate_manifest, text).unwrap();
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
fn packaging_needs_no_toolchain_and_gives_the_same_bytes_each_time() {
    let project = example_project("packaging");
    let dir = &project.0;
    std::fs::write(dir.join("plain.rc"), "echo packaged\nhello x\nshell\n").unwrap();
    let mut images = Vec::new();
    for out in ["one.img", "two.img"] {
        let out = dir.join(out);
        let output = kiln_without_a_toolchain()
            .arg("bake")
            .arg("--program")
            .arg(format!("hello={}", dir.join("hello").display()))
            .arg("--file")
            .arg(format!("motd.txt={}", dir.join("motd.txt").display()))
            .arg("--rc")
            .arg(dir.join("plain.rc"))
            .arg("-o")
            .arg(&out)
            .output()
            .expect("kiln bake runs");
        assert!(output.status.success(), "{}", text(&output.stderr));
        images.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(images[0], images[1], "two bakes of the same inputs differ");
    // Without cargo on the PATH a crate cannot be built, and bake says so.
    let output = kiln_without_a_toolchain()
        .args(["bake", "--crate"])
        .arg(dir.join("greet"))
        .arg("-o")
        .arg(dir.join("crate.img"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("kiln bake: --crate needs cargo"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn the_example_bakes_inspects_and_boots_with_the_plain_qemu_line() {
    let project = example_project("example");
    let manifest = project.0.join("Kiln.toml");
    let manifest = manifest.to_str().unwrap();
    let image = project.0.join("example.img");
    let again = project.0.join("again.img");
    for out in [&image, &again] {
        let output = bake(&["--manifest", manifest, "-o", out.to_str().unwrap()]);
        assert!(output.status.success(), "{}", text(&output.stderr));
    }
    let bytes = std::fs::read(&image).unwrap();
    assert_eq!(bytes, std::fs::read(&again).unwrap(), "two bakes differ");
    // A crate's program clashes with an ELF program of the same name: both named.
    let clash = bake(&[
        "--manifest",
        manifest,
        "--program",
        &format!("greet={}", project.0.join("hello").display()),
        "-o",
        project.0.join("clash.img").to_str().unwrap(),
    ]);
    assert_eq!(clash.status.code(), Some(2));
    assert_eq!(
        text(&clash.stderr),
        format!(
            "kiln bake: two programs named 'greet': {manifest} crates \"greet\" and --program greet={}\n",
            project.0.join("hello").display()
        )
    );

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
        "native programs (21):".to_string(),
        "memstat hog fw".to_string(),
        " fetch greet\n".to_string(),
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
    vm.expect("greetings, operator (native)\r\ngreetings, the team (native)\r\n");
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
        programs.lines().any(|l| l.starts_with("greet ")),
        "{programs}"
    );
    assert!(
        vm.run("ls").contains("motd.txt"),
        "the baked file is listed"
    );
    assert!(
        !vm.transcript().contains("no RDRAND"),
        "the README's line gives RDRAND"
    );
    vm.kill();

    // `kiln run IMAGE` boots it with the launcher's flags, and exits with its status.
    let mut command = kiln();
    command
        .arg("run")
        .arg(&image)
        .args(["--accel", "tcg", "--mem", "96"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = kiln::child::die_with_parent(&mut command)
        .spawn()
        .expect("kiln run starts");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"greet run\npoweroff 5\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = text(&output.stdout);
    assert!(stdout.contains("greetings, run (native)"), "{stdout}");
    assert_eq!(output.status.code(), Some(5), "{stdout}");
    // What the image holds cannot be added again at boot.
    let refused = kiln()
        .arg("run")
        .arg(&image)
        .arg("--program")
        .arg(format!("hello={}", project.0.join("hello").display()))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused.stderr).contains("already holds a program named 'hello'"),
        "{}",
        text(&refused.stderr)
    );
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
