//! The shell's built-ins, run through the interpreter's [`Hooks`]: `help`, `programs`,
//! `jobs`, `fg`, `bg`, `kill`, `ps`, `history`, `uptime`, `clear`, `set`, `repeat`.
//!
//! rc's own words (`wait`, `export`, `unset`, `source`, `poweroff`, ...) are init's. A
//! built-in gets its argv after expansion, like a program; its output goes to the
//! session's console. Every built-in answers `--help` (its usage, status 0). Mistakes
//! are typed [`Error`]s: bad usage gives status 2 and the usage line, a job that is
//! not there status 1 (`kill: no such job '%9'`).
//!
//! Jobs: the interpreter's table holds every job, foreground ones too. The session
//! forgets the jobs a line started and that ended during it (their status went to
//! `$?`); `jobs` lists finished jobs once, then forgets them too, as sh does.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::fmt::Write as _;
use core::time::Duration;

use embedded_io::Write;
use kiln_init::exec::{Flow, Hooks, INTERRUPTED_STATUS, Interpreter, SUSPENDED_STATUS};
use kiln_init::jobs::{JobNumber, JobState, NumberedJob, WaitFor, WaitOutcome};
use kiln_init::platform::Status;
use kiln_init::rc::ast::BUILTIN_NAMES;

use crate::session::Session;

/// The names of the shell's built-ins (in the order `help` lists them).
pub const NAMES: &[&str] = &[
    "help", "programs", "jobs", "fg", "bg", "kill", "ps", "history", "uptime", "clear", "set",
    "repeat", "stty",
];

/// The status of a built-in used wrongly (as sh's built-ins).
pub const USAGE_STATUS: Status = 2;
/// The status of a built-in that could not do what it was asked.
pub const FAILURE_STATUS: Status = 1;
/// The argument every built-in answers with its usage.
const HELP_FLAG: &str = "--help";
/// `kill`'s flag to end jobs at once.
const FORCE_FLAG: &str = "-9";
/// `jobs -l`: each stage with its id.
const LONG_FLAG: &str = "-l";
/// `set`'s flags: turn an option on, turn it off.
const OPTION_ON: &str = "-o";
const OPTION_OFF: &str = "+o";
/// `set`'s options.
const OPTION_STATUS: &str = "status";
const OPTION_ECHO: &str = "echo";
const OPTION_HISTORY: &str = "history";
const OPTION_IGNORE_EOF: &str = "ignoreeof";
/// `stty cols N` (and stty's long spelling): the terminal's width.
const STTY_COLUMNS: [&str; 2] = ["cols", "columns"];
/// The widths `stty cols` takes.
const STTY_WIDTHS: core::ops::RangeInclusive<usize> = 1..=1000;
/// Clears the screen and homes the cursor (ECMA-48 CUP + ED 2).
const CLEAR_SCREEN: &[u8] = b"\x1b[H\x1b[2J";
/// What `ps` shows for a figure the platform does not measure.
const UNKNOWN: &str = "-";
/// The width of `ps`'s columns (the NAME column grows to the longest name).
const PS_ID_WIDTH: usize = 4;
const PS_STATE_WIDTH: usize = 12;
const PS_FIGURE_WIDTH: usize = 8;
/// How far `history` right-aligns its numbers.
const HISTORY_NUMBER_WIDTH: usize = 5;

/// A built-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builtin {
    Help,
    Programs,
    Jobs,
    Fg,
    Bg,
    Kill,
    Ps,
    History,
    Uptime,
    Clear,
    Set,
    Repeat,
    Stty,
}

/// A built-in's name, one-line description and usage.
struct Spec {
    builtin: Builtin,
    name: &'static str,
    about: &'static str,
    usage: &'static str,
}

