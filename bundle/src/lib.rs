//! The bundle a baked image carries (`kiln bake`): ELF programs, data files, the
//! default rc script and a few facts about the image, in one read-only block that the
//! VMM loads with the kernel (an extra `PT_LOAD` segment of the image's ELF file).
//!
//! Layout (little-endian):
//!
//! ```text
//! 0   magic  "KILNBDL1"
//! 8   u32    entry count
//! 12  u32    0
//! 16  entries: kind u32, name length u32, offset u64, length u64, then the name,
//!     padded to 8 bytes
//! ... data: every entry's bytes at a 4 KiB-aligned offset from the bundle's start
//! ```
//!
//! Page-aligned data lets the kernel map a program's read-only pages straight from the
//! bundle, with no copy. Entries with the same bytes share them. The same entries give
//! the same bytes: bake sorts them.
#![no_std]

extern crate alloc;

use alloc::vec::Vec;

/// The first 8 bytes of a bundle.
pub const MAGIC: &[u8; 8] = b"KILNBDL1";
/// Every entry's data starts at a multiple of this.
pub const DATA_ALIGN: usize = 4096;

/// The magic of the pointer record in the kernel (`board/src/bundle.rs`): 16 bytes,
/// then the bundle's physical address (u64) and length (u64), which bake writes in.
pub const POINTER_MAGIC: &[u8; 16] = b"KILN-BUNDLE-AT\0\0";
/// Size of the pointer record.
pub const POINTER_SIZE: usize = 32;

/// What an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A static Linux ELF executable, run under its name.
    Program,
    /// A data file, at `/NAME`.
    File,
    /// The default rc script (name `rc`).
    Rc,
    /// A fact about the image for `kiln inspect` (`version`).
    Info,
}

impl Kind {
    fn code(self) -> u32 {
        match self {
            Kind::Program => 1,
            Kind::File => 2,
            Kind::Rc => 3,
            Kind::Info => 4,
        }
    }

    fn from_code(code: u32) -> Option<Kind> {
        Some(match code {
            1 => Kind::Program,
            2 => Kind::File,
            3 => Kind::Rc,
            4 => Kind::Info,
            _ => return None,
        })
    }
}

/// One entry of a bundle being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'b> {
    pub kind: Kind,
    pub name: &'b str,
    pub bytes: &'b [u8],
    /// Where `bytes` start, from the bundle's start.
    pub offset: usize,
}

/// Why a bundle does not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// It does not start with [`MAGIC`].
    NotABundle,
    /// It ends inside its header or an entry.
    Truncated,
    /// Entry `index` is bad: an unknown kind, a name that is not UTF-8, or data out of
    /// bounds or not page-aligned.
    BadEntry { index: usize },
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::NotABundle => write!(f, "not a kiln bundle (no {:?} magic)", "KILNBDL1"),
            Error::Truncated => write!(f, "the bundle is cut short"),
            Error::BadEntry { index } => write!(f, "entry {index} of the bundle is damaged"),
        }
    }
}

const HEADER: usize = 16;
const ENTRY_FIXED: usize = 24;

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

fn pad8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// Reads a bundle's entries, checking every bound.
pub fn read(bundle: &[u8]) -> Result<Vec<Entry<'_>>, Error> {
    if bundle.len() < HEADER {
        return Err(
            if bundle.starts_with(&MAGIC[..bundle.len().min(8)]) && !bundle.is_empty() {
                Error::Truncated
            } else {
                Error::NotABundle
            },
        );
    }
    if &bundle[..8] != MAGIC {
        return Err(Error::NotABundle);
    }
    let count = u32_at(bundle, 8).ok_or(Error::Truncated)? as usize;
    let mut entries = Vec::new();
    let mut at = HEADER;
    for index in 0..count {
        let bad = Error::BadEntry { index };
        let kind = u32_at(bundle, at).ok_or(Error::Truncated)?;
        let name_len = u32_at(bundle, at + 4).ok_or(Error::Truncated)? as usize;
        let offset = u64_at(bundle, at + 8).ok_or(Error::Truncated)?;
        let len = u64_at(bundle, at + 16).ok_or(Error::Truncated)?;
        let name_start = at + ENTRY_FIXED;
        let name = bundle
            .get(name_start..name_start.checked_add(name_len).ok_or(bad)?)
            .ok_or(Error::Truncated)?;
        let name = core::str::from_utf8(name).map_err(|_| bad)?;
        let kind = Kind::from_code(kind).ok_or(bad)?;
        let offset = usize::try_from(offset).map_err(|_| bad)?;
        let len = usize::try_from(len).map_err(|_| bad)?;
        if offset % DATA_ALIGN != 0 {
            return Err(bad);
        }
        let bytes = bundle
            .get(offset..offset.checked_add(len).ok_or(bad)?)
            .ok_or(bad)?;
        entries.push(Entry {
            kind,
            name,
            bytes,
            offset,
        });
        at = name_start + pad8(name_len);
    }
    Ok(entries)
}

