//! ELF headers built by hand: each refusal, and the plan of a good file.

use super::*;
use alloc::vec;

const EHDR: usize = 64;
const PHDR: usize = 56;

/// A program header: type, flags, offset, vaddr, filesz, memsz.
type Ph = (u32, u32, u64, u64, u64, u64);

/// A 64-bit little-endian ELF file with these program headers right after the header.
fn elf(elf_type: u16, machine: u16, entry: u64, headers: &[Ph], size: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; size.max(EHDR + PHDR * headers.len())];
    bytes[..4].copy_from_slice(b"\x7fELF");
    bytes[4] = 2; // ELFCLASS64
    bytes[5] = 1; // ELFDATA2LSB
    bytes[6] = 1; // EV_CURRENT
    bytes[16..18].copy_from_slice(&elf_type.to_le_bytes());
    bytes[18..20].copy_from_slice(&machine.to_le_bytes());
    bytes[20..24].copy_from_slice(&1u32.to_le_bytes());
    bytes[24..32].copy_from_slice(&entry.to_le_bytes());
    bytes[32..40].copy_from_slice(&(EHDR as u64).to_le_bytes());
    bytes[52..54].copy_from_slice(&(EHDR as u16).to_le_bytes());
    bytes[54..56].copy_from_slice(&(PHDR as u16).to_le_bytes());
    bytes[56..58].copy_from_slice(&(headers.len() as u16).to_le_bytes());
    for (i, &(kind, flags, offset, vaddr, filesz, memsz)) in headers.iter().enumerate() {
        let at = EHDR + i * PHDR;
        bytes[at..at + 4].copy_from_slice(&kind.to_le_bytes());
        bytes[at + 4..at + 8].copy_from_slice(&flags.to_le_bytes());
        bytes[at + 8..at + 16].copy_from_slice(&offset.to_le_bytes());
        bytes[at + 16..at + 24].copy_from_slice(&vaddr.to_le_bytes());
        bytes[at + 24..at + 32].copy_from_slice(&vaddr.to_le_bytes());
        bytes[at + 32..at + 40].copy_from_slice(&filesz.to_le_bytes());
        bytes[at + 40..at + 48].copy_from_slice(&memsz.to_le_bytes());
        bytes[at + 48..at + 56].copy_from_slice(&4096u64.to_le_bytes());
    }
    bytes
}

const LOAD: u32 = 1;
const INTERP: u32 = 3;
const RX: u32 = 5;
const RW: u32 = 6;

fn busybox_like() -> Vec<u8> {
    elf(
        2,
        62,
        0x401000,
        &[
            (LOAD, 4, 0, 0x400000, 0x1000, 0x1000),
            (LOAD, RX, 0x1000, 0x401000, 0x2000, 0x2000),
            (LOAD, RW, 0x3000, 0x404000, 0x100, 0x5000),
        ],
        0x4000,
    )
}

#[test]
fn a_fixed_address_executable_is_planned_where_its_headers_say() {
    let plan = plan(&busybox_like()).unwrap();
    assert_eq!(plan.kind, Kind::Fixed);
    assert_eq!(plan.entry, 0x401000);
    assert_eq!(plan.bias(), 0);
    assert_eq!(plan.segments.len(), 3);
    assert!(plan.segments[1].executable && !plan.segments[1].writable);
    assert!(plan.segments[2].writable);
    assert_eq!(plan.segments[2].file_size, 0x100);
    assert_eq!(plan.segments[2].mem_size, 0x5000);
    // The headers are in the first segment.
    assert_eq!(plan.phdr_vaddr, 0x400040);
    assert_eq!((plan.phent, plan.phnum), (56, 3));
    assert_eq!(plan.end(), 0x409000);
}

#[test]
fn a_static_pie_is_loaded_at_the_pie_base() {
    let bytes = elf(3, 62, 0x1000, &[(LOAD, RX, 0, 0, 0x2000, 0x2000)], 0x2000);
    let plan = plan(&bytes).unwrap();
    assert_eq!(plan.kind, Kind::PositionIndependent);
    assert_eq!(plan.bias(), PIE_BASE);
    assert_eq!(plan.end(), PIE_BASE + 0x2000);
}

#[test]
fn every_refusal_says_why() {
    assert_eq!(plan(b"#!/bin/sh\n"), Err(ElfError::NotElf));
    assert_eq!(plan(b""), Err(ElfError::NotElf));
    let mut thirty_two = busybox_like();
    thirty_two[4] = 1;
    assert_eq!(plan(&thirty_two), Err(ElfError::Not64BitLittleEndian));
    let arm = elf(
        2,
        183,
        0x401000,
        &[(LOAD, RX, 0, 0x400000, 0x100, 0x100)],
        0x200,
    );
    assert_eq!(plan(&arm), Err(ElfError::NotX86_64 { machine: 183 }));
    let object = elf(1, 62, 0, &[], 0x100);
    assert_eq!(plan(&object), Err(ElfError::NotExecutable { elf_type: 1 }));
    let dynamic = elf(
        2,
        62,
        0x401000,
        &[
            (INTERP, 4, 0, 0, 0, 0),
            (LOAD, RX, 0, 0x400000, 0x100, 0x100),
        ],
        0x200,
    );
    assert_eq!(plan(&dynamic), Err(ElfError::DynamicallyLinked));
    let empty = elf(2, 62, 0x401000, &[], 0x100);
    assert_eq!(plan(&empty), Err(ElfError::NothingToLoad));
    let truncated = elf(
        2,
        62,
        0x401000,
        &[(LOAD, RX, 0, 0x400000, 0x9000, 0x9000)],
        0x200,
    );
    assert!(matches!(plan(&truncated), Err(ElfError::Malformed(_))));
    let low = elf(
        2,
        62,
        0x101000,
        &[(LOAD, RX, 0, 0x100000, 0x100, 0x100)],
        0x200,
    );
    assert_eq!(
        plan(&low),
        Err(ElfError::SegmentOutOfRange {
            vaddr: 0x100000,
            end: 0x100100
        })
    );
    let on_stacks = elf(2, 62, 0, &[(LOAD, RX, 0, 64 << 30, 0x100, 0x100)], 0x200);
    assert!(matches!(
        plan(&on_stacks),
        Err(ElfError::SegmentOutOfRange { .. })
    ));
    for error in [ElfError::NotElf, ElfError::DynamicallyLinked] {
        assert!(!alloc::format!("{error}").is_empty());
    }
}

#[test]
fn program_ids_are_fnv1a_of_the_name() {
    // FNV-1a's published test vectors.
    assert_eq!(program_id(""), 0xcbf29ce484222325);
    assert_eq!(program_id("a"), 0xaf63dc4c8601ec8c);
    assert_ne!(program_id("hello1"), program_id("hello2"));
}
