/* Trick: io_uring, which would perform opens and connects the filter never
 * sees. Setup must fail with EPERM; so must the other two calls. */
#include <linux/io_uring.h>
#include <sys/syscall.h>

#include "escape.h"

int main(void) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    expect_errno(syscall(SYS_io_uring_setup, 8, &p), EPERM, "io_uring_setup");
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SQPOLL;
    expect_errno(syscall(SYS_io_uring_setup, 8, &p), EPERM, "io_uring_setup(SQPOLL)");
    expect_errno(syscall(SYS_io_uring_enter, 0, 1, 0, 0, NULL, 0), EPERM, "io_uring_enter");
    expect_errno(syscall(SYS_io_uring_register, 0, 0, NULL, 0), EPERM, "io_uring_register");
    return finish();
}
