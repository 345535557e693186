/* Trick: kill(-1, SIGKILL) from inside, which outside a space kills every
 * process of the user (or of the machine, as root). It must reach only the
 * space's own processes: this program (the first process) dies of SIGKILL,
 * so hsbox exits 137; the driver and an outside process survive.
 * Before broadcasting it checks that pid-directed signals are confined, so
 * a broken supervisor fails here rather than killing the machine. */
#include <signal.h>
#include <time.h>

#include "escape.h"

int main(void) {
    pid_t sup = (pid_t)env_ul("ESC_SUP_PID");
    pid_t out = (pid_t)env_ul("ESC_OUT_PID");
    if (kill(sup, 0) == 0 || kill(out, 0) == 0) {
        leak("kill() reaches outside pids; not broadcasting");
        return finish();
    }
    pid_t kid = fork();
    if (kid == 0) {
        /* Grandchild of hsbox: broadcasts, then waits to be killed by the
         * supervisor at the end of the run. */
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (kill(-1, SIGKILL) < 0) fprintf(stderr, "kill(-1): %s\n", strerror(errno));
        for (;;) pause();
    }
    /* Killed by the broadcast; if it never comes the run ends with 5. */
    sleep(20);
    fprintf(stderr, "kill(-1, SIGKILL) from inside did not reach the space's first process\n");
    return 5;
}
