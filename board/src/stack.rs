//! Program thread stacks, backed by memory only where they are used.
//!
//! Each program thread gets a slot of [`SLOT_SIZE`] bytes of virtual address space in
//! an area above the identity map. The slot's lowest page is never mapped (the guard
//! page: an overflow faults there and is reported as one), its top page is mapped when
//! the thread is created, and the pages between are mapped by the page-fault handler
//! the first time the stack grows into them ([`grow`]). A sleeping job costs one or two
//! pages of stack, not 64 KiB.
//!
//! The fault handler may run while the faulting thread holds any lock, the heap's
//! included. So when the fault is in kernel code it takes none: it pops pages from a
//! lock-free list of ready pages that thread context keeps filled ([`refill`], from
//! spawns and the reaper). When it is in the program's own code, no lock is held and
//! the handler tops the list up itself first.
//!
//! Pages come from 64 KiB chunks of the heap (kernel memory), the lowest chunk with
//! room first; a chunk goes back to the heap once all of its pages are free (the two
//! taken at boot stay), so the heap's figures come back when the threads end. The
//! area's page tables are pages of the same pool; one goes back when the last of the
//! 32 slots it maps is freed.

use alloc::alloc::{Layout, alloc, dealloc};
use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use x86_64::instructions::interrupts;
use x86_64::instructions::tlb;
use x86_64::registers::control::Cr3;

use crate::sync::IrqMutex;

pub const PAGE_SIZE: u64 = 4096;
/// Virtual bytes per program stack, guard page included.
pub const SLOT_SIZE: u64 = 64 * 1024;
/// Where the stack area starts: 64 GiB, far above the 4 GiB identity map.
const AREA_BASE: u64 = 64 << 30;
/// The area's size in GiB (one page directory each).
const AREA_GIB: usize = 2;
const AREA_END: u64 = AREA_BASE + ((AREA_GIB as u64) << 30);
/// Program threads that can exist at once.
pub const MAX_SLOTS: usize = ((AREA_END - AREA_BASE) / SLOT_SIZE) as usize;
const ENTRIES: usize = 512;
const PRESENT: u64 = 1;
const WRITABLE: u64 = 1 << 1;
const ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_F000;
/// Page-fault error code bit: the page was present (a protection fault).
const FAULT_PROTECTION: u64 = 1;
/// Slots one page table maps (2 MiB of area); divides 64.
const SLOTS_PER_TABLE: usize = (2 * 1024 * 1024 / SLOT_SIZE) as usize;
/// Pages per heap chunk of the page pool.
const CHUNK_PAGES: usize = 16;
/// Chunks the pool takes at boot and keeps.
const HOME_CHUNKS: usize = 2;
/// Ready pages thread context keeps for the fault handler.
const READY_TARGET: usize = 16;
/// Ready pages only kernel code may take: a program thread that faults inside the
/// kernel (the allocator, a kernel lock held) must not find the list empty, or the
/// kernel would die of a job's stack. A program's own code gets out of memory first.
const EMERGENCY_PAGES: usize = 4;
/// Below this many ready pages the reaper is asked to refill.
const READY_LOW: usize = 8;

#[repr(C, align(4096))]
struct Table([AtomicU64; ENTRIES]);

/// The page directories of the area (its page tables are pool pages).
static DIRECTORIES: [Table; AREA_GIB] =
    [const { Table([const { AtomicU64::new(0) }; ENTRIES]) }; AREA_GIB];
/// One bit per slot: set while a thread owns it.
static SLOTS_IN_USE: [AtomicU64; MAX_SLOTS / 64] = [const { AtomicU64::new(0) }; MAX_SLOTS / 64];
/// The ready list: the first page's address (0: empty); each page holds the next.
static READY_HEAD: AtomicU64 = AtomicU64::new(0);
static READY_COUNT: AtomicUsize = AtomicUsize::new(0);
/// The fault handler took a ready page since the last refill.
static TAKEN: AtomicBool = AtomicBool::new(false);
/// Stack pages mapped right now, for `memstat`.
static MAPPED: AtomicUsize = AtomicUsize::new(0);

/// Chunks of the heap that pages come from: chunk address to a mask of the pages
/// handed out (on the ready list, in a stack, or a page table).
struct Pool {
    chunks: BTreeMap<u64, u16>,
    /// The chunks taken at boot, kept for good. Pages are taken from the lowest chunk
    /// with room, so when the machine is quiet the pages in use (the ready list, a
    /// page table, the shell's commands) are here, low in the heap: the heap allocator
    /// puts a new chunk wherever a chunk was last freed, often high in the heap.
    home: [u64; HOME_CHUNKS],
}

