//! `cat [NAME...]`: prints baked files (from `Context::files`) one after another;
//! with no names, copies stdin to stdout.
//!
//! An unknown name is reported and skipped; the status is then 1.

use embedded_io::{Read, Write};
use kiln_init::program::{Context, Program, Status, find_file};

use crate::cli::{self, STATUS_FAILURE, STATUS_OK};
use crate::errln;

pub const PROGRAM: Program = Program {
    name: "cat",
    about: "print baked files (or stdin)",
    usage: "usage: cat [NAME...]\n  prints the baked files NAME...; with no NAME, copies stdin\n  (`ls` lists the baked files)",
    main,
};

/// Bytes copied per read from stdin.
const CHUNK_BYTES: usize = 256;

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, body)
}

fn body(ctx: &mut Context<'_>) -> cli::Result<Status> {
    if ctx.args().is_empty() {
        copy_stdin(ctx)?;
        return Ok(STATUS_OK);
    }
    let mut status = STATUS_OK;
    for name in ctx.args() {
        match find_file(ctx.files, name) {
            Some(file) => ctx.out().write_all(file.contents)?,
            None => {
                errln!(ctx, "cat: no such file ('{name}')")?;
                status = STATUS_FAILURE;
            }
        }
    }
    Ok(status)
}

fn copy_stdin(ctx: &Context<'_>) -> cli::Result<()> {
    let mut buf = [0u8; CHUNK_BYTES];
    loop {
        let count = ctx.input().read(&mut buf)?;
        if count == 0 {
            return Ok(());
        }
        ctx.out().write_all(&buf[..count])?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{BAKED_FILES, Run};
    use kiln_init::program::BakedFile;

    const FILES: &[BakedFile] = &[
        BakedFile {
            name: "a",
            contents: b"alpha\n",
        },
        BakedFile {
            name: "b",
            contents: b"beta\n",
        },
    ];

    #[test]
    fn prints_files_in_order() {
        let outcome = Run::new(PROGRAM, &["b", "a"]).files(FILES).run();
        assert_eq!(outcome.status, 0);
        assert_eq!(outcome.stdout, "beta\nalpha\n");
    }

    #[test]
    fn unknown_files_are_reported_and_skipped() {
        let outcome = Run::new(PROGRAM, &["a", "nope", "b"]).files(FILES).run();
        assert_eq!(outcome.status, 1);
        assert_eq!(outcome.stdout, "alpha\nbeta\n");
        assert_eq!(outcome.stderr, "cat: no such file ('nope')\n");
    }

    #[test]
    fn a_file_is_found_by_its_path_too() {
        let outcome = Run::new(PROGRAM, &["/a", "b"]).files(FILES).run();
        assert_eq!(outcome.stdout, "alpha\nbeta\n");
    }

    #[test]
    fn no_names_copy_stdin() {
        let outcome = Run::new(PROGRAM, &[]).stdin(b"piped\ntext").run();
        assert_eq!(outcome.stdout, "piped\ntext");
    }

    #[test]
    fn prints_the_real_rc_script() {
        let outcome = Run::new(PROGRAM, &["rc"]).files(BAKED_FILES).run();
        assert!(outcome.stdout.starts_with("# kiln default rc\n"));
    }
}
