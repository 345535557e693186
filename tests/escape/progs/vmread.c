/* Trick: reading or writing another process's memory (process_vm_readv/
 * writev, /proc/PID/mem) and other calls that name a pid: the supervisor and
 * an outside process do not exist here (ESRCH / ENOENT). */
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "escape.h"

static void probe(pid_t pid, const char* who) {
    char buf[64], what[128];
    struct iovec local = {buf, sizeof buf};
    struct iovec remote = {(void*)0x400000, sizeof buf};
    snprintf(what, sizeof what, "process_vm_readv(%s)", who);
    expect_errno(process_vm_readv(pid, &local, 1, &remote, 1, 0), ESRCH, what);
    snprintf(what, sizeof what, "process_vm_writev(%s)", who);
    expect_errno(process_vm_writev(pid, &local, 1, &remote, 1, 0), ESRCH, what);
    snprintf(what, sizeof what, "kcmp(%s)", who);
    expect_errno(syscall(SYS_kcmp, pid, getpid(), 0 /* KCMP_FILE */, 0, 0), ESRCH, what);
    struct rlimit rl;
    snprintf(what, sizeof what, "prlimit(%s)", who);
    expect_errno(prlimit(pid, RLIMIT_NOFILE, NULL, &rl), ESRCH, what);
    cpu_set_t set;
    snprintf(what, sizeof what, "sched_getaffinity(%s)", who);
    expect_errno(sched_getaffinity(pid, sizeof set, &set), ESRCH, what);
    snprintf(what, sizeof what, "getpriority(%s)", who);
    errno = 0;
    int prio = getpriority(PRIO_PROCESS, (id_t)pid);
    if (prio != -1 || errno != ESRCH) leak("%s answered (%d, %s)", what, prio, strerror(errno));
    snprintf(what, sizeof what, "setpriority(%s)", who);
    expect_errno(setpriority(PRIO_PROCESS, (id_t)pid, 19), ESRCH, what);
    snprintf(what, sizeof what, "get_robust_list(%s)", who);
    void* head;
    size_t len;
    expect_errno(syscall(SYS_get_robust_list, pid, &head, &len), ESRCH, what);
    const char* files[] = {"mem", "environ", "maps", "status"};
    for (int i = 0; i < 4; ++i) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, files[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            leak("opened %s of the %s", path, who);
            close(fd);
        } else if (errno != ENOENT) {
            note("open %s: %s", path, strerror(errno));
        }
    }
}

int main(void) {
    probe((pid_t)env_ul("ESC_SUP_PID"), "supervisor");
    probe((pid_t)env_ul("ESC_OUT_PID"), "outside process");
    /* Sanity: the same calls work on the space's own pid. */
    char buf[8] = "abc", dst[8] = "";
    struct iovec local = {dst, 4}, remote = {buf, 4};
    if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) != 4 || strcmp(dst, "abc") != 0) {
        fprintf(stderr, "FAIL: process_vm_readv of our own pid does not work: %s\n", strerror(errno));
        return 2;
    }
    return finish();
}
