//! The job table and job control.
//!
//! A [`Job`] is one task running on its own platform thread: a baked program, a
//! background `{ }` group, or a `respawn` supervisor. The [`JobTable`] numbers jobs
//! `%1`, `%2`, … and finds them by id or by program name (the most recent one wins).
//! A job is `Arc`-shared between the table, its waiters and its running thread, to
//! which it is the [`JobLink`] (`is_cancelled`, `ready`).
//!
//! How it works:
//! - [`JobTable::spawn`] runs a [`Task`] with [`Platform::spawn`]. When the task returns
//!   the job becomes [`JobState::Done`]; when the platform aborts the thread (panic, CPU
//!   fault, `kill -9`), `on_abort` makes it [`JobState::Faulted`] (or [`JobState::Killed`]
//!   after [`Job::kill`]). Either way the job's pipe ends ([`PipeEnd`]) are closed and
//!   every waiter is unparked.
//! - Waiting ([`Job::wait`]) registers the waiting thread once for the whole wait and
//!   parks; `finish`/`ready` unpark every registered waiter. With park/unpark's token
//!   semantics no wake-up is lost.
//! - Cancellation is cooperative ([`Job::cancel`]): it sets a flag and unparks the
//!   job's thread, so blocking calls return `IoError::Interrupted`. It cascades to the
//!   job's children (the jobs a background group or a supervisor started).
//!   [`Job::kill`] is `kill -9`: the platform ends the thread.
//! - [`respawn_task`] restarts a program on a non-zero exit; see [`RespawnPolicy`].

pub mod pipe;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use crate::platform::{
    Abort, Console, Platform, SpawnError, Status, ThreadBody, ThreadId, ThreadKind, kernel_owned,
};
use crate::program::{BakedFile, ByteSink, ByteSource, Context, Input, JobLink, Output, Program};

/// A job's number: `%1` is 1.
pub type JobId = u32;

/// The status of a job ended by `kill -9`, as sh reports it (128 + SIGKILL).
pub const KILLED_STATUS: Status = 137;
/// How long a program asked to stop (Ctrl-C, `kill`) may take before it is ended
/// forcibly, as `kill -9` does.
pub const KILL_GRACE: Duration = Duration::from_secs(1);

/// Everything that can go wrong while running rc (jobs and the interpreter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A `%N` or NAME that names no job.
    NoSuchJob(String),
    /// A command word that names no program or built-in.
    NoSuchProgram(String),
    /// `source NAME` with no baked file NAME.
    NoSuchFile(String),
    /// The platform could not start a thread for the job.
    Spawn { name: String, error: SpawnError },
    /// `poweroff` with a status that is not a number from 0 to 255.
    BadStatus(String),
    /// A name that two numbered jobs run.
    AmbiguousJob {
        spec: String,
        numbers: Vec<JobNumber>,
    },
    /// A caller's built-in (e.g. the shell's `jobs`) used as one stage of a pipeline.
    BuiltinInPipeline(String),
    /// A baked script that does not parse; the message is the parser's.
    Parse(String),
    /// `source` nested deeper than [`crate::exec::MAX_SOURCE_DEPTH`].
    SourceTooDeep(String),
    /// `shell` where no interactive shell can run (a background group, or no hook).
    NoShell,
}

impl Error {
    /// The status a command failing with this error gets (127: "not found").
    pub fn status(&self) -> Status {
        match self {
            Error::AmbiguousJob { .. } => crate::exec::SYNTAX_ERROR_STATUS,
            Error::NoSuchJob(_) | Error::NoSuchProgram(_) | Error::NoSuchFile(_) => {
                crate::exec::NOT_FOUND_STATUS
            }
            Error::NoShell => crate::exec::NOT_FOUND_STATUS,
            Error::Spawn { .. } => crate::exec::CANNOT_RUN_STATUS,
            Error::BadStatus(_) | Error::BuiltinInPipeline(_) => crate::exec::SYNTAX_ERROR_STATUS,
            Error::Parse(_) | Error::SourceTooDeep(_) => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoSuchJob(spec) => write!(f, "no such job '{spec}'"),
            Error::AmbiguousJob { spec, numbers } => {
                write!(f, "'{spec}' names more than one job:")?;
                for number in numbers {
                    write!(f, " %{number}")?;
                }
                f.write_str(" (use %N)")
            }
            Error::NoSuchProgram(name) => write!(f, "unknown program '{name}'"),
            Error::NoSuchFile(name) => write!(f, "no baked file '{name}'"),
            Error::Spawn { name, error } => {
                let why = match error {
                    SpawnError::OutOfMemory => "out of memory",
                    SpawnError::TooManyThreads => "too many threads",
                };
                write!(f, "cannot start '{name}': {why}")
            }
            Error::BadStatus(text) => write!(f, "poweroff: bad status '{text}' (0 to 255)"),
            Error::BuiltinInPipeline(name) => write!(f, "'{name}' cannot be used in a pipeline"),
            Error::Parse(message) => f.write_str(message),
            Error::SourceTooDeep(name) => write!(f, "source '{name}': nested too deeply"),
            Error::NoShell => f.write_str("no interactive shell here"),
        }
    }
}

