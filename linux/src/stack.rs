//! The stack a new Linux process starts on (System V x86-64 ABI, 3.4.1, and what
//! Linux's `create_elf_tables` adds): at the stack pointer argc, then argv pointers and a
//! null, envp pointers and a null, auxiliary vector pairs ending with `AT_NULL`; above
//! them 16 random bytes (`AT_RANDOM`) and the strings.

use alloc::vec;
use alloc::vec::Vec;

use crate::elf::PAGE_SIZE;

/// Auxiliary vector keys (`<elf.h>`).
pub const AT_NULL: u64 = 0;
pub const AT_PHDR: u64 = 3;
pub const AT_PHENT: u64 = 4;
pub const AT_PHNUM: u64 = 5;
pub const AT_PAGESZ: u64 = 6;
pub const AT_BASE: u64 = 7;
pub const AT_FLAGS: u64 = 8;
pub const AT_ENTRY: u64 = 9;
pub const AT_UID: u64 = 11;
pub const AT_EUID: u64 = 12;
pub const AT_GID: u64 = 13;
pub const AT_EGID: u64 = 14;
pub const AT_HWCAP: u64 = 16;
pub const AT_CLKTCK: u64 = 17;
pub const AT_SECURE: u64 = 23;
pub const AT_RANDOM: u64 = 25;
pub const AT_EXECFN: u64 = 31;
/// Clock ticks per second, as `sysconf(_SC_CLK_TCK)` reports.
pub const CLOCK_TICKS: u64 = 100;

/// What the auxiliary vector says about the executable (addresses already biased).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Executable {
    pub phdr: u64,
    pub phent: u64,
    pub phnum: u64,
    pub entry: u64,
    /// `CPUID.1:EDX`, for `AT_HWCAP`.
    pub hwcap: u64,
}

/// The initial stack: `bytes` go just below `top`, and the process starts with its
/// stack pointer at `sp` (16-byte aligned, pointing at argc).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialStack {
    pub bytes: Vec<u8>,
    pub sp: u64,
}

/// Builds the stack for a process whose stack ends at `top` (exclusive, page-aligned).
/// `argv[0]` is also `AT_EXECFN`; `env` entries are `NAME=value`.
pub fn build(
    top: u64,
    argv: &[&[u8]],
    env: &[&[u8]],
    executable: &Executable,
    random: [u8; 16],
) -> InitialStack {
    // Strings first, from the top down: an 8-byte end marker, then each string.
    let strings: Vec<&[u8]> = argv.iter().chain(env).copied().collect();
    let strings_size: u64 = strings.iter().map(|s| s.len() as u64 + 1).sum();
    let strings_start = top - 8 - strings_size;
    let random_at = (strings_start - 16) & !0xF;
    let aux = aux_vector(executable, random_at, strings_start);
    let words = 1 + argv.len() + 1 + env.len() + 1 + aux.len() * 2;
    let sp = (random_at - 8 * words as u64) & !0xF;
    let mut bytes = vec![0u8; (top - sp) as usize];
    let mut put = |address: u64, data: &[u8]| {
        let at = (address - sp) as usize;
        bytes[at..at + data.len()].copy_from_slice(data);
    };
    put(random_at, &random);
    let mut pointers = Vec::with_capacity(strings.len());
    let mut at = strings_start;
    for string in &strings {
        pointers.push(at);
        put(at, string);
        at += string.len() as u64 + 1;
    }
    let mut word_at = sp;
    let mut push = |value: u64| {
        put(word_at, &value.to_le_bytes());
        word_at += 8;
    };
    push(argv.len() as u64);
    for &pointer in &pointers[..argv.len()] {
        push(pointer);
    }
    push(0);
    for &pointer in &pointers[argv.len()..] {
        push(pointer);
    }
    push(0);
    for (key, value) in aux {
        push(key);
        push(value);
    }
    InitialStack { bytes, sp }
}