const SPECS: &[Spec] = &[
    Spec {
        builtin: Builtin::Help,
        name: "help",
        about: "this list, or the usage of a built-in, program or rc word",
        usage: "usage: help [NAME]\n  lists the built-ins, or shows NAME's usage \
                (a built-in, a baked program or an rc word)",
    },
    Spec {
        builtin: Builtin::Programs,
        name: "programs",
        about: "list the baked programs",
        usage: "usage: programs\n  lists every baked program with what it does",
    },
    Spec {
        builtin: Builtin::Jobs,
        name: "jobs",
        about: "list the jobs",
        usage: "usage: jobs [-l]\n  lists the background jobs as [N]+ STATE COMMAND (+ the \
                current job, - the previous); -l adds each stage's id; a finished job is \
                listed once, then forgotten",
    },
    Spec {
        builtin: Builtin::Fg,
        name: "fg",
        about: "wait for a job in the foreground",
        usage: "usage: fg [JOB]\n  continues JOB (%N or NAME; default: the current job) if it \
                was stopped and waits for it; Ctrl-C cancels it, Ctrl-Z stops it again; the \
                status is the job's",
    },
    Spec {
        builtin: Builtin::Bg,
        name: "bg",
        about: "continue a stopped job in the background",
        usage: "usage: bg [JOB]\n  continues JOB (%N or NAME; default: the current job), \
                stopped by Ctrl-Z, in the background",
    },
    Spec {
        builtin: Builtin::Kill,
        name: "kill",
        about: "cancel jobs",
        usage: "usage: kill [-9] JOB...\n  cancels each JOB (%N or NAME); -9 ends it at once",
    },
    Spec {
        builtin: Builtin::Ps,
        name: "ps",
        about: "list the jobs with CPU time, memory and start time",
        usage: "usage: ps\n  lists the jobs: ID NAME STATE CPU (ms) MEM (heap bytes held) STARTED \
                (seconds since boot) WHERE (the function it last ran in); - where unknown",
    },
    Spec {
        builtin: Builtin::History,
        name: "history",
        about: "list the lines typed so far",
        usage: "usage: history\n  lists the lines typed so far, numbered, oldest first",
    },
    Spec {
        builtin: Builtin::Uptime,
        name: "uptime",
        about: "time since boot",
        usage: "usage: uptime\n  prints the time since boot",
    },
    Spec {
        builtin: Builtin::Clear,
        name: "clear",
        about: "clear the screen",
        usage: "usage: clear\n  clears the screen",
    },
    Spec {
        builtin: Builtin::Set,
        name: "set",
        about: "list variables, or turn shell options on or off",
        usage: "usage: set [-o|+o [OPTION]]...\n  no arguments: lists the shell variables; \
                -o OPTION turns it on, +o OPTION off, -o alone lists the options\n  \
                options: status (print [status N] after each command), \
                echo (echo input and edit lines; off for scripts)",
    },
    Spec {
        builtin: Builtin::Repeat,
        name: "repeat",
        about: "run a command several times",
        usage: "usage: repeat N COMMAND [ARG...]\n  runs COMMAND N times in the foreground; \
                Ctrl-C stops it; the status is the last run's",
    },
    Spec {
        builtin: Builtin::Stty,
        name: "stty",
        about: "show or set the terminal's width",
        usage: "usage: stty [cols N]\n  prints the width the line editor wraps long lines at; \
                cols N sets it (the launcher sets it from its terminal, and again on a resize)",
    },
];

/// rc's own words, for `help` (init runs them).
const RC_WORDS: &[(&str, &str)] = &[
    (
        "wait",
        "usage: wait [%N | NAME]...\n  waits for the jobs (none given: all)",
    ),
    (
        "export",
        "usage: export NAME=value...\n  sets variables that every job gets",
    ),
    ("unset", "usage: unset NAME...\n  removes variables"),
    (
        "start",
        "usage: start [--timeout DUR] PROGRAM [ARG...]\n  starts PROGRAM in the background \
         and goes on once it is ready (or has ended)",
    ),
    (
        "respawn",
        "usage: respawn [--max N] [--delay DUR] PROGRAM [ARG...]\n  runs PROGRAM in the \
         background and restarts it when it exits non-zero",
    ),
    (
        "timeout",
        "usage: timeout DUR PROGRAM [ARG...]\n  runs PROGRAM and stops it after DUR",
    ),
    (
        "source",
        "usage: source FILE\n  runs a baked script file in this shell",
    ),
    (
        "shell",
        "usage: shell\n  an interactive shell on the console",
    ),
    (
        "poweroff",
        "usage: poweroff [STATUS]\n  powers off; the VMM exits with STATUS (default: $?)",
    ),
    ("halt", "usage: halt\n  stops the CPU"),
    ("reboot", "usage: reboot\n  resets the machine"),
    (
        "exit",
        "usage: exit [STATUS]\n  leaves this shell with STATUS (default: $?); the rc \
         script that opened it goes on (Ctrl-D on an empty line too, unless set -o ignoreeof)",
    ),
];

