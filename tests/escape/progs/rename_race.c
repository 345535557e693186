/* Trick: renames racing a lookup. One thread keeps exchanging /race/dir (a
 * real directory holding an inside "secret") with symlinks that lead out
 * (absolute host path, "../../outside", "../.."), another opens and stats
 * through /race/dir for ~1 s. Also moves a directory up while a walk with
 * ".." is under way. Usage: rename_race SECONDS */
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>

#include "escape.h"

static atomic_int stop;
static long swaps;

static int exchange(const char* a, const char* b) {
    return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
}

static void* swapper(void* arg) {
    (void)arg;
    const char* links[] = {"/race/sym", "/race/relsym", "/race/upsym"};
    unsigned i = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        const char* l = links[i++ % 3];
        if (exchange("/race/dir", l) == 0) {
            ++swaps;
            exchange("/race/dir", l);
        }
        /* Move a subdirectory up and back while walkers use "..". */
        if (rename("/race/deep/a/b", "/race/b") == 0) rename("/race/b", "/race/deep/a/b");
    }
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    const char* token = TOKEN;
    const char* outside = OUTSIDE;
    unsigned long dev = env_ul("ESC_OUTSIDE_DEV"), ino = env_ul("ESC_OUTSIDE_INO");
    unsigned long sdev = env_ul("ESC_SECRET_DEV"), sino = env_ul("ESC_SECRET_INO");
    char deep_up[4096];
    snprintf(deep_up, sizeof deep_up, "/race/deep/a/b/c/../../../../../..%s/secret", outside);

    pthread_t t;
    pthread_create(&t, NULL, swapper, NULL);
    long opens = 0, inside = 0;
    double end = now() + secs;
    while (now() < end && !esc_leaks) {
        for (int i = 0; i < 32; ++i) {
            ++opens;
            int fd = open("/race/dir/secret", O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                struct stat st;
                fstat(fd, &st);
                if (st.st_ino == sino && st.st_dev == sdev) leak("open through a swapped dir reached the outside secret");
                else if (fd_has_token(fd, token)) leak("read the token through a swapped dir");
                else ++inside;
                close(fd);
            }
            struct stat st;
            if (stat("/race/dir", &st) == 0 && st.st_ino == ino && st.st_dev == dev) leak("stat through a swapped dir reached the outside dir");
            fd = open("/race/dir", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (fd >= 0) {
                try_read_at(fd, "secret", token, "dirfd of a swapped dir");
                try_read_at(fd, "../../outside/secret", token, "dirfd of a swapped dir, ..");
                close(fd);
            }
            try_read(deep_up, token, "walk with .. while a dir moves");
            try_read("/race/deep/a/b/c/../../../../../../outside/secret", token, "walk with .. while a dir moves");
            fd = open("/race/deep/a/b/c", O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (fd >= 0) {
                try_read_at(fd, "../../../../../../outside/secret", token, "dirfd in a moving dir, ..");
                close(fd);
            }
        }
    }
    atomic_store(&stop, 1);
    pthread_join(t, NULL);
    printf("rename race: %ld opens (%ld inside), %ld swaps\n", opens, inside, swaps);
    if (swaps == 0) {
        fprintf(stderr, "FAIL: the swapper never exchanged anything (renameat2 RENAME_EXCHANGE: %s)\n", strerror(errno));
        return 2;
    }
    return finish();
}
