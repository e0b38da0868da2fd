//! Random bytes for programs (`AT_RANDOM`, `getrandom`): the CPU's RDRAND, which QEMU
//! (with the launcher's `-cpu ...,+rdrand` under TCG) and every KVM host CPU since
//! 2012 provide. Without it, a TSC-seeded mix that is not fit for cryptography, said once
//! on the console.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// RDRAND may fail transiently; Intel's guide retries 10 times.
const RDRAND_RETRIES: usize = 10;

static WARNED: AtomicBool = AtomicBool::new(false);
/// The fallback's state (splitmix64).
static FALLBACK: AtomicU64 = AtomicU64::new(0);

/// True when the CPU has RDRAND (`CPUID.1:ECX[30]`).
pub fn has_rdrand() -> bool {
    core::arch::x86_64::__cpuid(1).ecx & (1 << 30) != 0
}

/// Fills `bytes` with random bytes.
pub fn fill(bytes: &mut [u8]) {
    let hardware = has_rdrand();
    if !hardware && !WARNED.swap(true, Ordering::Relaxed) {
        crate::kprintln!(
            "kiln: this CPU has no RDRAND: programs' random bytes come from the TSC, not fit for cryptography"
        );
    }
    for chunk in bytes.chunks_mut(8) {
        let word = if hardware { rdrand() } else { None }.unwrap_or_else(fallback);
        chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
    }
}

fn rdrand() -> Option<u64> {
    for _ in 0..RDRAND_RETRIES {
        let value: u64;
        let ok: u8;
        // SAFETY: called only when CPUID reports RDRAND; it writes a register and CF.
        unsafe {
            core::arch::asm!("rdrand {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok, options(nomem, nostack));
        }
        if ok == 1 {
            return Some(value);
        }
    }
    None
}

/// splitmix64 over the TSC and a counter.
fn fallback() -> u64 {
    let step = crate::time::rdtsc().wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = FALLBACK
        .fetch_add(step, Ordering::Relaxed)
        .wrapping_add(step);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
