//! Guard pages below thread stacks.
//!
//! The boot tables map 4 GiB with 2 MiB pages. To unmap one 4 KiB page, the 2 MiB
//! page around it is split into a page table of 4 KiB pages (kept for good). A stack
//! overflow then faults on the guard page instead of corrupting the heap.
//!
//! Page tables come from a reserve set aside beside the heap at boot (one 4 KiB table
//! per 2 MiB of heap, [`reserve_size`]), not from the heap: splitting happens lazily,
//! costs nothing at boot, and never shows in the heap's figures.

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::registers::control::Cr3;

use crate::sync::IrqMutex;

pub const PAGE_SIZE: usize = 4096;
const ENTRIES: usize = 512;
const PRESENT: u64 = 1;
const WRITABLE: u64 = 1 << 1;
const HUGE: u64 = 1 << 7;
const ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_F000;
const TWO_MIB: u64 = 2 * 1024 * 1024;

/// Serialises page-table edits.
static EDIT: IrqMutex<()> = IrqMutex::new(());
/// The next free page of the page-table reserve, and its end.
static RESERVE_NEXT: AtomicU64 = AtomicU64::new(0);
static RESERVE_END: AtomicU64 = AtomicU64::new(0);

/// Bytes of page tables needed to split every 2 MiB page of a heap of `heap_bytes`.
pub fn reserve_size(heap_bytes: u64) -> u64 {
    (heap_bytes.div_ceil(TWO_MIB) + 1) * PAGE_SIZE as u64
}

/// Hands `[start, end)` (page aligned, identity-mapped RAM) to the page-table reserve.
pub fn set_reserve(start: u64, end: u64) {
    RESERVE_NEXT.store(start, Ordering::Relaxed);
    RESERVE_END.store(end, Ordering::Relaxed);
}

/// A zeroed page for a page table, from the reserve.
fn take_reserved_page() -> Option<*mut [u64; ENTRIES]> {
    let page = RESERVE_NEXT.load(Ordering::Relaxed);
    if page == 0 || page + PAGE_SIZE as u64 > RESERVE_END.load(Ordering::Relaxed) {
        return None;
    }
    RESERVE_NEXT.store(page + PAGE_SIZE as u64, Ordering::Relaxed);
    let table = page as *mut [u64; ENTRIES];
    // SAFETY: the page belongs to the reserve, which nothing else uses; EDIT is held.
    unsafe { table.write([0; ENTRIES]) };
    Some(table)
}

fn table(address: u64) -> *mut [u64; ENTRIES] {
    (address & ADDRESS_MASK) as *mut [u64; ENTRIES]
}

/// The 4 KiB page-table entry for `page`, splitting its 2 MiB page if needed.
fn entry_for(page: u64) -> Option<*mut u64> {
    let (pml4_frame, _) = Cr3::read();
    let pml4 = table(pml4_frame.start_address().as_u64());
    // SAFETY: the tables are identity-mapped; only this module edits them, under EDIT.
    unsafe {
        let pml4e = (*pml4)[((page >> 39) & 511) as usize];
        if pml4e & PRESENT == 0 {
            return None;
        }
        let pdpte = (*table(pml4e))[((page >> 30) & 511) as usize];
        if pdpte & PRESENT == 0 || pdpte & HUGE != 0 {
            return None;
        }
        let pd = table(pdpte);
        let pd_index = ((page >> 21) & 511) as usize;
        let pde = (*pd)[pd_index];
        if pde & PRESENT == 0 {
            return None;
        }
        if pde & HUGE != 0 {
            let pt = take_reserved_page()?;
            let base = pde & ADDRESS_MASK & !(TWO_MIB - 1);
            for (i, entry) in (*pt).iter_mut().enumerate() {
                *entry = (base + (i * PAGE_SIZE) as u64) | PRESENT | WRITABLE;
            }
            (*pd)[pd_index] = pt as u64 | PRESENT | WRITABLE;
            x86_64::instructions::tlb::flush_all();
        }
        let pt = table((*pd)[pd_index]);
        Some(&mut (*pt)[((page >> 12) & 511) as usize] as *mut u64)
    }
}

fn set_present(page: u64, present: bool) {
    let _edit = EDIT.lock();
    if let Some(entry) = entry_for(page) {
        // SAFETY: `entry` points into a live page table; the page belongs to a stack
        // allocation owned by the caller.
        unsafe {
            if present {
                *entry |= PRESENT;
            } else {
                *entry &= !PRESENT;
            }
        }
        x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(page));
    }
}

/// Unmaps the page at `page` (4 KiB aligned).
pub fn protect(page: u64) {
    set_present(page, false);
}

/// Maps the page at `page` again, before its memory goes back to the heap.
pub fn unprotect(page: u64) {
    set_present(page, true);
}
