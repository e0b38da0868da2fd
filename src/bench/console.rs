//! A guest's serial console on QEMU's stdin/stdout pipes, with arrival times.
//!
//! A reader thread appends every chunk QEMU writes and notes when it arrived, so a
//! match is timed by the arrival of its last byte, not by when this thread woke up.
//! QEMU drops bytes that reach the UART before the guest initialised it: callers await
//! a prompt before typing.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Buffer {
    bytes: Vec<u8>,
    /// (end offset of a chunk, when it arrived), in order.
    chunks: Vec<(usize, Instant)>,
    closed: bool,
}

/// A running QEMU with its serial console on pipes; killed when dropped.
pub struct Guest {
    child: Child,
    stdin: Option<ChildStdin>,
    shared: Arc<(Mutex<Buffer>, Condvar)>,
    cursor: usize,
    /// Just before QEMU was started.
    pub started: Instant,
}

impl Guest {
    /// Starts `command` with piped stdin/stdout (stderr discarded).
    pub fn start(mut command: Command) -> Result<Guest, String> {
        let started = Instant::now();
        // The bench runs on the launcher's main thread, so QEMU dies with it.
        let mut child = kiln::child::die_with_parent(&mut command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("kiln bench: cannot start QEMU: {e}"))?;
        let shared = Arc::new((Mutex::new(Buffer::default()), Condvar::new()));
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let pump = shared.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            loop {
                let n = stdout.read(&mut chunk).unwrap_or(0);
                let now = Instant::now();
                let (lock, ready) = &*pump;
                let mut buffer = lock.lock().expect("console lock");
                if n == 0 {
                    buffer.closed = true;
                    ready.notify_all();
                    return;
                }
                buffer.bytes.extend_from_slice(&chunk[..n]);
                let end = buffer.bytes.len();
                buffer.chunks.push((end, now));
                ready.notify_all();
            }
        });
        let stdin = child.stdin.take();
        Ok(Guest {
            child,
            stdin,
            shared,
            cursor: 0,
            started,
        })
    }

    /// Waits for `text` after the last match; returns when its last byte arrived.
    pub fn expect(&mut self, text: &str, timeout: Duration) -> Result<Instant, String> {
        self.expect_text(text, timeout).map(|(at, _)| at)
    }

    /// `expect`, also returning what came between the last match and this one.
    pub fn expect_text(
        &mut self,
        text: &str,
        timeout: Duration,
    ) -> Result<(Instant, String), String> {
        let deadline = Instant::now() + timeout;
        let needle = text.as_bytes();
        let shared = self.shared.clone();
        let (lock, ready) = &*shared;
        let mut buffer = lock.lock().expect("console lock");
        loop {
            let unread = &buffer.bytes[self.cursor.min(buffer.bytes.len())..];
            if let Some(at) = unread.windows(needle.len()).position(|w| w == needle) {
                let before = String::from_utf8_lossy(&unread[..at]).into_owned();
                let end = self.cursor + at + needle.len();
                self.cursor = end;
                let arrived = buffer
                    .chunks
                    .iter()
                    .find(|&&(chunk_end, _)| chunk_end >= end)
                    .map(|&(_, at)| at)
                    .expect("every byte came in a chunk");
                return Ok((arrived, before));
            }
            if buffer.closed {
                return Err(format!("QEMU closed the console before {text:?}"));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!("no {text:?} within {timeout:?}"));
            }
            buffer = ready
                .wait_timeout(buffer, deadline - now)
                .expect("console lock")
                .0;
        }
    }

    /// Sends `bytes`; returns the time just before the write.
    pub fn send(&mut self, bytes: &[u8]) -> Result<Instant, String> {
        let stdin = self.stdin.as_mut().ok_or("the console's input is closed")?;
        let at = Instant::now();
        stdin
            .write_all(bytes)
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("cannot write to the console: {e}"))?;
        Ok(at)
    }

    /// The last `max` bytes of the transcript, for error messages.
    pub fn tail(&self, max: usize) -> String {
        let buffer = self.shared.0.lock().expect("console lock");
        let from = buffer.bytes.len().saturating_sub(max);
        String::from_utf8_lossy(&buffer.bytes[from..]).into_owned()
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
