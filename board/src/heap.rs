//! The global allocator: talc over the largest RAM region of the PVH memory map, with
//! per-program ownership so that every program job's memory comes back at its end.
//!
//! talc does the allocating; this wrapper makes it interrupt-safe (an [`IrqMutex`]),
//! keeps the figures `memstat` reports, and decides who owns each block.
//!
//! Ownership (docs/ARCHITECTURE.md, "Memory ownership"):
//! - A block belongs to the **program** whose thread allocated it, unless it was
//!   allocated with interrupts off or with a kernel lock held (a
//!   `kiln_init::sync::Mutex`, which holds off preemption, or a `kernel_owned` section):
//!   then, and on kernel threads, it is the **kernel's**. Shared state (the job table,
//!   pipes, the firewall table, sockets, the scheduler) is only changed under its lock,
//!   so what it holds is never a program's.
//! - Each block carries a [`Trailer`] naming its owner's [`Account`]; a program's blocks
//!   are linked into its account's list. A free, by whichever thread, unlinks the block
//!   and credits its owner.
//! - When a program thread ends, however it ends, [`reclaim`] frees every block still
//!   on its list: the destructors of a program that panicked, faulted or was killed
//!   never ran, and nothing outside the program can point into its blocks.
//!
//! The arena grows on demand ([`GrowOnOom`]): talc is given the heap up to the first
//! 2 MiB boundary at least [`FIRST_ARENA`] above its start, and more, in 2 MiB steps,
//! when an allocation finds no room. talc writes a tag at the top of its arena, and a
//! VMM backs guest RAM with 2 MiB host pages whose first touch costs the host a page
//! of zeroes (up to 6 ms under nested virtualisation): claiming all of RAM at once
//! touched the top of RAM at boot for nothing.
//!
//! Limits, so a job meets out-of-memory before the kernel does: a program may hold at
//! most [`JOB_SHARE_PERCENT`] % of the heap, and neither a program nor a new thread
//! may eat into the last [`reserve`] bytes, which are the kernel's (the shell, the job
//! table, fault reports).

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{NonNull, null_mut};
use core::sync::atomic::{AtomicPtr, Ordering};

use kiln_init::platform::HeapStats;
use talc::{OomHandler, Span, Talc};

use crate::pvh::{MEMORY_RAM, MemoryRegion};
use crate::sched;
use crate::sync::IrqMutex;

/// A program may hold at most this percentage of the heap.
pub const JOB_SHARE_PERCENT: usize = 75;
/// The kernel's reserve is heap size / this many bytes, and at least [`MIN_RESERVE`].
const RESERVE_DIVISOR: usize = 16;
/// The smallest kernel reserve, in bytes.
const MIN_RESERVE: usize = 64 * 1024;
/// Background jobs leave heap size / this many bytes for foreground commands.
const FOREGROUND_DIVISOR: usize = 16;

/// The arena talc starts with reaches at least this far above the heap's start.
const FIRST_ARENA: usize = 1 << 20;
/// The arena grows to multiples of this (the host's large page).
const ARENA_STEP: usize = 2 << 20;

/// talc's out-of-memory handler: extends the arena towards `limit`, in
/// [`ARENA_STEP`]s, by at least what the failed allocation needs.
struct GrowOnOom {
    /// What talc manages now (empty before [`init`]).
    arena: Span,
    /// The end of the heap's RAM.
    limit: usize,
}

impl GrowOnOom {
    /// Where an arena from `base` ends once it holds `needed` more bytes above `acme`.
    fn next_acme(base: usize, acme: usize, needed: usize, limit: usize) -> usize {
        let wanted = acme
            .saturating_add(needed)
            .max(base.saturating_add(FIRST_ARENA));
        wanted
            .checked_next_multiple_of(ARENA_STEP)
            .unwrap_or(limit)
            .min(limit)
    }
}