static POOL: IrqMutex<Pool> = IrqMutex::new(Pool {
    chunks: BTreeMap::new(),
    home: [0; HOME_CHUNKS],
});

fn chunk_layout() -> Layout {
    Layout::from_size_align(CHUNK_PAGES * PAGE_SIZE as usize, PAGE_SIZE as usize)
        .expect("a page-aligned chunk")
}

impl Pool {
    fn take_page(&mut self) -> Option<u64> {
        let found = self
            .chunks
            .iter_mut()
            .find(|(_, mask)| **mask != u16::MAX)
            .map(|(base, mask)| (*base, mask));
        let (base, mask) = match found {
            Some(found) => found,
            None => {
                let base = self.new_chunk()?;
                (base, self.chunks.get_mut(&base)?)
            }
        };
        let index = mask.trailing_ones() as u64;
        *mask |= 1 << index;
        Some(base + index * PAGE_SIZE)
    }

    fn new_chunk(&mut self) -> Option<u64> {
        if !crate::heap::can_spare(chunk_layout().size()) {
            return None;
        }
        // SAFETY: the layout has a non-zero size.
        let chunk = unsafe { alloc(chunk_layout()) };
        if chunk.is_null() {
            return None;
        }
        self.chunks.insert(chunk as u64, 0);
        Some(chunk as u64)
    }

    fn give_page(&mut self, page: u64) {
        let Some((&base, mask)) = self.chunks.range_mut(..=page).next_back() else {
            return;
        };
        *mask &= !(1 << ((page - base) / PAGE_SIZE));
        if *mask == 0 && !self.home.contains(&base) {
            self.chunks.remove(&base);
            // SAFETY: the chunk came from `alloc` with this layout and none of its
            // pages is in use any more.
            unsafe { dealloc(base as *mut u8, chunk_layout()) };
        }
    }
}

fn table(entry: u64) -> *const [AtomicU64; ENTRIES] {
    (entry & ADDRESS_MASK) as *const [AtomicU64; ENTRIES]
}

fn zero_page(page: u64) {
    // SAFETY: `page` is an identity-mapped pool page owned by the caller.
    unsafe { core::ptr::write_bytes(page as *mut u8, 0, PAGE_SIZE as usize) };
}

/// Hooks the area's page directories into the boot page tables and takes the home
/// chunks. Called once at boot, after the heap.
pub fn init() {
    {
        let _kernel = crate::sched::NoPreempt::enter();
        let mut pool = POOL.lock();
        for index in 0..HOME_CHUNKS {
            pool.home[index] = pool.new_chunk().unwrap_or(0);
        }
    }
    let (pml4_frame, _) = Cr3::read();
    let pml4 = table(pml4_frame.start_address().as_u64());
    // SAFETY: the boot tables are identity-mapped and PML4[0] points at the PDPT that
    // maps the low 4 GiB; its entries from 64 on are unused until now.
    unsafe {
        let pdpt = table((*pml4)[0].load(Ordering::Relaxed));
        for (index, directory) in DIRECTORIES.iter().enumerate() {
            let entry = (AREA_BASE >> 30) as usize + index;
            (*pdpt)[entry].store(
                directory as *const Table as u64 | PRESENT | WRITABLE,
                Ordering::Relaxed,
            );
        }
    }
    tlb::flush_all();
}

/// The page-directory entry that maps area address `address`.
fn directory_entry(address: u64) -> &'static AtomicU64 {
    let offset = address - AREA_BASE;
    &DIRECTORIES[(offset >> 30) as usize].0[((offset >> 21) & 511) as usize]
}

/// The page-table entry of area page `page`, if its page table exists.
fn entry_of(page: u64) -> Option<&'static AtomicU64> {
    if !(AREA_BASE..AREA_END).contains(&page) {
        return None;
    }
    let offset = page - AREA_BASE;
    let pde = directory_entry(page).load(Ordering::Acquire);
    if pde & PRESENT == 0 {
        return None;
    }
    // SAFETY: a present directory entry points at a page table, a pool page that is
    // never given back.
    Some(unsafe { &(*table(pde))[((offset >> 12) & 511) as usize] })
}

