//! Child processes that cannot outlive the process that started them.
//!
//! The launcher and the test harness start QEMU (and the harness starts the launcher).
//! Were the parent killed with SIGKILL, nothing would run to stop its child, and QEMU
//! would go on running with nobody reading its console. [`die_with_parent`] asks the
//! kernel to send the child SIGKILL when its parent goes, whatever the cause.
//!
//! How: between fork and exec the child calls `prctl(PR_SET_PDEATHSIG, SIGKILL)`, then
//! checks that its parent is still the process that forked it: if the parent died
//! before the `prctl`, the child has already been reparented and no signal will come,
//! so it exits at once. See prctl(2), `PR_SET_PDEATHSIG`.
//!
//! The signal comes when the parent *thread* that forked the child ends, not only the
//! whole process. Spawn from a thread that lives as long as the child may: the
//! launcher spawns from its main thread; a test's `Vm` is made and dropped (QEMU
//! killed) on its test's thread.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Exit status of a child whose parent died before it could ask for the signal; no
/// one is left to read it.
const ORPHANED_STATUS: libc::c_int = 127;

/// Makes the child of `command` receive SIGKILL when the spawning thread (see the
/// module doc) or its whole process ends, SIGKILL included.
pub fn die_with_parent(command: &mut Command) -> &mut Command {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe work is allowed: it makes the raw syscalls prctl, getppid and
    // _exit and reads errno; it does not allocate, lock or touch the parent's state.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(ORPHANED_STATUS);
            }
            Ok(())
        })
    }
}
