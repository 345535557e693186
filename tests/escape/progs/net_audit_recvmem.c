/* Trick (audit): make the supervisor hold memory for us. A blocking
 * recvfrom/recvmsg with an address on an emulated TCP socket is served by a
 * fiber that allocates (and zero-fills) min(len, 4 MiB) *before* it waits
 * (handlers_net.cpp receive()). N threads blocked on a socket that never
 * receives anything (here: unconnected, so forever) pin N x 4 MiB of the
 * supervisor's memory while costing us a small stack each: 300 threads ->
 * about 1.2 GB resident in the supervisor, outside any limit of the space.
 *
 * argv[1]: threads (default 256). The program blocks them, hands over
 * ("check": the driver measures the supervisor's resident memory then), and
 * exits (the blocked threads die with it). */
#include <pthread.h>
#include <time.h>

#include "net.h"

static int sock;

static void* receiver(void* arg) {
    (void)arg;
    static char buf[16];
    struct sockaddr_storage ss;
    socklen_t l = sizeof ss;
    (void)recvfrom(sock, buf, 1UL << 30, 0, (struct sockaddr*)&ss, &l);  /* blocks: nothing ever arrives */
    return NULL;
}

int main(int argc, char** argv) {
    int n = argc > 1 ? atoi(argv[1]) : 256;
    sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        fprintf(stderr, "FAIL: socket: %s\n", strerror(errno));
        return 2;
    }
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, 64 << 10);
    int started = 0;
    for (; started < n; ++started) {
        pthread_t t;
        if (pthread_create(&t, &at, receiver, NULL)) break;
        pthread_detach(t);
    }
    printf("blocked %d\n", started);
    struct timespec ts = {1, 0};  /* let every thread reach its call */
    nanosleep(&ts, NULL);
    return net_finish();
}