impl core::error::Error for Error {}

/// Results of job control and the interpreter.
pub type Result<T> = core::result::Result<T, Error>;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Started and running.
    Running,
    /// Running, and the program said it is ready (`ctx.ready()`, for `start`).
    Ready,
    /// Stopped by Ctrl-Z ([`Job::suspend`]): not scheduled until `fg` or `bg`.
    Stopped,
    /// Returned with this status.
    Done(Status),
    /// Ended by `kill -9`.
    Killed,
    /// Ended by a panic or CPU fault, with its status (101, 128 + vector).
    Faulted(Status),
}

impl JobState {
    /// True once the job has ended, however.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Done(_) | JobState::Killed | JobState::Faulted(_)
        )
    }

    /// The exit status once finished.
    pub fn status(self) -> Option<Status> {
        match self {
            JobState::Running | JobState::Ready | JobState::Stopped => None,
            JobState::Done(status) | JobState::Faulted(status) => Some(status),
            JobState::Killed => Some(KILLED_STATUS),
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobState::Running => f.write_str("running"),
            JobState::Ready => f.write_str("ready"),
            JobState::Stopped => f.write_str("stopped"),
            JobState::Done(status) => write!(f, "done({status})"),
            JobState::Killed => f.write_str("killed"),
            JobState::Faulted(status) => write!(f, "faulted({status})"),
        }
    }
}

/// A pipe end a job owns: closed when the job ends, so its neighbours see end of file
/// or a broken pipe.
#[derive(Clone)]
pub enum PipeEnd {
    Reader(Arc<dyn ByteSource>),
    Writer(Arc<dyn ByteSink>),
}

impl PipeEnd {
    /// Closes this end.
    pub fn close(&self) {
        match self {
            PipeEnd::Reader(reader) => reader.close(),
            PipeEnd::Writer(writer) => writer.close(),
        }
    }
}

/// A job's stdin, stdout and stderr.
#[derive(Clone)]
pub struct Stdio {
    pub stdin: Input,
    pub stdout: Output,
    pub stderr: Output,
}

impl Stdio {
    /// No input; output and errors to `console`.
    pub fn console(console: Arc<dyn Console>) -> Self {
        Stdio {
            stdin: Input::Null,
            stdout: Output::Console(console.clone()),
            stderr: Output::Console(console),
        }
    }
}

/// What a job's thread runs; its return value is the job's status.
///
/// A task runs once. It is `FnMut` rather than `FnOnce` so that what it captures stays
/// in the thread body on the heap while it runs (see [`ThreadBody`]) instead of moving
/// onto the thread's stack, where a program that dies would strand it.
pub struct Task {
    kind: ThreadKind,
    run: TaskFn,
    /// Where an abort report goes, known before the thread runs: a `kill -9` may land
    /// before its first instruction.
    stderr: Option<Output>,
}

/// The work of a [`Task`].
type TaskFn = Box<dyn FnMut(&Arc<Job>) -> Status + Send + 'static>;

impl Task {
    /// A baked program's task (see [`ThreadKind::Program`]).
    pub fn program(run: impl FnMut(&Arc<Job>) -> Status + Send + 'static) -> Task {
        Task {
            kind: ThreadKind::Program,
            run: Box::new(run),
            stderr: None,
        }
    }

    /// init's own work on a job thread: a background group, a supervisor
    /// (see [`ThreadKind::Kernel`]).
    pub fn kernel(run: impl FnMut(&Arc<Job>) -> Status + Send + 'static) -> Task {
        Task {
            kind: ThreadKind::Kernel,
            run: Box::new(run),
            stderr: None,
        }
    }
}

/// What a wait waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// The job's end.
    Exit,
    /// The job's `ready()` or its end, whichever comes first (`start`).
    ReadyOrExit,
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The job ended in this state.
    Finished(JobState),
    /// The job called `ready()` (only with [`WaitFor::ReadyOrExit`]).
    Ready,
    /// The deadline passed first.
    TimedOut,
    /// The waiter's `stop` poll said to give up.
    Interrupted,
}

/// A job's mutable part.
struct JobInner {
    state: JobState,
    ended: Option<Duration>,
    thread: Option<ThreadId>,
    /// Threads waiting for a state change; each registered once per wait.
    waiters: Vec<ThreadId>,
    /// Jobs this job started (a background group's jobs, a supervisor's runs).
    children: Vec<Arc<Job>>,
    kill_requested: bool,
    /// The program's stderr, for an abort report.
    stderr: Option<Output>,
    /// Whose code the job's thread runs, once launched.
    kind: ThreadKind,
}

