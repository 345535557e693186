#include "tasks.hpp"

#include <elf.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <optional>

#include "hsbox/log.hpp"
#include "target_memory.hpp"

namespace hsbox::supervisor {

namespace {

long pt(__ptrace_request req, pid_t pid, void* addr = nullptr, void* data = nullptr) {
    return ::ptrace(req, pid, addr, data);
}
void cont(pid_t pid, int sig = 0) { pt(PTRACE_CONT, pid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig))); }

bool is_stop_signal(int sig) { return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU; }

uint64_t now_ns() {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// What an exec or chdir becomes once resolved in the space.
struct Rewrite {
    std::string filename;                 // canonical host path
    std::vector<std::string> argv_prefix; // replaces argv[0] when `new_argv`
    bool new_argv = false;
};

// Reads the first bytes of an executable (empty when it is not readable).
std::string read_header(const Fd& probe) {
    auto f = open_at(AT_FDCWD, "/proc/self/fd/" + std::to_string(probe.get()), O_RDONLY);
    if (!f) return {};
    char buf[512];
    ssize_t n = ::pread(f->get(), buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// PT_INTERP of a 64-bit ELF, if any.
std::optional<std::string> elf_interpreter(const Fd& probe) {
    auto f = open_at(AT_FDCWD, "/proc/self/fd/" + std::to_string(probe.get()), O_RDONLY);
    if (!f) return std::nullopt;
    Elf64_Ehdr eh;
    if (::pread(f->get(), &eh, sizeof eh, 0) != sizeof eh) return std::nullopt;
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64) return std::nullopt;
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 256) return std::nullopt;
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph;
        off_t off = static_cast<off_t>(eh.e_phoff + i * sizeof ph);
        if (::pread(f->get(), &ph, sizeof ph, off) != sizeof ph) return std::nullopt;
        if (ph.p_type != PT_INTERP) continue;
        if (ph.p_filesz == 0 || ph.p_filesz > PATH_MAX) return std::nullopt;
        std::string s(ph.p_filesz, '\0');
        if (::pread(f->get(), s.data(), s.size(), static_cast<off_t>(ph.p_offset)) != static_cast<ssize_t>(s.size()))
            return std::nullopt;
        s.resize(std::strlen(s.c_str()));
        return s;
    }
    return std::nullopt;
}

// Resolves an executable in the space: a regular file, not hidden.
Result<std::pair<Fd, std::string>> resolve_exe(SpaceView& view, const Who& who, const std::string& space_path,
                                               bool nofollow) {
    auto fd = view.open(who, space_path, O_PATH | (nofollow ? O_NOFOLLOW : 0), 0);
    if (!fd) return fd.error();
    struct stat st;
    if (::fstat(fd->get(), &st) < 0) return last_error("fstat");
    if (S_ISLNK(st.st_mode)) return Error{ELOOP, space_path};
    if (!S_ISREG(st.st_mode)) return Error{EACCES, space_path};
    auto host = SpaceView::fd_path(fd->get());
    if (!host) return host.error();
    return std::make_pair(std::move(*fd), std::move(*host));
}

Result<Rewrite> plan_exec(SpaceView& view, const Who& who, const std::string& space_path, const std::string& as_given,
                          const std::string& argv0, bool nofollow) {
    auto exe = resolve_exe(view, who, space_path, nofollow);
    if (!exe) return exe.error();
    Rewrite rw;
    rw.filename = exe->second;
    std::string header = read_header(exe->first);
    std::vector<std::string> prefix;
    std::string script_name = as_given;
    // Nested interpreters, as the kernel allows (but resolved in the space).
    for (int depth = 0; header.size() > 2 && header[0] == '#' && header[1] == '!'; ++depth) {
        if (depth >= 4) return Error{ELOOP, space_path};
        std::string line = header.substr(2, header.find('\n') == std::string::npos ? std::string::npos
                                                                                    : header.find('\n') - 2);
        auto b = line.find_first_not_of(" \t");
        if (b == std::string::npos) return Error{ENOEXEC, space_path};
        line = line.substr(b);
        auto e = line.find_first_of(" \t");
        std::string interp = line.substr(0, e);
        std::string arg;
        if (e != std::string::npos) {
            arg = line.substr(e);
            auto ab = arg.find_first_not_of(" \t");
            auto ae = arg.find_last_not_of(" \t\r");
            arg = ab == std::string::npos ? "" : arg.substr(ab, ae - ab + 1);
        }
        std::vector<std::string> p{interp};
        if (!arg.empty()) p.push_back(arg);
        p.push_back(script_name);
        // The previous prefix's first element (argv[0]) is replaced by this one.
        if (!prefix.empty()) prefix.erase(prefix.begin());
        prefix.insert(prefix.begin(), p.begin(), p.end());
        std::string interp_space = interp[0] == '/' ? interp : view.absolute(who, AT_FDCWD, interp).value();
        auto ie = resolve_exe(view, who, interp_space, false);
        if (!ie) return ie.error();
        rw.filename = ie->second;
        script_name = interp;
        header = read_header(ie->first);
        exe = std::move(ie);
    }
    if (view.root() != "/") {
        if (auto interp = elf_interpreter(exe->first)) {
            // The kernel would load the host's interpreter: start the space's
            // own loader explicitly, which then opens the program in the space.
            auto ie = resolve_exe(view, who, *interp, false);
            if (!ie) return ie.error();
            // glibc's loader (2.33+) keeps argv[0] with --argv0.
            std::string name = prefix.empty() ? argv0 : prefix.front();
            std::string program = prefix.empty() ? space_path : prefix.front();
            std::vector<std::string> p{*interp, "--argv0", name, program};
            if (!prefix.empty()) p.insert(p.end(), prefix.begin() + 1, prefix.end());
            prefix = std::move(p);
            rw.filename = ie->second;
        }
    }
    if (!prefix.empty()) {
        rw.new_argv = true;
        rw.argv_prefix = std::move(prefix);
    }
    return rw;
}

}  // namespace