fn push_ready(page: u64) {
    // Interrupts off: only the fault handler can run in between, and it only pops.
    interrupts::without_interrupts(|| {
        loop {
            let head = READY_HEAD.load(Ordering::Acquire);
            // SAFETY: the page is the caller's until it is on the list.
            unsafe { (page as *mut u64).write(head) };
            if READY_HEAD
                .compare_exchange(head, page, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                READY_COUNT.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    })
}

/// A ready page, lock-free. Safe in the fault handler: thread context pushes and pops
/// only with interrupts off, so nothing else changes the list under this one.
fn pop_ready() -> Option<u64> {
    let pop = || loop {
        let head = READY_HEAD.load(Ordering::Acquire);
        if head == 0 {
            return None;
        }
        // SAFETY: a page on the list holds the address of the next one.
        let next = unsafe { (head as *const u64).read() };
        if READY_HEAD
            .compare_exchange(head, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            READY_COUNT.fetch_sub(1, Ordering::Relaxed);
            return Some(head);
        }
    };
    if interrupts::are_enabled() {
        interrupts::without_interrupts(pop)
    } else {
        pop()
    }
}

/// Tops the ready list up for the fault handler. Thread context only.
pub fn refill() {
    TAKEN.store(false, Ordering::Relaxed);
    let _kernel = crate::sched::NoPreempt::enter();
    let mut pool = POOL.lock();
    while READY_COUNT.load(Ordering::Relaxed) < READY_TARGET {
        let Some(page) = pool.take_page() else {
            return;
        };
        push_ready(page);
    }
}

/// Gives the ready pages back and takes new ones, which come from the lowest chunks
/// with room: after a burst of threads has ended, the pages left ready do not pin a
/// chunk high in the heap. Thread context only (the reaper, after it freed stacks).
pub fn settle() {
    {
        let _kernel = crate::sched::NoPreempt::enter();
        let mut pool = POOL.lock();
        while let Some(page) = pop_ready() {
            pool.give_page(page);
        }
    }
    refill();
}

/// True when growing stacks have used up enough ready pages to want a refill (asked
/// once per shortage, so a heap that has no page to give is not asked every tick).
pub fn wants_refill() -> bool {
    READY_COUNT.load(Ordering::Relaxed) < READY_LOW && TAKEN.swap(false, Ordering::Relaxed)
}

/// Maps a ready page at `page` (unmapped, in a live slot's page table); `kernel` says
/// whether the emergency pages may be used.
fn map_ready_page(entry: &AtomicU64, page: u64, kernel: bool) -> bool {
    if !kernel && READY_COUNT.load(Ordering::Relaxed) <= EMERGENCY_PAGES {
        return false;
    }
    let Some(frame) = pop_ready() else {
        return false;
    };
    zero_page(frame);
    entry.store(frame | PRESENT | WRITABLE, Ordering::Release);
    tlb::flush(x86_64::VirtAddr::new(page));
    MAPPED.fetch_add(1, Ordering::Relaxed);
    TAKEN.store(true, Ordering::Relaxed);
    true
}

fn slot_of(address: u64) -> Option<usize> {
    if !(AREA_BASE..AREA_END).contains(&address) {
        return None;
    }
    let index = ((address - AREA_BASE) / SLOT_SIZE) as usize;
    let live = SLOTS_IN_USE[index / 64].load(Ordering::Acquire) & (1 << (index % 64)) != 0;
    live.then_some(index)
}

fn slot_base(index: usize) -> u64 {
    AREA_BASE + index as u64 * SLOT_SIZE
}

/// The page-table entry of `page` when it is an unmapped page of a live stack above
/// its guard page: a page the stack may grow into.
fn growable(page: u64) -> Option<&'static AtomicU64> {
    let index = slot_of(page)?;
    if page == slot_base(index) {
        return None;
    }
    entry_of(page).filter(|entry| entry.load(Ordering::Acquire) & PRESENT == 0)
}

/// The page fault at `address` is a live stack growing past its mapped pages: map the
/// page and let the instruction run again (true). False for every other fault, the
/// guard page included, and when no page is ready (see [`is_unbacked`]). `in_kernel`:
/// the fault is in kernel code, which may take the emergency pages.
pub fn grow(address: u64, error_code: u64, in_kernel: bool) -> bool {
    let page = address & !(PAGE_SIZE - 1);
    if error_code & FAULT_PROTECTION != 0 {
        return false;
    }
    let Some(entry) = growable(page) else {
        return false;
    };
    if !in_kernel {
        // The program's own code holds no lock (and had interrupts on, so no other
        // thread holds an IrqMutex either): the pool and the heap are free to top the
        // list up, so a stack that grows fast is not limited by the ready pages.
        refill();
    }
    map_ready_page(entry, page, in_kernel)
}

/// Makes sure `[start, end)` of the stack at `start` is mapped (the scheduler copies a
/// saved context there): false when it reaches the guard page or needs a page and
/// none is ready. Addresses outside the area (kernel stacks) are always mapped.
pub fn ensure_mapped(start: u64, end: u64) -> bool {
    let mut page = start & !(PAGE_SIZE - 1);
    while page < end {
        if let Some(index) = slot_of(page) {
            if page == slot_base(index) {
                return false;
            }
            if let Some(entry) = growable(page)
                && !map_ready_page(entry, page, true)
            {
                return false;
            }
        }
        page += PAGE_SIZE;
    }
    true
}

/// True when `address` is a page a live stack may grow into: a fault there that
/// [`grow`] could not serve means that no page was ready.
pub fn is_unbacked(address: u64) -> bool {
    growable(address & !(PAGE_SIZE - 1)).is_some()
}

/// A program thread's stack slot; unmapped and freed when dropped.
pub struct Slot {
    index: usize,
}

impl Slot {
    /// The guard page's address (the slot's base).
    pub fn guard_page(&self) -> u64 {
        slot_base(self.index)
    }

    /// The stack's top (exclusive).
    pub fn top(&self) -> u64 {
        slot_base(self.index) + SLOT_SIZE
    }

    /// A new slot with its top page mapped, or `None` when there is no slot or page.
    pub fn allocate() -> Option<Slot> {
        refill();
        let _kernel = crate::sched::NoPreempt::enter();
        let mut pool = POOL.lock();
        let index = SLOTS_IN_USE.iter().enumerate().find_map(|(word, bits)| {
            let bits_now = bits.load(Ordering::Relaxed);
            (bits_now != u64::MAX).then(|| word * 64 + bits_now.trailing_ones() as usize)
        })?;
        let base = slot_base(index);
        let directory = directory_entry(base);
        if directory.load(Ordering::Acquire) & PRESENT == 0 {
            let page_table = pool.take_page()?;
            zero_page(page_table);
            directory.store(page_table | PRESENT | WRITABLE, Ordering::Release);
        }
        let top_page = base + SLOT_SIZE - PAGE_SIZE;
        let frame = pool.take_page()?;
        zero_page(frame);
        entry_of(top_page)?.store(frame | PRESENT | WRITABLE, Ordering::Release);
        tlb::flush(x86_64::VirtAddr::new(top_page));
        MAPPED.fetch_add(1, Ordering::Relaxed);
        SLOTS_IN_USE[index / 64].fetch_or(1 << (index % 64), Ordering::Release);
        Some(Slot { index })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let _kernel = crate::sched::NoPreempt::enter();
        let mut pool = POOL.lock();
        let base = slot_base(self.index);
        SLOTS_IN_USE[self.index / 64].fetch_and(!(1 << (self.index % 64)), Ordering::Release);
        let mut page = base + PAGE_SIZE;
        while page < base + SLOT_SIZE {
            if let Some(entry) = entry_of(page) {
                let pte = entry.swap(0, Ordering::AcqRel);
                if pte & PRESENT != 0 {
                    tlb::flush(x86_64::VirtAddr::new(page));
                    MAPPED.fetch_sub(1, Ordering::Relaxed);
                    pool.give_page(pte & ADDRESS_MASK);
                }
            }
            page += PAGE_SIZE;
        }
        // The last slot of its page table gone: the table goes back too.
        let group = (self.index % 64) / SLOTS_PER_TABLE * SLOTS_PER_TABLE;
        let group_mask = ((1u64 << SLOTS_PER_TABLE) - 1) << group;
        if SLOTS_IN_USE[self.index / 64].load(Ordering::Acquire) & group_mask == 0 {
            let pde = directory_entry(base).swap(0, Ordering::AcqRel);
            if pde & PRESENT != 0 {
                tlb::flush_all();
                pool.give_page(pde & ADDRESS_MASK);
            }
        }
    }
}

/// Stack pages mapped now (the ready pages not included).
pub fn mapped_pages() -> usize {
    MAPPED.load(Ordering::Relaxed)
}