/// One job: a task on its own thread. See the module docs.
pub struct Job {
    id: JobId,
    name: String,
    argv: Vec<String>,
    started: Duration,
    platform: &'static dyn Platform,
    cancelled: AtomicBool,
    /// Started in the background (`&`, `start`, `respawn`): announced when it ends.
    background: AtomicBool,
    /// Stopped by Ctrl-Z until `fg` or `bg` ([`Job::suspend`]).
    stopped: AtomicBool,
    /// Cancelled by Ctrl-C ([`Job::interrupt`]) rather than by `kill`.
    interrupted: AtomicBool,
    inner: crate::sync::Mutex<JobInner>,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("state", &self.state())
            .finish()
    }
}

impl Job {
    /// A job that has not started yet; [`JobTable::spawn`] and [`launch`] start it.
    /// Id 0 is for jobs outside any table (a supervisor's runs).
    pub fn new(
        platform: &'static dyn Platform,
        id: JobId,
        name: &str,
        argv: Vec<String>,
    ) -> Arc<Job> {
        Arc::new(Job {
            id,
            name: String::from(name),
            argv,
            started: platform.now(),
            platform,
            cancelled: AtomicBool::new(false),
            background: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            interrupted: AtomicBool::new(false),
            inner: crate::sync::Mutex::new(JobInner {
                state: JobState::Running,
                ended: None,
                thread: None,
                waiters: Vec::new(),
                children: Vec::new(),
                kill_requested: false,
                stderr: None,
                kind: ThreadKind::Kernel,
            }),
        })
    }

    /// Where an abort report goes: the program's stderr, once it has started.
    fn set_stderr(&self, stderr: Output) {
        self.inner.lock().stderr = Some(stderr);
    }

    pub fn id(&self) -> JobId {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// Marks the job as started in the background (`&`), or brought to the
    /// foreground (`fg`).
    pub fn set_background(&self, background: bool) {
        self.background.store(background, Ordering::Relaxed);
    }

    /// True for a job started in the background (`&`, `start`, `respawn`).
    pub fn is_background(&self) -> bool {
        self.background.load(Ordering::Relaxed)
    }

    /// When the job started (platform time).
    pub fn started(&self) -> Duration {
        self.started
    }

    /// When the job ended, once it has.
    pub fn ended(&self) -> Option<Duration> {
        self.inner.lock().ended
    }

    /// The job's thread, once known.
    pub fn thread(&self) -> Option<ThreadId> {
        self.inner.lock().thread
    }

    pub fn state(&self) -> JobState {
        self.shown_state(self.inner.lock().state)
    }

    /// `state` as listings show it: a stopped job that has not ended is Stopped.
    fn shown_state(&self, state: JobState) -> JobState {
        if self.stopped.load(Ordering::SeqCst) && !state.is_finished() {
            JobState::Stopped
        } else {
            state
        }
    }

    /// Ctrl-Z: stops the job's program thread (and its children's) until [`Job::resume`];
    /// a stopped thread is not scheduled, so it costs no CPU. A job that runs init's own
    /// code (a group) is marked stopped and its children stop. Returns false if
    /// nothing was left to stop.
    pub fn suspend(&self) -> bool {
        let (thread, children, kind) = {
            let inner = self.inner.lock();
            if inner.state.is_finished() {
                return false;
            }
            (inner.thread, inner.children.clone(), inner.kind)
        };
        let mut stopped = match (thread, kind) {
            (Some(thread), ThreadKind::Program) => self.platform.stop(thread),
            (Some(_), ThreadKind::Kernel) => true,
            (None, _) => false,
        };
        for child in children {
            stopped |= child.suspend();
        }
        if stopped {
            self.stopped.store(true, Ordering::SeqCst);
        }
        stopped
    }

    /// `fg` and `bg`: lets a job stopped by [`Job::suspend`] run again.
    pub fn resume(&self) {
        if !self.stopped.swap(false, Ordering::SeqCst) {
            return;
        }
        let (thread, children, kind) = {
            let inner = self.inner.lock();
            (inner.thread, inner.children.clone(), inner.kind)
        };
        if let (Some(thread), ThreadKind::Program) = (thread, kind) {
            self.platform.resume(thread);
        }
        for child in children {
            child.resume();
        }
    }

    /// True while the job is stopped and has not ended.
    pub fn is_stopped(&self) -> bool {
        self.state() == JobState::Stopped
    }

    /// The exit status once finished.
    pub fn status(&self) -> Option<Status> {
        self.state().status()
    }

    /// A snapshot for listings.
    pub fn info(&self) -> JobInfo {
        let inner = self.inner.lock();
        JobInfo {
            id: self.id,
            name: self.name.clone(),
            argv: self.argv.clone(),
            state: self.shown_state(inner.state),
            started: self.started,
            ended: inner.ended,
            thread: inner.thread,
        }
    }

    fn set_thread(&self, thread: ThreadId) {
        self.inner.lock().thread = Some(thread);
    }

    /// Asks the job to stop: sets the flag its blocking calls observe, unparks its
    /// thread, and cancels its children. Idempotent. A program that ignores it runs on;
    /// see [`Job::terminate`].
    pub fn cancel(&self) {
        self.stop(false);
    }

    /// Ctrl-C and `kill`: [`Job::cancel`], and a program (this job's or a child's) that
    /// has not ended within [`KILL_GRACE`] is ended forcibly, as `kill -9` does.
    pub fn terminate(&self) {
        self.stop(true);
    }

    /// Ctrl-C: [`Job::terminate`], remembered as an interrupt (SIGINT) for this job and
    /// its children, where `kill` is a termination (SIGTERM).
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        for child in self.inner.lock().children.clone() {
            child.interrupted.store(true, Ordering::SeqCst);
        }
        self.terminate();
    }

