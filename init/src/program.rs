//! The program API: what a baked program is written against.
//!
//! A program is a function from a [`Context`] to an exit status. The context gives it
//! argv, env, stdin/stdout/stderr as embedded-io streams, time, `sleep`, `ready()` and
//! cancellation. Blocking calls return [`IoError::Interrupted`] once the job is
//! cancelled (Ctrl-C, `kill`). Programs share one address space: they must not keep
//! global state between runs (BusyBox's NOFORK rules).

use alloc::string::String;
use alloc::sync::Arc;
use core::fmt;
use core::time::Duration;

use crate::platform::{Console, Platform};

pub use crate::platform::Status;

/// A file baked into the image at build time (rc scripts, rulesets).
#[derive(Debug, Clone, Copy)]
pub struct BakedFile {
    pub name: &'static str,
    pub contents: &'static [u8],
}

/// Finds a baked file by name, given as `NAME` or as its path `/NAME` (how ELF programs
/// see it).
pub fn find_file<'f>(files: &'f [BakedFile], name: &str) -> Option<&'f BakedFile> {
    let name = name.strip_prefix('/').unwrap_or(name);
    files.iter().find(|file| file.name == name)
}

/// A baked program: its name, one-line description, usage, and entry point.
#[derive(Clone, Copy)]
pub struct Program {
    pub name: &'static str,
    /// One line, shown by `programs`.
    pub about: &'static str,
    /// Shown by `NAME --help` and `help NAME`.
    pub usage: &'static str,
    pub main: fn(&mut Context<'_>) -> Status,
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program").field("name", &self.name).finish()
    }
}

/// Finds a program by name.
pub fn find<'r>(registry: &'r [Program], name: &str) -> Option<&'r Program> {
    registry.iter().find(|p| p.name == name)
}

/// Fails compilation (when used in a `const`) if two programs share a name.
pub const fn assert_unique_names(registry: &[Program]) {
    let mut i = 0;
    while i < registry.len() {
        let mut j = i + 1;
        while j < registry.len() {
            if str_eq(registry[i].name, registry[j].name) {
                panic!("two baked programs share a name; each name in the registry must be unique");
            }
            j += 1;
        }
        i += 1;
    }
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Errors of a program's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoError {
    /// The job was cancelled while blocked.
    Interrupted,
    /// The reading end of a pipe is gone.
    BrokenPipe,
}

impl embedded_io::Error for IoError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self {
            IoError::Interrupted => embedded_io::ErrorKind::Interrupted,
            IoError::BrokenPipe => embedded_io::ErrorKind::BrokenPipe,
        }
    }
}

impl core::error::Error for IoError {}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoError::Interrupted => "interrupted",
            IoError::BrokenPipe => "broken pipe",
        })
    }
}

/// The job a program runs in, as the program sees it.
pub trait JobLink: Send + Sync {
    /// True once the job has been cancelled.
    fn is_cancelled(&self) -> bool;
    /// Tells `start` that the program is ready.
    fn ready(&self);
    /// True if the cancel was an interrupt (Ctrl-C, as SIGINT), not a `kill` (SIGTERM):
    /// for programs that end with the status of the signal, as Linux programs do.
    fn interrupted(&self) -> bool {
        false
    }
}

/// Something a job can write bytes into (the write end of a pipe).
pub trait ByteSink: Send + Sync {
    /// Writes some bytes, blocking while full; returns how many were taken.
    fn write(&self, bytes: &[u8], job: &dyn JobLink) -> Result<usize, IoError>;
    /// The writer is done: the reader sees end of file once the buffer drains.
    fn close(&self);
}

/// Something a job can read bytes from (the read end of a pipe).
pub trait ByteSource: Send + Sync {
    /// Reads some bytes, blocking while empty; `Ok(0)` is end of file.
    fn read(&self, buf: &mut [u8], job: &dyn JobLink) -> Result<usize, IoError>;
    /// The reader is gone: writers get `BrokenPipe`.
    fn close(&self);
}

/// Where a job's stdout or stderr goes.
#[derive(Clone)]
pub enum Output {
    /// Discarded.
    Null,
    /// A console (serial or VGA).
    Console(Arc<dyn Console>),
    /// A pipe or another sink.
    Sink(Arc<dyn ByteSink>),
}

/// Where a job's stdin comes from.
#[derive(Clone)]
pub enum Input {
    /// End of file at once.
    Null,
    /// A pipe or another source.
    Source(Arc<dyn ByteSource>),
}

