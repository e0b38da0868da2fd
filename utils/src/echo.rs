//! `echo ARGS...`: prints its arguments joined by one space, then a newline.
//!
//! No options: only a leading `--help` is special (as for every baked program).

use kiln_init::program::{Context, Program, Status};

use crate::cli::{self, STATUS_OK};

pub const PROGRAM: Program = Program {
    name: "echo",
    about: "print the arguments joined by spaces",
    usage: "usage: echo [ARG...]\n  prints the arguments joined by one space, then a newline",
    main,
};

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, body)
}

fn body(ctx: &mut Context<'_>) -> cli::Result<Status> {
    let mut line = ctx.args().join(" ");
    line.push('\n');
    cli::write_str(&mut ctx.out(), &line)?;
    Ok(STATUS_OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run;

    #[test]
    fn joins_arguments_with_one_space() {
        let outcome = run(PROGRAM, &["hello", "big  world", ""]);
        assert_eq!(outcome.status, 0);
        assert_eq!(outcome.stdout, "hello big  world \n");
    }

    #[test]
    fn no_arguments_print_an_empty_line() {
        assert_eq!(run(PROGRAM, &[]).stdout, "\n");
    }

    #[test]
    fn help_prints_usage() {
        let outcome = run(PROGRAM, &["--help"]);
        assert_eq!(outcome.status, 0);
        assert!(outcome.stdout.starts_with("usage: echo"));
        assert_eq!(outcome.stderr, "");
    }
}
