//! Test-only fakes for running a program's `main` on the host.
//!
//! [`FakePlatform`] keeps a simulated clock: `park` jumps it to the deadline, so
//! `sleep 5s` returns at once with the clock 5 s later. [`FakeJob`] can be cancelled
//! at a simulated time. Stdout and stderr are captured by [`Capture`], stdin is a fixed
//! byte string. [`Run`] ties them together: configure, call [`Run::run`], inspect the
//! [`Outcome`].

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use kiln_init::platform::{Console, Fault, HeapStats, Platform, PowerAction, SpawnError, ThreadId};
use kiln_init::program::{
    BakedFile, ByteSource, Context, Input, IoError, JobLink, Output, Program, Status,
};
use spin::Mutex;

/// The only thread the fake has.
const FAKE_THREAD: ThreadId = 1;

/// A simulated monotonic clock shared by the platform and the job.
#[derive(Default)]
pub struct Clock {
    now: Mutex<Duration>,
}

impl Clock {
    pub fn now(&self) -> Duration {
        *self.now.lock()
    }

    pub fn advance_to(&self, time: Duration) {
        let mut now = self.now.lock();
        *now = (*now).max(time);
    }

    pub fn advance_by(&self, step: Duration) {
        *self.now.lock() += step;
    }
}

/// A platform with simulated time and no threads.
pub struct FakePlatform {
    pub clock: Arc<Clock>,
    /// Added to the clock by every `now()` (for busy loops such as `burn`).
    pub tick_per_read: Duration,
    pub heap: Option<HeapStats>,
    /// When the job gets cancelled: a `park` wakes up then, as a real one would.
    pub cancel_at: Option<Duration>,
    /// Faults the program asked for.
    pub faults: Mutex<Vec<Fault>>,
}

impl Platform for FakePlatform {
    fn now(&self) -> Duration {
        self.clock.advance_by(self.tick_per_read);
        self.clock.now()
    }

    fn current_thread(&self) -> ThreadId {
        FAKE_THREAD
    }

    fn park(&self, deadline: Option<Duration>) {
        let now = self.clock.now();
        let cancel = self.cancel_at.filter(|&at| at > now);
        let wake = match (deadline, cancel) {
            (Some(deadline), Some(cancel)) => Some(deadline.min(cancel)),
            (deadline, cancel) => deadline.or(cancel),
        };
        if let Some(wake) = wake {
            self.clock.advance_to(wake);
        }
    }

    fn unpark(&self, _thread: ThreadId) {}

    fn yield_now(&self) {}

    fn spawn(
        &self,
        _name: &str,
        _kind: kiln_init::platform::ThreadKind,
        _body: Box<dyn kiln_init::platform::ThreadBody>,
    ) -> Result<ThreadId, SpawnError> {
        Err(SpawnError::TooManyThreads)
    }

    fn raise_fault(&self, fault: Fault) {
        self.faults.lock().push(fault);
    }

    fn power(&self, _action: PowerAction) {}

    fn heap_stats(&self) -> Option<HeapStats> {
        self.heap
    }
}

/// A job that is cancelled once the simulated clock reaches `cancel_at`.
pub struct FakeJob {
    pub clock: Arc<Clock>,
    pub cancel_at: Option<Duration>,
    pub ready: AtomicBool,
}

impl JobLink for FakeJob {
    fn is_cancelled(&self) -> bool {
        self.cancel_at.is_some_and(|at| self.clock.now() >= at)
    }

    fn ready(&self) {
        self.ready.store(true, Ordering::SeqCst);
    }
}

/// A console that keeps everything written to it.
#[derive(Default)]
pub struct Capture {
    bytes: Mutex<Vec<u8>>,
}

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock()).into_owned()
    }
}

impl Console for Capture {
    fn write(&self, bytes: &[u8]) {
        self.bytes.lock().extend_from_slice(bytes);
    }
}

/// Stdin from a fixed byte string, handed out in small reads.
struct FixedInput {
    bytes: Mutex<(Vec<u8>, usize)>,
}

