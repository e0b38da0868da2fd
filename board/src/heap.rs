//! The global allocator: talc over the largest RAM region of the PVH memory map.
//!
//! talc does the allocating; this wrapper makes it interrupt-safe (an [`IrqMutex`]),
//! keeps the figures `memstat` reports (peak, counts) and charges every allocation to
//! the thread that made it, so `ps` can show what each job holds.
//!
//! Accounting: each block carries a small trailer naming its owner thread, so a free
//! is credited to the right account whichever thread does it. When a thread ends, what
//! it still owns was handed over (e.g. a firewall rule it stored) and becomes the
//! kernel's. When a thread dies without running its destructors (a panic, a fault,
//! `kill -9`), what it still owns is **lost**: it cannot be freed safely, because some
//! of it may be shared, so it is counted and shown by `memstat`, never hidden; blocks
//! of it that others free later leave the lost count. A job may hold at most
//! 1/[`JOB_SHARE_DIVISOR`] of the heap, so a runaway program meets out-of-memory
//! (and ends with a report) long before the kernel does.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use kiln_init::platform::HeapStats;
use talc::{ErrOnOom, Span, Talc};

use crate::pvh::{MEMORY_RAM, MemoryRegion};
use crate::sched;
use crate::sync::IrqMutex;

/// A job may hold at most heap size / this many bytes.
pub const JOB_SHARE_DIVISOR: usize = 4;
/// Bytes of the owner trailer after every block (the owner's thread id, padded).
const TRAILER: usize = 16;
const TRAILER_ALIGN: usize = 8;
/// Threads whose holdings are tracked at once; beyond, they count as the kernel's.
const ACCOUNTS: usize = 2048;
/// Dead-by-abort threads remembered, to move their later frees out of `lost`.
const ABORTED: usize = 1024;

type Accounts = heapless::index_map::FnvIndexMap<u64, usize, ACCOUNTS>;
type Aborted = heapless::index_set::FnvIndexSet<u64, ABORTED>;

struct Heap {
    talc: Talc<ErrOnOom>,
    size: usize,
    peak: usize,
    frees: u64,
    /// Bytes each live thread holds.
    accounts: Accounts,
    /// Bytes held by threads that died without freeing them.
    lost: usize,
    aborted: Aborted,
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
        accounts: Accounts::new(),
        lost: 0,
        aborted: Aborted::new(),
    }),
};

/// The block's layout with the owner trailer appended, and the trailer's offset.
fn with_trailer(layout: Layout) -> Option<(Layout, usize)> {
    let offset = layout.size().checked_next_multiple_of(TRAILER_ALIGN)?;
    let size = offset.checked_add(TRAILER)?;
    let layout = Layout::from_size_align(size, layout.align().max(TRAILER_ALIGN)).ok()?;
    Some((layout, offset))
}

impl Heap {
    fn charge(&mut self, owner: u64, bytes: usize) {
        if let Some(held) = self.accounts.get_mut(&owner) {
            *held += bytes;
        } else {
            let _ = self.accounts.insert(owner, bytes);
        }
    }

    fn credit(&mut self, owner: u64, bytes: usize) {
        if let Some(held) = self.accounts.get_mut(&owner) {
            *held = held.saturating_sub(bytes);
        } else if self.aborted.contains(&owner) {
            self.lost = self.lost.saturating_sub(bytes);
        }
    }
}

// SAFETY: every call goes to talc under the lock; talc upholds GlobalAlloc's contract,
// and the trailer lies inside the block talc returned.
unsafe impl GlobalAlloc for KernelAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some((full, trailer_at)) = with_trailer(layout) else {
            return core::ptr::null_mut();
        };
        let owner = sched::current_id();
        let mut heap = self.heap.lock();
        if sched::current_is_job() {
            let held = heap.accounts.get(&owner).copied().unwrap_or(0);
            if held + full.size() > heap.size / JOB_SHARE_DIVISOR {
                return core::ptr::null_mut();
            }
        }
        // SAFETY: talc is initialised with claimed memory before the first allocation.
        match unsafe { heap.talc.malloc(full) } {
            Ok(ptr) => {
                // SAFETY: the trailer is inside the block just allocated, 8-aligned.
                unsafe { (ptr.as_ptr().add(trailer_at) as *mut u64).write(owner) };
                heap.charge(owner, full.size());
                let used = heap.talc.get_counters().allocated_bytes;
                heap.peak = heap.peak.max(used);
                ptr.as_ptr()
            }
            Err(()) => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some((full, trailer_at)) = with_trailer(layout) else {
            return;
        };
        // SAFETY: `ptr` came from `alloc` with this layout, so its trailer is there.
        let owner = unsafe { (ptr.add(trailer_at) as *const u64).read() };
        let mut heap = self.heap.lock();
        heap.frees += 1;
        heap.credit(owner, full.size());
        // SAFETY: the caller passes a pointer this allocator returned, with its layout.
        unsafe { heap.talc.free(NonNull::new_unchecked(ptr), full) }
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

/// A thread ended: what it still holds is the kernel's (it returned normally) or lost
/// (it died without running its destructors).
pub fn thread_ended(id: u64, aborted: bool) {
    let mut heap = ALLOCATOR.heap.lock();
    let held = heap.accounts.swap_remove(&id).unwrap_or(0);
    if aborted {
        heap.lost += held;
        if heap.aborted.len() == ABORTED {
            heap.aborted.clear();
        }
        let _ = heap.aborted.insert(id);
    }
}

/// Heap bytes thread `id` holds now.
pub fn held_by(id: u64) -> Option<usize> {
    ALLOCATOR.heap.lock().accounts.get(&id).copied()
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
    // Page tables for guard pages come first, from a reserve of their own.
    let tables_end = (start + crate::guard::reserve_size(end - start)).next_multiple_of(4096);
    let start = start.next_multiple_of(4096);
    crate::guard::set_reserve(start, tables_end);
    let start = tables_end;
    if start >= end {
        return 0;
    }
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
    let (size, used, peak, allocations, frees, lost) = {
        let heap = ALLOCATOR.heap.lock();
        let counters = heap.talc.get_counters();
        (
            heap.size,
            counters.allocated_bytes,
            heap.peak,
            counters.total_allocation_count - heap.probes,
            heap.frees,
            heap.lost,
        )
    };
    HeapStats {
        size,
        used,
        peak,
        allocations,
        frees,
        largest_free: largest_free_block(),
        lost,
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
