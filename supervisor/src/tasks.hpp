// Tasks: the space's threads and processes, as the supervisor's ptrace sees
// them. The supervisor is the (only) tracer of every task in the space:
// PTRACE_O_TRACEFORK/VFORK/CLONE make membership exact (a pid is in the space
// iff we traced its creation), and execve/execveat/chdir stop here
// (SECCOMP_RET_TRACE) so their path can be replaced race-free.
//
// Exec/chdir rewrite, the one place the kernel must resolve a path the space
// gave: at the seccomp stop, every other task of the space is interrupted
// (PTRACE_INTERRUPT) except those blocked in a notification we hold, so no
// thread or process can change memory; the path is read once, resolved in the
// space's view, and its canonical host path (no symlinks left) is written
// below the caller's stack pointer and put in the argument register. The
// world restarts when the syscall exits or the exec event arrives, after the
// kernel has copied the path. Scripts (#!) and, for a root other than "/",
// dynamic ELF programs are rewritten to start their interpreter as resolved
// in the space.
//
// State machine per task: Running -> (seccomp stop) Rewriting -> Running;
// Running -> (interrupted by a world stop) Deferred -> Running.
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <deque>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "creds.hpp"
#include "hsbox/fd.hpp"
#include "view.hpp"

namespace hsbox::supervisor {

class Tasks {
public:
    // `in_flight(tid)`: does the supervisor hold an unanswered notification of tid?
    // `creds`: resolve exec/chdir paths with the caller's credentials.
    Tasks(SpaceView& view, CredSwitch& creds, std::function<bool(pid_t)> in_flight)
        : view_(view), creds_(creds), in_flight_(std::move(in_flight)) {}

    // The first process, already seized by the caller.
    void add_initial(pid_t pid);

    bool contains(pid_t tid) const { return tasks_.count(tid) != 0; }
    bool empty() const { return tasks_.empty(); }
    std::vector<pid_t> all() const;

    // The thread group of a task of the space (reads /proc once per task).
    pid_t tgid_of(pid_t tid);

    // A pidfd for a thread-group leader of the space (cached until it exits).
    Result<int> pidfd(pid_t tgid);

    // Collects and handles every pending wait status.
    void reap();

    // True while a world stop is in progress: the loop must not answer
    // notifications then (an answered task would run).
    bool world_stopped() const { return rewriting_ != 0; }

    bool main_exited() const { return main_exited_; }
    int main_status() const { return main_status_; }

    // Kills every task of the space (SIGKILL) and waits for them.
    void kill_all();

private:
    struct Task {
        pid_t tgid = 0;
        bool seen_stop = false;
        bool rewriting = false;
        user_regs_struct saved{};
    };

    void handle(pid_t pid, int status);
    void on_exit(pid_t pid, int status);
    void on_seccomp_stop(pid_t pid);
    void finish_rewrite(pid_t pid, bool exec_done);
    void stop_world(pid_t except);
    void restart_world();
    Task& task(pid_t tid);

    SpaceView& view_;
    CredSwitch& creds_;
    std::function<bool(pid_t)> in_flight_;
    std::map<pid_t, Task> tasks_;
    std::map<pid_t, Fd> pidfds_;
    std::deque<std::pair<pid_t, int>> deferred_;  // statuses collected during a world stop
    // vfork child -> parent, until the child execs or exits: the parent sits
    // in an uninterruptible wait meanwhile and runs no code, so a world stop
    // must not wait for it.
    std::map<pid_t, pid_t> vfork_parent_;
    pid_t rewriting_ = 0;
    pid_t main_ = 0;
    bool main_exited_ = false;
    int main_status_ = 0;
};

}  // namespace hsbox::supervisor