/// rc's syntax words, for `help if`, `help '&&'` and the like.
const SYNTAX_WORDS: &[(&[&str], &str)] = &[
    (
        &["if", "then", "elif", "else", "fi"],
        "usage: if LIST; then LIST; [elif LIST; then LIST;]... [else LIST;] fi\n  runs the \
         branch of the first LIST whose status is 0 (else the else branch); as in sh",
    ),
    (
        &["{", "}"],
        "usage: { LIST; }\n  a group: runs LIST here; `{ ...; } &` runs it in the background",
    ),
    (
        &["&&", "||"],
        "usage: A && B, A || B\n  runs B only if A succeeded (&&) or failed (||); as in sh",
    ),
    (
        &["|"],
        "usage: A | B\n  a pipe: A's stdout is B's stdin; the status is B's",
    ),
    (
        &["&", ";"],
        "usage: A & B, A; B\n  runs A in the background (&) or waits for it (;), then B",
    ),
];

/// What went wrong in a built-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// An argument the built-in does not take; `expected` says what it takes.
    BadArgument {
        builtin: &'static str,
        argument: String,
        expected: &'static str,
    },
    /// A required argument is missing.
    MissingArgument {
        builtin: &'static str,
        what: &'static str,
    },
    /// An argument after the last one the built-in takes.
    TooManyArguments {
        builtin: &'static str,
        argument: String,
    },
    /// A job spec (`%N` or NAME) that names no job.
    NoSuchJob { builtin: &'static str, spec: String },
    /// A NAME that more than one job runs.
    AmbiguousJob {
        builtin: &'static str,
        spec: String,
        numbers: Vec<JobNumber>,
    },
    /// The job has already ended.
    JobEnded {
        builtin: &'static str,
        spec: String,
        state: JobState,
    },
    /// No job given and none running.
    NoCurrentJob { builtin: &'static str },
    /// `help NAME` for a name that is nothing known.
    NoHelp(String),
    /// `kill -9` where the platform cannot end a thread.
    CannotForce(String),
    /// `shell` typed in the shell.
    AlreadyInShell,
}

impl Error {
    /// The built-in's status for this error: [`USAGE_STATUS`] for bad usage, else
    /// [`FAILURE_STATUS`].
    pub fn status(&self) -> Status {
        if self.is_usage() {
            USAGE_STATUS
        } else {
            FAILURE_STATUS
        }
    }

    /// True for mistakes in the command line (the usage is shown with them).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::BadArgument { .. }
                | Error::MissingArgument { .. }
                | Error::TooManyArguments { .. }
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadArgument {
                builtin,
                argument,
                expected,
            } => write!(f, "{builtin}: bad argument '{argument}' ({expected})"),
            Error::MissingArgument { builtin, what } => write!(f, "{builtin}: missing {what}"),
            Error::TooManyArguments { builtin, argument } => {
                write!(f, "{builtin}: unexpected argument '{argument}'")
            }
            Error::NoSuchJob { builtin, spec } => write!(f, "{builtin}: no such job '{spec}'"),
            Error::AmbiguousJob {
                builtin,
                spec,
                numbers,
            } => {
                write!(f, "{builtin}: '{spec}' names more than one job:")?;
                for number in numbers {
                    write!(f, " %{number}")?;
                }
                f.write_str(" (use %N)")
            }
            Error::JobEnded {
                builtin,
                spec,
                state,
            } => write!(f, "{builtin}: job '{spec}' has ended ({state})"),
            Error::NoCurrentJob { builtin } => write!(f, "{builtin}: no running job"),
            Error::NoHelp(name) => {
                write!(f, "help: no built-in, program or rc word '{name}'")
            }
            Error::CannotForce(spec) => {
                write!(f, "kill: cannot end '{spec}' at once on this platform")
            }
            Error::AlreadyInShell => f.write_str("shell: already in the interactive shell"),
        }
    }
}

