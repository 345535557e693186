/* Trick: opening a POSIX message queue created outside (ESC_MQ, holding one
 * message with the token). Opening it by name must fail (ENOENT); creating
 * the same name inside gives the space's own, empty queue. */
#include <mqueue.h>

#include "escape.h"

int main(void) {
    const char* name = env("ESC_MQ");
    const char* token = TOKEN;
    mqd_t q = mq_open(name, O_RDONLY | O_NONBLOCK);
    if (q != (mqd_t)-1) {
        char buf[8192];
        ssize_t n = mq_receive(q, buf, sizeof buf, NULL);
        if (n > 0 && memmem(buf, (size_t)n, token, strlen(token))) leak("received the outside queue's message");
        else leak("mq_open(%s) opened a queue that the space did not create", name);
        mq_close(q);
    } else if (errno != ENOENT) {
        fprintf(stderr, "FAIL: mq_open(%s): %s, expected ENOENT\n", name, strerror(errno));
        esc_leaks++;
    }
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 128};
    q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_NONBLOCK, 0600, &attr);
    if (q == (mqd_t)-1) {
        fprintf(stderr, "FAIL: mq_open(%s, O_CREAT|O_EXCL) inside: %s\n", name, strerror(errno));
        return 2;
    }
    char buf[256];
    if (mq_receive(q, buf, sizeof buf, NULL) >= 0) leak("the space's new queue holds a message from outside");
    if (mq_send(q, "in", 2, 0) < 0 || mq_receive(q, buf, sizeof buf, NULL) != 2) {
        fprintf(stderr, "FAIL: the space's own queue does not work: %s\n", strerror(errno));
        return 2;
    }
    mq_close(q);
    if (mq_unlink(name) < 0) note("mq_unlink of the space's queue: %s", strerror(errno));
    /* Unlinking again must not reach the outside queue. */
    if (mq_unlink(name) == 0) leak("mq_unlink removed the outside queue");
    return finish();
}
