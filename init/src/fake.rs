//! A fake [`Platform`] for host tests: real std threads, simulated time.
//!
//! Every thread that uses the fake (threads it spawned, the thread that created it, and
//! any thread that calls [`Platform::park`] or [`Platform::current_thread`]) is *live*.
//! The simulated clock stands still while any live thread runs; when every live thread
//! is blocked in `park`, the clock jumps to the earliest deadline and the threads
//! parked until then wake. Tests are therefore deterministic and instant: a program
//! that sleeps an hour returns at once, and timestamps are exact.
//!
//! Rules for code running under the fake:
//! - block only through `park` (a live thread blocked in a std primitive freezes time);
//! - `yield_now` counts as parking for one [`YIELD_TICK`] of simulated time, so busy
//!   loops that yield let the clock advance;
//! - `kill` ends a thread at its next `park`/`yield_now` by unwinding it, and the
//!   thread's `on_abort` gets 137; a panic in a spawned body gives 101.
//!
//! If every live thread stays parked with no deadline for 10 s of real time, the fake
//! prints a deadlock warning on stderr (the test would otherwise hang silently).
//!
//! It also records power actions and faults, and [`FakeConsole`] captures what is
//! written to the console.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::platform::{
    Abort, Console, Fault, Platform, PowerAction, SpawnError, Status, ThreadBody, ThreadId,
    ThreadKind,
};

/// How far simulated time moves for a `yield_now` when every other thread is parked.
pub const YIELD_TICK: Duration = Duration::from_millis(1);

/// How long (real time) every thread may sit parked with no deadline before the fake
/// reports a likely deadlock on stderr.
const DEADLOCK_REPORT_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// The status `on_abort` gets for a thread killed with [`Platform::kill`].
const KILLED_STATUS: Status = 137;
/// The status `on_abort` gets for a panicking thread.
const PANIC_STATUS: Status = 101;

/// What one live thread is doing, as the clock sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunState {
    /// Running (or woken and about to run): the clock must not move.
    Running,
    /// Blocked in `park` until unparked or until the deadline.
    Parked(Option<Duration>),
    /// Stopped ([`Platform::stop`]) at a `park`: blocked until resumed (or killed).
    Stopped,
}

/// One live thread.
#[derive(Debug)]
struct ThreadSlot {
    run: RunState,
    /// An `unpark` arrived while the thread was running: its next `park` returns at once.
    token: bool,
    /// `kill` was asked for: the thread unwinds at its next `park`/`yield_now`.
    killed: bool,
    /// `kill_after`: the simulated time at which `killed` is set.
    kill_at: Option<Duration>,
    /// `stop` was asked for: the thread blocks at its next `park` until `resume`.
    stopped: bool,
}

#[derive(Debug, Default)]
struct State {
    now: Duration,
    threads: HashMap<ThreadId, ThreadSlot>,
    power: Vec<PowerAction>,
    faults: Vec<(ThreadId, Fault)>,
    /// `spawn` fails with out-of-memory while set (see [`FakePlatform::fail_spawns`]).
    spawns_fail: bool,
    /// `room_for_background` says no while set (see [`FakePlatform::fill_for_background`]).
    background_full: bool,
}

impl State {
    /// True if every live thread is parked with no deadline: only an outside `unpark`
    /// can help.
    fn is_deadlocked(&self) -> bool {
        self.threads
            .values()
            .all(|t| matches!(t.run, RunState::Parked(None) | RunState::Stopped))
    }

    /// If every live thread is parked, moves the clock to the earliest deadline and
    /// wakes the threads whose deadline has come. Returns true if any thread woke.
    fn advance_if_idle(&mut self) -> bool {
        if self.threads.values().any(|t| t.run == RunState::Running) {
            return false;
        }
        let earliest = self
            .threads
            .values()
            .flat_map(|t| {
                let deadline = match t.run {
                    RunState::Parked(deadline) => deadline,
                    RunState::Running | RunState::Stopped => None,
                };
                [deadline, t.kill_at]
            })
            .flatten()
            .min();
        let Some(earliest) = earliest else {
            return false;
        };
        if earliest > self.now {
            self.now = earliest;
        }
        let now = self.now;
        for slot in self.threads.values_mut() {
            if slot.kill_at.is_some_and(|at| at <= now) {
                slot.kill_at = None;
                slot.killed = true;
                slot.run = RunState::Running;
            }
            if matches!(slot.run, RunState::Parked(Some(d)) if d <= now) {
                slot.run = RunState::Running;
            }
        }
        true
    }
}