impl core::error::Error for Error {}

/// Results of built-ins.
pub type Result<T> = core::result::Result<T, Error>;

/// The usage of built-in `name`, if it is one.
pub fn usage(name: &str) -> Option<&'static str> {
    SPECS.iter().find(|s| s.name == name).map(|s| s.usage)
}

/// The hooks a session gives the interpreter while it runs a typed line.
pub(crate) struct Builtins<'s, W> {
    pub(crate) session: &'s mut Session<W>,
}

impl<W: Write + Send + 'static> Hooks for Builtins<'_, W> {
    fn shell(&mut self, _interp: &mut Interpreter) -> Flow {
        Flow::Normal(self.report(None, &Error::AlreadyInShell))
    }

    fn builtin(&mut self, interp: &mut Interpreter, argv: &[String]) -> Option<Status> {
        let name = argv.first()?;
        let spec = SPECS.iter().find(|s| s.name == name.as_str())?;
        let args = &argv[1..];
        if args.first().is_some_and(|a| a == HELP_FLAG) {
            self.println(spec.usage);
            return Some(0);
        }
        Some(match self.dispatch(spec.builtin, interp, args) {
            Ok(status) => status,
            Err(error) => self.report(Some(spec), &error),
        })
    }

    fn builtin_names(&self) -> &[&'static str] {
        NAMES
    }
}

impl<W: Write + Send + 'static> Builtins<'_, W> {
    fn print(&self, text: &str) {
        self.session.print(text);
    }

    fn println(&self, text: &str) {
        self.session.print(&format!("{text}\n"));
    }

    /// Prints `error` (and for usage errors the usage line); returns its status.
    fn report(&self, spec: Option<&Spec>, error: &Error) -> Status {
        self.println(&error.to_string());
        if let Some(spec) = spec.filter(|_| error.is_usage()) {
            self.println(spec.usage.lines().next().unwrap_or(spec.usage));
        }
        error.status()
    }

    fn dispatch(
        &mut self,
        builtin: Builtin,
        interp: &mut Interpreter,
        args: &[String],
    ) -> Result<Status> {
        match builtin {
            Builtin::Help => self.help(interp, args),
            Builtin::Programs => {
                no_args("programs", args)?;
                self.programs(interp);
                Ok(0)
            }
            Builtin::Jobs => {
                let long = args.first().is_some_and(|a| a == LONG_FLAG);
                no_args("jobs", &args[usize::from(long)..])?;
                self.jobs(interp, long);
                Ok(0)
            }
            Builtin::Fg => self.fg(interp, args),
            Builtin::Bg => self.bg(interp, args),
            Builtin::Kill => self.kill(interp, args),
            Builtin::Ps => {
                no_args("ps", args)?;
                self.ps(interp);
                Ok(0)
            }
            Builtin::History => {
                no_args("history", args)?;
                self.history();
                Ok(0)
            }
            Builtin::Uptime => {
                no_args("uptime", args)?;
                let up = seconds(interp.platform().now());
                self.println(&format!("up {up} s"));
                Ok(0)
            }
            Builtin::Clear => {
                no_args("clear", args)?;
                self.session.raw(CLEAR_SCREEN);
                Ok(0)
            }
            Builtin::Set => self.set(interp, args),
            Builtin::Repeat => self.repeat(interp, args),
            Builtin::Stty => self.stty(args),
        }
    }

    fn stty(&mut self, args: &[String]) -> Result<Status> {
        let Some((setting, rest)) = args.split_first() else {
            self.println(&format!("columns {}", self.session.columns()));
            return Ok(0);
        };
        if !STTY_COLUMNS.contains(&setting.as_str()) {
            return Err(Error::BadArgument {
                builtin: "stty",
                argument: setting.clone(),
                expected: "kiln's stty sets only the width: stty cols N",
            });
        }
        let Some((value, rest)) = rest.split_first() else {
            return Err(Error::MissingArgument {
                builtin: "stty",
                what: "a width after cols",
            });
        };
        no_args("stty", rest)?;
        let columns = value
            .parse::<usize>()
            .ok()
            .filter(|n| STTY_WIDTHS.contains(n))
            .ok_or_else(|| Error::BadArgument {
                builtin: "stty",
                argument: value.clone(),
                expected: "a width from 1 to 1000 columns",
            })?;
        self.session.set_columns(columns);
        Ok(0)
    }

