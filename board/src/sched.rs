//! Threads and the preemptive round-robin scheduler.
//!
//! Every context switch happens in an interrupt: the timer tick ([`on_tick`]), an IRQ
//! that woke a thread ([`after_irq`]), or the yield vector a thread raises itself
//! ([`on_yield`], used by `yield_now`, `park` and thread exit). The interrupted frame
//! sits on an IST stack, so before switching it is copied below the thread's red zone
//! on the thread's own stack; the thread resumes from there. Threads just woken (by a
//! key, a serial byte, a job's end) and threads just created run next, ahead of the
//! runnable queue, so the shell and the commands it starts stay responsive while CPU
//! hogs share the rest in [`SLICE_TICKS`] slices.
//!
//! Kernel locks (`kiln_init::sync::Mutex`) hold off preemption through a per-thread
//! count ([`Preempt`]): a tick that lands while the count is up defers the switch (and
//! any `kill -9`) to the moment the last lock is released, so a killed thread never
//! strands a lock.
//!
//! `park`/`unpark` work like `std::thread::park`: an `unpark` that comes first leaves a
//! permit, so no wake-up is lost. Thread 1 is the boot thread, which ends as the idle
//! loop.
//!
//! A thread's [`ThreadBody`] lives in its record, on the heap, never on its stack. A
//! program thread also has a heap [`Account`] (see `heap.rs`). A thread that returns,
//! or dies without returning (a panic, a CPU fault, `kill -9`), is marked dead and
//! never resumed. The `reaper` thread then frees its stack, reclaims its account,
//! calls `body.aborted` if it died, and drops the body last: a job's end is announced
//! from that drop, so whoever waits for it sees all of its memory back. `kill -9` of a
//! thread that is off the CPU and holds no kernel lock takes effect at once; one that
//! holds a lock is ended when it releases the last.

use alloc::alloc::{Layout, alloc, dealloc};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use core::arch::asm;

use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use x86_64::instructions::interrupts;

use kiln_init::platform::{Abort, SpawnError, ThreadBody, ThreadKind};

use crate::heap::{self, Account};

use crate::interrupts::{Frame, YIELD_VECTOR};
use crate::pic::TICK_HZ;
use crate::sync::IrqMutex;
use crate::{guard, stack, time};

/// Bytes of stack per kernel thread: the shells, init and background groups run the
/// rc parser and interpreter, which recurse once per nesting level (up to
/// `kiln_init::rc::MAX_DEPTH`; tests/tests/memory.rs proves that it fits).
pub const KERNEL_STACK_SIZE: usize = 192 * 1024;
/// Heap bytes that must be free, beyond the kernel's reserve, to start a program thread.
const PROGRAM_SPAWN_ROOM: usize = 16 * 1024;
/// Timer ticks a thread may run before another runnable thread gets the CPU.
pub const SLICE_TICKS: u64 = 5;
/// Bytes below an interrupted RSP that compiled code may use without moving RSP.
const RED_ZONE: u64 = 128;
/// Threads interrupted early that wait to resume.
const RESUME_QUEUE_LEN: usize = 16;
/// Picks from the wake queue in a row before an interrupted thread resumes anyway.
const MAX_PRIORITY_STREAK: u32 = 16;
/// Threads the wake queue remembers between two scheduling decisions.
const WAKE_QUEUE_LEN: usize = 64;
/// Grace periods that may run out in one tick; the rest wait for the next.
const KILLS_PER_TICK: usize = 16;
const NANOS_PER_TICK: u64 = 1_000_000_000 / TICK_HZ;
/// The boot thread, which becomes the idle loop.
const IDLE_ID: u64 = 1;

type Body = Box<dyn ThreadBody>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    /// Waiting for the CPU.
    Runnable,
    /// On the CPU.
    Running,
    /// Parked until unparked or its deadline.
    Blocked,
    /// Finished or aborted; removed once switched away from.
    Dead,
}

/// A thread's stack: a program's is a demand-backed slot (`stack.rs`), a kernel
/// thread's a heap block with a guard page.
enum Stack {
    Program(stack::Slot),
    Kernel { base: *mut u8 },
}

// SAFETY: a stack is owned by exactly one thread record; the pointer is never shared.
unsafe impl Send for Stack {}

fn kernel_stack_layout() -> Layout {
    Layout::from_size_align(KERNEL_STACK_SIZE, guard::PAGE_SIZE).expect("a page-aligned stack")
}

impl Stack {
    fn new(kind: ThreadKind) -> Option<Stack> {
        match kind {
            // Room for the first pages of the stack and the thread's bookkeeping; the
            // stack grows later, page by page, while there is memory.
            ThreadKind::Program => heap::can_spare(PROGRAM_SPAWN_ROOM)
                .then(stack::Slot::allocate)
                .flatten()
                .map(Stack::Program),
            ThreadKind::Kernel => {
                if !heap::can_spare(KERNEL_STACK_SIZE) {
                    return None;
                }
                // SAFETY: the layout has a non-zero size.
                let base = unsafe { alloc(kernel_stack_layout()) };
                if base.is_null() {
                    return None;
                }
                guard::protect(base as u64);
                Some(Stack::Kernel { base })
            }
        }
    }

