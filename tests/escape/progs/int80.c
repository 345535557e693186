/* Trick: the i386 entry (int 0x80) from a 64-bit process: numbers and
 * arguments are those of i386, so a native filter would misread them. Each
 * call runs in a child that must be killed (SIGSYS) or fail. */
#include <sys/mman.h>

#include "foreign_arch.h"

static char* low;  /* a page below 4 GiB for 32-bit pointers */

static long int80(long nr, long a, long b, long c) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

static long i386_getpid(void* c) { (void)c; return int80(20, 0, 0, 0); }
static long i386_open(void* c) {
    (void)c;
    long fd = int80(5, (long)(low), 0 /* O_RDONLY */, 0);
    if (fd >= 0 && fd_has_token((int)fd, getenv("ESC_TOKEN"))) fprintf(stderr, "ESCAPE: i386 open read the outside secret\n");
    return fd;
}
static long i386_open_rel(void* c) { (void)c; return int80(5, (long)(low + 2048), 0, 0); }
static long i386_kill(void* c) { (void)c; return int80(37, atoi(getenv("ESC_OUT_PID")), 0, 0); }
static long i386_execve(void* c) { (void)c; return int80(11, (long)(low + 1024), 0, 0); }

int main(void) {
    low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (low == MAP_FAILED) {
        fprintf(stderr, "FAIL: mmap MAP_32BIT: %s\n", strerror(errno));
        return 2;
    }
    snprintf(low, 1024, "%s/secret", OUTSIDE);
    snprintf(low + 1024, 1024, "%s/evil", OUTSIDE);
    snprintf(low + 2048, 1024, "../outside/secret");
    judge("int 0x80 getpid", i386_getpid, NULL);
    judge("int 0x80 open(outside secret)", i386_open, NULL);
    judge("int 0x80 open(../outside/secret)", i386_open_rel, NULL);
    judge("int 0x80 kill(outside pid, 0)", i386_kill, NULL);
    judge("int 0x80 execve(outside program)", i386_execve, NULL);
    return finish();
}
