//! ELF processes: unmodified static x86-64 Linux executables run as kiln jobs, each in
//! its own address space, in ring 3.
//!
//! - The launcher passes each program as fw_cfg file `opt/kiln/program/NAME`;
//!   [`programs`] reads them at boot and makes a [`Program`] for each, whose `main` is
//!   [`run`]. The ELF checks are `kiln_linux::elf::plan`'s, the same the launcher made.
//! - [`run`] builds an [`AddressSpace`]: page tables of the process's own, which map the
//!   kernel's first 4 MiB and its thread stacks for the kernel only (so a wild write from
//!   the program cannot reach the kernel), the segments, a stack with argv/envp/auxv
//!   (`kiln_linux::stack`) and later its heap (`brk`) and `mmap`s. It then enters ring 3
//!   (`interrupts::enter_user`) on the job's own thread.
//! - A `syscall` lands in [`syscall_dispatch`] on that thread's kernel stack, which
//!   decodes it ([`Process::syscall`]); `exit_group` returns from `enter_user` with the
//!   status. A CPU fault in ring 3 ends the job with the status a Linux shell shows
//!   (`fault.rs`). All the memory is the job thread's, so it comes back at the end even
//!   when the job is killed.
//! - A syscall kiln does not know returns `-ENOSYS` and says so once on stderr.

use alloc::alloc::{Layout, alloc_zeroed, dealloc};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use kiln_init::program::{BakedFile, Context, Program, Status};
use kiln_linux::abi::{self, errno, nr};
use kiln_linux::elf::{self, PAGE_SIZE, Plan};
use kiln_linux::stack::{self, Executable};

use crate::interrupts::{self, Frame};
use crate::{fwcfg, heap, sched, time};

mod fork;

/// fw_cfg names of baked ELF programs start with this.
pub const FW_CFG_PREFIX: &str = "opt/kiln/program/";
/// The largest ELF program the image reads.
const MAX_PROGRAM: usize = 64 << 20;
/// The top of a process's stack, and how much of it is mapped.
const STACK_TOP: u64 = 0x7fff_ffff_f000;
const STACK_SIZE: u64 = 256 << 10;
/// `mmap` without an address places mappings downwards from here.
const MMAP_TOP: u64 = 0x7f00_0000_0000;
/// The most `struct iovec`s a `readv` or `writev` takes (Linux's `UIO_MAXIOV`).
const MAX_IOVECS: u64 = 1024;
/// The room kept on the job thread's kernel stack for syscalls, below `enter_user`.
const SYSCALL_STACK_ROOM: u64 = 32 << 10;
/// Status of a process that could not be started (as sh's "cannot execute").
const CANNOT_START_STATUS: Status = 126;
/// The status of a process whose job was cancelled: what the signal a Linux shell would
/// have sent gives (SIGINT for Ctrl-C, SIGTERM for `kill`).
fn cancelled_status(ctx: &Context<'_>) -> Status {
    // It ends now, as the signal would end it: not by the forced kill.
    sched::forget_kill_deadline();
    let signal = if ctx.job.interrupted() {
        abi::signal::SIGINT
    } else {
        abi::signal::SIGTERM
    };
    abi::signal_status(signal)
}

// Page-table entry bits.
const PRESENT: u64 = 1;
const WRITABLE: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const ADDRESS_MASK: u64 = 0x000f_ffff_ffff_f000;
const ENTRIES: usize = 512;

type Table = [u64; ENTRIES];

/// A baked ELF program.
pub(crate) struct Image {
    name: &'static str,
    bytes: &'static [u8],
    plan: Plan,
}

static IMAGES: spin::Once<Vec<Image>> = spin::Once::new();

/// Reads the ELF programs baked into the image's bundle (`kiln bake`) and those the
/// launcher passed (fw_cfg), and returns a [`Program`] for each (a file that does not
/// check out, or a second program of one name, is reported on the console and left out).
pub fn programs() -> Vec<Program> {
    let images = IMAGES.call_once(|| {
        let mut images: Vec<Image> = Vec::new();
        // The bundle's data is page-aligned in memory: its pages are mapped as they are.
        for entry in crate::bundle::of(kiln_bundle::Kind::Program) {
            match elf::plan(entry.bytes) {
                Ok(plan) => images.push(Image {
                    name: entry.name,
                    bytes: entry.bytes,
                    plan,
                }),
                Err(error) => crate::kprintln!("kiln: program '{}': {error}; left out", entry.name),
            }
        }
        for (name, bytes) in fwcfg::read_prefixed(FW_CFG_PREFIX, MAX_PROGRAM) {
            if images.iter().any(|image| image.name == name) {
                crate::kprintln!(
                    "kiln: program '{name}': the image already has one of that name; left out"
                );
                continue;
            }
            match elf::plan(&bytes) {
                Ok(plan) => match page_aligned_copy(&bytes) {
                    Some(copy) => images.push(Image {
                        name: Box::leak(name.into_boxed_str()),
                        bytes: copy,
                        plan,
                    }),
                    None => crate::kprintln!("kiln: program '{name}': no memory for it; left out"),
                },
                Err(error) => crate::kprintln!("kiln: program '{name}': {error}; left out"),
            }
        }
        images
    });
    images
        .iter()
        .map(|image| Program {
            name: image.name,
            about: "a static Linux executable (ELF)",
            usage: "a baked ELF program: kiln passes its arguments as they are",
            main: run,
        })
        .collect()
}

/// The `main` of every ELF program: runs the one named by `argv[0]` to its end.
pub fn run(ctx: &mut Context<'_>) -> Status {
    let Some(image) = IMAGES
        .get()
        .and_then(|images| images.iter().find(|i| i.name == ctx.argv[0]))
    else {
        return CANNOT_START_STATUS;
    };
    let mut process = match Process::load(image, ctx) {
        Ok(process) => process,
        Err(message) => {
            let _ = writeln_err(ctx, &format!("kiln: {}: {message}", image.name));
            return CANNOT_START_STATUS;
        }
    };
    process.enter()
}

/// `bytes` copied to page-aligned memory that lives as long as the image, so that the
/// read-only pages of a program can be mapped into every process that runs it.
fn page_aligned_copy(bytes: &[u8]) -> Option<&'static [u8]> {
    let size = elf::page_up(bytes.len() as u64).max(PAGE_SIZE) as usize;
    let layout = Layout::from_size_align(size, PAGE_SIZE as usize).expect("a page-aligned layout");
    // SAFETY: the layout has a non-zero size; the block is never freed (the program
    // stays baked for the life of the image).
    let copy = unsafe { alloc_zeroed(layout) };
    if copy.is_null() {
        return None;
    }
    // SAFETY: `copy` holds `size >= bytes.len()` bytes, and nothing else refers to it.
    unsafe {
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), copy, bytes.len());
        Some(core::slice::from_raw_parts(copy, bytes.len()))
    }
}

fn writeln_err(ctx: &Context<'_>, text: &str) -> Result<(), ()> {
    let mut err = ctx.err();
    embedded_io::Write::write_all(&mut err, text.as_bytes()).map_err(|_| ())?;
    embedded_io::Write::write_all(&mut err, b"\n").map_err(|_| ())
}

/// A page of memory from the heap (identity-mapped: its address is its frame).
fn new_page() -> Option<*mut u8> {
    if !heap::can_spare(PAGE_SIZE as usize) {
        return None;
    }
    // SAFETY: the layout has a non-zero size.
    let page = unsafe { alloc_zeroed(page_layout()) };
    (!page.is_null()).then_some(page)
}

fn page_layout() -> Layout {
    Layout::from_size_align(PAGE_SIZE as usize, PAGE_SIZE as usize).expect("a page layout")
}

fn table(entry: u64) -> *mut Table {
    (entry & ADDRESS_MASK) as *mut Table
}

/// A process's page tables and the pages they map.
struct AddressSpace {
    pml4: *mut Table,
    /// The tables this space made (not the kernel's it points to).
    tables: Vec<*mut Table>,
    /// User pages by address.
    pages: BTreeMap<u64, *mut u8>,
    /// Those of `pages` that are a program's own read-only pages, shared by every
    /// process that runs it: never written, never freed.
    shared: BTreeSet<u64>,
}