    /// `(guard page, top)`.
    fn range(&self) -> (u64, u64) {
        match self {
            Stack::Program(slot) => (slot.guard_page(), slot.top()),
            Stack::Kernel { base } => (*base as u64, *base as u64 + KERNEL_STACK_SIZE as u64),
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Stack::Kernel { base } = *self {
            guard::unprotect(base as u64);
            // SAFETY: `base` came from `alloc` with this layout and is freed once.
            unsafe { dealloc(base, kernel_stack_layout()) }
        }
    }
}

struct Thread {
    id: u64,
    name: heapless::String<24>,
    state: State,
    /// The saved context, valid unless the thread is running.
    frame: *mut Frame,
    #[expect(
        dead_code,
        reason = "held only so that dropping the thread frees its stack"
    )]
    stack: Option<Stack>,
    stack_range: (u64, u64),
    permit: bool,
    deadline_ns: Option<u64>,
    cpu_ns: u64,
    kind: ThreadKind,
    /// What the thread runs; taken once the thread has ended.
    body: Option<Body>,
    /// A program thread's heap account; reclaimed once the thread has ended.
    account: Option<NonNull<Account>>,
    /// How the thread died, while it waits for the reaper.
    abort: Option<Abort>,
    joiners: heapless::Vec<u64, 4>,
    kill_requested: bool,
    /// Ctrl-Z (`stop`): not scheduled until `resume`, once it holds no kernel lock.
    stop_requested: bool,
    /// A process thread's ring-3 context (`process.rs`), while it has one.
    user: Option<UserContext>,
    /// `kill_after`: when the thread is to be ended forcibly (monotonic ns).
    kill_deadline_ns: Option<u64>,
    /// Kernel locks held (saved here while the thread is off the CPU).
    preempt_count: u32,
}

// SAFETY: `frame` points into the thread's own stack and is only used by the scheduler
// with interrupts off.
unsafe impl Send for Thread {}

/// What the entry stubs need of a thread that runs in ring 3.
#[derive(Clone, Copy, Debug)]
pub struct UserContext {
    /// Its page tables.
    pub cr3: u64,
    /// Its kernel stack for syscalls and for frames saved from ring 3 (16-byte aligned).
    pub kernel_rsp: u64,
    /// Its FS base (the thread pointer), saved while it is off the CPU.
    pub fs_base: u64,
    /// The process's own state (`process.rs`), for its syscalls.
    pub data: u64,
    /// Which baked program it runs (`kiln_linux::elf::program_id`), for gdb.
    pub program: u64,
}

/// The program of the process on the CPU (`kiln_linux::elf::program_id` of its name; 0
/// for kernel code): gdb conditions on it to break in one program only.
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
pub static kiln_running_program: AtomicU64 = AtomicU64::new(0);

impl Thread {
    /// Stopped and holding no kernel lock (its count as saved off the CPU): it must not
    /// run until resumed. A stopped thread that holds a lock runs on to release it.
    fn held_off(&self) -> bool {
        self.stop_requested && self.preempt_count == 0
    }
}

struct Scheduler {
    /// Every thread by id. A map, not a vector: its nodes come and go with the
    /// threads, so a burst of jobs leaves no large table block in the middle of the heap
    /// (and finding a thread among thousands is a lookup, not a scan). Records are boxed
    /// so the nodes stay small: a node the map moves lands anywhere in the heap.
    threads: BTreeMap<u64, Box<Thread>>,
    /// Parked threads with a deadline, by `(deadline_ns, id)`: a tick looks at the
    /// first few, never at every thread.
    timers: BTreeSet<(u64, u64)>,
    /// Threads to be ended forcibly, by `(kill_deadline_ns, id)` (`kill_after`).
    kill_timers: BTreeSet<(u64, u64)>,
    /// Dead threads waiting for the reaper.
    dead: BTreeSet<u64>,
    /// Runnable threads (idle never is), for round robin without a scan.
    runnable: BTreeSet<u64>,
    current: u64,
    wake_queue: heapless::Deque<u64, WAKE_QUEUE_LEN>,
    slice_start_tick: u64,
    /// Threads interrupted early by woken ones; they run after the woken threads.
    resume: heapless::Deque<u64, RESUME_QUEUE_LEN>,
    /// Picks made from the wake queue in a row (see [`MAX_PRIORITY_STREAK`]).
    priority_streak: u32,
    next_id: u64,
    switches: u64,
}

static SCHED: IrqMutex<Scheduler> = IrqMutex::new(Scheduler {
    threads: BTreeMap::new(),
    timers: BTreeSet::new(),
    kill_timers: BTreeSet::new(),
    dead: BTreeSet::new(),
    runnable: BTreeSet::new(),
    current: IDLE_ID,
    wake_queue: heapless::Deque::new(),
    slice_start_tick: 0,
    resume: heapless::Deque::new(),
    priority_streak: 0,
    next_id: IDLE_ID + 1,
    switches: 0,
});

