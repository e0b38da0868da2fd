//! `burn [DUR]`: a CPU-bound busy loop, for testing preemption and `kill -9`.
//!
//! It reads the clock (`Context::now`) between batches of arithmetic but deliberately
//! never checks cancellation, so Ctrl-C and a plain `kill` do not stop it: only a
//! forced kill does. Without DUR it runs forever.

use core::hint::black_box;
use core::time::Duration;

use kiln_init::program::{Context, Program, Status};

use crate::cli::{self, STATUS_OK};

pub const PROGRAM: Program = Program {
    name: "burn",
    about: "busy-loop on the CPU (ignores Ctrl-C; only kill -9 stops it)",
    usage: "usage: burn [DUR]\n  spins the CPU for DUR (forever without DUR), ignoring cancellation",
    main,
};

/// Rounds of arithmetic between clock reads.
const ROUNDS_PER_CLOCK_READ: u32 = 10_000;
/// Knuth's MMIX LCG multiplier: busy work the optimiser cannot drop.
const LCG_MULTIPLIER: u64 = 6_364_136_223_846_793_005;
const LCG_INCREMENT: u64 = 1_442_695_040_888_963_407;

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, body)
}

fn body(ctx: &mut Context<'_>) -> cli::Result<Status> {
    let duration: Option<Duration> = match ctx.args().split_first() {
        Some((first, rest)) => {
            cli::no_more_args(rest)?;
            Some(cli::duration_arg(first)?)
        }
        None => None,
    };
    let deadline = duration.map(|duration| ctx.now() + duration);
    let mut state = 0u64;
    loop {
        for _ in 0..ROUNDS_PER_CLOCK_READ {
            state = black_box(
                state
                    .wrapping_mul(LCG_MULTIPLIER)
                    .wrapping_add(LCG_INCREMENT),
            );
        }
        if let Some(deadline) = deadline
            && ctx.now() >= deadline
        {
            return Ok(STATUS_OK);
        }
    }
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use super::*;
    use crate::testing::{Run, run};

    #[test]
    fn burns_until_the_deadline_even_when_cancelled() {
        let outcome = Run::new(PROGRAM, &["50ms"])
            .tick_per_read(Duration::from_millis(1))
            .cancel_after(Duration::from_millis(1))
            .run();
        assert_eq!(outcome.status, 0);
        assert!(outcome.elapsed >= Duration::from_millis(50));
    }

    #[test]
    fn bad_duration_is_a_usage_error() {
        assert_eq!(run(PROGRAM, &["soon"]).status, 2);
        assert_eq!(run(PROGRAM, &["1s", "2s"]).status, 2);
    }
}
