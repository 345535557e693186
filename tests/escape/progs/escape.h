/* Shared helpers for the hostile programs in tests/escape/progs.
 *
 * Every program tries one trick to get out of its space and exits 0 when the
 * trick FAILED (the invariant held). When it succeeds, the program prints a
 * line naming what leaked and exits 1. Exit 77 means "cannot run here"
 * (e.g. no terminal), which the driver reports as a skip.
 *
 * The driver passes what the program must not reach on the command line:
 * host paths outside the root, a token written into outside files, pids of
 * processes outside the space. Statically linked: the space's root holds
 * nothing but the program. */
#ifndef HSBOX_ESCAPE_H
#define HSBOX_ESCAPE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stddef.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static __attribute__((unused)) int esc_leaks;

/* Reports an escape; the program ends with status 1. */
static __attribute__((unused)) void leak(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ESCAPE: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    esc_leaks++;
}

/* A check that is not an escape but a broken expectation (wrong errno...). */
static __attribute__((unused)) void note(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "note: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static __attribute__((unused)) int finish(void) {
    if (esc_leaks) {
        fprintf(stderr, "%d escape(s)\n", esc_leaks);
        return 1;
    }
    printf("held\n");
    return 0;
}

/* Reads up to n-1 bytes of fd into buf (NUL-terminated). */
static __attribute__((unused)) ssize_t read_all(int fd, char* buf, size_t n) {
    size_t off = 0;
    while (off + 1 < n) {
        ssize_t r = read(fd, buf + off, n - 1 - off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        off += (size_t)r;
    }
    buf[off] = 0;
    return (ssize_t)off;
}

/* Does the file open as fd hold the token? */
static __attribute__((unused)) int fd_has_token(int fd, const char* token) {
    char buf[4096];
    if (read_all(fd, buf, sizeof buf) < 0) return 0;
    return strstr(buf, token) != NULL;
}

/* Opens `path` (openat(dirfd)) and reports a leak if it can be read and holds
 * the token. Returns 1 when it leaked. */
static __attribute__((unused)) int try_read_at(int dirfd, const char* path, const char* token, const char* what) {
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    int has = fd_has_token(fd, token);
    close(fd);
    if (has) leak("%s: read the outside secret through '%s'", what, path);
    return has;
}

static __attribute__((unused)) int try_read(const char* path, const char* token, const char* what) {
    return try_read_at(AT_FDCWD, path, token, what);
}

/* Reports a leak if stat(path) names the given host inode. */
static __attribute__((unused)) void try_stat_ino(const char* path, unsigned long dev, unsigned long ino, const char* what) {
    struct stat st;
    if (stat(path, &st) == 0 && st.st_ino == ino && st.st_dev == dev)
        leak("%s: stat('%s') reached the outside object (ino %lu)", what, path, ino);
}

/* Expects a call to fail with `want` (0: any error). Returns 1 if it succeeded. */
static __attribute__((unused)) int expect_fail(long r, int want, const char* what) {
    if (r >= 0) {
        leak("%s succeeded (returned %ld)", what, r);
        return 1;
    }
    if (want && errno != want) note("%s failed with %s, expected %s", what, strerror(errno), strerror(want));
    return 0;
}

/* Like expect_fail, but a wrong errno is also a failure of the test. */
static __attribute__((unused)) int expect_errno(long r, int want, const char* what) {
    if (r >= 0) {
        leak("%s succeeded (returned %ld)", what, r);
        return 1;
    }
    if (errno != want) {
        fprintf(stderr, "FAIL: %s failed with %s, expected %s\n", what, strerror(errno), strerror(want));
        esc_leaks++;
        return 1;
    }
    return 0;
}

/* Safety: these programs write to "/" and, as root, call mount/umount/
 * chroot. Outside a space "/" is the host's root, so every program refuses to
 * start unless the driver's marker is at the root it sees (only the space
 * root has it), or ESC_NATIVE_CONTROL=1 (set by the driver only for programs
 * that write nothing by absolute path). */
__attribute__((constructor)) static void refuse_outside_a_space(void) {
    if (access("/.hsbox-escape-root", F_OK) == 0) return;
    const char* native = getenv("ESC_NATIVE_CONTROL");
    if (native && !strcmp(native, "1")) return;
    fprintf(stderr, "FAIL: /.hsbox-escape-root missing: not inside the test's space, refusing to run\n");
    _exit(3);
}

/* Environment the driver sets for every program. */
static __attribute__((unused)) const char* env(const char* name) {
    const char* v = getenv(name);
    if (!v) {
        fprintf(stderr, "FAIL: %s not set by the driver\n", name);
        exit(2);
    }
    return v;
}

static __attribute__((unused)) unsigned long env_ul(const char* name) { return strtoul(env(name), NULL, 10); }

/* The outside secret: ESC_OUTSIDE/secret, holding ESC_TOKEN. */
#define TOKEN env("ESC_TOKEN")
#define OUTSIDE env("ESC_OUTSIDE")

#endif
