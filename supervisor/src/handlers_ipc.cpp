// IPC family: SysV shared memory, semaphores, message queues and POSIX
// message queues are private to the space. Keys are mapped to objects the
// supervisor creates (IPC_PRIVATE) on the space's behalf; ids the space did
// not get from us are invalid (EINVAL); queue names are renamed under a
// per-space prefix. Everything is removed when the space ends.
#include <fcntl.h>
#include <linux/limits.h>
#include <mqueue.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "handlers.hpp"
#include "target_memory.hpp"

namespace hsbox::supervisor {

namespace {

enum Kind { Shm = 0, Sem = 1, Msg = 2 };

long create_private(Kind k, Call& c, int flags) {
    int perms = flags & 0777;
    switch (k) {
        case Shm: return ::syscall(SYS_shmget, IPC_PRIVATE, c.arg(1), IPC_CREAT | perms);
        case Sem: return ::syscall(SYS_semget, IPC_PRIVATE, c.arg(1), IPC_CREAT | perms);
        case Msg: return ::syscall(SYS_msgget, IPC_PRIVATE, IPC_CREAT | perms);
    }
    return -1;
}

bool still_exists(Kind k, int id) {
    switch (k) {
        case Shm: {
            shmid_ds ds;
            return ::shmctl(id, IPC_STAT, &ds) == 0 || errno == EACCES;
        }
        case Sem: return ::semctl(id, 0, IPC_STAT, nullptr) == 0 || errno == EACCES || errno == EFAULT;
        case Msg: {
            msqid_ds ds;
            return ::msgctl(id, IPC_STAT, &ds) == 0 || errno == EACCES;
        }
    }
    return false;
}

// Created by a root supervisor for a caller with other ids: the object is
// the caller's, as if it had created it.
void give_to_caller(Kind k, int id, Call& c) {
    if (!c.space.creds || !c.space.creds->active()) return;
    const Creds& who = c.space.creds->of(c.who.tid);
    if (who.euid == 0 && who.egid == 0) return;
    switch (k) {
        case Shm: {
            shmid_ds ds;
            if (::shmctl(id, IPC_STAT, &ds) == 0) {
                ds.shm_perm.uid = who.euid;
                ds.shm_perm.gid = who.egid;
                ::shmctl(id, IPC_SET, &ds);
            }
            break;
        }
        case Sem: {
            semid_ds ds;
            if (::semctl(id, 0, IPC_STAT, &ds) == 0) {
                ds.sem_perm.uid = who.euid;
                ds.sem_perm.gid = who.egid;
                ::semctl(id, 0, IPC_SET, &ds);
            }
            break;
        }
        case Msg: {
            msqid_ds ds;
            if (::msgctl(id, IPC_STAT, &ds) == 0) {
                ds.msg_perm.uid = who.euid;
                ds.msg_perm.gid = who.egid;
                ::msgctl(id, IPC_SET, &ds);
            }
            break;
        }
    }
}

Reply do_get(Call& c, Kind k) {
    int64_t key = static_cast<key_t>(c.arg(0));
    int flags = c.iarg(k == Msg ? 1 : 2);
    auto& keys = c.space.ipc.sysv_keys[k];
    auto& ids = c.space.ipc.sysv_ids[k];
    if (key != IPC_PRIVATE) {
        auto it = keys.find(key);
        if (it != keys.end() && still_exists(k, it->second)) {
            if ((flags & IPC_CREAT) && (flags & IPC_EXCL)) return Reply::err(EEXIST);
            return Reply::ok(it->second);
        }
        if (it != keys.end()) keys.erase(it);
        if (!(flags & IPC_CREAT)) return Reply::err(ENOENT);
    }
    long id;
    {
        AsSupervisor own;
        id = create_private(k, c, flags);
        if (id < 0) return Reply::err(errno);
        give_to_caller(k, static_cast<int>(id), c);
    }
    ids.insert(static_cast<int>(id));
    if (key != IPC_PRIVATE) keys[key] = static_cast<int>(id);
    return Reply::ok(id);
}

// Commands that enumerate the host's objects by index rather than by id.
bool global_cmd(Kind k, int cmd) {
    cmd &= ~0x100;  // IPC_64
    if (cmd == IPC_INFO) return true;
    switch (k) {
        case Shm: return cmd == SHM_INFO || cmd == SHM_STAT || cmd == SHM_STAT_ANY;
        case Sem: return cmd == SEM_INFO || cmd == SEM_STAT || cmd == SEM_STAT_ANY;
        case Msg: return cmd == MSG_INFO || cmd == MSG_STAT || cmd == MSG_STAT_ANY;
    }
    return true;
}

Reply do_use(Call& c, Kind k, int cmd_arg) {
    int id = c.iarg(0);
    auto& ids = c.space.ipc.sysv_ids[k];
    if (cmd_arg >= 0 && global_cmd(k, c.iarg(cmd_arg))) return Reply::err(EINVAL);
    if (!ids.count(id)) return Reply::err(EINVAL);
    if (cmd_arg >= 0 && (c.iarg(cmd_arg) & ~0x100) == IPC_RMID) {
        ids.erase(id);
        auto& keys = c.space.ipc.sysv_keys[k];
        for (auto it = keys.begin(); it != keys.end();)
            it = it->second == id ? keys.erase(it) : std::next(it);
    }
    return Reply::cont();
}

Result<std::string> queue_name(Call& c) {
    auto name = read_string(c.n.pid, c.arg(0), NAME_MAX);
    if (!name) return Error{name.code() == ENAMETOOLONG ? ENAMETOOLONG : EFAULT, "mq name"};
    if (name->empty() || name->find('/') != std::string::npos) return Error{EINVAL, "mq name"};
    std::string host = c.space.ipc.abstract_prefix + *name;
    if (host.size() > NAME_MAX) return Error{ENAMETOOLONG, "mq name"};
    return host;
}

Reply do_mq_open(Call& c) {
    auto name = queue_name(c);
    if (!name) return Reply::err(name.code());
    int flags = c.iarg(1);
    mq_attr attr{};
    mq_attr* ap = nullptr;
    if ((flags & O_CREAT) && c.arg(3)) {
        if (!read_memory(c.n.pid, c.arg(3), &attr, sizeof attr)) return Reply::err(EFAULT);
        ap = &attr;
    }
    long fd = ::syscall(SYS_mq_open, name->c_str(), flags | O_CLOEXEC, static_cast<mode_t>(c.arg(2)), ap);
    if (fd < 0) return Reply::err(errno);
    if (flags & O_CREAT) c.space.ipc.mq_names.insert(*name);
    return Reply::inject(Fd(static_cast<int>(fd)), flags & O_CLOEXEC);
}

Reply do_mq_unlink(Call& c) {
    auto name = queue_name(c);
    if (!name) return Reply::err(name.code());
    if (::syscall(SYS_mq_unlink, name->c_str()) < 0) return Reply::err(errno);
    c.space.ipc.mq_names.erase(*name);
    return Reply::ok(0);
}

}  // namespace

Reply handle_ipc(Call& c) {
    switch (c.nr()) {
        case SYS_shmget: return do_get(c, Shm);
        case SYS_semget: return do_get(c, Sem);
        case SYS_msgget: return do_get(c, Msg);
        case SYS_shmat: return do_use(c, Shm, -1);
        case SYS_shmctl: return do_use(c, Shm, 1);
        case SYS_semop:
        case SYS_semtimedop: return do_use(c, Sem, -1);
        case SYS_semctl: return do_use(c, Sem, 2);
        case SYS_msgsnd:
        case SYS_msgrcv: return do_use(c, Msg, -1);
        case SYS_msgctl: return do_use(c, Msg, 1);
        case SYS_mq_open: return do_mq_open(c);
        case SYS_mq_unlink: return do_mq_unlink(c);
    }
    return Reply::err(ENOSYS);
}

void release_ipc(IpcState& ipc) {
    for (int id : ipc.sysv_ids[Shm]) ::shmctl(id, IPC_RMID, nullptr);
    for (int id : ipc.sysv_ids[Sem]) ::semctl(id, 0, IPC_RMID);
    for (int id : ipc.sysv_ids[Msg]) ::msgctl(id, IPC_RMID, nullptr);
    for (auto& n : ipc.mq_names) ::syscall(SYS_mq_unlink, n.c_str());
    for (auto& s : ipc.sysv_ids) s.clear();
    ipc.mq_names.clear();
}

}  // namespace hsbox::supervisor
