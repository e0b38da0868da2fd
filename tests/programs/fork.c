/* fork, waitpid and a pipe between a parent and its child. */
#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>
int main(void) {
    printf("parent pid %d\n", getpid()); fflush(stdout);
    pid_t p = fork();
    if (p == 0) { printf("child pid %d ppid %d\n", getpid(), getppid()); fflush(stdout); _exit(3); }
    if (p < 0) { perror("fork"); return 1; }
    int st = 0; pid_t w = waitpid(p, &st, 0);
    printf("waited %d (fork said %d) exited=%d status=%d\n", w, p, WIFEXITED(st), WEXITSTATUS(st));
    int fds[2]; pipe(fds);
    p = fork();
    if (p == 0) { close(fds[0]); write(fds[1], "through the pipe\n", 17); _exit(0); }
    close(fds[1]); char buf[64]; int n = read(fds[0], buf, sizeof buf);
    printf("read %d: %.*s", n, n, buf); waitpid(p, &st, 0);
    return 0;
}
