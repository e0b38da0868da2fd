//! Guard pages below thread stacks.
//!
//! The boot tables map 4 GiB with 2 MiB pages. To unmap one 4 KiB page, the 2 MiB
//! page around it is split into a page table of 4 KiB pages (kept for good). A stack
//! overflow then faults on the guard page instead of corrupting the heap.

use alloc::alloc::{Layout, alloc_zeroed};
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
            let layout = Layout::from_size_align(PAGE_SIZE, PAGE_SIZE).ok()?;
            let pt = alloc_zeroed(layout) as *mut [u64; ENTRIES];
            if pt.is_null() {
                return None;
            }
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

/// Splits every 2 MiB page of `[start, end)` into 4 KiB pages now (at boot), so that
/// protecting a stack page later never allocates: the page tables' memory is then a
/// fixed cost, not something that grows as the heap gets used.
pub fn prepare(start: u64, end: u64) {
    let _edit = EDIT.lock();
    let mut page = start & !(TWO_MIB - 1);
    while page < end {
        let _ = entry_for(page);
        page += TWO_MIB;
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
