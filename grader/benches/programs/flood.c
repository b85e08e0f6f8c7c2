/* The syscall-heavy workload of the tracing benchmark: two forked workers each write
 * 100,000 eight-byte records into one pipe; the parent reads them 8 bytes at a time and
 * prints their count. About 400,000 system calls, none of them on fd 0-2. */
#include <stdio.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    int fds[2];
    if (pipe(fds)) return 1;
    for (int w = 0; w < 2; w++) {
        if (fork() == 0) {
            close(fds[0]);
            for (uint64_t i = 0; i < 100000; i++) {
                if (write(fds[1], &i, sizeof i) != sizeof i) _exit(1);
            }
            _exit(0);
        }
    }
    close(fds[1]);
    uint64_t record, count = 0;
    while (read(fds[0], &record, sizeof record) == sizeof record) count++;
    while (wait(NULL) > 0) {}
    printf("%llu records\n", (unsigned long long)count);
    return count == 200000 ? 0 : 1;
}