    fn stop(&self, force_after_grace: bool) {
        let (thread, children, kind) = {
            let mut inner = self.inner.lock();
            self.cancelled.store(true, Ordering::SeqCst);
            // A forced end after the grace period is a kill, as `kill -9` is.
            inner.kill_requested |= force_after_grace;
            (inner.thread, inner.children.clone(), inner.kind)
        };
        // A stopped job must run to see the cancel (sh sends SIGCONT after SIGTERM).
        self.resume();
        if let Some(thread) = thread {
            self.platform.unpark(thread);
            if force_after_grace && kind == ThreadKind::Program && !self.state().is_finished() {
                self.platform.kill_after(thread, KILL_GRACE);
            }
        }
        for child in children {
            child.stop(force_after_grace);
        }
    }

    /// `kill -9`: ends the job's program thread (and its children's) without their
    /// cooperation. A job that runs init's own code (a group, a supervisor) is cancelled
    /// instead, and ends once its children have. Returns false if the platform cannot
    /// or nothing was left to end.
    pub fn kill(&self) -> bool {
        let (thread, children, kind) = {
            let mut inner = self.inner.lock();
            if inner.state.is_finished() {
                return false;
            }
            inner.kill_requested = true;
            (inner.thread, inner.children.clone(), inner.kind)
        };
        self.cancelled.store(true, Ordering::SeqCst);
        let mut killed = match (thread, kind) {
            (Some(thread), ThreadKind::Program) => self.platform.kill(thread),
            (Some(thread), ThreadKind::Kernel) => {
                self.platform.unpark(thread);
                true
            }
            (None, _) => false,
        };
        for child in children {
            killed |= child.kill();
        }
        killed
    }

    /// Makes `child` end with this job: cancelling or killing this job does the same to
    /// it. A child of a cancelled job is cancelled at once.
    pub fn adopt(&self, child: Arc<Job>) {
        let cancelled = {
            let mut inner = self.inner.lock();
            inner.children.retain(|c| !c.state().is_finished());
            inner.children.push(child.clone());
            self.cancelled.load(Ordering::SeqCst)
        };
        if cancelled {
            child.cancel();
        }
    }

    /// Records the end (first call wins) and wakes the waiters.
    fn finish(&self, state: JobState) {
        let waiters = {
            let mut inner = self.inner.lock();
            if inner.state.is_finished() {
                return;
            }
            inner.state = state;
            inner.ended = Some(self.platform.now());
            inner.waiters.clone()
        };
        self.wake(waiters);
    }

    fn wake(&self, waiters: Vec<ThreadId>) {
        for thread in waiters {
            self.platform.unpark(thread);
        }
    }

    /// Blocks the calling thread until `what` happens, `deadline` passes, or `stop()`
    /// says to give up. Whoever makes `stop()` true must unpark the waiting thread.
    pub fn wait(
        &self,
        what: WaitFor,
        deadline: Option<Duration>,
        stop: &dyn Fn() -> bool,
    ) -> WaitOutcome {
        let me = self.platform.current_thread();
        self.inner.lock().waiters.push(me);
        let outcome = loop {
            let state = self.state();
            if state.is_finished() {
                break WaitOutcome::Finished(state);
            }
            if what == WaitFor::ReadyOrExit && state == JobState::Ready {
                break WaitOutcome::Ready;
            }
            if stop() {
                break WaitOutcome::Interrupted;
            }
            if deadline.is_some_and(|d| self.platform.now() >= d) {
                break WaitOutcome::TimedOut;
            }
            self.platform.park(deadline);
        };
        let mut inner = self.inner.lock();
        if let Some(at) = inner.waiters.iter().position(|&t| t == me) {
            inner.waiters.swap_remove(at);
        }
        outcome
    }

    /// Waits for the end, without deadline or interruption, and returns the status.
    pub fn join(&self) -> Status {
        match self.wait(WaitFor::Exit, None, &|| false) {
            WaitOutcome::Finished(state) => state.status().unwrap_or(0),
            _ => unreachable!("an unbounded, uninterruptible wait only ends with the job"),
        }
    }
}

impl JobLink for Job {
    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    fn ready(&self) {
        let waiters = {
            let mut inner = self.inner.lock();
            if inner.state != JobState::Running {
                return;
            }
            inner.state = JobState::Ready;
            inner.waiters.clone()
        };
        self.wake(waiters);
    }
}

