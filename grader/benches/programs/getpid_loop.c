/* Calls no check watches, as fast as they go: 300,000 rounds of getpid() and an 8-byte
 * read() from /dev/zero, in one process. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    int zero = open("/dev/zero", O_RDONLY);
    if (zero < 0) return 1;
    char buf[8];
    long sum = 0;
    for (int i = 0; i < 300000; i++) {
        sum += getpid() & 1;
        if (read(zero, buf, sizeof buf) != sizeof buf) return 1;
    }
    printf("%d rounds\n", sum >= 0 ? 300000 : 0);
    return 0;
}
