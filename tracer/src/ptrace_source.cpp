#include "hsbox/tracer/ptrace_source.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "hsbox/fd.hpp"
#include "hsbox/log.hpp"

namespace hsbox::tracer {

namespace {

std::atomic<bool> g_detach{false};
std::atomic<int> g_forward{0};  // a signal to pass on to a spawned command

constexpr unsigned kBaseOptions = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXEC;
constexpr unsigned kFollowOptions = PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK;

timespec now() {
    timespec t{};
    clock_gettime(CLOCK_REALTIME, &t);
    return t;
}

// Returns the thread group of `tid` from /proc (once per new thread).
pid_t read_tgid(pid_t tid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/status", tid);
    auto text = read_file(AT_FDCWD, path, 1 << 16);
    if (!text.ok()) return tid;
    size_t p = text->find("\nTgid:");
    if (p == std::string::npos) return tid;
    return static_cast<pid_t>(std::strtol(text->c_str() + p + 6, nullptr, 10));
}

// Returns the full path of `name` looked up in PATH (as execvp would), or the error.
Result<std::string> resolve_command(const std::string& name) {
    if (name.find('/') != std::string::npos) {
        if (access(name.c_str(), X_OK) != 0) return last_error("cannot execute " + name);
        return name;
    }
    const char* path = getenv("PATH");
    std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
    size_t start = 0;
    while (start <= dirs.size()) {
        size_t end = dirs.find(':', start);
        if (end == std::string::npos) end = dirs.size();
        std::string dir = dirs.substr(start, end - start);
        if (dir.empty()) dir = ".";
        std::string full = dir + "/" + name;
        struct stat st{};
        if (stat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(full.c_str(), X_OK) == 0)
            return full;
        start = end + 1;
    }
    return Error{ENOENT, "command not found: " + name};
}

bool is_stop_signal(int sig) {
    return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

}  // namespace

std::vector<sock_filter> seccomp_trace_program(const std::vector<int>& syscalls) {
    std::vector<sock_filter> p;
    p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
    p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
    p.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    p.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
    // Two instructions per syscall keep every jump short whatever the set size.
    for (int nr : syscalls) {
        p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, 1));
        p.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE));
    }
    p.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    return p;
}

void PtraceSource::request_detach() { g_detach.store(true); }

void PtraceSource::forward_signal(int sig) { g_forward.store(sig); }

PtraceSource::~PtraceSource() {
    // Spawned tracees die with us (PTRACE_O_EXITKILL); attached ones are
    // detached by run(). Nothing else to release.
}

Result<PtraceSource> PtraceSource::spawn(const std::vector<std::string>& argv, PtraceOptions opts) {
    if (argv.empty()) return Error{EINVAL, "no command to trace"};
    auto path = resolve_command(argv[0]);
    if (!path.ok()) return path.error();
    std::vector<char*> cargv;
    for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    std::vector<sock_filter> prog;
    if (opts.use_seccomp) prog = seccomp_trace_program(opts.syscalls);
    sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};

    // The child waits on a pipe until it is seized, so its first traced
    // action is what it does next (installing the filter, then execve).
    int sync[2];
    if (pipe2(sync, O_CLOEXEC) != 0) return last_error("pipe2");
    Fd rd(sync[0]), wr(sync[1]);
    int err_pipe[2];
    if (pipe2(err_pipe, O_CLOEXEC) != 0) return last_error("pipe2");
    Fd err_rd(err_pipe[0]), err_wr(err_pipe[1]);

    pid_t pid = fork();
    if (pid < 0) return last_error("fork");
    if (pid == 0) {
        wr.reset();
        err_rd.reset();
        char c;
        while (::read(rd.get(), &c, 1) < 0 && errno == EINTR) {
        }
        int e = 0;
        if (opts.use_seccomp) {
            // A filter needs no_new_privs unless we hold CAP_SYS_ADMIN; strace does the same.
            if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
                syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0)
                e = errno;
        }
        if (e == 0) {
            execv(path->c_str(), cargv.data());
            e = errno;
        }
        ssize_t ignored = ::write(err_wr.get(), &e, sizeof e);
        (void)ignored;
        _exit(127);
    }
    rd.reset();
    err_wr.reset();
    PtraceSource src;
    src.root_ = pid;
    src.spawned_ = true;
    src.skip_until_exec_ = true;
    src.opts_ = std::move(opts);
    src.seccomp_active_ = src.opts_.use_seccomp;
    unsigned options = kBaseOptions | PTRACE_O_EXITKILL | (src.opts_.follow ? kFollowOptions : 0);
    if (src.seccomp_active_) options |= PTRACE_O_TRACESECCOMP;
    if (ptrace(PTRACE_SEIZE, pid, 0, options) != 0) {
        Error e = last_error("ptrace(PTRACE_SEIZE) of the command");
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        return e;
    }
    if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) != 0) {
        Error e = last_error("ptrace(PTRACE_INTERRUPT)");
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
        return e;
    }
    Thread& t = src.thread(pid);
    t.tgid = pid;
    // The child now stops with PTRACE_EVENT_STOP; run() resumes it. Release it.
    wr.reset();
    // Report an exec failure as an error of spawn (the child writes errno).
    // The read happens in run(): the child cannot get there before it is resumed.
    src.exec_error_fd_ = std::move(err_rd);
    return src;
}

