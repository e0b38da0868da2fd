/* The program of the spawn benchmark: its first instruction reads the TSC, and it
 * writes the reading (8 bytes, little-endian) to stdout and exits. No libc: nothing
 * runs before _start. Built with `musl-gcc -static -nostdlib -O2` (the bench and the tests). */
__attribute__((naked, noreturn)) void _start(void) {
    __asm__ volatile(
        "rdtsc\n"
        "shl $32, %rdx\n"
        "or %rdx, %rax\n"
        "push %rax\n"
        "mov $1, %edi\n"   /* fd 1 */
        "mov %rsp, %rsi\n" /* the reading */
        "mov $8, %edx\n"
        "mov $1, %eax\n"   /* write */
        "syscall\n"
        "xor %edi, %edi\n"
        "mov $231, %eax\n" /* exit_group */
        "syscall\n"
        "ud2\n");
}
