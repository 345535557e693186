/* Trick: creating files in a hidden directory (/hidden, hidden with --hide)
 * through symlinks that point into it (absolute, relative, to a new file),
 * and by rename, link, mkdir, mknod, symlink. The driver checks afterwards
 * that the hidden directory holds only its "secret". */
#include "escape.h"

int main(void) {
    const char* token = TOKEN;
    struct stat st;
    expect_errno(stat("/hidden", &st), ENOENT, "stat /hidden");
    try_read("/hidden/secret", token, "hidden dir");
    try_read("/to_hidden/secret", token, "symlink to the hidden dir");
    try_read("/to_hidden_rel/secret", token, "relative symlink to the hidden dir");
    try_read("/to_hidden_secret", token, "symlink to the hidden secret");

    const char* dirs[] = {"/hidden", "/to_hidden", "/to_hidden_rel", "/proc/self/root/hidden", "/to_hidden/."};
    char path[512];
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; ++i) {
        snprintf(path, sizeof path, "%s/c_open%zu", dirs[i], i);
        int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0) {
            leak("open(O_CREAT) %s worked", path);
            close(fd);
        }
        snprintf(path, sizeof path, "%s/c_mkdir%zu", dirs[i], i);
        if (mkdir(path, 0755) == 0) leak("mkdir %s worked", path);
        snprintf(path, sizeof path, "%s/c_fifo%zu", dirs[i], i);
        if (mknod(path, S_IFIFO | 0644, 0) == 0) leak("mknod %s worked", path);
        snprintf(path, sizeof path, "%s/c_symlink%zu", dirs[i], i);
        if (symlink("x", path) == 0) leak("symlink %s worked", path);
        fd = open("/movable", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0) close(fd);
        snprintf(path, sizeof path, "%s/c_rename%zu", dirs[i], i);
        if (rename("/movable", path) == 0) leak("rename into %s worked", path);
        snprintf(path, sizeof path, "%s/c_link%zu", dirs[i], i);
        if (link("/movable", path) == 0) leak("link into %s worked", path);
    }
    /* Dangling link naming a new file in the hidden dir. */
    int fd = open("/to_hidden_new", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) {
        leak("open(O_CREAT) through /to_hidden_new worked");
        close(fd);
    }
    fd = open("/to_hidden_secret", O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd >= 0) {
        leak("open(O_TRUNC) through /to_hidden_secret worked");
        close(fd);
    }
    if (rename("/to_hidden/secret", "/stolen") == 0) leak("renamed the hidden secret out");
    if (unlink("/to_hidden/secret") == 0) leak("unlinked the hidden secret");
    if (chmod("/to_hidden/secret", 0666) == 0) leak("chmod of the hidden secret worked");
    return finish();
}