impl AddressSpace {
    /// A space that maps only the kernel's parts, for the kernel only.
    fn new() -> Option<AddressSpace> {
        let mut space = AddressSpace {
            pml4: core::ptr::null_mut(),
            tables: Vec::new(),
            pages: BTreeMap::new(),
            shared: BTreeSet::new(),
        };
        space.pml4 = space.new_table()?;
        let pdpt = space.new_table()?;
        let pd = space.new_table()?;
        // SAFETY: KERNEL_CR3 is the boot PML4, set before any process; all tables are
        // identity-mapped, and the kernel's are only read here.
        unsafe {
            let kernel_pdpt = table((*table(interrupts::KERNEL_CR3))[0]);
            let kernel_pd = table((*kernel_pdpt)[0]);
            (*space.pml4)[0] = pdpt as u64 | PRESENT | WRITABLE | USER;
            (*pdpt)[0] = pd as u64 | PRESENT | WRITABLE | USER;
            // The first 4 MiB (two 2 MiB entries) and the thread stacks: kernel only.
            let low = (elf::KERNEL_LOW_END >> 21) as usize;
            for index in 0..low {
                (*pd)[index] = (*kernel_pd)[index] & !USER;
            }
            let stacks = elf::KERNEL_STACKS;
            for index in (stacks.start >> 30) as usize..(stacks.end >> 30) as usize {
                (*pdpt)[index] = (*kernel_pdpt)[index] & !USER;
            }
        }
        Some(space)
    }

    fn new_table(&mut self) -> Option<*mut Table> {
        let page = new_page()? as *mut Table;
        self.tables.push(page);
        Some(page)
    }

    /// The page-table entry for user page `address`, making the tables on the way.
    fn entry(&mut self, address: u64) -> Option<*mut u64> {
        let mut current = self.pml4;
        for shift in [39u64, 30, 21] {
            let index = ((address >> shift) & 511) as usize;
            // SAFETY: `current` is one of this space's tables (or, for the kernel's
            // ranges, never reached: `is_user_range` keeps user addresses out of them).
            let entry = unsafe { &mut (*current)[index] };
            if *entry & PRESENT == 0 {
                let next = self.new_table()?;
                *entry = next as u64 | PRESENT | WRITABLE | USER;
            }
            current = table(*entry);
        }
        // SAFETY: as above, a page table of this space.
        Some(unsafe { &mut (*current)[((address >> 12) & 511) as usize] as *mut u64 })
    }

    /// Maps a zeroed page at `address` (page-aligned) unless one is there; makes it
    /// writable if asked.
    fn map(&mut self, address: u64, writable: bool) -> Option<*mut u8> {
        if !elf::is_user_range(address..address + PAGE_SIZE) {
            return None;
        }
        let flag = if writable { WRITABLE } else { 0 };
        if let Some(&page) = self.pages.get(&address) {
            if writable && self.shared.contains(&address) {
                // A shared page that must be written: this process gets its own copy.
                let private = new_page()?;
                // SAFETY: both are whole pages; the shared one is only read.
                unsafe { core::ptr::copy_nonoverlapping(page, private, PAGE_SIZE as usize) };
                let entry = self.entry(address)?;
                // SAFETY: the entry of a page this space mapped.
                unsafe { *entry = private as u64 | PRESENT | USER | WRITABLE };
                self.shared.remove(&address);
                self.pages.insert(address, private);
                return Some(private);
            }
            let entry = self.entry(address)?;
            // SAFETY: the entry of a page this space mapped.
            unsafe { *entry |= flag };
            return Some(page);
        }
        let entry = self.entry(address)?;
        let page = new_page()?;
        // SAFETY: `entry` is this space's; `page` is a fresh heap page.
        unsafe { *entry = page as u64 | PRESENT | USER | flag };
        self.pages.insert(address, page);
        Some(page)
    }

    /// Maps `frame`, a page of a baked program, read-only at `address`, unless a page
    /// is there already.
    fn map_shared(&mut self, address: u64, frame: *mut u8) -> Option<()> {
        if !elf::is_user_range(address..address + PAGE_SIZE) {
            return None;
        }
        if self.pages.contains_key(&address) {
            return Some(());
        }
        let entry = self.entry(address)?;
        // SAFETY: `entry` is this space's; `frame` is a page of an image that lives as
        // long as the kernel, mapped without the writable bit.
        unsafe { *entry = frame as u64 | PRESENT | USER };
        self.pages.insert(address, frame);
        self.shared.insert(address);
        Some(())
    }

    /// True if the page at `address` is mapped writable.
    fn is_writable(&self, address: u64) -> bool {
        let mut current = self.pml4;
        for shift in [39u64, 30, 21, 12] {
            let index = ((address >> shift) & 511) as usize;
            // SAFETY: `current` is one of this space's tables (the walk stops at a
            // missing entry).
            let entry = unsafe { (*current)[index] };
            if entry & PRESENT == 0 {
                return false;
            }
            if shift == 12 {
                return entry & WRITABLE != 0;
            }
            current = table(entry);
        }
        false
    }

    /// Sets or clears the writable bit of the page at `address`, if mapped.
    fn set_writable(&mut self, address: u64, writable: bool) {
        if !self.pages.contains_key(&address) {
            return;
        }
        if let Some(entry) = self.entry(address) {
            // SAFETY: the entry of a page this space mapped.
            unsafe {
                if writable {
                    *entry |= WRITABLE;
                } else {
                    *entry &= !WRITABLE;
                }
            }
        }
    }

    /// Unmaps and frees the page at `address`, if mapped.
    fn unmap(&mut self, address: u64) {
        if let Some(page) = self.pages.remove(&address) {
            if let Some(entry) = self.entry(address) {
                // SAFETY: the entry of the page just removed.
                unsafe { *entry = 0 };
            }
            if !self.shared.remove(&address) {
                // SAFETY: the page came from `new_page` and is no longer mapped.
                unsafe { dealloc(page, page_layout()) };
            }
        }
    }

    /// The kernel's view of user byte `address`, if mapped.
    fn byte(&self, address: u64) -> Option<*mut u8> {
        let page = self.pages.get(&elf::page_down(address))?;
        // SAFETY: inside the page.
        Some(unsafe { page.add((address % PAGE_SIZE) as usize) })
    }

    /// Copies user memory at `address` into `buf`; false if any of it is unmapped.
    fn read(&self, address: u64, buf: &mut [u8]) -> bool {
        let mut done = 0;
        while done < buf.len() {
            let at = address + done as u64;
            let Some(source) = self.byte(at) else {
                return false;
            };
            let n = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(buf.len() - done);
            // SAFETY: `n` bytes from `source` stay within its page.
            unsafe { core::ptr::copy_nonoverlapping(source, buf[done..].as_mut_ptr(), n) };
            done += n;
        }
        true
    }

    /// Copies `data` to user memory at `address`; false if any of it is unmapped or a
    /// shared read-only page.
    fn write(&self, address: u64, data: &[u8]) -> bool {
        let mut done = 0;
        while done < data.len() {
            let at = address + done as u64;
            if self.shared.contains(&elf::page_down(at)) {
                return false;
            }
            let Some(target) = self.byte(at) else {
                return false;
            };
            let n = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(data.len() - done);
            // SAFETY: `n` bytes at `target` stay within its page.
            unsafe { core::ptr::copy_nonoverlapping(data[done..].as_ptr(), target, n) };
            done += n;
        }
        true
    }

    /// Entry `index` of the `struct iovec` array at `address`: (base, length).
    fn iovec(&self, address: u64, index: u64) -> Option<(u64, u64)> {
        let at = address.checked_add(16 * index)?;
        Some((self.read_u64(at)?, self.read_u64(at + 8)?))
    }

    fn read_u64(&self, address: u64) -> Option<u64> {
        let mut bytes = [0u8; 8];
        self.read(address, &mut bytes)
            .then(|| u64::from_le_bytes(bytes))
    }

