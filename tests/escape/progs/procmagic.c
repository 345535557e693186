/* Trick: /proc magic links (/proc/self/root, /proc/self/cwd, /proc/self/fd/N,
 * /proc/thread-self, /proc/PID/root of the supervisor) to get out. */
#include "escape.h"

static void through(const char* base, const char* token, const char* outside, unsigned long dev, unsigned long ino) {
    char path[8192];
    snprintf(path, sizeof path, "%s%s/secret", base, outside);
    try_read(path, token, base);
    snprintf(path, sizeof path, "%s/../../../../../../..%s/secret", base, outside);
    try_read(path, token, base);
    snprintf(path, sizeof path, "%s/../outside/secret", base);
    try_read(path, token, base);
    snprintf(path, sizeof path, "%s%s", base, outside);
    try_stat_ino(path, dev, ino, base);
    /* O_PATH of the magic link itself, then walk from it. */
    int fd = open(base, O_PATH | O_CLOEXEC);
    if (fd >= 0) {
        snprintf(path, sizeof path, "../../../../..%s/secret", outside);
        try_read_at(fd, path, token, base);
        snprintf(path, sizeof path, ".%s/secret", outside);
        try_read_at(fd, path, token, base);
        close(fd);
    }
}

int main(void) {
    const char* token = TOKEN;
    const char* outside = OUTSIDE;
    unsigned long dev = env_ul("ESC_OUTSIDE_DEV"), ino = env_ul("ESC_OUTSIDE_INO");
    const char* sup = env("ESC_SUP_PID");
    const char* outpid = env("ESC_OUT_PID");
    char path[8192], link[4096];

    ssize_t n = readlink("/proc/self/root", link, sizeof link - 1);
    if (n >= 0) {
        link[n] = 0;
        if (strcmp(link, "/") != 0) leak("readlink /proc/self/root = '%s' (the host root path)", link);
    }
    chdir("/");
    n = readlink("/proc/self/cwd", link, sizeof link - 1);
    if (n >= 0) {
        link[n] = 0;
        if (strcmp(link, "/") != 0) leak("readlink /proc/self/cwd = '%s'", link);
    }
    int rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    snprintf(path, sizeof path, "/proc/self/fd/%d", rootfd);
    n = readlink(path, link, sizeof link - 1);
    if (n >= 0) {
        link[n] = 0;
        if (strcmp(link, "/") != 0) leak("readlink %s = '%s'", path, link);
    }
    char fdbase[64], tfdbase[128], pidroot[64];
    snprintf(fdbase, sizeof fdbase, "/proc/self/fd/%d", rootfd);
    snprintf(tfdbase, sizeof tfdbase, "/proc/thread-self/fd/%d", rootfd);
    snprintf(pidroot, sizeof pidroot, "/proc/%d/root", (int)getpid());
    const char* bases[] = {"/proc/self/root", "/proc/self/cwd", "/proc/thread-self/root", "/proc/thread-self/cwd",
                           fdbase, tfdbase, pidroot, "/proc/1/root", "/proc/self/task/../root"};
    for (size_t i = 0; i < sizeof bases / sizeof *bases; ++i) through(bases[i], token, outside, dev, ino);

    /* Another process's root: the supervisor's and an outside process's. */
    const char* others[] = {sup, outpid};
    for (int i = 0; i < 2; ++i) {
        snprintf(path, sizeof path, "/proc/%s/root", others[i]);
        struct stat st;
        if (stat(path, &st) == 0) leak("%s exists in the space", path);
        through(path, token, outside, dev, ino);
        snprintf(path, sizeof path, "/proc/%s/cwd", others[i]);
        if (stat(path, &st) == 0) leak("%s exists in the space", path);
        snprintf(path, sizeof path, "/proc/%s/fd", others[i]);
        if (stat(path, &st) == 0) leak("%s exists in the space", path);
    }
    /* Through a /proc dirfd. */
    int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd >= 0) {
        snprintf(path, sizeof path, "self/root%s/secret", outside);
        try_read_at(procfd, path, token, "openat(/proc fd)");
        snprintf(path, sizeof path, "%s/root%s/secret", sup, outside);
        try_read_at(procfd, path, token, "openat(/proc fd, supervisor)");
        close(procfd);
    }
    int selffd = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (selffd >= 0) {
        snprintf(path, sizeof path, "root%s/secret", outside);
        try_read_at(selffd, path, token, "openat(/proc/self fd)");
        snprintf(path, sizeof path, "cwd/..%s/secret", outside);
        try_read_at(selffd, path, token, "openat(/proc/self fd)");
        close(selffd);
    }
    /* A symlink in the root pointing at a magic link. */
    snprintf(path, sizeof path, "/proc/self/root%s", outside);
    symlink(path, "/to_magic");
    try_read("/to_magic/secret", token, "symlink to /proc/self/root");
    symlink("/proc/self/cwd/..", "/to_cwd");
    snprintf(path, sizeof path, "/to_cwd%s/secret", outside);
    try_read(path, token, "symlink to /proc/self/cwd");
    /* chdir into magic links. */
    if (chdir("/proc/self/root") == 0) {
        snprintf(path, sizeof path, "..%s/secret", outside);
        try_read(path, token, "chdir /proc/self/root");
        struct stat a, b;
        if (stat(".", &a) == 0 && stat("/", &b) == 0 && (a.st_ino != b.st_ino || a.st_dev != b.st_dev))
            leak("chdir(/proc/self/root) is not the space root");
    }
    chdir("/");
    return finish();
}
