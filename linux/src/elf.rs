//! Which ELF files kiln runs, and where their segments go.
//!
//! kiln runs statically linked x86-64 executables: fixed-address (`ET_EXEC`, loaded
//! where their program headers say) and position-independent (`ET_DYN` without an
//! interpreter: static-pie, loaded at [`PIE_BASE`]). Anything else is refused with an
//! [`ElfError`] that says why, before boot by the launcher and again by the image.
//!
//! A process's address space keeps two ranges for the kernel (mapped for the kernel
//! only): the first 4 MiB ([`KERNEL_LOW_END`]: the kernel image, its interrupt stacks and
//! tables) and the kernel's thread stacks ([`KERNEL_STACKS`]). A segment there is refused.

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use object::LittleEndian;
use object::elf::{
    EM_X86_64, ET_DYN, ET_EXEC, FileHeader64, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR, SHT_SYMTAB,
    STT_FUNC,
};
use object::read::elf::{FileHeader, ProgramHeader, Sym};

/// The page size of the x86-64 user address space.
pub const PAGE_SIZE: u64 = 4096;
/// User memory starts here; below is the kernel's.
pub const KERNEL_LOW_END: u64 = 4 << 20;
/// The kernel's thread stacks (64 GiB to 66 GiB), in every address space.
pub const KERNEL_STACKS: Range<u64> = (64 << 30)..(66 << 30);
/// The end of the lower half: user addresses are below it.
pub const USER_END: u64 = 0x0000_8000_0000_0000;
/// Where a position-independent executable is loaded (as Linux's `ELF_ET_DYN_BASE`).
pub const PIE_BASE: u64 = 0x5555_5555_4000;

/// How an executable is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `ET_EXEC`: at the addresses its headers name.
    Fixed,
    /// `ET_DYN` (static-pie): anywhere; kiln uses [`PIE_BASE`].
    PositionIndependent,
}

/// One `PT_LOAD` segment: `file_size` bytes from `file_offset` at `vaddr`, then zeros up
/// to `mem_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub mem_size: u64,
    pub file_offset: u64,
    pub file_size: u64,
    pub writable: bool,
    pub executable: bool,
}

/// What it takes to load an executable, with addresses before the load bias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub kind: Kind,
    pub entry: u64,
    pub segments: Vec<Segment>,
    /// Where the program headers are in memory (`AT_PHDR`).
    pub phdr_vaddr: u64,
    /// `AT_PHENT`, `AT_PHNUM`.
    pub phent: u64,
    pub phnum: u64,
}

impl Plan {
    /// The load bias: what is added to every address of the plan.
    pub fn bias(&self) -> u64 {
        match self.kind {
            Kind::Fixed => 0,
            Kind::PositionIndependent => PIE_BASE,
        }
    }

    /// The first page after the highest segment, biased: where `brk` starts.
    pub fn end(&self) -> u64 {
        let end = self
            .segments
            .iter()
            .map(|s| s.vaddr + s.mem_size)
            .max()
            .unwrap_or(0);
        page_up(end + self.bias())
    }
}

/// Why an ELF file cannot run in kiln.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElfError {
    /// No ELF magic at the start.
    NotElf,
    /// A 32-bit or big-endian file.
    Not64BitLittleEndian,
    /// Built for another CPU (`e_machine`).
    NotX86_64 { machine: u16 },
    /// Not an executable (a relocatable object, a core file, a shared library).
    NotExecutable { elf_type: u16 },
    /// It names a dynamic loader (`PT_INTERP`): kiln runs static executables only.
    DynamicallyLinked,
    /// No `PT_LOAD` segment.
    NothingToLoad,
    /// Headers or a segment point outside the file, or a segment is inconsistent.
    Malformed(&'static str),
    /// A segment falls where the kernel lives in every address space, or beyond the
    /// user half.
    SegmentOutOfRange { vaddr: u64, end: u64 },
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElfError::NotElf => f.write_str("not an ELF file"),
            ElfError::Not64BitLittleEndian => f.write_str("not a 64-bit little-endian ELF file"),
            ElfError::NotX86_64 { machine } => {
                write!(
                    f,
                    "built for another CPU (ELF machine {machine}), not x86-64"
                )
            }
            ElfError::NotExecutable { elf_type } => {
                write!(f, "not an executable (ELF type {elf_type})")
            }
            ElfError::DynamicallyLinked => f.write_str(
                "dynamically linked (it names a loader, PT_INTERP): kiln runs static \
                 executables; link with -static or -static-pie",
            ),
            ElfError::NothingToLoad => f.write_str("no loadable segment"),
            ElfError::Malformed(what) => write!(f, "malformed ELF file: {what}"),
            ElfError::SegmentOutOfRange { vaddr, end } => write!(
                f,
                "a segment at {vaddr:#x}..{end:#x} overlaps memory kiln keeps for the \
                 kernel (below {KERNEL_LOW_END:#x}, or {:#x}..{:#x}) or leaves the user half",
                KERNEL_STACKS.start, KERNEL_STACKS.end
            ),
        }
    }
}

/// The number that names a baked program to a debugger: 64-bit FNV-1a of its name. The
/// image keeps the running program's in `kiln_running_program`, and the launcher's gdb
/// script compares with it, so the two agree without sharing any order.
pub fn program_id(name: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    name.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(PRIME)
    })
}

