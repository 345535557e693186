/* Trick: io_uring's IORING_OP_CONNECT/SENDMSG would reach the network without
 * a connect or sendmsg system call the supervisor sees. io_uring_setup must
 * already fail (EPERM); if a ring is ever created, a connect to 127.0.0.1
 * (where the driver listens) is submitted through it. */
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "net.h"

/* Submits one IORING_OP_CONNECT on a ring that should not exist. */
static void connect_through(int ring, struct io_uring_params* p, const net_addr* h) {
    size_t sq_sz = p->sq_off.array + p->sq_entries * sizeof(unsigned);
    char* sq = mmap(NULL, sq_sz, PROT_READ | PROT_WRITE, MAP_SHARED, ring, IORING_OFF_SQ_RING);
    struct io_uring_sqe* sqes = mmap(NULL, p->sq_entries * sizeof *sqes, PROT_READ | PROT_WRITE, MAP_SHARED, ring,
                                     IORING_OFF_SQES);
    if (sq == MAP_FAILED || sqes == MAP_FAILED) return;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sqes[0], 0, sizeof sqes[0]);
    sqes[0].opcode = IORING_OP_CONNECT;
    sqes[0].fd = s;
    sqes[0].addr = (unsigned long)&h->ss;
    sqes[0].off = h->len;
    ((unsigned*)(sq + p->sq_off.array))[0] = 0;
    __atomic_store_n((unsigned*)(sq + p->sq_off.tail), 1, __ATOMIC_RELEASE);
    long r = syscall(SYS_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0);
    printf("io_uring_enter(CONNECT 127.0.0.1) returned %ld\n", r);
}

int main(void) {
    net_addr h = net_parse("127.0.0.1", net_port());
    unsigned flags[] = {0, IORING_SETUP_SQPOLL, IORING_SETUP_IOPOLL};
    for (size_t i = 0; i < sizeof flags / sizeof *flags; ++i) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = flags[i];
        long ring = syscall(SYS_io_uring_setup, 8, &p);
        char what[64];
        snprintf(what, sizeof what, "io_uring_setup(flags %#x)", flags[i]);
        if (ring >= 0) connect_through((int)ring, &p, &h);
        expect_errno(ring, EPERM, what);
        if (ring < 0) printf("%s: %s\n", what, strerror(errno));
    }
    expect_errno(syscall(SYS_io_uring_enter, 0, 1, 0, 0, NULL, 0), EPERM, "io_uring_enter");
    expect_errno(syscall(SYS_io_uring_register, 0, 0, NULL, 0), EPERM, "io_uring_register");
    return net_finish();
}
