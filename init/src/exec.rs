//! The rc interpreter: walks a parsed [`Script`] and runs it with job control.
//!
//! What each construct does (docs/ARCHITECTURE.md, "The rc language"):
//! - `a; b` in order; `a &` as a background job (status 0, or that of a stage that could
//!   not start); `a | b` as one job per stage
//!   joined by [`pipe`]s, status of the last; `a && b`, `a || b`, `if` branch on status.
//! - `{ list; }` runs here, in this interpreter; in the background or as a pipeline stage
//!   it runs on its own platform thread, in a subshell (a copy of the variables, its own
//!   job table) — as are `if` and built-ins in those places.
//! - `NAME=v prog` gives `prog` that env entry; `export`/`unset` change shell variables,
//!   exported ones go into every job's env; a bare `NAME=v` sets a shell variable.
//! - Words expand `$NAME`, `${NAME}`, `$?` and are never split again: an unset or empty
//!   variable still gives one (empty) argument.
//! - `wait`, `start`, `respawn`, `timeout`, `source`, `shell`, `poweroff`/`halt`/`reboot`
//!   as the AST's [`Builtin`] docs say; power built-ins end the run with [`Flow::Power`]
//!   (in a background subshell they call `platform.power` directly).
//!
//! Run-time errors print `rc: <message>` on the console and give the command a status
//! ([`Error::status`], 127 for "not found"); the script goes on.
//!
//! Foreground cancellation (Ctrl-C): [`Interpreter::interrupt_handle`] returns an
//! [`Interrupt`] that another thread may trigger with [`Interrupt::cancel_foreground`].
//! It cancels the foreground jobs (cooperatively), wakes the interpreter's thread, and
//! the current [`Interpreter::run`] stops where it is and returns `Flow::Normal(130)`;
//! the cancelled jobs wind down on their own (they stay in the job table). During `wait`
//! only the wait stops: background jobs are not the foreground and keep running. A request
//! is forgotten when the run it stopped returns, and when an outermost run starts.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use crate::jobs::pipe::pipe;
use crate::jobs::{
    DEFAULT_RESPAWN_DELAY, Error, Job, JobTable, KILL_GRACE, PipeEnd, ProgramRun, RespawnPolicy,
    Result, Stdio, Task, WaitFor, WaitOutcome, program_task, respawn_task,
};
use crate::platform::{Console, Platform, PowerAction, SpawnError, Status, ThreadId};
use crate::program::{BakedFile, Input, JobLink, Output, Program};
use crate::rc;
use crate::rc::ast::{
    AndOr, Assignment, Builtin, Command, Connector, IfCommand, Item, List, Pipeline, Script,
    SimpleCommand, Word, WordPart,
};

/// How deep `source` may nest (a file sourcing itself stops here).
pub const MAX_SOURCE_DEPTH: usize = 16;
/// The status of a run stopped by [`Interrupt::cancel_foreground`] (128 + SIGINT).
pub const INTERRUPTED_STATUS: Status = 130;
/// The status of a foreground command stopped by Ctrl-Z (128 + SIGTSTP, as sh's `$?`).
pub const SUSPENDED_STATUS: Status = 148;
/// The status of `timeout` and `start --timeout` when time ran out (as coreutils).
pub const TIMED_OUT_STATUS: Status = 124;
/// The status of a command that names no program, job or file (as sh: "not found").
pub const NOT_FOUND_STATUS: Status = 127;
/// The status of a command that was found but could not start (as sh: "cannot run").
pub const CANNOT_RUN_STATUS: Status = 126;
/// The status of a line or script that does not parse (as sh's syntax errors).
pub const SYNTAX_ERROR_STATUS: Status = 2;
/// What run-time errors start with in scripts, and in lines typed at the shell.
const SCRIPT_REPORTER: &str = "rc";
const SHELL_REPORTER: &str = "shell";

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// The script ran to its end (or was interrupted) with this status.
    Normal(Status),
    /// `poweroff`, `halt` or `reboot`: the caller should do this.
    Power(PowerAction),
    /// `exit`: the script (or the shell's line) ended here with this status; a shell
    /// that runs it ends.
    Exit(Status),
}

/// Why a run stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Power(PowerAction),
    Exit(Status),
    Interrupted,
}

/// Whether the jobs waited for are the foreground (Ctrl-C cancels them) or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Foreground,
    Background,
}

/// A command's status, or the reason the whole run stops.
type Step = core::result::Result<Status, Stop>;

/// What the interpreter's caller (init, the shell) adds.
pub trait Hooks {
    /// The `shell` built-in: run an interactive shell here, on the console.
    fn shell(&mut self, interp: &mut Interpreter) -> Flow {
        Flow::Normal(interp.report(&Error::NoShell))
    }

    /// The caller's own built-ins (e.g. the shell's `jobs`, `kill`): `Some(status)` if
    /// `argv[0]` is one and it ran, `None` to run a program of that name.
    fn builtin(&mut self, interp: &mut Interpreter, argv: &[String]) -> Option<Status> {
        let _ = (interp, argv);
        None
    }