struct Shared {
    /// Tells this fake's thread-local registrations apart from other fakes'.
    key: u64,
    state: Mutex<State>,
    changed: Condvar,
    next_thread: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not wedge every other thread.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn new_slot(&self, state: &mut State) -> ThreadId {
        let id = self.next_thread.fetch_add(1, Ordering::Relaxed);
        state.threads.insert(
            id,
            ThreadSlot {
                run: RunState::Running,
                token: false,
                killed: false,
                kill_at: None,
                stopped: false,
            },
        );
        id
    }

    fn deregister(&self, id: ThreadId) {
        let mut state = self.lock();
        state.threads.remove(&id);
        if state.advance_if_idle() {
            self.changed.notify_all();
        }
    }
}

/// Marker payload used to unwind a killed thread.
struct KilledByPlatform;

/// A thread's registration with one fake; dropping it (at thread exit) deregisters.
struct Registration {
    shared: Weak<Shared>,
    key: u64,
    id: ThreadId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.deregister(self.id);
        }
    }
}

std::thread_local! {
    static REGISTRATIONS: RefCell<Vec<Registration>> = const { RefCell::new(Vec::new()) };
}

static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// The fake platform. Cheap to clone; clones share one clock.
#[derive(Clone)]
pub struct FakePlatform {
    shared: Arc<Shared>,
}

impl Default for FakePlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl FakePlatform {
    /// A fake at time zero; the calling thread becomes its first live thread.
    pub fn new() -> Self {
        let fake = FakePlatform {
            shared: Arc::new(Shared {
                key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
                next_thread: AtomicU64::new(1),
            }),
        };
        fake.register_current();
        fake
    }

    /// A fake that lives for the rest of the process, as `Interpreter` wants.
    pub fn leaked() -> &'static FakePlatform {
        Box::leak(Box::new(Self::new()))
    }

    /// Makes the calling thread live (idempotent) and returns its id. It stays live
    /// until it exits or calls [`FakePlatform::unregister_current`].
    pub fn register_current(&self) -> ThreadId {
        let key = self.shared.key;
        if let Some(id) = REGISTRATIONS.with(|r| {
            r.borrow()
                .iter()
                .find(|reg| reg.key == key)
                .map(|reg| reg.id)
        }) {
            return id;
        }
        let id = {
            let mut state = self.shared.lock();
            self.shared.new_slot(&mut state)
        };
        REGISTRATIONS.with(|r| {
            r.borrow_mut().push(Registration {
                shared: Arc::downgrade(&self.shared),
                key,
                id,
            })
        });
        id
    }

    /// Stops counting the calling thread as live (time may then move without it).
    pub fn unregister_current(&self) {
        let key = self.shared.key;
        let reg = REGISTRATIONS.with(|r| {
            let mut regs = r.borrow_mut();
            let at = regs.iter().position(|reg| reg.key == key)?;
            Some(regs.remove(at))
        });
        drop(reg);
    }

    /// Every power action asked for, in order.
    pub fn power_actions(&self) -> Vec<PowerAction> {
        self.shared.lock().power.clone()
    }

    /// Every fault raised with `raise_fault`, with the raising thread.
    pub fn faults(&self) -> Vec<(ThreadId, Fault)> {
        self.shared.lock().faults.clone()
    }

    /// Makes every `spawn` fail with [`SpawnError::OutOfMemory`] (or work again).
    pub fn fail_spawns(&self, fail: bool) {
        self.shared.lock().spawns_fail = fail;
    }

    /// Makes `room_for_background` say no (memory is short), or yes again.
    pub fn fill_for_background(&self, full: bool) {
        self.shared.lock().background_full = full;
    }

    /// How many threads are live.
    pub fn live_threads(&self) -> usize {
        self.shared.lock().threads.len()
    }

    /// Sleeps the calling thread for `duration` of simulated time.
    pub fn sleep(&self, duration: Duration) {
        let deadline = self.now() + duration;
        while self.now() < deadline {
            self.park(Some(deadline));
        }
    }

    /// Unwinds the calling thread if it was killed (once: `on_abort` may park again).
    fn check_killed<'s>(
        &'s self,
        mut state: MutexGuard<'s, State>,
        id: ThreadId,
    ) -> MutexGuard<'s, State> {
        if let Some(slot) = state.threads.get_mut(&id).filter(|t| t.killed) {
            slot.killed = false;
            drop(state);
            std::panic::resume_unwind(Box::new(KilledByPlatform));
        }
        state
    }
}

impl Platform for FakePlatform {
    fn room_for_background(&self) -> bool {
        !self.shared.lock().background_full
    }