/// A job as listings (`jobs`, `ps`) show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    pub id: JobId,
    pub name: String,
    pub argv: Vec<String>,
    pub state: JobState,
    pub started: Duration,
    pub ended: Option<Duration>,
    pub thread: Option<ThreadId>,
}

impl JobInfo {
    /// `NAME ARGS` as typed (arguments quoted where they need it).
    pub fn command_line(&self) -> String {
        match self.argv.split_first() {
            Some((first, args)) if *first == self.name => {
                let mut line = self.name.clone();
                for arg in args {
                    line.push(' ');
                    line.push_str(&crate::rc::printer::quote_word(arg));
                }
                line
            }
            _ => self.name.clone(),
        }
    }
}

/// A job's thread body: the job, its task and the pipe ends it owns, kept on the heap
/// by the platform for the thread's whole life (see [`ThreadBody`]).
///
/// The job's end is recorded (and its waiters woken) when the body is dropped, which
/// the platform does last, once the thread's stack and memory are back.
struct JobThread {
    job: Arc<Job>,
    run: TaskFn,
    /// Closed when the job ends, by whichever of `run` and `aborted` gets there.
    owned: Vec<PipeEnd>,
    /// How the job ended, once it has; recorded when the body is dropped.
    end: Option<JobState>,
}

impl JobThread {
    fn close_owned(&mut self) {
        for end in core::mem::take(&mut self.owned) {
            end.close();
        }
    }
}

/// Closes the pipe ends (also of a body whose thread never started) and records the
/// end.
impl Drop for JobThread {
    fn drop(&mut self) {
        self.close_owned();
        if let Some(state) = self.end.take() {
            self.job.finish(state);
        }
    }
}

impl ThreadBody for JobThread {
    fn run(&mut self) {
        self.job.set_thread(self.job.platform.current_thread());
        let status = (self.run)(&self.job);
        self.close_owned();
        self.end = Some(JobState::Done(status));
    }

    fn aborted(&mut self, abort: Abort) {
        self.close_owned();
        let job = &self.job;
        let status = abort.status;
        let stderr = job.inner.lock().stderr.take();
        let line = format!("{}: {}\n", job.name, abort.report);
        match stderr {
            Some(Output::Console(console)) => console.write(line.as_bytes()),
            Some(Output::Sink(sink)) => {
                let _ = sink.write(line.as_bytes(), &**job);
                sink.close();
            }
            Some(Output::Null) | None => {}
        }
        let killed = job.inner.lock().kill_requested && status == KILLED_STATUS;
        self.end = Some(if killed {
            JobState::Killed
        } else {
            JobState::Faulted(status)
        });
    }
}

/// Starts `task` for `job` on a new platform thread; `owned` pipe ends are closed
/// when it ends. On failure the job is marked ended (status 126) and the ends closed.
///
/// What it allocates is the kernel's, whoever calls it (a program may start jobs of
/// its own, as `kbench` does): the job outlives the caller's share of the heap.
pub fn launch(job: &Arc<Job>, task: Task, owned: Vec<PipeEnd>) -> Result<ThreadId> {
    let platform = job.platform;
    job.inner.lock().kind = task.kind;
    if let Some(stderr) = task.stderr {
        job.set_stderr(stderr);
    }
    let spawned = kernel_owned(platform, || {
        let body = Box::new(JobThread {
            job: job.clone(),
            run: task.run,
            owned,
            end: None,
        });
        platform.spawn(&job.name, task.kind, body)
    });
    match spawned {
        Ok(thread) => {
            job.set_thread(thread);
            Ok(thread)
        }
        Err(error) => {
            // The body was dropped, closing the pipe ends it owned.
            let error = Error::Spawn {
                name: job.name.clone(),
                error,
            };
            job.finish(JobState::Faulted(error.status()));
            Err(error)
        }
    }
}

/// Everything a program's job needs besides its argv (which the job holds).
#[derive(Clone)]
pub struct ProgramRun {
    pub program: &'static Program,
    pub env: Vec<(String, String)>,
    pub stdio: Stdio,
    pub files: &'static [BakedFile],
    pub programs: &'static [Program],
}

/// A task that runs a baked program with the job's argv. The program's [`Context`]
/// borrows everything from the task, so nothing it owns sits on the program's stack.
pub fn program_task(run: ProgramRun) -> Task {
    let stderr = run.stdio.stderr.clone();
    let mut task = Task::program(move |job: &Arc<Job>| {
        let mut context = Context {
            argv: &job.argv,
            env: &run.env,
            stdin: &run.stdio.stdin,
            stdout: &run.stdio.stdout,
            stderr: &run.stdio.stderr,
            platform: job.platform,
            job: &**job,
            files: run.files,
            programs: run.programs,
        };
        (run.program.main)(&mut context)
    });
    task.stderr = Some(stderr);
    task
}

/// When `respawn` restarts a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RespawnPolicy {
    /// How many restarts at most; `None` is no limit.
    pub max_restarts: Option<u32>,
    /// The pause before each restart.
    pub delay: Duration,
}

