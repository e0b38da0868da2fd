//! The bundle `kiln bake` adds to the image: ELF programs, files and the default rc
//! script, loaded by the VMM as one more segment of the ELF file (format: crate
//! `kiln-bundle`). Bake writes the bundle's physical address and length into
//! [`BUNDLE_AT`] in the file; an unbaked image has zeros there and no bundle.

use alloc::vec::Vec;

use kiln_bundle::{Entry, POINTER_MAGIC};

#[repr(C, align(16))]
struct Pointer {
    magic: [u8; 16],
    address: u64,
    length: u64,
}

/// Written in the ELF file by bake; mutable, so the compiler cannot fold the zeros in.
#[unsafe(link_section = ".data.kiln_bundle")]
#[used]
static mut BUNDLE_AT: Pointer = Pointer {
    magic: *POINTER_MAGIC,
    address: 0,
    length: 0,
};

/// The bundle's bytes, if the image has one.
fn bytes() -> Option<&'static [u8]> {
    // SAFETY: written only in the file, before boot; read-only at run time.
    let (address, length) = unsafe {
        let at = &raw const BUNDLE_AT;
        (
            core::ptr::read_volatile(&raw const (*at).address),
            core::ptr::read_volatile(&raw const (*at).length),
        )
    };
    if address == 0 || length == 0 {
        return None;
    }
    // SAFETY: the VMM loaded the bundle's segment at `address` (identity-mapped RAM,
    // below the heap: see `end`), and nothing writes it.
    Some(unsafe { core::slice::from_raw_parts(address as *const u8, length as usize) })
}

/// The end of the bundle's memory (page-aligned), or 0: the heap starts above it.
pub fn end() -> u64 {
    // SAFETY: as in `bytes`.
    let (address, length) = unsafe {
        let at = &raw const BUNDLE_AT;
        (
            core::ptr::read_volatile(&raw const (*at).address),
            core::ptr::read_volatile(&raw const (*at).length),
        )
    };
    if address == 0 {
        0
    } else {
        (address + length).next_multiple_of(4096)
    }
}

/// The bundle's entries, read once (a damaged bundle is reported and ignored).
pub fn entries() -> &'static [Entry<'static>] {
    static ENTRIES: spin::Once<Vec<Entry<'static>>> = spin::Once::new();
    ENTRIES.call_once(|| match bytes().map(kiln_bundle::read) {
        None => Vec::new(),
        Some(Ok(entries)) => entries,
        Some(Err(error)) => {
            crate::kprintln!("kiln: the image's bundle is unusable: {error}");
            Vec::new()
        }
    })
}

/// The entries of one kind.
pub fn of(kind: kiln_bundle::Kind) -> impl Iterator<Item = &'static Entry<'static>> {
    entries().iter().filter(move |e| e.kind == kind)
}
