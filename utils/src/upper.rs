//! `upper`: copies stdin to stdout in upper case (ASCII only) until end of file.

use embedded_io::{Read, Write};
use kiln_init::program::{Context, Program, Status};

use crate::cli::{self, STATUS_OK};

pub const PROGRAM: Program = Program {
    name: "upper",
    about: "copy stdin to stdout in upper case",
    usage: "usage: upper\n  copies stdin to stdout in upper case (ASCII) until end of file",
    main,
};

/// Bytes read per call.
const CHUNK_BYTES: usize = 256;

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, body)
}

fn body(ctx: &mut Context<'_>) -> cli::Result<Status> {
    cli::no_more_args(ctx.args())?;
    let mut buf = [0u8; CHUNK_BYTES];
    loop {
        let count = ctx.input().read(&mut buf)?;
        if count == 0 {
            return Ok(STATUS_OK);
        }
        buf[..count].make_ascii_uppercase();
        ctx.out().write_all(&buf[..count])?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Run, run};

    #[test]
    fn upper_cases_ascii_until_eof() {
        let outcome = Run::new(PROGRAM, &[])
            .stdin("hello, wörld 123\nsecond line\n".as_bytes())
            .run();
        assert_eq!(outcome.status, 0);
        assert_eq!(outcome.stdout, "HELLO, WöRLD 123\nSECOND LINE\n");
    }

    #[test]
    fn no_stdin_is_empty() {
        assert_eq!(run(PROGRAM, &[]).stdout, "");
        assert_eq!(run(PROGRAM, &["x"]).status, 2);
    }
}