/// The pause between restarts when `respawn` is given no `--delay`.
pub const DEFAULT_RESPAWN_DELAY: Duration = Duration::from_secs(1);

/// A supervisor task for `respawn`: runs the program (each run a child job outside the
/// table), and while it exits non-zero, is not cancelled and restarts remain, logs
/// `respawn: 'NAME' exited with status S, restart I of N` to `console`, waits the delay
/// and runs it again. The supervisor's status is the last run's.
pub fn respawn_task(run: ProgramRun, policy: RespawnPolicy, console: Arc<dyn Console>) -> Task {
    Task::kernel(move |supervisor: &Arc<Job>| {
        let platform = supervisor.platform;
        let name = run.program.name;
        let mut restarts = 0u32;
        loop {
            let attempt = Job::new(platform, 0, name, supervisor.argv.clone());
            supervisor.adopt(attempt.clone());
            let status = match launch(&attempt, program_task(run.clone()), Vec::new()) {
                Ok(_) => attempt.join(),
                Err(error) => {
                    console.write(format!("respawn: {error}\n").as_bytes());
                    return error.status();
                }
            };
            let out_of_restarts = policy.max_restarts.is_some_and(|max| restarts >= max);
            if status == 0 || supervisor.is_cancelled() || out_of_restarts {
                return status;
            }
            restarts += 1;
            let of = match policy.max_restarts {
                Some(max) => format!(" of {max}"),
                None => String::new(),
            };
            console.write(
                format!("respawn: '{name}' exited with status {status}, restart {restarts}{of}\n")
                    .as_bytes(),
            );
            let resume_at = platform.now() + policy.delay;
            while platform.now() < resume_at {
                if supervisor.is_cancelled() {
                    return status;
                }
                platform.park(Some(resume_at));
            }
        }
    })
}

struct TableState {
    /// Jobs by id, oldest first. A map, not a vector: its nodes come and go with
    /// the jobs, so a burst of jobs leaves no large block in the middle of the heap.
    jobs: BTreeMap<JobId, Arc<Job>>,
    next_id: JobId,
    /// sh's job numbers: a background pipeline (or group) is one job of one number,
    /// whose ids are its stages in order; numbers are reused from the lowest free.
    numbers: BTreeMap<JobNumber, Vec<JobId>>,
    /// No number below this one is free (so a burst of `&` finds the next in one step).
    lowest_free: JobNumber,
}

/// A job number, as `%N` and `jobs` show it.
pub type JobNumber = u32;

/// A numbered job: the stages of one background pipeline or group.
#[derive(Clone)]
pub struct NumberedJob {
    pub number: JobNumber,
    /// The stages in order; the last one's status is the job's.
    pub stages: Vec<Arc<Job>>,
    /// `+` for the current job, `-` for the previous, else a space (as listed by
    /// [`JobTable::numbered`]; a job found by `%N` has a space).
    pub mark: char,
}

impl NumberedJob {
    /// Running while any stage runs; then the last stage's end.
    pub fn state(&self) -> JobState {
        if let Some(running) = self.stages.iter().find(|j| !j.state().is_finished()) {
            return running.state();
        }
        self.stages.last().map_or(JobState::Done(0), |j| j.state())
    }

    /// The stages as typed: `producer 3 | upper`.
    pub fn command(&self) -> String {
        let mut text = String::new();
        for (i, stage) in self.stages.iter().enumerate() {
            if i > 0 {
                text.push_str(" | ");
            }
            text.push_str(&stage.info().command_line());
        }
        text
    }
}

/// The job table: numbered jobs, found by `%N` or name.
pub struct JobTable {
    platform: &'static dyn Platform,
    state: crate::sync::Mutex<TableState>,
}

impl JobTable {
    pub fn new(platform: &'static dyn Platform) -> Self {
        JobTable {
            platform,
            state: crate::sync::Mutex::new(TableState {
                jobs: BTreeMap::new(),
                next_id: 1,
                numbers: BTreeMap::new(),
                lowest_free: 1,
            }),
        }
    }

    /// Adds a job named `name` and starts `task` for it. A failed start leaves no entry.
    pub fn spawn(
        &self,
        name: &str,
        argv: Vec<String>,
        task: Task,
        owned: Vec<PipeEnd>,
    ) -> Result<Arc<Job>> {
        let job = {
            let mut state = self.state.lock();
            let id = state.next_id;
            state.next_id += 1;
            let job = Job::new(self.platform, id, name, argv);
            state.jobs.insert(id, job.clone());
            job
        };
        if let Err(error) = launch(&job, task, owned) {
            self.state.lock().jobs.remove(&job.id);
            return Err(error);
        }
        Ok(job)
    }

    /// Gives `stages` (one background pipeline or group) the lowest free job number.
    pub fn number(&self, stages: &[Arc<Job>]) -> JobNumber {
        let mut state = self.state.lock();
        let mut number = state.lowest_free;
        for &taken in state.numbers.range(number..).map(|(n, _)| n) {
            if taken != number {
                break;
            }
            number += 1;
        }
        state
            .numbers
            .insert(number, stages.iter().map(|j| j.id).collect());
        state.lowest_free = number + 1;
        number
    }

