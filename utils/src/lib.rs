//! Programs baked into the kiln image, each written against `kiln_init::program`.
//!
//! [`PROGRAMS`] is the registry: one line per program, and a duplicate name fails the
//! build. Each program is its own module with a `PROGRAM` description and an
//! `#[inline(never)] pub fn main`, so gdb can break on `kiln_utils::<module>::main`.
//! [`cli`] holds what they share (`--help`, usage errors, durations); [`fw`] holds
//! the firewall rule engine as well as the `fw` program.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;

use kiln_init::program::Program;

pub mod cli;

pub mod args;
pub mod burn;
pub mod cat;
pub mod consumer;
pub mod crash;
pub mod echo;
pub mod r#false;
pub mod fetch;
pub mod fw;
pub mod hog;
pub mod kbench;
pub mod ls;
pub mod memstat;
pub mod net;
pub mod producer;
pub mod ret;
pub mod sleep;
pub mod tcpecho;
pub mod r#true;
pub mod upper;

#[cfg(test)]
mod testing;

/// Every program baked into the image. Adding a program is one line here.
pub const PROGRAMS: &[Program] = &[
    echo::PROGRAM,
    r#true::PROGRAM,
    r#false::PROGRAM,
    sleep::PROGRAM,
    args::PROGRAM,
    upper::PROGRAM,
    ret::PROGRAM,
    cat::PROGRAM,
    ls::PROGRAM,
    burn::PROGRAM,
    crash::PROGRAM,
    memstat::PROGRAM,
    hog::PROGRAM,
    fw::PROGRAM,
    producer::PROGRAM,
    consumer::PROGRAM,
    kbench::PROGRAM,
    net::PROGRAM,
    tcpecho::PROGRAM,
    fetch::PROGRAM,
];

const _: () = kiln_init::program::assert_unique_names(PROGRAMS);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run;

    #[test]
    fn every_program_answers_help_with_its_usage() {
        for program in PROGRAMS {
            let outcome = run(*program, &["--help"]);
            assert_eq!(outcome.status, 0, "{}", program.name);
            assert_eq!(outcome.stdout.trim_end(), program.usage, "{}", program.name);
            assert!(
                program
                    .usage
                    .starts_with(&alloc::format!("usage: {}", program.name)),
                "{}",
                program.name
            );
            assert!(!program.about.contains('\n'), "{}", program.name);
        }
    }
}
