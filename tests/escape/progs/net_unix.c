/* Trick: an IP address on a socket the kernel made: socketpair(AF_UNIX) and
 * plain AF_UNIX sockets given an AF_INET/AF_INET6 destination by connect,
 * sendto, sendmsg and sendmmsg; and socketpair(AF_INET/AF_INET6), which
 * would be a kernel IP socket. All must fail: ENETUNREACH (the supervisor's
 * answer) or EAFNOSUPPORT; nothing may reach the driver's host listeners. */
#include "net.h"

static void aim(int s, const net_addr* t, const char* kind) {
    char what[160];
    snprintf(what, sizeof what, "%s sendto %s", kind, t->text);
    expect_errno2(sendto(s, "leak", 4, MSG_DONTWAIT, (const struct sockaddr*)&t->ss, t->len), ENETUNREACH, EAFNOSUPPORT, what);
    struct iovec iov = {"leak", 4};
    struct msghdr m = {.msg_name = (void*)&t->ss, .msg_namelen = t->len, .msg_iov = &iov, .msg_iovlen = 1};
    snprintf(what, sizeof what, "%s sendmsg %s", kind, t->text);
    expect_errno2(sendmsg(s, &m, MSG_DONTWAIT), ENETUNREACH, EAFNOSUPPORT, what);
    struct mmsghdr mm = {.msg_hdr = m};
    snprintf(what, sizeof what, "%s sendmmsg %s", kind, t->text);
    expect_errno2(sendmmsg(s, &mm, 1, MSG_DONTWAIT), ENETUNREACH, EAFNOSUPPORT, what);
    snprintf(what, sizeof what, "%s connect %s", kind, t->text);
    expect_errno2(connect(s, (const struct sockaddr*)&t->ss, t->len), ENETUNREACH, EAFNOSUPPORT, what);
}

int main(void) {
    net_addr t[64];
    int n = net_host_targets(t, 64);
    static const int types[] = {SOCK_DGRAM, SOCK_STREAM, SOCK_SEQPACKET};
    static const char* names[] = {"unix dgram", "unix stream", "unix seqpacket"};
    for (int k = 0; k < 3; ++k) {
        int sv[2];
        if (socketpair(AF_UNIX, types[k] | SOCK_CLOEXEC, 0, sv) < 0) {
            fprintf(stderr, "FAIL: socketpair(AF_UNIX): %s\n", strerror(errno));
            return 2;
        }
        char kind[64];
        snprintf(kind, sizeof kind, "socketpair %s", names[k]);
        for (int i = 0; i < n; ++i) aim(sv[0], &t[i], kind);
        close(sv[0]);
        close(sv[1]);
        int s = socket(AF_UNIX, types[k] | SOCK_CLOEXEC, 0);
        for (int i = 0; i < n; ++i) aim(s, &t[i], names[k]);
        close(s);
    }
    int sv[2];
    expect_fail(socketpair(AF_INET, SOCK_STREAM, 0, sv), 0, "socketpair(AF_INET, SOCK_STREAM)");
    expect_fail(socketpair(AF_INET, SOCK_DGRAM, 0, sv), 0, "socketpair(AF_INET, SOCK_DGRAM)");
    expect_fail(socketpair(AF_INET6, SOCK_DGRAM, 0, sv), 0, "socketpair(AF_INET6, SOCK_DGRAM)");
    return net_finish();
}
