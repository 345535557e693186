/* Runs one foreign-ABI call in a child and judges it: killed (SIGSYS, or
 * SIGSEGV where the kernel lacks the ABI) or an error return is a held
 * invariant; a non-negative return is an escape. */
#ifndef HSBOX_FOREIGN_ARCH_H
#define HSBOX_FOREIGN_ARCH_H

#include <signal.h>

#include "escape.h"

typedef long (*foreign_call)(void* ctx);

static void judge(const char* what, foreign_call call, void* ctx) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        note("fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        long r = call(ctx);
        if (r >= 0) {
            fprintf(stderr, "ESCAPE: %s returned %ld\n", what, r);
            _exit(1);
        }
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        if (WTERMSIG(status) != SIGSYS) note("%s: killed by signal %d (not SIGSYS)", what, WTERMSIG(status));
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        note("%s: failed with an error instead of killing the process", what);
        return;
    }
    leak("%s: child exited with %d", what, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

#endif
