//! The kiln launcher library: builds the image and runs it in QEMU.
//!
//! Shared by the `kiln` binary (`cargo run --release`) and the QEMU test harness in
//! `tests/`, so both boot the image the same way.
//!
//! - [`bake`]: `kiln bake` and `kiln inspect`: an image with a user's programs, files and rc.
//! - [`child`]: child processes that die with the launcher (or the harness), SIGKILL too.
//! - [`files`]: `--file NAME=PATH`, checked before boot.
//! - [`image`]: builds the freestanding image in its own cargo invocation.
//! - [`programs`]: `--program NAME=PATH`, checked before boot.
//! - [`qemu`]: finds (or installs) QEMU, picks the accelerator, builds the command line.
//! - [`status`]: turns QEMU's exit into the status the guest powered off with.
//! - [`symbols`]: writes the compact symbol table into the built image.
//! - [`tools`]: finds (or installs) the host tools: QEMU, gdb, expect, cpio.

/// The phases `kiln.bootstats` prints, in order.
pub use kiln_init::platform::BOOT_PHASES;

pub mod bake;
pub mod child;
pub mod files;
pub mod image;
pub mod programs;
pub mod qemu;
pub mod status;
pub mod symbols;
pub mod tools;
