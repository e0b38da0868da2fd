//! kiln's init: the rc language, the job table and the program API.
//!
//! - [`rc`]: the rc language: lexer/parser (nom), AST, errors with line and column.
//! - [`jobs`]: the job table, pipes and job control (start, respawn, timeout, wait).
//! - [`program`]: what a baked program is written against ([`program::Context`]).
//! - [`platform`]: the small trait the hardware side (board) implements; host tests use fakes.
//!
//! Nothing here touches hardware; everything is tested on the host.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(any(test, feature = "fake"))]
extern crate std;

pub mod cmdline;
pub mod duration;
pub mod exec;
pub mod jobs;
pub mod net;
pub mod platform;
pub mod program;
pub mod rc;
pub mod sync;

#[cfg(any(test, feature = "fake"))]
pub mod fake;
