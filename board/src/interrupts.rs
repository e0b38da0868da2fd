//! GDT, TSS, IDT and the interrupt entry path.
//!
//! Every gate uses an IST stack, so the CPU always switches stacks and never writes
//! into an interrupted thread's red zone. The entry stubs (`global_asm!` below) push
//! the general registers and an `fxsave` image, then call [`interrupt_dispatch`] with
//! a pointer to that [`Frame`]. The dispatcher returns the frame to resume: the same
//! one, or another thread's (a context switch), which the stub restores and `iretq`s.
//!
//! IST stacks are not reentrant, so there is one per class: IRQs and the yield
//! vector (handlers run with interrupts off), faults, double faults, NMI/MCE.
//!
//! User mode (ELF processes, `process.rs`): a process runs in ring 3 on its own page
//! tables, which map the kernel's first 4 MiB (image, IST stacks, GDT/IDT/TSS) and its
//! thread stacks for the kernel only. An entry from ring 3 switches to the kernel's
//! page tables ([`KERNEL_CR3`]) before any Rust runs, and a return to ring 3 switches
//! to the resumed thread's ([`RESUME_USER_CR3`], kept by the scheduler). The `syscall`
//! instruction enters at `syscall_entry`, which builds the same [`Frame`] on the
//! thread's kernel stack ([`SYSCALL_KERNEL_RSP`]) and calls `syscall_dispatch` there with
//! interrupts on, so a syscall may block like any kernel code.

use core::arch::global_asm;

use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::idt::InterruptDescriptorTable;
use x86_64::structures::tss::TaskStateSegment;

use crate::{pic, sched, serial};

/// The software interrupt a thread raises to give up the CPU.
pub const YIELD_VECTOR: u8 = 0x81;
/// The `vector` of a frame `syscall_entry` built (no interrupt has this number).
pub const SYSCALL_VECTOR: u64 = 0x100;
/// Ring-0 selectors (GDT entries 1 and 2).
pub const KERNEL_CODE_SELECTOR: u64 = 0x08;
pub const KERNEL_DATA_SELECTOR: u64 = 0x10;
/// Ring-3 selectors (GDT entries 3 and 4, RPL 3), as `STAR` wants them ordered.
pub const USER_DATA_SELECTOR: u64 = 0x18 | 3;
pub const USER_CODE_SELECTOR: u64 = 0x20 | 3;
/// The kernel's page tables (the boot PML4), for entries from ring 3.
#[unsafe(no_mangle)]
pub static mut KERNEL_CR3: u64 = 0;
/// The page tables of the thread being resumed, if it returns to ring 3.
#[unsafe(no_mangle)]
pub static mut RESUME_USER_CR3: u64 = 0;
/// Where `syscall_entry` builds its frame: the running process thread's kernel stack.
#[unsafe(no_mangle)]
pub static mut SYSCALL_KERNEL_RSP: u64 = 0;
/// `syscall_entry`'s scratch word (interrupts are off there; one CPU).
#[unsafe(no_mangle)]
static mut SYSCALL_SCRATCH: u64 = 0;

/// The LAPIC's spurious vector.
pub const SPURIOUS_VECTOR: u8 = 0xFF;
/// First vector of the remapped PIC.
pub const IRQ_BASE: u8 = 32;
/// Number of PIC IRQ lines.
pub const IRQ_COUNT: u8 = 16;

const IST_IRQ: u16 = 0;
const IST_FAULT: u16 = 1;
const IST_DOUBLE_FAULT: u16 = 2;
const IST_NMI: u16 = 3;
const IST_COUNT: usize = 4;
const IST_STACK_SIZE: usize = 32 * 1024;

/// The saved state of an interrupted context, as the entry stubs lay it out.
#[repr(C, align(16))]
#[derive(Clone)]
pub struct Frame {
    pub fxsave: [u8; 512],
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Offset of FCW in an fxsave image.
const FXSAVE_FCW: usize = 0;
/// Offset of MXCSR in an fxsave image.
const FXSAVE_MXCSR: usize = 24;
/// x87 control word after `fninit`.
const DEFAULT_FCW: u16 = 0x37F;
/// MXCSR after reset: all exceptions masked.
const DEFAULT_MXCSR: u32 = 0x1F80;
/// RFLAGS with interrupts enabled (bit 1 is always set).
pub const RFLAGS_IF: u64 = 0x202;

impl Frame {
    /// A fresh ring-3 frame that starts a program at `entry` with stack pointer `rsp`
    /// (`execve`): zeroed registers, the x87/SSE state after reset.
    pub fn new_user(entry: u64, rsp: u64) -> Frame {
        let mut frame = Frame::new_thread(entry, 0, rsp + 8);
        frame.rsp = rsp;
        frame.cs = USER_CODE_SELECTOR;
        frame.ss = USER_DATA_SELECTOR;
        frame
    }