/// The id of the running thread, for lock-free readers.
static CURRENT: AtomicU64 = AtomicU64::new(IDLE_ID);
/// Whether the running thread is a program thread (read lock-free by fault handlers).
static CURRENT_IS_PROGRAM: AtomicBool = AtomicBool::new(false);
/// The reaper thread (0 until it starts).
static REAPER: AtomicU64 = AtomicU64::new(0);
/// The running thread's kernel-lock count.
static PREEMPT_COUNT: AtomicU32 = AtomicU32::new(0);
/// A tick wanted to switch while the count was up.
static NEED_RESCHED: AtomicBool = AtomicBool::new(false);
/// The yield in progress is that deferred switch.
static DEFERRED_SWITCH: AtomicBool = AtomicBool::new(false);

impl Scheduler {
    fn get_mut(&mut self, id: u64) -> Option<&mut Thread> {
        self.threads.get_mut(&id).map(|thread| &mut **thread)
    }

    fn current_mut(&mut self) -> &mut Thread {
        let id = self.current;
        self.get_mut(id)
            .expect("the current thread is in the table")
    }

    fn wake(&mut self, id: u64) {
        let Some(thread) = self.get_mut(id) else {
            return;
        };
        match thread.state {
            State::Blocked => {
                thread.state = State::Runnable;
                let held_off = thread.held_off();
                if let Some(deadline) = thread.deadline_ns.take() {
                    self.timers.remove(&(deadline, id));
                }
                // A stopped thread keeps its wake-up for when it is resumed.
                if !held_off {
                    self.runnable.insert(id);
                    let _ = self.wake_queue.push_back(id);
                }
            }
            State::Runnable | State::Running => thread.permit = true,
            State::Dead => {}
        }
    }

    fn pick_next(&mut self) -> u64 {
        // Woken threads go first; threads interrupted early resume next, and after a
        // long streak of woken ones one of them resumes anyway, so a burst of wake-ups
        // (a loop of short jobs) cannot hold them off for ever. Then round robin.
        if self.priority_streak >= MAX_PRIORITY_STREAK {
            self.priority_streak = 0;
            if let Some(id) = self.pop_eligible_resume() {
                return id;
            }
        }
        while let Some(id) = self.wake_queue.pop_front() {
            if self.is_eligible(id) {
                self.priority_streak += 1;
                return id;
            }
        }
        self.priority_streak = 0;
        if let Some(id) = self.pop_eligible_resume() {
            return id;
        }
        if let Some(id) = self.round_robin() {
            return id;
        }
        let current = self.current_mut();
        let stopped_now = current.stop_requested && PREEMPT_COUNT.load(Ordering::Relaxed) == 0;
        if current.state == State::Running && !stopped_now {
            self.current
        } else {
            IDLE_ID
        }
    }

    fn pop_eligible_resume(&mut self) -> Option<u64> {
        while let Some(id) = self.resume.pop_front() {
            if self.is_eligible(id) {
                return Some(id);
            }
        }
        None
    }

    /// A runnable thread other than the current one.
    fn is_eligible(&mut self, id: u64) -> bool {
        id != self.current
            && self
                .get_mut(id)
                .is_some_and(|t| t.state == State::Runnable && !t.held_off())
    }

    /// The next runnable thread after the current one in id order (not idle).
    fn round_robin(&self) -> Option<u64> {
        let current = self.current;
        self.runnable
            .range(current + 1..)
            .chain(self.runnable.range(..current))
            .next()
            .copied()
    }

    /// The running thread is being interrupted before its slice is over (a thread was
    /// woken): it resumes once the woken threads have run, instead of queueing behind
    /// every CPU hog.
    fn keep_turn(&mut self) {
        let current = self.current;
        if current != IDLE_ID
            && self.current_mut().state == State::Running
            && !self.resume.iter().any(|&id| id == current)
        {
            let _ = self.resume.push_back(current);
        }
    }

    /// Marks thread `id` dead and hands it to the reaper; `abort` says how it died if
    /// it did not return. The thread never runs again: it is the current thread (ending
    /// now), or off the CPU holding no lock.
    fn mark_dead(&mut self, id: u64, abort: Option<Abort>) {
        let Some(thread) = self.get_mut(id) else {
            return;
        };
        thread.state = State::Dead;
        thread.abort = abort;
        let timers = (thread.deadline_ns.take(), thread.kill_deadline_ns.take());
        let joiners = thread.joiners.clone();
        self.runnable.remove(&id);
        if let Some(deadline) = timers.0 {
            self.timers.remove(&(deadline, id));
        }
        if let Some(deadline) = timers.1 {
            self.kill_timers.remove(&(deadline, id));
        }
        self.dead.insert(id);
        for joiner in joiners {
            self.wake(joiner);
        }
        self.wake(REAPER.load(Ordering::Relaxed));
    }

