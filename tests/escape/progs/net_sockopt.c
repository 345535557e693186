/* Trick: hostile getsockopt/setsockopt arguments on an emulated socket (the
 * supervisor copies them in and out of our memory): NULL and unmapped
 * pointers, negative and huge lengths, garbage levels and upper register
 * bits. Each must fail cleanly (EFAULT/EINVAL/ENOPROTOOPT); afterwards the
 * supervisor still answers: a normal getsockopt works, the host is still
 * ENETUNREACH and the peer still reachable. */
#include <limits.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "net.h"

static char* unmapped;  /* a page that is not mapped */
static char* edge;      /* the last byte of a mapped page followed by `unmapped` */

static void bad_set(int s, long level, long name, const void* val, long len, int want, int want2, const char* what) {
    expect_errno2(syscall(SYS_setsockopt, s, level, name, val, len), want, want2, what);
}
static void bad_get(int s, long level, long name, void* val, void* lenp, int want, int want2, const char* what) {
    expect_errno2(syscall(SYS_getsockopt, s, level, name, val, lenp), want, want2, what);
}

static void alive(int s, int type, const char* after) {
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l) < 0 || v != type) {
        fprintf(stderr, "FAIL: after %s: getsockopt(SO_TYPE) gave %d (%s)\n", after, v, strerror(errno));
        esc_leaks++;
    }
}

static void tricks(int s, int type) {
    int one = 1;
    socklen_t len = sizeof one;
    bad_set(s, SOL_SOCKET, SO_REUSEADDR, NULL, 4, EFAULT, 0, "setsockopt(optval NULL)");
    bad_set(s, SOL_SOCKET, SO_REUSEADDR, unmapped, 4, EFAULT, 0, "setsockopt(optval unmapped)");
    bad_set(s, SOL_SOCKET, SO_REUSEADDR, edge, 4, EFAULT, 0, "setsockopt(optval across the page end)");
    bad_set(s, SOL_SOCKET, SO_REUSEADDR, &one, -1, EINVAL, 0, "setsockopt(optlen -1)");
    bad_set(s, SOL_SOCKET, SO_REUSEADDR, &one, 0xffffffffL, EINVAL, 0, "setsockopt(optlen 0xffffffff)");
    bad_set(s, SOL_SOCKET, SO_REUSEADDR, unmapped, 0x7fffffffL, EINVAL, EFAULT, "setsockopt(unmapped, optlen 2^31-1)");
    bad_set(s, SOL_SOCKET, SO_REUSEADDR, &one, 0x100000004L, EINVAL, EFAULT, "setsockopt(optlen 0x1_00000004)");
    bad_set(s, 0xdead, 77, &one, 4, ENOPROTOOPT, EINVAL, "setsockopt(level 0xdead)");
    bad_set(s, SOL_SOCKET, -1, &one, 4, ENOPROTOOPT, EINVAL, "setsockopt(optname -1)");
    alive(s, type, "hostile setsockopt");
    bad_get(s, SOL_SOCKET, SO_TYPE, &one, NULL, EFAULT, 0, "getsockopt(optlen NULL)");
    bad_get(s, SOL_SOCKET, SO_TYPE, &one, unmapped, EFAULT, 0, "getsockopt(optlen unmapped)");
    bad_get(s, SOL_SOCKET, SO_TYPE, &one, edge, EFAULT, 0, "getsockopt(optlen across the page end)");
    len = sizeof one;
    bad_get(s, SOL_SOCKET, SO_TYPE, NULL, &len, EFAULT, 0, "getsockopt(optval NULL)");
    len = sizeof one;
    bad_get(s, SOL_SOCKET, SO_TYPE, unmapped, &len, EFAULT, 0, "getsockopt(optval unmapped)");
    len = sizeof one;
    bad_get(s, SOL_SOCKET, SO_TYPE, edge, &len, EFAULT, 0, "getsockopt(optval across the page end)");
    len = (socklen_t)-1;
    bad_get(s, SOL_SOCKET, SO_TYPE, &one, &len, EINVAL, 0, "getsockopt(*optlen -1)");
    len = 0x7fffffff;
    bad_get(s, SOL_SOCKET, SO_BINDTODEVICE, unmapped, &len, EFAULT, ENOPROTOOPT, "getsockopt(unmapped, *optlen 2^31-1)");
    len = sizeof one;
    bad_get(s, 0xdead, 77, &one, &len, ENOPROTOOPT, EOPNOTSUPP, "getsockopt(level 0xdead)");
    /* Big but legal: the kernel writes what the option holds and the length. */
    char big[4096];
    len = sizeof big;
    if (syscall(SYS_getsockopt, s, 0x100000000L | SOL_SOCKET, SO_TYPE, big, &len) == 0 && len != sizeof(int))
        note("getsockopt(SO_TYPE, 4096-byte buffer) wrote length %u", len);
    alive(s, type, "hostile getsockopt");
    /* The space's rules still apply after the abuse. */
    net_addr h = net_parse("127.0.0.1", net_port());
    if (type == SOCK_DGRAM)
        expect_errno(sendto(s, "leak", 4, 0, (const struct sockaddr*)&h.ss, h.len), ENETUNREACH, "sendto 127.0.0.1 afterwards");
    else
        expect_errno(connect(s, (const struct sockaddr*)&h.ss, h.len), ENETUNREACH, "connect 127.0.0.1 afterwards");
}

int main(void) {
    long page = sysconf(_SC_PAGESIZE);
    char* two = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(two + page, page);
    edge = two + page - 1;
    unmapped = two + page;
    int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), t = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (u < 0 || t < 0) { fprintf(stderr, "FAIL: socket: %s\n", strerror(errno)); return 2; }
    tricks(u, SOCK_DGRAM);
    tricks(t, SOCK_STREAM);
    net_addr peer = net_parse(env("ESC_PEER4"), 9);
    if (sendto(u, "ok", 2, 0, (const struct sockaddr*)&peer.ss, peer.len) != 2) {
        fprintf(stderr, "FAIL: sendto the tunnel peer afterwards: %s\n", strerror(errno));
        esc_leaks++;
    }
    return net_finish();
}
