//! `ret N`: exits with status N (0 to 255), for testing `$?`, `&&` and `||`.

use kiln_init::program::{Context, Program, Status};

use crate::cli::{self, Error};

pub const PROGRAM: Program = Program {
    name: "ret",
    about: "exit with the given status",
    usage: "usage: ret N\n  exits with status N (0 to 255)",
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
        .ok_or_else(|| Error::missing("missing status"))?;
    let status = first
        .parse::<Status>()
        .map_err(|_| Error::usage("status must be 0 to 255", first))?;
    cli::no_more_args(rest)?;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run;

    #[test]
    fn exits_with_the_status() {
        for status in [0u8, 1, 3, 42, 255] {
            let outcome = run(PROGRAM, &[&alloc::format!("{status}")]);
            assert_eq!(outcome.status, status);
            assert_eq!(outcome.stdout, "");
        }
    }

    #[test]
    fn out_of_range_is_a_usage_error() {
        for bad in ["256", "-1", "x", ""] {
            let outcome = run(PROGRAM, &[bad]);
            assert_eq!(outcome.status, 2, "{bad}");
            assert_eq!(
                outcome.stderr,
                alloc::format!("ret: status must be 0 to 255 ('{bad}')\nusage: ret N\n")
            );
        }
        assert_eq!(run(PROGRAM, &[]).status, 2);
        assert_eq!(run(PROGRAM, &["1", "2"]).status, 2);
    }
}
