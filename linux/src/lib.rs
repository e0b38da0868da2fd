//! The Linux personality of kiln's processes, as logic the host can test: which ELF files
//! can run and where their segments go ([`elf`]), the initial stack Linux gives a new
//! process ([`stack`]), and the x86-64 syscall numbers and error codes ([`abi`]).
//!
//! The board maps the memory and runs the code; the launcher uses [`elf::plan`] to
//! refuse a file before boot with the same words the image would use.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod abi;
pub mod elf;
pub mod stack;