    /// A NUL-terminated string at `address` (at most `max` bytes).
    fn read_c_string(&self, address: u64, max: usize) -> Option<Vec<u8>> {
        let mut bytes = Vec::new();
        for at in address..address + max as u64 {
            // SAFETY: `byte` returned a pointer into a mapped page.
            let byte = unsafe { *self.byte(at)? };
            if byte == 0 {
                return Some(bytes);
            }
            bytes.push(byte);
        }
        None
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        for (address, page) in core::mem::take(&mut self.pages) {
            if self.shared.contains(&address) {
                continue;
            }
            // SAFETY: every other page came from `new_page`; the space is not in use.
            unsafe { dealloc(page, page_layout()) };
        }
        for table in self.tables.drain(..) {
            // SAFETY: as above, for the tables.
            unsafe { dealloc(table as *mut u8, page_layout()) };
        }
    }
}

/// An open file descriptor.
#[derive(Clone)]
enum Fd {
    Stdin,
    Stdout,
    Stderr,
    /// A baked file and the read offset.
    File {
        index: usize,
        offset: u64,
    },
    /// The root directory (the baked files) and how many entries were read.
    Root {
        read: usize,
    },
    /// The ends of a pipe (`pipe2`), shared with forked children.
    PipeRead(alloc::sync::Arc<fork::ReadEnd>),
    PipeWrite(alloc::sync::Arc<fork::WriteEnd>),
}

/// What a syscall asks of the dispatcher.
enum Outcome {
    Return(u64),
    Exit(Status),
}

/// One running ELF program.
struct Process<'a> {
    image: &'static Image,
    space: AddressSpace,
    entry: u64,
    sp: u64,
    brk_start: u64,
    brk: u64,
    mmap_next: u64,
    fds: Vec<Option<Fd>>,
    /// Syscalls already reported as unsupported.
    reported: BTreeSet<u64>,
    /// `enter_user`'s saved stack pointer, for `leave_user`.
    resume: u64,
    /// Its process id, and its parent's (0 for a job's first process).
    pid: u64,
    parent_pid: u64,
    /// The processes it forked and has not waited for.
    children: Vec<fork::Child>,
    ctx: &'a Context<'a>,
}

/// A program mapped into a fresh address space, ready to start.
struct Loaded {
    space: AddressSpace,
    entry: u64,
    sp: u64,
    brk: u64,
}

impl Loaded {
    fn new(image: &Image, argv: &[&[u8]], env: &[&[u8]]) -> Result<Loaded, &'static str> {
        const NO_MEMORY: &str = "not enough memory to load it";
        let mut space = AddressSpace::new().ok_or(NO_MEMORY)?;
        let plan = &image.plan;
        let bias = plan.bias();
        for segment in &plan.segments {
            load_segment(&mut space, image.bytes, segment, bias).ok_or(NO_MEMORY)?;
        }
        for page in (STACK_TOP - STACK_SIZE..STACK_TOP).step_by(PAGE_SIZE as usize) {
            space.map(page, true).ok_or(NO_MEMORY)?;
        }
        let executable = Executable {
            phdr: plan.phdr_vaddr + bias,
            phent: plan.phent,
            phnum: plan.phnum,
            entry: plan.entry + bias,
            hwcap: cpuid_features(),
        };
        let initial = stack::build(STACK_TOP, argv, env, &executable, random_bytes());
        if initial.bytes.len() as u64 > STACK_SIZE / 2 {
            return Err("its arguments and environment do not fit its stack");
        }
        if !space.write(initial.sp, &initial.bytes) {
            return Err(NO_MEMORY);
        }
        Ok(Loaded {
            space,
            entry: plan.entry + bias,
            sp: initial.sp,
            brk: plan.end(),
        })
    }
}

impl<'a> Process<'a> {
    /// Maps `image` and its stack, for a job's first process.
    fn load(image: &'static Image, ctx: &'a Context<'a>) -> Result<Process<'a>, &'static str> {
        let argv: Vec<&[u8]> = ctx.argv.iter().map(|a| a.as_bytes()).collect();
        let env: Vec<Vec<u8>> = ctx
            .env
            .iter()
            .map(|(name, value)| format!("{name}={value}").into_bytes())
            .collect();
        let env: Vec<&[u8]> = env.iter().map(Vec::as_slice).collect();
        let loaded = Loaded::new(image, &argv, &env)?;
        Ok(Process {
            image,
            space: loaded.space,
            entry: loaded.entry,
            sp: loaded.sp,
            brk_start: loaded.brk,
            brk: loaded.brk,
            mmap_next: MMAP_TOP,
            fds: alloc::vec![Some(Fd::Stdin), Some(Fd::Stdout), Some(Fd::Stderr)],
            reported: BTreeSet::new(),
            resume: 0,
            pid: fork::new_pid(),
            parent_pid: 0,
            children: Vec::new(),
            ctx,
        })
    }

    /// Runs the program in ring 3 from its entry point until it exits; returns its status.
    fn enter(&mut self) -> Status {
        let start = Frame::new_user(self.entry, self.sp);
        self.enter_with(&start, 0)
    }

    /// Runs the process in ring 3 from `frame` (with FS base `fs_base`) until it
    /// exits; returns its status. A forked child starts from its parent's registers.
    fn enter_with(&mut self, frame: &Frame, fs_base: u64) -> Status {
        let here: u64;
        // SAFETY: reads the stack pointer.
        unsafe { core::arch::asm!("mov {}, rsp", out(reg) here) };
        // Syscall frames go well below this function's own frame.
        let kernel_rsp = (here - 1024) & !0xF;
        // The ready pages the fault handler grows stacks with may be used up by a burst
        // of forks before the reaper tops them up: top them up here (thread context).
        crate::stack::refill();
        if !crate::stack::ensure_mapped(kernel_rsp - SYSCALL_STACK_ROOM, kernel_rsp) {
            let _ = writeln_err(
                self.ctx,
                &format!("kiln: {}: no memory for its kernel stack", self.image.name),
            );
            return CANNOT_START_STATUS;
        }
        sched::set_user_context(Some(sched::UserContext {
            cr3: self.space.pml4 as u64,
            kernel_rsp,
            fs_base,
            data: self as *mut Process<'_> as u64,
            program: elf::program_id(self.image.name),
        }));
        interrupts::write_msr(interrupts::IA32_FS_BASE, fs_base);
        // SAFETY: the space maps the code and stack `frame` names for ring 3, and the
        // kernel's first 4 MiB and thread stacks for the kernel, which the entry stubs
        // need; `frame` is on this thread's stack; `resume` stays valid until
        // `leave_user` returns here.
        let status = unsafe { interrupts::enter_user(frame, &mut self.resume) };
        sched::set_user_context(None);
        status as Status
    }

    /// Decodes and carries out one syscall; a cancelled job (Ctrl-C, `kill`) ends at its
    /// next syscall, or as the one it blocks in returns.
    fn syscall(&mut self, frame: &mut Frame) -> Outcome {
        let number = frame.rax;
        let args = [
            frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9,
        ];
        let outcome = match number {
            // These need the caller's registers.
            nr::CLONE => self.clone(frame, args[0]),
            nr::FORK | nr::VFORK => Outcome::Return(self.fork(frame)),
            nr::EXECVE => self.execve(frame, args[0], args[1], args[2]),
            _ => self.decode(number, args),
        };
        if self.ctx.is_cancelled() {
            self.cancel_children();
            return Outcome::Exit(cancelled_status(self.ctx));
        }
        outcome
    }

    /// `clone`: a fork (no shared memory, no new thread) is supported.
    fn clone(&mut self, frame: &Frame, flags: u64) -> Outcome {
        const CLONE_VM: u64 = 0x100;
        const CLONE_THREAD: u64 = 0x10000;
        if flags & (CLONE_VM | CLONE_THREAD) != 0 {
            return self.unsupported(nr::CLONE);
        }
        Outcome::Return(self.fork(frame))
    }

