/* Trick: hard links to a file outside the root (by host path, through
 * symlinks, with AT_SYMLINK_FOLLOW, into and out of a hidden dir). Whatever
 * link() says, no name inside the root may reach the outside inode; the
 * driver also checks the outside secret's link count stayed 1. */
#include "escape.h"

int main(void) {
    const char* token = TOKEN;
    const char* outside = OUTSIDE;
    unsigned long sdev = env_ul("ESC_SECRET_DEV"), sino = env_ul("ESC_SECRET_INO");
    char path[8192], rel[8192];
    snprintf(path, sizeof path, "%s/secret", outside);
    snprintf(rel, sizeof rel, "../../../../../../..%s/secret", outside);

    struct {
        const char* from;
        const char* to;
        int flags;
    } tries[] = {
        {path, "/stolen1", 0},
        {rel, "/stolen2", 0},
        {"../outside/secret", "/stolen3", 0},
        {"/abs_file", "/stolen4", AT_SYMLINK_FOLLOW},
        {"/rel_file", "/stolen5", AT_SYMLINK_FOLLOW},
        {"/abs_dir/secret", "/stolen6", 0},
        {"/rel_dir/secret", "/stolen7", AT_SYMLINK_FOLLOW},
        {"/hidden/secret", "/stolen8", 0},
        {"/proc/self/root/../outside/secret", "/stolen9", AT_SYMLINK_FOLLOW},
    };
    for (size_t i = 0; i < sizeof tries / sizeof *tries; ++i) {
        linkat(AT_FDCWD, tries[i].from, AT_FDCWD, tries[i].to, tries[i].flags);
        struct stat st;
        if (stat(tries[i].to, &st) == 0 && st.st_ino == sino && st.st_dev == sdev)
            leak("link('%s') made an inside name for the outside file", tries[i].from);
        try_read(tries[i].to, token, "hard link");
    }
    if (link(path, "/stolen10") == 0) leak("link(host path of the outside secret) succeeded");
    /* The legacy link(2) too. */
    if (link("/hidden/secret", "/stolen11") == 0) leak("link(/hidden/secret) succeeded");
    /* A link made inside and then pointed out by replacing a parent with a symlink. */
    mkdir("/ldir", 0755);
    int fd = open("/ldir/mine", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
    if (link("/ldir/mine", "/abs_dir/linked_out") == 0) leak("link into the outside dir through a symlink succeeded");
    if (link("/ldir/mine", "/hidden/linked_in") == 0) leak("link into the hidden dir succeeded");
    return finish();
}
