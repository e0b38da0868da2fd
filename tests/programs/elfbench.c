/* The ELF benchmark program, run the same in kiln and in the Linux peer:
 *
 *   elfbench spawn N PATH   N times: fork, execve PATH (first_instruction.c) with its
 *                           stdout on a pipe, read the TSC it read at its first
 *                           instruction; a sample is that minus the TSC just before fork.
 *                           Prints `elfbench spawn_ns p50=.. p99=.. min=.. max=.. n=N`.
 *   elfbench getpid N       N getpid system calls in a row. Prints
 *                           `elfbench getpid_ns per_call=.. n=N`.
 *
 * TSC cycles become nanoseconds with the rate measured against CLOCK_MONOTONIC over
 * 200 ms first, so both guests convert with their own clock. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static uint64_t tsc(void) {
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static uint64_t monotonic_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* TSC cycles per nanosecond. */
static double cycles_per_ns(void) {
    uint64_t t0 = monotonic_ns(), c0 = tsc();
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    uint64_t t1 = monotonic_ns(), c1 = tsc();
    return (double)(c1 - c0) / (double)(t1 - t0);
}

static int by_value(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int spawn(long n, const char *path) {
    double rate = cycles_per_ns();
    uint64_t *samples = malloc(sizeof *samples * (size_t)n);
    if (!samples) return 1;
    for (long i = 0; i < n; i++) {
        int ends[2];
        if (pipe(ends) != 0) { perror("pipe"); return 1; }
        uint64_t before = tsc();
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) {
            dup2(ends[1], 1);
            close(ends[0]);
            close(ends[1]);
            char *argv[] = {(char *)path, NULL};
            execve(path, argv, environ);
            _exit(127);
        }
        close(ends[1]);
        uint64_t first = 0;
        size_t got = 0;
        while (got < sizeof first) {
            ssize_t r = read(ends[0], (char *)&first + got, sizeof first - got);
            if (r <= 0) break;
            got += (size_t)r;
        }
        close(ends[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        if (got != sizeof first || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "elfbench: %s did not report its start (run %ld, status %d)\n", path, i + 1, status);
            return 1;
        }
        samples[i] = (uint64_t)((double)(first - before) / rate);
    }
    qsort(samples, (size_t)n, sizeof *samples, by_value);
    printf("elfbench spawn_ns p50=%llu p99=%llu min=%llu max=%llu n=%ld\n",
           (unsigned long long)samples[n * 50 / 100], (unsigned long long)samples[n * 99 / 100],
           (unsigned long long)samples[0], (unsigned long long)samples[n - 1], n);
    return 0;
}

static int getpid_loop(long n) {
    double rate = cycles_per_ns();
    uint64_t before = tsc();
    for (long i = 0; i < n; i++)
        syscall(SYS_getpid);
    uint64_t after = tsc();
    printf("elfbench getpid_ns per_call=%.1f n=%ld\n", (double)(after - before) / rate / (double)n, n);
    return 0;
}

int main(int argc, char **argv) {
    long n = argc > 2 ? atol(argv[2]) : 0;
    if (argc == 4 && strcmp(argv[1], "spawn") == 0 && n > 0)
        return spawn(n, argv[3]);
    if (argc == 3 && strcmp(argv[1], "getpid") == 0 && n > 0)
        return getpid_loop(n);
    fprintf(stderr, "usage: elfbench spawn N PATH | elfbench getpid N\n");
    return 2;
}