    /// `execve`: replaces the program with a baked one (`/proc/self/exe` is this one;
    /// else the last part of the path names it), keeping the descriptors.
    fn execve(&mut self, frame: &mut Frame, path: u64, argv: u64, envp: u64) -> Outcome {
        const MAX_STRINGS: u64 = 4096;
        let Some(path) = self.space.read_c_string(path, 4096) else {
            return Outcome::Return(abi::error(errno::EFAULT));
        };
        let path = String::from_utf8_lossy(&path).into_owned();
        let name = if path == "/proc/self/exe" {
            self.image.name
        } else {
            path.rsplit('/').next().unwrap_or("")
        };
        let Some(image) = IMAGES
            .get()
            .and_then(|images| images.iter().find(|i| i.name == name))
        else {
            return Outcome::Return(abi::error(errno::ENOENT));
        };
        let strings = |list: u64| -> Option<Vec<Vec<u8>>> {
            let mut out = Vec::new();
            if list == 0 {
                return Some(out);
            }
            for i in 0..MAX_STRINGS {
                let pointer = self.space.read_u64(list + 8 * i)?;
                if pointer == 0 {
                    return Some(out);
                }
                out.push(self.space.read_c_string(pointer, 128 << 10)?);
            }
            None
        };
        let (Some(argv), Some(env)) = (strings(argv), strings(envp)) else {
            return Outcome::Return(abi::error(errno::EFAULT));
        };
        let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
        let env: Vec<&[u8]> = env.iter().map(Vec::as_slice).collect();
        let loaded = match Loaded::new(image, &argv, &env) {
            Ok(loaded) => loaded,
            Err(_) => return Outcome::Return(abi::error(errno::ENOMEM)),
        };
        let Some(user) = sched::current_user() else {
            return Outcome::Return(abi::error(errno::EINVAL));
        };
        let old = core::mem::replace(&mut self.space, loaded.space);
        self.image = image;
        self.entry = loaded.entry;
        self.sp = loaded.sp;
        self.brk_start = loaded.brk;
        self.brk = loaded.brk;
        self.mmap_next = MMAP_TOP;
        self.reported.clear();
        *frame = Frame::new_user(loaded.entry, loaded.sp);
        sched::set_user_context(Some(sched::UserContext {
            cr3: self.space.pml4 as u64,
            fs_base: 0,
            program: elf::program_id(image.name),
            ..user
        }));
        interrupts::write_msr(interrupts::IA32_FS_BASE, 0);
        // The old program's pages go now: the kernel's page tables are the ones in use.
        drop(old);
        Outcome::Return(0)
    }

    fn decode(&mut self, number: u64, args: [u64; 6]) -> Outcome {
        let [a, b, c, d, _e, _f] = args;
        let ok = Outcome::Return;
        let fail = |errno| Outcome::Return(abi::error(errno));
        match number {
            nr::WRITE => self.write(a, b, c),
            nr::WRITEV => self.writev(a, b, c),
            nr::READ => self.read(a, b, c),
            nr::READV => self.readv(a, b, c),
            nr::EXIT | nr::EXIT_GROUP => Outcome::Exit(a as Status),
            nr::BRK => ok(self.brk(a)),
            nr::MMAP => self.mmap(a, b, d, args[4]),
            nr::MUNMAP => {
                self.munmap(a, b);
                ok(0)
            }
            nr::MPROTECT | nr::MADVISE => ok(0),
            nr::MREMAP => self.mremap(a, b, c, d),
            nr::ARCH_PRCTL => self.arch_prctl(a, b),
            nr::SET_TID_ADDRESS | nr::GETTID | nr::GETPID => ok(self.pid),
            nr::GETPPID => ok(self.parent_pid),
            // pid_t is a C int: its upper 32 bits are not the caller's.
            nr::WAIT4 => self.wait4(i64::from(a as u32 as i32), b, c),
            nr::PIPE | nr::PIPE2 => self.pipe2(a),
            nr::SYSINFO => self.sysinfo(a),
            nr::GETUID | nr::GETGID | nr::GETEUID | nr::GETEGID => ok(0),
            nr::SET_ROBUST_LIST | nr::RT_SIGACTION | nr::RT_SIGPROCMASK | nr::SIGALTSTACK => ok(0),
            nr::PRLIMIT64 => self.prlimit(b, c, d),
            nr::IOCTL => self.ioctl(a, b, c),
            nr::CLOCK_GETTIME => self.clock_gettime(b),
            nr::GETTIMEOFDAY => self.gettimeofday(a),
            nr::NANOSLEEP => self.nanosleep(a),
            nr::CLOCK_NANOSLEEP => self.nanosleep(c),
            nr::GETRANDOM => self.getrandom(a, b),
            nr::UNAME => self.uname(a),
            nr::OPEN => self.open(a, b),
            nr::OPENAT => self.open(b, c),
            nr::CLOSE => self.close(a),
            nr::LSEEK => self.lseek(a, b, c),
            nr::FSTAT => self.fstat(a, b),
            nr::SCHED_YIELD => {
                self.ctx.platform.yield_now();
                ok(0)
            }
            nr::SCHED_GETAFFINITY => self.sched_getaffinity(b, c),
            nr::READLINK | nr::READLINKAT => fail(errno::ENOENT),
            nr::FUTEX => self.futex(a, b, c),
            nr::DUP2 => self.dup2(a, b),
            nr::DUP3 if a == b => fail(errno::EINVAL),
            nr::DUP3 => self.dup2(a, b),
            // glibc tries these and copes with the answer: no message for them.
            nr::RSEQ => fail(errno::ENOSYS),
            nr::PRCTL => fail(errno::EINVAL),
            nr::TIME => self.time(a),
            nr::SENDFILE => self.sendfile(a, b, d),
            nr::GETDENTS64 => self.getdents64(a, b, c),
            nr::STAT | nr::LSTAT => self.stat_path(a, b),
            nr::NEWFSTATAT => self.stat_path(b, c),
            nr::STATX => self.statx(b, args[4]),
            nr::GETCWD => self.getcwd(a, b),
            nr::FCNTL => ok(0),
            nr::DUP => self.dup(a),
            nr::POLL => self.poll(a, b),
            nr::PPOLL => self.poll(a, b),
            nr::KILL => self.kill(i64::from(a as u32 as i32), b),
            nr::TKILL => self.signal_self(b),
            nr::TGKILL => self.signal_self(c),
            _ => self.unsupported(number),
        }
    }

    fn unsupported(&mut self, number: u64) -> Outcome {
        if self.reported.insert(number) {
            let _ = writeln_err(
                self.ctx,
                &format!(
                    "kiln: {}: syscall {number} ({}) not supported",
                    self.image.name,
                    abi::syscall_name(number)
                ),
            );
        }
        Outcome::Return(abi::error(errno::ENOSYS))
    }

    fn fd(&self, fd: u64) -> Option<Fd> {
        self.fds.get(fd as usize).cloned().flatten()
    }

    fn write(&mut self, fd: u64, address: u64, len: u64) -> Outcome {
        let mut buf = alloc::vec![0u8; len.min(1 << 20) as usize];
        if !self.space.read(address, &mut buf) {
            return Outcome::Return(abi::error(errno::EFAULT));
        }
        let written = match self.fd(fd) {
            Some(Fd::Stdout) => embedded_io::Write::write(&mut self.ctx.out(), &buf),
            Some(Fd::Stderr) => embedded_io::Write::write(&mut self.ctx.err(), &buf),
            Some(Fd::PipeWrite(end)) => end.write(&buf, self.ctx.job),
            Some(_) => return Outcome::Return(abi::error(errno::EBADF)),
            None => return Outcome::Return(abi::error(errno::EBADF)),
        };
        Outcome::Return(match written {
            Ok(n) => n as u64,
            Err(_) => abi::error(errno::EPIPE),
        })
    }

    fn writev(&mut self, fd: u64, iov: u64, count: u64) -> Outcome {
        let mut total = 0u64;
        for i in 0..count.min(MAX_IOVECS) {
            let Some((base, len)) = self.space.iovec(iov, i) else {
                return Outcome::Return(abi::error(errno::EFAULT));
            };
            if len == 0 {
                continue;
            }
            match self.write(fd, base, len) {
                Outcome::Return(n) if (n as i64) < 0 => return Outcome::Return(n),
                Outcome::Return(n) => total += n,
                exit => return exit,
            }
        }
        Outcome::Return(total)
    }

