/* Trick: `..` past the root, by path, by dirfd and by chdir. */
#include "escape.h"

int main(void) {
    const char* token = TOKEN;
    const char* outside = OUTSIDE;
    unsigned long dev = env_ul("ESC_OUTSIDE_DEV"), ino = env_ul("ESC_OUTSIDE_INO");
    char path[8192];

    struct stat root, up;
    if (stat("/", &root) < 0) { leak("stat / failed: %s", strerror(errno)); return finish(); }
    /* "/.." and "/../../.." are the root itself. */
    const char* ups[] = {"/..", "/../..", "/../../../../../../../../..", "..", "../../../..", "/./../.", "//..//.."};
    for (size_t i = 0; i < sizeof ups / sizeof *ups; ++i) {
        if (stat(ups[i], &up) < 0) continue;
        if (up.st_ino != root.st_ino || up.st_dev != root.st_dev) leak("stat('%s') is not the root", ups[i]);
    }
    /* The outside dir by many ../ then its host path. */
    for (int depth = 1; depth <= 24; ++depth) {
        path[0] = 0;
        for (int i = 0; i < depth; ++i) strcat(path, "../");
        strcat(path, outside + 1);
        try_stat_ino(path, dev, ino, "relative ..");
        char sec[8300];
        snprintf(sec, sizeof sec, "%s/secret", path);
        try_read(sec, token, "relative ..");
        snprintf(sec, sizeof sec, "/%s/secret", path);
        try_read(sec, token, "absolute /..");
    }
    /* openat on a root dirfd, walking up one step at a time. */
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; i < 24 && fd >= 0; ++i) {
        int up_fd = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (up_fd < 0) { note("openat(.., ..) failed: %s", strerror(errno)); break; }
        close(fd);
        fd = up_fd;
        struct stat st;
        if (fstat(fd, &st) == 0 && (st.st_ino != root.st_ino || st.st_dev != root.st_dev))
            leak("openat(dirfd, \"..\") left the root after %d steps", i + 1);
    }
    if (fd >= 0) {
        snprintf(path, sizeof path, "%s/secret", outside + 1);
        try_read_at(fd, path, token, "openat(up-dirfd)");
        close(fd);
    }
    /* chdir("..") many times, then the outside by relative path. */
    if (chdir("/") == 0) {
        for (int i = 0; i < 24; ++i)
            if (chdir("..") < 0) break;
        char cwd[4096];
        if (getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") != 0) leak("getcwd after chdir(..) x24 is '%s'", cwd);
        struct stat st;
        if (stat(".", &st) == 0 && (st.st_ino != root.st_ino || st.st_dev != root.st_dev)) leak("chdir(..) left the root");
        snprintf(path, sizeof path, "%s/secret", outside + 1);
        try_read(path, token, "chdir(..)");
    }
    /* fchdir to an O_PATH dirfd of "/" then "..". */
    fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0 && fchdir(fd) == 0) {
        if (chdir("../..") == 0) {
            struct stat st;
            if (stat(".", &st) == 0 && (st.st_ino != root.st_ino || st.st_dev != root.st_dev)) leak("fchdir + chdir(..) left the root");
        }
        close(fd);
    }
    return finish();
}
