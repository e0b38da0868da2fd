//! The PVH entry: from 32-bit protected mode to 64-bit Rust.
//!
//! QEMU (`-kernel`), Firecracker and Cloud Hypervisor find `pvh_start` through the
//! Xen ELF note below (type 18, `XEN_ELFNOTE_PHYS32_ENTRY`) and jump to it in 32-bit
//! protected mode with paging off and EBX pointing at the `hvm_start_info`. The entry
//! clears .bss, identity-maps 4 GiB with 2 MiB pages (the LAPIC lives at 0xFEE00000),
//! turns on PAE, long mode, paging and SSE, loads a boot GDT and calls
//! [`crate::kernel_main`] with the start-info pointer. See docs/ARCHITECTURE.md, "Build recipe".

use core::arch::global_asm;

/// Bytes of the stack the boot CPU runs on until the scheduler takes over.
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

global_asm!(
    r#"
    .section .note.pvh, "a", @note
    .p2align 2
    .long 4
    .long 8
    .long 18
    .asciz "Xen"
    .p2align 2
    .quad pvh_start

    .section .bss.boot, "aw", @nobits
    .p2align 12
boot_pml4:  .skip 4096
boot_pdpt:  .skip 4096
boot_pd:    .skip 4096 * 4
    .p2align 4
    .global boot_stack_bottom
boot_stack_bottom:
    .skip {stack_size}
boot_stack_top:

    .section .rodata.boot, "a"
    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
boot_gdt_end:
boot_gdt_pointer:
    .word boot_gdt_end - boot_gdt - 1
    .quad boot_gdt

    .section .text.boot, "ax"
    .code32
    .global pvh_start
pvh_start:
    cli
    cld
    movl %ebx, %ebp
    /* kiln.bootstats: the TSC at the first instruction (in .data: .bss is cleared next) */
    rdtsc
    movl %eax, kiln_boot_tsc
    movl %edx, kiln_boot_tsc + 4

    /* 1. clear .bss (the page tables and boot stack live there), 4 bytes at a time:
          the linker script aligns both ends to 16 */
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    xorl %eax, %eax
    rep stosl

    /* 2. identity-map 4 GiB: PML4[0] -> PDPT, PDPT[0..4] -> PDs, PD entries 2 MiB pages */
    movl $boot_pdpt, %eax
    orl $0x3, %eax
    movl %eax, boot_pml4
    xorl %ecx, %ecx
1:
    movl %ecx, %eax
    shll $12, %eax
    addl $boot_pd, %eax
    orl $0x3, %eax
    movl %eax, boot_pdpt(,%ecx,8)
    incl %ecx
    cmpl $4, %ecx
    jne 1b
    xorl %ecx, %ecx
2:
    movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax
    movl %eax, boot_pd(,%ecx,8)
    movl %ecx, %eax
    shrl $11, %eax
    movl %eax, boot_pd+4(,%ecx,8)
    incl %ecx
    cmpl $2048, %ecx
    jne 2b

    /* 3. CR4.PAE|OSFXSR|OSXMMEXCPT, CR3, EFER.LME, CR0.PG|MP|PE without EM|TS */
    movl %cr4, %eax
    orl $((1 << 5) | (1 << 9) | (1 << 10)), %eax
    movl %eax, %cr4
    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx
    rdmsr
    orl $(1 << 8), %eax
    wrmsr
    movl %cr0, %eax
    andl $~((1 << 2) | (1 << 3)), %eax
    orl $((1 << 31) | (1 << 1) | 1), %eax
    movl %eax, %cr0

    /* 4. 64-bit GDT, far jump, call Rust */
    lgdt boot_gdt_pointer
    ljmp $0x08, $long_mode_entry

    .code64
long_mode_entry:
    rdtsc
    movl %eax, kiln_boot_tsc + 8
    movl %edx, kiln_boot_tsc + 12
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movabsq $boot_stack_top, %rsp
    movl %ebp, %edi
    call {main}
3:
    hlt
    jmp 3b
    "#,
    stack_size = const BOOT_STACK_SIZE,
    main = sym crate::kernel_main,
    options(att_syntax)
);