    fn read(&mut self, fd: u64, address: u64, len: u64) -> Outcome {
        let mut buf = alloc::vec![0u8; len.min(1 << 20) as usize];
        let n = match self.fd(fd) {
            Some(Fd::Stdin) => match embedded_io::Read::read(&mut self.ctx.input(), &mut buf) {
                Ok(n) => n,
                Err(_) => return Outcome::Return(abi::error(errno::EINTR)),
            },
            Some(Fd::PipeRead(end)) => match end.read(&mut buf, self.ctx.job) {
                Ok(n) => n,
                Err(_) => return Outcome::Return(abi::error(errno::EINTR)),
            },
            Some(Fd::File { index, offset }) => {
                let contents = self.ctx.files[index].contents;
                let start = (offset as usize).min(contents.len());
                let n = (contents.len() - start).min(buf.len());
                buf[..n].copy_from_slice(&contents[start..start + n]);
                self.fds[fd as usize] = Some(Fd::File {
                    index,
                    offset: offset + n as u64,
                });
                n
            }
            _ => return Outcome::Return(abi::error(errno::EBADF)),
        };
        if !self.space.write(address, &buf[..n]) {
            return Outcome::Return(abi::error(errno::EFAULT));
        }
        Outcome::Return(n as u64)
    }

    fn readv(&mut self, fd: u64, iov: u64, count: u64) -> Outcome {
        let mut total = 0u64;
        for i in 0..count.min(MAX_IOVECS) {
            let Some((base, len)) = self.space.iovec(iov, i) else {
                return Outcome::Return(abi::error(errno::EFAULT));
            };
            match self.read(fd, base, len) {
                Outcome::Return(n) if (n as i64) < 0 => return Outcome::Return(n),
                Outcome::Return(n) => {
                    total += n;
                    if n < len {
                        break;
                    }
                }
                exit => return exit,
            }
        }
        Outcome::Return(total)
    }

    fn brk(&mut self, wanted: u64) -> u64 {
        if wanted < self.brk_start || wanted >= elf::USER_END {
            return self.brk;
        }
        let mapped_end = elf::page_up(self.brk);
        let new_end = elf::page_up(wanted);
        for page in (mapped_end..new_end).step_by(PAGE_SIZE as usize) {
            if self.space.map(page, true).is_none() {
                for undo in (mapped_end..page).step_by(PAGE_SIZE as usize) {
                    self.space.unmap(undo);
                }
                return self.brk;
            }
        }
        for page in (new_end..mapped_end).step_by(PAGE_SIZE as usize) {
            self.space.unmap(page);
        }
        self.brk = wanted;
        wanted
    }

    fn mmap(&mut self, address: u64, len: u64, flags: u64, fd: u64) -> Outcome {
        const MAP_FIXED: u64 = 0x10;
        const MAP_ANONYMOUS: u64 = 0x20;
        if len == 0 {
            return Outcome::Return(abi::error(errno::EINVAL));
        }
        if len >= elf::USER_END {
            return Outcome::Return(abi::error(errno::ENOMEM));
        }
        let len = elf::page_up(len);
        let start = if flags & MAP_FIXED != 0 {
            let inside = address
                .checked_add(len)
                .is_some_and(|end| end <= elf::USER_END);
            if !address.is_multiple_of(PAGE_SIZE) || !inside {
                return Outcome::Return(abi::error(errno::EINVAL));
            }
            self.munmap(address, len);
            address
        } else {
            let Some(start) = self.mmap_next.checked_sub(len) else {
                return Outcome::Return(abi::error(errno::ENOMEM));
            };
            self.mmap_next = start - PAGE_SIZE;
            start
        };
        for page in (start..start + len).step_by(PAGE_SIZE as usize) {
            if self.space.map(page, true).is_none() {
                self.munmap(start, page - start);
                return Outcome::Return(abi::error(errno::ENOMEM));
            }
        }
        if flags & MAP_ANONYMOUS == 0 {
            // A baked file, copied in (the files are read-only).
            if let Some(Fd::File { index, .. }) = self.fd(fd) {
                let contents = self.ctx.files[index].contents;
                let n = contents.len().min(len as usize);
                self.space.write(start, &contents[..n]);
            } else {
                self.munmap(start, len);
                return Outcome::Return(abi::error(errno::EBADF));
            }
        }
        Outcome::Return(start)
    }

    /// `mremap`: shrinks in place, or (with MREMAP_MAYMOVE) moves the pages to a new,
    /// larger place; growing in place is not offered (ENOMEM, as when the room is taken).
    fn mremap(&mut self, old: u64, old_len: u64, new_len: u64, flags: u64) -> Outcome {
        const MREMAP_MAYMOVE: u64 = 1;
        if !old.is_multiple_of(PAGE_SIZE) || new_len == 0 || new_len >= elf::USER_END {
            return Outcome::Return(abi::error(errno::EINVAL));
        }
        let (old_len, new_len) = (elf::page_up(old_len), elf::page_up(new_len));
        if new_len <= old_len {
            self.munmap(old + new_len, old_len - new_len);
            return Outcome::Return(old);
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return Outcome::Return(abi::error(errno::ENOMEM));
        }
        let Some(start) = self.mmap_next.checked_sub(new_len) else {
            return Outcome::Return(abi::error(errno::ENOMEM));
        };
        // Map the new place first, then copy: nothing is lost if memory runs out.
        for page in (start..start + new_len).step_by(PAGE_SIZE as usize) {
            if self.space.map(page, true).is_none() {
                self.munmap(start, page - start);
                return Outcome::Return(abi::error(errno::ENOMEM));
            }
        }
        self.mmap_next = start - PAGE_SIZE;
        let mut buf = alloc::vec![0u8; PAGE_SIZE as usize];
        for offset in (0..old_len).step_by(PAGE_SIZE as usize) {
            if self.space.read(old + offset, &mut buf) {
                self.space.write(start + offset, &buf);
            }
        }
        self.munmap(old, old_len);
        Outcome::Return(start)
    }

    fn munmap(&mut self, address: u64, len: u64) {
        let start = elf::page_down(address);
        let end = elf::page_up(address.saturating_add(len));
        let inside: Vec<u64> = self
            .space
            .pages
            .range(start..end)
            .map(|(&a, _)| a)
            .collect();
        for page in inside {
            self.space.unmap(page);
        }
    }

    fn arch_prctl(&mut self, code: u64, address: u64) -> Outcome {
        const ARCH_SET_FS: u64 = 0x1002;
        const ARCH_GET_FS: u64 = 0x1003;
        match code {
            ARCH_SET_FS if address < elf::USER_END => {
                interrupts::write_msr(interrupts::IA32_FS_BASE, address);
                Outcome::Return(0)
            }
            ARCH_GET_FS => {
                let fs = interrupts::read_msr(interrupts::IA32_FS_BASE);
                if self.space.write(address, &fs.to_le_bytes()) {
                    Outcome::Return(0)
                } else {
                    Outcome::Return(abi::error(errno::EFAULT))
                }
            }
            _ => Outcome::Return(abi::error(errno::EINVAL)),
        }
    }

    fn ioctl(&mut self, fd: u64, request: u64, address: u64) -> Outcome {
        const TCGETS: u64 = 0x5401;
        const TIOCGWINSZ: u64 = 0x5413;
        let is_console = |output: &kiln_init::program::Output| {
            matches!(output, kiln_init::program::Output::Console(_))
        };
        let console = match self.fd(fd) {
            Some(Fd::Stdout) => is_console(self.ctx.stdout),
            Some(Fd::Stderr) => is_console(self.ctx.stderr),
            _ => false,
        };
        if !console {
            return Outcome::Return(abi::error(errno::ENOTTY));
        }
        match request {
            TIOCGWINSZ => {
                // rows, columns, xpixel, ypixel.
                let size: [u16; 4] = [24, 80, 0, 0];
                let bytes: Vec<u8> = size.iter().flat_map(|v| v.to_le_bytes()).collect();
                if self.space.write(address, &bytes) {
                    Outcome::Return(0)
                } else {
                    Outcome::Return(abi::error(errno::EFAULT))
                }
            }
            TCGETS => {
                // A zeroed kernel termios (36 bytes): a terminal, in raw mode as far as
                // the program can tell.
                if self.space.write(address, &[0u8; 36]) {
                    Outcome::Return(0)
                } else {
                    Outcome::Return(abi::error(errno::EFAULT))
                }
            }
            _ => Outcome::Return(abi::error(errno::ENOTTY)),
        }
    }

