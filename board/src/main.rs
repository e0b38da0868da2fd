//! kiln's own image: the board (`src/lib.rs`) with kiln's native programs.
#![no_std]
#![no_main]

kiln_board::image!(kiln_utils::PROGRAMS);
