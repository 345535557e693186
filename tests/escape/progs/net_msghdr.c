/* Trick: hostile message headers for the calls the supervisor emulates on
 * an emulated socket: sendmsg/sendto/sendmmsg/recvmsg/recvfrom with a
 * msghdr, name or iovec that is NULL, unmapped or straddles a page end,
 * name lengths 1 and 2^32-1, msg_iovlen IOV_MAX+1 and 2^64-1, iov_len
 * 2^64-1, vlen 2^32-1. Each must fail cleanly (EFAULT/EINVAL/EMSGSIZE/EAGAIN)
 * and nothing may reach the host; afterwards the supervisor still answers. */
#include <limits.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "net.h"

static char* unmapped;
static char* edge;  /* the last byte of a mapped page before `unmapped` */

static void one_of(long r, const int* ok, int n, const char* what) {
    if (r >= 0) {
        leak("%s succeeded (returned %ld)", what, r);
        return;
    }
    for (int i = 0; i < n; ++i)
        if (errno == ok[i]) return;
    fprintf(stderr, "FAIL: %s failed with %s\n", what, strerror(errno));
    esc_leaks++;
}
#define ONE_OF(r, what, ...) do { static const int ok_[] = {__VA_ARGS__}; one_of((r), ok_, sizeof ok_ / sizeof *ok_, what); } while (0)

