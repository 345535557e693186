/* Trick: the descriptor changes under the supervisor. A thread dup2()s a
 * unix socket and an emulated IP socket (UDP, then nonblocking TCP) onto the
 * same fd number while the main thread calls connect and sendto on that
 * number towards 127.0.0.1/::1 (where the driver listens). Whatever object
 * the supervisor sees, the call must fail (ENETUNREACH, or EAFNOSUPPORT) and
 * nothing may reach the host. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "net.h"

#define RACE_FD 100

static int objs[2];
static atomic_int stop;

static void* swapper(void* arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        dup2(objs[0], RACE_FD);
        dup2(objs[1], RACE_FD);
    }
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void race(int type, const net_addr* host, double seconds, const char* what) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0) { perror("socketpair"); exit(2); }
    objs[0] = sv[0];
    objs[1] = socket(host->ss.ss_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (objs[1] < 0) { fprintf(stderr, "FAIL: emulated socket: %s\n", strerror(errno)); exit(2); }
    atomic_store(&stop, 0);
    pthread_t th;
    pthread_create(&th, NULL, swapper, NULL);
    long calls = 0, unreach = 0, afno = 0, other = 0;
    int first_other = 0;
    double end = now() + seconds;
    while (now() < end) {
        long r = (calls & 1) ? sendto(RACE_FD, "race", 4, MSG_DONTWAIT, (const struct sockaddr*)&host->ss, host->len)
                             : connect(RACE_FD, (const struct sockaddr*)&host->ss, host->len);
        calls++;
        if (r >= 0) {
            leak("%s: call %ld on the swapped fd succeeded", what, calls);
            break;
        }
        if (errno == ENETUNREACH) unreach++;
        else if (errno == EAFNOSUPPORT) afno++;
        else if (other++ == 0) first_other = errno;
    }
    atomic_store(&stop, 1);
    pthread_join(th, NULL);
    close(RACE_FD);
    close(objs[1]);
    close(sv[0]);
    close(sv[1]);
    printf("%s: %ld calls, %ld ENETUNREACH, %ld EAFNOSUPPORT, %ld other\n", what, calls, unreach, afno, other);
    if (other) note("%s: %ld calls failed with another errno, the first: %s", what, other, strerror(first_other));
}

int main(int argc, char** argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    int port = net_port();
    net_addr h4 = net_parse("127.0.0.1", port), h6 = net_parse("::1", port);
    race(SOCK_DGRAM, &h4, seconds, "udp/unix v4");
    race(SOCK_STREAM, &h4, seconds, "tcp/unix v4");
    race(SOCK_DGRAM, &h6, seconds, "udp/unix v6");
    return net_finish();
}
