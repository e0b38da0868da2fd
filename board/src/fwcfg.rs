//! QEMU's fw_cfg: files passed at launch (`-fw_cfg name=opt/kiln/rc,file=FILE`).
//!
//! Selector 0x0019 is the file directory: a big-endian count, then 64-byte entries
//! (size, selector, reserved, 56-byte name). Bytes are read with the DMA interface
//! when the device offers it (one VM exit per read, where the legacy data port costs
//! one exit per byte: the directory alone is ~2,000 bytes), else through the legacy
//! I/O ports: a 16-bit selector to 0x510, bytes from 0x511.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{Ordering, compiler_fence};

use crate::port::{inb, outl, outw};

const SELECTOR_PORT: u16 = 0x510;
const DATA_PORT: u16 = 0x511;
/// The DMA address register: high 32 bits here, low 32 bits at +4 (big-endian).
const DMA_PORT_HIGH: u16 = 0x514;
const DMA_PORT_LOW: u16 = 0x518;
const SELECT_SIGNATURE: u16 = 0x0000;
const SELECT_FEATURES: u16 = 0x0001;
const SELECT_FILE_DIR: u16 = 0x0019;
const SIGNATURE: &[u8; 4] = b"QEMU";
/// Feature bit: the DMA interface exists.
const FEATURE_DMA: u32 = 1 << 1;
const DMA_CONTROL_ERROR: u32 = 1 << 0;
const DMA_CONTROL_READ: u32 = 1 << 1;
const DMA_CONTROL_SELECT: u32 = 1 << 3;
const DIR_ENTRY: usize = 64;
const NAME_OFFSET: usize = 8;
const NAME_LEN: usize = 56;
/// Files larger than this are not read (the rc script is bounded at 1 MiB anyway).
const MAX_FILE: usize = 1 << 20;

/// One DMA request, as the device reads it (all fields big-endian).
#[repr(C, align(8))]
struct DmaAccess {
    control: u32,
    length: u32,
    address: u64,
}

/// How bytes are read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Ports,
    Dma,
}

/// Selects `selector` and reads `buf.len()` bytes from its start.
fn read_item(transport: Transport, selector: u16, buf: &mut [u8]) {
    match transport {
        Transport::Ports => {
            outw(SELECTOR_PORT, selector);
            for byte in buf {
                *byte = inb(DATA_PORT);
            }
        }
        Transport::Dma => {
            let mut access = DmaAccess {
                control: (u32::from(selector) << 16 | DMA_CONTROL_SELECT | DMA_CONTROL_READ)
                    .to_be(),
                length: (buf.len() as u32).to_be(),
                address: (buf.as_mut_ptr() as u64).to_be(),
            };
            let address = &raw mut access as u64;
            // The port writes are `nomem` asm: fence so the request is in memory before
            // the device reads it, and the results are read after it wrote them.
            compiler_fence(Ordering::SeqCst);
            outl(DMA_PORT_HIGH, ((address >> 32) as u32).to_be());
            // Writing the low half starts the transfer; QEMU completes it before the
            // write returns.
            outl(DMA_PORT_LOW, (address as u32).to_be());
            compiler_fence(Ordering::SeqCst);
            // SAFETY: `access` is ours and alive; the device has finished with it.
            let control = unsafe { core::ptr::read_volatile(&raw const access.control) };
            if u32::from_be(control) & DMA_CONTROL_ERROR != 0 {
                buf.fill(0);
            }
        }
    }
}

/// The transport to use, or `None` when no fw_cfg device answers.
fn transport() -> Option<Transport> {
    let mut signature = [0; 4];
    read_item(Transport::Ports, SELECT_SIGNATURE, &mut signature);
    if &signature != SIGNATURE {
        return None;
    }
    let mut features = [0; 4];
    read_item(Transport::Ports, SELECT_FEATURES, &mut features);
    // The feature bitmap is little-endian.
    if u32::from_le_bytes(features) & FEATURE_DMA != 0 {
        Some(Transport::Dma)
    } else {
        Some(Transport::Ports)
    }
}

/// Reads the file called `name`, if the VMM passed one.
pub fn read_file(name: &str) -> Option<Vec<u8>> {
    let transport = transport()?;
    let (_, selector, size) = directory(transport)
        .into_iter()
        .find(|(entry, _, _)| entry == name)?;
    let mut contents = vec![0; size.min(MAX_FILE)];
    read_item(transport, selector, &mut contents);
    Some(contents)
}

/// Every file whose name starts with `prefix`, as (the rest of its name, contents);
/// files larger than `max` bytes are left out.
pub fn read_prefixed(prefix: &str, max: usize) -> Vec<(String, Vec<u8>)> {
    let Some(transport) = transport() else {
        return Vec::new();
    };
    directory(transport)
        .into_iter()
        .filter(|(_, _, size)| *size <= max)
        .filter_map(|(name, selector, size)| {
            let rest = name.strip_prefix(prefix)?.to_string();
            let mut contents = vec![0; size];
            read_item(transport, selector, &mut contents);
            Some((rest, contents))
        })
        .collect()
}

/// The file directory: (name, selector, size) of each file.
fn directory(transport: Transport) -> Vec<(String, u16, usize)> {
    let mut count = [0; 4];
    read_item(transport, SELECT_FILE_DIR, &mut count);
    let count = u32::from_be_bytes(count) as usize;
    let mut directory = vec![0u8; 4 + count * DIR_ENTRY];
    read_item(transport, SELECT_FILE_DIR, &mut directory);
    directory[4..]
        .chunks_exact(DIR_ENTRY)
        .map(|entry| {
            let raw_name = &entry[NAME_OFFSET..NAME_OFFSET + NAME_LEN];
            let len = raw_name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
            let name = String::from_utf8_lossy(&raw_name[..len]).into_owned();
            let size = u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]) as usize;
            (name, u16::from_be_bytes([entry[4], entry[5]]), size)
        })
        .collect()
}
