//! The x86-64 Linux syscall ABI: numbers (`arch/x86/entry/syscalls/syscall_64.tbl`),
//! error numbers (`asm-generic/errno-base.h`) and the statuses a shell shows for a
//! process that a signal ended.

/// Syscall numbers kiln knows by name.
pub mod nr {
    pub const READ: u64 = 0;
    pub const WRITE: u64 = 1;
    pub const OPEN: u64 = 2;
    pub const CLOSE: u64 = 3;
    pub const STAT: u64 = 4;
    pub const FSTAT: u64 = 5;
    pub const LSTAT: u64 = 6;
    pub const POLL: u64 = 7;
    pub const LSEEK: u64 = 8;
    pub const MMAP: u64 = 9;
    pub const MPROTECT: u64 = 10;
    pub const MUNMAP: u64 = 11;
    pub const BRK: u64 = 12;
    pub const RT_SIGACTION: u64 = 13;
    pub const RT_SIGPROCMASK: u64 = 14;
    pub const IOCTL: u64 = 16;
    pub const READV: u64 = 19;
    pub const WRITEV: u64 = 20;
    pub const PIPE: u64 = 22;
    pub const SCHED_YIELD: u64 = 24;
    pub const MREMAP: u64 = 25;
    pub const MADVISE: u64 = 28;
    pub const DUP: u64 = 32;
    pub const DUP2: u64 = 33;
    pub const NANOSLEEP: u64 = 35;
    pub const GETPID: u64 = 39;
    pub const SENDFILE: u64 = 40;
    pub const CLONE: u64 = 56;
    pub const FORK: u64 = 57;
    pub const VFORK: u64 = 58;
    pub const EXECVE: u64 = 59;
    pub const EXIT: u64 = 60;
    pub const WAIT4: u64 = 61;
    pub const KILL: u64 = 62;
    pub const UNAME: u64 = 63;
    pub const FCNTL: u64 = 72;
    pub const GETCWD: u64 = 79;
    pub const READLINK: u64 = 89;
    pub const GETTIMEOFDAY: u64 = 96;
    pub const SYSINFO: u64 = 99;
    pub const GETUID: u64 = 102;
    pub const GETGID: u64 = 104;
    pub const GETEUID: u64 = 107;
    pub const GETEGID: u64 = 108;
    pub const GETPPID: u64 = 110;
    pub const GETPGRP: u64 = 111;
    pub const SIGALTSTACK: u64 = 131;
    pub const PRCTL: u64 = 157;
    pub const ARCH_PRCTL: u64 = 158;
    pub const GETTID: u64 = 186;
    pub const TKILL: u64 = 200;
    pub const TIME: u64 = 201;
    pub const FUTEX: u64 = 202;
    pub const SCHED_GETAFFINITY: u64 = 204;
    pub const GETDENTS64: u64 = 217;
    pub const SET_TID_ADDRESS: u64 = 218;
    pub const CLOCK_GETTIME: u64 = 228;
    pub const CLOCK_NANOSLEEP: u64 = 230;
    pub const EXIT_GROUP: u64 = 231;
    pub const TGKILL: u64 = 234;
    pub const OPENAT: u64 = 257;
    pub const NEWFSTATAT: u64 = 262;
    pub const READLINKAT: u64 = 267;
    pub const PPOLL: u64 = 271;
    pub const SET_ROBUST_LIST: u64 = 273;
    pub const DUP3: u64 = 292;
    pub const PIPE2: u64 = 293;
    pub const PRLIMIT64: u64 = 302;
    pub const GETRANDOM: u64 = 318;
    pub const STATX: u64 = 332;
    pub const RSEQ: u64 = 334;
}

