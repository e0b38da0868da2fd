//! `crash KIND`: fails on purpose, to show that a broken program ends its job with a
//! status, never the image.
//!
//! - `panic`: `panic!` (status 101).
//! - `divzero`, `ud2`, `pagefault`: a real CPU exception raised by the platform
//!   (status 128 + vector: 128, 134, 142).
//! - `stack`: unbounded recursion, about [`STACK_FRAME_BYTES`] per frame, until the
//!   stack overflows.
//! - `hang`: an infinite loop that ignores cancellation (Ctrl-C and `kill` end it
//!   forcibly after their grace period, `kill -9` at once).
//! - `oom`: keeps 1 MiB chunks alive with ordinary (infallible) allocations until one
//!   fails, as a real program would: the allocator's out-of-memory path ends the job
//!   (a panic, status 101, with the allocation in the report). The platform caps what
//!   one job may hold, so the kernel keeps its memory, and the chunks come back when
//!   the job ends (`reclaimed` in `memstat`).

use alloc::vec::Vec;
use core::hint::black_box;

use kiln_init::platform::Fault;
use kiln_init::program::{Context, Program, Status};

use crate::cli::{self, Error, STATUS_FAILURE};
use crate::errln;

pub const PROGRAM: Program = Program {
    name: "crash",
    about: "fail on purpose: panic, CPU fault, stack overflow, hang, out of memory",
    usage: "usage: crash panic|divzero|ud2|pagefault|stack|hang|oom\n  fails on purpose; the job ends with a status, the image keeps running",
    main,
};

/// Bytes of the array each `stack` frame keeps.
pub const STACK_FRAME_BYTES: usize = 1024;
/// Size of each chunk `oom` keeps alive.
pub const OOM_CHUNK_BYTES: usize = 1024 * 1024;
/// What `oom` fills its chunks with, so the pages are really touched.
const OOM_FILL: u8 = 0xA5;

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, body)
}

fn body(ctx: &mut Context<'_>) -> cli::Result<Status> {
    let (kind, rest) = ctx
        .args()
        .split_first()
        .ok_or_else(|| Error::missing("missing kind of crash"))?;
    cli::no_more_args(rest)?;
    match kind.as_str() {
        "panic" => panic!("crash: deliberate panic"),
        "divzero" => fault(ctx, Fault::DivideByZero),
        "ud2" => fault(ctx, Fault::InvalidOpcode),
        "pagefault" => fault(ctx, Fault::PageFault),
        "stack" => Ok(Status::from(recurse(0) != 0)),
        "hang" => loop {
            core::hint::spin_loop();
        },
        "oom" => exhaust_heap(ctx),
        _ => Err(Error::usage("unknown kind of crash", kind)),
    }
}

/// Asks the platform for a CPU fault; only a fake platform returns.
fn fault(ctx: &Context<'_>, fault: Fault) -> cli::Result<Status> {
    ctx.platform.raise_fault(fault);
    errln!(ctx, "crash: the platform did not raise {fault:?}")?;
    Ok(STATUS_FAILURE)
}

/// Recurses until the stack overflows; `black_box` keeps each frame's array real and
/// stops the recursion from being turned into a loop.
#[inline(never)]
fn recurse(depth: usize) -> usize {
    let mut frame = [0u8; STACK_FRAME_BYTES];
    frame[depth % STACK_FRAME_BYTES] = 1;
    let frame = black_box(frame);
    if black_box(true) {
        recurse(depth + 1) + usize::from(frame[depth % STACK_FRAME_BYTES])
    } else {
        depth
    }
}

/// Holds ever more 1 MiB chunks until an allocation fails (which ends the job).
fn exhaust_heap(_ctx: &Context<'_>) -> ! {
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        held.push(black_box(alloc::vec![OOM_FILL; OOM_CHUNK_BYTES]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run;

    #[test]
    fn panic_panics() {
        let result = std::panic::catch_unwind(|| run(PROGRAM, &["panic"]));
        assert!(result.is_err());
    }

    #[test]
    fn faults_are_raised_through_the_platform() {
        let outcome = run(PROGRAM, &["divzero"]);
        assert_eq!(outcome.faults, [Fault::DivideByZero]);
        assert_eq!(outcome.status, 1);
        assert_eq!(run(PROGRAM, &["ud2"]).faults, [Fault::InvalidOpcode]);
        assert_eq!(run(PROGRAM, &["pagefault"]).faults, [Fault::PageFault]);
    }

    #[test]
    fn unknown_kinds_are_usage_errors() {
        let outcome = run(PROGRAM, &["gently"]);
        assert_eq!(outcome.status, 2);
        assert!(
            outcome
                .stderr
                .starts_with("crash: unknown kind of crash ('gently')\nusage: crash ")
        );
        assert_eq!(run(PROGRAM, &[]).status, 2);
    }
}
