/* Trick (audit): lifecycle games with emulated sockets, each of which must
 * leave the supervisor answering and the host unreachable:
 *   - connect twice on a connecting socket, then listen/shutdown/accept on it,
 *     fork while it connects (the child connects again and exits);
 *   - a blocking connect, accept and recvfrom in threads whose descriptor
 *     another thread closes or dup2()s a unix socket over meanwhile;
 *   - a listening socket's bridge written to until full and read natively
 *     (where the accept bytes are), then accept;
 *   - an emulated socket passed to ourselves over SCM_RIGHTS with the
 *     original closed while in flight;
 *   - thousands of sockets opened and closed, twice;
 *   - SO_RCVTIMEO/SO_SNDTIMEO huge and negative;
 *   - accept4 with bad flags, listen with negative backlogs.
 * "Answering" is checked after each game: a fresh socket's sendto 127.0.0.1
 * fails with ENETUNREACH (ENOSYS there means the supervisor died). */
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>

#include "net.h"

static net_addr peer, host;

static void nap_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void answering(const char* after) {
    int t = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (t < 0) {
        if (errno == ENOSYS) leak("after %s: socket() gives ENOSYS: the supervisor is gone", after);
        else fprintf(stderr, "FAIL: after %s: socket: %s\n", after, strerror(errno)), esc_leaks++;
        return;
    }
    long r = sendto(t, "leak", 4, 0, (struct sockaddr*)&host.ss, host.len);
    if (r < 0 && errno == ENOSYS) leak("after %s: sendto gives ENOSYS: the supervisor is gone", after);
    else expect_errno2(r, ENETUNREACH, 0, "sendto 127.0.0.1");
    close(t);
}

static void game_connecting(void) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    long r = connect(s, (struct sockaddr*)&peer.ss, peer.len);
    if (!(r < 0 && errno == EINPROGRESS)) note("connect to the peer: %ld %s", r, strerror(errno));
    expect_errno2(connect(s, (struct sockaddr*)&peer.ss, peer.len), EALREADY, EINPROGRESS, "second connect");
    expect_errno2(connect(s, (struct sockaddr*)&host.ss, host.len), ENETUNREACH, 0, "connect 127.0.0.1 while connecting");
    expect_errno2(listen(s, 5), EINVAL, 0, "listen while connecting");
    expect_errno2(accept(s, NULL, NULL), EINVAL, 0, "accept while connecting");
    expect_errno2(shutdown(s, SHUT_RDWR), ENOTCONN, 0, "shutdown while connecting");
    char big[65536] = {0};
    r = send(s, big, sizeof big, MSG_DONTWAIT);  /* the gate: nothing fits yet */
    if (r >= 0) note("send while connecting took %ld bytes", r);
    pid_t pid = fork();
    if (pid == 0) {
        expect_errno2(connect(s, (struct sockaddr*)&peer.ss, peer.len), EALREADY, EINPROGRESS, "connect in the child");
        _exit(esc_leaks ? 1 : 0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) fprintf(stderr, "FAIL: forked child: status %d\n", st), esc_leaks++;
    close(s);
    answering("the connecting games");
}

struct blocked {
    int fd;
    int kind;  /* 0 connect, 1 accept, 2 recvfrom */
};

static void* blocker(void* arg) {
    struct blocked* b = arg;
    struct sockaddr_storage ss;
    socklen_t l = sizeof ss;
    char buf[64];
    if (b->kind == 0) (void)connect(b->fd, (struct sockaddr*)&peer.ss, peer.len);
    else if (b->kind == 1) (void)accept(b->fd, (struct sockaddr*)&ss, &l);
    else (void)recvfrom(b->fd, buf, sizeof buf, 0, (struct sockaddr*)&ss, &l);
    return NULL;
}

/* A thread blocks in a call; meanwhile its descriptor is closed (how 0) or
 * replaced by a unix socket (how 1). The call may stay blocked, as on Linux:
 * the thread is left behind (the process ends with exit_group). */
static void game_pulled(int kind, int how) {
    static struct blocked b[8];
    static int n;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (kind == 1) listen(s, 4);
    b[n] = (struct blocked){s, kind};
    pthread_t t;
    pthread_create(&t, NULL, blocker, &b[n++]);
    pthread_detach(t);
    nap_ms(50);
    if (how == 0) {
        close(s);
    } else {
        int u[2];
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, u);
        dup2(u[0], s);
        close(u[0]);
        close(u[1]);
    }
    answering(kind == 0 ? "pulling a connecting socket" : kind == 1 ? "pulling a listener" : "pulling a receiver");
}

