//! fork, wait4 and pipes between processes: what `busybox sh` needs to run a pipeline.
//!
//! - A forked child is a thread of its own (program kind, so it has its own heap account
//!   and can be killed), not a job: its parent waits for it (`wait4`). Its thread body
//!   ([`ChildBody`]) owns what the child's `Context` borrows: clones of the parent's
//!   stdio, and a [`ChildLink`] for cancellation. The body is allocated as the kernel's
//!   (`kernel_owned`), because it outlives the parent's thread if the parent ends first;
//!   so are pipes and the [`ChildState`] parent and child share.
//! - The child copies the parent's address space itself, on its own thread (so the copy
//!   is on its own account) while the parent waits for it; then it enters ring 3 with the
//!   parent's registers and `rax` = 0.
//! - A child is cancelled when its parent is (Ctrl-C, `kill`) or has ended (a killed
//!   parent cannot tell it): [`ChildLink`] checks both. So an orphan does not outlive
//!   its parent, unlike on Linux.
//! - Limits: no process groups (`wait4` of -1, 0 or -PGID waits for any child), no
//!   signals delivered (SIGCHLD included; a blocking `wait4` is what shells need), and a
//!   child that faults keeps its pipe ends open until its parent ends.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use kiln_init::jobs::pipe::{PipeReader, PipeWriter};
use kiln_init::platform::{Abort, Platform, Status, ThreadBody, ThreadId, ThreadKind};
use kiln_init::program::{ByteSink, ByteSource, Context, Input, JobLink, Output};

use super::{AddressSpace, Fd, Process};
use crate::interrupts::Frame;
use crate::sched;

/// Process ids: the first process of a job and every fork take the next one.
static NEXT_PID: AtomicU64 = AtomicU64::new(2);

pub(super) fn new_pid() -> u64 {
    NEXT_PID.fetch_add(1, Ordering::Relaxed)
}

/// What a parent and its child share: how the child ended, and whether to cancel it.
pub(super) struct ChildState {
    pub pid: u64,
    /// The wait status (`WEXITSTATUS` << 8, or the signal), once it has ended.
    status: AtomicU32,
    ended: AtomicBool,
    cancelled: AtomicBool,
    /// The parent thread, to wake when the child ends.
    parent: ThreadId,
}

/// `ended` holds no status yet.
const NO_STATUS: u32 = u32::MAX;

impl ChildState {
    fn end(&self, status: u32, platform: &dyn Platform) {
        self.status.store(status, Ordering::SeqCst);
        self.ended.store(true, Ordering::SeqCst);
        platform.unpark(self.parent);
    }

    /// The wait status once the child has ended.
    pub fn ended(&self) -> Option<u32> {
        self.ended
            .load(Ordering::SeqCst)
            .then(|| self.status.load(Ordering::SeqCst))
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }
}

/// A child as its parent keeps it.
pub(super) type Child = Arc<ChildState>;

/// The wait status of a process that exited with `status`, or that a signal ended
/// (kiln's statuses 129..=159 are 128 + the signal, as a shell shows them).
fn wait_status(status: Status, signalled: bool) -> u32 {
    if signalled && status > 128 {
        u32::from(status - 128)
    } else {
        u32::from(status) << 8
    }
}

/// The child's view of cancellation: its parent cancelled it (the parent itself was
/// cancelled), or its parent's thread has ended (a killed parent cannot say so).
pub(super) struct ChildLink {
    state: Arc<ChildState>,
}

impl JobLink for ChildLink {
    fn is_cancelled(&self) -> bool {
        self.state.cancelled.load(Ordering::SeqCst) || !sched::is_alive(self.state.parent)
    }

    fn ready(&self) {}
}

/// What the parent hands the child: read by the child while the parent waits.
struct ForkRequest {
    parent: *const Process<'static>,
    frame: Frame,
    /// The parent's FS base (its thread pointer), which the child keeps.
    fs_base: u64,
    /// Set by the child once it has copied what it needs.
    copied: AtomicBool,
    /// The copy failed (no memory).
    failed: AtomicBool,
}

/// A child process's thread body: what its `Context` borrows, owned.
struct ChildBody {
    request: *const ForkRequest,
    state: Arc<ChildState>,
    link: ChildLink,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Input,
    stdout: Output,
    stderr: Output,
    platform: &'static dyn Platform,
    files: &'static [kiln_init::program::BakedFile],
    programs: &'static [kiln_init::program::Program],
}

