/* AT_RANDOM's 16 bytes and 16 from getrandom, in hex, one line each. */
#include <stdio.h>
#include <sys/auxv.h>
#include <sys/random.h>

static void hex(const unsigned char *bytes) {
    for (int i = 0; i < 16; i++)
        printf("%02x", bytes[i]);
    printf("\n");
}

int main(void) {
    hex((const unsigned char *)getauxval(AT_RANDOM));
    unsigned char bytes[16];
    if (getrandom(bytes, sizeof bytes, 0) != sizeof bytes)
        return 1;
    hex(bytes);
    return 0;
}
