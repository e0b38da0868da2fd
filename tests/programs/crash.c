/* Faults on purpose, in the ways a real program might: `crash null|kernel|heap|stacks|text|divzero|ud2|abort|spin|syscall`. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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
    if (!strcmp(what, "syscall")) {
        long r = syscall(999);
        printf("syscall 999 returned %ld\n", r);
        return 3;
    }
    printf("still here\n");
    return 0;
}