void Tasks::add_initial(pid_t pid) {
    main_ = pid;
    Task& t = tasks_[pid];
    t.tgid = pid;
    t.seen_stop = true;
}

std::vector<pid_t> Tasks::all() const {
    std::vector<pid_t> out;
    for (auto& [tid, t] : tasks_) out.push_back(tid);
    return out;
}

Tasks::Task& Tasks::task(pid_t tid) { return tasks_[tid]; }

pid_t Tasks::tgid_of(pid_t tid) {
    Task& t = task(tid);
    if (t.tgid) return t.tgid;
    auto status = read_file(AT_FDCWD, "/proc/" + std::to_string(tid) + "/status");
    if (status) {
        auto pos = status->find("\nTgid:");
        if (pos != std::string::npos) t.tgid = static_cast<pid_t>(std::strtol(status->c_str() + pos + 6, nullptr, 10));
    }
    if (!t.tgid) t.tgid = tid;
    return t.tgid;
}

Result<int> Tasks::pidfd(pid_t tgid) {
    auto it = pidfds_.find(tgid);
    if (it != pidfds_.end()) return it->second.get();
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, tgid, 0));
    if (fd < 0) return last_error("pidfd_open");
    return pidfds_.emplace(tgid, Fd(fd)).first->second.get();
}

void Tasks::reap() {
    for (;;) {
        int status;
        pid_t pid = ::waitpid(-1, &status, __WALL | WNOHANG);
        if (pid <= 0) return;
        if (world_stopped() && pid != rewriting_ && !(WIFEXITED(status) || WIFSIGNALED(status))) {
            deferred_.emplace_back(pid, status);
            continue;
        }
        handle(pid, status);
    }
}

void Tasks::on_exit(pid_t pid, int status) {
    if (pid == main_) {
        main_exited_ = true;
        main_status_ = status;
    }
    auto it = tasks_.find(pid);
    bool was_rewriting = it != tasks_.end() && it->second.rewriting;
    tasks_.erase(pid);
    pidfds_.erase(pid);
    vfork_parent_.erase(pid);
    if (was_rewriting || pid == rewriting_) {
        rewriting_ = 0;
        restart_world();
    }
}

void Tasks::handle(pid_t pid, int status) {
    if (WIFEXITED(status) || WIFSIGNALED(status)) return on_exit(pid, status);
    if (!WIFSTOPPED(status)) return;
    int sig = WSTOPSIG(status);
    int event = status >> 16;
    Task& t = task(pid);
    if (sig == (SIGTRAP | 0x80)) {
        // Syscall-exit stop: only requested after a rewrite.
        if (t.rewriting) return finish_rewrite(pid, false);
        return cont(pid);
    }
    switch (event) {
        case PTRACE_EVENT_SECCOMP:
            t.seen_stop = true;
            return on_seccomp_stop(pid);
        case PTRACE_EVENT_FORK:
        case PTRACE_EVENT_VFORK:
        case PTRACE_EVENT_CLONE: {
            unsigned long child = 0;
            pt(PTRACE_GETEVENTMSG, pid, nullptr, &child);
            if (child) task(static_cast<pid_t>(child));
            if (child && event == PTRACE_EVENT_VFORK) vfork_parent_[static_cast<pid_t>(child)] = pid;
            t.seen_stop = true;
            return cont(pid);
        }
        case PTRACE_EVENT_EXEC: {
            unsigned long former = 0;
            pt(PTRACE_GETEVENTMSG, pid, nullptr, &former);
            pid_t old = static_cast<pid_t>(former);
            if (old && old != pid && tasks_.count(old)) {
                // A non-leader thread exec'd and took the leader's pid.
                Task moved = tasks_[old];
                tasks_.erase(old);
                moved.tgid = pid;
                tasks_[pid] = moved;
                if (rewriting_ == old) rewriting_ = pid;
            }
            vfork_parent_.erase(old);
            vfork_parent_.erase(pid);
            Task& now = task(pid);
            now.tgid = pid;
            if (now.rewriting) return finish_rewrite(pid, true);
            return cont(pid);
        }
        case PTRACE_EVENT_STOP:
            if (!t.seen_stop) {
                t.seen_stop = true;  // a new task's first stop
                return cont(pid);
            }
            if (is_stop_signal(sig)) {
                pt(PTRACE_LISTEN, pid);  // group stop: stay stopped, visibly
                return;
            }
            return cont(pid);
        default:
            t.seen_stop = true;
            return cont(pid, sig);  // signal-delivery stop: deliver it
    }
}

