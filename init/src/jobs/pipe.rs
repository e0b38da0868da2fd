//! Pipes between jobs (`a | b`): a bounded in-kernel byte buffer.
//!
//! [`pipe`] returns a [`PipeWriter`] (a [`ByteSink`]) and a [`PipeReader`] (a
//! [`ByteSource`]) sharing one ring buffer of [`PIPE_CAPACITY`] bytes. A writer blocks
//! while the buffer is full (backpressure) and gets [`IoError::BrokenPipe`] once the
//! reader is closed; a reader blocks while it is empty and sees end of file (`Ok(0)`)
//! once the writer is closed and the buffer drained. Both return
//! [`IoError::Interrupted`] when their job is cancelled.
//!
//! Blocking is built from `park`/`unpark`: a blocked thread registers itself under the
//! lock before parking, and every state change unparks the registered threads, so no
//! wake-up is lost (an `unpark` before the `park` makes the `park` return at once).
//! Cancellation unparks the job's thread, which then sees `is_cancelled()`.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::platform::{Platform, ThreadId};
use crate::program::{ByteSink, ByteSource, IoError, JobLink};
use crate::sync::MutexGuard;

/// How many bytes a pipe holds before its writer blocks.
pub const PIPE_CAPACITY: usize = 4096;

struct PipeState {
    buffer: VecDeque<u8>,
    capacity: usize,
    writer_open: bool,
    reader_open: bool,
    /// Threads parked until the state changes (the reader, the writer, or both).
    parked: Vec<ThreadId>,
}

struct Pipe {
    platform: &'static dyn Platform,
    state: crate::sync::Mutex<PipeState>,
}

impl Pipe {
    /// Wakes every parked thread; call with the state lock released or held (unpark
    /// never blocks).
    /// Wakes every thread parked on the pipe, after releasing the lock.
    fn notify(&self, mut state: MutexGuard<'_, PipeState>) {
        let parked = core::mem::take(&mut state.parked);
        drop(state);
        for thread in parked {
            self.platform.unpark(thread);
        }
    }

    /// Registers the calling thread, releases the lock and parks until a change.
    fn park_until_changed(&self, mut state: MutexGuard<'_, PipeState>) {
        let me = self.platform.current_thread();
        if !state.parked.contains(&me) {
            state.parked.push(me);
        }
        drop(state);
        self.platform.park(None);
    }
}

/// The write end of a pipe.
pub struct PipeWriter(Arc<Pipe>);

/// The read end of a pipe.
pub struct PipeReader(Arc<Pipe>);

/// A pipe of [`PIPE_CAPACITY`] bytes.
pub fn pipe(platform: &'static dyn Platform) -> (Arc<PipeWriter>, Arc<PipeReader>) {
    pipe_with_capacity(platform, PIPE_CAPACITY)
}

/// A pipe holding at most `capacity` bytes (at least 1).
pub fn pipe_with_capacity(
    platform: &'static dyn Platform,
    capacity: usize,
) -> (Arc<PipeWriter>, Arc<PipeReader>) {
    let capacity = capacity.max(1);
    let shared = Arc::new(Pipe {
        platform,
        state: crate::sync::Mutex::new(PipeState {
            buffer: VecDeque::with_capacity(capacity),
            capacity,
            writer_open: true,
            reader_open: true,
            parked: Vec::new(),
        }),
    });
    (
        Arc::new(PipeWriter(shared.clone())),
        Arc::new(PipeReader(shared)),
    )
}

impl PipeReader {
    /// How many bytes wait to be read.
    pub fn buffered(&self) -> usize {
        self.0.state.lock().buffer.len()
    }
}

impl ByteSink for PipeWriter {
    fn write(&self, bytes: &[u8], job: &dyn JobLink) -> Result<usize, IoError> {
        if bytes.is_empty() {
            return Ok(0);
        }
        let pipe = &*self.0;
        loop {
            let mut state = pipe.state.lock();
            if job.is_cancelled() {
                return Err(IoError::Interrupted);
            }
            if !state.reader_open {
                return Err(IoError::BrokenPipe);
            }
            let room = state.capacity - state.buffer.len();
            if room > 0 {
                let taken = room.min(bytes.len());
                state.buffer.extend(&bytes[..taken]);
                pipe.notify(state);
                return Ok(taken);
            }
            pipe.park_until_changed(state);
        }
    }

    fn close(&self) {
        let mut state = self.0.state.lock();
        state.writer_open = false;
        self.0.notify(state);
    }
}

impl ByteSource for PipeReader {
    fn read(&self, buf: &mut [u8], job: &dyn JobLink) -> Result<usize, IoError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let pipe = &*self.0;
        loop {
            let mut state = pipe.state.lock();
            if job.is_cancelled() {
                return Err(IoError::Interrupted);
            }
            if !state.buffer.is_empty() {
                let n = buf.len().min(state.buffer.len());
                for (slot, byte) in buf.iter_mut().zip(state.buffer.drain(..n)) {
                    *slot = byte;
                }
                pipe.notify(state);
                return Ok(n);
            }
            if !state.writer_open {
                return Ok(0);
            }
            pipe.park_until_changed(state);
        }
    }

    fn close(&self) {
        let mut state = self.0.state.lock();
        state.reader_open = false;
        state.buffer.clear();
        self.0.notify(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakePlatform;
    use core::sync::atomic::{AtomicBool, Ordering};

    struct TestJob(AtomicBool);

    impl JobLink for TestJob {
        fn is_cancelled(&self) -> bool {
            self.0.load(Ordering::SeqCst)
        }
        fn ready(&self) {}
    }

    #[test]
    fn bytes_flow_then_end_of_file() {
        let fake = FakePlatform::leaked();
        let job = TestJob(AtomicBool::new(false));
        let (w, r) = pipe(fake);
        assert_eq!(w.write(b"hello", &job), Ok(5));
        w.close();
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf, &job), Ok(5));
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(r.read(&mut buf, &job), Ok(0));
    }

    #[test]
    fn full_pipe_takes_what_fits_and_closed_reader_breaks_it() {
        let fake = FakePlatform::leaked();
        let job = TestJob(AtomicBool::new(false));
        let (w, r) = pipe_with_capacity(fake, 4);
        assert_eq!(w.write(b"abcdef", &job), Ok(4));
        assert_eq!(r.buffered(), 4);
        r.close();
        assert_eq!(w.write(b"x", &job), Err(IoError::BrokenPipe));
    }

    #[test]
    fn cancelled_reader_is_interrupted() {
        let fake = FakePlatform::leaked();
        let job = TestJob(AtomicBool::new(true));
        let (_w, r) = pipe(fake);
        let mut buf = [0u8; 1];
        assert_eq!(r.read(&mut buf, &job), Err(IoError::Interrupted));
    }
}