    fn now(&self) -> Duration {
        self.shared.lock().now
    }

    fn current_thread(&self) -> ThreadId {
        self.register_current()
    }

    fn park(&self, deadline: Option<Duration>) {
        let id = self.register_current();
        let mut state = self.check_killed(self.shared.lock(), id);
        {
            let now = state.now;
            let slot = state.threads.get_mut(&id).expect("registered thread");
            if slot.token {
                slot.token = false;
                return;
            }
            if deadline.is_some_and(|d| d <= now) {
                return;
            }
            slot.run = RunState::Parked(deadline);
        }
        if state.advance_if_idle() {
            self.shared.changed.notify_all();
        }
        loop {
            let slot = state.threads.get_mut(&id).expect("registered thread");
            if slot.run == RunState::Running && slot.stopped && !slot.killed {
                // Woken while stopped: it stays off the clock until resumed.
                slot.run = RunState::Stopped;
                if state.advance_if_idle() {
                    self.shared.changed.notify_all();
                }
                continue;
            }
            if slot.run == RunState::Running || slot.killed {
                slot.run = RunState::Running;
                slot.token = false;
                break;
            }
            let (guard, waited) = self
                .shared
                .changed
                .wait_timeout(state, DEADLOCK_REPORT_AFTER)
                .unwrap_or_else(|e| e.into_inner());
            state = guard;
            if waited.timed_out() && state.is_deadlocked() {
                std::eprintln!(
                    "fake platform: every live thread has been parked with no deadline for \
                     {DEADLOCK_REPORT_AFTER:?} of real time: deadlock?"
                );
            }
        }
        drop(self.check_killed(state, id));
    }

    fn unpark(&self, thread: ThreadId) {
        let mut state = self.shared.lock();
        if let Some(slot) = state.threads.get_mut(&thread) {
            match slot.run {
                RunState::Parked(_) => {
                    slot.run = RunState::Running;
                    self.shared.changed.notify_all();
                }
                RunState::Running | RunState::Stopped => slot.token = true,
            }
        }
    }

    fn yield_now(&self) {
        let deadline = self.now() + YIELD_TICK;
        self.park(Some(deadline));
    }

    fn spawn(
        &self,
        name: &str,
        _kind: ThreadKind,
        mut body: Box<dyn ThreadBody>,
    ) -> Result<ThreadId, SpawnError> {
        let id = {
            let mut state = self.shared.lock();
            if state.spawns_fail {
                return Err(SpawnError::OutOfMemory);
            }
            self.shared.new_slot(&mut state)
        };
        let fake = self.clone();
        let started = std::thread::Builder::new()
            .name(String::from(name))
            .spawn(move || {
                REGISTRATIONS.with(|r| {
                    r.borrow_mut().push(Registration {
                        shared: Arc::downgrade(&fake.shared),
                        key: fake.shared.key,
                        id,
                    })
                });
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body.run()));
                if let Err(payload) = outcome {
                    let abort = if payload.is::<KilledByPlatform>() {
                        Abort {
                            status: KILLED_STATUS,
                            report: String::from("killed"),
                        }
                    } else {
                        let message = payload
                            .downcast_ref::<&str>()
                            .map(|s| String::from(*s))
                            .or_else(|| payload.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        Abort {
                            status: PANIC_STATUS,
                            report: std::format!("panicked: {message}"),
                        }
                    };
                    body.aborted(abort);
                }
                drop(body);
                fake.unregister_current();
            });
        match started {
            Ok(_) => Ok(id),
            Err(_) => {
                self.shared.deregister(id);
                Err(SpawnError::TooManyThreads)
            }
        }
    }

    fn kill_after(&self, thread: ThreadId, grace: Duration) -> bool {
        let mut state = self.shared.lock();
        let now = state.now;
        let Some(slot) = state.threads.get_mut(&thread) else {
            return false;
        };
        slot.kill_at = Some(now + grace);
        if state.advance_if_idle() {
            self.shared.changed.notify_all();
        }
        true
    }

    fn kill(&self, thread: ThreadId) -> bool {
        let mut state = self.shared.lock();
        let Some(slot) = state.threads.get_mut(&thread) else {
            return false;
        };
        slot.killed = true;
        if let RunState::Parked(_) | RunState::Stopped = slot.run {
            slot.run = RunState::Running;
        }
        self.shared.changed.notify_all();
        true
    }

    fn stop(&self, thread: ThreadId) -> bool {
        let mut state = self.shared.lock();
        let Some(slot) = state.threads.get_mut(&thread) else {
            return false;
        };
        slot.stopped = true;
        if let RunState::Parked(_) = slot.run {
            slot.run = RunState::Stopped;
            if state.advance_if_idle() {
                self.shared.changed.notify_all();
            }
        }
        true
    }

    fn resume(&self, thread: ThreadId) -> bool {
        let mut state = self.shared.lock();
        let Some(slot) = state.threads.get_mut(&thread) else {
            return false;
        };
        slot.stopped = false;
        if slot.run == RunState::Stopped {
            slot.run = RunState::Running;
            self.shared.changed.notify_all();
        }
        true
    }

    fn raise_fault(&self, fault: Fault) {
        let id = self.register_current();
        self.shared.lock().faults.push((id, fault));
    }

    fn power(&self, action: PowerAction) {
        self.shared.lock().power.push(action);
    }
}

