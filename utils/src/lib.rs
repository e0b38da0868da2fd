//! Programs baked into the kiln image, each written against `kiln_init::program`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(test)]
extern crate std;