impl OomHandler for GrowOnOom {
    fn handle_oom(talc: &mut Talc<Self>, layout: Layout) -> Result<(), ()> {
        let Some((base, acme)) = talc.oom_handler.arena.get_base_acme() else {
            return Err(());
        };
        let (base, acme) = (base as usize, acme as usize);
        let limit = talc.oom_handler.limit;
        // Room for the block, its alignment and talc's tags.
        let needed = layout.size() + layout.align() + 4 * core::mem::size_of::<usize>();
        let new_acme = GrowOnOom::next_acme(base, acme, needed, limit);
        if new_acme <= acme {
            return Err(());
        }
        let old = talc.oom_handler.arena;
        let wanted = Span::new(base as *mut u8, new_acme as *mut u8);
        // SAFETY: `[acme, new_acme)` is RAM of the heap's region that talc does not
        // manage yet (the arena only grows, up to `limit`), identity-mapped and unused.
        talc.oom_handler.arena = unsafe { talc.extend(old, wanted) };
        Ok(())
    }
}

/// What every block carries after its data: its owner and its place in the owner's list.
#[repr(C)]
struct Trailer {
    /// The owning program's account; null for the kernel's blocks.
    account: *mut Account,
    prev: *mut Trailer,
    next: *mut Trailer,
    /// Bytes from the block's start to this trailer.
    offset: u32,
    /// The block's alignment.
    align: u32,
}

const TRAILER: usize = core::mem::size_of::<Trailer>();
const TRAILER_ALIGN: usize = core::mem::align_of::<Trailer>();

/// What one program thread holds: a byte count and the list of its blocks.
pub struct Account {
    bytes: usize,
    head: *mut Trailer,
}

struct Heap {
    talc: Talc<GrowOnOom>,
    size: usize,
    peak: usize,
    frees: u64,
    /// Bytes freed by [`reclaim`] for programs that ended still holding them.
    reclaimed: u64,
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
        talc: Talc::new(GrowOnOom {
            arena: Span::empty(),
            limit: 0,
        }),
        size: 0,
        peak: 0,
        frees: 0,
        reclaimed: 0,
        probes: 0,
    }),
};

/// The running thread's account: null on kernel threads. The scheduler sets it at
/// every switch.
static CURRENT_ACCOUNT: AtomicPtr<Account> = AtomicPtr::new(null_mut());

/// The block's layout with the trailer appended, and the trailer's offset.
fn with_trailer(layout: Layout) -> Option<(Layout, usize)> {
    let offset = layout.size().checked_next_multiple_of(TRAILER_ALIGN)?;
    let size = offset.checked_add(TRAILER)?;
    let layout = Layout::from_size_align(size, layout.align().max(TRAILER_ALIGN)).ok()?;
    u32::try_from(offset).ok()?;
    u32::try_from(layout.align()).ok()?;
    Some((layout, offset))
}

/// The owner of a block allocated now (see the module docs).
fn current_owner() -> *mut Account {
    let account = CURRENT_ACCOUNT.load(Ordering::Relaxed);
    if account.is_null()
        || !x86_64::instructions::interrupts::are_enabled()
        || sched::kernel_locks_held()
    {
        null_mut()
    } else {
        account
    }
}

impl Heap {
    fn free_bytes(&self) -> usize {
        self.size
            .saturating_sub(self.talc.get_counters().allocated_bytes)
    }

    fn reserve(&self) -> usize {
        (self.size / RESERVE_DIVISOR).max(MIN_RESERVE)
    }

    /// True when `bytes` more can be taken and the kernel's reserve still be free.
    fn leaves_reserve(&self, bytes: usize) -> bool {
        self.free_bytes() >= bytes + self.reserve()
    }

    /// Links `trailer` at the head of `account`'s list.
    ///
    /// # Safety
    /// Both pointers are live; the heap lock is held.
    unsafe fn link(account: *mut Account, trailer: *mut Trailer) {
        // SAFETY: the caller's contract; list nodes are live trailers.
        unsafe {
            (*trailer).prev = null_mut();
            (*trailer).next = (*account).head;
            if !(*account).head.is_null() {
                (*(*account).head).prev = trailer;
            }
            (*account).head = trailer;
        }
    }

