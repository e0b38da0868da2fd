//! `false`: does nothing, unsuccessfully (status 1).

use kiln_init::program::{Context, Program, Status};

use crate::cli::{self, STATUS_FAILURE};

pub const PROGRAM: Program = Program {
    name: "false",
    about: "exit with status 1",
    usage: "usage: false\n  exits with status 1",
    main,
};

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, |_| Ok(STATUS_FAILURE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run;

    #[test]
    fn fails_whatever_the_arguments() {
        assert_eq!(run(PROGRAM, &[]).status, 1);
        assert_eq!(run(PROGRAM, &["x"]).status, 1);
        assert_eq!(run(PROGRAM, &["--help"]).status, 0);
    }
}