/// The name of syscall `number`, for the message about one kiln does not support.
pub fn syscall_name(number: u64) -> &'static str {
    use nr::*;
    match number {
        READ => "read",
        WRITE => "write",
        OPEN => "open",
        CLOSE => "close",
        STAT => "stat",
        FSTAT => "fstat",
        LSTAT => "lstat",
        POLL => "poll",
        LSEEK => "lseek",
        MMAP => "mmap",
        MPROTECT => "mprotect",
        MUNMAP => "munmap",
        BRK => "brk",
        RT_SIGACTION => "rt_sigaction",
        RT_SIGPROCMASK => "rt_sigprocmask",
        IOCTL => "ioctl",
        READV => "readv",
        WRITEV => "writev",
        PIPE => "pipe",
        SCHED_YIELD => "sched_yield",
        MREMAP => "mremap",
        MADVISE => "madvise",
        DUP => "dup",
        DUP2 => "dup2",
        NANOSLEEP => "nanosleep",
        GETPID => "getpid",
        SENDFILE => "sendfile",
        CLONE => "clone",
        FORK => "fork",
        VFORK => "vfork",
        EXECVE => "execve",
        EXIT => "exit",
        WAIT4 => "wait4",
        KILL => "kill",
        UNAME => "uname",
        FCNTL => "fcntl",
        GETCWD => "getcwd",
        READLINK => "readlink",
        GETTIMEOFDAY => "gettimeofday",
        SYSINFO => "sysinfo",
        GETUID => "getuid",
        GETGID => "getgid",
        GETEUID => "geteuid",
        GETEGID => "getegid",
        GETPPID => "getppid",
        GETPGRP => "getpgrp",
        SIGALTSTACK => "sigaltstack",
        PRCTL => "prctl",
        ARCH_PRCTL => "arch_prctl",
        GETTID => "gettid",
        TKILL => "tkill",
        TIME => "time",
        FUTEX => "futex",
        SCHED_GETAFFINITY => "sched_getaffinity",
        GETDENTS64 => "getdents64",
        SET_TID_ADDRESS => "set_tid_address",
        CLOCK_GETTIME => "clock_gettime",
        CLOCK_NANOSLEEP => "clock_nanosleep",
        EXIT_GROUP => "exit_group",
        TGKILL => "tgkill",
        OPENAT => "openat",
        NEWFSTATAT => "newfstatat",
        READLINKAT => "readlinkat",
        PPOLL => "ppoll",
        SET_ROBUST_LIST => "set_robust_list",
        DUP3 => "dup3",
        PIPE2 => "pipe2",
        PRLIMIT64 => "prlimit64",
        GETRANDOM => "getrandom",
        STATX => "statx",
        RSEQ => "rseq",
        _ => "unknown",
    }
}

/// Error numbers, returned negated in `rax`.
pub mod errno {
    pub const EPERM: u64 = 1;
    pub const ENOENT: u64 = 2;
    pub const ESRCH: u64 = 3;
    pub const EINTR: u64 = 4;
    pub const EIO: u64 = 5;
    pub const EBADF: u64 = 9;
    pub const ECHILD: u64 = 10;
    pub const EAGAIN: u64 = 11;
    pub const ENOMEM: u64 = 12;
    pub const EFAULT: u64 = 14;
    pub const EEXIST: u64 = 17;
    pub const ENOTDIR: u64 = 20;
    pub const EISDIR: u64 = 21;
    pub const EINVAL: u64 = 22;
    pub const EMFILE: u64 = 24;
    pub const ENOTTY: u64 = 25;
    pub const ESPIPE: u64 = 29;
    pub const EROFS: u64 = 30;
    pub const EPIPE: u64 = 32;
    pub const ERANGE: u64 = 34;
    pub const EDEADLK: u64 = 35;
    pub const ENOSYS: u64 = 38;
}

/// `-errno` as the 64-bit value a syscall returns.
pub fn error(errno: u64) -> u64 {
    errno.wrapping_neg()
}

/// Signal numbers, for the status a shell shows (128 + signal).
pub mod signal {
    pub const SIGINT: u8 = 2;
    pub const SIGILL: u8 = 4;
    pub const SIGABRT: u8 = 6;
    pub const SIGFPE: u8 = 8;
    pub const SIGKILL: u8 = 9;
    pub const SIGSEGV: u8 = 11;
    pub const SIGTERM: u8 = 15;
}

/// The signal Linux sends for CPU exception `vector` in user mode.
pub fn signal_for_exception(vector: u8) -> u8 {
    match vector {
        // Divide error, x87 and SIMD floating-point errors.
        0 | 16 | 19 => signal::SIGFPE,
        // Invalid opcode.
        6 => signal::SIGILL,
        // Page faults, protection faults and the rest.
        _ => signal::SIGSEGV,
    }
}

/// The status a shell shows for a process ended by `signal`.
pub fn signal_status(signal: u8) -> u8 {
    128 + signal
}