/// At most this many bytes per read, so programs see several reads.
const FAKE_READ_CHUNK: usize = 7;

impl ByteSource for FixedInput {
    fn read(&self, buf: &mut [u8], _job: &dyn JobLink) -> Result<usize, IoError> {
        let mut guard = self.bytes.lock();
        let (bytes, offset) = &mut *guard;
        let count = buf.len().min(bytes.len() - *offset).min(FAKE_READ_CHUNK);
        buf[..count].copy_from_slice(&bytes[*offset..*offset + count]);
        *offset += count;
        Ok(count)
    }

    fn close(&self) {}
}

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    pub status: Status,
    pub stdout: String,
    pub stderr: String,
    /// Simulated time the run took.
    pub elapsed: Duration,
    pub ready: bool,
    pub faults: Vec<Fault>,
}

/// A program run to configure.
pub struct Run {
    program: Program,
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
    files: &'static [BakedFile],
    heap: Option<HeapStats>,
    cancel_after: Option<Duration>,
    tick_per_read: Duration,
}

impl Run {
    pub fn new(program: Program, args: &[&str]) -> Self {
        Run {
            program,
            args: args.iter().map(|arg| arg.to_string()).collect(),
            stdin: None,
            files: &[],
            heap: None,
            cancel_after: None,
            tick_per_read: Duration::ZERO,
        }
    }

    pub fn stdin(mut self, bytes: &[u8]) -> Self {
        self.stdin = Some(bytes.to_vec());
        self
    }

    pub fn files(mut self, files: &'static [BakedFile]) -> Self {
        self.files = files;
        self
    }

    pub fn heap(mut self, stats: HeapStats) -> Self {
        self.heap = Some(stats);
        self
    }

    pub fn cancel_after(mut self, time: Duration) -> Self {
        self.cancel_after = Some(time);
        self
    }

    pub fn tick_per_read(mut self, tick: Duration) -> Self {
        self.tick_per_read = tick;
        self
    }

    pub fn run(self) -> Outcome {
        let clock = Arc::new(Clock::default());
        let platform = FakePlatform {
            clock: clock.clone(),
            tick_per_read: self.tick_per_read,
            heap: self.heap,
            cancel_at: self.cancel_after,
            faults: Mutex::new(Vec::new()),
        };
        let job = FakeJob {
            clock: clock.clone(),
            cancel_at: self.cancel_after,
            ready: AtomicBool::new(false),
        };
        let stdout = Arc::new(Capture::default());
        let stderr = Arc::new(Capture::default());
        let stdin = match self.stdin {
            Some(bytes) => Input::Source(Arc::new(FixedInput {
                bytes: Mutex::new((bytes, 0)),
            })),
            None => Input::Null,
        };
        let mut argv = alloc::vec![self.program.name.to_string()];
        argv.extend(self.args);
        let stdout_output = Output::Console(stdout.clone());
        let stderr_output = Output::Console(stderr.clone());
        let mut ctx = Context {
            argv: &argv,
            env: &[],
            stdin: &stdin,
            stdout: &stdout_output,
            stderr: &stderr_output,
            platform: &platform,
            job: &job,
            files: self.files,
            programs: crate::PROGRAMS,
        };
        let status = (self.program.main)(&mut ctx);
        Outcome {
            status,
            stdout: stdout.text(),
            stderr: stderr.text(),
            elapsed: clock.now(),
            ready: job.ready.load(Ordering::SeqCst),
            faults: platform.faults.lock().clone(),
        }
    }
}

/// Runs `program` with `args` and nothing else configured.
pub fn run(program: Program, args: &[&str]) -> Outcome {
    Run::new(program, args).run()
}

/// The files in the repository's `files/` folder that tests use.
pub const BAKED_FILES: &[BakedFile] = &[
    BakedFile {
        name: "bad.rules",
        contents: include_bytes!("../../files/bad.rules"),
    },
    BakedFile {
        name: "default.rules",
        contents: include_bytes!("../../files/default.rules"),
    },
    BakedFile {
        name: "rc",
        contents: include_bytes!("../../files/rc"),
    },
];