    /// The names [`Hooks::builtin`] answers to (for the parser's name check).
    fn builtin_names(&self) -> &[&'static str] {
        &[]
    }
}

/// Hooks that add nothing: no shell, no extra built-ins.
pub struct NoHooks;

impl Hooks for NoHooks {}

/// Cancels an interpreter's foreground work from another thread (Ctrl-C).
pub struct Interrupt {
    platform: &'static dyn Platform,
    requested: AtomicBool,
    /// Ctrl-Z stopped the foreground jobs; the wait for them gives up.
    suspended: AtomicBool,
    /// Ctrl-Z came before the line's pipeline was waited for: it stops that one.
    suspend_pending: AtomicBool,
    /// The foreground may be stopped: a pipeline or an `fg` job (not `timeout`,
    /// `start`: their clocks would run on).
    suspendable: AtomicBool,
    /// The thread inside `run`, to wake.
    runner: crate::sync::Mutex<Option<ThreadId>>,
    /// The jobs the interpreter is waiting for in the foreground.
    foreground: crate::sync::Mutex<Vec<Arc<Job>>>,
}

impl Interrupt {
    fn new(platform: &'static dyn Platform) -> Arc<Self> {
        Arc::new(Interrupt {
            platform,
            requested: AtomicBool::new(false),
            suspended: AtomicBool::new(false),
            suspend_pending: AtomicBool::new(false),
            suspendable: AtomicBool::new(false),
            runner: crate::sync::Mutex::new(None),
            foreground: crate::sync::Mutex::new(Vec::new()),
        })
    }

    /// Ctrl-C: stops the foreground jobs ([`Job::terminate`]: a program that ignores it
    /// is ended after [`KILL_GRACE`]) and the current run (it returns 130).
    pub fn cancel_foreground(&self) {
        self.requested.store(true, Ordering::SeqCst);
        let jobs = self.foreground.lock().clone();
        for job in jobs {
            job.interrupt();
        }
        if let Some(thread) = *self.runner.lock() {
            self.platform.unpark(thread);
        }
    }

    /// Ctrl-Z: stops the foreground jobs ([`Job::suspend`]) and ends the wait for them:
    /// they stay in the job table, numbered, for `fg`, `bg` and `kill`. When nothing
    /// that can stop is waited for yet (the line is starting), the next pipeline of the
    /// line stops as it starts; [`Interrupt::clear`] forgets that. Returns true if jobs
    /// stopped now.
    pub fn suspend_foreground(&self) -> bool {
        let jobs = {
            // Under the list's lock: `set_foreground` changes both together.
            let foreground = self.foreground.lock();
            if !self.suspendable.load(Ordering::SeqCst) {
                self.suspend_pending.store(true, Ordering::SeqCst);
                return false;
            }
            foreground.clone()
        };
        self.stop_jobs(jobs)
    }

    fn stop_jobs(&self, jobs: Vec<Arc<Job>>) -> bool {
        let mut stopped = false;
        for job in jobs {
            stopped |= job.suspend();
        }
        if stopped {
            self.suspended.store(true, Ordering::SeqCst);
            if let Some(thread) = *self.runner.lock() {
                self.platform.unpark(thread);
            }
        }
        stopped
    }

    /// True (once) if Ctrl-Z stopped the foreground since the last call.
    pub fn take_suspended(&self) -> bool {
        self.suspended.swap(false, Ordering::SeqCst)
    }

    /// True while a Ctrl-Z is pending (the foreground wait should give up).
    pub fn is_suspended(&self) -> bool {
        self.suspended.load(Ordering::SeqCst)
    }

    /// Registers the jobs `fg` waits for, as the foreground Ctrl-C and Ctrl-Z act on;
    /// the waiting thread is `runner` (to wake).
    pub fn watch(&self, jobs: &[Arc<Job>], runner: ThreadId) {
        *self.runner.lock() = Some(runner);
        self.set_foreground(jobs, true);
    }

    /// Ends [`Interrupt::watch`].
    pub fn unwatch(&self) {
        self.clear_foreground();
    }

    /// Forgets a pending cancel or stop.
    pub fn clear(&self) {
        self.requested.store(false, Ordering::SeqCst);
        self.suspend_pending.store(false, Ordering::SeqCst);
    }

    /// True while a cancel is pending.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Registers the jobs being waited for; cancels them at once if a cancel is pending.
    fn set_foreground(&self, jobs: &[Arc<Job>], suspendable: bool) {
        let stop_now = {
            let mut foreground = self.foreground.lock();
            *foreground = jobs.to_vec();
            // A Ctrl-Z that came too late for the last jobs is not for these.
            self.suspended.store(false, Ordering::SeqCst);
            self.suspendable.store(suspendable, Ordering::SeqCst);
            suspendable && self.suspend_pending.swap(false, Ordering::SeqCst)
        };
        if stop_now {
            self.stop_jobs(jobs.to_vec());
        }
        if self.is_requested() {
            for job in jobs {
                job.interrupt();
            }
        }
    }