static void tricks(int s, const net_addr* host) {
    struct iovec iov = {"leak", 4};
    struct msghdr m;
    ONE_OF(syscall(SYS_sendmsg, s, NULL, 0), "sendmsg(NULL)", EFAULT);
    ONE_OF(syscall(SYS_sendmsg, s, unmapped, 0), "sendmsg(unmapped msghdr)", EFAULT);
    ONE_OF(syscall(SYS_sendmsg, s, edge, 0), "sendmsg(msghdr across the page end)", EFAULT);
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_name = unmapped;
    m.msg_namelen = sizeof(struct sockaddr_in);
    ONE_OF(sendmsg(s, &m, 0), "sendmsg(msg_name unmapped)", EFAULT);
    m.msg_name = edge;
    ONE_OF(sendmsg(s, &m, 0), "sendmsg(msg_name across the page end)", EFAULT);
    m.msg_name = (void*)&host->ss;
    m.msg_namelen = 0xffffffffu;
    ONE_OF(sendmsg(s, &m, 0), "sendmsg(msg_namelen 2^32-1, name 127.0.0.1)", EINVAL, ENETUNREACH);
    m.msg_namelen = 1;
    ONE_OF(sendmsg(s, &m, 0), "sendmsg(msg_namelen 1)", EINVAL);
    m.msg_namelen = host->len;
    m.msg_iov = (struct iovec*)unmapped;
    ONE_OF(sendmsg(s, &m, 0), "sendmsg(127.0.0.1, msg_iov unmapped)", EFAULT, ENETUNREACH);
    m.msg_iov = &iov;
    m.msg_iovlen = IOV_MAX + 1;
    ONE_OF(sendmsg(s, &m, 0), "sendmsg(127.0.0.1, msg_iovlen IOV_MAX+1)", EMSGSIZE, ENETUNREACH);
    m.msg_iovlen = (size_t)-1;
    ONE_OF(sendmsg(s, &m, 0), "sendmsg(127.0.0.1, msg_iovlen 2^64-1)", EMSGSIZE, ENETUNREACH);
    struct iovec huge = {"leak", (size_t)-1};
    m.msg_iov = &huge;
    m.msg_iovlen = 1;
    ONE_OF(sendmsg(s, &m, 0), "sendmsg(127.0.0.1, iov_len 2^64-1)", EINVAL, EFAULT, EMSGSIZE, ENETUNREACH);
    m.msg_iov = &iov;
    m.msg_name = NULL;
    m.msg_namelen = 0xffffffffu;  /* NULL name, huge length */
    long r = sendmsg(s, &m, MSG_DONTWAIT);
    if (r >= 0) note("sendmsg(name NULL, namelen 2^32-1) sent %ld bytes unaddressed", r);

    ONE_OF(sendto(s, "leak", 4, 0, (const struct sockaddr*)unmapped, 16), "sendto(addr unmapped)", EFAULT);
    ONE_OF(sendto(s, "leak", 4, 0, (const struct sockaddr*)edge, 16), "sendto(addr across the page end)", EFAULT);
    ONE_OF(syscall(SYS_sendto, s, "leak", 4L, 0L, &host->ss, 0x100000010L), "sendto(127.0.0.1, addrlen 0x1_00000010)",
           EINVAL, ENETUNREACH);
    ONE_OF(sendto(s, unmapped, 4, 0, (const struct sockaddr*)&host->ss, host->len), "sendto(127.0.0.1, data unmapped)",
           EFAULT, ENETUNREACH);
    ONE_OF(sendto(s, "leak", (size_t)-1, 0, (const struct sockaddr*)&host->ss, host->len),
           "sendto(127.0.0.1, len 2^64-1)", EMSGSIZE, EFAULT, EINVAL, ENETUNREACH);

    ONE_OF(syscall(SYS_sendmmsg, s, unmapped, 4L, 0L), "sendmmsg(unmapped vector)", EFAULT);
    struct mmsghdr mm;
    memset(&mm, 0, sizeof mm);
    mm.msg_hdr.msg_name = (void*)&host->ss;
    mm.msg_hdr.msg_namelen = host->len;
    mm.msg_hdr.msg_iov = &iov;
    mm.msg_hdr.msg_iovlen = 1;
    ONE_OF(syscall(SYS_sendmmsg, s, &mm, 0xffffffffL, 0L), "sendmmsg(127.0.0.1, vlen 2^32-1)", ENETUNREACH);

    char buf[64];
    ONE_OF(syscall(SYS_recvmsg, s, unmapped, MSG_DONTWAIT), "recvmsg(unmapped msghdr)", EFAULT, EAGAIN);
    memset(&m, 0, sizeof m);
    struct iovec riov = {buf, sizeof buf};
    m.msg_iov = &riov;
    m.msg_iovlen = IOV_MAX + 1;
    ONE_OF(recvmsg(s, &m, MSG_DONTWAIT), "recvmsg(msg_iovlen IOV_MAX+1)", EMSGSIZE, EAGAIN);
    ONE_OF(syscall(SYS_recvfrom, s, buf, sizeof buf, MSG_DONTWAIT, unmapped, unmapped), "recvfrom(addrlen unmapped)",
           EFAULT, EAGAIN);
    ONE_OF(syscall(SYS_recvmmsg, s, unmapped, 4L, MSG_DONTWAIT, NULL), "recvmmsg(unmapped vector)", EFAULT, EAGAIN);
}

int main(void) {
    long page = sysconf(_SC_PAGESIZE);
    char* two = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(two + page, page);
    edge = two + page - 1;
    unmapped = two + page;
    int port = net_port();
    net_addr h4 = net_parse("127.0.0.1", port), h6 = net_parse("::1", port);
    int u4 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), u6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (u4 < 0 || u6 < 0) { fprintf(stderr, "FAIL: socket: %s\n", strerror(errno)); return 2; }
    tricks(u4, &h4);
    tricks(u6, &h6);
    /* Still answering, still confined. */
    net_addr peer = net_parse(env("ESC_PEER4"), 9);
    if (sendto(u4, "ok", 2, 0, (const struct sockaddr*)&peer.ss, peer.len) != 2) {
        fprintf(stderr, "FAIL: sendto the tunnel peer afterwards: %s\n", strerror(errno));
        esc_leaks++;
    }
    expect_errno(sendto(u4, "leak", 4, 0, (const struct sockaddr*)&h4.ss, h4.len), ENETUNREACH, "sendto 127.0.0.1 afterwards");
    return net_finish();
}