/// The function of `bytes` (an ELF file with a symbol table) that holds `address`
/// (before the load bias), as (name, offset into it); `None` for a stripped file.
pub fn function_at(bytes: &[u8], address: u64) -> Option<(&str, u64)> {
    let header = FileHeader64::<LittleEndian>::parse(bytes).ok()?;
    let endian = header.endian().ok()?;
    let sections = header.sections(endian, bytes).ok()?;
    let table = sections.symbols(endian, bytes, SHT_SYMTAB).ok()?;
    table
        .symbols()
        .iter()
        .filter(|symbol| symbol.st_type() == STT_FUNC)
        .filter_map(|symbol| {
            let start = symbol.st_value(endian);
            let size = symbol.st_size(endian).max(1);
            (start..start.saturating_add(size))
                .contains(&address)
                .then(|| (symbol, address - start))
        })
        .find_map(|(symbol, offset)| {
            let name = symbol.name(endian, table.strings()).ok()?;
            Some((core::str::from_utf8(name).ok()?, offset))
        })
}

/// Rounds up to a page (the last page of the address space for the top addresses).
pub fn page_up(address: u64) -> u64 {
    address.saturating_add(PAGE_SIZE - 1) / PAGE_SIZE * PAGE_SIZE
}

/// Rounds down to a page.
pub fn page_down(address: u64) -> u64 {
    address / PAGE_SIZE * PAGE_SIZE
}

/// True when `range` is user memory kiln can map for a process.
pub fn is_user_range(range: Range<u64>) -> bool {
    range.start >= KERNEL_LOW_END
        && range.end <= USER_END
        && range.start <= range.end
        && (range.end <= KERNEL_STACKS.start || range.start >= KERNEL_STACKS.end)
}

/// Checks `bytes` and says how to load it.
pub fn plan(bytes: &[u8]) -> Result<Plan, ElfError> {
    if bytes.len() < 4 || &bytes[..4] != b"\x7fELF" {
        return Err(ElfError::NotElf);
    }
    let header =
        FileHeader64::<LittleEndian>::parse(bytes).map_err(|_| ElfError::Not64BitLittleEndian)?;
    let endian = header
        .endian()
        .map_err(|_| ElfError::Not64BitLittleEndian)?;
    if endian != LittleEndian {
        return Err(ElfError::Not64BitLittleEndian);
    }
    let machine = header.e_machine(endian);
    if machine != EM_X86_64 {
        return Err(ElfError::NotX86_64 { machine: machine.0 });
    }
    let elf_type = header.e_type(endian);
    let kind = match elf_type {
        ET_EXEC => Kind::Fixed,
        ET_DYN => Kind::PositionIndependent,
        _ => {
            return Err(ElfError::NotExecutable {
                elf_type: elf_type.0,
            });
        }
    };
    let headers = header
        .program_headers(endian, bytes)
        .map_err(|_| ElfError::Malformed("program headers outside the file"))?;
    if headers.iter().any(|h| h.p_type(endian) == PT_INTERP) {
        return Err(ElfError::DynamicallyLinked);
    }
    let phoff = header.e_phoff(endian);
    let mut segments = Vec::new();
    let mut phdr_vaddr = headers
        .iter()
        .find(|h| h.p_type(endian) == PT_PHDR)
        .map(|h| h.p_vaddr(endian));
    for h in headers.iter().filter(|h| h.p_type(endian) == PT_LOAD) {
        let segment = Segment {
            vaddr: h.p_vaddr(endian),
            mem_size: h.p_memsz(endian),
            file_offset: h.p_offset(endian),
            file_size: h.p_filesz(endian),
            writable: h.p_flags(endian).0 & PF_W.0 != 0,
            executable: h.p_flags(endian).0 & PF_X.0 != 0,
        };
        let file_end = segment
            .file_offset
            .checked_add(segment.file_size)
            .ok_or(ElfError::Malformed("a segment's size overflows"))?;
        if file_end > bytes.len() as u64 {
            return Err(ElfError::Malformed(
                "a segment's bytes lie outside the file",
            ));
        }
        if segment.file_size > segment.mem_size {
            return Err(ElfError::Malformed(
                "a segment has more file bytes than memory",
            ));
        }
        if segment.vaddr % PAGE_SIZE != segment.file_offset % PAGE_SIZE {
            return Err(ElfError::Malformed(
                "a segment is not page-aligned with its file offset",
            ));
        }
        if phdr_vaddr.is_none() && (segment.file_offset..file_end).contains(&phoff) {
            phdr_vaddr = Some(segment.vaddr + (phoff - segment.file_offset));
        }
        segments.push(segment);
    }
    if segments.is_empty() {
        return Err(ElfError::NothingToLoad);
    }
    let plan = Plan {
        kind,
        entry: header.e_entry(endian),
        segments,
        phdr_vaddr: phdr_vaddr.unwrap_or(0),
        phent: u64::from(header.e_phentsize(endian)),
        phnum: u64::from(header.e_phnum(endian)),
    };
    for segment in &plan.segments {
        let start = page_down(segment.vaddr + plan.bias());
        let end = segment
            .vaddr
            .checked_add(segment.mem_size)
            .and_then(|e| e.checked_add(plan.bias()))
            .ok_or(ElfError::Malformed("a segment's address overflows"))?;
        if !is_user_range(start..page_up(end)) {
            return Err(ElfError::SegmentOutOfRange {
                vaddr: segment.vaddr + plan.bias(),
                end,
            });
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests;
