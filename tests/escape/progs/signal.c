/* Trick: signalling the supervisor (ESC_SUP_PID, also getppid() of the
 * first process) and a process outside the space (ESC_OUT_PID) with every
 * call that names a pid: all must fail with ESRCH; the driver checks both
 * survived. Group signals (kill(0), kill(-pgrp)) reach only the space. */
#include <signal.h>
#include <sys/syscall.h>

#include "escape.h"

static void all_calls(pid_t pid, const char* who) {
    char what[160];
    siginfo_t si;
#define TRY(expr, name)                                          \
    do {                                                         \
        snprintf(what, sizeof what, "%s(%s %d)", name, who, pid); \
        expect_errno((long)(expr), ESRCH, what);                 \
    } while (0)
    TRY(kill(pid, 0), "kill sig 0");
    TRY(kill(pid, SIGKILL), "kill SIGKILL");
    TRY(kill(pid, SIGSTOP), "kill SIGSTOP");
    TRY(syscall(SYS_tkill, pid, SIGKILL), "tkill");
    TRY(syscall(SYS_tgkill, pid, pid, SIGKILL), "tgkill");
    memset(&si, 0, sizeof si);
    si.si_signo = SIGKILL;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    TRY(syscall(SYS_rt_sigqueueinfo, pid, SIGKILL, &si), "rt_sigqueueinfo");
    TRY(syscall(SYS_rt_tgsigqueueinfo, pid, pid, SIGKILL, &si), "rt_tgsigqueueinfo");
    TRY(syscall(SYS_pidfd_open, pid, 0), "pidfd_open");
    TRY(getpgid(pid), "getpgid");
    TRY(getsid(pid), "getsid");
#undef TRY
    /* /proc/PID as a pidfd for pidfd_send_signal. */
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        leak("%s opened (a pidfd for %s)", path, who);
        if (syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) == 0) leak("pidfd_send_signal killed %s", who);
        close(fd);
    }
}

int main(void) {
    pid_t sup = (pid_t)env_ul("ESC_SUP_PID");
    pid_t out = (pid_t)env_ul("ESC_OUT_PID");
    pid_t driver = (pid_t)env_ul("ESC_DRIVER_PID");
    pid_t ppid = getppid();
    all_calls(sup, "supervisor");
    all_calls(out, "outside process");
    all_calls(driver, "driver");
    if (ppid != 0 && ppid != sup) note("getppid() = %d, supervisor is %d", (int)ppid, (int)sup);
    if (ppid > 0) expect_errno(kill(ppid, 0), ESRCH, "kill(getppid(), 0)");
    /* Group signals: this process ignores SIGUSR1, anything outside it reaches
     * (the driver's process group holds the driver and the outside process) dies. */
    signal(SIGUSR1, SIG_IGN);
    if (kill(0, SIGUSR1) < 0) note("kill(0, SIGUSR1): %s", strerror(errno));
    pid_t pgrp = getpgrp();
    if (kill(-pgrp, SIGUSR1) < 0) note("kill(-pgrp, SIGUSR1): %s", strerror(errno));
    return finish();
}