Result<PtraceSource> PtraceSource::attach(pid_t pid, PtraceOptions opts) {
    PtraceSource src;
    src.root_ = pid;
    src.opts_ = std::move(opts);
    src.opts_.use_seccomp = false;  // a filter can only be installed by the process itself
    unsigned options = kBaseOptions | (src.opts_.follow ? kFollowOptions : 0);
    std::vector<pid_t> tids;
    if (src.opts_.follow) {
        char dir[64];
        std::snprintf(dir, sizeof dir, "/proc/%d/task", pid);
        DIR* d = opendir(dir);
        if (!d) return last_error(std::string("open ") + dir);
        while (dirent* e = readdir(d))
            if (e->d_name[0] != '.') tids.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
        closedir(d);
    } else {
        tids.push_back(pid);
    }
    for (pid_t tid : tids) {
        if (ptrace(PTRACE_SEIZE, tid, 0, options) != 0) {
            if (errno == ESRCH && tid != pid) continue;  // thread ended meanwhile
            return last_error("ptrace(PTRACE_SEIZE) of " + std::to_string(tid));
        }
        ptrace(PTRACE_INTERRUPT, tid, 0, 0);
        src.thread(tid).tgid = pid;
    }
    return src;
}

PtraceSource::Thread& PtraceSource::thread(pid_t tid) {
    auto [it, inserted] = threads_.try_emplace(tid);
    if (inserted) it->second.tgid = 0;
    return it->second;
}

void PtraceSource::resume(pid_t tid, Thread& t, int sig) {
    if (g_detach.load() && !spawned_) {
        ptrace(PTRACE_DETACH, tid, 0, sig);
        t.detach_pending = true;
        return;
    }
    int req = (!seccomp_active_ || t.in_syscall) ? PTRACE_SYSCALL : PTRACE_CONT;
    ptrace(static_cast<__ptrace_request>(req), tid, 0, sig);
}