    /// Unlinks `trailer` from its account's list.
    ///
    /// # Safety
    /// `trailer` is live and linked in `account`; the heap lock is held.
    unsafe fn unlink(account: *mut Account, trailer: *mut Trailer) {
        // SAFETY: the caller's contract; neighbours are live trailers of the same list.
        unsafe {
            let (prev, next) = ((*trailer).prev, (*trailer).next);
            if prev.is_null() {
                (*account).head = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
        }
    }
}

// SAFETY: every call goes to talc under the lock; talc upholds GlobalAlloc's contract,
// and the trailer lies inside the block talc returned.
unsafe impl GlobalAlloc for KernelAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some((full, trailer_at)) = with_trailer(layout) else {
            return null_mut();
        };
        let owner = current_owner();
        let mut heap = self.heap.lock();
        if !owner.is_null() {
            // SAFETY: a live program's account, read under the heap lock.
            let held = unsafe { (*owner).bytes };
            let over_share = held + full.size() > heap.size / 100 * JOB_SHARE_PERCENT;
            if over_share || !heap.leaves_reserve(full.size()) {
                return null_mut();
            }
        }
        // SAFETY: talc is initialised with claimed memory before the first allocation.
        match unsafe { heap.talc.malloc(full) } {
            Ok(ptr) => {
                let trailer = (ptr.as_ptr() as usize + trailer_at) as *mut Trailer;
                // SAFETY: the trailer is inside the block just allocated and aligned
                // (the offset is a multiple of its alignment, the block more aligned).
                unsafe {
                    trailer.write(Trailer {
                        account: owner,
                        prev: null_mut(),
                        next: null_mut(),
                        offset: trailer_at as u32,
                        align: full.align() as u32,
                    });
                    if !owner.is_null() {
                        Heap::link(owner, trailer);
                        (*owner).bytes += full.size();
                    }
                }
                let used = heap.talc.get_counters().allocated_bytes;
                heap.peak = heap.peak.max(used);
                ptr.as_ptr()
            }
            Err(()) => null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some((full, trailer_at)) = with_trailer(layout) else {
            return;
        };
        let trailer = (ptr as usize + trailer_at) as *mut Trailer;
        let mut heap = self.heap.lock();
        heap.frees += 1;
        // SAFETY: `ptr` came from `alloc` with this layout, so its trailer is there; an
        // account outlives its blocks (reclaim empties it before it is freed).
        unsafe {
            let owner = (*trailer).account;
            if !owner.is_null() {
                Heap::unlink(owner, trailer);
                (*owner).bytes = (*owner).bytes.saturating_sub(full.size());
            }
            heap.talc.free(NonNull::new_unchecked(ptr), full)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return null_mut();
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

/// A new, empty account for a program thread (kernel memory itself).
pub fn open_account() -> Option<NonNull<Account>> {
    let layout = Layout::new::<Account>();
    let _kernel = sched::NoPreempt::enter();
    // SAFETY: a non-zero-sized layout; the block is initialised before use.
    let raw = unsafe { ALLOCATOR.alloc(layout) } as *mut Account;
    let account = NonNull::new(raw)?;
    // SAFETY: freshly allocated, sized and aligned for an Account.
    unsafe {
        account.as_ptr().write(Account {
            bytes: 0,
            head: null_mut(),
        })
    };
    Some(account)
}

/// Makes `account` the owner of what the running thread allocates (null: the kernel).
pub fn switch_account(account: *mut Account) {
    CURRENT_ACCOUNT.store(account, Ordering::Relaxed);
}

/// Frees every block still on `account`, then the account itself: the program whose
/// account it is has ended and will never run again. Returns the bytes freed.
///
/// # Safety
/// `account` came from [`open_account`], is no thread's current account, and is not
/// used again.
pub unsafe fn reclaim(account: NonNull<Account>) -> usize {
    let account = account.as_ptr();
    let freed = {
        let mut heap = ALLOCATOR.heap.lock();
        let mut freed = 0;
        // SAFETY: the list holds live trailers of blocks this allocator handed out,
        // which nothing but the dead program refers to (see the module docs).
        unsafe {
            let mut node = (*account).head;
            while !node.is_null() {
                let next = (*node).next;
                let offset = (*node).offset as usize;
                let layout =
                    Layout::from_size_align_unchecked(offset + TRAILER, (*node).align as usize);
                let block = (node as usize - offset) as *mut u8;
                freed += layout.size();
                heap.talc.free(NonNull::new_unchecked(block), layout);
                node = next;
            }
            (*account).head = null_mut();
            (*account).bytes = 0;
        }
        heap.reclaimed += freed as u64;
        freed
    };
    // SAFETY: allocated by `open_account` with this layout; now empty and unused.
    unsafe { ALLOCATOR.dealloc(account as *mut u8, Layout::new::<Account>()) };
    freed
}

/// Heap bytes `account` holds now.
///
/// # Safety
/// `account` is live (not yet reclaimed).
pub unsafe fn account_bytes(account: NonNull<Account>) -> usize {
    let _heap = ALLOCATOR.heap.lock();
    // SAFETY: the caller's contract; read under the heap lock.
    unsafe { (*account.as_ptr()).bytes }
}

/// True when `bytes` more can be taken without eating into the kernel's reserve (a new
/// thread asks before it allocates its stack).
pub fn can_spare(bytes: usize) -> bool {
    ALLOCATOR.heap.lock().leaves_reserve(bytes)
}

/// True while background jobs may start: beyond the kernel's reserve they must leave
/// heap size / [`FOREGROUND_DIVISOR`] free, for what the operator runs next.
pub fn room_for_background() -> bool {
    let heap = ALLOCATOR.heap.lock();
    heap.leaves_reserve(heap.size / FOREGROUND_DIVISOR)
}

/// `[start, end)` with the `reserved` spans cut out (at most a few: boot modules).
fn free_spans(start: u64, end: u64, reserved: &[(u64, u64)]) -> heapless::Vec<(u64, u64), 8> {
    let mut spans: heapless::Vec<(u64, u64), 8> = heapless::Vec::new();
    if end > start {
        let _ = spans.push((start, end));
    }
    for &(cut_start, cut_end) in reserved {
        let mut next: heapless::Vec<(u64, u64), 8> = heapless::Vec::new();
        for &(s, e) in &spans {
            if cut_end <= s || cut_start >= e {
                let _ = next.push((s, e));
                continue;
            }
            if cut_start > s {
                let _ = next.push((s, cut_start));
            }
            if cut_end < e {
                let _ = next.push((cut_end.next_multiple_of(4096), e));
            }
        }
        spans = next;
    }
    spans
}

/// Claims the largest usable RAM above the image, and outside `reserved` (boot modules
/// the VMM loaded, `[start, end)`), as the heap.
pub fn init(memory_map: &[MemoryRegion], image_end: u64, reserved: &[(u64, u64)]) -> usize {
    let best = memory_map
        .iter()
        .filter(|r| r.kind == MEMORY_RAM)
        .flat_map(|r| {
            let start = r.addr.max(image_end);
            let end = r.addr + r.size;
            free_spans(start, end, reserved)
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
    let (start, end) = (start as usize, end as usize);
    let first_acme = GrowOnOom::next_acme(start, start, 0, end);
    // SAFETY: the region is RAM the VMM reported free, above the image, identity-mapped,
    // and claimed once; the rest of it is only ever added by `GrowOnOom`.
    let claimed = unsafe {
        heap.talc
            .claim(Span::new(start as *mut u8, first_acme as *mut u8))
    };
    if let Ok(arena) = claimed {
        heap.talc.oom_handler = GrowOnOom { arena, limit: end };
        heap.size = end - start;
    }
    heap.size
}

/// Bytes talc manages so far: the arena grows towards the heap's size on demand.
pub fn arena_bytes() -> usize {
    ALLOCATOR.heap.lock().talc.oom_handler.arena.size()
}

/// The allocator's figures.
pub fn stats() -> HeapStats {
    let (size, used, peak, allocations, frees, reclaimed) = {
        let heap = ALLOCATOR.heap.lock();
        let counters = heap.talc.get_counters();
        (
            heap.size,
            counters.allocated_bytes,
            heap.peak,
            counters.total_allocation_count - heap.probes,
            heap.frees,
            heap.reclaimed,
        )
    };
    HeapStats {
        size,
        used,
        peak,
        allocations,
        frees,
        largest_free: largest_free_block(),
        reclaimed,
        stack_pages: crate::stack::mapped_pages(),
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
