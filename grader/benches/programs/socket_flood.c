/* A small-message socket flood: two forked workers each send 100,000 eight-byte messages
 * over one Unix-domain stream socket pair; the parent receives them 8 bytes at a time and
 * prints their count. About 400,000 system calls, none of them on fd 0-2. */
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds)) return 1;
    for (int w = 0; w < 2; w++) {
        if (fork() == 0) {
            close(fds[0]);
            for (uint64_t i = 0; i < 100000; i++) {
                if (send(fds[1], &i, sizeof i, 0) != sizeof i) _exit(1);
            }
            _exit(0);
        }
    }
    close(fds[1]);
    uint64_t record, count = 0;
    while (recv(fds[0], &record, sizeof record, MSG_WAITALL) == sizeof record) count++;
    while (wait(NULL) > 0) {}
    printf("%llu messages\n", (unsigned long long)count);
    return count == 200000 ? 0 : 1;
}
