//! `greet NAME...`: a native kiln program in a user's own crate. Native programs run
//! in the kernel's address space as threads, start in microseconds, and use kiln's
//! program API: argv, env, stdio as embedded-io streams, sleep, cancellation.
#![no_std]

extern crate alloc;

use embedded_io::Write;
use kiln_init::program::{Context, Program, Status};

pub const GREET: Program = Program {
    name: "greet",
    about: "greet each NAME (a native program from examples/bake/greet)",
    usage: "usage: greet NAME...",
    main,
};

/// The crate's programs: the one line `kiln bake --crate` reads.
pub const PROGRAMS: &[Program] = &[GREET];

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    if ctx.args().is_empty() {
        let _ = ctx.err().write_all(b"usage: greet NAME...\n");
        return 2;
    }
    let mut out = ctx.out();
    for name in ctx.args() {
        let line = alloc::format!("greetings, {name} (native)\n");
        if out.write_all(line.as_bytes()).is_err() {
            return 1;
        }
    }
    0
}
