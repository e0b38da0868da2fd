//! An operator session on one console: prompt, line editing, running lines with the
//! rc interpreter, built-ins, Ctrl-C for the foreground job.
//!
//! A [`Session`] owns one console: its writer (shared with the jobs through
//! [`SessionConsole`], see [`crate::console`]) and its reader (owned by the input pump
//! thread, see [`crate::input`]). [`Session::run`] loops:
//!
//! 1. print the prompt (`PS1` if set, else [`DEFAULT_PROMPT`]) and feed input bytes to
//!    the [`Editor`](crate::editor::Editor) until it reports an event;
//! 2. a line is parsed and run by `interp.run_text("shell", ...)` with the shell's
//!    built-ins as hooks, while Ctrl-C cancels the foreground job (the pump calls the
//!    interpreter's [`Interrupt`](kiln_init::exec::Interrupt)); a parse error is printed
//!    rendered with its caret; with `set -o status`, `[status N]` follows;
//! 3. `poweroff`/`halt`/`reboot` return [`Flow::Power`]; the end of the input returns
//!    [`Flow::Normal`] with `$?`. Ctrl-D on an empty line only prints a line end.
//!
//! Jobs a line started and that ended during it are dropped from the job table when
//! the line is done (their status went to `$?`); background jobs stay until `jobs`
//! has reported their end.
//!
//! Wiring (board): make one session per console for the life of the image, build the
//! interpreter on its console, and run rc through it so that Ctrl-C works there too and
//! rc's `shell` opens this session:
//!
//! ```ignore
//! let mut session = Session::new(platform, Serial, Serial, Config::default())?;
//! let mut interp = session.interpreter(PROGRAMS, FILES);
//! let flow = match session.run_script(&mut interp, "rc", &rc_text) {
//!     Ok(flow) => flow,
//!     Err(error) => {
//!         session.print(&format!("{}\n", error.render(&rc_text)));
//!         session.run(&mut interp)
//!     }
//! };
//! ```

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use embedded_io::{Read, Write};
use kiln_init::exec::{Flow, Hooks, Interpreter};
use kiln_init::jobs::{JobId, JobState};
use kiln_init::platform::{Platform, SpawnError, Status};
use kiln_init::program::{BakedFile, Program};
use kiln_init::rc;

use crate::builtins::{self, Builtins};
use crate::complete::ShellCompleter;
use crate::console::{CRLF, Screen, SessionConsole};
use crate::editor::{Config, Event};
use crate::input::{self, InputState};

/// The prompt when `PS1` is not set.
pub const DEFAULT_PROMPT: &str = "kiln> ";
/// The shell variable that holds the prompt.
pub const PROMPT_VAR: &str = "PS1";
/// The prompt of a line that continues an unfinished command (sh's `PS2`).
pub const CONTINUATION_PROMPT: &str = "> ";
/// A command continued over several lines holds at most this many bytes.
const MAX_CONTINUED_BYTES: usize = 16 * 1024;
/// The source name of typed lines in error messages (`shell:1:5: ...`).
pub const SOURCE_NAME: &str = "shell";

/// The shell's modes that `set -o` / `set +o` change (besides `echo`, the editor's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Print `[status N]` after every command.
    pub status: bool,
    /// Ctrl-D on an empty line does not leave the shell (`set -o ignoreeof`).
    pub ignore_eof: bool,
}

/// An operator session on one console; see the [module docs](self).
pub struct Session<W> {
    platform: &'static dyn Platform,
    screen: Arc<kiln_init::sync::Mutex<Screen<W>>>,
    input: Arc<InputState>,
    console: Arc<SessionConsole<W>>,
    options: Options,
    /// The highest job id seen when the last line ended: newer jobs were started since.
    seen_jobs: JobId,
    /// `set -o status`: the status to print before the next prompt.
    status_to_show: Option<Status>,
    /// The first prompt was shown (and reported to the platform).
    prompted: bool,
    /// The lines typed so far of a command that is not complete yet (an open quote,
    /// `if` without `fi`, a trailing `|` or `&&`): the next line continues it.
    pending: Option<String>,
}

