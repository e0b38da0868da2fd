//! QEMU's fw_cfg: files passed at launch (`-fw_cfg name=opt/kiln/rc,file=FILE`).
//!
//! The legacy I/O interface: write a 16-bit selector to port 0x510, read bytes from
//! port 0x511. Selector 0x0019 is the file directory: a big-endian count, then 64-byte
//! entries (size, selector, reserved, 56-byte name).

use alloc::vec::Vec;

use crate::port::{inb, outw};

const SELECTOR_PORT: u16 = 0x510;
const DATA_PORT: u16 = 0x511;
const SELECT_SIGNATURE: u16 = 0x0000;
const SELECT_FILE_DIR: u16 = 0x0019;
const SIGNATURE: &[u8; 4] = b"QEMU";
const NAME_LEN: usize = 56;
/// Files larger than this are not read (the rc script is bounded at 1 MiB anyway).
const MAX_FILE: usize = 1 << 20;

fn select(selector: u16) {
    outw(SELECTOR_PORT, selector);
}

fn read_bytes(buf: &mut [u8]) {
    for byte in buf {
        *byte = inb(DATA_PORT);
    }
}

fn read_be_u32() -> u32 {
    let mut b = [0; 4];
    read_bytes(&mut b);
    u32::from_be_bytes(b)
}

/// True when a fw_cfg device answers.
pub fn present() -> bool {
    select(SELECT_SIGNATURE);
    let mut signature = [0; 4];
    read_bytes(&mut signature);
    &signature == SIGNATURE
}

/// Reads the file called `name`, if the VMM passed one.
pub fn read_file(name: &str) -> Option<Vec<u8>> {
    if !present() {
        return None;
    }
    select(SELECT_FILE_DIR);
    let count = read_be_u32();
    let mut found = None;
    for _ in 0..count {
        let size = read_be_u32() as usize;
        let mut selector = [0; 2];
        read_bytes(&mut selector);
        let mut reserved = [0; 2];
        read_bytes(&mut reserved);
        let mut entry_name = [0u8; NAME_LEN];
        read_bytes(&mut entry_name);
        let len = entry_name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        if &entry_name[..len] == name.as_bytes() {
            found = Some((u16::from_be_bytes(selector), size));
        }
    }
    let (selector, size) = found?;
    let mut contents = alloc::vec![0; size.min(MAX_FILE)];
    select(selector);
    read_bytes(&mut contents);
    Some(contents)
}
