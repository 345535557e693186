/* Shared helpers for the portspace network tricks (progs/net_*.c, driven by
 * test_escape_net.cpp; invariants 4 and 5).
 *
 * The driver runs `hsbox run --portspace --tunnel FILE` with one tunnel peer
 * (ESC_PEER4, ESC_PEER6: inner addresses nobody answers at) and listens on
 * the host, TCP and UDP, on port ESC_NET_PORT of every local address
 * (dual-stack wildcard): 127.0.0.1, ::1, the host's own addresses
 * (ESC_HOST_ADDRS, comma-separated). Whatever arrives there is an escape the
 * driver sees from the host side.
 *
 * Every program ends with net_finish() (net_handover(), then finish()): it
 * reports its sockets (inodes) and checks them against /proc/net inside; the
 * driver then checks the same sockets from the host (SO_DOMAIN, and the
 * host's /proc/net tables), and answers on stdin. */
#ifndef HSBOX_ESCAPE_NET_H
#define HSBOX_ESCAPE_NET_H

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "escape.h"

typedef struct {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[64];
} net_addr;

/* "1.2.3.4" or "::1" with `port` (host order); exits 2 on a bad address. */
static __attribute__((unused)) net_addr net_parse(const char* text, int port) {
    net_addr a;
    memset(&a, 0, sizeof a);
    snprintf(a.text, sizeof a.text, "%s", text);
    struct sockaddr_in* s4 = (struct sockaddr_in*)&a.ss;
    struct sockaddr_in6* s6 = (struct sockaddr_in6*)&a.ss;
    if (inet_pton(AF_INET, text, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((unsigned short)port);
        a.len = sizeof *s4;
    } else if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((unsigned short)port);
        a.len = sizeof *s6;
    } else {
        fprintf(stderr, "FAIL: bad address '%s'\n", text);
        exit(2);
    }
    return a;
}

static __attribute__((unused)) int net_port(void) { return (int)env_ul("ESC_NET_PORT"); }

/* Every host-side destination the driver listens at: loopback in all
 * spellings, the wildcards, and the host's own addresses. Returns the count. */
static __attribute__((unused)) int net_host_targets(net_addr* out, int max) {
    static const char* fixed[] = {"127.0.0.1", "127.0.0.2", "127.1.2.3", "::1", "::ffff:127.0.0.1", "::127.0.0.1",
                                  "0.0.0.0", "::", "::ffff:0.0.0.0"};
    int n = 0, port = net_port();
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed && n < max; ++i) out[n++] = net_parse(fixed[i], port);
    char list[2048];
    snprintf(list, sizeof list, "%s", env("ESC_HOST_ADDRS"));
    for (char* save = NULL, *t = strtok_r(list, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save))
        out[n++] = net_parse(t, port);
    return n;
}

/* A call that must fail with one of two errnos (b may be 0). */
static __attribute__((unused)) void expect_errno2(long r, int a, int b, const char* what) {
    if (r >= 0) {
        leak("%s succeeded (returned %ld)", what, r);
        return;
    }
    if (errno != a && (!b || errno != b)) {
        fprintf(stderr, "FAIL: %s failed with %s, expected %s\n", what, strerror(errno), strerror(a));
        esc_leaks++;
    }
}

/* Is `ino` listed in /proc/net/NAME (the inode column)? -1: unreadable. */
static __attribute__((unused)) int net_table_has(const char* name, unsigned long ino) {
    char path[64];
    snprintf(path, sizeof path, "/proc/net/%s", name);
    FILE* f = fopen(path, "re");
    if (!f) return -1;
    int col = strcmp(name, "packet") == 0 ? 8 : 9;
    char line[1024];
    int found = 0;
    if (!fgets(line, sizeof line, f)) line[0] = 0;  /* header */
    while (!found && fgets(line, sizeof line, f)) {
        char* save = NULL;
        char* tok = strtok_r(line, " \t\n", &save);
        for (int i = 0; tok && i < col; ++i) tok = strtok_r(NULL, " \t\n", &save);
        if (tok && strtoul(tok, NULL, 10) == ino) found = 1;
    }
    fclose(f);
    return found;
}

static const char* const net_tables[] = {"tcp", "tcp6", "udp", "udp6", "udplite", "udplite6", "raw", "raw6",
                                         "icmp", "icmp6", "packet", "netlink"};

/* Lists our sockets ("sock FD INO" on stdout), checks each against the
 * network tables we can read, then hands over to the driver ("check"), which
 * checks them from the host and answers with a line on stdin. */
static __attribute__((unused)) void net_handover(void) {
    DIR* d = opendir("/proc/self/fd");
    int readable = 0;
    if (!d) {
        note("/proc/self/fd: %s", strerror(errno));
    } else {
        struct dirent* e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char link[300], target[128];
            snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
            ssize_t n = readlink(link, target, sizeof target - 1);
            if (n <= 0) continue;
            target[n] = 0;
            unsigned long ino;
            if (sscanf(target, "socket:[%lu]", &ino) != 1) continue;
            printf("sock %s %lu\n", e->d_name, ino);
            for (size_t i = 0; i < sizeof net_tables / sizeof *net_tables; ++i) {
                int has = net_table_has(net_tables[i], ino);
                if (has > 0) leak("fd %s (socket inode %lu) is in /proc/net/%s: a host socket", e->d_name, ino, net_tables[i]);
                if (has >= 0) readable++;
            }
        }
        closedir(d);
    }
    if (!readable) note("no /proc/net table readable inside (or no socket): the driver checks from the host");
    printf("check\n");
    fflush(stdout);
    char line[64];
    if (read(0, line, sizeof line) <= 0) note("no answer from the driver");
}

static __attribute__((unused)) int net_finish(void) {
    net_handover();
    return finish();
}

#endif