Result<int> PtraceSource::run(TraceHandler& handler) {
    bool detaching = false;
    for (;;) {
        if (threads_.empty()) break;
        if (!spawned_ && g_detach.load() && !detaching) {
            // Stop every tracee; each is detached at its next stop.
            detaching = true;
            for (auto& [tid, t] : threads_) ptrace(PTRACE_INTERRUPT, tid, 0, 0);
        }
        if (spawned_) {
            int fwd = g_forward.exchange(0);
            if (fwd && threads_.count(root_)) kill(root_, fwd);
        }
        int status = 0;
        pid_t tid = waitpid(-1, &status, __WALL);
        if (tid < 0) {
            if (errno == EINTR) continue;
            if (errno == ECHILD) break;
            return last_error("waitpid");
        }
        auto it = threads_.find(tid);
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (it != threads_.end()) {
                Thread& t = it->second;
                if (t.in_syscall && !skip_until_exec_) {
                    mem_.set_tid(tid);
                    t.ev.returned = false;
                    handler.on_syscall_exit(t.ev, mem_);
                }
                if (!(tid == root_ && skip_until_exec_))
                    handler.on_thread_exit(t.tgid ? t.tgid : tid, tid, status);
                threads_.erase(it);
            }
            if (tid == root_) root_status_ = status;
            continue;
        }
        if (!WIFSTOPPED(status)) continue;
        if (it == threads_.end()) {
            // A new child reported before its parent's fork event: adopt it.
            it = threads_.try_emplace(tid).first;
        }
        Thread& t = it->second;
        if (t.tgid == 0) t.tgid = read_tgid(tid);
        if (t.detach_pending) continue;
        int sig = WSTOPSIG(status);
        int event = status >> 16;
        if (detaching) {
            // Any stop will do; forward a pending signal so it is not lost.
            int fwd = (event == 0 && sig != (SIGTRAP | 0x80) && sig != SIGTRAP) ? sig : 0;
            ptrace(PTRACE_DETACH, tid, 0, fwd);
            threads_.erase(it);
            continue;
        }
        if (sig == (SIGTRAP | 0x80) || event == PTRACE_EVENT_SECCOMP) {
            __ptrace_syscall_info info{};
            long n = ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof info, &info);
            if (n <= 0) {
                resume(tid, t, 0);
                continue;
            }
            mem_.set_tid(tid);
            if (info.op == PTRACE_SYSCALL_INFO_ENTRY || info.op == PTRACE_SYSCALL_INFO_SECCOMP) {
                const auto& a = info.op == PTRACE_SYSCALL_INFO_ENTRY ? info.entry.args : info.seccomp.args;
                int nr = static_cast<int>(info.op == PTRACE_SYSCALL_INFO_ENTRY ? info.entry.nr
                                                                               : info.seccomp.nr);
                t.ev = SyscallEvent{};
                t.ev.pid = t.tgid;
                t.ev.tid = tid;
                t.ev.nr = nr;
                for (int k = 0; k < 6; ++k) t.ev.args[k] = a[k];
                t.ev.stack_pointer = info.stack_pointer;
                t.ev.entry_time = now();
                t.in_syscall = true;
                if (tid == root_ && skip_until_exec_ && (nr == SYS_execve || nr == SYS_execveat))
                    skip_until_exec_ = false;
                if (!(tid == root_ && skip_until_exec_)) handler.on_syscall_entry(t.ev, mem_);
            } else if (info.op == PTRACE_SYSCALL_INFO_EXIT) {
                if (t.in_syscall) {
                    t.ev.ret = info.exit.rval;
                    t.ev.returned = true;
                    t.ev.exit_time = now();
                    t.in_syscall = false;
                    if (!(tid == root_ && skip_until_exec_)) handler.on_syscall_exit(t.ev, mem_);
                }
                // An exit without an entry (attached mid-call) is not reported.
                t.in_syscall = false;
            }
            resume(tid, t, 0);
            continue;
        }
        if (sig == SIGTRAP && event != 0) {
            switch (event) {
                case PTRACE_EVENT_FORK:
                case PTRACE_EVENT_VFORK:
                case PTRACE_EVENT_CLONE: {
                    unsigned long child = 0;
                    ptrace(PTRACE_GETEVENTMSG, tid, 0, &child);
                    Thread& c = thread(static_cast<pid_t>(child));
                    // A thread shares the tgid; read it from /proc at its first stop.
                    (void)c;
                    break;
                }
                case PTRACE_EVENT_EXEC: {
                    unsigned long former = 0;
                    ptrace(PTRACE_GETEVENTMSG, tid, 0, &former);
                    if (static_cast<pid_t>(former) != tid) {
                        // A non-leader thread exec'd: it now has the leader's id.
                        auto old = threads_.find(static_cast<pid_t>(former));
                        if (old != threads_.end()) {
                            t.ev = old->second.ev;
                            t.ev.tid = tid;
                            t.in_syscall = old->second.in_syscall;
                            threads_.erase(old);
                        }
                    }
                    if (tid == root_) skip_until_exec_ = false;
                    break;
                }
                default: break;
            }
            resume(tid, t, 0);
            continue;
        }
        if (event == PTRACE_EVENT_STOP) {
            if (is_stop_signal(sig)) {
                // Group stop: stay stopped, but keep reporting (PTRACE_LISTEN).
                ptrace(PTRACE_LISTEN, tid, 0, 0);
            } else {
                resume(tid, t, 0);
            }
            continue;
        }
        // Signal-delivery stop.
        siginfo_t si{};
        if (ptrace(PTRACE_GETSIGINFO, tid, 0, &si) == 0 && !(tid == root_ && skip_until_exec_))
            handler.on_signal(t.tgid, tid, si);
        resume(tid, t, sig);
    }
    if (!spawned_) return 0;
    if (exec_error_fd_) {
        int e = 0;
        if (::read(exec_error_fd_.get(), &e, sizeof e) == sizeof e && e != 0)
            return Error{e, "exec of the command"};
    }
    return root_status_;
}

}  // namespace hsbox::tracer