    fn clear_foreground(&self) {
        let mut foreground = self.foreground.lock();
        self.suspendable.store(false, Ordering::SeqCst);
        // Free the list, not just empty it: after `wait` for a storm of jobs it is
        // large, and kept it would split the heap.
        *foreground = Vec::new();
    }
}

/// A shell variable.
#[derive(Debug, Clone)]
struct Var {
    name: String,
    value: String,
    exported: bool,
}

/// The rc interpreter. See the module docs.
pub struct Interpreter {
    platform: &'static dyn Platform,
    programs: &'static [Program],
    files: &'static [BakedFile],
    console: Arc<dyn Console>,
    jobs: Arc<JobTable>,
    vars: Vec<Var>,
    last_status: Status,
    /// What jobs get as stdin/stdout/stderr unless piped.
    stdio: Stdio,
    interrupt: Arc<Interrupt>,
    /// The job this interpreter runs in, when it is a subshell on its own thread.
    subshell_of: Option<Arc<Job>>,
    source_depth: usize,
    /// Who reports run-time errors: `rc`, or `shell` while a typed line runs.
    reporter: &'static str,
    /// The number of the last job started in the background (`$!`).
    last_background: Option<crate::jobs::JobNumber>,
}

impl Interpreter {
    /// An interpreter whose jobs write to `console` and read nothing.
    pub fn new(
        platform: &'static dyn Platform,
        programs: &'static [Program],
        files: &'static [BakedFile],
        console: Arc<dyn Console>,
    ) -> Self {
        Interpreter {
            platform,
            programs,
            files,
            stdio: Stdio::console(console.clone()),
            console,
            jobs: Arc::new(JobTable::new(platform)),
            vars: Vec::new(),
            last_status: 0,
            interrupt: Interrupt::new(platform),
            subshell_of: None,
            source_depth: 0,
            reporter: SCRIPT_REPORTER,
            last_background: None,
        }
    }

    /// Runs `script`; returns its status, or the power action it asked for.
    pub fn run(&mut self, script: &Script, hooks: &mut dyn Hooks) -> Flow {
        let previous_runner = self
            .interrupt
            .runner
            .lock()
            .replace(self.platform.current_thread());
        // A request made before the run starts is kept: a Ctrl-C typed right after
        // Enter must stop the command it followed. Callers clear stale requests
        // (`Interrupt::clear`) before they start a new command.
        let _ = previous_runner.is_none();
        let step = self.run_list(&script.items, hooks);
        *self.interrupt.runner.lock() = previous_runner;
        match step {
            Ok(status) => Flow::Normal(status),
            Err(Stop::Power(action)) => Flow::Power(action),
            Err(Stop::Exit(status)) => {
                self.last_status = status;
                Flow::Exit(status)
            }
            Err(Stop::Interrupted) => {
                self.interrupt.clear();
                self.last_status = INTERRUPTED_STATUS;
                Flow::Normal(INTERRUPTED_STATUS)
            }
        }
    }

    /// Parses `text` (named `source_name` in errors) against [`Interpreter::names`] plus
    /// the hooks' built-ins, then runs it.
    pub fn run_text(
        &mut self,
        source_name: &str,
        text: &str,
        hooks: &mut dyn Hooks,
    ) -> core::result::Result<Flow, rc::error::Error> {
        let script = self.parse(source_name, text, hooks.builtin_names())?;
        Ok(self.run(&script, hooks))
    }