    /// A fresh frame that starts `entry(arg)` on a stack whose top is `stack_top`.
    pub fn new_thread(entry: u64, arg: u64, stack_top: u64) -> Frame {
        let mut fxsave = [0u8; 512];
        fxsave[FXSAVE_FCW..FXSAVE_FCW + 2].copy_from_slice(&DEFAULT_FCW.to_le_bytes());
        fxsave[FXSAVE_MXCSR..FXSAVE_MXCSR + 4].copy_from_slice(&DEFAULT_MXCSR.to_le_bytes());
        Frame {
            fxsave,
            r15: 0,
            r14: 0,
            r13: 0,
            r12: 0,
            r11: 0,
            r10: 0,
            r9: 0,
            r8: 0,
            rdi: arg,
            rsi: 0,
            rbp: 0,
            rdx: 0,
            rcx: 0,
            rbx: 0,
            rax: 0,
            vector: 0,
            error_code: 0,
            rip: entry,
            cs: u64::from(CS::get_reg().0),
            rflags: RFLAGS_IF,
            // As if `entry` had been called: RSP + 8 is 16-byte aligned.
            rsp: (stack_top & !0xF) - 8,
            ss: u64::from(SS::get_reg().0),
        }
    }
}

#[repr(C, align(16))]
struct IstStack([u8; IST_STACK_SIZE]);

static mut IST_STACKS: [IstStack; IST_COUNT] = [const { IstStack([0; IST_STACK_SIZE]) }; IST_COUNT];
static TSS: spin::Once<TaskStateSegment> = spin::Once::new();
static GDT: spin::Once<(
    GlobalDescriptorTable,
    SegmentSelector,
    SegmentSelector,
    SegmentSelector,
)> = spin::Once::new();
static IDT: spin::Once<InterruptDescriptorTable> = spin::Once::new();

/// Each entry stub is padded to this many bytes, so vector N's is at `isr_stubs + N * 16`.
const STUB_SIZE: u64 = 16;

unsafe extern "C" {
    /// The first of the 256 entry stubs in the assembly below.
    fn isr_stubs();
    /// Where the `syscall` instruction enters (`LSTAR`).
    fn syscall_entry();
    /// Runs ring-3 code from `frame` (a new program's [`Frame::new_user`], or a forked
    /// child's copy of its parent's syscall frame) through the interrupt return path, on
    /// the page tables `RESUME_USER_CR3` names (set with the thread's user context).
    /// Saves the callee-saved registers and its stack pointer in `*resume`, and returns
    /// when [`leave_user`] is called with that pointer, with its `status`. The frame must
    /// be on a stack the process's page tables map (the thread's kernel stack).
    pub fn enter_user(frame: *const Frame, resume: *mut u64) -> u64;
    /// Returns from [`enter_user`] (whose saved stack pointer is `resume`) with `status`.
    pub fn leave_user(resume: u64, status: u64) -> !;
}

// Model-specific registers for `syscall` (AMD64 APM vol. 2, 6.1.1).
const IA32_EFER: u32 = 0xC000_0080;
const IA32_STAR: u32 = 0xC000_0081;
const IA32_LSTAR: u32 = 0xC000_0082;
const IA32_FMASK: u32 = 0xC000_0084;
/// FS base: a process's thread pointer (`arch_prctl(ARCH_SET_FS)`).
pub const IA32_FS_BASE: u32 = 0xC000_0100;
const EFER_SCE: u64 = 1;
/// RFLAGS bits `syscall` clears: IF (handlers start with interrupts off), TF, DF, AC.
const SYSCALL_MASKED_FLAGS: u64 = (1 << 9) | (1 << 8) | (1 << 10) | (1 << 18);

/// Reads a model-specific register.
pub fn read_msr(msr: u32) -> u64 {
    // SAFETY: only the architectural MSRs above are passed, which every x86-64 CPU has.
    unsafe { x86_64::registers::model_specific::Msr::new(msr).read() }
}

/// Writes a model-specific register.
pub fn write_msr(msr: u32, value: u64) {
    // SAFETY: as `read_msr`; the values written are the ones these registers document.
    unsafe { x86_64::registers::model_specific::Msr::new(msr).write(value) }
}

/// Turns `syscall` on: kernel selectors from `STAR`, entry at `syscall_entry`.
fn enable_syscall(kernel_code: u16) {
    write_msr(IA32_EFER, read_msr(IA32_EFER) | EFER_SCE);
    // SYSRET would take CS = base + 16, SS = base + 8 from STAR[63:48]; kiln returns with
    // iretq, but keeps the layout right.
    let user_base = USER_DATA_SELECTOR - 8 - 3;
    write_msr(
        IA32_STAR,
        (user_base << 48) | (u64::from(kernel_code) << 32),
    );
    write_msr(IA32_LSTAR, syscall_entry as *const () as u64);
    write_msr(IA32_FMASK, SYSCALL_MASKED_FLAGS);
}

/// Loads the GDT with a TSS carrying the IST stacks, and the IDT.
pub fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        let mut table = tss.interrupt_stack_table;
        for (index, slot) in table.iter_mut().take(IST_COUNT).enumerate() {
            // SAFETY: only the address of the static is taken; the CPU alone writes it.
            let base = unsafe { (&raw const IST_STACKS[index]) as u64 };
            *slot = VirtAddr::new(base + IST_STACK_SIZE as u64);
        }
        tss.interrupt_stack_table = table;
        tss
    });
    let (gdt, code, data, tss_selector) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        assert_eq!(u64::from(code.0), KERNEL_CODE_SELECTOR);
        assert_eq!(u64::from(data.0), KERNEL_DATA_SELECTOR);
        let user_data = gdt.append(Descriptor::user_data_segment());
        let user_code = gdt.append(Descriptor::user_code_segment());
        assert_eq!(u64::from(user_data.0), USER_DATA_SELECTOR);
        assert_eq!(u64::from(user_code.0), USER_CODE_SELECTOR);
        let tss_selector = gdt.append(Descriptor::tss_segment(tss));
        (gdt, code, data, tss_selector)
    });
    gdt.load();
    // SAFETY: the selectors come from the GDT just loaded.
    unsafe {
        CS::set_reg(*code);
        DS::set_reg(*data);
        ES::set_reg(*data);
        SS::set_reg(*data);
        load_tss(*tss_selector);
    }

    let idt = IDT.call_once(build_idt);
    idt.load();
    // SAFETY: written once here, before any process exists; read by the entry stubs.
    unsafe {
        KERNEL_CR3 = x86_64::registers::control::Cr3::read_raw()
            .0
            .start_address()
            .as_u64();
    }
    enable_syscall(code.0);
}

