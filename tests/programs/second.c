/* One of two programs that both define main, for the gdb test. */
#include <stdio.h>

int main(void) {
    printf("second ran\n");
    return 0;
}
