/* Small programs for the tracer's own tests, one per mode (argv[1]).
 * Each does one thing the tracer must follow exactly; see grader/tests/tracer.rs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got_usr1, got_rt;
static void on_usr1(int sig) { (void)sig; got_usr1 = 1; }
static void on_rt(int sig) { (void)sig; got_rt = 1; }

static void say(int fd, const char *text) {
    if (write(fd, text, strlen(text)) < 0) _exit(9);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "ipc")) {
        /* pipe, fork, a worker writing to the pipe, shm lifecycle, wait. */
        int fds[2];
        if (pipe(fds)) return 1;
        int id = shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
        char *mem = shmat(id, NULL, 0);
        pid_t child = fork();
        if (child == 0) {
            close(fds[0]);
            say(fds[1], "12345678");
            mem[0] = 'x';
            shmdt(mem);
            _exit(0);
        }
        close(fds[1]);
        char buf[8];
        while (read(fds[0], buf, sizeof buf) > 0) {}
        int status;
        waitpid(child, &status, 0);
        say(1, mem[0] == 'x' ? "shared\n" : "not shared\n");
        shmdt(mem);
        shmctl(id, IPC_RMID, NULL);
        return 0;
    }
    if (!strcmp(mode, "exec")) {
        /* A child that execs another program. */
        pid_t child = fork();
        if (child == 0) {
            execl("/bin/echo", "echo", "from-exec", (char *)NULL);
            _exit(127);
        }
        waitpid(child, NULL, 0);
        return 0;
    }
    if (!strcmp(mode, "signals")) {
        /* Signals must reach the program: a standard one and a real-time one. */
        signal(SIGUSR1, on_usr1);
        signal(SIGRTMIN + 1, on_rt);
        kill(getpid(), SIGUSR1);
        union sigval value = {.sival_int = 7};
        sigqueue(getpid(), SIGRTMIN + 1, value);
        say(1, got_usr1 && got_rt ? "both handled\n" : "lost a signal\n");
        return 0;
    }
    if (!strcmp(mode, "vanish")) {
        /* A child killed while it makes traced calls: the tracer must not stall. */
        pid_t child = fork();
        if (child == 0) {
            for (;;) say(2, "");
        }
        usleep(20000);
        kill(child, SIGKILL);
        int status;
        waitpid(child, &status, 0);
        say(1, WIFSIGNALED(status) ? "child killed\n" : "child exited\n");
        return 0;
    }
    if (!strcmp(mode, "alias")) {
        /* A worker writes to stdout through an alias above fd 2. */
        pid_t child = fork();
        if (child == 0) {
            int alias = dup(1);
            int high = fcntl(alias, F_DUPFD, 20);
            say(high, "via alias\n");
            _exit(0);
        }
        waitpid(child, NULL, 0);
        return 0;
    }
    if (!strcmp(mode, "untraced")) {
        /* clone(CLONE_UNTRACED) would hide the child from the tracer: it must be refused. */
        long r = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0);
        if (r == 0) {
            say(1, "hidden child\n");
            _exit(0);
        }
        if (r > 0) waitpid((pid_t)r, NULL, 0);
        say(1, r < 0 && errno == ENOSYS ? "refused\n" : "allowed\n");
        return 0;
    }
    if (!strcmp(mode, "threads")) {
        /* Threads belong to their process. */
        pthread_t t;
        pthread_create(&t, NULL, (void *(*)(void *))(void (*)(void))sched_yield, NULL);
        pthread_join(t, NULL);
        say(1, "joined\n");
        return 0;
    }
    if (!strcmp(mode, "daemon")) {
        /* Escapes by setsid and double fork, then holds stdout open: must not survive. */
        pid_t child = fork();
        if (child == 0) {
            setsid();
            if (fork() == 0) {
                for (;;) pause();
            }
            _exit(0);
        }
        waitpid(child, NULL, 0);
        return 0;
    }
    if (!strcmp(mode, "stop")) {
        /* Stops itself: a group-stop the tracer must not resume. */
        raise(SIGSTOP);
        say(1, "resumed\n");
        return 0;
    }
    if (!strcmp(mode, "hang")) {
        int fds[2];
        if (pipe(fds)) return 1;
        char c;
        return (int)read(fds[0], &c, 1);
    }
    say(2, "unknown mode\n");
    return 2;
}