    /// The numbered jobs, by number; stages already forgotten are left out. The
    /// current job (`+`) is the one started last, the previous (`-`) the one before.
    pub fn numbered(&self) -> Vec<NumberedJob> {
        self.numbered_where(false)
    }

    /// The numbered jobs whose every stage has ended (what the shell announces); the
    /// running ones cost no copy, so a prompt among thousands of jobs stays cheap.
    pub fn finished_numbered(&self) -> Vec<NumberedJob> {
        self.numbered_where(true)
    }

    fn numbered_where(&self, finished_only: bool) -> Vec<NumberedJob> {
        let state = self.state.lock();
        // Ids grow with time: the newest jobs have the highest first ids.
        let (mut current, mut previous) = (None, None);
        let mut newest = (0, 0);
        for (&number, ids) in &state.numbers {
            let first = ids.first().copied().unwrap_or(0);
            if first >= newest.0 {
                previous = current;
                current = Some(number);
                newest = (first, newest.0);
            } else if first >= newest.1 {
                previous = Some(number);
                newest.1 = first;
            }
        }
        state
            .numbers
            .iter()
            .filter(|(_, ids)| {
                !finished_only
                    || ids
                        .iter()
                        .all(|id| state.jobs.get(id).is_none_or(|j| j.state().is_finished()))
            })
            .map(|(&number, ids)| NumberedJob {
                number,
                stages: ids
                    .iter()
                    .filter_map(|id| state.jobs.get(id).cloned())
                    .collect(),
                mark: if Some(number) == current {
                    '+'
                } else if Some(number) == previous {
                    '-'
                } else {
                    ' '
                },
            })
            .collect()
    }

    /// Forgets the jobs that have ended and have no number (foreground ones whose end
    /// went to `$?` or went unreported, as in sh).
    pub fn forget_finished_unnumbered(&self) {
        let mut state = self.state.lock();
        let TableState { jobs, numbers, .. } = &mut *state;
        jobs.retain(|id, job| {
            !job.state().is_finished() || numbers.values().any(|ids| ids.contains(id))
        });
    }

    /// Frees job number `number`, keeping its stages (a job `fg` stopped waiting for:
    /// it ends in the foreground, unannounced).
    pub fn unnumber(&self, number: JobNumber) {
        let mut state = self.state.lock();
        state.numbers.remove(&number);
        state.lowest_free = state.lowest_free.min(number);
    }

    /// Frees job number `number` and forgets its stages (they have ended).
    pub fn release(&self, number: JobNumber) {
        let mut state = self.state.lock();
        if let Some(ids) = state.numbers.remove(&number) {
            for id in ids {
                state.jobs.remove(&id);
            }
        }
        state.lowest_free = state.lowest_free.min(number);
    }

    /// The numbered job `spec` names: `%N`, `%+` or `%%` (the current job), `%-` (the
    /// previous one), or a NAME its first stage runs. A name two jobs run is an error
    /// that lists them.
    pub fn find_numbered(&self, spec: &str) -> Result<NumberedJob> {
        // `%N` is one lookup (a line may kill a hundred jobs among thousands).
        if let Some(number) = spec
            .strip_prefix('%')
            .and_then(|n| n.parse::<JobNumber>().ok())
        {
            let state = self.state.lock();
            return state
                .numbers
                .get(&number)
                .map(|ids| NumberedJob {
                    number,
                    stages: ids
                        .iter()
                        .filter_map(|id| state.jobs.get(id).cloned())
                        .collect(),
                    mark: ' ',
                })
                .ok_or_else(|| Error::NoSuchJob(String::from(spec)));
        }
        let jobs = self.numbered();
        let by_number = |n: Option<JobNumber>| {
            n.and_then(|n| jobs.iter().find(|j| j.number == n).cloned())
                .ok_or_else(|| Error::NoSuchJob(String::from(spec)))
        };
        let marked = |mark: char| jobs.iter().find(|j| j.mark == mark).map(|j| j.number);
        match spec {
            "%%" | "%+" => by_number(marked('+')),
            "%-" => by_number(marked('-')),
            _ => match spec.strip_prefix('%') {
                Some(number) => by_number(number.parse().ok()),
                None => {
                    let named: Vec<&NumberedJob> = jobs
                        .iter()
                        .filter(|j| j.stages.first().is_some_and(|s| s.name == spec))
                        .collect();
                    match named.as_slice() {
                        [] => Err(Error::NoSuchJob(String::from(spec))),
                        [one] => Ok((*one).clone()),
                        many => Err(Error::AmbiguousJob {
                            spec: String::from(spec),
                            numbers: many.iter().map(|j| j.number).collect(),
                        }),
                    }
                }
            },
        }
    }

