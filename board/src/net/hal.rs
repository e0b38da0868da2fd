//! The `virtio-drivers` [`Hal`]: DMA memory from the kernel heap, physical = virtual.
//!
//! The boot page tables identity-map the first 4 GiB (`guard.rs`), and the heap and
//! every thread stack live in that RAM, so a pointer is its own physical address and a
//! BAR's physical address is usable as it is. There is no IOMMU: sharing a buffer
//! with the device is handing over its address.

use alloc::alloc::{Layout, alloc_zeroed, dealloc};
use core::ptr::NonNull;

use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE, PhysAddr};

/// DMA memory and MMIO for virtio-drivers on kiln.
pub struct KilnHal;

fn layout(pages: usize) -> Layout {
    Layout::from_size_align(pages.max(1) * PAGE_SIZE, PAGE_SIZE)
        .expect("a DMA layout of whole pages")
}

// SAFETY: `dma_alloc` returns zeroed, page-aligned heap memory owned by the caller until
// `dma_dealloc`; addresses are identity-mapped, so the physical address handed to the
// device is where the driver reads and writes.
unsafe impl Hal for KilnHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        // SAFETY: the layout has a non-zero size.
        let pointer = unsafe { alloc_zeroed(layout(pages)) };
        // virtio-drivers has no way to report failure here; the driver is set up at
        // boot, when the heap is nearly empty, and its queues are never reallocated.
        let pointer = NonNull::new(pointer).expect("heap memory for virtio queues");
        (pointer.as_ptr() as PhysAddr, pointer)
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: the caller passes what `dma_alloc` returned for `pages` pages.
        unsafe { dealloc(vaddr.as_ptr(), layout(pages)) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as *mut u8).expect("a BAR at a non-zero address")
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.as_ptr() as *mut u8 as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}