fn stub(vector: usize) -> VirtAddr {
    VirtAddr::new(isr_stubs as *const () as u64 + vector as u64 * STUB_SIZE)
}

fn build_idt() -> InterruptDescriptorTable {
    let mut idt = InterruptDescriptorTable::new();
    // SAFETY (all set_handler_addr calls): every stub saves the full context, calls
    // `interrupt_dispatch` and returns with `iretq`, which is what each gate expects;
    // the stubs pad a dummy error code where the CPU pushes none.
    unsafe {
        for vector in [0u8, 1, 3, 4, 5, 6, 7, 9, 16, 19, 20] {
            idt[vector]
                .set_handler_addr(stub(vector as usize))
                .set_stack_index(IST_FAULT);
        }
        idt[2u8].set_handler_addr(stub(2)).set_stack_index(IST_NMI);
        idt.double_fault
            .set_handler_addr(stub(8))
            .set_stack_index(IST_DOUBLE_FAULT);
        idt.invalid_tss
            .set_handler_addr(stub(10))
            .set_stack_index(IST_FAULT);
        idt.segment_not_present
            .set_handler_addr(stub(11))
            .set_stack_index(IST_FAULT);
        idt.stack_segment_fault
            .set_handler_addr(stub(12))
            .set_stack_index(IST_FAULT);
        idt.general_protection_fault
            .set_handler_addr(stub(13))
            .set_stack_index(IST_FAULT);
        idt.page_fault
            .set_handler_addr(stub(14))
            .set_stack_index(IST_FAULT);
        idt.alignment_check
            .set_handler_addr(stub(17))
            .set_stack_index(IST_FAULT);
        idt.machine_check
            .set_handler_addr(stub(18))
            .set_stack_index(IST_NMI);
        idt.cp_protection_exception
            .set_handler_addr(stub(21))
            .set_stack_index(IST_FAULT);
        for vector in 32..=255u8 {
            idt[vector]
                .set_handler_addr(stub(vector as usize))
                .set_stack_index(IST_IRQ);
        }
    }
    idt
}

/// The names of the CPU exceptions, by vector.
pub fn exception_name(vector: u64) -> &'static str {
    match vector {
        0 => "divide error",
        1 => "debug",
        2 => "non-maskable interrupt",
        3 => "breakpoint",
        4 => "overflow",
        5 => "bound range exceeded",
        6 => "invalid opcode",
        7 => "device not available",
        8 => "double fault",
        10 => "invalid TSS",
        11 => "segment not present",
        12 => "stack-segment fault",
        13 => "general protection fault",
        14 => "page fault",
        16 => "x87 floating-point error",
        17 => "alignment check",
        18 => "machine check",
        19 => "SIMD floating-point error",
        20 => "virtualization exception",
        21 => "control protection exception",
        _ => "unknown exception",
    }
}

