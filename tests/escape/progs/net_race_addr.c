/* Trick (invariant 4): a thread flips the destination sockaddr in memory
 * between the tunnel peer and the host's 127.0.0.1/::1 (where the driver
 * listens) while the main thread sends and connects in a loop: UDP sendto,
 * UDP sendmsg (the msghdr's name), TCP nonblocking connect. A supervisor that
 * checked one copy and used another would deliver to the host. The counts
 * show both addresses were seen (peer: accepted, host: ENETUNREACH). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "net.h"

static struct sockaddr_storage shared;   /* what the calls read */
static struct sockaddr_storage good, bad;
static atomic_int stop;

static void* flipper(void* arg) {
    (void)arg;
    volatile unsigned long* dst = (volatile unsigned long*)&shared;
    const unsigned long* g = (const unsigned long*)&good;
    const unsigned long* b = (const unsigned long*)&bad;
    while (!atomic_load(&stop)) {
        for (size_t i = 0; i < sizeof shared / sizeof *dst; ++i) dst[i] = g[i];
        for (size_t i = 0; i < sizeof shared / sizeof *dst; ++i) dst[i] = b[i];
    }
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* mode: 0 sendto, 1 sendmsg, 2 tcp connect. */
static void race(const net_addr* peer, const net_addr* host, int mode, double seconds, const char* what) {
    memcpy(&good, &peer->ss, sizeof good);
    memcpy(&bad, &host->ss, sizeof bad);
    memcpy(&shared, &good, sizeof shared);
    atomic_store(&stop, 0);
    pthread_t th;
    pthread_create(&th, NULL, flipper, NULL);
    socklen_t len = peer->len;
    long ok = 0, unreach = 0, other = 0;
    int s = mode == 2 ? -1 : socket(peer->ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    double end = now() + seconds;
    while (now() < end) {
        long r;
        if (mode == 0) {
            r = sendto(s, "race", 4, 0, (const struct sockaddr*)&shared, len);
        } else if (mode == 1) {
            struct iovec iov = {"race", 4};
            struct msghdr m = {.msg_name = &shared, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1};
            r = sendmsg(s, &m, 0);
        } else {
            s = socket(peer->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            r = connect(s, (const struct sockaddr*)&shared, len);
            if (r < 0 && errno == EINPROGRESS) r = 0;
            close(s);
        }
        if (r >= 0) ok++;
        else if (errno == ENETUNREACH) unreach++;
        else other++;
    }
    atomic_store(&stop, 1);
    pthread_join(th, NULL);
    if (mode != 2) close(s);
    printf("%s: %ld accepted (peer), %ld ENETUNREACH (host), %ld other\n", what, ok, unreach, other);
    if (!ok || !unreach) note("%s: the race did not see both addresses", what);
}

int main(int argc, char** argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    int port = net_port();
    net_addr p4 = net_parse(env("ESC_PEER4"), port), p6 = net_parse(env("ESC_PEER6"), port);
    net_addr h4 = net_parse("127.0.0.1", port), h6 = net_parse("::1", port);
    race(&p4, &h4, 0, seconds, "udp sendto v4");
    race(&p6, &h6, 0, seconds, "udp sendto v6");
    race(&p4, &h4, 1, seconds, "udp sendmsg v4");
    race(&p4, &h4, 2, seconds, "tcp connect v4");
    race(&p6, &h6, 2, seconds, "tcp connect v6");
    return net_finish();
}
