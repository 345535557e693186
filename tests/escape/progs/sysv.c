/* Trick: attaching SysV objects created outside the space. The driver made a
 * shared memory segment (ESC_SHM_KEY/ESC_SHM_ID, holding the token), a
 * message queue (ESC_MSG_KEY/ESC_MSG_ID, one message) and a semaphore set
 * (ESC_SEM_KEY/ESC_SEM_ID). By key the space must get its own objects, by id
 * nothing (EINVAL); the driver checks its objects are intact afterwards. */
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include "escape.h"

int main(void) {
    const char* token = TOKEN;
    key_t shm_key = (key_t)env_ul("ESC_SHM_KEY"), msg_key = (key_t)env_ul("ESC_MSG_KEY"), sem_key = (key_t)env_ul("ESC_SEM_KEY");
    int shm_id = (int)env_ul("ESC_SHM_ID"), msg_id = (int)env_ul("ESC_MSG_ID"), sem_id = (int)env_ul("ESC_SEM_ID");

    /* By key. */
    int id = shmget(shm_key, 0, 0);
    if (id == shm_id) leak("shmget(outside key) returned the outside segment");
    else if (id >= 0) note("shmget(outside key) found a segment %d", id);
    else if (errno != ENOENT) note("shmget(outside key): %s", strerror(errno));
    id = msgget(msg_key, 0);
    if (id == msg_id) leak("msgget(outside key) returned the outside queue");
    id = semget(sem_key, 0, 0);
    if (id == sem_id) leak("semget(outside key) returned the outside set");

    /* By id. */
    void* p = shmat(shm_id, NULL, SHM_RDONLY);
    if (p != (void*)-1) {
        leak("shmat(outside id) attached the outside segment");
        if (strstr((const char*)p, token)) leak("and read the token from it");
    } else if (errno != EINVAL) {
        fprintf(stderr, "FAIL: shmat(outside id): %s, expected EINVAL\n", strerror(errno));
        esc_leaks++;
    }
    struct shmid_ds ds;
    expect_errno(shmctl(shm_id, IPC_STAT, &ds), EINVAL, "shmctl(outside id, IPC_STAT)");
    expect_errno(shmctl(shm_id, IPC_RMID, NULL), EINVAL, "shmctl(outside id, IPC_RMID)");
    /* Enumeration by index. */
    for (int i = 0; i < 64; ++i) {
        int r = shmctl(i, SHM_STAT, &ds);
        if (r == shm_id) leak("SHM_STAT index %d listed the outside segment", i);
    }
    struct shm_info info;
    if (shmctl(0, SHM_INFO, (struct shmid_ds*)&info) >= 0) note("SHM_INFO answered with host-wide counts");
    char msgbuf[sizeof(long) + 128];
    expect_errno(msgrcv(msg_id, msgbuf, 128, 0, IPC_NOWAIT), EINVAL, "msgrcv(outside id)");
    struct msqid_ds mds;
    expect_errno(msgctl(msg_id, IPC_STAT, &mds), EINVAL, "msgctl(outside id, IPC_STAT)");
    expect_errno(msgctl(msg_id, IPC_RMID, NULL), EINVAL, "msgctl(outside id, IPC_RMID)");
    expect_errno(semctl(sem_id, 0, GETVAL), EINVAL, "semctl(outside id, GETVAL)");
    expect_errno(semctl(sem_id, 0, IPC_RMID), EINVAL, "semctl(outside id, IPC_RMID)");
    struct sembuf op = {0, 1, IPC_NOWAIT};
    expect_errno(semop(sem_id, &op, 1), EINVAL, "semop(outside id)");

    /* The same key inside makes the space's own segment, which works. */
    id = shmget(shm_key, 4096, IPC_CREAT | 0600);
    if (id < 0) {
        fprintf(stderr, "FAIL: shmget(key, IPC_CREAT) inside: %s\n", strerror(errno));
        return 2;
    }
    if (id == shm_id) leak("shmget(key, IPC_CREAT) gave the outside segment");
    p = shmat(id, NULL, 0);
    if (p == (void*)-1) {
        fprintf(stderr, "FAIL: shmat of the space's own segment: %s\n", strerror(errno));
        return 2;
    }
    if (strstr((const char*)p, token)) leak("the space's segment holds the outside token");
    strcpy((char*)p, "inside");
    shmdt(p);
    if (shmget(shm_key, 0, 0) != id) note("shmget(key) does not find the space's own segment again");
    shmctl(id, IPC_RMID, NULL);
    return finish();
}
