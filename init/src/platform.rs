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
    /// Bytes still charged to jobs that died without freeing them (a crash or
    /// `kill -9` cannot run a program's destructors); shown, never hidden.
    pub lost: usize,
}

/// A console a job can write to (serial or VGA).
pub trait Console: Send + Sync {
    /// Writes every byte; never fails.
    fn write(&self, bytes: &[u8]);
}

/// The machine as init sees it.
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
    /// Starts `body` on a new thread named `name`.
    ///
    /// If the thread dies without returning from `body` (a panic, a CPU exception, a
    /// forced kill), the platform calls `on_abort` from another thread with the job
    /// status (101 for a panic, 128 + vector for an exception, 137 for a kill) and a
    /// report of what happened.
    fn spawn(
        &self,
        name: &str,
        body: Box<dyn FnOnce() + Send + 'static>,
        on_abort: Box<dyn FnOnce(Abort) + Send + 'static>,
    ) -> Result<ThreadId, SpawnError>;
    /// Ends `thread` at its next preemption point without its cooperation (`kill -9`).
    /// Returns false where the platform cannot.
    fn kill(&self, thread: ThreadId) -> bool {
        let _ = thread;
        false
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
