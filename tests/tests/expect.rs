//! The example expect scripts, run through the real `/usr/bin/expect` against the image
//! under TCG, as CI and users run them.
//!
//! - Every `*.exp` in `tests/expect/` must exit 0 (each checks its own outputs and the
//!   launcher's exit status).
//! - `tests/expect-negative/wrong_output.exp` expects output kiln does not print and
//!   must exit non-zero: a wrong expectation is caught, never passed.
//! - The same script run twice gives the same console bytes, with no escape sequences
//!   (no terminal queries, no redraws) when nothing runs in the background.
//!
//! The launcher is built once (`kiln::image::build_launcher`) and handed to the scripts
//! through `KILN_LAUNCH`. Scripts wait for the prompt, never sleep; each run has a
//! generous overall timeout, after which expect is killed (closing its pty hangs up
//! the launcher and QEMU). On failure the script's whole output is printed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A whole script's limit: each of its steps already times out after 60 s.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);
/// What the guest prints first; the console transcript is compared from here on.
const BANNER: &str = "kiln 0.1.0";

/// The examples and the negative check, beside this crate.
fn scripts_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// `expect`, installed with apt-get when root; otherwise a failure with the install
/// command (never a silent skip).
fn expect_binary() -> &'static Path {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND.get_or_init(|| kiln_tests::ensure_tool("expect", "expect"))
}

/// `KILN_LAUNCH` for the scripts: the prebuilt launcher under TCG, as a Tcl list.
fn launch_command() -> &'static str {
    static LAUNCH: OnceLock<String> = OnceLock::new();
    LAUNCH.get_or_init(|| {
        // Build the image first, so the launcher's own (quiet) build has nothing to do.
        kiln_tests::image_path();
        kiln_tests::qemu_path();
        let launcher = kiln::image::build_launcher().unwrap_or_else(|e| panic!("{e}"));
        format!("{{{}}} --accel tcg", launcher.display())
    })
}

/// What one run of a script gave.
struct Run {
    script: PathBuf,
    /// expect's exit code; `None` if it was killed (timeout) or died of a signal.
    code: Option<i32>,
    /// expect's stdout and stderr: the console as the script saw it, and its verdict.
    output: String,
}

impl Run {
    fn report(&self, why: &str) -> String {
        format!(
            "{}: {why} (exit {:?})\n----- expect output -----\n{}\n----- end -----",
            self.script.display(),
            self.code,
            self.output
        )
    }

    /// The guest's console, from its banner on.
    fn console(&self) -> &str {
        let start = self.output.find(BANNER).unwrap_or_else(|| {
            panic!("{}", self.report("no banner"));
        });
        &self.output[start..]
    }
}

/// Runs `script` through expect with the prebuilt launcher.
fn run_script(script: &Path) -> Run {
    // A killed test process takes expect with it, and so the launcher and QEMU.
    let mut child = kiln::child::die_with_parent(&mut Command::new(expect_binary()))
        .arg(script)
        .env("KILN_LAUNCH", launch_command())
        // Each script's own rc (tests/expect/shell.rc), whatever the caller's environment.
        .env_remove("KILN_RC")
        .env("CARGO", env!("CARGO"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start expect: {e}"));
    let readers: Vec<_> = [
        Box::new(child.stdout.take().expect("piped")) as Box<dyn Read + Send>,
        Box::new(child.stderr.take().expect("piped")),
    ]
    .into_iter()
    .map(|mut stream| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stream.read_to_end(&mut bytes);
            bytes
        })
    })
    .collect();
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for expect") {
            break status;
        }
        if Instant::now() > deadline {
            // Closing expect's pty hangs up the launcher and QEMU behind it.
            let _ = child.kill();
            timed_out = true;
            break child.wait().expect("wait for expect");
        }
        // Polling the child for its exit, not synchronising with the guest.
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut output = String::new();
    for reader in readers {
        output.push_str(&String::from_utf8_lossy(&reader.join().unwrap_or_default()));
    }
    if timed_out {
        output.push_str(&format!("\n[killed after {SCRIPT_TIMEOUT:?}]"));
    }
    Run {
        script: script.to_path_buf(),
        code: status.code(),
        output,
    }
}

/// The `*.exp` files in `dir`, sorted.
fn scripts_in(dir: &Path) -> Vec<PathBuf> {
    let mut scripts: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "exp"))
        .collect();
    scripts.sort();
    scripts
}

#[test]
fn every_example_script_passes() {
    let scripts = scripts_in(&scripts_dir("expect"));
    assert!(
        scripts.len() >= 5,
        "tests/expect/ holds too few scripts: {scripts:?}"
    );
    let failures: Vec<String> = scripts
        .iter()
        .map(|script| run_script(script))
        .filter(|run| run.code != Some(0))
        .map(|run| run.report("failed"))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_script_expecting_wrong_output_fails() {
    let run = run_script(&scripts_dir("expect-negative").join("wrong_output.exp"));
    // It failed, and for the right reason: the real output came, the wrong one did not.
    assert!(
        matches!(run.code, Some(code) if code != 0),
        "{}",
        run.report("a wrong expectation passed")
    );
    assert!(
        run.output.contains("[two]") && run.output.contains("FAIL: timed out waiting for"),
        "{}",
        run.report("failed, but not on the wrong output")
    );
}

#[test]
fn the_same_script_gives_the_same_bytes() {
    let script = scripts_dir("expect").join("fw.exp");
    let first = run_script(&script);
    let second = run_script(&script);
    for run in [&first, &second] {
        assert_eq!(run.code, Some(0), "{}", run.report("failed"));
        assert!(
            !run.console().contains('\x1b'),
            "{}",
            run.report("escape sequences (terminal queries or redraws) on a plain session")
        );
    }
    assert_eq!(
        first.console(),
        second.console(),
        "two runs of {} printed different bytes",
        script.display()
    );
}
