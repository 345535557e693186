/* Trick: the x32 numbers (nr | 0x40000000) of the socket calls, which a
 * filter keyed on the native numbers might let through to the host network:
 * socket, connect/sendto/sendmsg to 127.0.0.1 (where the driver listens),
 * socketpair(AF_INET). Each runs in a child that must be killed (SIGSYS). */
#include <sys/syscall.h>

#include "foreign_arch.h"
#include "net.h"

#define X32 0x40000000L

static net_addr host;
static int emulated = -1;

static long x32_socket(void* c) { (void)c; return syscall(X32 | SYS_socket, AF_INET, SOCK_STREAM, 0); }
static long x32_socket_raw(void* c) { (void)c; return syscall(X32 | SYS_socket, AF_PACKET, SOCK_RAW, 0x0300); }
static long x32_connect(void* c) { (void)c; return syscall(X32 | SYS_connect, emulated, &host.ss, (long)host.len); }
static long x32_sendto(void* c) {
    (void)c;
    return syscall(X32 | SYS_sendto, emulated, "leak", 4L, 0L, &host.ss, (long)host.len);
}
static long x32_sendmsg(void* c) {
    (void)c;
    struct iovec iov = {"leak", 4};
    struct msghdr m = {.msg_name = &host.ss, .msg_namelen = host.len, .msg_iov = &iov, .msg_iovlen = 1};
    return syscall(X32 | 518 /* x32 sendmsg */, emulated, &m, 0L);
}
static long x32_socketpair(void* c) {
    (void)c;
    int sv[2];
    return syscall(X32 | SYS_socketpair, AF_INET, SOCK_DGRAM, 0, sv);
}

int main(void) {
    host = net_parse("127.0.0.1", net_port());
    emulated = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    judge("x32 socket(AF_INET)", x32_socket, NULL);
    judge("x32 socket(AF_PACKET)", x32_socket_raw, NULL);
    judge("x32 connect(127.0.0.1)", x32_connect, NULL);
    judge("x32 sendto(127.0.0.1)", x32_sendto, NULL);
    judge("x32 sendmsg(127.0.0.1)", x32_sendmsg, NULL);
    judge("x32 socketpair(AF_INET)", x32_socketpair, NULL);
    return net_finish();
}