    fn clock_gettime(&mut self, address: u64) -> Outcome {
        let now = time::now_ns();
        let spec = [now / 1_000_000_000, now % 1_000_000_000];
        let bytes: Vec<u8> = spec.iter().flat_map(|v| v.to_le_bytes()).collect();
        if self.space.write(address, &bytes) {
            Outcome::Return(0)
        } else {
            Outcome::Return(abi::error(errno::EFAULT))
        }
    }

    fn gettimeofday(&mut self, address: u64) -> Outcome {
        if address == 0 {
            return Outcome::Return(0);
        }
        let now = time::now_ns();
        let value = [now / 1_000_000_000, (now % 1_000_000_000) / 1000];
        let bytes: Vec<u8> = value.iter().flat_map(|v| v.to_le_bytes()).collect();
        if self.space.write(address, &bytes) {
            Outcome::Return(0)
        } else {
            Outcome::Return(abi::error(errno::EFAULT))
        }
    }

    fn nanosleep(&mut self, request: u64) -> Outcome {
        let (Some(seconds), Some(nanos)) = (
            self.space.read_u64(request),
            self.space.read_u64(request + 8),
        ) else {
            return Outcome::Return(abi::error(errno::EFAULT));
        };
        let duration = Duration::from_secs(seconds) + Duration::from_nanos(nanos);
        match self.ctx.sleep(duration) {
            Ok(()) => Outcome::Return(0),
            Err(_) => Outcome::Exit(cancelled_status(self.ctx)),
        }
    }

    fn getrandom(&mut self, address: u64, len: u64) -> Outcome {
        let len = len.min(1 << 16);
        let mut bytes = alloc::vec![0u8; len as usize];
        crate::random::fill(&mut bytes);
        if self.space.write(address, &bytes) {
            Outcome::Return(len)
        } else {
            Outcome::Return(abi::error(errno::EFAULT))
        }
    }

    fn uname(&mut self, address: u64) -> Outcome {
        const FIELD: usize = 65;
        let fields: [&str; 6] = [
            "Linux",
            "kiln",
            "6.1.0-kiln",
            crate::VERSION,
            "x86_64",
            "(none)",
        ];
        let mut bytes = alloc::vec![0u8; FIELD * fields.len()];
        for (i, field) in fields.iter().enumerate() {
            bytes[i * FIELD..i * FIELD + field.len()].copy_from_slice(field.as_bytes());
        }
        if self.space.write(address, &bytes) {
            Outcome::Return(0)
        } else {
            Outcome::Return(abi::error(errno::EFAULT))
        }
    }

    /// What a path names: the root directory (`/`, `.`), a baked file, or nothing.
    fn lookup(&self, path: u64) -> Result<Option<usize>, u64> {
        let Some(path) = self.space.read_c_string(path, 4096) else {
            return Err(errno::EFAULT);
        };
        let name = String::from_utf8_lossy(&path);
        let name = name.trim_start_matches("./").trim_start_matches('/');
        if name.is_empty() || name == "." {
            return Ok(None);
        }
        let files: &[BakedFile] = self.ctx.files;
        files
            .iter()
            .position(|f| f.name == name)
            .map(Some)
            .ok_or(errno::ENOENT)
    }

    fn new_fd(&mut self, fd: Fd) -> u64 {
        match self.fds.iter().position(Option::is_none) {
            Some(number) => {
                self.fds[number] = Some(fd);
                number as u64
            }
            None => {
                self.fds.push(Some(fd));
                (self.fds.len() - 1) as u64
            }
        }
    }

    fn dup2(&mut self, old: u64, new: u64) -> Outcome {
        const MAX_FDS: u64 = 1024;
        let Some(open) = self.fd(old) else {
            return Outcome::Return(abi::error(errno::EBADF));
        };
        if new >= MAX_FDS {
            return Outcome::Return(abi::error(errno::EBADF));
        }
        if self.fds.len() <= new as usize {
            self.fds.resize(new as usize + 1, None);
        }
        self.fds[new as usize] = Some(open);
        Outcome::Return(new)
    }

    /// `prlimit64` on itself: no limits are set, and every one reads as unlimited.
    fn prlimit(&mut self, resource: u64, new: u64, old: u64) -> Outcome {
        const RLIMIT_NLIMITS: u64 = 16;
        const RLIM_INFINITY: u64 = u64::MAX;
        if resource >= RLIMIT_NLIMITS {
            return Outcome::Return(abi::error(errno::EINVAL));
        }
        if new != 0 {
            return Outcome::Return(abi::error(errno::EPERM));
        }
        if old != 0 {
            let mut limits = [0u8; 16];
            limits[..8].copy_from_slice(&RLIM_INFINITY.to_le_bytes());
            limits[8..].copy_from_slice(&RLIM_INFINITY.to_le_bytes());
            if !self.space.write(old, &limits) {
                return Outcome::Return(abi::error(errno::EFAULT));
            }
        }
        Outcome::Return(0)
    }

    /// `futex` for one thread: nobody else can wake a waiter, so a wait whose word
    /// still holds the value would sleep for ever (EAGAIN if it changed); a wake wakes
    /// no one.
    fn futex(&mut self, address: u64, op: u64, value: u64) -> Outcome {
        const FUTEX_WAIT: u64 = 0;
        const FUTEX_WAKE: u64 = 1;
        const FUTEX_CMD_MASK: u64 = 0x7f;
        match op & FUTEX_CMD_MASK {
            FUTEX_WAKE => Outcome::Return(0),
            FUTEX_WAIT => {
                let mut word = [0u8; 4];
                if !self.space.read(address, &mut word) {
                    return Outcome::Return(abi::error(errno::EFAULT));
                }
                if u64::from(u32::from_le_bytes(word)) != value & 0xffff_ffff {
                    Outcome::Return(abi::error(errno::EAGAIN))
                } else {
                    // A deadlock a real kernel would also leave blocked: say so.
                    Outcome::Return(abi::error(errno::EDEADLK))
                }
            }
            _ => Outcome::Return(abi::error(errno::ENOSYS)),
        }
    }

    fn dup(&mut self, fd: u64) -> Outcome {
        match self.fd(fd) {
            Some(open) => Outcome::Return(self.new_fd(open)),
            None => Outcome::Return(abi::error(errno::EBADF)),
        }
    }

    fn open(&mut self, path: u64, flags: u64) -> Outcome {
        const O_ACCMODE: u64 = 0o3;
        const O_CREAT: u64 = 0o100;
        const O_TRUNC: u64 = 0o1000;
        if flags & (O_ACCMODE | O_CREAT | O_TRUNC) != 0 {
            // The baked files are a read-only file system.
            return match self.lookup(path) {
                Err(errno::EFAULT) => Outcome::Return(abi::error(errno::EFAULT)),
                _ => Outcome::Return(abi::error(errno::EROFS)),
            };
        }
        let fd = match self.lookup(path) {
            Ok(Some(index)) => Fd::File { index, offset: 0 },
            Ok(None) => Fd::Root { read: 0 },
            Err(errno) => return Outcome::Return(abi::error(errno)),
        };
        Outcome::Return(self.new_fd(fd))
    }

    /// `poll` on the process's descriptors: stdio and files are always ready (kiln's
    /// stdio blocks in `read` and `write` instead); a closed one is `POLLNVAL`.
    fn poll(&mut self, fds: u64, count: u64) -> Outcome {
        const POLLIN: u16 = 0x1;
        const POLLOUT: u16 = 0x4;
        const POLLNVAL: u16 = 0x20;
        let mut ready = 0;
        for i in 0..count.min(1024) {
            let at = fds + 8 * i;
            let mut entry = [0u8; 8];
            if !self.space.read(at, &mut entry) {
                return Outcome::Return(abi::error(errno::EFAULT));
            }
            let fd = i32::from_le_bytes(entry[0..4].try_into().unwrap_or_default());
            let events = u16::from_le_bytes([entry[4], entry[5]]);
            let revents = if fd < 0 {
                0
            } else if self.fd(fd as u64).is_some() {
                events & (POLLIN | POLLOUT)
            } else {
                POLLNVAL
            };
            if revents != 0 {
                ready += 1;
            }
            if !self.space.write(at + 6, &revents.to_le_bytes()) {
                return Outcome::Return(abi::error(errno::EFAULT));
            }
        }
        Outcome::Return(ready)
    }

