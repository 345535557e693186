/* Trick: the other direction. The program listens (TCP) and binds (UDP) on
 * port ESC_IN_PORT of 0.0.0.0 and :: in its own stack; while it waits in
 * net_handover() the driver connects and sends to that port on the host's
 * 127.0.0.1 and ::1. Nothing from the host may arrive: the space's ports
 * are its own (invariants 5 and 6). */
#include "net.h"

static int open_bound(int fam, int type, int port) {
    net_addr a = net_parse(fam == AF_INET ? "0.0.0.0" : "::", port);
    int s = socket(fam, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
    if (s < 0) {
        fprintf(stderr, "FAIL: socket inside: %s\n", strerror(errno));
        exit(2);
    }
    if (fam == AF_INET6 && setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
        note("IPV6_V6ONLY: %s", strerror(errno));
    if (bind(s, (const struct sockaddr*)&a.ss, a.len) < 0) {
        if (fam == AF_INET6 && errno == EADDRINUSE) {
            /* The emulation has no IPV6_V6ONLY: "::" shares the port with 0.0.0.0. */
            note("%s port %d: in use after 0.0.0.0 (no IPV6_V6ONLY): only the IPv4 wildcard listens", a.text, port);
            close(s);
            return -1;
        }
        fprintf(stderr, "FAIL: bind %s port %d inside: %s\n", a.text, port, strerror(errno));
        exit(2);
    }
    if (type == SOCK_STREAM && listen(s, 16) < 0) {
        fprintf(stderr, "FAIL: listen %s port %d inside: %s\n", a.text, port, strerror(errno));
        exit(2);
    }
    return s;
}

int main(void) {
    int port = (int)env_ul("ESC_IN_PORT");
    int socks[4] = {open_bound(AF_INET, SOCK_STREAM, port), open_bound(AF_INET, SOCK_DGRAM, port),
                    open_bound(AF_INET6, SOCK_STREAM, port), open_bound(AF_INET6, SOCK_DGRAM, port)};
    static const char* kinds[] = {"tcp 0.0.0.0", "udp 0.0.0.0", "tcp ::", "udp ::"};
    printf("listening %d\n", port);
    net_handover();
    for (int k = 0; k < 4; ++k) {
        char buf[64];
        if (socks[k] < 0) continue;
        int got = k % 2 == 0 ? accept4(socks[k], NULL, NULL, SOCK_CLOEXEC) : (int)recv(socks[k], buf, sizeof buf, MSG_DONTWAIT);
        if (got >= 0) leak("%s port %d inside got a connection or datagram from the host", kinds[k], port);
    }
    return finish();
}
