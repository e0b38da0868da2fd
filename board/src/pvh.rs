//! The PVH start info: the kernel command line, the memory map and the boot modules
//! (QEMU's and Firecracker's `-initrd`).
//!
//! Layout from Xen's `arch-x86/hvm/start_info.h` (version 1 adds the memory map).

/// `hvm_start_info.magic`.
const START_INFO_MAGIC: u32 = 0x336e_c578;
/// Boot modules kiln looks at (it uses the first).
const MAX_MODULES: usize = 4;
/// E820 type of usable RAM.
pub const MEMORY_RAM: u32 = 1;

#[repr(C)]
struct StartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

/// One entry of the memory map.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MemoryRegion {
    pub addr: u64,
    pub size: u64,
    pub kind: u32,
    reserved: u32,
}

/// One boot module, as `hvm_modlist_entry` lays it out.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Module {
    pub paddr: u64,
    pub size: u64,
    cmdline_paddr: u64,
    reserved: u64,
}

/// What the VMM told us at boot.
pub struct BootInfo {
    pub command_line: &'static str,
    pub memory_map: &'static [MemoryRegion],
    pub modules: &'static [Module],
}

/// Reads the start info the VMM left at `address`.
///
/// # Safety
/// `address` is the EBX value of the PVH entry, identity-mapped and never written.
pub unsafe fn read(address: u64) -> BootInfo {
    // SAFETY: the caller guarantees the start info is mapped and valid.
    let info = unsafe { &*(address as *const StartInfo) };
    if info.magic != START_INFO_MAGIC {
        return BootInfo {
            command_line: "",
            memory_map: &[],
            modules: &[],
        };
    }
    let command_line = if info.cmdline_paddr == 0 {
        ""
    } else {
        let start = info.cmdline_paddr as *const u8;
        let mut len = 0;
        // SAFETY: the command line is NUL-terminated in identity-mapped memory.
        while unsafe { *start.add(len) } != 0 && len < 4096 {
            len += 1;
        }
        // SAFETY: `len` bytes were just read from valid memory.
        let bytes = unsafe { core::slice::from_raw_parts(start, len) };
        core::str::from_utf8(bytes).unwrap_or("")
    };
    let memory_map = if info.version >= 1 && info.memmap_paddr != 0 {
        // SAFETY: version 1 start infos carry `memmap_entries` entries at `memmap_paddr`.
        unsafe {
            core::slice::from_raw_parts(
                info.memmap_paddr as *const MemoryRegion,
                info.memmap_entries as usize,
            )
        }
    } else {
        &[]
    };
    let modules = if info.nr_modules > 0 && info.modlist_paddr != 0 {
        // SAFETY: the start info lists `nr_modules` entries at `modlist_paddr`.
        unsafe {
            core::slice::from_raw_parts(
                info.modlist_paddr as *const Module,
                (info.nr_modules as usize).min(MAX_MODULES),
            )
        }
    } else {
        &[]
    };
    BootInfo {
        command_line,
        memory_map,
        modules,
    }
}
