/* Trick: a directory descriptor handed in after confinement, over a unix
 * socket the host shared explicitly (--share-socket /sock/share.sock): the
 * driver sends an fd of the outside dir with SCM_RIGHTS. Paths relative to
 * it (openat, fchdir + relative open, exec) must not reach the outside. */
#include <sys/socket.h>
#include <sys/un.h>

#include "escape.h"

int main(void) {
    const char* token = TOKEN;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    strcpy(a.sun_path, "/sock/share.sock");
    if (connect(s, (struct sockaddr*)&a, sizeof a) < 0) {
        fprintf(stderr, "FAIL: connect to the shared socket: %s\n", strerror(errno));
        return 2;
    }
    char byte;
    char ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&byte, 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
    if (recvmsg(s, &mh, MSG_CMSG_CLOEXEC) != 1) {
        fprintf(stderr, "FAIL: recvmsg: %s\n", strerror(errno));
        return 2;
    }
    struct cmsghdr* cm = CMSG_FIRSTHDR(&mh);
    if (!cm || cm->cmsg_type != SCM_RIGHTS) {
        fprintf(stderr, "FAIL: no descriptor received\n");
        return 2;
    }
    int dir;
    memcpy(&dir, CMSG_DATA(cm), sizeof dir);

    try_read_at(dir, "secret", token, "openat(passed dirfd)");
    try_read_at(dir, "./secret", token, "openat(passed dirfd)");
    struct stat st;
    if (fstatat(dir, "secret", &st, 0) == 0) leak("fstatat(passed dirfd, secret) worked");
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d/secret", dir);
    try_read(proc, token, "/proc/self/fd/N of the passed dirfd");
    if (fchdir(dir) == 0) {
        try_read("secret", token, "fchdir(passed dirfd) + relative open");
        if (stat("secret", &st) == 0) leak("stat(secret) after fchdir(passed dirfd) worked");
        char cwd[4096];
        if (getcwd(cwd, sizeof cwd)) note("getcwd after fchdir(passed dirfd) = %s", cwd);
        pid_t pid = fork();
        if (pid == 0) {
            char* argv[] = {"evil", NULL};
            execv("evil", argv);
            execv("./evil", argv);
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 42) leak("exec relative to the passed dirfd ran the outside program");
        int fd = open("created_via_passed_fd", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0) close(fd);
        mkdir("mkdir_via_passed_fd", 0755);
        chdir("/");
    }
    int fd = openat(dir, "created_via_openat", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
    return finish();
}
