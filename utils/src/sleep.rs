//! `sleep DUR`: waits DUR through `Context::sleep`, so Ctrl-C and `kill` end it
//! early with status 130.

use kiln_init::program::{Context, Program, Status};

use crate::cli::{self, Error, STATUS_OK};

pub const PROGRAM: Program = Program {
    name: "sleep",
    about: "wait for a while",
    usage: "usage: sleep DUR\n  waits DUR: 500ms, 5s, 2m, 1h; a plain number is seconds",
    main,
};

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, body)
}

fn body(ctx: &mut Context<'_>) -> cli::Result<Status> {
    let (first, rest) = ctx
        .args()
        .split_first()
        .ok_or_else(|| Error::missing("missing duration"))?;
    let duration = cli::duration_arg(first)?;
    cli::no_more_args(rest)?;
    ctx.sleep(duration)?;
    Ok(STATUS_OK)
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use super::*;
    use crate::testing::{Run, run};

    #[test]
    fn sleeps_for_the_duration() {
        let outcome = run(PROGRAM, &["500ms"]);
        assert_eq!(outcome.status, 0);
        assert_eq!(outcome.elapsed, Duration::from_millis(500));
        assert_eq!(run(PROGRAM, &["2m"]).elapsed, Duration::from_secs(120));
        assert_eq!(run(PROGRAM, &["3"]).elapsed, Duration::from_secs(3));
    }

    #[test]
    fn cancellation_ends_it_with_130() {
        let outcome = Run::new(PROGRAM, &["5s"])
            .cancel_after(Duration::from_secs(1))
            .run();
        assert_eq!(outcome.status, 130);
        assert!(outcome.elapsed < Duration::from_secs(5));
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        let outcome = run(PROGRAM, &["5x"]);
        assert_eq!(outcome.status, 2);
        assert_eq!(
            outcome.stderr,
            "sleep: bad duration ('5x')\nusage: sleep DUR\n"
        );
        let outcome = run(PROGRAM, &[]);
        assert_eq!(outcome.status, 2);
        assert_eq!(
            outcome.stderr,
            "sleep: missing duration\nusage: sleep DUR\n"
        );
        let outcome = run(PROGRAM, &["1s", "2s"]);
        assert_eq!(outcome.status, 2);
        assert!(
            outcome
                .stderr
                .starts_with("sleep: unexpected argument ('2s')")
        );
    }
}