    fn help(&self, interp: &Interpreter, args: &[String]) -> Result<Status> {
        let Some((name, rest)) = args.split_first() else {
            let mut text = String::from("kiln shell built-ins:\n");
            let width = SPECS.iter().map(|s| s.name.len()).max().unwrap_or(0);
            for spec in SPECS {
                let _ = writeln!(text, "  {:<width$}  {}", spec.name, spec.about);
            }
            let _ = writeln!(text, "rc words: {}", BUILTIN_NAMES.join(" "));
            let syntax: Vec<&str> = SYNTAX_WORDS
                .iter()
                .flat_map(|(w, _)| w.iter().copied())
                .collect();
            let _ = writeln!(text, "syntax: {}", syntax.join(" "));
            text.push_str("'programs' lists the baked programs; 'help NAME' shows a usage.\n");
            self.print(&text);
            return Ok(0);
        };
        no_args("help", rest)?;
        let found = usage(name)
            .or_else(|| {
                interp
                    .programs()
                    .iter()
                    .find(|p| p.name == name)
                    .map(|p| p.usage)
            })
            .or_else(|| RC_WORDS.iter().find(|(n, _)| n == name).map(|(_, u)| *u))
            .or_else(|| {
                SYNTAX_WORDS
                    .iter()
                    .find(|(words, _)| words.contains(&name.as_str()))
                    .map(|(_, u)| *u)
            });
        match found {
            Some(text) => {
                self.println(text);
                Ok(0)
            }
            None => Err(Error::NoHelp(name.clone())),
        }
    }

    fn programs(&self, interp: &Interpreter) {
        let programs = interp.programs();
        let width = programs.iter().map(|p| p.name.len()).max().unwrap_or(0);
        let mut text = String::new();
        for program in programs {
            let _ = writeln!(text, "{:<width$}  {}", program.name, program.about);
        }
        self.print(&text);
    }

    fn jobs(&self, interp: &Interpreter, long: bool) {
        let listing = interp.jobs().numbered();
        let mut text = String::new();
        for job in &listing {
            if long {
                text.push_str(&job_line_long(job));
            } else {
                text.push_str(&job_line(job));
            }
        }
        self.print(&text);
        // Finished jobs have now been reported: forget them, as sh does.
        for job in listing.iter().filter(|j| j.state().is_finished()) {
            interp.jobs().release(job.number);
        }
    }

    /// The job named by the only argument, or the current job (`%+`).
    fn job_arg(
        &self,
        builtin: &'static str,
        interp: &Interpreter,
        args: &[String],
    ) -> Result<NumberedJob> {
        match args {
            [] => interp
                .jobs()
                .numbered()
                .into_iter()
                .filter(|j| !j.state().is_finished())
                .max_by_key(|j| match j.mark {
                    '+' => 2,
                    '-' => 1,
                    _ => 0,
                })
                .ok_or(Error::NoCurrentJob { builtin }),
            [spec] => find_job(builtin, interp, spec),
            [_, extra, ..] => Err(Error::TooManyArguments {
                builtin,
                argument: extra.clone(),
            }),
        }
    }

