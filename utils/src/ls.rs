//! `ls`: lists the baked files (`Context::files`), one per line: size in bytes, name.

use alloc::string::String;
use core::fmt::Write as _;

use kiln_init::program::{Context, Program, Status};

use crate::cli::{self, STATUS_OK};

pub const PROGRAM: Program = Program {
    name: "ls",
    about: "list the baked files with their sizes",
    usage: "usage: ls\n  lists the baked files: size in bytes, then name",
    main,
};

/// Width of the size column.
const SIZE_WIDTH: usize = 8;

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, body)
}

fn body(ctx: &mut Context<'_>) -> cli::Result<Status> {
    cli::no_more_args(ctx.args())?;
    let mut listing = String::new();
    for file in ctx.files {
        // Writing to a String cannot fail.
        let _ = writeln!(
            listing,
            "{:>SIZE_WIDTH$} {}",
            file.contents.len(),
            file.name
        );
    }
    cli::write_str(&mut ctx.out(), &listing)?;
    Ok(STATUS_OK)
}

#[cfg(test)]
mod tests {
    use kiln_init::program::BakedFile;

    use super::*;
    use crate::testing::{Run, run};

    const FILES: &[BakedFile] = &[
        BakedFile {
            name: "rc",
            contents: b"echo hi\n",
        },
        BakedFile {
            name: "big.rules",
            contents: &[b'#'; 12345],
        },
    ];

    #[test]
    fn lists_names_and_sizes() {
        let outcome = Run::new(PROGRAM, &[]).files(FILES).run();
        assert_eq!(outcome.status, 0);
        assert_eq!(outcome.stdout, "       8 rc\n   12345 big.rules\n");
    }

    #[test]
    fn no_files_no_output_and_arguments_are_refused() {
        assert_eq!(run(PROGRAM, &[]).stdout, "");
        let outcome = run(PROGRAM, &["-l"]);
        assert_eq!(outcome.status, 2);
        assert_eq!(
            outcome.stderr,
            "ls: unexpected argument ('-l')\nusage: ls\n"
        );
    }
}
