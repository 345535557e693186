/* Trick: the host's network state through /proc instead of sockets.
 *   "read":   /proc/net/{dev,route,if_inet6,arp,ipv6_route,fib_trie,tcp,
 *             tcp6,udp,udp6,unix} must not show the host's interfaces,
 *             routes, addresses, neighbours or sockets (a portspace has no
 *             network but its tunnels; its own stack is not in /proc);
 *   "sysctl": /proc/sys/net/ipv4/conf/lo/log_martians (harmless: logging
 *             only) is toggled; the write must be refused. While the program
 *             waits in net_handover() the driver reads the HOST's value, then
 *             the program writes the old value back (the driver restores it
 *             too). Meaningful as root; otherwise the kernel refuses anyway. */
#include "net.h"

#define SYSCTL "/proc/sys/net/ipv4/conf/lo/log_martians"

static void read_tables(void) {
    static const char* files[] = {"/proc/net/dev", "/proc/net/route", "/proc/net/if_inet6", "/proc/net/arp",
                                  "/proc/net/ipv6_route", "/proc/net/fib_trie", "/proc/net/tcp", "/proc/net/tcp6",
                                  "/proc/net/udp", "/proc/net/udp6", "/proc/net/unix"};
    for (size_t i = 0; i < sizeof files / sizeof *files; ++i) {
        int fd = open(files[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            printf("%s: %s\n", files[i], strerror(errno));
            continue;
        }
        char buf[8192];
        read_all(fd, buf, sizeof buf);
        close(fd);
        char* nl = strchr(buf, '\n');
        int rows = 0;
        for (char* p = nl; p && p[1]; p = strchr(p + 1, '\n')) rows++;
        /* /proc/net/dev has two header lines; the others one (fib_trie none). */
        if (strcmp(files[i], "/proc/net/dev") == 0) rows--;
        printf("%s: %d rows\n", files[i], rows);
        if (rows > 0) leak("%s shows the host's network (%d rows)", files[i], rows);
    }
}

static void toggle_sysctl(void) {
    int fd = open(SYSCTL, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        printf("open %s: %s\n", SYSCTL, strerror(errno));
        net_handover();
        return;
    }
    char old[8] = {0};
    if (read(fd, old, sizeof old - 1) <= 0) old[0] = '0';
    const char* flip = old[0] == '0' ? "1\n" : "0\n";
    ssize_t n = pwrite(fd, flip, 2, 0);
    if (n == 2) leak("wrote %c to %s", flip[0], SYSCTL);
    else printf("write %s: %s\n", SYSCTL, strerror(errno));
    printf("sysctl was %c\n", old[0]);
    net_handover();  /* the driver reads the host's value now */
    if (n == 2 && pwrite(fd, old, 2, 0) != 2) note("restoring %s: %s", SYSCTL, strerror(errno));
    close(fd);
}

int main(int argc, char** argv) {
    if (argc > 1 && strcmp(argv[1], "sysctl") == 0) toggle_sysctl();
    else {
        read_tables();
        net_handover();
    }
    return finish();
}
