/* Trick: a nested seccomp filter with its own listener, which would see
 * (and answer) the space's calls before the supervisor. NEW_LISTENER must be
 * EPERM; a plain filter (which can only narrow) still loads. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "escape.h"

int main(void) {
    struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = {1, allow};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) note("no_new_privs: %s", strerror(errno));
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    if (fd >= 0) leak("seccomp(NEW_LISTENER) returned listener fd %ld", fd);
    else if (errno != EPERM) {
        fprintf(stderr, "FAIL: seccomp(NEW_LISTENER): %s, expected EPERM\n", strerror(errno));
        esc_leaks++;
    }
    fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_TSYNC, &prog);
    if (fd >= 0) leak("seccomp(NEW_LISTENER|TSYNC) returned %ld", fd);
    fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                 SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog);
    if (fd >= 0) leak("seccomp(NEW_LISTENER|WAIT_KILLABLE_RECV) returned %ld", fd);
    /* A filter that only narrows is fine (and shows the call itself works). */
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
        fprintf(stderr, "FAIL: a plain seccomp filter does not load: %s\n", strerror(errno));
        return 2;
    }
    return finish();
}