    /// `kill -9` of program thread `id`: at once if it is off the CPU and holds no
    /// kernel lock, else when it next reaches a point without one.
    fn kill(&mut self, id: u64) -> bool {
        let current = self.current;
        let Some(thread) = self.get_mut(id) else {
            return false;
        };
        if thread.state == State::Dead || thread.kind != ThreadKind::Program {
            return false;
        }
        thread.kill_requested = true;
        if id != current && thread.preempt_count == 0 {
            self.mark_dead(id, Some(killed_abort()));
        } else if id != current {
            // It holds a kernel lock: let it run soon, to release it and end.
            if thread.state == State::Blocked {
                thread.state = State::Runnable;
                self.runnable.insert(id);
            }
            let _ = self.wake_queue.push_back(id);
        }
        true
    }

    /// Ctrl-Z of program thread `id`: it is not picked again until [`Scheduler::resume`]
    /// (at once if it holds no kernel lock, else once it has released the last one).
    fn stop(&mut self, id: u64) -> bool {
        let current = self.current;
        let Some(thread) = self.get_mut(id) else {
            return false;
        };
        if thread.state == State::Dead || thread.kind != ThreadKind::Program {
            return false;
        }
        thread.stop_requested = true;
        if id != current && thread.held_off() {
            self.runnable.remove(&id);
        }
        true
    }

    /// `fg`/`bg` of a thread stopped by [`Scheduler::stop`]: it may run again.
    fn resume(&mut self, id: u64) -> bool {
        let current = self.current;
        let Some(thread) = self.get_mut(id) else {
            return false;
        };
        if thread.state == State::Dead {
            return false;
        }
        let was_stopped = core::mem::take(&mut thread.stop_requested);
        if was_stopped && thread.state == State::Runnable && id != current {
            self.runnable.insert(id);
            let _ = self.wake_queue.push_back(id);
        }
        true
    }

    /// True when the running thread was asked to die (`kill -9`) and can now: it holds
    /// no kernel lock and has not already ended.
    fn current_must_die(&mut self) -> bool {
        PREEMPT_COUNT.load(Ordering::Relaxed) == 0
            && self.current != IDLE_ID
            && self.current_mut().kill_requested
            && self.current_mut().state != State::Dead
    }

    /// Switches from the current thread (whose context is `frame`) to the next one.
    fn reschedule(&mut self, frame: *mut Frame) -> *mut Frame {
        let mut next = self.pick_next();
        // A thread asked to die is never resumed where it holds no lock.
        while next != self.current
            && let Some((true, preempt_count)) = self
                .get_mut(next)
                .map(|t| (t.kill_requested, t.preempt_count))
        {
            if preempt_count == 0 {
                self.mark_dead(next, Some(killed_abort()));
                next = self.pick_next();
            } else {
                NEED_RESCHED.store(true, Ordering::Relaxed);
                break;
            }
        }
        let current = self.current;
        if next == current {
            self.current_mut().state = State::Running;
            return frame;
        }
        // A dead thread stays in the table for the reaper.
        if self.current_mut().state != State::Dead {
            if let Some(user) = self.current_mut().user.as_mut() {
                user.fs_base = crate::interrupts::read_msr(crate::interrupts::IA32_FS_BASE);
            }
            let user_stack = self.current_mut().user.map(|u| u.kernel_rsp);
            match save_below_red_zone(frame, user_stack) {
                Some(saved) => {
                    let thread = self.current_mut();
                    thread.frame = saved;
                    thread.preempt_count = PREEMPT_COUNT.load(Ordering::Relaxed);
                    if thread.state == State::Running {
                        thread.state = State::Runnable;
                        if current != IDLE_ID && !thread.held_off() {
                            self.runnable.insert(current);
                        }
                    }
                }
                // Its context cannot be kept, so it can never resume.
                None => self.mark_dead(current, Some(stack_exhausted_abort())),
            }
        }
        self.current = next;
        CURRENT.store(next, Ordering::Relaxed);
        let next_thread = self.current_mut();
        PREEMPT_COUNT.store(next_thread.preempt_count, Ordering::Relaxed);
        CURRENT_IS_PROGRAM.store(next_thread.kind == ThreadKind::Program, Ordering::Relaxed);
        kiln_running_program.store(next_thread.user.map_or(0, |u| u.program), Ordering::Relaxed);
        if let Some(user) = next_thread.user {
            crate::interrupts::write_msr(crate::interrupts::IA32_FS_BASE, user.fs_base);
            // SAFETY: interrupts are off and this is the only CPU: the entry stubs read
            // these only on the way to or from ring 3 of this thread.
            unsafe {
                crate::interrupts::RESUME_USER_CR3 = user.cr3;
                crate::interrupts::SYSCALL_KERNEL_RSP = user.kernel_rsp;
            }
        }
        heap::switch_account(
            next_thread
                .account
                .map_or(core::ptr::null_mut(), |a| a.as_ptr()),
        );
        self.slice_start_tick = time::ticks();
        self.switches += 1;
        self.runnable.remove(&next);
        let next_thread = self.current_mut();
        next_thread.state = State::Running;
        next_thread.frame
    }
}

