//! The platform trait: everything init needs from the machine.
//!
//! board implements it with real threads, the PIT clock and the UART; host tests
//! implement it with simulated time. Blocking is built from `park`/`unpark`, which
//! behave like `std::thread::park`: an `unpark` before the `park` is not lost.

use alloc::boxed::Box;
use core::time::Duration;

/// An exit status, as in sh: 0 is success.
pub type Status = u8;

/// CPU faults a program can ask for on purpose (the `crash` utility).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A `div` by zero (#DE, vector 0).
    DivideByZero,
    /// `ud2` (#UD, vector 6).
    InvalidOpcode,
    /// A read from an unmapped address (#PF, vector 14).
    PageFault,
}

/// How a thread died without returning: the job status and a one-line report
/// (what happened and where), which the job writes to its stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abort {
    pub status: Status,
    pub report: alloc::string::String,
}

/// Identifies a thread of the platform.
pub type ThreadId = u64;

/// Whose code a thread runs, which decides who owns the memory it allocates.
///
/// - A **program** thread runs a baked program. What it allocates is the program's
///   (outside kernel locks and [`Platform::kernel_owned`] sections) and is reclaimed
///   when the thread ends, however it ends; it holds at most a share of the heap; and
///   `kill -9` ends it without its cooperation.
/// - A **kernel** thread runs init's own code (a shell, a background group, a
///   `respawn` supervisor). What it allocates is the kernel's: freed by its owners, as
///   in any Rust program. It is never ended forcibly: it stops when asked, once the
///   program jobs it waits for have ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadKind {
    Program,
    Kernel,
}

/// What a platform thread runs.
///
/// The platform keeps the body on the heap, never on the thread's stack, for the whole
/// life of the thread, and drops it once the thread has ended, however it ended. So
/// whatever the body owns (a job's argv, env, pipe ends and job record) comes back even
/// when the thread dies without returning (a panic, a CPU fault, `kill -9`).
pub trait ThreadBody: Send {
    /// The thread's work; called once, on the new thread.
    fn run(&mut self);
    /// The thread died without returning from [`ThreadBody::run`]: `abort` says how.
    /// Called once, from another thread, after the dead thread's last instruction.
    fn aborted(&mut self, abort: Abort);
}

/// Why a thread could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnError {
    /// No memory for the thread's stack or control block.
    OutOfMemory,
    /// The thread table is full.
    TooManyThreads,
}

/// What the machine should do when the image stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    /// Power off; the VMM exits with this status.
    Off(u8),
    /// Stop the CPU without powering off.
    Halt,
    /// Reset the machine.
    Reboot,
}

/// Heap figures reported by `memstat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeapStats {
    pub size: usize,
    pub used: usize,
    pub peak: usize,
    pub allocations: u64,
    pub frees: u64,
    pub largest_free: usize,
    /// Bytes that program jobs still held when they ended and that were freed for
    /// them (a crash or `kill -9` runs no destructors; a leak in a program is its own).
    pub reclaimed: u64,
    /// Pages mapped for program stacks (part of `used`): each program thread maps the
    /// pages its stack has grown into.
    pub stack_pages: usize,
}

/// A console a job can write to (serial or VGA).
pub trait Console: Send + Sync {
    /// Writes every byte; never fails.
    fn write(&self, bytes: &[u8]);
}

/// The machine as init sees it.
/// The boot phases `kiln.bootstats` stamps, in order (see `board/src/bootstats.rs`);
/// [`Platform::boot_phase`] reports the last.
pub const BOOT_PHASES: [&str; 9] = [
    "entry",
    "long_mode",
    "heap",
    "interrupts",
    "init",
    "keyboard",
    "net",
    "rc",
    "prompt",
];