    fn fg(&self, interp: &Interpreter, args: &[String]) -> Result<Status> {
        let job = self.job_arg("fg", interp, args)?;
        if let Some(error) = ended("fg", &job) {
            return Err(error);
        }
        self.println(&job.command());
        // In the foreground now: its end is its line's `$?`, not an announcement.
        for stage in &job.stages {
            stage.set_background(false);
            stage.resume();
        }
        // Ctrl-C and Ctrl-Z act on it now.
        let handle = interp.interrupt_handle();
        handle.watch(&job.stages, interp.platform().current_thread());
        let input = self.session.input();
        let stop = || input.interrupted() || handle.is_requested() || handle.is_suspended();
        let mut status = 0;
        for stage in &job.stages {
            match stage.wait(WaitFor::Exit, None, &stop) {
                WaitOutcome::Finished(state) => status = state.status().unwrap_or(0),
                _ if handle.take_suspended() => {
                    handle.unwatch();
                    for stage in &job.stages {
                        stage.set_background(true);
                    }
                    self.println(&format!("[{}]+ stopped {}", job.number, job.command()));
                    return Ok(SUSPENDED_STATUS);
                }
                _ => {
                    handle.unwatch();
                    for stage in &job.stages {
                        stage.interrupt();
                    }
                    interp.jobs().unnumber(job.number);
                    return Ok(INTERRUPTED_STATUS);
                }
            }
        }
        handle.unwatch();
        interp.jobs().release(job.number);
        Ok(status)
    }

    fn bg(&self, interp: &Interpreter, args: &[String]) -> Result<Status> {
        let job = self.job_arg("bg", interp, args)?;
        if let Some(error) = ended("bg", &job) {
            return Err(error);
        }
        if !job.stages.iter().any(|stage| stage.is_stopped()) {
            self.println(&format!(
                "bg: job {} is already running in the background",
                job.number
            ));
            return Ok(0);
        }
        for stage in &job.stages {
            stage.resume();
        }
        self.println(&format!("[{}]+ {} &", job.number, job.command()));
        Ok(0)
    }

    fn kill(&self, interp: &Interpreter, args: &[String]) -> Result<Status> {
        let (force, specs) = match args.split_first() {
            Some((first, rest)) if first == FORCE_FLAG => (true, rest),
            _ => (false, args),
        };
        if let Some(option) = specs.iter().find(|s| s.starts_with('-')) {
            return Err(Error::BadArgument {
                builtin: "kill",
                argument: option.clone(),
                expected: "the only option is -9, first",
            });
        }
        if specs.is_empty() {
            return Err(Error::MissingArgument {
                builtin: "kill",
                what: "job (%N or NAME)",
            });
        }
        let mut status = 0;
        for spec in specs {
            let outcome = find_job("kill", interp, spec).and_then(|job| {
                if let Some(error) = ended("kill", &job) {
                    return Err(error);
                }
                // Every stage of the pipeline; the end is announced at the prompt.
                if !force {
                    for stage in &job.stages {
                        stage.terminate();
                    }
                    self.println(&format!("[{}] stopping {}", job.number, job.command()));
                    Ok(())
                } else if job
                    .stages
                    .iter()
                    .fold(false, |any, stage| stage.kill() | any)
                {
                    self.println(&format!("[{}] killing {}", job.number, job.command()));
                    Ok(())
                } else {
                    Err(Error::CannotForce(spec.clone()))
                }
            });
            if let Err(error) = outcome {
                status = self.report(None, &error);
            }
        }
        Ok(status)
    }

    fn ps(&self, interp: &Interpreter) {
        let platform = interp.platform();
        let listing = interp.jobs().snapshot();
        let name_width = listing
            .iter()
            .map(|j| j.name.len())
            .chain([PS_NAME_HEADER.len()])
            .max()
            .unwrap_or(0);
        let mut text = String::new();
        let row = |text: &mut String, cells: [&str; 7]| {
            let [id, name, state, cpu, mem, started, location] = cells;
            let _ = writeln!(
                text,
                "{id:<PS_ID_WIDTH$} {name:<name_width$} {state:<PS_STATE_WIDTH$} \
                 {cpu:>PS_FIGURE_WIDTH$} {mem:>PS_FIGURE_WIDTH$} {started:>PS_FIGURE_WIDTH$}  \
                 {location}"
            );
        };
        row(
            &mut text,
            [
                "ID",
                PS_NAME_HEADER,
                "STATE",
                "CPU",
                "MEM",
                "STARTED",
                "WHERE",
            ],
        );
        for job in &listing {
            let cpu = job
                .thread
                .and_then(|t| platform.cpu_time(t))
                .map_or_else(|| String::from(UNKNOWN), |d| d.as_millis().to_string());
            let running = job.thread.filter(|_| !job.state.is_finished());
            // Heap bytes the job's thread holds now; only while it runs.
            let mem = running
                .and_then(|t| platform.memory(t))
                .map_or_else(|| String::from(UNKNOWN), |bytes| bytes.to_string());
            // The function it was in when it last left the CPU.
            let location = running
                .and_then(|t| platform.location(t))
                .unwrap_or_else(|| String::from(UNKNOWN));
            row(
                &mut text,
                [
                    &job.id.to_string(),
                    &job.name,
                    &job.state.to_string(),
                    &cpu,
                    &mem,
                    &seconds(job.started),
                    &location,
                ],
            );
        }
        self.print(&text);
    }

