/* Trick: new namespaces (a user namespace would give capabilities over a
 * fresh mount namespace: mount, chroot, pivot_root...). unshare, clone and
 * setns must fail with EPERM; clone3 must fail (its flags are in memory). */
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>

#include "escape.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x80
#endif

int main(void) {
    struct {
        int flag;
        const char* name;
    } flags[] = {{CLONE_NEWUSER, "CLONE_NEWUSER"}, {CLONE_NEWNS, "CLONE_NEWNS"},   {CLONE_NEWPID, "CLONE_NEWPID"},
                 {CLONE_NEWNET, "CLONE_NEWNET"},   {CLONE_NEWIPC, "CLONE_NEWIPC"}, {CLONE_NEWUTS, "CLONE_NEWUTS"},
                 {CLONE_NEWCGROUP, "CLONE_NEWCGROUP"}, {CLONE_NEWTIME, "CLONE_NEWTIME"},
                 {CLONE_NEWUSER | CLONE_NEWNS, "CLONE_NEWUSER|CLONE_NEWNS"}};
    char what[128];
    for (size_t i = 0; i < sizeof flags / sizeof *flags; ++i) {
        snprintf(what, sizeof what, "unshare(%s)", flags[i].name);
        expect_errno(unshare(flags[i].flag), EPERM, what);
        snprintf(what, sizeof what, "clone(%s)", flags[i].name);
        long r = syscall(SYS_clone, (long)(flags[i].flag | SIGCHLD), 0L, 0L, 0L, 0L);
        if (r == 0) _exit(0);
        if (r > 0) waitpid((pid_t)r, NULL, 0);
        expect_errno(r, EPERM, what);
    }
    /* clone3 with CLONE_NEWUSER in its struct. */
    unsigned long long args[11] = {0};
    args[0] = CLONE_NEWUSER;
    args[4] = SIGCHLD;
    long r = syscall(435 /* clone3 */, args, sizeof args);
    if (r == 0) _exit(0);
    if (r > 0) waitpid((pid_t)r, NULL, 0);
    expect_fail(r, 0, "clone3(CLONE_NEWUSER)");
    expect_errno(setns(0, CLONE_NEWUSER), EPERM, "setns");
    int fd = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        expect_errno(setns(fd, 0), EPERM, "setns(/proc/self/ns/user)");
        close(fd);
    }
    return finish();
}
