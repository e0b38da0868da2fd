//! `args ARGS...`: prints each argument as `[ARG]` on its own line, to show exactly
//! what argv a program got after quoting and expansion.

use alloc::string::String;
use kiln_init::program::{Context, Program, Status};

use crate::cli::{self, STATUS_OK};

pub const PROGRAM: Program = Program {
    name: "args",
    about: "print each argument as [ARG] on its own line",
    usage: "usage: args [ARG...]\n  prints each argument as [ARG] on its own line",
    main,
};

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, body)
}

fn body(ctx: &mut Context<'_>) -> cli::Result<Status> {
    let mut text = String::new();
    for arg in ctx.args() {
        text.push('[');
        text.push_str(arg);
        text.push_str("]\n");
    }
    cli::write_str(&mut ctx.out(), &text)?;
    Ok(STATUS_OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run;

    #[test]
    fn brackets_every_argument() {
        let outcome = run(PROGRAM, &["a b", "", "$x"]);
        assert_eq!(outcome.status, 0);
        assert_eq!(outcome.stdout, "[a b]\n[]\n[$x]\n");
        assert_eq!(run(PROGRAM, &[]).stdout, "");
    }
}
