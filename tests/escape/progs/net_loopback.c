/* Trick: reach the host through an emulated socket: TCP connect, UDP
 * connect/sendto/sendmsg/sendmmsg to 127.0.0.1, ::1, ::ffff:127.0.0.1, the
 * wildcards and the host's own addresses (the driver listens at all of them),
 * on fresh and on peer-connected sockets; with the argument "tcp-sendto":
 * sendto with a destination on an unconnected TCP socket, with and without
 * MSG_FASTOPEN (which connects on Linux). Each must fail (ENETUNREACH). Control: a datagram to the tunnel peer is
 * accepted, so the refusals are the space's rule, not a dead stack. */
#include "net.h"

static void udp_tricks(const net_addr* t, const net_addr* peer) {
    char what[160];
    int fam = t->ss.ss_family;
    int s = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) { fprintf(stderr, "FAIL: socket: %s\n", strerror(errno)); exit(2); }
    snprintf(what, sizeof what, "udp sendto %s", t->text);
    expect_errno(sendto(s, "leak", 4, 0, (const struct sockaddr*)&t->ss, t->len), ENETUNREACH, what);
    struct iovec iov = {"leak", 4};
    struct msghdr m = {.msg_name = (void*)&t->ss, .msg_namelen = t->len, .msg_iov = &iov, .msg_iovlen = 1};
    snprintf(what, sizeof what, "udp sendmsg %s", t->text);
    expect_errno(sendmsg(s, &m, 0), ENETUNREACH, what);
    struct mmsghdr mm[2];
    memset(mm, 0, sizeof mm);
    mm[0].msg_hdr = m;
    mm[1].msg_hdr = m;
    snprintf(what, sizeof what, "udp sendmmsg %s", t->text);
    expect_errno(sendmmsg(s, mm, 2, 0), ENETUNREACH, what);
    /* The second entry aims at the host after a legitimate first one. */
    if (peer && peer->ss.ss_family == fam) {
        mm[0].msg_hdr.msg_name = (void*)&peer->ss;
        mm[0].msg_hdr.msg_namelen = peer->len;
        int r = sendmmsg(s, mm, 2, 0);
        if (r != 1) {
            if (r == 2) leak("udp sendmmsg [peer, %s] sent both", t->text);
            else fprintf(stderr, "FAIL: sendmmsg [peer, %s] returned %d (%s), expected 1\n", t->text, r, strerror(errno)), esc_leaks++;
        }
        /* Connected to the peer, then an explicit host address. */
        if (connect(s, (const struct sockaddr*)&peer->ss, peer->len) < 0)
            note("udp connect to the peer: %s", strerror(errno));
        snprintf(what, sizeof what, "udp (connected to the peer) sendto %s", t->text);
        expect_errno(sendto(s, "leak", 4, 0, (const struct sockaddr*)&t->ss, t->len), ENETUNREACH, what);
    }
    snprintf(what, sizeof what, "udp connect %s", t->text);
    expect_errno(connect(s, (const struct sockaddr*)&t->ss, t->len), ENETUNREACH, what);
    close(s);
}

static void tcp_tricks(const net_addr* t) {
    char what[160];
    int s = socket(t->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) { fprintf(stderr, "FAIL: socket: %s\n", strerror(errno)); exit(2); }
    snprintf(what, sizeof what, "tcp connect %s", t->text);
    expect_errno(connect(s, (const struct sockaddr*)&t->ss, t->len), ENETUNREACH, what);
    close(s);
    s = socket(t->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    snprintf(what, sizeof what, "tcp nonblocking connect %s", t->text);
    expect_errno(connect(s, (const struct sockaddr*)&t->ss, t->len), ENETUNREACH, what);
    close(s);
}

/* A destination on an unconnected TCP socket: with MSG_FASTOPEN Linux
 * connects and sends; without it the send fails (EPIPE). In a portspace both
 * must fail with ENETUNREACH. */
static void tcp_sendto_tricks(const net_addr* t) {
    char what[160];
    static const int flags[] = {MSG_FASTOPEN, 0};
    for (int i = 0; i < 2; ++i) {
        int s = socket(t->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        snprintf(what, sizeof what, "unconnected tcp sendto(%s) %s", flags[i] ? "MSG_FASTOPEN" : "0", t->text);
        expect_errno(sendto(s, "leak", 4, flags[i] | MSG_NOSIGNAL, (const struct sockaddr*)&t->ss, t->len), ENETUNREACH,
                     what);
        close(s);
    }
}

int main(int argc, char** argv) {
    int fastopen = argc > 1 && strcmp(argv[1], "tcp-sendto") == 0;
    net_addr peer4 = net_parse(env("ESC_PEER4"), 9), peer6 = net_parse(env("ESC_PEER6"), 9);
    net_addr t[64];
    int n = net_host_targets(t, 64);
    for (int i = 0; i < n; ++i) {
        if (fastopen) {
            tcp_sendto_tricks(&t[i]);
            continue;
        }
        udp_tricks(&t[i], t[i].ss.ss_family == AF_INET ? &peer4 : &peer6);
        tcp_tricks(&t[i]);
    }
    /* Control: the peer is reachable (a datagram is accepted by the stack). */
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sendto(s, "ok", 2, 0, (const struct sockaddr*)&peer4.ss, peer4.len) != 2) {
        fprintf(stderr, "FAIL: control: sendto the tunnel peer %s: %s\n", peer4.text, strerror(errno));
        return 2;
    }
    close(s);
    printf("targets %d\n", n);
    return net_finish();
}