/// Copies an interrupt frame from the IST stack onto the interrupted thread's stack
/// (for a thread interrupted in ring 3, onto its kernel stack `user_stack`, which is
/// idle then); `None` when a program's stack has no room or page left for it.
fn save_below_red_zone(frame: *mut Frame, user_stack: Option<u64>) -> Option<*mut Frame> {
    // SAFETY: `frame` is the valid frame the entry stub pushed.
    let (rsp, cs) = unsafe { ((*frame).rsp, (*frame).cs) };
    let size = core::mem::size_of::<Frame>() as u64;
    let destination = match user_stack {
        Some(kernel_rsp) if cs & 3 == 3 => (kernel_rsp - size) & !0xF,
        _ => (rsp - RED_ZONE - size) & !0xF,
    };
    if !stack::ensure_mapped(destination, destination + size) {
        return None;
    }
    let destination = destination as *mut Frame;
    // SAFETY: the thread is not running; the bytes below its red zone are unused,
    // mapped stack, and the source is on an IST stack, so the ranges do not overlap.
    unsafe { core::ptr::copy_nonoverlapping(frame, destination, 1) };
    Some(destination)
}

/// The abort of a program thread whose stack could not grow to hold its context.
fn stack_exhausted_abort() -> Abort {
    Abort {
        status: crate::fault::FAULT_STATUS_BASE + crate::fault::PAGE_FAULT_VECTOR,
        report: alloc::string::String::from(
            "stack overflow: no room or memory left on its stack to pause it",
        ),
    }
}

/// Registers the boot thread (the caller) as thread 1, the future idle loop.
pub fn init(boot_stack: (u64, u64)) {
    let mut s = SCHED.lock();
    s.threads.insert(
        IDLE_ID,
        Box::new(Thread {
            id: IDLE_ID,
            name: heapless::String::try_from("idle").unwrap_or_default(),
            state: State::Running,
            frame: core::ptr::null_mut(),
            stack: None,
            stack_range: boot_stack,
            permit: false,
            deadline_ns: None,
            cpu_ns: 0,
            kind: ThreadKind::Kernel,
            body: None,
            account: None,
            abort: None,
            joiners: heapless::Vec::new(),
            kill_requested: false,
            stop_requested: false,
            user: None,
            kill_deadline_ns: None,
            preempt_count: 0,
        }),
    );
}

/// The abort of a thread ended by `kill -9`.
fn killed_abort() -> Abort {
    Abort {
        status: crate::platform::KILLED_STATUS,
        report: alloc::string::String::from("killed (kill -9)"),
    }
}

/// Starts the reaper: the kernel thread that finishes every thread that has ended (see
/// the module docs). Called once at boot, after the heap.
pub fn start_reaper() -> Result<u64, SpawnError> {
    let id = spawn(
        "reaper",
        ThreadKind::Kernel,
        kiln_init::platform::closure_body(reaper_loop, |_| {}),
    )?;
    REAPER.store(id, Ordering::Relaxed);
    Ok(id)
}

fn reaper_loop() {
    let mut reaped = false;
    loop {
        let dead = {
            let mut s = SCHED.lock();
            let me = s.current;
            let found = s.dead.iter().copied().find(|&id| id != me);
            found.and_then(|id| {
                s.dead.remove(&id);
                s.threads.remove(&id)
            })
        };
        let Some(mut thread) = dead else {
            // Pages for stacks that grow, taken now, outside any fault handler.
            if core::mem::take(&mut reaped) {
                stack::settle();
            } else {
                stack::refill();
            }
            park_until(None);
            continue;
        };
        reaped = true;
        let (body, account, abort) = (
            thread.body.take(),
            thread.account.take(),
            thread.abort.take(),
        );
        // Dropping the record frees the stack.
        drop(thread);
        if let Some(account) = account {
            // SAFETY: the thread is dead and out of the table, so the account is no
            // thread's current one and nothing uses it again. The body is kernel
            // memory and refers to none of the program's.
            unsafe { heap::reclaim(account) };
        }
        if let Some(mut body) = body {
            if let Some(abort) = abort {
                body.aborted(abort);
            }
            // Last: the job's end is announced from here. Whoever it wakes runs only
            // once the body is gone entirely (the job record too, when the body held
            // its last handle), so it never sees memory of the job still in use.
            let _hold = NoPreempt::enter();
            drop(body);
        }
    }
}

/// Holds off preemption (and `kill -9`) while alive: what the thread allocates
/// meanwhile is the kernel's (see `heap.rs`).
pub struct NoPreempt;

impl NoPreempt {
    pub fn enter() -> NoPreempt {
        kiln_init::sync::Preemption::disable(&PREEMPT);
        NoPreempt
    }
}

impl Drop for NoPreempt {
    fn drop(&mut self) {
        kiln_init::sync::Preemption::enable(&PREEMPT);
    }
}

/// True while the running thread holds a kernel lock (or a [`NoPreempt`]).
pub fn kernel_locks_held() -> bool {
    PREEMPT_COUNT.load(Ordering::Relaxed) > 0
}

/// The running thread's id.
pub fn current_id() -> u64 {
    CURRENT.load(Ordering::Relaxed)
}

