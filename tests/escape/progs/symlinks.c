/* Trick: absolute and relative symlinks out of the root (made by the driver
 * before the run, and by the program itself), for reading, stat, creation,
 * mkdir, rename and exec. The driver checks afterwards that nothing appeared
 * in the outside directory. */
#include "escape.h"

int main(void) {
    const char* token = TOKEN;
    const char* outside = OUTSIDE;
    unsigned long dev = env_ul("ESC_OUTSIDE_DEV"), ino = env_ul("ESC_OUTSIDE_INO");
    unsigned long sdev = env_ul("ESC_SECRET_DEV"), sino = env_ul("ESC_SECRET_INO");
    char path[8192];

    /* Made at run time from inside: the same shapes. */
    char deep[4096] = "";
    for (int i = 0; i < 16; ++i) strcat(deep, "../");
    strcat(deep, outside + 1);
    if (symlink(outside, "/mine_abs") < 0) note("symlink mine_abs: %s", strerror(errno));
    if (symlink("../outside", "/mine_rel") < 0) note("symlink mine_rel: %s", strerror(errno));
    if (symlink(deep, "/mine_deep") < 0) note("symlink mine_deep: %s", strerror(errno));
    mkdir("/sub", 0755);
    if (symlink("../../../../outside", "/sub/up") < 0) note("symlink sub/up: %s", strerror(errno));

    const char* dirs[] = {"/abs_dir", "/rel_dir", "/deep_rel", "/chain1", "/mine_abs", "/mine_rel", "/mine_deep", "/sub/up",
                          "abs_dir", "sub/up"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; ++i) {
        try_stat_ino(dirs[i], dev, ino, "symlink dir");
        snprintf(path, sizeof path, "%s/secret", dirs[i]);
        try_read(path, token, "symlink dir");
        try_stat_ino(path, sdev, sino, "symlink dir");
        snprintf(path, sizeof path, "%s/created_by_open", dirs[i]);
        int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0) close(fd);
        snprintf(path, sizeof path, "%s/created_by_mkdir", dirs[i]);
        mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/created_by_symlink", dirs[i]);
        symlink("x", path);
        snprintf(path, sizeof path, "%s/created_by_mknod", dirs[i]);
        mknod(path, S_IFIFO | 0644, 0);
        int in = open("/renameme", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (in >= 0) close(in);
        snprintf(path, sizeof path, "%s/created_by_rename", dirs[i]);
        rename("/renameme", path);
        /* Directory listing through the link must not show the secret. */
        fd = open(dirs[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            struct stat st;
            if (fstat(fd, &st) == 0 && st.st_ino == ino && st.st_dev == dev) leak("opened the outside dir via %s", dirs[i]);
            close(fd);
        }
    }
    const char* files[] = {"/abs_file", "/rel_file", "abs_file"};
    for (size_t i = 0; i < sizeof files / sizeof *files; ++i) {
        try_read(files[i], token, "symlink file");
        try_stat_ino(files[i], sdev, sino, "symlink file");
        /* O_TRUNC / O_APPEND through the link must not touch the outside file. */
        int fd = open(files[i], O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd >= 0) {
            struct stat st;
            if (fstat(fd, &st) == 0 && st.st_ino == sino && st.st_dev == sdev) leak("opened the outside file for writing via %s", files[i]);
            close(fd);
        }
    }
    /* A dangling link naming a new outside file: creation must not follow it out. */
    int fd = open("/dangling_out", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) close(fd);
    /* exec through a link to the outside program. */
    snprintf(path, sizeof path, "%s/evil", outside);
    symlink(path, "/evil_link");
    pid_t pid = fork();
    if (pid == 0) {
        char* argv[] = {"evil", NULL};
        execv("/evil_link", argv);
        execv("/abs_dir/evil", argv);
        execv("/rel_dir/evil", argv);
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 42) leak("executed the outside program through a symlink");
    /* Scripts whose interpreter lies outside (by host path, by "..", via a link). */
    const char* interps[] = {path, "../outside/evil", "/abs_dir/evil", "/rel_dir/evil"};
    for (size_t i = 0; i < sizeof interps / sizeof *interps; ++i) {
        char script[8300];
        snprintf(script, sizeof script, "#!%s\n", interps[i]);
        fd = open("/script.sh", O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0755);
        if (fd < 0 || write(fd, script, strlen(script)) < 0) note("write /script.sh: %s", strerror(errno));
        if (fd >= 0) close(fd);
        pid = fork();
        if (pid == 0) {
            char* argv[] = {"script.sh", NULL};
            execv("/script.sh", argv);
            _exit(0);
        }
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 42) leak("a script ran the outside interpreter %s", interps[i]);
    }
    return finish();
}