    fn history(&self) {
        let lines = self.session.history();
        let mut text = String::new();
        for (number, line) in (1..).zip(&lines) {
            let _ = writeln!(text, "{number:>HISTORY_NUMBER_WIDTH$}  {line}");
        }
        self.print(&text);
    }

    fn set(&mut self, interp: &Interpreter, args: &[String]) -> Result<Status> {
        if args.is_empty() {
            let mut text = String::new();
            for (name, value, exported) in interp.vars() {
                let export = if exported { "export " } else { "" };
                let _ = writeln!(text, "{export}{name}={}", quote(value));
            }
            self.print(&text);
            return Ok(0);
        }
        let mut rest = args;
        while let Some((flag, after)) = rest.split_first() {
            let on = match flag.as_str() {
                OPTION_ON => true,
                OPTION_OFF => false,
                _ => {
                    return Err(Error::BadArgument {
                        builtin: "set",
                        argument: flag.clone(),
                        expected: "use -o OPTION or +o OPTION",
                    });
                }
            };
            let Some((option, after)) = after.split_first() else {
                self.print(&self.session.describe_options());
                return Ok(0);
            };
            match option.as_str() {
                OPTION_STATUS => self.session.set_status_mode(on),
                OPTION_ECHO => self.session.set_echo(on),
                OPTION_HISTORY => self.session.set_history(on),
                OPTION_IGNORE_EOF => self.session.set_ignore_eof(on),
                _ => {
                    return Err(Error::BadArgument {
                        builtin: "set",
                        argument: option.clone(),
                        expected: "options: status, echo, history, ignoreeof",
                    });
                }
            }
            rest = after;
        }
        Ok(0)
    }

    fn repeat(&mut self, interp: &mut Interpreter, args: &[String]) -> Result<Status> {
        let (count, command) = match args {
            [] => {
                return Err(Error::MissingArgument {
                    builtin: "repeat",
                    what: "count",
                });
            }
            [_] => {
                return Err(Error::MissingArgument {
                    builtin: "repeat",
                    what: "command",
                });
            }
            [count, command @ ..] => (count, command),
        };
        let count: u32 = count.parse().map_err(|_| Error::BadArgument {
            builtin: "repeat",
            argument: count.clone(),
            expected: "a count from 0 to 4294967295",
        })?;
        let text: Vec<String> = command.iter().map(|w| quote(w)).collect();
        let text = text.join(" ");
        let mut status = 0;
        for _ in 0..count {
            if self.session.input().interrupted() {
                return Ok(INTERRUPTED_STATUS);
            }
            let run = interp.run_text(REPEAT_SOURCE, &text, self);
            // Each run's finished jobs go now, not after the whole loop: 10,000 runs
            // must not pile up 10,000 entries.
            self.session.forget_foreground_jobs(interp);
            status = match run {
                Ok(Flow::Normal(status)) => status,
                // A built-in cannot end the shell: `exit` ends the repetition.
                Ok(Flow::Exit(status)) => return Ok(status),
                Ok(Flow::Power(action)) => {
                    // A built-in cannot end the run: do what a background group does.
                    interp.platform().power(action);
                    0
                }
                Err(error) => {
                    self.println(&error.render(&text));
                    return Ok(error.kind.status());
                }
            };
        }
        if self.session.input().interrupted() {
            return Ok(INTERRUPTED_STATUS);
        }
        Ok(status)
    }
}

