//! The global allocator: talc over the largest RAM region of the PVH memory map.
//!
//! talc does the allocating; this wrapper makes it interrupt-safe (an [`IrqMutex`]),
//! keeps the figures `memstat` reports (peak, counts) and charges every allocation to
//! the running thread's account, so `ps` can show what each job holds.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use kiln_init::platform::HeapStats;
use talc::{ErrOnOom, Span, Talc};

use crate::pvh::{MEMORY_RAM, MemoryRegion};
use crate::sync::IrqMutex;

struct Heap {
    talc: Talc<ErrOnOom>,
    size: usize,
    peak: usize,
    frees: u64,
    /// Trial allocations made by `largest_free_block`, hidden from the counts.
    probes: u64,
}

/// The kernel heap.
pub struct KernelAllocator {
    heap: IrqMutex<Heap>,
}

#[global_allocator]
static ALLOCATOR: KernelAllocator = KernelAllocator {
    heap: IrqMutex::new(Heap {
        talc: Talc::new(ErrOnOom),
        size: 0,
        peak: 0,
        frees: 0,
        probes: 0,
    }),
};

// SAFETY: every call goes to talc under the lock; talc upholds GlobalAlloc's contract.
unsafe impl GlobalAlloc for KernelAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.heap.lock();
        // SAFETY: talc is initialised with claimed memory before the first allocation.
        match unsafe { heap.talc.malloc(layout) } {
            Ok(ptr) => {
                let used = heap.talc.get_counters().allocated_bytes;
                heap.peak = heap.peak.max(used);
                ptr.as_ptr()
            }
            Err(()) => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let mut heap = self.heap.lock();
        heap.frees += 1;
        // SAFETY: the caller passes a pointer this allocator returned, with its layout.
        unsafe { heap.talc.free(NonNull::new_unchecked(ptr), layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return core::ptr::null_mut();
        };
        // SAFETY: GlobalAlloc's contract, forwarded.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for the smaller size and distinct.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

/// Claims the largest usable RAM region above the image as the heap.
pub fn init(memory_map: &[MemoryRegion], image_end: u64) -> usize {
    let best = memory_map
        .iter()
        .filter(|r| r.kind == MEMORY_RAM)
        .filter_map(|r| {
            let start = r.addr.max(image_end);
            let end = r.addr + r.size;
            (end > start).then_some((start, end))
        })
        .max_by_key(|(start, end)| end - start);
    let Some((start, end)) = best else { return 0 };
    let mut heap = ALLOCATOR.heap.lock();
    // SAFETY: the region is RAM the VMM reported free, above the image, identity-mapped,
    // and claimed once.
    let claimed = unsafe { heap.talc.claim(Span::new(start as *mut u8, end as *mut u8)) };
    if claimed.is_ok() {
        heap.size = (end - start) as usize;
    }
    heap.size
}

/// The allocator's figures.
pub fn stats() -> HeapStats {
    let (size, used, peak, allocations, frees) = {
        let heap = ALLOCATOR.heap.lock();
        let counters = heap.talc.get_counters();
        (
            heap.size,
            counters.allocated_bytes,
            heap.peak,
            counters.total_allocation_count - heap.probes,
            heap.frees,
        )
    };
    HeapStats {
        size,
        used,
        peak,
        allocations,
        frees,
        largest_free: largest_free_block(),
        lost: 0,
    }
}

/// The largest block that can be allocated now, found by trying (a binary search).
fn largest_free_block() -> usize {
    let mut heap = ALLOCATOR.heap.lock();
    let (mut low, mut high) = (0usize, heap.size);
    while low < high {
        let mid = low + (high - low).div_ceil(2);
        let Ok(layout) = Layout::from_size_align(mid, 1) else {
            break;
        };
        // SAFETY: a trial allocation, freed at once with its layout.
        match unsafe { heap.talc.malloc(layout) } {
            Ok(ptr) => {
                // SAFETY: `ptr` was just allocated with `layout`.
                unsafe { heap.talc.free(ptr, layout) };
                heap.probes += 1;
                low = mid;
            }
            Err(()) => high = mid - 1,
        }
    }
    low
}
