/* One of two programs that both define main, for the gdb test. */
#include <stdio.h>

int main(void) {
    printf("first ran\n");
    return 0;
}
