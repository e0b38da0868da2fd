//! Bundles of ELF programs, files and an rc script (format: crate `kiln-bundle`):
//!
//! - the one `kiln bake` adds to the image, loaded by the VMM as one more segment of the
//!   ELF file: bake writes its physical address and length into [`BUNDLE_AT`] in the
//!   file (an unbaked image has zeros there);
//! - a boot module (`-initrd FILE`, for VMMs without fw_cfg such as Firecracker): a
//!   bundle, or plain text, which is then the rc script.
//!
//! [`of`] yields the module's entries before the image's, so a module's rc script and
//! programs come first.

use alloc::vec::Vec;

use kiln_bundle::{Entry, Kind, POINTER_MAGIC};

use crate::pvh::Module;

/// The boot modules, set once at boot before anything reads them.
static MODULES: spin::Once<&'static [Module]> = spin::Once::new();

/// Records the VMM's boot modules (their memory is kept out of the heap).
pub fn set_modules(modules: &'static [Module]) {
    MODULES.call_once(|| modules);
}

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

/// The image's bundle's entries, read once (a damaged bundle is reported and ignored).
fn baked() -> &'static [Entry<'static>] {
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

/// The first boot module's entries: a bundle's, or one rc script of plain text.
fn module() -> &'static [Entry<'static>] {
    static ENTRIES: spin::Once<Vec<Entry<'static>>> = spin::Once::new();
    ENTRIES.call_once(|| {
        let Some(module) = MODULES.get().and_then(|m| m.first()) else {
            return Vec::new();
        };
        if module.paddr == 0 || module.size == 0 {
            return Vec::new();
        }
        // SAFETY: the VMM loaded the module there (identity-mapped RAM the heap leaves
        // alone, see `heap::init`), and nothing writes it.
        let bytes: &'static [u8] =
            unsafe { core::slice::from_raw_parts(module.paddr as *const u8, module.size as usize) };
        if bytes.starts_with(kiln_bundle::MAGIC) {
            // A bundle's programs are mapped from its pages: the module must start on one.
            if module.paddr % 4096 != 0 {
                crate::kprintln!(
                    "kiln: the boot module is a bundle that does not start on a page; ignored"
                );
                return Vec::new();
            }
            return match kiln_bundle::read(bytes) {
                Ok(entries) => entries,
                Err(error) => {
                    crate::kprintln!("kiln: the boot module's bundle is unusable: {error}");
                    Vec::new()
                }
            };
        }
        alloc::vec![Entry {
            kind: Kind::Rc,
            name: "rc",
            bytes,
            offset: 0,
        }]
    })
}

/// The entries of one kind: the boot module's, then the image's.
pub fn of(kind: Kind) -> impl Iterator<Item = &'static Entry<'static>> {
    module()
        .iter()
        .chain(baked().iter())
        .filter(move |e| e.kind == kind)
}

/// The boot module's rc script, if it has one.
pub fn module_rc() -> Option<&'static [u8]> {
    module()
        .iter()
        .find(|e| e.kind == Kind::Rc)
        .map(|e| e.bytes)
}

/// The image's own (baked) rc script, if it has one.
pub fn baked_rc() -> Option<&'static [u8]> {
    baked().iter().find(|e| e.kind == Kind::Rc).map(|e| e.bytes)
}
