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
    subq $512, %rsp
    fxsave (%rsp)
    movq %rsp, %rdi
    cld
    call interrupt_dispatch
    movq %rax, %rsp
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
    "#,
    options(att_syntax)
);
