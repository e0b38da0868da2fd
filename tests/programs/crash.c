/* Faults on purpose, in the ways a real program might: `crash null|kernel|heap|stacks|text|divzero|ud2|abort|spin|hostile|hog|syscall`. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

int main(int argc, char **argv) {
    const char *what = argc > 1 ? argv[1] : "";
    volatile int zero = 0;
    if (!strcmp(what, "null")) *(volatile int *)0 = 1;
    /* The kernel's image (1 MiB), its heap (16 MiB) and its thread stacks (64 GiB). */
    if (!strcmp(what, "kernel")) *(volatile long *)0x100000 = -1;
    if (!strcmp(what, "heap")) *(volatile long *)0x1000000 = -1;
    if (!strcmp(what, "stacks")) *(volatile long *)(64UL << 30) = -1;
    /* Its own code: read-only, and shared with every other run of this program. */
    if (!strcmp(what, "text")) *(volatile char *)(void *)main = 0;
    if (!strcmp(what, "divzero")) return 10 / zero;
    if (!strcmp(what, "ud2")) __asm__ volatile("ud2");
    if (!strcmp(what, "abort")) abort();
    if (!strcmp(what, "spin")) for (volatile long i = 0;; i++) {}
    /* Syscalls with arguments that point at the kernel or ask for everything. */
    if (!strcmp(what, "hostile")) {
        int write_errno = syscall(SYS_write, 1, (void *)0x100000, 16) == -1 ? errno : 0;
        void *m = mmap(0, ~0UL, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        int fixed_errno = syscall(SYS_mmap, 0x100000, 4096, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == -1
                              ? errno
                              : 0;
        long b = syscall(SYS_brk, ~0UL);
        printf("hostile: write errno %d, mmap %s, fixed errno %d, brk %s\n", write_errno,
               m == MAP_FAILED ? "failed" : "mapped", fixed_errno, b > 0 ? "refused" : "?");
        return 0;
    }
    /* Asks for memory until there is none: malloc must fail, the kernel must not. */
    if (!strcmp(what, "hog")) {
        long mib = 0;
        for (;;) {
            char *p = malloc(1 << 20);
            if (!p) break;
            memset(p, 1, 1 << 20);
            mib++;
        }
        printf("hog: malloc failed after %ld MiB\n", mib);
        return 0;
    }
    if (!strcmp(what, "syscall")) {
        long r = syscall(999);
        printf("syscall 999 returned %ld\n", r);
        return 3;
    }
    printf("still here\n");
    return 0;
}
