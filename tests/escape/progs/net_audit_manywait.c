/* Trick (audit): hang the supervisor with waiters. Every blocking emulated
 * call (recvfrom with an address, accept, connect...) waits in a fiber that
 * adds its duplicate of the socket to one epoll set (Fibers::wait_fd), and
 * that set is itself watched by the main loop's epoll. The kernel bounds the
 * wakeup paths of one file through nested epolls (500 at depth 1): past
 * about 500 waiters on the same socket EPOLL_CTL_ADD fails with EINVAL,
 * wait_fd falls back to poll(0) and reports POLLERR, wait_ready takes that
 * for "ready", recv says EAGAIN, and the fiber spins without ever yielding:
 * the supervisor's loop stops, every trapped call of the space (and new
 * threads, and SIGTERM to hsbox) waits until the spinning call's thread dies.
 * A UDP server with a 600-thread pool in recvfrom does this unawares.
 *
 * argv[1]: threads (default 600). After they block, a trapped call must be
 * answered: alarm(20) without SA_RESTART turns a stall into EINTR. */
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "net.h"

static int sock;

static void* receiver(void* arg) {
    (void)arg;
    char buf[16];
    struct sockaddr_storage ss;
    socklen_t l = sizeof ss;
    (void)recvfrom(sock, buf, sizeof buf, 0, (struct sockaddr*)&ss, &l);  /* nothing ever arrives */
    return NULL;
}

static void on_alarm(int sig) { (void)sig; }

int main(int argc, char** argv) {
    int n = argc > 1 ? atoi(argv[1]) : 600;
    sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int probe = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0 || probe < 0) {
        fprintf(stderr, "FAIL: socket: %s\n", strerror(errno));
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;  /* no SA_RESTART: a stalled call comes back with EINTR */
    sigaction(SIGALRM, &sa, NULL);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 64 << 10);
    alarm(40);  /* thread creation itself stalls once the supervisor spins */
    int started = 0;
    for (; started < n; ++started) {
        pthread_t t;
        if (pthread_create(&t, &at, receiver, NULL)) break;
        pthread_detach(t);
    }
    alarm(0);
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    alarm(20);
    struct sockaddr_storage ss;
    socklen_t l = sizeof ss;
    long r = getsockname(probe, (struct sockaddr*)&ss, &l);
    int e = errno;
    alarm(0);
    printf("threads %d\n", started);
    if (started < n) leak("only %d of %d threads started: the supervisor stopped serving", started, n);
    if (r < 0 && e == EINTR) leak("getsockname was not answered in 20 s with %d waiters: the supervisor hangs", started);
    else if (r < 0) fprintf(stderr, "FAIL: getsockname: %s\n", strerror(e)), esc_leaks++;
    return net_finish();
}
