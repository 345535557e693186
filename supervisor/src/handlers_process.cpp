// Process family: every call that names another process by pid. A pid
// outside the space does not exist (ESRCH). For a pid inside, the call runs
// in the kernel (CONTINUE): the decision depends on the register alone, and
// a space pid cannot be reused before the supervisor has seen it exit (it is
// the tracer, and handles exits on this same thread). Group and broadcast
// signals are fanned out here to the space's own processes only.
#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <cstdlib>

#include "handlers.hpp"

namespace hsbox::supervisor {

namespace {

bool mine(Call& c, pid_t pid) { return pid == 0 || c.space.tasks->contains(pid); }

Reply cont_if_mine(Call& c, pid_t pid) { return mine(c, pid) ? Reply::cont() : Reply::err(ESRCH); }

// Process group of a process, from /proc/PID/stat (field 5).
pid_t pgid_of(pid_t pid) {
    auto stat = read_file(AT_FDCWD, "/proc/" + std::to_string(pid) + "/stat");
    if (!stat) return -1;
    auto close = stat->rfind(')');
    if (close == std::string::npos) return -1;
    // After ") ": state ppid pgrp
    const char* p = stat->c_str() + close + 2;
    char state;
    int ppid, pgrp;
    if (std::sscanf(p, "%c %d %d", &state, &ppid, &pgrp) != 3) return -1;
    return pgrp;
}

// kill(0), kill(-pgid), kill(-1): the space's own processes only.
Reply fan_out_signal(Call& c, pid_t pid, int sig) {
    if (sig < 0 || sig > SIGRTMAX) return Reply::err(EINVAL);
    pid_t want_pgid = pid == 0 ? pgid_of(c.tgid()) : -pid;
    bool any = false;
    for (pid_t tid : c.space.tasks->all()) {
        if (c.space.tasks->tgid_of(tid) != tid) continue;  // leaders only
        if (pid == -1) {
            if (tid == c.tgid()) continue;
        } else if (pgid_of(tid) != want_pgid) {
            continue;
        }
        any = true;
        if (sig) ::kill(tid, sig);
    }
    return any ? Reply::ok(0) : Reply::err(ESRCH);
}

}  // namespace

Reply handle_process(Call& c) {
    pid_t a0 = static_cast<pid_t>(c.arg(0));
    switch (c.nr()) {
        case SYS_kill:
            if (a0 > 0) return cont_if_mine(c, a0);
            return fan_out_signal(c, a0, c.iarg(1));
        case SYS_tkill:
        case SYS_rt_sigqueueinfo:
        case SYS_pidfd_open:
        case SYS_process_vm_readv:
        case SYS_process_vm_writev:
        case SYS_get_robust_list:
            if (a0 <= 0) return Reply::err(c.nr() == SYS_pidfd_open ? EINVAL : ESRCH);
            return cont_if_mine(c, a0);
        case SYS_tgkill:
        case SYS_rt_tgsigqueueinfo: {
            pid_t tid = static_cast<pid_t>(c.arg(1));
            if (a0 <= 0 || tid <= 0) return Reply::err(EINVAL);
            return c.space.tasks->contains(a0) && c.space.tasks->contains(tid) ? Reply::cont() : Reply::err(ESRCH);
        }
        case SYS_kcmp: {
            pid_t b = static_cast<pid_t>(c.arg(1));
            return c.space.tasks->contains(a0) && c.space.tasks->contains(b) ? Reply::cont() : Reply::err(ESRCH);
        }
        case SYS_setuid:
        case SYS_setgid:
        case SYS_setreuid:
        case SYS_setregid:
        case SYS_setresuid:
        case SYS_setresgid:
        case SYS_setfsuid:
        case SYS_setfsgid:
        case SYS_setgroups:
            c.space.creds->forget(c.who.tid);
            return Reply::cont();
        case SYS_ptrace: {
            // Every task of the space is traced by its supervisor already.
            long req = static_cast<long>(c.arg(0));
            if (req == PTRACE_TRACEME) return Reply::err(EPERM);
            pid_t pid = static_cast<pid_t>(c.arg(1));
            return c.space.tasks->contains(pid) ? Reply::err(EPERM) : Reply::err(ESRCH);
        }
        case SYS_prlimit64:
        case SYS_getpgid:
        case SYS_getsid:
        case SYS_setpgid:
        case SYS_migrate_pages:
        case SYS_move_pages:
        case SYS_sched_setparam:
        case SYS_sched_getparam:
        case SYS_sched_setscheduler:
        case SYS_sched_getscheduler:
        case SYS_sched_rr_get_interval:
        case SYS_sched_setaffinity:
        case SYS_sched_getaffinity:
        case SYS_sched_setattr:
        case SYS_sched_getattr:
            if (a0 < 0) return Reply::err(c.nr() == SYS_setpgid ? EINVAL : ESRCH);
            return cont_if_mine(c, a0);
        case SYS_setpriority:
        case SYS_getpriority:
        case SYS_ioprio_set:
        case SYS_ioprio_get: {
            // PRIO_PROCESS / IOPRIO_WHO_PROCESS name a pid; groups and users
            // reach beyond the space: reading is allowed, changing is not.
            bool is_prio = c.nr() == SYS_setpriority || c.nr() == SYS_getpriority;
            int which = c.iarg(0);
            pid_t who = static_cast<pid_t>(c.arg(1));
            bool by_process = is_prio ? which == PRIO_PROCESS : which == 1;
            if (by_process) return cont_if_mine(c, who);
            bool sets = c.nr() == SYS_setpriority || c.nr() == SYS_ioprio_set;
            return sets ? Reply::err(EPERM) : Reply::cont();
        }
    }
    return Reply::err(ENOSYS);
}

}  // namespace hsbox::supervisor
