/* Trick: a descriptor opened before confinement. Usage:
 *   dirfd fds    - every fd from 3 up must be closed in the space (the driver
 *                  leaves outside directories open without CLOEXEC);
 *   dirfd stdin  - use fd 0 as a dirfd (the driver makes it an outside
 *                  directory; the supervisor must refuse to start). */
#include <sys/resource.h>

#include "escape.h"

int main(int argc, char** argv) {
    const char* mode = argc > 1 ? argv[1] : "fds";
    const char* token = TOKEN;
    if (!strcmp(mode, "fds")) {
        struct rlimit rl;
        int max = 4096;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)max) max = (int)rl.rlim_cur;
        for (int fd = 3; fd < max; ++fd) {
            if (fcntl(fd, F_GETFD) < 0) continue;
            char p[64], l[4096] = "";
            snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
            ssize_t n = readlink(p, l, sizeof l - 1);
            if (n > 0) l[n] = 0;
            leak("fd %d is open in the space (%s)", fd, l);
            try_read_at(fd, "secret", token, "inherited fd");
        }
        for (int fd = 0; fd < 3; ++fd) {
            struct stat st;
            if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) leak("fd %d is a directory", fd);
        }
    } else if (!strcmp(mode, "stdin")) {
        try_read_at(0, "secret", token, "openat(stdin dirfd)");
        struct stat st;
        if (fstat(0, &st) == 0 && S_ISDIR(st.st_mode)) leak("stdin is a directory in the space");
        if (fchdir(0) == 0) {
            leak("fchdir(stdin) worked");
            try_read("secret", token, "fchdir(stdin)");
        }
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    return finish();
}
