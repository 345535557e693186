/* Trick: a socket the emulation does not cover. AF_PACKET, SOCK_RAW (but
 * ICMP, which is emulated: ping works in a portspace, through the tunnels
 * only), AF_NETLINK (every protocol), every other address family, IP
 * protocols other than TCP/UDP/ICMP (SCTP, MPTCP, UDP-Lite, DCCP's type),
 * and garbage in the upper 32 bits of the domain/type/protocol registers
 * (the kernel reads ints; a filter reading 64 bits could be fooled). Any
 * socket that is created stays open: net_finish() and the driver check that
 * none is in the host's /proc/net tables. */
#include <linux/netlink.h>
#include <sys/syscall.h>

#include "net.h"

static void must_fail(long dom, long type, long proto, int want, const char* what) {
    long r = syscall(SYS_socket, dom, type, proto);
    if (r >= 0) {
        leak("%s created fd %ld", what, r);
        return;
    }
    if (want && errno != want) {
        fprintf(stderr, "FAIL: %s failed with %s, expected %s\n", what, strerror(errno), strerror(want));
        esc_leaks++;
    }
}

int main(void) {
    char what[128];
    must_fail(AF_PACKET, SOCK_RAW, htons(0x0003), EAFNOSUPPORT, "socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)");
    must_fail(AF_PACKET, SOCK_DGRAM, htons(0x0800), EAFNOSUPPORT, "socket(AF_PACKET, SOCK_DGRAM)");
    must_fail(AF_INET, SOCK_PACKET, htons(0x0003), 0, "socket(AF_INET, SOCK_PACKET)");
    must_fail(AF_INET, SOCK_RAW, IPPROTO_RAW, EPERM, "socket(AF_INET, SOCK_RAW, IPPROTO_RAW)");
    must_fail(AF_INET, SOCK_RAW, IPPROTO_TCP, EPERM, "socket(AF_INET, SOCK_RAW, IPPROTO_TCP)");
    must_fail(AF_INET6, SOCK_RAW, IPPROTO_UDP, EPERM, "socket(AF_INET6, SOCK_RAW, IPPROTO_UDP)");
    must_fail(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP, EPERM, "socket(AF_INET, SOCK_RAW|flags)");
    for (int p = 0; p < 32; ++p) {
        snprintf(what, sizeof what, "socket(AF_NETLINK, SOCK_RAW, %d)", p);
        must_fail(AF_NETLINK, SOCK_RAW, p, EAFNOSUPPORT, what);
        snprintf(what, sizeof what, "socket(AF_NETLINK, SOCK_DGRAM, %d)", p);
        must_fail(AF_NETLINK, SOCK_DGRAM, p, EAFNOSUPPORT, what);
    }
    /* Every other family, every type. */
    for (int fam = 0; fam < 64; ++fam) {
        if (fam == AF_UNIX || fam == AF_INET || fam == AF_INET6) continue;
        for (int type = 1; type <= 10; ++type) {
            snprintf(what, sizeof what, "socket(family %d, type %d, 0)", fam, type);
            must_fail(fam, type, 0, 0, what);
        }
    }
    /* Garbage above bit 31: the kernel sees AF_INET/AF_INET6/AF_PACKET/AF_NETLINK. */
    must_fail(0x100000000L | AF_PACKET, SOCK_RAW, htons(0x0003), 0, "socket(0x1_00000000|AF_PACKET, SOCK_RAW)");
    must_fail(0xffffffff00000000L | AF_NETLINK, SOCK_RAW, 0, 0, "socket(0xffffffff_00000000|AF_NETLINK, SOCK_RAW)");
    must_fail(AF_INET, 0x100000000L | SOCK_RAW, IPPROTO_RAW, 0, "socket(AF_INET, 0x1_00000000|SOCK_RAW, IPPROTO_RAW)");
    must_fail(0x100000000L | AF_INET, 0x100000000L | SOCK_RAW, IPPROTO_TCP, 0, "socket(0x1_..|AF_INET, 0x1_..|SOCK_RAW, TCP)");
    /* These may legitimately give emulated sockets; kept open for the check. */
    long kept[16];
    int nk = 0;
    kept[nk++] = syscall(SYS_socket, 0x100000002L, SOCK_STREAM, 0);             /* AF_INET */
    kept[nk++] = syscall(SYS_socket, 0x10000000aL, SOCK_DGRAM, 0);              /* AF_INET6 */
    kept[nk++] = syscall(SYS_socket, 0x100000001L, SOCK_DGRAM, 0);              /* AF_UNIX */
    kept[nk++] = syscall(SYS_socket, AF_INET, 0x100000001L, 0x100000006L);      /* TCP */
    kept[nk++] = syscall(SYS_socket, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);        /* ping */
    kept[nk++] = syscall(SYS_socket, AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);     /* ping6 */
    kept[nk++] = syscall(SYS_socket, AF_INET, SOCK_RAW, IPPROTO_ICMP);          /* raw ICMP (emulated) */
    kept[nk++] = syscall(SYS_socket, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);       /* raw ICMPv6 (emulated) */
    kept[nk++] = syscall(SYS_socket, 0x100000002L, 0x100000003L, IPPROTO_ICMP); /* raw ICMP, garbage bits */
    kept[nk++] = syscall(SYS_socket, AF_INET, SOCK_STREAM, 262);               /* MPTCP */
    kept[nk++] = syscall(SYS_socket, AF_INET, SOCK_STREAM, IPPROTO_SCTP);
    kept[nk++] = syscall(SYS_socket, AF_INET, SOCK_SEQPACKET, IPPROTO_SCTP);
    kept[nk++] = syscall(SYS_socket, AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
    kept[nk++] = syscall(SYS_socket, AF_INET, 6 /* SOCK_DCCP */, 33);
    int created = 0;
    for (int i = 0; i < nk; ++i) created += kept[i] >= 0;
    printf("kept %d sockets of %d attempts\n", created, nk);
    /* An emulated TCP socket aimed at the host: still ENETUNREACH. */
    net_addr h = net_parse("127.0.0.1", net_port());
    if (kept[0] >= 0) expect_errno(connect((int)kept[0], (const struct sockaddr*)&h.ss, h.len), ENETUNREACH,
                                   "connect(127.0.0.1) on socket(0x1_00000002, SOCK_STREAM)");
    if (kept[4] >= 0) expect_errno(sendto((int)kept[4], "\x08\0\0\0\0\0\0\0", 8, 0, (const struct sockaddr*)&h.ss, h.len),
                                   ENETUNREACH, "ping socket sendto(127.0.0.1)");
    /* A raw ICMP socket (allowed: emulated) aimed at the host: ENETUNREACH too. */
    if (kept[6] >= 0) expect_errno(sendto((int)kept[6], "\x08\0\xf7\xff\0\0\0\0", 8, 0, (const struct sockaddr*)&h.ss, h.len),
                                   ENETUNREACH, "raw ICMP sendto(127.0.0.1)");
    if (kept[6] < 0) {
        fprintf(stderr, "FAIL: socket(AF_INET, SOCK_RAW, ICMP): %s (emulated: should work)\n", strerror(errno));
        esc_leaks++;
    }
    return net_finish();
}
