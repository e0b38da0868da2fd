//! What every baked program shares: `--help`, usage errors, exit statuses, durations
//! and formatted output.
//!
//! A program's `main` hands its body to [`run`], which answers `--help` (usage on
//! stdout, status 0) and turns an [`Error`] into the message and status sh users
//! expect: `NAME: <what was wrong> ('arg')` plus the usage line on stderr and status 2
//! for bad arguments, status 1 for failures, 130 / 141 for a cancelled job / a closed
//! pipe (the shell's 128 + SIGINT / SIGPIPE).

use alloc::string::String;
use core::fmt;
use core::time::Duration;

use embedded_io::Write;
use kiln_init::program::{Context, IoError, Program, Status};

/// Success.
pub const STATUS_OK: Status = 0;
/// The program ran and failed (or, for `false` and `fw test`, answered "no").
pub const STATUS_FAILURE: Status = 1;
/// Bad arguments.
pub const STATUS_USAGE: Status = 2;
/// The job was cancelled (128 + SIGINT).
pub const STATUS_INTERRUPTED: Status = 130;
/// The reader of stdout went away (128 + SIGPIPE).
pub const STATUS_BROKEN_PIPE: Status = 141;

/// The argument that asks any program for its usage.
pub const HELP_FLAG: &str = "--help";

/// Why a program stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A bad argument: what was wrong, and the argument (if there was one).
    Usage {
        problem: String,
        arg: Option<String>,
    },
    /// A failure to report on stderr as `NAME: message` (status 1).
    Failed(String),
    /// A stream failed: the job was cancelled or the pipe closed.
    Io(IoError),
}

/// The result of a program's body.
pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// A bad argument `arg`.
    pub fn usage(problem: impl Into<String>, arg: &str) -> Self {
        Error::Usage {
            problem: problem.into(),
            arg: Some(arg.into()),
        }
    }

    /// Something missing from the command line.
    pub fn missing(problem: impl Into<String>) -> Self {
        Error::Usage {
            problem: problem.into(),
            arg: None,
        }
    }

    /// A failure with a message.
    pub fn failed(message: impl fmt::Display) -> Self {
        Error::Failed(alloc::format!("{message}"))
    }
}

impl From<IoError> for Error {
    fn from(error: IoError) -> Self {
        Error::Io(error)
    }
}

/// Runs a program's body: answers `--help` first, then reports the body's error.
pub fn run(
    ctx: &mut Context<'_>,
    program: &Program,
    body: fn(&mut Context<'_>) -> Result<Status>,
) -> Status {
    if ctx.args().first().map(String::as_str) == Some(HELP_FLAG) {
        return match print_usage(ctx, program) {
            Ok(()) => STATUS_OK,
            Err(error) => report(ctx, program, error),
        };
    }
    match body(ctx) {
        Ok(status) => status,
        Err(error) => report(ctx, program, error),
    }
}

fn print_usage(ctx: &Context<'_>, program: &Program) -> Result<()> {
    write_str(&mut ctx.out(), program.usage)?;
    if !program.usage.ends_with('\n') {
        write_str(&mut ctx.out(), "\n")?;
    }
    Ok(())
}

/// Prints what went wrong on stderr and returns the status for it.
fn report(ctx: &Context<'_>, program: &Program, error: Error) -> Status {
    let name = program.name;
    let (message, status) = match error {
        Error::Usage { problem, arg } => {
            let usage_line = program.usage.lines().next().unwrap_or(name);
            let message = match arg {
                Some(arg) => alloc::format!("{name}: {problem} ('{arg}')\n{usage_line}\n"),
                None => alloc::format!("{name}: {problem}\n{usage_line}\n"),
            };
            (message, STATUS_USAGE)
        }
        Error::Failed(message) => (alloc::format!("{name}: {message}\n"), STATUS_FAILURE),
        Error::Io(IoError::Interrupted) => return STATUS_INTERRUPTED,
        Error::Io(IoError::BrokenPipe) => return STATUS_BROKEN_PIPE,
    };
    // Nothing more can be done if stderr itself fails.
    let _ = write_str(&mut ctx.err(), &message);
    status
}

/// Writes all of `text`.
pub fn write_str(writer: &mut impl Write<Error = IoError>, text: &str) -> Result<()> {
    writer.write_all(text.as_bytes()).map_err(Error::Io)
}

/// Formats `args` and writes them to stdout (used by [`out!`](crate::out)).
pub fn print(ctx: &Context<'_>, args: fmt::Arguments<'_>) -> Result<()> {
    write_str(&mut ctx.out(), &alloc::fmt::format(args))
}

/// Formats `args` and writes them to stderr (used by [`errln!`](crate::errln)).
pub fn eprint(ctx: &Context<'_>, args: fmt::Arguments<'_>) -> Result<()> {
    write_str(&mut ctx.err(), &alloc::fmt::format(args))
}

/// Writes a formatted line to stdout; evaluates to `cli::Result<()>`.
#[macro_export]
macro_rules! outln {
    ($ctx:expr, $($arg:tt)*) => {
        $crate::cli::print($ctx, format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes a formatted line to stderr; evaluates to `cli::Result<()>`.
#[macro_export]
macro_rules! errln {
    ($ctx:expr, $($arg:tt)*) => {
        $crate::cli::eprint($ctx, format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// The duration grammar rc uses too (`kiln_init::duration`): `1.5`, `500ms`, `2m`, `1h`.
pub use kiln_init::duration::parse_duration;

/// Parses a duration argument, or reports it as a usage error.
pub fn duration_arg(text: &str) -> Result<Duration> {
    parse_duration(text).ok_or_else(|| Error::usage("bad duration", text))
}

/// Fails with "unexpected argument" if any argument is left.
pub fn no_more_args(rest: &[String]) -> Result<()> {
    match rest.first() {
        Some(extra) => Err(Error::usage("unexpected argument", extra)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_duration_is_a_usage_error_naming_it() {
        // The grammar itself is tested in `kiln_init::duration`.
        assert_eq!(duration_arg("1.5"), Ok(Duration::from_millis(1500)));
        let error = duration_arg("5x").unwrap_err();
        assert_eq!(error, Error::usage("bad duration", "5x"));
    }
}
