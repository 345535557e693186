/* Trick: ptrace the supervisor and a process outside the space. Every
 * attach must fail; TRACEME too (the supervisor is every task's tracer). */
#include <sys/ptrace.h>

#include "escape.h"

int main(void) {
    pid_t sup = (pid_t)env_ul("ESC_SUP_PID");
    pid_t out = (pid_t)env_ul("ESC_OUT_PID");
    pid_t targets[] = {sup, out, getppid()};
    const char* names[] = {"supervisor", "outside process", "getppid()"};
    for (int i = 0; i < 3; ++i) {
        char what[128];
        snprintf(what, sizeof what, "PTRACE_ATTACH %s (%d)", names[i], (int)targets[i]);
        if (expect_fail(ptrace(PTRACE_ATTACH, targets[i], 0, 0), 0, what)) ptrace(PTRACE_DETACH, targets[i], 0, 0);
        snprintf(what, sizeof what, "PTRACE_SEIZE %s (%d)", names[i], (int)targets[i]);
        if (expect_fail(ptrace(PTRACE_SEIZE, targets[i], 0, 0), 0, what)) ptrace(PTRACE_DETACH, targets[i], 0, 0);
        snprintf(what, sizeof what, "PTRACE_PEEKDATA %s (%d)", names[i], (int)targets[i]);
        errno = 0;
        long v = ptrace(PTRACE_PEEKDATA, targets[i], (void*)0x400000, 0);
        if (errno == 0) leak("%s returned %ld", what, v);
    }
    expect_fail(ptrace(PTRACE_TRACEME, 0, 0, 0), 0, "PTRACE_TRACEME");
    return finish();
}