/// The auxiliary vector, `AT_NULL` last.
fn aux_vector(executable: &Executable, random: u64, execfn: u64) -> Vec<(u64, u64)> {
    alloc::vec![
        (AT_PHDR, executable.phdr),
        (AT_PHENT, executable.phent),
        (AT_PHNUM, executable.phnum),
        (AT_PAGESZ, PAGE_SIZE),
        // No dynamic loader: static executables relocate themselves from their headers.
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, executable.entry),
        (AT_UID, 0),
        (AT_EUID, 0),
        (AT_GID, 0),
        (AT_EGID, 0),
        (AT_HWCAP, executable.hwcap),
        (AT_CLKTCK, CLOCK_TICKS),
        (AT_SECURE, 0),
        (AT_RANDOM, random),
        (AT_EXECFN, execfn),
        (AT_NULL, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    const TOP: u64 = 0x7fff_0000_0000;

    fn executable() -> Executable {
        Executable {
            phdr: 0x400040,
            phent: 56,
            phnum: 9,
            entry: 0x401000,
            hwcap: 0x178bfbff,
        }
    }

    /// Reads the stack as a process would.
    struct Reader<'a> {
        stack: &'a InitialStack,
    }

    impl Reader<'_> {
        fn word(&self, address: u64) -> u64 {
            let at = (address - self.stack.sp) as usize;
            u64::from_le_bytes(self.stack.bytes[at..at + 8].try_into().unwrap())
        }

        fn string(&self, address: u64) -> String {
            let at = (address - self.stack.sp) as usize;
            let end = self.stack.bytes[at..].iter().position(|&b| b == 0).unwrap();
            String::from_utf8(self.stack.bytes[at..at + end].to_vec()).unwrap()
        }
    }

    #[test]
    fn argc_argv_envp_and_auxv_as_linux_lays_them_out() {
        let argv: [&[u8]; 4] = [b"busybox", b"echo", b"two words", b""];
        let env: [&[u8]; 2] = [b"X=1", b"PATH=/"];
        let stack = build(TOP, &argv, &env, &executable(), [7; 16]);
        assert_eq!(
            stack.sp % 16,
            0,
            "the ABI wants a 16-byte aligned stack at entry"
        );
        assert_eq!(stack.sp + stack.bytes.len() as u64, TOP);
        let r = Reader { stack: &stack };
        assert_eq!(r.word(stack.sp), 4);
        let args: Vec<String> = (0..4)
            .map(|i| r.string(r.word(stack.sp + 8 + 8 * i)))
            .collect();
        assert_eq!(args, ["busybox", "echo", "two words", ""]);
        assert_eq!(r.word(stack.sp + 8 * 5), 0);
        let envp = stack.sp + 8 * 6;
        assert_eq!(r.string(r.word(envp)), "X=1");
        assert_eq!(r.string(r.word(envp + 8)), "PATH=/");
        assert_eq!(r.word(envp + 16), 0);
        let mut aux = Vec::new();
        let mut at = envp + 24;
        loop {
            let (key, value) = (r.word(at), r.word(at + 8));
            aux.push((key, value));
            at += 16;
            if key == AT_NULL {
                break;
            }
        }
        let get = |key| aux.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        assert_eq!(get(AT_PHDR), Some(0x400040));
        assert_eq!(get(AT_PHNUM), Some(9));
        assert_eq!(get(AT_PAGESZ), Some(4096));
        assert_eq!(get(AT_ENTRY), Some(0x401000));
        assert_eq!(get(AT_SECURE), Some(0));
        assert_eq!(r.string(get(AT_EXECFN).unwrap()), "busybox");
        let random = get(AT_RANDOM).unwrap();
        let at = (random - stack.sp) as usize;
        assert_eq!(&stack.bytes[at..at + 16], &[7; 16]);
    }

    #[test]
    fn no_arguments_beyond_the_name_and_no_environment() {
        let stack = build(TOP, &[b"true"], &[], &executable(), [0; 16]);
        let r = Reader { stack: &stack };
        assert_eq!(r.word(stack.sp), 1);
        assert_eq!(r.string(r.word(stack.sp + 8)), "true");
        assert_eq!(r.word(stack.sp + 16), 0);
        assert_eq!(r.word(stack.sp + 24), 0);
        assert_eq!(r.word(stack.sp + 32), AT_PHDR);
    }
}
