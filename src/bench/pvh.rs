//! The VMM floor's guest: the smallest PVH ELF that writes one character to COM1 and
//! halts, emitted from bytes here (no assembler needed).
//!
//! Layout: an ELF64 header, one `PT_LOAD` of the whole file at 1 MiB, one `PT_NOTE`
//! with the Xen `PHYS32_ENTRY` note (type 18, as kiln's own `.note.pvh`), then
//! 32-bit code, entered in flat protected mode as PVH specifies:
//!
//! ```text
//! mov dx, 0x3f8   ; COM1 data register
//! mov al, 'K'
//! out dx, al
//! 1: cli
//! hlt
//! jmp 1b
//! ```

/// Where the file is loaded (and linked).
const LOAD_ADDRESS: u64 = 0x10_0000;
const ELF_HEADER_SIZE: usize = 64;
const PROGRAM_HEADER_SIZE: usize = 56;
const PROGRAM_HEADERS: usize = 2;
/// The note: namesz, descsz, type, "Xen\0", the 8-byte entry address.
const NOTE_SIZE: usize = 12 + 4 + 8;
const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
/// XEN_ELFNOTE_PHYS32_ENTRY.
const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
const PF_RWX: u32 = 7;
const PF_R: u32 = 4;
const EM_X86_64: u16 = 62;
const ET_EXEC: u16 = 2;

/// The character the guest writes.
pub const CHARACTER: u8 = b'K';

/// The guest's 32-bit code.
fn code() -> Vec<u8> {
    let mut code = vec![0x66, 0xBA, 0xF8, 0x03]; // mov dx, 0x3f8
    code.extend([0xB0, CHARACTER]); // mov al, CHARACTER
    code.push(0xEE); // out dx, al
    code.extend([0xFA, 0xF4, 0xEB, 0xFC]); // 1: cli; hlt; jmp 1b
    code
}

/// The whole ELF file.
pub fn elf() -> Vec<u8> {
    let note_offset = ELF_HEADER_SIZE + PROGRAM_HEADER_SIZE * PROGRAM_HEADERS;
    let code_offset = note_offset + NOTE_SIZE;
    let entry = LOAD_ADDRESS + code_offset as u64;
    let code = code();
    let size = (code_offset + code.len()) as u64;

    let mut elf = Vec::with_capacity(size as usize);
    // e_ident: magic, 64-bit, little endian, version 1, System V.
    elf.extend([0x7F, b'E', b'L', b'F', 2, 1, 1, 0]);
    elf.extend([0u8; 8]);
    elf.extend(ET_EXEC.to_le_bytes());
    elf.extend(EM_X86_64.to_le_bytes());
    elf.extend(1u32.to_le_bytes()); // e_version
    elf.extend(entry.to_le_bytes()); // e_entry
    elf.extend((ELF_HEADER_SIZE as u64).to_le_bytes()); // e_phoff
    elf.extend(0u64.to_le_bytes()); // e_shoff
    elf.extend(0u32.to_le_bytes()); // e_flags
    elf.extend((ELF_HEADER_SIZE as u16).to_le_bytes());
    elf.extend((PROGRAM_HEADER_SIZE as u16).to_le_bytes());
    elf.extend((PROGRAM_HEADERS as u16).to_le_bytes());
    elf.extend(64u16.to_le_bytes()); // e_shentsize
    elf.extend(0u16.to_le_bytes()); // e_shnum
    elf.extend(0u16.to_le_bytes()); // e_shstrndx
    debug_assert_eq!(elf.len(), ELF_HEADER_SIZE);

    let mut program_header =
        |kind: u32, flags: u32, offset: u64, address: u64, size: u64, align: u64| {
            elf.extend(kind.to_le_bytes());
            elf.extend(flags.to_le_bytes());
            elf.extend(offset.to_le_bytes());
            elf.extend(address.to_le_bytes()); // p_vaddr
            elf.extend(address.to_le_bytes()); // p_paddr
            elf.extend(size.to_le_bytes()); // p_filesz
            elf.extend(size.to_le_bytes()); // p_memsz
            elf.extend(align.to_le_bytes());
        };
    program_header(PT_LOAD, PF_RWX, 0, LOAD_ADDRESS, size, 0x1000);
    program_header(
        PT_NOTE,
        PF_R,
        note_offset as u64,
        LOAD_ADDRESS + note_offset as u64,
        NOTE_SIZE as u64,
        4,
    );
    debug_assert_eq!(elf.len(), note_offset);

    elf.extend(4u32.to_le_bytes()); // namesz
    elf.extend(8u32.to_le_bytes()); // descsz
    elf.extend(XEN_ELFNOTE_PHYS32_ENTRY.to_le_bytes());
    elf.extend(*b"Xen\0");
    elf.extend(entry.to_le_bytes());
    debug_assert_eq!(elf.len(), code_offset);
    elf.extend(code);
    elf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_small_elf_with_the_pvh_note() {
        let elf = elf();
        assert_eq!(&elf[..4], b"\x7FELF");
        assert!(elf.len() < 256);
        let note = ELF_HEADER_SIZE + PROGRAM_HEADER_SIZE * PROGRAM_HEADERS;
        assert_eq!(&elf[note + 12..note + 16], b"Xen\0");
        let entry = u64::from_le_bytes(elf[note + 16..note + 24].try_into().unwrap());
        assert_eq!(entry, LOAD_ADDRESS + (note + NOTE_SIZE) as u64);
        assert_eq!(elf[note + NOTE_SIZE..][..2], [0x66, 0xBA]);
    }
}
