/* Trick: a nested seccomp filter that returns SECCOMP_RET_TRACE for calls
 * the space's filter allows (getppid, fchdir, getcwd) or traps (execve,
 * chdir), so that the supervisor - the space's ptracer - gets seccomp stops
 * it did not ask for, perhaps with another rewrite in mind. The calls must
 * behave (or fail), never hang or run something outside. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "escape.h"

#define TRACE_NR(nr) \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | 0x77)

int main(void) {
    const char* outside = OUTSIDE;
    unsigned long dev = env_ul("ESC_OUTSIDE_DEV"), ino = env_ul("ESC_OUTSIDE_INO");
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        TRACE_NR(SYS_getppid),
        TRACE_NR(SYS_fchdir),
        TRACE_NR(SYS_getcwd),
        TRACE_NR(SYS_chdir),
        TRACE_NR(SYS_execve),
        TRACE_NR(SYS_openat),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof f / sizeof *f, f};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
        fprintf(stderr, "FAIL: nested filter: %s\n", strerror(errno));
        return 2;
    }
    long pp = syscall(SYS_getppid);
    printf("getppid -> %ld\n", pp);
    int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root >= 0 && fchdir(root) < 0) note("fchdir(/): %s", strerror(errno));
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") != 0) leak("getcwd = '%s'", cwd);
    char rel[4096];
    snprintf(rel, sizeof rel, "..%s", outside);
    if (chdir(rel) == 0) {
        struct stat st;
        if (stat(".", &st) == 0 && st.st_ino == ino && st.st_dev == dev) leak("chdir(%s) reached the outside dir", rel);
        chdir("/");
    }
    if (chdir("../outside") == 0) {
        struct stat st;
        if (stat(".", &st) == 0 && st.st_ino == ino && st.st_dev == dev) leak("chdir(../outside) reached the outside dir");
        chdir("/");
    }
    char evil[4096];
    snprintf(evil, sizeof evil, "%s/evil", outside);
    const char* exes[] = {evil, "../outside/evil"};
    for (int i = 0; i < 2; ++i) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            char* argv[] = {"evil", NULL};
            execv(exes[i], argv);
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 42) leak("execve(%s) ran the outside program", exes[i]);
    }
    /* An inside program still runs. */
    pid_t pid = fork();
    if (pid == 0) {
        char* argv[] = {"good", NULL};
        execv("/good", argv);
        _exit(9);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) note("execve(/good) under the nested filter: status %d", status);
    return finish();
}
