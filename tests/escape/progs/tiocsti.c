/* Trick: TIOCSTI (and TIOCLINUX) to push input into the terminal the space
 * shares with its caller; also with the command in the upper 32 bits, which
 * the kernel ignores. Must be EPERM. The driver gives a pty as stdin and
 * reads it afterwards for injected bytes. Exits 77 without a terminal. */
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include "escape.h"

int main(void) {
    int fd = 0;
    if (!isatty(fd)) {
        fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            printf("no terminal: %s\n", strerror(errno));
            return 77;
        }
    }
    char c = 'X';
    expect_errno(ioctl(fd, TIOCSTI, &c), EPERM, "ioctl(TIOCSTI)");
    expect_errno(syscall(SYS_ioctl, fd, (1UL << 32) | TIOCSTI, &c), EPERM, "ioctl(1<<32 | TIOCSTI)");
    expect_errno(syscall(SYS_ioctl, fd, (0xffffffffUL << 32) | TIOCSTI, &c), EPERM, "ioctl(0xffffffff<<32 | TIOCSTI)");
    char sub = 2; /* TIOCL_SETSEL-like subcode; refused before the tty sees it */
    expect_errno(ioctl(fd, TIOCLINUX, &sub), EPERM, "ioctl(TIOCLINUX)");
    return finish();
}
