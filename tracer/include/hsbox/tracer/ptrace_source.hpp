// PtraceSource: the ptrace event source. Starts a command (or attaches to a
// running process), follows its forks, threads and execs, and reports every
// syscall entry and exit to a TraceHandler with a MemoryReader for the
// thread. With a seccomp filter (as `strace --seccomp-bpf`) only the selected
// syscalls stop the tracee; the others run at native speed.
//
// Per-thread state machine (Thread::in_syscall):
//   running --entry stop (syscall or seccomp)--> in syscall --exit stop--> running
// In seccomp mode a thread is resumed with PTRACE_SYSCALL while in a syscall
// (to get its exit stop) and with PTRACE_CONT otherwise (no stop until the
// next traced syscall). Events (fork, exec, clone, group stop) keep the state.
#pragma once

#include <linux/filter.h>
#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <string>
#include <unordered_map>
#include <vector>

#include "hsbox/fd.hpp"
#include "hsbox/result.hpp"
#include "hsbox/tracer/event.hpp"
#include "hsbox/tracer/memory.hpp"

namespace hsbox::tracer {

// What an event source reports. The supervisor can implement a source of its
// own and feed the same handler.
class TraceHandler {
public:
    virtual ~TraceHandler() = default;
    // A syscall entered (ev.returned is false). `mem` reads the thread's memory.
    virtual void on_syscall_entry(const SyscallEvent& ev, MemoryReader& mem) = 0;
    // The same syscall returned (ev.returned true), or its thread ended inside it
    // (ev.returned false: exit, exit_group, killed).
    virtual void on_syscall_exit(const SyscallEvent& ev, MemoryReader& mem) = 0;
    // A signal is being delivered to `tid`.
    virtual void on_signal(pid_t pid, pid_t tid, const siginfo_t& si) = 0;
    // Thread `tid` of process `pid` ended with wait status `status`.
    virtual void on_thread_exit(pid_t pid, pid_t tid, int status) = 0;
};

struct PtraceOptions {
    bool follow = true;            // trace children and threads (-f)
    bool use_seccomp = false;      // install a seccomp filter so only `syscalls` stop
    std::vector<int> syscalls;     // selected numbers (for the seccomp filter)
};

class PtraceSource {
public:
    // Forks and execs `argv` (argv[0] resolved in PATH) under trace. Returns
    // the source, or the error (command not found, ptrace refused, ...).
    static Result<PtraceSource> spawn(const std::vector<std::string>& argv, PtraceOptions opts);
    // Attaches to every thread of the running process `pid`.
    static Result<PtraceSource> attach(pid_t pid, PtraceOptions opts);

    PtraceSource(PtraceSource&&) = default;
    ~PtraceSource();

    // Runs until no tracee is left. Returns the root's wait status (spawn)
    // or 0 after a detach (attach).
    Result<int> run(TraceHandler& handler);

    // Asks run() to detach from every tracee and return (async-signal-safe:
    // call it from a signal handler; run() notices when waitpid is interrupted).
    static void request_detach();
    // Asks run() to send `sig` to the spawned command (async-signal-safe), so
    // that `kill hsbox` stops the traced server the way it would stop it untraced.
    static void forward_signal(int sig);

    pid_t root() const { return root_; }
    bool seccomp_active() const { return seccomp_active_; }

private:
    struct Thread {
        pid_t tgid = 0;
        bool in_syscall = false;
        bool detach_pending = false;
        SyscallEvent ev;
    };
    PtraceSource() = default;
    void resume(pid_t tid, Thread& t, int sig);
    Thread& thread(pid_t tid);

    pid_t root_ = -1;
    bool spawned_ = false;
    bool skip_until_exec_ = false;  // the root's own pre-exec syscalls are ours, not the command's
    bool seccomp_active_ = false;
    PtraceOptions opts_;
    int root_status_ = 0;
    std::unordered_map<pid_t, Thread> threads_;
    ProcessMemory mem_{0};
    Fd exec_error_fd_;  // the child writes errno here when exec fails
};

// Returns the seccomp-bpf program that makes the selected x86_64 syscalls
// stop with SECCOMP_RET_TRACE and lets every other call run.
std::vector<sock_filter> seccomp_trace_program(const std::vector<int>& syscalls);

}  // namespace hsbox::tracer
