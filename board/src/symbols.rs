//! The compact symbol table embedded in the image, for fault reports and `ps`.
//!
//! The image reserves [`AREA_SIZE`] bytes that start with [`MAGIC`]. After linking, the
//! launcher (`src/symbols.rs` in the root package) lists the image's functions with `nm`
//! and writes the table into that area of the ELF file in place, so no address moves.
//! Layout after the magic: `count: u32`, then `count` entries `(start: u32, size: u32,
//! name_offset: u32)` sorted by start (addresses fit in 32 bits: the image lives at
//! 1 MiB), then the NUL-terminated names. An image built by plain `cargo build` has an
//! empty table, and lookups find nothing.

use alloc::format;
use alloc::string::String;

/// Bytes reserved for the table (the launcher checks that it fits).
pub const AREA_SIZE: usize = 96 * 1024;
/// Marks the area in the ELF file; the launcher searches for it.
pub const MAGIC: [u8; 16] = *b"KILN-SYMBOLS-v1\0";
const HEADER: usize = MAGIC.len() + 4;
const ENTRY: usize = 12;

#[repr(C, align(16))]
struct Area([u8; AREA_SIZE]);

const fn initial_area() -> Area {
    let mut bytes = [0u8; AREA_SIZE];
    let mut i = 0;
    while i < MAGIC.len() {
        bytes[i] = MAGIC[i];
        i += 1;
    }
    Area(bytes)
}

/// Written in the ELF file after linking; mutable, so the compiler cannot assume its
/// contents and fold the lookups away.
#[unsafe(link_section = ".data.kiln_symbols")]
#[used]
static mut AREA: Area = initial_area();

fn area() -> &'static [u8; AREA_SIZE] {
    // SAFETY: the area is only written before boot (by the launcher, in the file); at
    // run time it is read-only.
    unsafe { &*(&raw const AREA).cast::<[u8; AREA_SIZE]>() }
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}

/// The function containing `address`, and the offset into it.
pub fn lookup(address: u64) -> Option<(&'static str, u64)> {
    let bytes = area();
    let count = read_u32(bytes, MAGIC.len()) as usize;
    if count == 0 || count > (AREA_SIZE - HEADER) / ENTRY {
        return None;
    }
    let entry = |i: usize| {
        let at = HEADER + i * ENTRY;
        (
            u64::from(read_u32(bytes, at)),
            u64::from(read_u32(bytes, at + 4)),
            read_u32(bytes, at + 8) as usize,
        )
    };
    // The last entry starting at or below the address.
    let (mut low, mut high) = (0, count);
    while low < high {
        let mid = (low + high) / 2;
        if entry(mid).0 <= address {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    let (start, size, name_at) = entry(low.checked_sub(1)?);
    if address >= start + size.max(1) {
        return None;
    }
    let names = bytes.get(name_at..)?;
    let end = names.iter().position(|&b| b == 0)?;
    let name = core::str::from_utf8(&names[..end]).ok()?;
    Some((name, address - start))
}

/// ` in SYMBOL+0xOFFSET` for an address, or nothing when unknown.
pub fn describe(address: u64) -> String {
    match lookup(address) {
        Some((name, offset)) => format!(" in {name}+{offset:#x}"),
        None => String::new(),
    }
}
