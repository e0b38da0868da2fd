//! The input pump: a platform thread that reads the console and feeds the session.
//!
//! The session thread blocks inside `Interpreter::run_text` while a foreground command
//! runs, so it cannot watch the console for Ctrl-C itself. The session starts a
//! thread that owns the console's [`embedded_io::Read`] half and loops:
//!
//! - it reads a chunk (blocking in the reader, which parks through the platform);
//! - a Ctrl-C (0x03) while a command runs (a foreground [`Interrupt`] is registered)
//!   calls [`Interrupt::cancel_foreground`] at once, marks the session interrupted and
//!   discards the type-ahead before it, as a tty's `ISIG` does; it is not queued;
//! - a Ctrl-Z (0x1a) while a command runs calls [`Interrupt::suspend_foreground`]: the
//!   foreground pipeline (or `fg` job) stops and the shell gets its prompt back;
//! - every other byte goes into a bounded queue (type-ahead for the next prompt); when
//!   the queue is full the byte is dropped (a tty's input overflow), so Ctrl-C always
//!   gets through;
//! - it unparks the session thread if it waits for input;
//! - end of input (`Ok(0)`) or a read error closes the input: the session ends once it
//!   has used up the queue.
//!
//! The pump cannot be stopped while it blocks in `read`: a session is meant to be made
//! once per console and kept for the life of the image.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, Ordering};

use embedded_io::{Error as _, ErrorKind, Read};
use heapless::Deque;
use kiln_init::exec::Interrupt;
use kiln_init::platform::{Platform, SpawnError, ThreadId, ThreadKind, closure_body};

/// How many typed-ahead bytes the queue holds.
pub const INPUT_CAPACITY: usize = 4096;
/// How many bytes the pump asks the reader for at a time.
const READ_CHUNK: usize = 64;
/// The byte Ctrl-C sends.
pub(crate) const CTRL_C: u8 = 0x03;
/// The byte Ctrl-Z sends.
pub(crate) const CTRL_Z: u8 = 0x1a;
/// The pump thread's name.
const PUMP_THREAD_NAME: &str = "shell-input";

/// The queue between the pump and the session.
struct Queue {
    bytes: Deque<u8, INPUT_CAPACITY>,
    /// The reader reported end of input (or failed): no more bytes will come.
    closed: bool,
    /// The session thread, while it is parked waiting for a byte.
    waiter: Option<ThreadId>,
    /// Bytes dropped because the queue was full.
    dropped: u64,
}

/// What the pump and the session share.
pub(crate) struct InputState {
    platform: &'static dyn Platform,
    queue: kiln_init::sync::Mutex<Queue>,
    /// The interpreter's interrupt handle while a command runs in the foreground.
    foreground: kiln_init::sync::Mutex<Option<Arc<Interrupt>>>,
    /// A Ctrl-C arrived while the current command ran (for `fg` and `repeat`).
    interrupted: AtomicBool,
}

impl InputState {
    pub(crate) fn new(platform: &'static dyn Platform) -> Arc<Self> {
        Arc::new(InputState {
            platform,
            queue: kiln_init::sync::Mutex::new(Queue {
                bytes: Deque::new(),
                closed: false,
                waiter: None,
                dropped: 0,
            }),
            foreground: kiln_init::sync::Mutex::new(None),
            interrupted: AtomicBool::new(false),
        })
    }

    /// Registers (or, with `None`, forgets) the handle Ctrl-C cancels; returns the
    /// previous one.
    pub(crate) fn set_foreground(&self, handle: Option<Arc<Interrupt>>) -> Option<Arc<Interrupt>> {
        core::mem::replace(&mut *self.foreground.lock(), handle)
    }

    /// True if Ctrl-C was pressed since [`InputState::clear_interrupted`].
    pub(crate) fn interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    pub(crate) fn clear_interrupted(&self) {
        self.interrupted.store(false, Ordering::SeqCst);
    }

    /// How many bytes were dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.queue.lock().dropped
    }

    /// The next input byte, blocking (through the platform's `park`) until one comes;
    /// `None` once the input is closed and drained.
    pub(crate) fn next_byte(&self) -> Option<u8> {
        let me = self.platform.current_thread();
        loop {
            {
                let mut queue = self.queue.lock();
                if let Some(byte) = queue.bytes.pop_front() {
                    queue.waiter = None;
                    return Some(byte);
                }
                if queue.closed {
                    queue.waiter = None;
                    return None;
                }
                queue.waiter = Some(me);
            }
            self.platform.park(None);
        }
    }

    /// The pump's handling of one input byte; see the module docs.
    fn take(&self, byte: u8) {
        if byte == CTRL_C {
            let handle = self.foreground.lock().clone();
            if let Some(handle) = handle {
                self.interrupted.store(true, Ordering::SeqCst);
                self.queue.lock().bytes.clear();
                handle.cancel_foreground();
                return;
            }
        }
        if byte == CTRL_Z {
            let handle = self.foreground.lock().clone();
            if let Some(handle) = handle {
                // Stops the foreground pipeline or `fg` job, if it can be stopped; a
                // tty's SUSP is never queued either.
                handle.suspend_foreground();
                return;
            }
        }
        let mut queue = self.queue.lock();
        if queue.bytes.push_back(byte).is_err() {
            queue.dropped += 1;
        }
    }

    /// Drops queued input up to and including a Ctrl-C typed ahead, if there is one:
    /// it was typed after the line now starting, so it is meant for that command.
    pub(crate) fn take_typed_ahead_interrupt(&self) -> bool {
        let mut queue = self.queue.lock();
        let Some(at) = queue.bytes.iter().position(|&b| b == CTRL_C) else {
            return false;
        };
        for _ in 0..=at {
            queue.bytes.pop_front();
        }
        true
    }

    /// Drops a Ctrl-Z typed ahead, if there is one: typed after the line now starting,
    /// it is meant for that command.
    pub(crate) fn take_typed_ahead_suspend(&self) -> bool {
        let mut queue = self.queue.lock();
        let Some(at) = queue.bytes.iter().position(|&b| b == CTRL_Z) else {
            return false;
        };
        // Keep the bytes around it: only the Ctrl-Z was for the command.
        let rest: heapless::Vec<u8, INPUT_CAPACITY> = queue
            .bytes
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != at)
            .map(|(_, &b)| b)
            .collect();
        queue.bytes.clear();
        for byte in rest {
            let _ = queue.bytes.push_back(byte);
        }
        true
    }

    /// Wakes the session thread if it waits for input.
    fn wake(&self) {
        let waiter = self.queue.lock().waiter.take();
        if let Some(thread) = waiter {
            self.platform.unpark(thread);
        }
    }

    /// No more input will come.
    fn close(&self) {
        self.queue.lock().closed = true;
        self.wake();
    }
}

/// Starts the pump thread reading `reader` into `state`.
pub(crate) fn spawn_pump<R>(state: &Arc<InputState>, mut reader: R) -> Result<ThreadId, SpawnError>
where
    R: Read + Send + 'static,
{
    let pump_state = state.clone();
    let body = move || {
        let mut buf = [0u8; READ_CHUNK];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            for &byte in &buf[..n] {
                pump_state.take(byte);
            }
            pump_state.wake();
        }
        pump_state.close();
    };
    // A pump that dies (a panicking reader) closes the input, so the session ends
    // instead of waiting forever.
    let abort_state = state.clone();
    let on_abort = move |_status| abort_state.close();
    state.platform.spawn(
        PUMP_THREAD_NAME,
        ThreadKind::Kernel,
        closure_body(body, on_abort),
    )
}