/// The header of `ps`'s NAME column.
const PS_NAME_HEADER: &str = "NAME";
/// The source name of the commands `repeat` runs, in error messages.
const REPEAT_SOURCE: &str = "repeat";

/// Fails if a built-in that takes no arguments got some.
fn no_args(builtin: &'static str, args: &[String]) -> Result<()> {
    match args.first() {
        None => Ok(()),
        Some(argument) => Err(Error::TooManyArguments {
            builtin,
            argument: argument.clone(),
        }),
    }
}

fn find_job(builtin: &'static str, interp: &Interpreter, spec: &str) -> Result<NumberedJob> {
    interp
        .jobs()
        .find_numbered(spec)
        .map_err(|error| match error {
            kiln_init::jobs::Error::AmbiguousJob { numbers, .. } => Error::AmbiguousJob {
                builtin,
                spec: String::from(spec),
                numbers,
            },
            _ => Error::NoSuchJob {
                builtin,
                spec: String::from(spec),
            },
        })
}

/// The error for a job that has ended, if it has.
fn ended(builtin: &'static str, job: &NumberedJob) -> Option<Error> {
    let state = job.state();
    state.is_finished().then(|| Error::JobEnded {
        builtin,
        spec: format!("%{}", job.number),
        state,
    })
}

/// A numbered job as `jobs` lists it and the shell announces its end: `[N]+ STATE COMMAND`.
pub(crate) fn job_line(job: &NumberedJob) -> String {
    format!(
        "[{}]{} {} {}\n",
        job.number,
        job.mark,
        job.state(),
        job.command()
    )
}

/// `jobs -l`: the job line, then each stage with its id (what `ps` shows).
fn job_line_long(job: &NumberedJob) -> String {
    let mut text = format!("[{}]{} {}\n", job.number, job.mark, job.state());
    for stage in &job.stages {
        let info = stage.info();
        let _ = writeln!(
            text,
            "     {} {} {}",
            info.id,
            info.state,
            info.command_line()
        );
    }
    text
}

/// `S.mmm`: a duration in seconds with milliseconds.
pub(crate) fn seconds(duration: Duration) -> String {
    format!("{}.{:03}", duration.as_secs(), duration.subsec_millis())
}

/// Characters an rc word may hold without quotes.
fn is_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | ',' | '+' | '@' | '%')
}

/// `word` as rc text that reads back as exactly `word`: bare when safe, else in single
/// quotes (a `'` written `'\''`).
pub(crate) fn quote(word: &str) -> String {
    if !word.is_empty() && word.chars().all(is_safe) {
        return String::from(word);
    }
    let mut quoted = String::from("'");
    for (i, piece) in word.split('\'').enumerate() {
        if i > 0 {
            quoted.push_str("'\\''");
        }
        quoted.push_str(piece);
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_the_specs() {
        let names: Vec<&str> = SPECS.iter().map(|s| s.name).collect();
        assert_eq!(names, NAMES);
        for spec in SPECS {
            assert!(
                spec.usage.starts_with(&format!("usage: {}", spec.name)),
                "{}",
                spec.name
            );
        }
        for (name, usage) in RC_WORDS {
            assert!(BUILTIN_NAMES.contains(name), "{name}");
            assert!(usage.starts_with(&format!("usage: {name}")), "{name}");
        }
        assert_eq!(RC_WORDS.len(), BUILTIN_NAMES.len());
    }

    #[test]
    fn quoting_reads_back() {
        assert_eq!(quote("echo"), "echo");
        assert_eq!(quote("%1"), "%1");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$x"), "'$x'");
    }

    #[test]
    fn errors_name_the_argument_and_pick_a_status() {
        let error = Error::NoSuchJob {
            builtin: "kill",
            spec: String::from("%9"),
        };
        assert_eq!(error.to_string(), "kill: no such job '%9'");
        assert_eq!(error.status(), FAILURE_STATUS);
        let error = Error::BadArgument {
            builtin: "repeat",
            argument: String::from("x"),
            expected: "a count",
        };
        assert_eq!(error.to_string(), "repeat: bad argument 'x' (a count)");
        assert_eq!(error.status(), USAGE_STATUS);
        assert_eq!(seconds(Duration::from_millis(12_345)), "12.345");
    }
}
