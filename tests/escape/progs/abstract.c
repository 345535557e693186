/* Trick: abstract unix sockets. The driver listens on the abstract name
 * ESC_ABSTRACT: connecting from inside must fail (ECONNREFUSED), and binding
 * the same name inside must work (the space has its own names). Then the
 * program listens on ESC_ABSTRACT-in, prints "bound" and waits for a line
 * on stdin while the driver tries to connect to it from outside. */
#include <sys/socket.h>
#include <sys/un.h>

#include "escape.h"

static socklen_t abstract_addr(struct sockaddr_un* a, const char* name) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(name);
    memcpy(a->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

int main(void) {
    const char* name = env("ESC_ABSTRACT");
    struct sockaddr_un a;
    socklen_t len = abstract_addr(&a, name);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    expect_errno(connect(s, (struct sockaddr*)&a, len), ECONNREFUSED, "connect to the outside abstract socket");
    close(s);
    int d = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    expect_errno(sendto(d, "leak", 4, 0, (struct sockaddr*)&a, len), ECONNREFUSED, "sendto the outside abstract socket");
    close(d);

    /* The same name inside is free. */
    int same = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (bind(same, (struct sockaddr*)&a, len) < 0)
        leak("binding the outside abstract name inside failed (%s): the space sees the host's names", strerror(errno));

    char inner[200];
    snprintf(inner, sizeof inner, "%s-in", name);
    len = abstract_addr(&a, inner);
    int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (bind(srv, (struct sockaddr*)&a, len) < 0 || listen(srv, 8) < 0) {
        fprintf(stderr, "FAIL: bind/listen %s inside: %s\n", inner, strerror(errno));
        return 2;
    }
    int cli = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(cli, (struct sockaddr*)&a, len) < 0) {
        fprintf(stderr, "FAIL: connect to an abstract socket bound inside: %s\n", strerror(errno));
        return 2;
    }
    int acc = accept4(srv, NULL, NULL, SOCK_CLOEXEC);
    if (acc < 0) {
        fprintf(stderr, "FAIL: accept inside: %s\n", strerror(errno));
        return 2;
    }
    close(acc);
    printf("bound\n");
    fflush(stdout);
    char line[64];
    if (read(0, line, sizeof line) <= 0) note("no go-ahead from the driver");
    /* Anything the driver managed to connect would be queued now. */
    int fl = fcntl(srv, F_GETFL);
    fcntl(srv, F_SETFL, fl | O_NONBLOCK);
    int extra = accept4(srv, NULL, NULL, SOCK_CLOEXEC);
    if (extra >= 0) leak("a process outside the space connected to the inside abstract socket");
    return finish();
}
