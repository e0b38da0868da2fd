//! `producer [N]`: writes N numbered lines (`line 1` ... `line N`, default
//! [`DEFAULT_LINES`]) to stdout, for pipe tests (`producer 1000 | consumer`).

use kiln_init::program::{Context, Program, Status};

use crate::cli::{self, Error, STATUS_OK};
use crate::outln;

pub const PROGRAM: Program = Program {
    name: "producer",
    about: "write N numbered lines (for pipe tests)",
    usage: "usage: producer [N]\n  writes 'line 1' to 'line N' (default 10), one per line",
    main,
};

/// Lines written when no N is given.
pub const DEFAULT_LINES: u64 = 10;

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, body)
}

fn body(ctx: &mut Context<'_>) -> cli::Result<Status> {
    let count = match ctx.args().split_first() {
        Some((first, rest)) => {
            cli::no_more_args(rest)?;
            first
                .parse::<u64>()
                .map_err(|_| Error::usage("bad line count", first))?
        }
        None => DEFAULT_LINES,
    };
    for number in 1..=count {
        outln!(ctx, "line {number}")?;
    }
    Ok(STATUS_OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run;

    #[test]
    fn writes_numbered_lines() {
        assert_eq!(run(PROGRAM, &["3"]).stdout, "line 1\nline 2\nline 3\n");
        assert_eq!(run(PROGRAM, &[]).stdout.lines().count(), 10);
        assert_eq!(run(PROGRAM, &["0"]).stdout, "");
        assert_eq!(run(PROGRAM, &["many"]).status, 2);
    }
}