/// What a running program gets.
///
/// Everything is borrowed from the job's thread body, which the platform keeps off the
/// program's stack and drops however the program ends (see
/// [`crate::platform::ThreadBody`]). A program must not clone the `Arc`s inside
/// `stdin`/`stdout`/`stderr` into values of its own: a clone left on its stack when it
/// dies (a panic, `kill -9`) would keep the pipe or console alive for good.
pub struct Context<'a> {
    /// argv[0] is the program's name.
    pub argv: &'a [String],
    /// The job's environment, `NAME=value` pairs in order.
    pub env: &'a [(String, String)],
    pub stdin: &'a Input,
    pub stdout: &'a Output,
    pub stderr: &'a Output,
    pub platform: &'a dyn Platform,
    pub job: &'a dyn JobLink,
    /// Files baked into the image.
    pub files: &'static [BakedFile],
    /// Every baked program (for `programs`).
    pub programs: &'static [Program],
}

impl<'a> Context<'a> {
    /// The arguments after argv[0].
    pub fn args(&self) -> &[String] {
        self.argv.get(1..).unwrap_or(&[])
    }

    /// The value of an environment variable.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Monotonic time since boot.
    pub fn now(&self) -> Duration {
        self.platform.now()
    }

    /// True once the job has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.job.is_cancelled()
    }

    /// Tells `start` that the program is ready.
    pub fn ready(&self) {
        self.job.ready()
    }

    /// Sleeps for `duration`, or until the job is cancelled.
    pub fn sleep(&self, duration: Duration) -> Result<(), IoError> {
        let deadline = self.platform.now() + duration;
        loop {
            if self.job.is_cancelled() {
                return Err(IoError::Interrupted);
            }
            if self.platform.now() >= deadline {
                return Ok(());
            }
            self.platform.park(Some(deadline));
        }
    }

    /// A writer for stdout (embedded-io `Write` and `core::fmt::Write`).
    pub fn out(&self) -> Writer<'_> {
        Writer {
            output: self.stdout,
            job: self.job,
        }
    }

    /// A writer for stderr.
    pub fn err(&self) -> Writer<'_> {
        Writer {
            output: self.stderr,
            job: self.job,
        }
    }

    /// A reader for stdin (embedded-io `Read`).
    pub fn input(&self) -> Reader<'_> {
        Reader {
            input: self.stdin,
            job: self.job,
        }
    }
}

/// Writes to a job's stdout or stderr.
pub struct Writer<'a> {
    output: &'a Output,
    job: &'a dyn JobLink,
}

impl<'a> Writer<'a> {
    /// A writer for `output` on behalf of `job` (outside a `Context`: a platform's
    /// report of how a process it ran ended).
    pub fn new(output: &'a Output, job: &'a dyn JobLink) -> Self {
        Writer { output, job }
    }
}

impl embedded_io::ErrorType for Writer<'_> {
    type Error = IoError;
}

/// Bytes of formatted text [`Writer::write_formatted`] gathers before it writes: a
/// longer `writeln!` goes out in pieces of about this size.
const FORMAT_BUFFER: usize = 256;

/// Formatted text on its way to a [`Writer`], gathered on the stack (a program at the
/// end of its memory can still print).
struct Gather<'w, 'a> {
    writer: &'w mut Writer<'a>,
    buffer: [u8; FORMAT_BUFFER],
    len: usize,
    /// The writer's error, kept for embedded-io's `write_fmt`.
    error: Option<IoError>,
}

impl Gather<'_, '_> {
    fn flush(&mut self) -> Result<(), IoError> {
        let len = core::mem::take(&mut self.len);
        if len == 0 {
            return Ok(());
        }
        embedded_io::Write::write_all(self.writer, &self.buffer[..len])
    }

    fn push(&mut self, text: &str) -> Result<(), IoError> {
        if self.len + text.len() > FORMAT_BUFFER {
            self.flush()?;
            if text.len() > FORMAT_BUFFER {
                return embedded_io::Write::write_all(self.writer, text.as_bytes());
            }
        }
        self.buffer[self.len..self.len + text.len()].copy_from_slice(text.as_bytes());
        self.len += text.len();
        Ok(())
    }
}

impl fmt::Write for Gather<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.push(text).map_err(|error| {
            self.error = Some(error);
            fmt::Error
        })
    }
}

