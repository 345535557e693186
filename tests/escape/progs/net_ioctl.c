/* Trick: the interface ioctls, which Linux answers on ANY socket (the
 * emulated socket's bridge end and plain unix sockets included) from the
 * network namespace the socket lives in: the host's.
 *   "list": SIOCGIFCONF must not show the host's addresses (ESC_HOST_ADDRS);
 *   "set":  SIOCGIFFLAGS then SIOCSIFFLAGS with the SAME flags on the host's
 *           "lo" (a no-op) must be refused: accepted, the space could take
 *           the host's interfaces down (meaningful as root;
 *           without CAP_NET_ADMIN the kernel refuses anyway). */
#include <net/if.h>
#include <sys/ioctl.h>

#include "net.h"

static void list(int s, const char* kind) {
    struct ifreq ifr[64];
    struct ifconf ic = {.ifc_len = sizeof ifr, .ifc_req = ifr};
    if (ioctl(s, SIOCGIFCONF, &ic) < 0) {
        printf("%s: SIOCGIFCONF: %s\n", kind, strerror(errno));
        return;
    }
    char hosts[2048];
    snprintf(hosts, sizeof hosts, ",%s,", env("ESC_HOST_ADDRS"));
    for (int i = 0; i < ic.ifc_len / (int)sizeof *ifr; ++i) {
        char a[INET_ADDRSTRLEN], needle[INET_ADDRSTRLEN + 2];
        inet_ntop(AF_INET, &((struct sockaddr_in*)&ifr[i].ifr_addr)->sin_addr, a, sizeof a);
        printf("%s: interface %s %s\n", kind, ifr[i].ifr_name, a);
        snprintf(needle, sizeof needle, ",%s,", a);
        if (strstr(hosts, needle)) leak("%s: SIOCGIFCONF shows the host's address %s on %s", kind, a, ifr[i].ifr_name);
    }
}

static void set_same(int s, const char* kind, const char* ifname) {
    struct ifreq q;
    memset(&q, 0, sizeof q);
    snprintf(q.ifr_name, sizeof q.ifr_name, "%s", ifname);
    if (ioctl(s, SIOCGIFFLAGS, &q) < 0) {
        printf("%s: SIOCGIFFLAGS %s: %s\n", kind, ifname, strerror(errno));
        return;
    }
    char what[128];
    snprintf(what, sizeof what, "%s: SIOCSIFFLAGS %s (flags unchanged, %#x)", kind, ifname, (unsigned)q.ifr_flags);
    expect_fail(ioctl(s, SIOCSIFFLAGS, &q), 0, what);
}

int main(int argc, char** argv) {
    int set = argc > 1 && strcmp(argv[1], "set") == 0;
    int socks[3] = {socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0),
                    socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
    static const char* kinds[] = {"emulated udp", "emulated tcp6", "unix dgram"};
    for (int k = 0; k < 3; ++k) {
        if (socks[k] < 0) { fprintf(stderr, "FAIL: socket: %s\n", strerror(errno)); return 2; }
        if (!set) {
            list(socks[k], kinds[k]);
            continue;
        }
        set_same(socks[k], kinds[k], "lo");
    }
    return net_finish();
}
