/* Trick: finding processes outside the space through /proc. The listing
 * must show exactly this process and its two children; the supervisor, the
 * driver and an outside process must not exist by pid. */
#include <dirent.h>
#include <signal.h>

#include "escape.h"

int main(void) {
    pid_t kids[2];
    for (int i = 0; i < 2; ++i) {
        kids[i] = fork();
        if (kids[i] == 0) {
            pause();
            _exit(0);
        }
    }
    pid_t self = getpid();
    int seen_self = 0, seen_kids = 0, numeric = 0;
    DIR* d = opendir("/proc");
    if (!d) {
        fprintf(stderr, "FAIL: opendir /proc: %s\n", strerror(errno));
        return 2;
    }
    struct dirent* e;
    while ((e = readdir(d))) {
        char* end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || end == e->d_name) continue;
        ++numeric;
        if (pid == self) seen_self = 1;
        else if (pid == kids[0] || pid == kids[1]) ++seen_kids;
        else leak("/proc lists pid %ld, which is not in the space", pid);
    }
    closedir(d);
    if (!seen_self || seen_kids != 2) {
        fprintf(stderr, "FAIL: /proc listing misses space pids (self %d, children %d of 2)\n", seen_self, seen_kids);
        esc_leaks++;
    }
    const char* others[] = {"ESC_SUP_PID", "ESC_OUT_PID", "ESC_DRIVER_PID"};
    for (int i = 0; i < 3; ++i) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%s", env(others[i]));
        struct stat st;
        char what[128];
        snprintf(what, sizeof what, "stat %s (%s)", path, others[i]);
        expect_errno(stat(path, &st), ENOENT, what);
        snprintf(path, sizeof path, "/proc/%s/status", env(others[i]));
        snprintf(what, sizeof what, "open %s", path);
        expect_errno(open(path, O_RDONLY | O_CLOEXEC), ENOENT, what);
        snprintf(path, sizeof path, "/proc/%s/cmdline", env(others[i]));
        snprintf(what, sizeof what, "open %s", path);
        expect_errno(open(path, O_RDONLY | O_CLOEXEC), ENOENT, what);
    }
    struct stat st;
    if (stat("/proc/1", &st) == 0 && self != 1) leak("/proc/1 exists (the host's init)");
    /* Our own task list shows our one thread. */
    d = opendir("/proc/self/task");
    if (d) {
        int tasks = 0;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') ++tasks;
        closedir(d);
        if (tasks != 1) note("/proc/self/task lists %d tasks", tasks);
    }
    for (int i = 0; i < 2; ++i) kill(kids[i], SIGKILL);
    for (int i = 0; i < 2; ++i) waitpid(kids[i], NULL, 0);
    printf("/proc listed %d pids\n", numeric);
    return finish();
}