    /// `kill(pid, signal)`: of itself (`pid` its own, or 0), as [`Process::signal_self`];
    /// of a child, a cancel (it ends at its next syscall or tick); else ESRCH.
    fn kill(&mut self, pid: i64, signal: u64) -> Outcome {
        if pid == 0 || pid == self.pid as i64 {
            return self.signal_self(signal);
        }
        match self.children.iter().find(|c| c.pid as i64 == pid) {
            Some(child) => {
                if signal != 0 {
                    child.cancel();
                }
                Outcome::Return(0)
            }
            None => Outcome::Return(abi::error(errno::ESRCH)),
        }
    }

    /// `tkill`/`tgkill` can only name the process itself: a signal whose default
    /// is to end it does (`abort` is SIGABRT, 134); signal 0 only checks.
    fn signal_self(&mut self, signal: u64) -> Outcome {
        match signal {
            0 => Outcome::Return(0),
            1..=31 => Outcome::Exit(abi::signal_status(signal as u8)),
            _ => Outcome::Return(abi::error(errno::EINVAL)),
        }
    }

    /// `sysinfo`: uptime and the heap as the machine's memory (`sort` sizes its buffer
    /// from it).
    fn sysinfo(&mut self, address: u64) -> Outcome {
        let stats = self.ctx.platform.heap_stats();
        let (total, free) = stats.map_or((0, 0), |h| (h.size as u64, (h.size - h.used) as u64));
        // struct sysinfo: uptime, loads[3], totalram, freeram, sharedram, bufferram,
        // totalswap, freeswap (longs), procs, pad (shorts), totalhigh, freehigh, mem_unit.
        let mut info = [0u8; 112];
        let uptime = time::now_ns() / 1_000_000_000;
        info[0..8].copy_from_slice(&uptime.to_le_bytes());
        info[32..40].copy_from_slice(&total.to_le_bytes());
        info[40..48].copy_from_slice(&free.to_le_bytes());
        info[80..82].copy_from_slice(&1u16.to_le_bytes());
        info[104..108].copy_from_slice(&1u32.to_le_bytes());
        if self.space.write(address, &info) {
            Outcome::Return(0)
        } else {
            Outcome::Return(abi::error(errno::EFAULT))
        }
    }

    fn time(&mut self, address: u64) -> Outcome {
        let seconds = time::now_ns() / 1_000_000_000;
        if address != 0 && !self.space.write(address, &seconds.to_le_bytes()) {
            return Outcome::Return(abi::error(errno::EFAULT));
        }
        Outcome::Return(seconds)
    }

    fn sendfile(&mut self, out: u64, input: u64, count: u64) -> Outcome {
        let Some(Fd::File { index, offset }) = self.fd(input) else {
            return Outcome::Return(abi::error(errno::EINVAL));
        };
        let contents = self.ctx.files[index].contents;
        let start = (offset as usize).min(contents.len());
        let n = (contents.len() - start).min(count as usize);
        let chunk = &contents[start..start + n];
        let written = match self.fd(out) {
            Some(Fd::Stdout) => embedded_io::Write::write_all(&mut self.ctx.out(), chunk),
            Some(Fd::Stderr) => embedded_io::Write::write_all(&mut self.ctx.err(), chunk),
            _ => return Outcome::Return(abi::error(errno::EINVAL)),
        };
        if written.is_err() {
            return Outcome::Return(abi::error(errno::EPIPE));
        }
        self.fds[input as usize] = Some(Fd::File {
            index,
            offset: offset + n as u64,
        });
        Outcome::Return(n as u64)
    }

    /// `getdents64` of the root: one `linux_dirent64` per baked file.
    fn getdents64(&mut self, fd: u64, address: u64, size: u64) -> Outcome {
        const DT_REG: u8 = 8;
        let Some(Fd::Root { read }) = self.fd(fd) else {
            return Outcome::Return(abi::error(errno::ENOTDIR));
        };
        let files: &[BakedFile] = self.ctx.files;
        let mut out = Vec::new();
        let mut next = read;
        for (i, file) in files.iter().enumerate().skip(read) {
            let reclen = (19 + file.name.len() + 1).div_ceil(8) * 8;
            if (out.len() + reclen) as u64 > size {
                break;
            }
            let start = out.len();
            out.resize(start + reclen, 0);
            let entry = &mut out[start..];
            entry[0..8].copy_from_slice(&(i as u64 + 2).to_le_bytes());
            entry[8..16].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            entry[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
            entry[18] = DT_REG;
            entry[19..19 + file.name.len()].copy_from_slice(file.name.as_bytes());
            next = i + 1;
        }
        if out.is_empty() && next < files.len() {
            return Outcome::Return(abi::error(errno::EINVAL));
        }
        if !self.space.write(address, &out) {
            return Outcome::Return(abi::error(errno::EFAULT));
        }
        self.fds[fd as usize] = Some(Fd::Root { read: next });
        Outcome::Return(out.len() as u64)
    }

    /// `struct stat` for a baked file (`Some(index)`) or the root (`None`).
    fn stat_bytes(&self, what: Option<usize>) -> [u8; 144] {
        const S_IFDIR: u32 = 0o040000;
        const S_IFREG: u32 = 0o100000;
        let (mode, size, links) = match what {
            Some(index) => (
                S_IFREG | 0o444,
                self.ctx.files[index].contents.len() as u64,
                1u64,
            ),
            None => (S_IFDIR | 0o555, 0, 2),
        };
        let inode = what.map_or(1, |i| i as u64 + 2);
        let mut stat = [0u8; 144];
        stat[8..16].copy_from_slice(&inode.to_le_bytes());
        stat[16..24].copy_from_slice(&links.to_le_bytes());
        stat[24..28].copy_from_slice(&mode.to_le_bytes());
        stat[48..56].copy_from_slice(&size.to_le_bytes());
        stat[56..64].copy_from_slice(&4096u64.to_le_bytes());
        stat[64..72].copy_from_slice(&size.div_ceil(512).to_le_bytes());
        stat
    }

    /// A baked ELF program at a path a shell searches (`/bin/NAME`, `/usr/bin/NAME`,
    /// ...): what a PATH lookup stats before `execve`.
    fn program_at(&self, path: u64) -> Option<&'static Image> {
        const PROGRAM_DIRECTORIES: [&str; 4] = ["/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/"];
        let path = self.space.read_c_string(path, 4096)?;
        let path = core::str::from_utf8(&path).ok()?;
        let name = PROGRAM_DIRECTORIES
            .iter()
            .find_map(|directory| path.strip_prefix(directory))?;
        IMAGES.get()?.iter().find(|image| image.name == name)
    }

    /// `struct stat` of a baked ELF program: a read-only executable file.
    fn program_stat(image: &Image) -> [u8; 144] {
        const S_IFREG: u32 = 0o100000;
        let mut stat = [0u8; 144];
        stat[16..24].copy_from_slice(&1u64.to_le_bytes());
        stat[24..28].copy_from_slice(&(S_IFREG | 0o555).to_le_bytes());
        stat[48..56].copy_from_slice(&(image.bytes.len() as u64).to_le_bytes());
        stat[56..64].copy_from_slice(&4096u64.to_le_bytes());
        stat
    }

    fn stat_path(&mut self, path: u64, address: u64) -> Outcome {
        let stat = match self.lookup(path) {
            Ok(what) => self.stat_bytes(what),
            Err(errno::ENOENT) if self.program_at(path).is_some() => {
                Self::program_stat(self.program_at(path).expect("just found"))
            }
            Err(errno) => return Outcome::Return(abi::error(errno)),
        };
        if self.space.write(address, &stat) {
            Outcome::Return(0)
        } else {
            Outcome::Return(abi::error(errno::EFAULT))
        }
    }

