/* argv, env and exit status, as the kiln ELF tests check them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=[%s]\n", i, argv[i]);
    const char *x = getenv("X");
    printf("X=[%s]\n", x ? x : "(unset)");
    /* Heap memory through brk or mmap, touched. */
    char *big = malloc(1 << 20);
    memset(big, 0x5a, 1 << 20);
    /* Growing a large block: glibc moves it with mremap. */
    big = realloc(big, 4 << 20);
    if (!big || big[(1 << 20) - 1] != 0x5a) return 99;
    free(big);
    return argc > 1 ? atoi(argv[1]) : 0;
}
