/* Trick (audit): calls on an emulated UDP socket after the supervisor retired
 * it while we still hold it. shutdown(SHUT_RDWR) on a connected UDP socket
 * hangs up both directions of the bridge; the pump sees EPOLLHUP on its end,
 * takes it for "the space closed it" and retires the socket (udp_pcb freed,
 * upcb = NULL), but the descriptor is still ours. getsockname, bind,
 * connect and sendto then reach SocketEngine code that dereferences the
 * missing pcb (sockets.cpp: sockname's s->upcb->local_ip, bind's
 * s->upcb->local_port, udp_connect/udp_sendto(NULL)).
 *
 * The supervisor must keep answering: each call fails cleanly (or works),
 * and afterwards a fresh socket still gets ENETUNREACH for the host and its
 * getsockname answered. If the supervisor died, the filter's notifications
 * fail with ENOSYS: that is what this program detects.
 *
 * argv[1]: the call to try after the retirement: sockname, bind, connect,
 * unspec (connect AF_UNSPEC), sendto. */
#include <poll.h>
#include <time.h>

#include "net.h"

static int supervisor_gone(long r, const char* what) {
    if (r < 0 && errno == ENOSYS) {
        leak("%s: ENOSYS, the supervisor is gone (crashed)", what);
        return 1;
    }
    return 0;
}

static void nap_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char** argv) {
    const char* what = argc > 1 ? argv[1] : "sockname";
    net_addr peer = net_parse(env("ESC_PEER4"), 7);
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0) {
        fprintf(stderr, "FAIL: socket: %s\n", strerror(errno));
        return 2;
    }
    if (connect(s, (struct sockaddr*)&peer.ss, peer.len) < 0) {
        fprintf(stderr, "FAIL: connect to the peer: %s\n", strerror(errno));
        return 2;
    }
    if (shutdown(s, SHUT_RDWR) < 0) {
        fprintf(stderr, "FAIL: shutdown: %s\n", strerror(errno));
        return 2;
    }
    /* The pump retires the socket when it sees the hang-up: give it a moment,
     * then try the call repeatedly (the outcome does not depend on when). */
    for (int i = 0; i < 20 && !esc_leaks; ++i) {
        nap_ms(25);
        struct sockaddr_storage ss;
        socklen_t l = sizeof ss;
        long r = 0;
        if (!strcmp(what, "sockname")) {
            r = getsockname(s, (struct sockaddr*)&ss, &l);
        } else if (!strcmp(what, "bind")) {
            struct sockaddr_in a = {.sin_family = AF_INET};
            r = bind(s, (struct sockaddr*)&a, sizeof a);
        } else if (!strcmp(what, "connect")) {
            r = connect(s, (struct sockaddr*)&peer.ss, peer.len);
        } else if (!strcmp(what, "unspec")) {
            struct sockaddr sa = {.sa_family = AF_UNSPEC};
            r = connect(s, &sa, sizeof sa);
        } else if (!strcmp(what, "sendto")) {
            r = sendto(s, "x", 1, 0, (struct sockaddr*)&peer.ss, peer.len);
        } else {
            fprintf(stderr, "FAIL: unknown call '%s'\n", what);
            return 2;
        }
        supervisor_gone(r, what);
    }
    /* Still served? A new socket, the host refused, its name answered. */
    int t = socket(AF_INET, SOCK_DGRAM, 0);
    if (!supervisor_gone(t, "socket after")) {
        net_addr host = net_parse("127.0.0.1", net_port());
        long r = sendto(t, "leak", 4, 0, (struct sockaddr*)&host.ss, host.len);
        if (!supervisor_gone(r, "sendto 127.0.0.1 after")) expect_errno2(r, ENETUNREACH, 0, "udp sendto 127.0.0.1 after");
        struct sockaddr_storage ss;
        socklen_t l = sizeof ss;
        r = getsockname(t, (struct sockaddr*)&ss, &l);
        if (!supervisor_gone(r, "getsockname after") && r < 0)
            fprintf(stderr, "FAIL: getsockname on a fresh socket: %s\n", strerror(errno)), esc_leaks++;
    }
    if (esc_leaks) return finish();  /* the handover needs a live supervisor for nothing, but stay short */
    return net_finish();
}