extern "C" fn thread_start(id: u64) -> ! {
    let body: Option<*mut dyn ThreadBody> = SCHED
        .lock()
        .get_mut(id)
        .and_then(|t| t.body.as_mut())
        .map(|body| &mut **body as *mut dyn ThreadBody);
    if let Some(body) = body {
        // SAFETY: the body lives in this thread's record until the thread has ended;
        // only this thread uses it meanwhile.
        unsafe { (*body).run() };
    }
    exit_current();
}

/// Starts `body` on a new thread. Refused when the stack would eat into the kernel's
/// heap reserve.
pub fn spawn(name: &str, kind: ThreadKind, body: Body) -> Result<u64, SpawnError> {
    // What the new thread's bookkeeping allocates is the kernel's, whoever asks.
    let _kernel = NoPreempt::enter();
    let account = match kind {
        ThreadKind::Program => Some(heap::open_account().ok_or(SpawnError::OutOfMemory)?),
        ThreadKind::Kernel => None,
    };
    let Some(stack) = Stack::new(kind) else {
        if let Some(account) = account {
            // SAFETY: fresh, empty and never anyone's current account.
            unsafe { heap::reclaim(account) };
        }
        return Err(SpawnError::OutOfMemory);
    };
    let (guard_page, top) = stack.range();
    let mut s = SCHED.lock();
    let id = s.next_id;
    s.next_id += 1;
    let initial = Frame::new_thread(thread_start as *const () as u64, id, top);
    let frame_at = ((top - 64 - core::mem::size_of::<Frame>() as u64) & !0xF) as *mut Frame;
    // SAFETY: `frame_at` lies inside the freshly allocated stack, above its guard page.
    unsafe { frame_at.write(initial) };
    let mut thread_name = heapless::String::new();
    for c in name.chars() {
        if thread_name.push(c).is_err() {
            break;
        }
    }
    s.threads.insert(
        id,
        Box::new(Thread {
            id,
            name: thread_name,
            state: State::Runnable,
            frame: frame_at,
            stack: Some(stack),
            stack_range: (guard_page, top),
            permit: false,
            deadline_ns: None,
            cpu_ns: 0,
            kind,
            body: Some(body),
            account,
            abort: None,
            joiners: heapless::Vec::new(),
            kill_requested: false,
            stop_requested: false,
            user: None,
            kill_deadline_ns: None,
            preempt_count: 0,
        }),
    );
    // A new thread runs before the CPU hogs' next slices: a command typed at the shell
    // starts at once even while `burn` jobs are running.
    s.runnable.insert(id);
    let _ = s.wake_queue.push_back(id);
    Ok(id)
}

/// Raises the yield vector: the scheduler runs with this thread's state as it is.
fn raise_yield() {
    // SAFETY: the yield gate is installed at boot; the stub saves and restores the
    // whole context.
    unsafe { asm!("int {vector}", vector = const YIELD_VECTOR) };
}

/// Gives the CPU to another runnable thread, if any.
pub fn yield_now() {
    raise_yield();
}

/// Blocks until unparked or until `deadline_ns` (monotonic) passes.
pub fn park_until(deadline_ns: Option<u64>) {
    // Interrupts stay off from the state change to the yield, so no wake-up slips in
    // between; the lock guard below leaves them off because they already are.
    let were_enabled = interrupts::are_enabled();
    interrupts::disable();
    let block = {
        let mut s = SCHED.lock();
        let thread = s.current_mut();
        if thread.permit {
            thread.permit = false;
            false
        } else if deadline_ns.is_some_and(|deadline| time::now_ns() >= deadline) {
            false
        } else {
            thread.state = State::Blocked;
            thread.deadline_ns = deadline_ns;
            let me = thread.id;
            if let Some(deadline) = deadline_ns {
                s.timers.insert((deadline, me));
            }
            true
        }
    };
    if block {
        raise_yield();
    }
    if were_enabled {
        interrupts::enable();
    }
}

/// Parks for at most `duration_ns`, or until unparked, when given.
pub fn park(timeout_ns: Option<u64>) {
    park_until(timeout_ns.map(|t| time::now_ns().saturating_add(t)))
}

/// Wakes a parked thread, or leaves it a permit.
pub fn unpark(id: u64) {
    SCHED.lock().wake(id);
}

/// Ends the calling thread: it returned. The reaper finishes it.
pub fn exit_current() -> ! {
    end_current(None)
}

/// Ends the calling thread abnormally (a panic): the reaper finishes it.
pub fn abort_current(abort: Abort) -> ! {
    end_current(Some(abort))
}

fn end_current(abort: Option<Abort>) -> ! {
    {
        let mut s = SCHED.lock();
        let me = s.current;
        s.mark_dead(me, abort);
    }
    loop {
        raise_yield();
    }
}

/// Waits until thread `id` has ended.
pub fn join(id: u64) {
    loop {
        {
            let mut s = SCHED.lock();
            let me = s.current;
            match s.get_mut(id) {
                None => return,
                Some(t) if t.state == State::Dead => return,
                Some(t) => {
                    if !t.joiners.contains(&me) {
                        let _ = t.joiners.push(me);
                    }
                }
            }
        }
        park_until(None);
    }
}

