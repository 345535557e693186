/* Trick: unix sockets by path. The driver listens on /sock/outer.sock and
 * has a datagram socket on /sock/outer.dgram (both in a directory of the
 * root, bound outside the space): connecting and sending must fail with
 * ECONNREFUSED. A socket bound inside the space must work. */
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "escape.h"

static struct sockaddr_un addr(const char* path) {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    return a;
}

int main(void) {
    const char* outside = OUTSIDE;
    char hostpath[200];
    snprintf(hostpath, sizeof hostpath, "%s/outer.sock", outside);
    const char* stream_targets[] = {"/sock/outer.sock", "sock/outer.sock", "/sock_link/outer.sock", hostpath,
                                    "/proc/self/root/sock/outer.sock"};
    for (size_t i = 0; i < sizeof stream_targets / sizeof *stream_targets; ++i) {
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un a = addr(stream_targets[i]);
        int r = connect(s, (struct sockaddr*)&a, sizeof a);
        char what[300];
        snprintf(what, sizeof what, "connect(%s)", stream_targets[i]);
        if (i == 0) expect_errno(r, ECONNREFUSED, what);
        else expect_fail(r, 0, what);
        close(s);
    }
    /* Datagrams by address: sendto and sendmsg. */
    int d = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un da = addr("/sock/outer.dgram");
    expect_errno(sendto(d, "leak", 4, 0, (struct sockaddr*)&da, sizeof da), ECONNREFUSED, "sendto(/sock/outer.dgram)");
    struct iovec iov = {"leak", 4};
    struct msghdr mh = {.msg_name = &da, .msg_namelen = sizeof da, .msg_iov = &iov, .msg_iovlen = 1};
    expect_errno(sendmsg(d, &mh, 0), ECONNREFUSED, "sendmsg(/sock/outer.dgram)");
    expect_fail(connect(d, (struct sockaddr*)&da, sizeof da), ECONNREFUSED, "connect(dgram)");
    close(d);

    /* Binding through a link that leads out must not create a socket outside. */
    const char* out_binds[] = {"/sock_link/created.sock", "/abs_dir/created.sock", "/rel_dir/created.sock"};
    for (size_t i = 0; i < sizeof out_binds / sizeof *out_binds; ++i) {
        int b = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un ba = addr(out_binds[i]);
        if (bind(b, (struct sockaddr*)&ba, sizeof ba) == 0) {
            struct stat st;
            char host[300];
            snprintf(host, sizeof host, "%s/created.sock", outside);
            if (stat(host, &st) == 0) leak("bind(%s) created a socket in the outside dir", out_binds[i]);
        }
        close(b);
    }

    /* Inside: bind, listen, connect, exchange a byte. */
    int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un ia = addr("/tmp/inner.sock");
    if (bind(srv, (struct sockaddr*)&ia, sizeof ia) < 0 || listen(srv, 4) < 0) {
        fprintf(stderr, "FAIL: bind/listen inside: %s\n", strerror(errno));
        return 2;
    }
    int cli = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(cli, (struct sockaddr*)&ia, sizeof ia) < 0) {
        fprintf(stderr, "FAIL: connect to a socket bound inside: %s\n", strerror(errno));
        return 2;
    }
    int acc = accept4(srv, NULL, NULL, SOCK_CLOEXEC);
    char c = 0;
    if (acc < 0 || write(cli, "x", 1) != 1 || read(acc, &c, 1) != 1 || c != 'x') {
        fprintf(stderr, "FAIL: inside socket pair does not carry data\n");
        return 2;
    }
    /* A datagram socket bound inside, reached by sendto. */
    int ds = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un dia = addr("/tmp/inner.dgram");
    if (bind(ds, (struct sockaddr*)&dia, sizeof dia) < 0) {
        fprintf(stderr, "FAIL: bind dgram inside: %s\n", strerror(errno));
        return 2;
    }
    int dc = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sendto(dc, "y", 1, 0, (struct sockaddr*)&dia, sizeof dia) != 1 || read(ds, &c, 1) != 1 || c != 'y') {
        fprintf(stderr, "FAIL: sendto an inside datagram socket: %s\n", strerror(errno));
        return 2;
    }
    return finish();
}