static void game_listener_bridge(void) {
    int l = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen(l, 16) < 0) fprintf(stderr, "FAIL: listen: %s\n", strerror(errno)), esc_leaks++;
    char junk[4096] = {0};
    long total = 0, r;
    while ((r = write(l, junk, sizeof junk)) > 0 && total < (64L << 20)) total += r;
    char byte;
    r = read(l, &byte, 1);  /* the accept bytes: none, nobody connected */
    if (r > 0) note("read %ld byte(s) from a listener", r);
    expect_errno2(accept(l, NULL, NULL), EAGAIN, 0, "accept on a listener with its bridge full");
    expect_errno2(accept4(l, NULL, NULL, 0x40000000), EINVAL, 0, "accept4 with bad flags");
    if (listen(l, -5) < 0) fprintf(stderr, "FAIL: listen(-5) again: %s\n", strerror(errno)), esc_leaks++;
    if (listen(l, INT_MAX) < 0) fprintf(stderr, "FAIL: listen(INT_MAX) again: %s\n", strerror(errno)), esc_leaks++;
    close(l);
    answering("the listener's bridge games");
}

static void game_in_flight(void) {
    int u[2];
    socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, u);
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage before;
    socklen_t bl = sizeof before;
    getsockname(s, (struct sockaddr*)&before, &bl);
    char c = 'x';
    struct iovec iov = {&c, 1};
    union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
    struct cmsghdr* h = CMSG_FIRSTHDR(&m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(h), &s, sizeof s);
    if (sendmsg(u[0], &m, 0) != 1) fprintf(stderr, "FAIL: SCM_RIGHTS send: %s\n", strerror(errno)), esc_leaks++;
    close(s);
    nap_ms(2500);  /* the supervisor's collection round (2 s) passes while it is in flight */
    memset(&ctl, 0, sizeof ctl);
    m.msg_controllen = sizeof ctl.b;
    if (recvmsg(u[1], &m, 0) != 1 || !CMSG_FIRSTHDR(&m)) {
        fprintf(stderr, "FAIL: SCM_RIGHTS receive: %s\n", strerror(errno)), esc_leaks++;
        return;
    }
    int back;
    memcpy(&back, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof back);
    expect_errno2(sendto(back, "leak", 4, 0, (struct sockaddr*)&host.ss, host.len), ENETUNREACH, 0,
                  "sendto 127.0.0.1 on the socket back from flight");
    int type = 0;
    socklen_t tl = sizeof type;
    if (getsockopt(back, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_DGRAM)
        note("socket back from flight: SO_TYPE %d (%s)", type, strerror(errno));
    close(back);
    close(u[0]);
    close(u[1]);
    answering("SCM_RIGHTS flight");
}

static void game_many(void) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max > 8192 ? 8192 : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    static int fds[8192];
    for (int round = 0; round < 2; ++round) {
        int n = 0;
        while (n < (int)rl.rlim_cur - 32) {
            int s = socket(n & 1 ? AF_INET6 : AF_INET, (n & 2 ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
            if (s < 0) {
                if (errno == ENOSYS) leak("socket() gives ENOSYS: the supervisor is gone");
                break;
            }
            if (n % 4 == 0) listen(s, 1);
            fds[n++] = s;
        }
        for (int i = 0; i < n; ++i) close(fds[i]);
        nap_ms(100);
    }
    answering("thousands of sockets");
}

static void game_timeouts(void) {
    struct timeval vals[] = {{LONG_MAX, 0}, {LONG_MAX / 1000 - 10, 0}, {-1, 0}, {0, -1}, {0, 999999}, {-LONG_MAX, 0}};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; ++i) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        (void)setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &vals[i], sizeof vals[i]);
        (void)setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &vals[i], sizeof vals[i]);
        struct timeval one = {0, 1000};  /* then a short one: the call must come back */
        if (vals[i].tv_sec < 0 || vals[i].tv_usec < 0 || vals[i].tv_sec > 1000) {
            setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &one, sizeof one);
            struct sockaddr_storage ss;
            socklen_t l = sizeof ss;
            char buf[8];
            expect_errno2(recvfrom(s, buf, sizeof buf, 0, (struct sockaddr*)&ss, &l), EAGAIN, 0,
                          "recvfrom with a 1 ms timeout");
        }
        close(s);
    }
    answering("timeout games");
}

int main(int argc, char** argv) {
    peer = net_parse(env("ESC_PEER4"), 9);
    host = net_parse("127.0.0.1", net_port());
    const char* only = argc > 1 ? argv[1] : "";
    if (!*only || !strcmp(only, "connecting")) game_connecting();
    if (!*only || !strcmp(only, "pulled"))
        for (int kind = 0; kind < 3; ++kind)
            for (int how = 0; how < 2; ++how) game_pulled(kind, how);
    if (!*only || !strcmp(only, "listener")) game_listener_bridge();
    if (!*only || !strcmp(only, "flight")) game_in_flight();
    if (!*only || !strcmp(only, "many")) game_many();
    if (!*only || !strcmp(only, "timeouts")) game_timeouts();
    return net_finish();
}
