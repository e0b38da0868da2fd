/* A user's own C program, baked into a kiln image by `kiln bake` (see Kiln.toml).
 * Build: musl-gcc -static -O2 -o hello hello.c */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    printf("hello from C:");
    for (int i = 1; i < argc; i++)
        printf(" [%s]", argv[i]);
    printf("\n");
    /* Reads a baked file, as any Linux program would. */
    FILE *motd = fopen("/motd.txt", "r");
    if (!motd) {
        perror("/motd.txt");
        return 1;
    }
    char line[128];
    while (fgets(line, sizeof line, motd))
        printf("motd: %s", line);
    fclose(motd);
    const char *who = getenv("WHO");
    return who && who[0] ? 0 : 3;
}
