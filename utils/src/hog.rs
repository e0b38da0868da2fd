//! `hog SIZE`: allocates SIZE bytes, writes every page of them, frees them and says so.
//!
//! SIZE is a byte count with an optional `K`, `M` or `G` suffix (powers of 1024), or
//! `N%` of the heap's size. The allocation is fallible: when it cannot be had, `hog`
//! says so and exits 1 instead of ending in an out-of-memory abort. For the tests that
//! memory comes back whole (`crash oom` twenty times, then half the heap at once).

use alloc::vec::Vec;

use kiln_init::program::{Context, Program, Status};

use crate::cli::{self, Error, STATUS_FAILURE, STATUS_OK};
use crate::outln;

pub const PROGRAM: Program = Program {
    name: "hog",
    about: "allocate SIZE bytes (or N% of the heap), touch them, free them",
    usage: "usage: hog SIZE\n  SIZE: BYTES[K|M|G] or N% of the heap; exits 1 if the memory cannot be had",
    main,
};

/// Bytes between two writes: one per page.
const PAGE: usize = 4096;

#[inline(never)]
pub fn main(ctx: &mut Context<'_>) -> Status {
    cli::run(ctx, &PROGRAM, body)
}

fn body(ctx: &mut Context<'_>) -> cli::Result<Status> {
    let Some((size, rest)) = ctx.args().split_first() else {
        return Err(Error::missing("missing SIZE"));
    };
    cli::no_more_args(rest)?;
    let heap_size = ctx.platform.heap_stats().map(|stats| stats.size);
    let bytes = parse_size(size, heap_size)
        .ok_or_else(|| Error::usage("bad size (BYTES[K|M|G] or N%)", size))?;
    let mut block: Vec<u8> = Vec::new();
    if block.try_reserve_exact(bytes).is_err() {
        outln!(ctx, "hog: cannot allocate {bytes} bytes")?;
        return Ok(STATUS_FAILURE);
    }
    block.resize(bytes, 0);
    for byte in block.iter_mut().step_by(PAGE) {
        *byte = 1;
    }
    drop(block);
    outln!(ctx, "hog: held {bytes} bytes")?;
    Ok(STATUS_OK)
}

/// `BYTES[K|M|G]`, or `N%` of `heap_size` (when the platform knows it).
fn parse_size(text: &str, heap_size: Option<usize>) -> Option<usize> {
    if let Some(percent) = text.strip_suffix('%') {
        let percent: usize = percent.parse().ok().filter(|p| *p <= 100)?;
        return Some(heap_size? / 100 * percent);
    }
    let (digits, unit) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 1 << 10),
        b'M' | b'm' => (&text[..text.len() - 1], 1 << 20),
        b'G' | b'g' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    digits.parse::<usize>().ok()?.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::run;

    #[test]
    fn sizes_take_units_and_percentages() {
        assert_eq!(parse_size("4096", None), Some(4096));
        assert_eq!(parse_size("3K", None), Some(3072));
        assert_eq!(parse_size("2M", None), Some(2 << 20));
        assert_eq!(parse_size("50%", Some(1000)), Some(500));
        assert_eq!(parse_size("50%", None), None);
        assert_eq!(parse_size("101%", Some(1000)), None);
        assert_eq!(parse_size("x", None), None);
        assert_eq!(parse_size("", None), None);
    }

    #[test]
    fn holds_and_reports_or_refuses_a_bad_size() {
        assert_eq!(run(PROGRAM, &["8K"]).stdout, "hog: held 8192 bytes\n");
        let bad = run(PROGRAM, &["lots"]);
        assert_eq!(bad.status, 2, "{}", bad.stderr);
        assert!(bad.stderr.contains("bad size"), "{}", bad.stderr);
    }
}