/// Timer tick: account CPU time, wake sleepers, preempt at the end of a slice.
pub fn on_tick(frame: *mut Frame) -> *mut Frame {
    let ticks = time::on_tick();
    let now = ticks * NANOS_PER_TICK;
    let mut s = SCHED.lock();
    let locks_held = PREEMPT_COUNT.load(Ordering::Relaxed) > 0;
    // `kill -9`: the thread holds no kernel lock (the count is zero, and an IrqMutex
    // holder cannot be interrupted), so it can end here.
    if s.current_must_die() {
        drop(s);
        return abort_from_interrupt(frame, killed_abort());
    }
    s.current_mut().cpu_ns += NANOS_PER_TICK;
    let mut woke = false;
    while let Some(&(deadline, id)) = s.timers.first()
        && deadline <= now
    {
        s.timers.remove(&(deadline, id));
        if let Some(thread) = s.get_mut(id)
            && thread.state == State::Blocked
        {
            thread.deadline_ns = None;
            thread.state = State::Runnable;
            if !thread.held_off() {
                woke = true;
                s.runnable.insert(id);
                let _ = s.wake_queue.push_back(id);
            }
        }
    }
    if stack::wants_refill() {
        // The reaper tops up the pages growing stacks take.
        s.wake(REAPER.load(Ordering::Relaxed));
        woke = true;
    }
    let mut kill_due: heapless::Vec<u64, KILLS_PER_TICK> = heapless::Vec::new();
    while let Some(&(deadline, id)) = s.kill_timers.first()
        && deadline <= now
        && !kill_due.is_full()
    {
        s.kill_timers.remove(&(deadline, id));
        if let Some(thread) = s.get_mut(id) {
            thread.kill_deadline_ns = None;
        }
        let _ = kill_due.push(id);
    }
    for id in kill_due {
        woke |= s.kill(id);
    }
    let idle = s.current == IDLE_ID;
    let slice_over = ticks - s.slice_start_tick >= SLICE_TICKS;
    // A kill or a stop waits for the thread's last kernel lock.
    let kill_pending = s.current_mut().kill_requested || s.current_mut().stop_requested;
    let wants_switch = woke || idle || slice_over || !s.wake_queue.is_empty();
    if locks_held {
        if wants_switch || kill_pending {
            NEED_RESCHED.store(true, Ordering::Relaxed);
        }
        frame
    } else if wants_switch || kill_pending {
        if !slice_over {
            s.keep_turn();
        }
        s.reschedule(frame)
    } else {
        frame
    }
}

/// After a device IRQ: run a thread it woke at once.
pub fn after_irq(frame: *mut Frame) -> *mut Frame {
    let mut s = SCHED.lock();
    if PREEMPT_COUNT.load(Ordering::Relaxed) > 0 {
        if !s.wake_queue.is_empty() {
            NEED_RESCHED.store(true, Ordering::Relaxed);
        }
        frame
    } else if s.wake_queue.is_empty() {
        frame
    } else {
        s.keep_turn();
        s.reschedule(frame)
    }
}

/// The yield vector.
pub fn on_yield(frame: *mut Frame) -> *mut Frame {
    let mut s = SCHED.lock();
    if s.current_must_die() {
        drop(s);
        return abort_from_interrupt(frame, killed_abort());
    }
    // A switch deferred while kernel locks were held is a preemption, not a yield: the
    // thread keeps its turn unless its slice is over.
    if DEFERRED_SWITCH.swap(false, Ordering::Relaxed)
        && time::ticks() - s.slice_start_tick < SLICE_TICKS
    {
        s.keep_turn();
    }
    s.reschedule(frame)
}

/// Becomes the idle loop. Called once by the boot thread.
pub fn idle_loop() -> ! {
    loop {
        x86_64::instructions::interrupts::enable_and_hlt();
    }
}

/// Where thread `id` will resume, if it is off the CPU.
pub fn saved_rip(id: u64) -> Option<u64> {
    let mut s = SCHED.lock();
    let thread = s.get_mut(id)?;
    if thread.state == State::Running || thread.state == State::Dead || thread.frame.is_null() {
        return None;
    }
    // SAFETY: a thread off the CPU has a valid saved frame on its own stack, and the
    // scheduler lock keeps it from running (and moving) while we read.
    Some(unsafe { (*thread.frame).rip })
}

/// CPU time of a thread so far.
pub fn cpu_ns(id: u64) -> Option<u64> {
    SCHED.lock().get_mut(id).map(|t| t.cpu_ns)
}

/// Context switches so far.
pub fn switches() -> u64 {
    SCHED.lock().switches
}

/// The stack range `(guard page, top)` of the running thread, for fault reports;
/// `(0, 0)` if the scheduler lock is held by the code that faulted.
pub fn current_stack() -> (u64, u64) {
    SCHED
        .try_lock()
        .map_or((0, 0), |mut s| s.current_mut().stack_range)
}

