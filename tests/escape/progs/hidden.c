/* Trick: reaching hidden directories by path: $HOME, $XDG_RUNTIME_DIR and
 * hsbox's state dir (host paths in ESC_HIDDEN, colon-separated; each has a
 * file "secret" with the token or is the state dir), directly, with "..",
 * through /proc/self/root, through a symlink made inside, and by chdir. */
#include "escape.h"

static void probe(const char* dir, const char* token) {
    char path[8192], what[8300];
    struct stat st;
    snprintf(what, sizeof what, "stat %s", dir);
    expect_errno(stat(dir, &st), ENOENT, what);
    snprintf(path, sizeof path, "%s/secret", dir);
    try_read(path, token, "hidden dir");
    snprintf(what, sizeof what, "open %s", path);
    expect_errno(open(path, O_RDONLY | O_CLOEXEC), ENOENT, what);
    snprintf(path, sizeof path, "%s/sub/../secret", dir);
    try_read(path, token, "hidden dir with ..");
    snprintf(path, sizeof path, "/proc/self/root%s/secret", dir);
    try_read(path, token, "hidden dir via /proc/self/root");
    snprintf(path, sizeof path, "%s/../%s/secret", dir, strrchr(dir, '/') + 1);
    try_read(path, token, "hidden dir via its parent");
    if (chdir(dir) == 0) {
        leak("chdir(%s) worked", dir);
        try_read("secret", token, "chdir into a hidden dir");
        chdir("/");
    }
    snprintf(path, sizeof path, "%s/created", dir);
    int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) {
        leak("created %s", path);
        close(fd);
    }
    snprintf(path, sizeof path, "%s/made", dir);
    if (mkdir(path, 0700) == 0) leak("mkdir %s worked", path);
}

int main(int argc, char** argv) {
    (void)argc;
    const char* token = TOKEN;
    char list[8192];
    snprintf(list, sizeof list, "%s", env("ESC_HIDDEN"));
    /* A scratch dir the space can write (shared), for symlinks. */
    const char* scratch = env("ESC_SCRATCH");
    int n = 0;
    for (char* save = NULL, *dir = strtok_r(list, ":", &save); dir; dir = strtok_r(NULL, ":", &save), ++n) {
        probe(dir, token);
        char link[4096], path[8192];
        snprintf(link, sizeof link, "%s/link%d", scratch, n);
        if (symlink(dir, link) == 0) {
            snprintf(path, sizeof path, "%s/secret", link);
            try_read(path, token, "symlink to a hidden dir");
            snprintf(path, sizeof path, "%s/created_via_link", link);
            int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
            if (fd >= 0) {
                leak("created %s", path);
                close(fd);
            }
        } else {
            note("symlink %s: %s", link, strerror(errno));
        }
    }
    (void)argv;
    return finish();
}