impl Writer<'_> {
    /// Writes `args` with one write when the text fits [`FORMAT_BUFFER`]: a `writeln!`
    /// is then one write to the console or pipe, so the lines of jobs that share a
    /// console never interleave inside a line (as a C program's stdio writes a
    /// terminal line at once). `Err(None)` is a formatting error.
    fn write_formatted(&mut self, args: fmt::Arguments<'_>) -> Result<(), Option<IoError>> {
        let mut gather = Gather {
            writer: self,
            buffer: [0; FORMAT_BUFFER],
            len: 0,
            error: None,
        };
        let formatted = fmt::write(&mut gather, args);
        match (formatted, gather.error.take()) {
            (_, Some(error)) => Err(Some(error)),
            (Err(_), None) => Err(None),
            (Ok(()), None) => gather.flush().map_err(Some),
        }
    }
}

impl embedded_io::Write for Writer<'_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, IoError> {
        match self.output {
            Output::Null => Ok(buf.len()),
            Output::Console(console) => {
                console.write(buf);
                Ok(buf.len())
            }
            Output::Sink(sink) => sink.write(buf, self.job),
        }
    }

    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }

    fn write_fmt(
        &mut self,
        args: fmt::Arguments<'_>,
    ) -> Result<(), embedded_io::WriteFmtError<IoError>> {
        self.write_formatted(args).map_err(|error| match error {
            Some(error) => embedded_io::WriteFmtError::Other(error),
            None => embedded_io::WriteFmtError::FmtError,
        })
    }
}

impl fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        embedded_io::Write::write_all(self, s.as_bytes()).map_err(|_| fmt::Error)
    }

    fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> fmt::Result {
        self.write_formatted(args).map_err(|_| fmt::Error)
    }
}

/// Reads a job's stdin.
pub struct Reader<'a> {
    input: &'a Input,
    job: &'a dyn JobLink,
}

impl embedded_io::ErrorType for Reader<'_> {
    type Error = IoError;
}

impl embedded_io::Read for Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        match self.input {
            Input::Null => Ok(0),
            Input::Source(source) => source.read(buf, self.job),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nothing(_: &mut Context<'_>) -> Status {
        0
    }

    const A: Program = Program {
        name: "a",
        about: "",
        usage: "",
        main: nothing,
    };

    #[test]
    fn finds_programs_by_name() {
        let registry = [A];
        assert_eq!(find(&registry, "a").map(|p| p.name), Some("a"));
        assert!(find(&registry, "b").is_none());
    }

    /// A console that keeps each write apart.
    #[derive(Default)]
    struct Writes(std::sync::Mutex<std::vec::Vec<std::vec::Vec<u8>>>);

    impl Console for Writes {
        fn write(&self, bytes: &[u8]) {
            self.0.lock().unwrap().push(bytes.to_vec());
        }
    }

    struct NoJob;

    impl JobLink for NoJob {
        fn is_cancelled(&self) -> bool {
            false
        }
        fn ready(&self) {}
    }

    #[test]
    fn a_formatted_line_is_one_write() {
        let console = Arc::new(Writes::default());
        let output = Output::Console(console.clone());
        let mut writer = Writer::new(&output, &NoJob);
        // Both traits' macros: core::fmt's and embedded-io's.
        fmt::Write::write_fmt(&mut writer, format_args!("run {} of {}\n", 1, 2)).unwrap();
        embedded_io::Write::write_fmt(&mut writer, format_args!("{}-{}\n", "a", 3)).unwrap();
        embedded_io::Write::write_fmt(&mut writer, format_args!("plain\n")).unwrap();
        let writes = console.0.lock().unwrap().clone();
        assert_eq!(
            writes,
            [
                b"run 1 of 2\n".to_vec(),
                b"a-3\n".to_vec(),
                b"plain\n".to_vec()
            ]
        );
    }

    #[test]
    fn a_line_longer_than_the_buffer_goes_out_whole_in_pieces() {
        let console = Arc::new(Writes::default());
        let output = Output::Console(console.clone());
        let mut writer = Writer::new(&output, &NoJob);
        let long = "x".repeat(FORMAT_BUFFER + 100);
        fmt::Write::write_fmt(&mut writer, format_args!("{}{long}{}\n", "<", ">")).unwrap();
        let writes = console.0.lock().unwrap().clone();
        assert!(writes.len() > 1, "{} writes", writes.len());
        assert!(writes.iter().all(|w| w.len() <= FORMAT_BUFFER + 100));
        assert_eq!(writes.concat(), alloc::format!("<{long}>\n").into_bytes());
    }

    #[test]
    fn duplicate_names_are_detected() {
        assert!(str_eq("fw", "fw"));
        assert!(!str_eq("fw", "fx"));
        let result = std::panic::catch_unwind(|| assert_unique_names(&[A, A]));
        assert!(result.is_err());
    }
}
