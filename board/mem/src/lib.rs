//! The C memory functions the freestanding image needs.
//!
//! The host target's prebuilt `compiler_builtins` does not export them. This crate is
//! `#![no_builtins]`, so the byte loops below are never turned back into calls to
//! themselves. They move 8 bytes at a time where they can (unaligned loads and stores
//! are fine on x86_64): under emulation every loop iteration costs, and the scheduler
//! copies a 688-byte frame on every switch.
#![no_std]
#![no_builtins]

/// Bytes moved per step in the fast loops.
const WORD: usize = 8;

/// # Safety
/// `dest` and `src` are valid for `n` bytes and do not overlap.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    let mut i = 0;
    while i + WORD <= n {
        // SAFETY: both ranges are valid for n bytes; i + 8 <= n.
        unsafe {
            let word = (src.add(i) as *const u64).read_unaligned();
            (dest.add(i) as *mut u64).write_unaligned(word);
        }
        i += WORD;
    }
    while i < n {
        // SAFETY: the caller guarantees both ranges are valid for n bytes.
        unsafe { *dest.add(i) = *src.add(i) };
        i += 1;
    }
    dest
}

/// # Safety
/// `dest` and `src` are valid for `n` bytes; they may overlap.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dest as usize) <= (src as usize) {
        // SAFETY: valid ranges. memcpy copies forwards and reads each word before it
        // stores it, so a store never reaches source bytes still to be read when dest
        // is below src.
        unsafe { memcpy(dest, src, n) };
    } else {
        let mut i = n;
        while i >= WORD {
            i -= WORD;
            // SAFETY: valid ranges; backwards word copies are safe when dest is above src.
            unsafe {
                let word = (src.add(i) as *const u64).read_unaligned();
                (dest.add(i) as *mut u64).write_unaligned(word);
            }
        }
        while i > 0 {
            i -= 1;
            // SAFETY: valid ranges; copying backwards is safe when dest is above src.
            unsafe { *dest.add(i) = *src.add(i) };
        }
    }
    dest
}

/// # Safety
/// `dest` is valid for `n` bytes.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn memset(dest: *mut u8, value: i32, n: usize) -> *mut u8 {
    let word = u64::from_ne_bytes([value as u8; WORD]);
    let mut i = 0;
    while i + WORD <= n {
        // SAFETY: dest is valid for n bytes; i + 8 <= n.
        unsafe { (dest.add(i) as *mut u64).write_unaligned(word) };
        i += WORD;
    }
    while i < n {
        // SAFETY: the caller guarantees dest is valid for n bytes.
        unsafe { *dest.add(i) = value as u8 };
        i += 1;
    }
    dest
}

/// # Safety
/// `a` and `b` are valid for `n` bytes.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: the caller guarantees both ranges are valid for n bytes.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return x as i32 - y as i32;
        }
        i += 1;
    }
    0
}

/// # Safety
/// `a` and `b` are valid for `n` bytes.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}

/// # Safety
/// `s` points to a NUL-terminated string.
#[cfg_attr(not(test), unsafe(no_mangle))]
pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the caller guarantees a terminating NUL within valid memory.
    while unsafe { *s.add(n) } != 0 {
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_loops_handle_every_length_and_overlap() {
        for n in 0..40 {
            let source: [u8; 48] = core::array::from_fn(|i| i as u8);
            let mut copy = [0u8; 48];
            // SAFETY: all pointers stay inside the arrays.
            unsafe { memcpy(copy.as_mut_ptr(), source.as_ptr(), n) };
            assert_eq!(copy[..n], source[..n]);
            assert!(copy[n..].iter().all(|&b| b == 0));
            for shift in [1usize, 3, 8, 9] {
                let mut up = source;
                let mut down = source;
                // SAFETY: both ranges lie inside the 48-byte arrays.
                unsafe {
                    memmove(up.as_mut_ptr().add(shift), up.as_ptr(), n);
                    memmove(down.as_mut_ptr(), down.as_ptr().add(shift), n);
                }
                assert_eq!(up[shift..shift + n], source[..n]);
                assert_eq!(down[..n], source[shift..shift + n]);
            }
            let mut filled = [0u8; 48];
            // SAFETY: inside the array.
            unsafe { memset(filled.as_mut_ptr(), 0xAB, n) };
            assert!(filled[..n].iter().all(|&b| b == 0xAB));
            assert!(filled[n..].iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn copies_moves_and_compares() {
        let mut buf = *b"abcdef";
        // SAFETY: all pointers stay inside `buf`.
        unsafe {
            memmove(buf.as_mut_ptr().add(1), buf.as_ptr(), 4);
            assert_eq!(&buf, b"aabcdf");
            memset(buf.as_mut_ptr(), b'z' as i32, 2);
            assert_eq!(&buf, b"zzbcdf");
            assert!(memcmp(b"ab".as_ptr(), b"ac".as_ptr(), 2) < 0);
            assert_eq!(strlen(c"kiln".as_ptr().cast()), 4);
        }
    }
}