// SAFETY: `request` is only read by the child thread while the parent, which owns it,
// waits for `copied`; everything else is Send.
unsafe impl Send for ChildBody {}

impl ThreadBody for ChildBody {
    fn run(&mut self) {
        let ctx = Context {
            argv: &self.argv,
            env: &self.env,
            stdin: &self.stdin,
            stdout: &self.stdout,
            stderr: &self.stderr,
            platform: self.platform,
            job: &self.link,
            files: self.files,
            programs: self.programs,
        };
        // SAFETY: the parent waits in `fork` until `copied` is set, so the request and
        // the parent process it points at are alive and unchanged until then.
        let request = unsafe { &*self.request };
        let parent = unsafe { &*request.parent };
        let child = parent.fork_copy(&ctx, self.state.pid);
        let mut frame = request.frame.clone();
        let fs_base = request.fs_base;
        let Some(mut child) = child else {
            request.failed.store(true, Ordering::SeqCst);
            request.copied.store(true, Ordering::SeqCst);
            self.platform.unpark(self.state.parent);
            self.state.end(
                wait_status(super::CANNOT_START_STATUS, false),
                self.platform,
            );
            return;
        };
        request.copied.store(true, Ordering::SeqCst);
        self.platform.unpark(self.state.parent);
        // The child's fork returns 0.
        frame.rax = 0;
        let status = child.enter_with(&frame, fs_base);
        drop(child);
        self.state
            .end(wait_status(status, status > 128), self.platform);
    }

    fn aborted(&mut self, abort: Abort) {
        // As a job's abort is reported: on its stderr, naming the program.
        let name = self.argv.first().map_or("?", String::as_str);
        let line = alloc::format!("{name}: {}\n", abort.report);
        let mut err = kiln_init::program::Writer::new(&self.stderr, &self.link);
        let _ = embedded_io::Write::write_all(&mut err, line.as_bytes());
        self.state
            .end(wait_status(abort.status, true), self.platform);
    }
}

impl<'a> Process<'a> {
    /// `fork` (clone without shared memory): a child with a copy of everything, which
    /// returns 0 where the parent gets the child's pid.
    pub(super) fn fork(&mut self, frame: &Frame) -> u64 {
        let platform: &'static dyn Platform = &crate::platform::PLATFORM;
        let parent_thread = platform.current_thread();
        let pid = new_pid();
        let request = ForkRequest {
            parent: core::ptr::from_ref(self).cast(),
            frame: frame.clone(),
            fs_base: crate::interrupts::read_msr(crate::interrupts::IA32_FS_BASE),
            copied: AtomicBool::new(false),
            failed: AtomicBool::new(false),
        };
        // Shared with the child, and alive after either ends: the kernel's, not ours.
        let mut body = None;
        kiln_init::platform::kernel_owned(platform, || {
            let state = Arc::new(ChildState {
                pid,
                status: AtomicU32::new(NO_STATUS),
                ended: AtomicBool::new(false),
                cancelled: AtomicBool::new(false),
                parent: parent_thread,
            });
            body = Some(Box::new(ChildBody {
                request: &request,
                state: state.clone(),
                link: ChildLink { state },
                argv: self.ctx.argv.to_vec(),
                env: self.ctx.env.to_vec(),
                stdin: self.ctx.stdin.clone(),
                stdout: self.ctx.stdout.clone(),
                stderr: self.ctx.stderr.clone(),
                platform,
                files: self.ctx.files,
                programs: self.ctx.programs,
            }));
        });
        let Some(body) = body else {
            return kiln_linux::abi::error(kiln_linux::abi::errno::ENOMEM);
        };
        let state = body.state.clone();
        if platform
            .spawn(self.image.name, ThreadKind::Program, body)
            .is_err()
        {
            return kiln_linux::abi::error(kiln_linux::abi::errno::EAGAIN);
        }
        while !request.copied.load(Ordering::SeqCst) {
            platform.park(None);
        }
        if request.failed.load(Ordering::SeqCst) {
            return kiln_linux::abi::error(kiln_linux::abi::errno::ENOMEM);
        }
        self.children.push(state);
        pid
    }