    /// Finds a job by `%N` or by name (the most recent job of that name).
    pub fn find(&self, spec: &str) -> Result<Arc<Job>> {
        let state = self.state.lock();
        let found = match spec.strip_prefix('%') {
            Some(number) => number
                .parse::<JobId>()
                .ok()
                .and_then(|id| state.jobs.get(&id)),
            None => state.jobs.values().rev().find(|j| j.name == spec),
        };
        found
            .cloned()
            .ok_or_else(|| Error::NoSuchJob(String::from(spec)))
    }

    /// Every job, oldest first.
    pub fn jobs(&self) -> Vec<Arc<Job>> {
        self.state.lock().jobs.values().cloned().collect()
    }

    /// The jobs still running.
    pub fn unfinished(&self) -> Vec<Arc<Job>> {
        let state = self.state.lock();
        state
            .jobs
            .values()
            .filter(|j| !j.state().is_finished())
            .cloned()
            .collect()
    }

    /// A listing of every job, oldest first.
    pub fn snapshot(&self) -> Vec<JobInfo> {
        self.jobs().iter().map(|j| j.info()).collect()
    }

    /// Drops job `id` from the table if it has finished; returns true if it did.
    pub fn forget(&self, id: JobId) -> bool {
        let mut state = self.state.lock();
        let finished = state.jobs.get(&id).is_some_and(|j| j.state().is_finished());
        finished && state.jobs.remove(&id).is_some()
    }

    /// Drops the finished jobs from the table; returns how many.
    pub fn forget_finished(&self) -> usize {
        let mut state = self.state.lock();
        let before = state.jobs.len();
        state.jobs.retain(|_, j| !j.state().is_finished());
        before - state.jobs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakePlatform;

    fn table() -> (&'static FakePlatform, JobTable) {
        let fake = FakePlatform::leaked();
        (fake, JobTable::new(fake))
    }

    #[test]
    fn jobs_are_numbered_and_found_by_id_or_latest_name() {
        let (_fake, table) = table();
        let a = table
            .spawn("a", Vec::new(), Task::program(|_| 1), Vec::new())
            .unwrap();
        let b = table
            .spawn("a", Vec::new(), Task::program(|_| 2), Vec::new())
            .unwrap();
        assert_eq!((a.id(), b.id()), (1, 2));
        assert_eq!(a.join(), 1);
        assert_eq!(b.join(), 2);
        assert_eq!(table.find("%1").unwrap().id(), 1);
        assert_eq!(table.find("a").unwrap().id(), 2);
        assert_eq!(table.find("%9").unwrap_err(), Error::NoSuchJob("%9".into()));
        assert!(table.find("zz").is_err());
        let listing = table.snapshot();
        assert_eq!(listing[1].state, JobState::Done(2));
        assert!(listing[1].thread.is_some());
        assert!(table.forget(1));
        assert!(!table.forget(1), "already gone");
        assert_eq!(table.forget_finished(), 1);
    }

    #[test]
    fn ready_then_done_and_end_time() {
        let (fake, table) = table();
        let job = table
            .spawn(
                "server",
                Vec::new(),
                Task::program(move |job| {
                    fake.sleep(Duration::from_secs(2));
                    job.ready();
                    fake.sleep(Duration::from_secs(3));
                    0
                }),
                Vec::new(),
            )
            .unwrap();
        assert_eq!(
            job.wait(WaitFor::ReadyOrExit, None, &|| false),
            WaitOutcome::Ready
        );
        assert_eq!(fake.now(), Duration::from_secs(2));
        assert_eq!(job.join(), 0);
        assert_eq!(job.ended(), Some(Duration::from_secs(5)));
    }

    #[test]
    fn cancel_wakes_a_parked_job_and_deadline_times_out() {
        let (fake, table) = table();
        let job = table
            .spawn(
                "waiter",
                Vec::new(),
                Task::program(move |job| {
                    while !job.is_cancelled() {
                        fake.park(None);
                    }
                    130
                }),
                Vec::new(),
            )
            .unwrap();
        let deadline = Some(fake.now() + Duration::from_secs(1));
        assert_eq!(
            job.wait(WaitFor::Exit, deadline, &|| false),
            WaitOutcome::TimedOut
        );
        job.cancel();
        assert_eq!(job.join(), 130);
    }

    #[test]
    fn panics_fault_and_kill_is_killed() {
        let (fake, table) = table();
        let panicker = table
            .spawn(
                "p",
                Vec::new(),
                Task::program(|_| panic!("on purpose")),
                Vec::new(),
            )
            .unwrap();
        assert_eq!(panicker.join(), 101);
        assert_eq!(panicker.state(), JobState::Faulted(101));
        let stubborn = table
            .spawn(
                "s",
                Vec::new(),
                Task::program(move |_| {
                    loop {
                        fake.park(None);
                    }
                }),
                Vec::new(),
            )
            .unwrap();
        stubborn.cancel();
        assert!(stubborn.kill());
        assert_eq!(stubborn.join(), KILLED_STATUS);
        assert_eq!(stubborn.state(), JobState::Killed);
    }
}