impl<W: Write + Send + 'static> Session<W> {
    /// A session writing to `output` and reading `input` on its own pump thread, which
    /// starts now and lives as long as the image (it cannot be stopped while it blocks
    /// in `read`). `config` sets the editor up (echo off for a scripted console).
    pub fn new<R>(
        platform: &'static dyn Platform,
        input: R,
        output: W,
        config: Config,
    ) -> Result<Self, SpawnError>
    where
        R: Read + Send + 'static,
    {
        let screen = Arc::new(kiln_init::sync::Mutex::new(Screen::new(output, config)));
        let input_state = InputState::new(platform);
        input::spawn_pump(&input_state, input)?;
        Ok(Session {
            platform,
            console: Arc::new(SessionConsole::new(screen.clone())),
            screen,
            input: input_state,
            options: Options::default(),
            seen_jobs: 0,
            status_to_show: None,
            prompted: false,
            pending: None,
        })
    }

    /// The console jobs should write to: give it to [`Interpreter::new`].
    pub fn console(&self) -> Arc<SessionConsole<W>> {
        self.console.clone()
    }

    /// An interpreter whose jobs write to this session's console.
    pub fn interpreter(
        &self,
        programs: &'static [Program],
        files: &'static [BakedFile],
    ) -> Interpreter {
        Interpreter::new(self.platform, programs, files, self.console.clone())
    }

    /// Prints text on the console (`\n` becomes `\r\n`).
    pub fn print(&self, text: &str) {
        self.screen.lock().text(text.as_bytes());
    }

    /// The current modes.
    pub fn options(&self) -> Options {
        self.options
    }

    /// How many typed-ahead bytes were dropped because the input queue was full.
    pub fn dropped_input(&self) -> u64 {
        self.input.dropped()
    }

    /// Runs rc text (a script) with Ctrl-C cancelling its foreground jobs, and with
    /// rc's `shell` opening this session. A parse error is returned, not printed.
    pub fn run_script(
        &mut self,
        interp: &mut Interpreter,
        source_name: &str,
        text: &str,
    ) -> Result<Flow, rc::Error> {
        self.input.clear_interrupted();
        let handle = interp.interrupt_handle();
        handle.clear();
        let outer = self.input.set_foreground(Some(handle.clone()));
        let result = interp.run_text(source_name, text, self);
        self.input.set_foreground(outer);
        handle.clear();
        result
    }

    /// Runs the session until `poweroff`/`halt`/`reboot` ([`Flow::Power`]) or the end
    /// of the input ([`Flow::Normal`] with `$?`).
    pub fn run(&mut self, interp: &mut Interpreter) -> Flow {
        // While a line is edited Ctrl-C is the editor's; an enclosing rc run gets its
        // handle back when the session ends.
        let outer = self.input.set_foreground(None);
        self.seen_jobs = newest_job(interp).max(self.seen_jobs);
        let completer = ShellCompleter::new(interp, builtins::NAMES);
        let flow = loop {
            self.announce_finished_jobs(interp);
            // `set -o status`: the last line's status, just before the prompt.
            if let Some(status) = self.status_to_show.take() {
                self.print(&format!("[status {status}]\n"));
            }
            let prompt = if self.pending.is_some() {
                String::from(CONTINUATION_PROMPT)
            } else {
                interp.var(PROMPT_VAR).unwrap_or(DEFAULT_PROMPT).to_owned()
            };
            if !self.prompted {
                self.prompted = true;
                self.platform.boot_phase("prompt");
            }
            self.screen.lock().begin_line(&prompt);
            let event = loop {
                let Some(byte) = self.input.next_byte() else {
                    self.screen.lock().end_line();
                    break None;
                };
                let event = self.screen.lock().feed(byte, &completer);
                if event != Event::None {
                    break Some(event);
                }
            };
            let Some(event) = event else {
                break Flow::Normal(interp.last_status());
            };
            match event {
                Event::Line(line) => {
                    if let Some(flow) = self.run_line(interp, &line) {
                        break flow;
                    }
                }
                Event::TooLong { max } => {
                    self.print(&format!(
                        "kiln: line too long (max {max} bytes), discarded\n"
                    ));
                }
                // Ctrl-D in the middle of a command: as sh, the command is an error.
                Event::Eof if self.pending.is_some() => {
                    let text = self.pending.take().unwrap_or_default();
                    self.screen.lock().raw(CRLF);
                    // It did not parse before, so it only needs the error.
                    if let Err(error) = rc::parse(SOURCE_NAME, &text, &rc::AnyName) {
                        self.print(&format!("{}\n", error.render(&text)));
                        interp.set_last_status(error.kind.status());
                    }
                }
                // Ctrl-D on an empty line leaves the shell, as in sh.
                Event::Eof if self.options.ignore_eof => {
                    self.print("kiln: use 'exit' to leave the shell (set +o ignoreeof)\n");
                }
                Event::Eof => {
                    self.screen.lock().raw(CRLF);
                    break Flow::Exit(interp.last_status());
                }
                // The editor discarded the line and echoed ^C (and with it any
                // unfinished command).
                Event::Interrupt => self.pending = None,
                Event::None => {}
            }
        };
        if !matches!(flow, Flow::Power(_)) {
            self.end_stopped_jobs(interp);
        }
        self.input.set_foreground(outer);
        flow
    }

    /// The shell is leaving: its stopped jobs could never be continued, so they are
    /// cancelled (as a hangup ends a stopped process group's jobs).
    fn end_stopped_jobs(&self, interp: &Interpreter) {
        for job in interp.jobs().numbered() {
            if job.state() == JobState::Stopped {
                for stage in &job.stages {
                    stage.terminate();
                }
                self.print(&format!(
                    "[{}] stopping {} (stopped, and its shell ended)\n",
                    job.number,
                    job.command()
                ));
            }
        }
    }

    /// Runs one typed line; `Some` if the session should end.
    fn run_line(&mut self, interp: &mut Interpreter, line: &str) -> Option<Flow> {
        let text = match self.pending.take() {
            Some(mut earlier) => {
                earlier.push('\n');
                earlier.push_str(line);
                earlier
            }
            None if line.trim().is_empty() => return None,
            None => String::from(line),
        };
        let line = text.as_str();
        self.input.clear_interrupted();
        let handle = interp.interrupt_handle();
        handle.clear();
        self.input.set_foreground(Some(handle.clone()));
        if self.input.take_typed_ahead_interrupt() {
            // Ctrl-C typed right after Enter, before the command started: it stops it.
            handle.cancel_foreground();
        }
        if self.input.take_typed_ahead_suspend() {
            // Likewise a Ctrl-Z: it stops the line's pipeline as it starts.
            handle.suspend_foreground();
        }
        let result = interp.run_typed_line(SOURCE_NAME, line, &mut Builtins { session: self });
        self.input.set_foreground(None);
        let interrupted = handle.is_requested();
        // A Ctrl-C that came as the line ended must not stop the next one.
        handle.clear();
        self.forget_foreground_jobs(interp);
        let status = match result {
            Ok(Flow::Normal(status)) => status,
            Ok(Flow::Power(action)) => return Some(Flow::Power(action)),
            Ok(Flow::Exit(status)) => return Some(Flow::Exit(status)),
            // A Ctrl-C typed right after it drops the unfinished command.
            Err(error) if error.kind.is_incomplete() && interrupted => {
                let _ = error;
                self.print("^C\n");
                return None;
            }
            Err(error) if error.kind.is_incomplete() && line.len() < MAX_CONTINUED_BYTES => {
                // Nothing ran: the next line continues the command.
                self.pending = Some(String::from(line));
                return None;
            }
            Err(error) => {
                self.print(&format!("{}\n", error.render(line)));
                let status = error.kind.status();
                interp.set_last_status(status);
                status
            }
        };
        self.status_to_show = self.options.status.then_some(status);
        None
    }

    /// Before a prompt, as sh does: says which background jobs have ended since the
    /// last one, and forgets them (so the job table holds only what still runs).
    fn announce_finished_jobs(&mut self, interp: &Interpreter) {
        let table = interp.jobs();
        let mut text = String::new();
        for job in table.finished_numbered() {
            text.push_str(&builtins::job_line(&job));
            table.release(job.number);
        }
        // A job without a number that ended after its line (a Ctrl-C'd one finishing
        // its grace period) goes silently, as in sh.
        table.forget_finished_unnumbered();
        if !text.is_empty() {
            self.print(&text);
        }
    }

    /// Drops the foreground jobs the last line started that have already ended (their
    /// status went to `$?`). A background job that ended as fast is announced instead.
    pub(crate) fn forget_foreground_jobs(&mut self, interp: &Interpreter) {
        let table = interp.jobs();
        for job in table.jobs() {
            if job.id() > self.seen_jobs && job.state().is_finished() && !job.is_background() {
                table.forget(job.id());
            }
        }
        self.seen_jobs = newest_job(interp).max(self.seen_jobs);
    }

    // ---- for the built-ins ----------------------------------------------------------

    pub(crate) fn input(&self) -> Arc<InputState> {
        self.input.clone()
    }

    pub(crate) fn raw(&self, bytes: &[u8]) {
        self.screen.lock().raw(bytes);
    }

    /// The history, oldest first.
    pub(crate) fn history(&self) -> Vec<String> {
        let screen = self.screen.lock();
        screen.editor.history().iter().map(String::from).collect()
    }

    pub(crate) fn set_status_mode(&mut self, on: bool) {
        self.options.status = on;
    }

    pub(crate) fn set_ignore_eof(&mut self, on: bool) {
        self.options.ignore_eof = on;
    }

    pub(crate) fn set_echo(&mut self, on: bool) {
        self.screen.lock().editor.set_echo(on);
    }

    /// The width the editor wraps at.
    pub(crate) fn columns(&self) -> usize {
        self.screen.lock().editor.config().columns
    }

    pub(crate) fn set_columns(&mut self, columns: usize) {
        self.screen.lock().editor.set_columns(columns);
    }

    pub(crate) fn set_history(&mut self, on: bool) {
        self.screen.lock().editor.set_history(on);
    }

    /// `set -o`'s listing of the options.
    pub(crate) fn describe_options(&self) -> String {
        let (echo, history) = {
            let screen = self.screen.lock();
            (screen.editor.config().echo, screen.editor.records_history())
        };
        let word = |on: bool| if on { "on" } else { "off" };
        format!(
            "status {}\necho {}\nhistory {}\nignoreeof {}\n",
            word(self.options.status),
            word(echo),
            word(history),
            word(self.options.ignore_eof)
        )
    }
}

/// rc's `shell` word opens this session (see [`Session::run_script`]).
impl<W: Write + Send + 'static> Hooks for Session<W> {
    fn shell(&mut self, interp: &mut Interpreter) -> Flow {
        self.run(interp)
    }
}

/// The highest job id in `interp`'s table (0 for none).
fn newest_job(interp: &Interpreter) -> JobId {
    interp
        .jobs()
        .jobs()
        .iter()
        .map(|j| j.id())
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