/// The running thread's name, for fault reports; `?` if the scheduler lock is held by
/// the code that faulted.
pub fn current_name() -> heapless::String<24> {
    SCHED.try_lock().map_or_else(
        || heapless::String::try_from("?").unwrap_or_default(),
        |mut s| s.current_mut().name.clone(),
    )
}

/// True when the running thread is the boot/idle thread (a fault there is fatal).
pub fn current_is_idle() -> bool {
    current_id() == IDLE_ID
}

/// `kill -9` of program thread `id` (see [`Scheduler::kill`]).
pub fn request_kill(id: u64) -> bool {
    let killed = SCHED.lock().kill(id);
    if killed {
        // The reaper (or the victim) should run now, not at the next tick.
        yield_now();
    }
    killed
}

/// Gives the running thread a ring-3 context (or, with `None`, takes it away) and
/// makes it the one the entry stubs use now.
pub fn set_user_context(user: Option<UserContext>) {
    let mut s = SCHED.lock();
    s.current_mut().user = user;
    kiln_running_program.store(user.map_or(0, |u| u.program), Ordering::Relaxed);
    if let Some(user) = user {
        // SAFETY: the scheduler's lock keeps interrupts off; one CPU.
        unsafe {
            crate::interrupts::RESUME_USER_CR3 = user.cr3;
            crate::interrupts::SYSCALL_KERNEL_RSP = user.kernel_rsp;
        }
    }
}

/// The running thread is ending on its own after a cancel: its forced end
/// (`kill_after`) would only change how it is reported.
pub fn forget_kill_deadline() {
    let mut s = SCHED.lock();
    let id = s.current;
    if let Some(deadline) = s.current_mut().kill_deadline_ns.take() {
        s.kill_timers.remove(&(deadline, id));
    }
}

/// True while thread `id` exists and has not ended.
pub fn is_alive(id: u64) -> bool {
    SCHED
        .lock()
        .threads
        .get(&id)
        .is_some_and(|t| t.state != State::Dead)
}

/// The running thread's ring-3 context, if it has one.
pub fn current_user() -> Option<UserContext> {
    SCHED.lock().current_mut().user
}

/// The `data` of the running thread's ring-3 context (0 without one).
pub fn current_user_data() -> u64 {
    SCHED.lock().current_mut().user.map_or(0, |u| u.data)
}

/// Ctrl-Z of program thread `id` (see [`Scheduler::stop`]).
pub fn stop(id: u64) -> bool {
    SCHED.lock().stop(id)
}

/// Lets a thread stopped by [`stop`] run again.
pub fn resume(id: u64) -> bool {
    SCHED.lock().resume(id)
}

/// Ends program thread `id` forcibly once `grace_ns` has passed, unless it has ended.
pub fn kill_after(id: u64, grace_ns: u64) -> bool {
    let mut s = SCHED.lock();
    match s.get_mut(id) {
        Some(t) if t.state != State::Dead && t.kind == ThreadKind::Program => {
            let at = time::now_ns().saturating_add(grace_ns);
            let previous = t.kill_deadline_ns;
            let at = previous.map_or(at, |d| d.min(at));
            t.kill_deadline_ns = Some(at);
            if let Some(previous) = previous {
                s.kill_timers.remove(&(previous, id));
            }
            s.kill_timers.insert((at, id));
            true
        }
        _ => false,
    }
}

/// True when the running thread is a program thread.
pub fn current_is_program() -> bool {
    CURRENT_IS_PROGRAM.load(Ordering::Relaxed)
}

/// Heap bytes program thread `id` holds (0 for a kernel thread), while it lives.
pub fn memory_of(id: u64) -> Option<usize> {
    let mut s = SCHED.lock();
    let thread = s.get_mut(id)?;
    if thread.state == State::Dead {
        return None;
    }
    // SAFETY: a live thread's account is reclaimed only after it is taken out of the
    // record, which needs the scheduler lock we hold.
    Some(
        thread
            .account
            .map_or(0, |a| unsafe { heap::account_bytes(a) }),
    )
}

/// Ends the running thread from an exception handler and switches away; the reaper
/// finishes it.
pub fn abort_from_interrupt(frame: *mut Frame, abort: Abort) -> *mut Frame {
    let mut s = SCHED.lock();
    let me = s.current;
    s.mark_dead(me, Some(abort));
    s.reschedule(frame)
}

/// The preemption counter behind `kiln_init::sync::Mutex`; see the module docs.
pub struct Preempt;

impl kiln_init::sync::Preemption for Preempt {
    fn disable(&self) {
        PREEMPT_COUNT.fetch_add(1, Ordering::Relaxed);
    }

    fn enable(&self) {
        let previous = PREEMPT_COUNT.fetch_sub(1, Ordering::Relaxed);
        if previous == 1 && NEED_RESCHED.swap(false, Ordering::Relaxed) && interrupts::are_enabled()
        {
            // A tick (or a kill) waited for the last lock: take that switch now.
            DEFERRED_SWITCH.store(true, Ordering::Relaxed);
            raise_yield();
        }
    }
}

/// The one counter, installed at boot.
pub static PREEMPT: Preempt = Preempt;