void Tasks::stop_world(pid_t except) {
    std::set<pid_t> pending;
    std::set<pid_t> already;
    for (auto& [p, s] : deferred_) already.insert(p);
    for (auto& [child, parent] : vfork_parent_) already.insert(parent);
    for (auto& [tid, t] : tasks_) {
        if (tid == except || already.count(tid) || in_flight_(tid)) continue;
        if (pt(PTRACE_INTERRUPT, tid) == 0) pending.insert(tid);
    }
    // A task in an uninterruptible kernel wait cannot stop now, but it stops
    // before it runs user code again (the interrupt stays pending).
    uint64_t deadline = now_ns() + 200'000'000;
    while (!pending.empty() && now_ns() < deadline) {
        int status;
        pid_t pid = ::waitpid(-1, &status, __WALL | WNOHANG);
        if (pid > 0) {
            deferred_.emplace_back(pid, status);
            pending.erase(pid);
            continue;
        }
        timespec ts{0, 50'000};
        ::nanosleep(&ts, nullptr);
    }
    if (!pending.empty()) LOG_DEBUG("%zu task(s) in a kernel wait during a world stop", pending.size());
}

void Tasks::restart_world() {
    while (!world_stopped() && !deferred_.empty()) {
        auto [pid, status] = deferred_.front();
        deferred_.pop_front();
        handle(pid, status);
    }
}

void Tasks::on_seccomp_stop(pid_t pid) {
    user_regs_struct regs;
    if (pt(PTRACE_GETREGS, pid, nullptr, &regs) < 0) return cont(pid);
    long nr = static_cast<long>(regs.orig_rax);
    if (nr != SYS_execve && nr != SYS_execveat && nr != SYS_chdir) {
        // A filter of the space's own asked for a tracer: answer as the
        // kernel does when there is none.
        regs.orig_rax = static_cast<unsigned long long>(-1);
        regs.rax = static_cast<unsigned long long>(-ENOSYS);
        pt(PTRACE_SETREGS, pid, nullptr, &regs);
        return cont(pid);
    }
    rewriting_ = pid;
    stop_world(pid);
    Who who{pid, tgid_of(pid)};
    // Resolve as the caller (differs only under a root supervisor).
    struct ActAs {
        CredSwitch& c;
        ActAs(CredSwitch& cs, pid_t tid) : c(cs) {
            if (c.active()) c.apply(c.of(tid));
        }
        ~ActAs() { c.restore(); }
    } act_as(creds_, pid);

    auto fail = [&](int err) {
        regs.orig_rax = static_cast<unsigned long long>(-1);  // skip the call
        regs.rax = static_cast<unsigned long long>(-err);
        pt(PTRACE_SETREGS, pid, nullptr, &regs);
        rewriting_ = 0;
        cont(pid);
        restart_world();
    };

    uint64_t path_ptr = nr == SYS_execveat ? regs.rsi : regs.rdi;
    auto path = read_string(pid, path_ptr, PATH_MAX - 1);
    if (!path) return fail(path.code() == ENAMETOOLONG ? ENAMETOOLONG : EFAULT);

    Rewrite rw;
    if (nr == SYS_chdir) {
        auto sp = view_.absolute(who, AT_FDCWD, *path);
        if (!sp) return fail(sp.code());
        auto fd = view_.open(who, *sp, O_PATH | O_DIRECTORY, 0);
        if (!fd) return fail(fd.code());
        auto host = SpaceView::fd_path(fd->get());
        if (!host) return fail(host.code());
        rw.filename = *host;
    } else if (nr == SYS_execve || nr == SYS_execveat) {
        int dirfd = nr == SYS_execveat ? static_cast<int>(regs.rdi) : AT_FDCWD;
        int flags = nr == SYS_execveat ? static_cast<int>(regs.r8) : 0;
        if (nr == SYS_execveat && (flags & AT_EMPTY_PATH) && path->empty()) {
            // fexecve of a descriptor the space holds: nothing to resolve.
            rewriting_ = 0;
            cont(pid);
            return restart_world();
        }
        auto sp = view_.absolute(who, dirfd, *path);
        if (!sp) return fail(sp.code());
        uint64_t argv_ptr = nr == SYS_execveat ? regs.rdx : regs.rsi, arg0 = 0;
        std::string argv0 = *path;
        if (argv_ptr && read_memory(pid, argv_ptr, &arg0, sizeof arg0) && arg0)
            if (auto a = read_string(pid, arg0, PATH_MAX)) argv0 = *a;
        auto plan = plan_exec(view_, who, *sp, *path, argv0, flags & AT_SYMLINK_NOFOLLOW);
        if (!plan) return fail(plan.code());
        rw = std::move(*plan);
    } else {
        return fail(ENOSYS);
    }

    // Lay out the new strings (and argv) below the red zone.
    std::vector<char> blob;
    auto put = [&](const std::string& s) {
        size_t off = blob.size();
        blob.insert(blob.end(), s.begin(), s.end());
        blob.push_back('\0');
        return off;
    };
    size_t fname_off = put(rw.filename);
    std::vector<size_t> prefix_offs;
    for (auto& s : rw.argv_prefix) prefix_offs.push_back(put(s));
    std::vector<uint64_t> tail;  // original argv[1..]
    uint64_t argv_reg = nr == SYS_execveat ? regs.rdx : regs.rsi;
    if (rw.new_argv && argv_reg) {
        for (size_t i = 1;; ++i) {
            if (i > 128 * 1024) return fail(E2BIG);
            uint64_t p;
            if (!read_memory(pid, argv_reg + i * 8, &p, sizeof p)) return fail(EFAULT);
            if (!p) break;
            tail.push_back(p);
        }
    }
    size_t array_bytes = rw.new_argv ? (prefix_offs.size() + tail.size() + 1) * 8 : 0;
    uint64_t base = (regs.rsp - 256 - blob.size() - array_bytes - 16) & ~uint64_t(15);
    uint64_t strings = base + array_bytes;
    if (rw.new_argv) {
        std::vector<uint64_t> arr;
        for (size_t off : prefix_offs) arr.push_back(strings + off);
        arr.insert(arr.end(), tail.begin(), tail.end());
        arr.push_back(0);
        if (!write_memory(pid, base, arr.data(), arr.size() * 8)) return fail(ENOMEM);
    }
    if (!write_memory(pid, strings, blob.data(), blob.size())) return fail(ENOMEM);

    Task& t = task(pid);
    t.saved = regs;
    t.rewriting = true;
    user_regs_struct nregs = regs;
    if (nr == SYS_execveat) {
        nregs.rdi = static_cast<unsigned long long>(AT_FDCWD);
        nregs.rsi = strings + fname_off;
        if (rw.new_argv) nregs.rdx = base;
        nregs.r8 &= ~static_cast<unsigned long long>(AT_EMPTY_PATH);
    } else {
        nregs.rdi = strings + fname_off;
        if (rw.new_argv) nregs.rsi = base;
    }
    if (pt(PTRACE_SETREGS, pid, nullptr, &nregs) < 0) {
        t.rewriting = false;
        return fail(EFAULT);
    }
    // Run the call; the world stays stopped until it has taken the path.
    pt(PTRACE_SYSCALL, pid);
}

void Tasks::finish_rewrite(pid_t pid, bool exec_done) {
    Task& t = task(pid);
    t.rewriting = false;
    if (!exec_done) {
        // The call failed (or was chdir): restore the registers it was given.
        user_regs_struct regs;
        if (pt(PTRACE_GETREGS, pid, nullptr, &regs) == 0) {
            user_regs_struct back = t.saved;
            back.rax = regs.rax;
            pt(PTRACE_SETREGS, pid, nullptr, &back);
        }
    }
    rewriting_ = 0;
    cont(pid);
    restart_world();
}

void Tasks::kill_all() {
    for (int round = 0; round < 100 && !tasks_.empty(); ++round) {
        for (auto& [tid, t] : tasks_) ::kill(tid, SIGKILL);
        int status;
        pid_t pid;
        while ((pid = ::waitpid(-1, &status, __WALL)) > 0) on_exit(pid, status);
        if (pid < 0 && errno == ECHILD) break;
    }
    tasks_.clear();
}

}  // namespace hsbox::supervisor