    /// The child's copy of this process (on the child's thread, with its `ctx`).
    fn fork_copy<'c>(&self, ctx: &'c Context<'c>, pid: u64) -> Option<Process<'c>> {
        Some(Process {
            image: self.image,
            space: self.space.fork()?,
            entry: self.entry,
            sp: self.sp,
            brk_start: self.brk_start,
            brk: self.brk,
            mmap_next: self.mmap_next,
            fds: self.fds.clone(),
            reported: self.reported.clone(),
            resume: 0,
            pid,
            parent_pid: self.pid,
            children: Vec::new(),
            ctx,
        })
    }

    /// `wait4(pid, status, options)`: waits for a child (any with `pid` -1) to end.
    pub(super) fn wait4(&mut self, pid: i64, status_at: u64, options: u64) -> super::Outcome {
        const WNOHANG: u64 = 1;
        use kiln_linux::abi::{errno, error};
        // kiln has no process groups: -1, 0 and -PGID all mean any child.
        let matches = |c: &Child| pid <= 0 || c.pid as i64 == pid;
        if !self.children.iter().any(&matches) {
            return super::Outcome::Return(error(errno::ECHILD));
        }
        loop {
            if let Some(at) = self
                .children
                .iter()
                .position(|c| matches(c) && c.ended().is_some())
            {
                let child = self.children.remove(at);
                let status = child.ended().unwrap_or(0);
                if status_at != 0 && !self.space.write(status_at, &status.to_le_bytes()) {
                    return super::Outcome::Return(error(errno::EFAULT));
                }
                return super::Outcome::Return(child.pid);
            }
            if options & WNOHANG != 0 {
                return super::Outcome::Return(0);
            }
            if self.ctx.is_cancelled() {
                return super::Outcome::Return(error(errno::EINTR));
            }
            self.ctx.platform.park(None);
        }
    }

    /// Cancels every child (the parent was cancelled, or is ending).
    pub(super) fn cancel_children(&self) {
        for child in &self.children {
            child.cancel();
        }
    }

    /// `pipe2`: both ends in this process's table.
    pub(super) fn pipe2(&mut self, fds_at: u64) -> super::Outcome {
        use kiln_linux::abi::{errno, error};
        let platform: &'static dyn Platform = &crate::platform::PLATFORM;
        let mut ends = None;
        kiln_init::platform::kernel_owned(platform, || {
            let (writer, reader) = kiln_init::jobs::pipe::pipe(platform);
            ends = Some((Arc::new(ReadEnd(reader)), Arc::new(WriteEnd(writer))));
        });
        let Some((reader, writer)) = ends else {
            return super::Outcome::Return(error(errno::ENOMEM));
        };
        let read_fd = self.new_fd(Fd::PipeRead(reader));
        let write_fd = self.new_fd(Fd::PipeWrite(writer));
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(read_fd as u32).to_le_bytes());
        bytes[4..].copy_from_slice(&(write_fd as u32).to_le_bytes());
        if !self.space.write(fds_at, &bytes) {
            return super::Outcome::Return(error(errno::EFAULT));
        }
        super::Outcome::Return(0)
    }
}

/// A pipe's read end as descriptors share it; the last one closed closes it.
pub(super) struct ReadEnd(Arc<PipeReader>);

/// A pipe's write end; the last descriptor closed gives the reader end of file.
pub(super) struct WriteEnd(Arc<PipeWriter>);

impl ReadEnd {
    pub fn read(
        &self,
        buf: &mut [u8],
        job: &dyn JobLink,
    ) -> Result<usize, kiln_init::program::IoError> {
        self.0.read(buf, job)
    }
}

impl WriteEnd {
    pub fn write(
        &self,
        bytes: &[u8],
        job: &dyn JobLink,
    ) -> Result<usize, kiln_init::program::IoError> {
        self.0.write(bytes, job)
    }
}

impl Drop for ReadEnd {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl Drop for WriteEnd {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl AddressSpace {
    /// A copy for a forked child: its own tables and private pages, the same shared ones.
    fn fork(&self) -> Option<AddressSpace> {
        let mut copy = AddressSpace::new()?;
        for (&address, &page) in &self.pages {
            if self.shared.contains(&address) {
                copy.map_shared(address, page)?;
                continue;
            }
            let writable = self.is_writable(address);
            let target = copy.map(address, true)?;
            // SAFETY: two distinct whole pages; the parent waits while this runs.
            unsafe { core::ptr::copy_nonoverlapping(page, target, super::PAGE_SIZE as usize) };
            if !writable {
                copy.set_writable(address, false);
            }
        }
        Some(copy)
    }
}
