//! kiln's console shell: a line editor over embedded-io, history, completion and built-ins.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;
