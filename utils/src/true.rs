//! `true`: does nothing, successfully (status 0).

use kiln_init::program::{Context, Program, Status};

use crate::cli::{self, STATUS_OK};

pub const PROGRAM: Program = Program {
    name: "true",
    about: "exit with status 0",
    usage: "usage: true\n  exits with status 0",
    main,
};

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, |_| Ok(STATUS_OK))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run;

    #[test]
    fn succeeds_whatever_the_arguments() {
        assert_eq!(run(PROGRAM, &[]).status, 0);
        assert_eq!(run(PROGRAM, &["x", "y"]).status, 0);
    }
}
