/* Trick: x32 system call numbers (nr | 0x40000000) on the x86-64 entry,
 * which a filter keyed on the native numbers might let through. Each call
 * runs in a child that must be killed (SIGSYS) or fail, never succeed. */
#include <sys/syscall.h>

#include "foreign_arch.h"

#define X32 0x40000000L

static char secret_path[4096], evil_path[4096];

static long x32_getpid(void* c) { (void)c; return syscall(X32 | SYS_getpid); }
static long x32_openat(void* c) {
    (void)c;
    long fd = syscall(X32 | SYS_openat, AT_FDCWD, secret_path, O_RDONLY);
    if (fd >= 0 && fd_has_token((int)fd, getenv("ESC_TOKEN"))) fprintf(stderr, "ESCAPE: x32 openat read the outside secret\n");
    return fd;
}
static long x32_open_rel(void* c) { (void)c; return syscall(X32 | SYS_open, "../outside/secret", O_RDONLY); }
static long x32_execve(void* c) {
    (void)c;
    char* argv[] = {"evil", NULL};
    return syscall(X32 | 520 /* x32 execve */, evil_path, argv, NULL);
}
static long x32_kill(void* c) { (void)c; return syscall(X32 | SYS_kill, (long)atoi(getenv("ESC_OUT_PID")), 0L); }
static long x32_io_uring(void* c) {
    (void)c;
    char params[120] = {0};
    return syscall(X32 | 425 /* io_uring_setup */, 4L, params);
}

int main(void) {
    snprintf(secret_path, sizeof secret_path, "%s/secret", OUTSIDE);
    snprintf(evil_path, sizeof evil_path, "%s/evil", OUTSIDE);
    judge("x32 getpid", x32_getpid, NULL);
    judge("x32 openat(outside secret)", x32_openat, NULL);
    judge("x32 open(../outside/secret)", x32_open_rel, NULL);
    judge("x32 execve(outside program)", x32_execve, NULL);
    judge("x32 kill(outside pid, 0)", x32_kill, NULL);
    judge("x32 io_uring_setup", x32_io_uring, NULL);
    return finish();
}
