/* Trick (audit): make the supervisor hold memory for us, sending. sendmsg is
 * trapped on every socket (it may carry an address or SCM_RIGHTS), and
 * handlers_socket.cpp send_one copies the whole message (up to 4 MiB) into
 * the supervisor before the send blocks in a worker (run_blocking). N
 * threads in a blocking 4 MiB sendmsg on a unix socketpair nobody reads pin
 * N x 4 MiB of the supervisor: 100 threads -> about 400 MB.
 *
 * argv[1]: threads (default 100). They block, the program hands over
 * ("check": the driver measures the supervisor then) and exits. */
#include <pthread.h>
#include <sys/uio.h>
#include <time.h>

#include "net.h"

static int pair[2];
static char big[4 << 20];

static void* sender(void* arg) {
    (void)arg;
    struct iovec v = {big, sizeof big};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    (void)sendmsg(pair[0], &m, 0);  /* blocks: nobody reads pair[1] */
    return NULL;
}

int main(int argc, char** argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
        fprintf(stderr, "FAIL: socketpair: %s\n", strerror(errno));
        return 2;
    }
    while (send(pair[0], big, 65536, MSG_DONTWAIT) > 0) {}  /* full */
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 64 << 10);
    int started = 0;
    for (; started < n; ++started) {
        pthread_t t;
        if (pthread_create(&t, &at, sender, NULL)) break;
        pthread_detach(t);
    }
    printf("blocked %d\n", started);
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    return net_finish();
}