    /// Every name a command may start with: the programs and rc's built-ins.
    pub fn names(&self) -> Vec<&'static str> {
        self.programs
            .iter()
            .map(|p| p.name)
            .chain(rc::ast::BUILTIN_NAMES.iter().copied())
            .collect()
    }

    /// The status of the last command (`$?`).
    pub fn last_status(&self) -> Status {
        self.last_status
    }

    /// Sets `$?`: the shell does so for a line that was rejected before it ran.
    pub fn set_last_status(&mut self, status: Status) {
        self.last_status = status;
    }

    /// The job table (shared: listings and `kill` may use it from any thread).
    pub fn jobs(&self) -> &Arc<JobTable> {
        &self.jobs
    }

    /// The handle that cancels foreground work from another thread (Ctrl-C).
    pub fn interrupt_handle(&self) -> Arc<Interrupt> {
        self.interrupt.clone()
    }

    pub fn platform(&self) -> &'static dyn Platform {
        self.platform
    }

    pub fn programs(&self) -> &'static [Program] {
        self.programs
    }

    pub fn files(&self) -> &'static [BakedFile] {
        self.files
    }

    pub fn console(&self) -> &Arc<dyn Console> {
        &self.console
    }

    /// Waits for every job to end (new ones included), uninterruptibly; returns 0.
    pub fn wait_all(&mut self) -> Status {
        while let Some(job) = self.jobs.unfinished().into_iter().next() {
            job.join();
        }
        0
    }

    /// A shell variable's value.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.value.as_str())
    }

    /// Every shell variable in the order first set: name, value, exported (for `set`).
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.vars
            .iter()
            .map(|v| (v.name.as_str(), v.value.as_str(), v.exported))
    }

    /// Sets a shell variable, keeping whether it is exported.
    pub fn set_var(&mut self, name: &str, value: &str) {
        match self.vars.iter_mut().find(|v| v.name == name) {
            Some(var) => var.value = String::from(value),
            None => self.vars.push(Var {
                name: String::from(name),
                value: String::from(value),
                exported: false,
            }),
        }
    }

    /// Sets and exports a variable.
    pub fn export(&mut self, name: &str, value: &str) {
        self.set_var(name, value);
        if let Some(var) = self.vars.iter_mut().find(|v| v.name == name) {
            var.exported = true;
        }
    }

    /// Removes a variable.
    pub fn unset(&mut self, name: &str) {
        self.vars.retain(|v| v.name != name);
    }

    /// The exported variables, as every job's env starts.
    pub fn exported(&self) -> Vec<(String, String)> {
        self.vars
            .iter()
            .filter(|v| v.exported)
            .map(|v| (v.name.clone(), v.value.clone()))
            .collect()
    }

    /// Prints `rc: <error>` (`shell: ` for a typed line) on the console and returns the
    /// error's status. An unknown program gets a did-you-mean, as the parser gives one.
    pub fn report(&self, error: &Error) -> Status {
        let reporter = self.reporter;
        let text = match error {
            Error::NoSuchProgram(name) => {
                let names = self.names();
                match rc::suggest(name, &names.as_slice()) {
                    Some(close) => format!("{reporter}: {error} (did you mean '{close}'?)\n"),
                    None => format!("{reporter}: {error}\n"),
                }
            }
            _ => format!("{reporter}: {error}\n"),
        };
        self.console.write(text.as_bytes());
        error.status()
    }

    /// Runs a line typed at the shell, as sh does: a command that names no program is
    /// a run-time error (127, and the line goes on), not a reason to refuse the line;
    /// errors say `shell:`. Syntax errors still refuse the whole line, with the place.
    pub fn run_typed_line(
        &mut self,
        source_name: &str,
        text: &str,
        hooks: &mut dyn Hooks,
    ) -> core::result::Result<Flow, rc::error::Error> {
        let script = rc::parse(source_name, text, &rc::AnyName)?;
        let reporter = core::mem::replace(&mut self.reporter, SHELL_REPORTER);
        let flow = self.run(&script, hooks);
        self.reporter = reporter;
        Ok(flow)
    }

    // ---- parsing --------------------------------------------------------------------

    fn parse(
        &self,
        source_name: &str,
        text: &str,
        extra_names: &[&'static str],
    ) -> core::result::Result<Script, rc::error::Error> {
        let mut known = self.names();
        known.extend_from_slice(extra_names);
        rc::parse(source_name, text, &known)
    }

    // ---- walking the tree -----------------------------------------------------------

    fn stop_requested(&self) -> bool {
        self.interrupt.is_requested() || self.subshell_of.as_ref().is_some_and(|j| j.is_cancelled())
    }

    fn run_list(&mut self, items: &List, hooks: &mut dyn Hooks) -> Step {
        let mut status = self.last_status;
        for item in items {
            if self.stop_requested() {
                return Err(Stop::Interrupted);
            }
            status = self.run_item(item, hooks)?;
            self.last_status = status;
        }
        Ok(status)
    }

    fn run_item(&mut self, item: &Item, hooks: &mut dyn Hooks) -> Step {
        if !item.background {
            return self.run_and_or(&item.and_or, hooks);
        }
        let and_or = &item.and_or;
        if let Some(status) = self.refuse_background(|| command_name(&and_or.first.commands[0])) {
            return Ok(status);
        }
        if and_or.rest.is_empty() {
            // A stage that could not start makes `$?` its status (126, 127, 2): a
            // command that could not run is no success, in the background either.
            let stages = self.spawn_pipeline(&and_or.first, hooks.builtin_names());
            let started: Vec<Arc<Job>> = stages.iter().flatten().cloned().collect();
            for job in &started {
                job.set_background(true);
            }
            if !started.is_empty() {
                self.number_background(&started);
            }
            if let Some(Err(status)) = stages.iter().find(|stage| stage.is_err()) {
                return Ok(*status);
            }
        } else {
            let body = vec![Item {
                and_or: and_or.clone(),
                background: false,
            }];
            let name = command_name(&and_or.first.commands[0]);
            match self.spawn_subshell(&name, body, self.stdio.clone(), Vec::new()) {
                Ok(job) => {
                    job.set_background(true);
                    self.number_background(&[job]);
                }
                Err(error) => return Ok(self.report(&error)),
            }
        }
        Ok(0)
    }

    /// A background start that would leave too little memory for what the operator
    /// types next is refused, `&`, `start` and `respawn` alike: the report's status.
    fn refuse_background(&self, name: impl FnOnce() -> String) -> Option<Status> {
        if self.platform.room_for_background() {
            return None;
        }
        let error = Error::Spawn {
            name: name(),
            error: SpawnError::OutOfMemory,
        };
        Some(self.report(&error))
    }

    /// Gives a job started in the background its number (`$!`, `%N`); a shell prints it.
    fn number_background(&mut self, stages: &[Arc<Job>]) {
        let number = self.jobs.number(stages);
        self.last_background = Some(number);
        if self.reporter == SHELL_REPORTER {
            self.console.write(format!("[{number}]\n").as_bytes());
        }
    }

    fn run_and_or(&mut self, and_or: &AndOr, hooks: &mut dyn Hooks) -> Step {
        let mut status = self.run_pipeline(&and_or.first, hooks)?;
        for (connector, pipeline) in &and_or.rest {
            self.last_status = status;
            let run_next = match connector {
                Connector::And => status == 0,
                Connector::Or => status != 0,
            };
            if run_next {
                if self.stop_requested() {
                    return Err(Stop::Interrupted);
                }
                status = self.run_pipeline(pipeline, hooks)?;
            }
        }
        Ok(status)
    }

    fn run_pipeline(&mut self, pipeline: &Pipeline, hooks: &mut dyn Hooks) -> Step {
        if let [command] = pipeline.commands.as_slice() {
            return self.run_command(command, hooks);
        }
        let stages = self.spawn_pipeline(pipeline, hooks.builtin_names());
        let jobs: Vec<Arc<Job>> = stages.iter().filter_map(|s| s.clone().ok()).collect();
        let statuses = self.wait_jobs(&jobs, Role::Foreground)?;
        // The pipeline's status is its last stage's.
        Ok(match stages.last() {
            Some(Ok(_)) => statuses.last().copied().unwrap_or(0),
            Some(Err(status)) => *status,
            None => 0,
        })
    }

    fn run_command(&mut self, command: &Command, hooks: &mut dyn Hooks) -> Step {
        match command {
            Command::Simple(simple) => self.run_simple(simple, hooks),
            Command::Group { body, .. } => self.run_list(body, hooks),
            Command::If(if_command) => self.run_if(if_command, hooks),
            Command::Builtin(builtin) => self.run_builtin(builtin, hooks),
        }
    }

    fn run_if(&mut self, if_command: &IfCommand, hooks: &mut dyn Hooks) -> Step {
        for (condition, body) in &if_command.branches {
            let status = self.run_list(condition, hooks)?;
            self.last_status = status;
            if status == 0 {
                return self.run_list(body, hooks);
            }
        }
        match &if_command.otherwise {
            Some(body) => self.run_list(body, hooks),
            None => Ok(0),
        }
    }

    fn run_simple(&mut self, simple: &SimpleCommand, hooks: &mut dyn Hooks) -> Step {
        if simple.words.is_empty() {
            for assignment in &simple.assignments {
                let value = self.expand(&assignment.value);
                self.set_var(&assignment.name, &value);
            }
            return Ok(0);
        }
        let argv = self.expand_all(&simple.words);
        if let Some(status) = hooks.builtin(self, &argv) {
            return Ok(status);
        }
        let env = self.job_env(&simple.assignments);
        match self.spawn_program(argv, env, self.stdio.clone(), Vec::new()) {
            Ok(job) => Ok(self.wait_jobs(&[job], Role::Foreground)?[0]),
            Err(error) => Ok(self.report(&error)),
        }
    }

    fn run_builtin(&mut self, builtin: &Builtin, hooks: &mut dyn Hooks) -> Step {
        match builtin {
            Builtin::Wait(words) => self.run_wait(words),
            Builtin::Export(assignments) if assignments.is_empty() => {
                let mut listing = String::new();
                for (name, value) in self.exported() {
                    // Quoted as dash lists them: a `'` inside is `'"'"'`.
                    let quoted = value.replace('\'', "'\"'\"'");
                    listing.push_str(&format!("export {name}='{quoted}'\n"));
                }
                self.console.write(listing.as_bytes());
                Ok(0)
            }
            Builtin::Export(assignments) => {
                // As sh: every word is expanded before any is assigned.
                let values: Vec<String> =
                    assignments.iter().map(|a| self.expand(&a.value)).collect();
                for (assignment, value) in assignments.iter().zip(values) {
                    self.export(&assignment.name, &value);
                }
                Ok(0)
            }
            Builtin::Unset(words) => {
                for name in self.expand_all(words) {
                    self.unset(&name);
                }
                Ok(0)
            }
            Builtin::Start { timeout, command } => self.run_start(*timeout, command),
            Builtin::Respawn {
                max,
                delay,
                command,
            } => {
                let policy = RespawnPolicy {
                    max_restarts: *max,
                    delay: delay.unwrap_or(DEFAULT_RESPAWN_DELAY),
                };
                Ok(self.run_respawn(policy, command))
            }
            Builtin::Timeout { limit, command } => self.run_timeout(*limit, command),
            Builtin::Source(word) => {
                let name = self.expand(word);
                self.run_source(&name, hooks)
            }
            // The shell's `exit` ends the shell; the script goes on.
            Builtin::Shell => match hooks.shell(self) {
                Flow::Normal(status) | Flow::Exit(status) => Ok(status),
                Flow::Power(action) => Err(Stop::Power(action)),
            },
            Builtin::Poweroff(word) | Builtin::Exit(word) => {
                let status = match word {
                    None => self.last_status,
                    Some(word) => {
                        let text = self.expand(word);
                        match text.parse::<Status>() {
                            Ok(status) => status,
                            Err(_) => return Ok(self.report(&Error::BadStatus(text))),
                        }
                    }
                };
                if matches!(builtin, Builtin::Exit(_)) {
                    Err(Stop::Exit(status))
                } else {
                    Err(Stop::Power(PowerAction::Off(status)))
                }
            }
            Builtin::Halt => Err(Stop::Power(PowerAction::Halt)),
            Builtin::Reboot => Err(Stop::Power(PowerAction::Reboot)),
        }
    }

    // ---- built-ins ------------------------------------------------------------------

    fn run_wait(&mut self, words: &[Word]) -> Step {
        if words.is_empty() {
            // sh: wait for every background job; the status is 0. Ctrl-C stops the wait,
            // not the jobs.
            while let Some(job) = self.jobs.unfinished().into_iter().next() {
                self.wait_jobs(&[job], Role::Background)?;
            }
            // Jobs waited for are forgotten, and their numbers free again.
            for numbered in self.jobs.numbered() {
                if numbered.state().is_finished() {
                    self.jobs.release(numbered.number);
                }
            }
            return Ok(0);
        }
        let mut status = 0;
        for spec in self.expand_all(words) {
            status = match self.jobs.find_numbered(&spec) {
                // sh: the job's status is its last stage's, and a job waited for is
                // forgotten.
                Ok(numbered) => {
                    let statuses = self.wait_jobs(&numbered.stages, Role::Background)?;
                    self.jobs.release(numbered.number);
                    statuses.last().copied().unwrap_or(0)
                }
                Err(error @ crate::jobs::Error::AmbiguousJob { .. }) => self.report(&error),
                Err(_) => match self.jobs.find(&spec) {
                    Ok(job) => self.wait_jobs(&[job], Role::Background)?[0],
                    Err(error) => self.report(&error),
                },
            };
        }
        Ok(status)
    }

    fn run_start(&mut self, timeout: Option<Duration>, command: &SimpleCommand) -> Step {
        if let Some(status) = self.refuse_background(|| simple_command_name(command)) {
            return Ok(status);
        }
        let job = match self.spawn_simple(command, self.stdio.clone()) {
            Ok(job) => job,
            Err(error) => return Ok(self.report(&error)),
        };
        job.set_background(true);
        self.number_background(core::slice::from_ref(&job));
        let deadline = timeout.map(|t| self.platform.now() + t);
        self.interrupt
            .set_foreground(core::slice::from_ref(&job), false);
        let outcome = job.wait(WaitFor::ReadyOrExit, deadline, &|| self.stop_requested());
        self.interrupt.clear_foreground();
        match outcome {
            WaitOutcome::Ready => Ok(0),
            WaitOutcome::Finished(state) => Ok(state.status().unwrap_or(0)),
            WaitOutcome::TimedOut => {
                job.terminate();
                self.console.write(
                    format!("rc: start: '{}' was not ready in time\n", job.name()).as_bytes(),
                );
                Ok(TIMED_OUT_STATUS)
            }
            WaitOutcome::Interrupted => Err(Stop::Interrupted),
        }
    }

    fn run_respawn(&mut self, policy: RespawnPolicy, command: &SimpleCommand) -> Status {
        if let Some(status) = self.refuse_background(|| simple_command_name(command)) {
            return status;
        }
        let argv = self.expand_all(&command.words);
        let env = self.job_env(&command.assignments);
        let result = self
            .program_run(&argv, env, self.stdio.clone())
            .and_then(|run| {
                let name = run.program.name;
                let task = respawn_task(run, policy, self.console.clone());
                self.spawn_job(name, argv, task, Vec::new())
            });
        match result {
            Ok(job) => {
                job.set_background(true);
                self.number_background(&[job]);
                0
            }
            Err(error) => self.report(&error),
        }
    }

    fn run_timeout(&mut self, limit: Duration, command: &SimpleCommand) -> Step {
        let job = match self.spawn_simple(command, self.stdio.clone()) {
            Ok(job) => job,
            Err(error) => return Ok(self.report(&error)),
        };
        let deadline = self.platform.now() + limit;
        self.interrupt
            .set_foreground(core::slice::from_ref(&job), false);
        let outcome = job.wait(WaitFor::Exit, Some(deadline), &|| self.stop_requested());
        let step = match outcome {
            WaitOutcome::Finished(state) => Ok(state.status().unwrap_or(0)),
            WaitOutcome::Interrupted => Err(Stop::Interrupted),
            WaitOutcome::Ready => unreachable!("waiting for the exit only"),
            WaitOutcome::TimedOut => {
                job.terminate();
                let grace = Some(self.platform.now() + KILL_GRACE);
                match job.wait(WaitFor::Exit, grace, &|| self.stop_requested()) {
                    WaitOutcome::TimedOut => {
                        if job.kill() {
                            job.join();
                        }
                        Ok(TIMED_OUT_STATUS)
                    }
                    WaitOutcome::Interrupted => Err(Stop::Interrupted),
                    _ => Ok(TIMED_OUT_STATUS),
                }
            }
        };
        self.interrupt.clear_foreground();
        step
    }

    fn run_source(&mut self, name: &str, hooks: &mut dyn Hooks) -> Step {
        let Some(file) = crate::program::find_file(self.files, name) else {
            return Ok(self.report(&Error::NoSuchFile(String::from(name))));
        };
        if self.source_depth >= MAX_SOURCE_DEPTH {
            return Ok(self.report(&Error::SourceTooDeep(String::from(name))));
        }
        let text = String::from_utf8_lossy(file.contents);
        let script = match self.parse(name, &text, hooks.builtin_names()) {
            Ok(script) => script,
            Err(error) => return Ok(self.report(&Error::Parse(error.render(&text)))),
        };
        self.source_depth += 1;
        let step = self.run_list(&script.items, hooks);
        self.source_depth -= 1;
        step
    }

    // ---- jobs -----------------------------------------------------------------------

    /// Waits for `jobs` to end; returns their statuses. Ctrl-C stops the wait, and
    /// cancels the jobs too if they are the foreground.
    fn wait_jobs(
        &mut self,
        jobs: &[Arc<Job>],
        role: Role,
    ) -> core::result::Result<Vec<Status>, Stop> {
        if role == Role::Foreground {
            self.interrupt.set_foreground(jobs, true);
        }
        let foreground = role == Role::Foreground;
        let give_up = || self.stop_requested() || (foreground && self.interrupt.is_suspended());
        let mut statuses = Vec::with_capacity(jobs.len());
        for job in jobs {
            match job.wait(WaitFor::Exit, None, &give_up) {
                WaitOutcome::Finished(state) => statuses.push(state.status().unwrap_or(0)),
                _ if foreground && self.interrupt.take_suspended() => {
                    self.interrupt.clear_foreground();
                    self.keep_stopped(jobs);
                    return Ok(alloc::vec![SUSPENDED_STATUS]);
                }
                _ => {
                    self.interrupt.clear_foreground();
                    return Err(Stop::Interrupted);
                }
            }
        }
        self.interrupt.clear_foreground();
        Ok(statuses)
    }

    /// After Ctrl-Z: the stopped foreground pipeline becomes a numbered job, reported as
    /// sh does (`[N]+ stopped CMD`); `fg`, `bg` and `kill` take it from there.
    fn keep_stopped(&mut self, stages: &[Arc<Job>]) {
        for stage in stages {
            stage.set_background(true);
        }
        let number = self.jobs.number(stages);
        let command: Vec<String> = stages.iter().map(|j| j.info().command_line()).collect();
        self.console
            .write(format!("[{number}]+ stopped {}\n", command.join(" | ")).as_bytes());
    }

    /// Adds a job to the table (and to the enclosing subshell's job, so cancelling that
    /// cancels this).
    fn spawn_job(
        &self,
        name: &str,
        argv: Vec<String>,
        task: Task,
        owned: Vec<PipeEnd>,
    ) -> Result<Arc<Job>> {
        let job = self.jobs.spawn(name, argv, task, owned)?;
        if let Some(parent) = &self.subshell_of {
            parent.adopt(job.clone());
        }
        Ok(job)
    }

    fn program_run(
        &self,
        argv: &[String],
        env: Vec<(String, String)>,
        stdio: Stdio,
    ) -> Result<ProgramRun> {
        let name = argv.first().map(String::as_str).unwrap_or("");
        let program = self
            .programs
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::NoSuchProgram(String::from(name)))?;
        Ok(ProgramRun {
            program,
            env,
            stdio,
            files: self.files,
            programs: self.programs,
        })
    }

    /// Starts a baked program as a job; closes `owned` if it cannot.
    fn spawn_program(
        &self,
        argv: Vec<String>,
        env: Vec<(String, String)>,
        stdio: Stdio,
        owned: Vec<PipeEnd>,
    ) -> Result<Arc<Job>> {
        match self.program_run(&argv, env, stdio) {
            Ok(run) => {
                let name = run.program.name;
                self.spawn_job(name, argv, program_task(run), owned)
            }
            Err(error) => {
                for end in owned {
                    end.close();
                }
                Err(error)
            }
        }
    }

    /// Starts a simple command's program (for `start` and `timeout`).
    fn spawn_simple(&self, command: &SimpleCommand, stdio: Stdio) -> Result<Arc<Job>> {
        let argv = self.expand_all(&command.words);
        let env = self.job_env(&command.assignments);
        self.spawn_program(argv, env, stdio, Vec::new())
    }

    /// Starts every stage of a pipeline without waiting: each stage's job, or the status
    /// of a stage that could not start (already reported).
    fn spawn_pipeline(
        &mut self,
        pipeline: &Pipeline,
        hook_names: &[&'static str],
    ) -> Vec<core::result::Result<Arc<Job>, Status>> {
        let count = pipeline.commands.len();
        // A caller's built-in cannot be a stage: say so before anything starts.
        if count > 1 {
            for command in &pipeline.commands {
                if let Command::Simple(simple) = command
                    && let Some(first) = simple.words.first()
                {
                    let name = self.expand(first);
                    let is_hook = hook_names.contains(&name.as_str());
                    if is_hook && !self.programs.iter().any(|p| p.name == name) {
                        let error = Error::BuiltinInPipeline(name);
                        return vec![Err(self.report(&error))];
                    }
                }
            }
        }
        let mut stages = Vec::with_capacity(count);
        let mut next_stdin = self.stdio.stdin.clone();
        let mut next_stdin_owned: Option<PipeEnd> = None;
        for (index, command) in pipeline.commands.iter().enumerate() {
            let mut owned: Vec<PipeEnd> = next_stdin_owned.take().into_iter().collect();
            let mut stdio = Stdio {
                stdin: core::mem::replace(&mut next_stdin, Input::Null),
                stdout: self.stdio.stdout.clone(),
                stderr: self.stdio.stderr.clone(),
            };
            if index + 1 < count {
                let (writer, reader) = pipe(self.platform);
                stdio.stdout = Output::Sink(writer.clone());
                owned.push(PipeEnd::Writer(writer));
                next_stdin = Input::Source(reader.clone());
                next_stdin_owned = Some(PipeEnd::Reader(reader));
            }
            let started = match command {
                Command::Simple(simple) if !simple.words.is_empty() => {
                    let argv = self.expand_all(&simple.words);
                    let env = self.job_env(&simple.assignments);
                    self.spawn_program(argv, env, stdio, owned)
                }
                other => {
                    let body = vec![Item {
                        and_or: AndOr {
                            first: Pipeline {
                                commands: vec![other.clone()],
                            },
                            rest: Vec::new(),
                        },
                        background: false,
                    }];
                    self.spawn_subshell(&command_name(other), body, stdio, owned)
                }
            };
            stages.push(started.map_err(|error| self.report(&error)));
        }
        stages
    }

    /// Runs `body` in a subshell on its own thread, as a job.
    fn spawn_subshell(
        &self,
        name: &str,
        body: List,
        stdio: Stdio,
        owned: Vec<PipeEnd>,
    ) -> Result<Arc<Job>> {
        let mut subshell = Interpreter {
            platform: self.platform,
            programs: self.programs,
            files: self.files,
            console: self.console.clone(),
            jobs: Arc::new(JobTable::new(self.platform)),
            vars: self.vars.clone(),
            last_status: self.last_status,
            stdio,
            interrupt: Interrupt::new(self.platform),
            subshell_of: None,
            source_depth: self.source_depth,
            reporter: self.reporter,
            last_background: None,
        };
        let task = Task::kernel(move |job: &Arc<Job>| {
            subshell.subshell_of = Some(job.clone());
            match subshell.run_list(&body, &mut NoHooks) {
                Ok(status) => status,
                Err(Stop::Power(action)) => {
                    subshell.platform.power(action);
                    0
                }
                // `exit` in a background group ends the group, as in a sh subshell.
                Err(Stop::Exit(status)) => status,
                Err(Stop::Interrupted) => INTERRUPTED_STATUS,
            }
        });
        self.spawn_job(name, Vec::from([String::from(name)]), task, owned)
    }

    // ---- words ----------------------------------------------------------------------

    /// A word's text after expansion; never split.
    fn expand(&self, word: &Word) -> String {
        let mut text = String::new();
        for part in &word.parts {
            match part {
                WordPart::Literal(literal) => text.push_str(literal),
                WordPart::Var(name) => text.push_str(self.var(name).unwrap_or("")),
                WordPart::LastStatus => text.push_str(&self.last_status.to_string()),
                WordPart::LastBackground => {
                    if let Some(number) = self.last_background {
                        text.push_str(&format!("%{number}"));
                    }
                }
            }
        }
        text
    }

    fn expand_all(&self, words: &[Word]) -> Vec<String> {
        words.iter().map(|w| self.expand(w)).collect()
    }

    /// A job's env: the exported variables, then the command's own assignments.
    fn job_env(&self, assignments: &[Assignment]) -> Vec<(String, String)> {
        let mut env = self.exported();
        for assignment in assignments {
            let value = self.expand(&assignment.value);
            env.retain(|(name, _)| *name != assignment.name);
            env.push((assignment.name.clone(), value));
        }
        env
    }
}

/// A short name for a command run as a subshell job (listings, `wait NAME`).
fn command_name(command: &Command) -> String {
    match command {
        Command::Simple(simple) => simple_command_name(simple),
        Command::Group { .. } => String::from("{}"),
        Command::If(_) => String::from("if"),
        Command::Builtin(builtin) => String::from(builtin.name()),
    }
}

/// The program a simple command names, for messages (`sh` when it is not literal).
fn simple_command_name(simple: &SimpleCommand) -> String {
    simple
        .words
        .first()
        .and_then(Word::as_literal)
        .unwrap_or_else(|| String::from("sh"))
}

#[cfg(test)]
mod tests;