/// A console that keeps everything written to it.
#[derive(Default)]
pub struct FakeConsole {
    bytes: Mutex<Vec<u8>>,
}

impl FakeConsole {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Everything written so far, lossily decoded.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap_or_else(|e| e.into_inner())).into()
    }

    /// Everything written so far, as lines.
    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(String::from).collect()
    }

    /// Returns and forgets everything written so far.
    pub fn take(&self) -> String {
        let bytes = core::mem::take(&mut *self.bytes.lock().unwrap_or_else(|e| e.into_inner()));
        String::from_utf8_lossy(&bytes).into()
    }
}

impl Console for FakeConsole {
    fn write(&self, bytes: &[u8]) {
        self.bytes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::closure_body;
    use std::sync::mpsc;

    #[test]
    fn time_jumps_when_everyone_is_parked() {
        let fake = FakePlatform::new();
        assert_eq!(fake.now(), Duration::ZERO);
        fake.sleep(Duration::from_secs(3600));
        assert_eq!(fake.now(), Duration::from_secs(3600));
    }

    #[test]
    fn earliest_deadline_wins_and_threads_order_by_time() {
        let fake = FakePlatform::leaked();
        let (tx, rx) = mpsc::channel();
        for secs in [3u64, 1, 2] {
            let tx = tx.clone();
            fake.spawn(
                "sleeper",
                ThreadKind::Program,
                closure_body(
                    move || {
                        fake.sleep(Duration::from_secs(secs));
                        tx.send((secs, fake.now())).unwrap();
                    },
                    |_| {},
                ),
            )
            .unwrap();
        }
        drop(tx);
        // Let the sleepers run: park the test thread far in the future.
        fake.sleep(Duration::from_secs(10));
        let mut got: Vec<_> = rx.iter().collect();
        got.sort();
        assert_eq!(got, [1, 2, 3].map(|s| (s, Duration::from_secs(s))).to_vec());
        assert_eq!(fake.now(), Duration::from_secs(10));
    }

    #[test]
    fn unpark_before_park_is_not_lost() {
        let fake = FakePlatform::new();
        let me = fake.current_thread();
        fake.unpark(me);
        fake.park(None); // returns at once
        fake.park(Some(Duration::from_secs(1)));
        assert_eq!(fake.now(), Duration::from_secs(1));
    }

    #[test]
    fn panics_and_kills_reach_on_abort() {
        let fake = FakePlatform::leaked();
        let (tx, rx) = mpsc::channel();
        let tx2 = tx.clone();
        fake.spawn(
            "panicker",
            ThreadKind::Program,
            closure_body(
                || panic!("on purpose"),
                move |abort: Abort| tx.send(abort).unwrap(),
            ),
        )
        .unwrap();
        let victim = fake
            .spawn(
                "victim",
                ThreadKind::Program,
                closure_body(
                    move || fake.park(None),
                    move |abort: Abort| tx2.send(abort).unwrap(),
                ),
            )
            .unwrap();
        assert!(fake.kill(victim));
        let mut aborts = [rx.recv().unwrap(), rx.recv().unwrap()];
        aborts.sort_by_key(|a| a.status);
        assert_eq!(
            [aborts[0].status, aborts[1].status],
            [PANIC_STATUS, KILLED_STATUS]
        );
        assert_eq!(aborts[0].report, "panicked: on purpose");
    }

    #[test]
    fn records_power_and_console() {
        let fake = FakePlatform::new();
        fake.power(PowerAction::Off(3));
        assert_eq!(fake.power_actions(), [PowerAction::Off(3)]);
        let console = FakeConsole::new();
        console.write(b"hello\nworld\n");
        assert_eq!(console.lines(), ["hello", "world"]);
        assert_eq!(console.take(), "hello\nworld\n");
        assert_eq!(console.text(), "");
    }
}