/// Called by every entry stub with the saved frame; returns the frame to resume.
#[unsafe(no_mangle)]
extern "C" fn interrupt_dispatch(frame: *mut Frame) -> *mut Frame {
    crate::fault::interrupt_entered();
    let next = dispatch(frame);
    crate::fault::interrupt_left();
    next
}

fn dispatch(frame: *mut Frame) -> *mut Frame {
    // SAFETY: the stub passes a pointer to the frame it just pushed on its IST stack.
    let vector = unsafe { (*frame).vector } as u8;
    match vector {
        0..=31 => crate::fault::on_exception(frame),
        YIELD_VECTOR => sched::on_yield(frame),
        SPURIOUS_VECTOR => frame,
        v if (IRQ_BASE..IRQ_BASE + IRQ_COUNT).contains(&v) => {
            let irq = v - IRQ_BASE;
            if pic::is_spurious(irq) {
                return frame;
            }
            let next = match irq {
                pic::IRQ_TIMER => {
                    pic::end_of_interrupt(irq);
                    // SAFETY: the stub's frame, exclusively ours until we return it.
                    let f = unsafe { &mut *frame };
                    if f.cs & 3 == 3 {
                        crate::process::on_user_tick(f);
                    }
                    return sched::on_tick(frame);
                }
                pic::IRQ_COM1 => {
                    serial::on_interrupt();
                    frame
                }
                pic::IRQ_KEYBOARD => {
                    crate::keyboard::on_interrupt();
                    frame
                }
                irq if crate::net::owns_irq(irq) => {
                    crate::net::on_interrupt(irq);
                    frame
                }
                _ => frame,
            };
            pic::end_of_interrupt(irq);
            sched::after_irq(next)
        }
        _ => frame,
    }
}

global_asm!(
    r#"
    .section .text
    .p2align 4
    .global isr_stubs
isr_stubs:
    .set vector, 0
    .rept 256
    .p2align 4
    .if (vector == 8) || (vector == 10) || (vector == 11) || (vector == 12) || (vector == 13) || (vector == 14) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    .else
        pushq $0
    .endif
        pushq $vector
        jmp isr_common
    .set vector, vector + 1
    .endr

isr_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rbp
    pushq %rsi
    pushq %rdi
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    /* From ring 3 (the pushed CS's RPL): the kernel's page tables before any Rust. */
    testb $3, 144(%rsp)
    jz 1f
    movq KERNEL_CR3(%rip), %rax
    movq %rax, %cr3
1:
    subq $512, %rsp
    fxsave (%rsp)
    movq %rsp, %rdi
    cld
    call interrupt_dispatch
    movq %rax, %rsp
isr_exit:
    /* Back to ring 3: the resumed process's page tables (its frame is on a kernel
       stack they map for the kernel). */
    testb $3, 656(%rsp)
    jz 2f
    movq RESUME_USER_CR3(%rip), %rax
    movq %rax, %cr3
2:
    fxrstor (%rsp)
    addq $512, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rdi
    popq %rsi
    popq %rbp
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp
    iretq

    .global syscall_entry
syscall_entry:
    /* rcx = user rip, r11 = user rflags, rsp = user rsp, interrupts off (FMASK). */
    movq %rax, SYSCALL_SCRATCH(%rip)
    movq KERNEL_CR3(%rip), %rax
    movq %rax, %cr3
    movq SYSCALL_SCRATCH(%rip), %rax
    movq %rsp, SYSCALL_SCRATCH(%rip)
    movq SYSCALL_KERNEL_RSP(%rip), %rsp
    pushq ${user_ss}
    pushq SYSCALL_SCRATCH(%rip)
    pushq %r11
    pushq ${user_cs}
    pushq %rcx
    pushq $0
    pushq ${syscall_vector}
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rbp
    pushq %rsi
    pushq %rdi
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $512, %rsp
    fxsave (%rsp)
    movq %rsp, %rdi
    cld
    sti
    call syscall_dispatch
    cli
    movq %rax, %rsp
    jmp isr_exit

    .global enter_user
enter_user:
    /* (frame, resume: *mut u64) */
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rsi)
    cli
    movq %rdi, %rsp
    jmp isr_exit

    .global leave_user
leave_user:
    /* (resume, status): back into enter_user's caller. */
    movq %rdi, %rsp
    movq %rsi, %rax
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    "#,
    user_ss = const USER_DATA_SELECTOR,
    user_cs = const USER_CODE_SELECTOR,
    syscall_vector = const SYSCALL_VECTOR,
    options(att_syntax)
);