pub trait Platform: Send + Sync {
    /// Monotonic time since boot.
    fn now(&self) -> Duration;
    /// The calling thread.
    fn current_thread(&self) -> ThreadId;
    /// Blocks the calling thread until it is unparked or `deadline` passes.
    /// May return early; callers re-check their condition.
    fn park(&self, deadline: Option<Duration>);
    /// Wakes `thread` from `park`, or makes its next `park` return at once.
    fn unpark(&self, thread: ThreadId);
    /// Gives the CPU to another runnable thread.
    fn yield_now(&self);
    /// This platform as a `'static` reference, where it is one: for programs that run
    /// jobs of their own through a [`crate::jobs::JobTable`] (the `kbench` utility).
    fn shared(&self) -> Option<&'static dyn Platform> {
        None
    }
    /// The CPU's cycle counter (the TSC), where the platform exposes it: for timing
    /// short intervals that `now()` would round (the `kbench` utility).
    fn cycles(&self) -> Option<u64> {
        None
    }
    /// The rate of [`Platform::cycles`] in cycles per second, once known.
    fn cycles_per_second(&self) -> Option<u64> {
        None
    }
    /// A boot milestone reached (`kiln.bootstats`): the shell reports `"prompt"` just
    /// before it shows its first prompt.
    fn boot_phase(&self, _phase: &'static str) {}
    /// Starts `body` on a new thread named `name` (see [`ThreadBody`], [`ThreadKind`]).
    ///
    /// If the thread dies without returning from `run` (a panic, a CPU exception, a
    /// forced kill), the platform calls `body.aborted` from another thread with the job
    /// status (101 for a panic, 128 + vector for an exception, 137 for a kill) and a
    /// report of what happened.
    fn spawn(
        &self,
        name: &str,
        kind: ThreadKind,
        body: Box<dyn ThreadBody>,
    ) -> Result<ThreadId, SpawnError>;
    /// Ends program thread `thread` without its cooperation (`kill -9`): at once when
    /// it is off the CPU and holds no kernel lock, else as soon as it releases the last
    /// one. Returns false where the platform cannot (or `thread` is not a live program
    /// thread).
    fn kill(&self, thread: ThreadId) -> bool {
        let _ = thread;
        false
    }
    /// Stops program thread `thread` (Ctrl-Z): it is not scheduled again until
    /// [`Platform::resume`], so it costs no CPU. It stops at once when it is off the CPU
    /// and holds no kernel lock, else as soon as it has released the last one. Returns
    /// false where the platform cannot (or `thread` is not a live program thread).
    fn stop(&self, thread: ThreadId) -> bool {
        let _ = thread;
        false
    }
    /// Lets a thread stopped by [`Platform::stop`] run again (`fg`, `bg`).
    fn resume(&self, thread: ThreadId) -> bool {
        let _ = thread;
        false
    }
    /// Ends program thread `thread` as [`Platform::kill`] does once `grace` has passed,
    /// unless it has ended by then (the forced end after a Ctrl-C or `kill`). Returns
    /// false where the platform cannot.
    fn kill_after(&self, thread: ThreadId, grace: Duration) -> bool {
        let _ = (thread, grace);
        false
    }
    /// True while a background job may start: it leaves enough memory for the
    /// commands an operator types next (a foreground program, `memstat`, `kill`), so a
    /// storm of background jobs cannot lock the shell out.
    fn room_for_background(&self) -> bool {
        true
    }
    /// Runs `section` with what it allocates owned by the kernel, not by the calling
    /// program thread: for state that outlives the program (a job it starts, a socket).
    /// Allocations made while a kernel lock is held are the kernel's anyway.
    fn kernel_owned(&self, section: &mut dyn FnMut()) {
        section()
    }
    /// Where `thread` was when it last left the CPU (a function name and offset),
    /// where the platform knows its symbols.
    fn location(&self, thread: ThreadId) -> Option<alloc::string::String> {
        let _ = thread;
        None
    }
    /// CPU time used so far by `thread`, where the platform measures it.
    fn cpu_time(&self, thread: ThreadId) -> Option<Duration> {
        let _ = thread;
        None
    }
    /// Raises a real CPU fault on the calling thread, for `crash`. Returns only on fakes.
    fn raise_fault(&self, fault: Fault) {
        let _ = fault;
    }
    /// Powers off, halts or reboots. Returns only on fakes.
    fn power(&self, action: PowerAction);
    /// The allocator's statistics, where the platform has them.
    fn heap_stats(&self) -> Option<HeapStats> {
        None
    }
    /// The TCP/IP stack, where the machine has a network device.
    fn net(&self) -> Option<&dyn crate::net::Net> {
        None
    }
    /// Heap bytes a thread holds now (allocated and not yet freed), where measured.
    fn memory(&self, thread: ThreadId) -> Option<usize> {
        let _ = thread;
        None
    }
}

/// Runs `section` with what it allocates owned by the kernel (see
/// [`Platform::kernel_owned`]) and returns its value.
pub fn kernel_owned<T>(platform: &dyn Platform, section: impl FnOnce() -> T) -> T {
    let mut section = Some(section);
    let mut value = None;
    platform.kernel_owned(&mut || {
        if let Some(section) = section.take() {
            value = Some(section());
        }
    });
    value.expect("Platform::kernel_owned runs its section once")
}

/// A [`ThreadBody`] made of two closures, for kernel threads (and tests) whose
/// captures need no reclaiming: `run` moves onto the thread's stack when it starts.
pub fn closure_body(
    run: impl FnOnce() + Send + 'static,
    on_abort: impl FnOnce(Abort) + Send + 'static,
) -> Box<dyn ThreadBody> {
    struct Closures<R, A> {
        run: Option<R>,
        on_abort: Option<A>,
    }
    impl<R: FnOnce() + Send, A: FnOnce(Abort) + Send> ThreadBody for Closures<R, A> {
        fn run(&mut self) {
            if let Some(run) = self.run.take() {
                run();
            }
        }
        fn aborted(&mut self, abort: Abort) {
            if let Some(on_abort) = self.on_abort.take() {
                on_abort(abort);
            }
        }
    }
    Box::new(Closures {
        run: Some(run),
        on_abort: Some(on_abort),
    })
}