/// The bytes of a bundle with these entries (kind, name, bytes), sorted by kind and
/// name so that the same entries always give the same bytes.
pub fn write(entries: &[(Kind, &str, &[u8])]) -> Vec<u8> {
    let mut sorted: Vec<&(Kind, &str, &[u8])> = entries.iter().collect();
    sorted.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let table: usize = sorted
        .iter()
        .map(|(_, name, _)| ENTRY_FIXED + pad8(name.len()))
        .sum();
    let align = |n: usize| n.div_ceil(DATA_ALIGN) * DATA_ALIGN;
    // Entries with the same bytes (BusyBox under several names) share them.
    let mut offsets: Vec<usize> = Vec::with_capacity(sorted.len());
    let mut first_of: Vec<usize> = Vec::with_capacity(sorted.len());
    let mut data_at = align(HEADER + table);
    for (index, (_, _, bytes)) in sorted.iter().enumerate() {
        let same = (0..index).find(|&earlier| {
            first_of[earlier] == earlier && sorted[earlier].2 == *bytes && !bytes.is_empty()
        });
        match same {
            Some(earlier) => {
                offsets.push(offsets[earlier]);
                first_of.push(earlier);
            }
            None => {
                offsets.push(data_at);
                first_of.push(index);
                data_at = align(data_at + bytes.len());
            }
        }
    }
    let mut out = Vec::with_capacity(data_at);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    for ((kind, name, bytes), offset) in sorted.iter().zip(&offsets) {
        out.extend_from_slice(&kind.code().to_le_bytes());
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&(*offset as u64).to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.resize(out.len() + pad8(name.len()) - name.len(), 0);
    }
    for (index, ((_, _, bytes), offset)) in sorted.iter().zip(&offsets).enumerate() {
        if first_of[index] == index {
            out.resize(*offset, 0);
            out.extend_from_slice(bytes);
        }
    }
    // The last entry's data ends the bundle (its pages are padded by the loader).
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_sorted_and_page_aligned() {
        let a = [7u8; 5000];
        let bundle = write(&[
            (Kind::File, "z.txt", b"zz"),
            (Kind::Program, "hello", &a),
            (Kind::Rc, "rc", b"shell\n"),
            (Kind::File, "a.txt", b""),
        ]);
        let entries = read(&bundle).unwrap();
        let names: Vec<_> = entries.iter().map(|e| (e.kind, e.name)).collect();
        assert_eq!(
            names,
            [
                (Kind::Program, "hello"),
                (Kind::File, "a.txt"),
                (Kind::File, "z.txt"),
                (Kind::Rc, "rc")
            ]
        );
        assert_eq!(entries[0].bytes, &a[..]);
        assert_eq!(entries[2].bytes, b"zz");
        assert!(entries.iter().all(|e| e.offset % DATA_ALIGN == 0));
    }

    #[test]
    fn one_file_under_several_names_is_stored_once() {
        let big = [9u8; 10_000];
        let once = write(&[(Kind::Program, "a", &big)]);
        let thrice = write(&[
            (Kind::Program, "a", &big),
            (Kind::Program, "b", &big),
            (Kind::Program, "c", &big),
        ]);
        assert!(
            thrice.len() < once.len() + DATA_ALIGN,
            "{} vs {}",
            thrice.len(),
            once.len()
        );
        let entries = read(&thrice).unwrap();
        assert!(entries.iter().all(|e| e.bytes == &big[..]));
    }

    #[test]
    fn the_same_entries_in_any_order_give_the_same_bytes() {
        let one = write(&[(Kind::File, "a", b"1"), (Kind::File, "b", b"2")]);
        let two = write(&[(Kind::File, "b", b"2"), (Kind::File, "a", b"1")]);
        assert_eq!(one, two);
    }

    #[test]
    fn damaged_bundles_are_refused_not_trusted() {
        assert_eq!(read(b"hello world, not a bundle"), Err(Error::NotABundle));
        assert_eq!(read(b""), Err(Error::NotABundle));
        let bundle = write(&[(Kind::File, "a", &[1u8; 100])]);
        assert_eq!(read(&bundle[..20]), Err(Error::Truncated));
        assert_eq!(
            read(&bundle[..bundle.len() - 1]),
            Err(Error::BadEntry { index: 0 })
        );
        let mut bad_kind = bundle.clone();
        bad_kind[16] = 99;
        assert_eq!(read(&bad_kind), Err(Error::BadEntry { index: 0 }));
        let mut huge_count = bundle.clone();
        huge_count[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(read(&huge_count).is_err());
    }

    #[test]
    fn every_cut_and_every_flipped_byte_is_an_error_or_a_bounded_read() {
        let bundle = write(&[(Kind::Program, "p", &[3u8; 10]), (Kind::Rc, "rc", b"x")]);
        for cut in 0..bundle.len() {
            let _ = read(&bundle[..cut]);
        }
        for at in 0..HEADER + 2 * (ENTRY_FIXED + 8) {
            let mut flipped = bundle.clone();
            flipped[at] ^= 0xff;
            if let Ok(entries) = read(&flipped) {
                for entry in entries {
                    assert!(entry.offset + entry.bytes.len() <= flipped.len());
                }
            }
        }
    }
}