    /// `statx` of a path: the basic fields (type, mode, size, links, inode).
    fn statx(&mut self, path: u64, address: u64) -> Outcome {
        const STATX_BASIC_STATS: u32 = 0x7ff;
        let stat = match self.lookup(path) {
            Ok(what) => self.stat_bytes(what),
            Err(errno::ENOENT) if self.program_at(path).is_some() => {
                Self::program_stat(self.program_at(path).expect("just found"))
            }
            Err(errno) => return Outcome::Return(abi::error(errno)),
        };
        let mut statx = [0u8; 256];
        statx[0..4].copy_from_slice(&STATX_BASIC_STATS.to_le_bytes());
        statx[4..8].copy_from_slice(&4096u32.to_le_bytes());
        statx[16..20].copy_from_slice(&u32::from(stat[16]).to_le_bytes());
        statx[28..30].copy_from_slice(&stat[24..26]);
        statx[32..40].copy_from_slice(&stat[8..16]);
        statx[40..48].copy_from_slice(&stat[48..56]);
        statx[48..56].copy_from_slice(&stat[64..72]);
        if self.space.write(address, &statx) {
            Outcome::Return(0)
        } else {
            Outcome::Return(abi::error(errno::EFAULT))
        }
    }

    fn getcwd(&mut self, address: u64, size: u64) -> Outcome {
        if size < 2 {
            return Outcome::Return(abi::error(errno::ERANGE));
        }
        if self.space.write(address, b"/\0") {
            Outcome::Return(2)
        } else {
            Outcome::Return(abi::error(errno::EFAULT))
        }
    }

    fn close(&mut self, fd: u64) -> Outcome {
        match self.fds.get_mut(fd as usize) {
            Some(slot @ Some(_)) => {
                *slot = None;
                Outcome::Return(0)
            }
            _ => Outcome::Return(abi::error(errno::EBADF)),
        }
    }

    fn lseek(&mut self, fd: u64, offset: u64, whence: u64) -> Outcome {
        let Some(Fd::File { index, offset: at }) = self.fd(fd) else {
            return Outcome::Return(abi::error(errno::ESPIPE));
        };
        let size = self.ctx.files[index].contents.len() as i64;
        let base = match whence {
            0 => 0,
            1 => at as i64,
            2 => size,
            _ => return Outcome::Return(abi::error(errno::EINVAL)),
        };
        let new = base + offset as i64;
        if new < 0 {
            return Outcome::Return(abi::error(errno::EINVAL));
        }
        self.fds[fd as usize] = Some(Fd::File {
            index,
            offset: new as u64,
        });
        Outcome::Return(new as u64)
    }

    fn fstat(&mut self, fd: u64, address: u64) -> Outcome {
        // struct stat: st_mode at 24, st_size at 48, st_blksize at 56 (144 bytes).
        const S_IFCHR: u32 = 0o020000;
        let stat = match self.fd(fd) {
            Some(Fd::File { index, .. }) => self.stat_bytes(Some(index)),
            Some(Fd::Root { .. }) => self.stat_bytes(None),
            Some(_) => {
                let mut stat = [0u8; 144];
                stat[24..28].copy_from_slice(&(S_IFCHR | 0o620).to_le_bytes());
                stat[56..64].copy_from_slice(&4096u64.to_le_bytes());
                stat
            }
            None => return Outcome::Return(abi::error(errno::EBADF)),
        };
        if self.space.write(address, &stat) {
            Outcome::Return(0)
        } else {
            Outcome::Return(abi::error(errno::EFAULT))
        }
    }

    fn sched_getaffinity(&mut self, len: u64, address: u64) -> Outcome {
        // One CPU: bit 0.
        let size = len.min(128) as usize;
        let mut mask = alloc::vec![0u8; size];
        if let Some(first) = mask.first_mut() {
            *first = 1;
        }
        if self.space.write(address, &mask) {
            Outcome::Return(size as u64)
        } else {
            Outcome::Return(abi::error(errno::EFAULT))
        }
    }
}

/// Maps one `PT_LOAD` segment: its read-only pages that are wholly file bytes are the
/// image's own pages, shared; the rest are private pages with the file bytes copied in
/// and zeros after them.
fn load_segment(
    space: &mut AddressSpace,
    file: &'static [u8],
    segment: &elf::Segment,
    bias: u64,
) -> Option<()> {
    let vaddr = segment.vaddr + bias;
    let file_end = segment.file_offset + segment.file_size;
    for page in
        (elf::page_down(vaddr)..elf::page_up(vaddr + segment.mem_size)).step_by(PAGE_SIZE as usize)
    {
        // The file offset that lands at `page` (whole pages: offsets and addresses are
        // congruent modulo the page size).
        let offset = (page + segment.file_offset).checked_sub(vaddr)?;
        if !segment.writable && offset + PAGE_SIZE <= file_end {
            // SAFETY: `offset` is page-aligned and within `file`, which is page-aligned.
            let frame = unsafe { file.as_ptr().add(offset as usize) } as *mut u8;
            space.map_shared(page, frame)?;
            continue;
        }
        // (A page shared by an earlier segment becomes private here: it gets bytes.)
        let private = segment.writable || space.shared.contains(&page);
        space.map(page, private)?;
        // This segment's file bytes on this page.
        let from = offset.max(segment.file_offset);
        let to = (offset + PAGE_SIZE).min(file_end);
        if from < to {
            let at = page + (from - offset);
            if !space.write(at, &file[from as usize..to as usize]) {
                return None;
            }
        }
    }
    Some(())
}

/// `CPUID.1:EDX`, what `AT_HWCAP` holds on x86-64.
fn cpuid_features() -> u64 {
    u64::from(core::arch::x86_64::__cpuid(1).edx)
}

/// 16 random bytes, for `AT_RANDOM`.
fn random_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    crate::random::fill(&mut bytes);
    bytes
}

/// The function of the running process's program that holds `rip`, as `NAME+0xOFF`,
/// when the program has a symbol table (for fault reports).
pub fn function_at(rip: u64) -> Option<String> {
    let user = sched::current_user()?;
    // SAFETY: `data` is the running thread's `Process`, alive while it has a context.
    let process = unsafe { &*(user.data as *const Process<'static>) };
    let image = process.image;
    let (name, offset) = elf::function_at(image.bytes, rip.checked_sub(image.plan.bias())?)?;
    Some(format!("{name}+{offset:#x}"))
}

/// A timer tick interrupted a process in ring 3 (`frame`): if its job was cancelled,
/// the frame is turned into a kernel-mode call of [`leave_cancelled`] on the thread's
/// kernel stack, so a program computing in a loop ends as soon as a blocked one would.
pub fn on_user_tick(frame: &mut Frame) {
    let Some(user) = sched::current_user() else {
        return;
    };
    // SAFETY: `data` is the running thread's `Process`, alive while it is in ring 3.
    let process = unsafe { &*(user.data as *const Process<'static>) };
    if !process.ctx.is_cancelled() {
        return;
    }
    frame.rip = leave_cancelled as *const () as u64;
    frame.cs = interrupts::KERNEL_CODE_SELECTOR;
    frame.ss = interrupts::KERNEL_DATA_SELECTOR;
    // As if called: RSP + 8 is 16-byte aligned.
    frame.rsp = (user.kernel_rsp & !0xF) - 8;
    frame.rflags = interrupts::RFLAGS_IF;
    frame.rdi = process.resume;
    frame.rsi = u64::from(cancelled_status(process.ctx));
}

/// Where a cancelled process's thread resumes (see [`on_user_tick`]), with its status.
extern "C" fn leave_cancelled(resume: u64, status: u64) -> ! {
    // SAFETY: `resume` is the stack pointer `enter_user` saved; the thread's ring-3
    // state is abandoned, and nothing on the kernel stack below holds anything.
    unsafe { interrupts::leave_user(resume, status) }
}

/// Called by `syscall_entry` on the process thread's kernel stack, interrupts on.
#[unsafe(no_mangle)]
extern "C" fn syscall_dispatch(frame: *mut Frame) -> *mut Frame {
    let process = sched::current_user_data() as *mut Process<'static>;
    // SAFETY: the running thread is in `Process::enter`, which registered itself and
    // is blocked in `enter_user` below us; `frame` is the one the stub just pushed.
    let (process, f) = unsafe { (&mut *process, &mut *frame) };
    let outcome = process.syscall(f);
    match outcome {
        Outcome::Return(value) => {
            f.rax = value;
            frame
        }
        Outcome::Exit(status) => {
            let resume = process.resume;
            // SAFETY: `resume` is the stack pointer `enter_user` saved; nothing on the
            // stack below it (this function's frame) holds anything to drop.
            unsafe { interrupts::leave_user(resume, u64::from(status)) }
        }
    }
}
