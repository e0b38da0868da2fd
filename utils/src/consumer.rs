//! `consumer`: reads stdin to end of file and prints how many lines it saw
//! (`N lines`), for pipe tests.

use embedded_io::Read;
use kiln_init::program::{Context, Program, Status};

use crate::cli::{self, STATUS_OK};
use crate::outln;

pub const PROGRAM: Program = Program {
    name: "consumer",
    about: "count the lines of stdin (for pipe tests)",
    usage: "usage: consumer\n  reads stdin to end of file and prints 'N lines'",
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
    let mut lines: u64 = 0;
    loop {
        let count = ctx.input().read(&mut buf)?;
        if count == 0 {
            break;
        }
        lines += buf[..count].iter().filter(|&&byte| byte == b'\n').count() as u64;
    }
    outln!(ctx, "{lines} lines")?;
    Ok(STATUS_OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Run, run};

    #[test]
    fn counts_lines() {
        let outcome = Run::new(PROGRAM, &[]).stdin(b"a\nbb\n\nccc\n").run();
        assert_eq!(outcome.stdout, "4 lines\n");
        assert_eq!(run(PROGRAM, &[]).stdout, "0 lines\n");
    }
}
