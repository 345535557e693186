// The supervisor: starts the command under the space's filter and ptrace,
// then serves it from one event loop over the notification fd, a signalfd
// (SIGCHLD for ptrace stops, signals to forward) and the fibers' completion fd.
#include <dirent.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <set>

#include "fibers.hpp"
#include "handlers.hpp"
#include "hsbox/log.hpp"
#include "hsbox/netstack/sockets.hpp"
#include "hsbox/netstack/stack.hpp"
#include "hsbox/supervisor/space.hpp"
#include "notify.hpp"
#include "policy.hpp"
#include "tasks.hpp"
#include "view.hpp"

namespace hsbox::supervisor {

namespace {

std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? std::string(v) : fallback;
}

std::string canonical(const std::string& p) {
    char buf[PATH_MAX];
    return ::realpath(p.c_str(), buf) ? std::string(buf) : p;
}

// Creates `dir` 0700 if missing; refuses one that is not a directory we own
// and only we can enter.
Status private_dir(const std::string& dir) {
    if (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) return last_error("mkdir " + dir);
    struct stat st;
    if (::lstat(dir.c_str(), &st) < 0) return last_error("stat " + dir);
    if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 077))
        return Error{EPERM, dir + " must be a directory owned by this user with mode 0700"};
    return {};
}

Status remove_tree(int dirfd, const char* name) {
    int fd = ::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return ::unlinkat(dirfd, name, 0) == 0 ? Status{} : last_error(std::string("unlink ") + name);
    if (DIR* d = ::fdopendir(fd)) {
        while (dirent* e = ::readdir(d)) {
            if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
            if (e->d_type == DT_DIR) {
                (void)remove_tree(::dirfd(d), e->d_name);
            } else {
                ::unlinkat(::dirfd(d), e->d_name, 0);
            }
        }
        ::closedir(d);
    } else {
        ::close(fd);
    }
    if (::unlinkat(dirfd, name, AT_REMOVEDIR) < 0) return last_error(std::string("rmdir ") + name);
    return {};
}

Result<Fd> load_filter_in_child(const std::vector<uint8_t>& prog) {
    sock_fprog fprog{};
    fprog.len = static_cast<unsigned short>(prog.size() / sizeof(sock_filter));
    fprog.filter = reinterpret_cast<sock_filter*>(const_cast<uint8_t*>(prog.data()));
    long fd = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                        SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &fprog);
    if (fd < 0 && errno == EINVAL)  // kernel < 5.19: restartable waits, handled by ID_VALID checks
        fd = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fprog);
    if (fd < 0) return last_error("seccomp filter");
    return Fd(static_cast<int>(fd));
}

// Defense in depth beneath the interposition: where the kernel has Landlock
// ABI 6 (Linux 6.12), signals and abstract unix sockets are scoped to the
// space by the kernel itself, so a handler bug still cannot signal a process
// outside or reach an outside abstract socket. Returns whether it applied.
bool apply_landlock_scopes() {
    constexpr long kCreateVersion = 1;  // LANDLOCK_CREATE_RULESET_VERSION
    long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, kCreateVersion);
    if (abi < 6) return false;
    struct {
        uint64_t handled_access_fs, handled_access_net, scoped;
    } attr{0, 0, 1 /* ABSTRACT_UNIX_SOCKET */ | 2 /* SIGNAL */};
    long fd = ::syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (fd < 0) return false;
    long r = ::syscall(SYS_landlock_restrict_self, fd, 0);
    ::close(static_cast<int>(fd));
    return r == 0;
}

// The child: confine itself and exec. Reports failures as an errno on `sock`.
[[noreturn]] void child_main(const SpaceOptions& opts, const std::vector<uint8_t>& prog, int sock,
                             const std::string& cwd, const rlimit& nofile) {
    auto fail = [&](int err) {
        ssize_t r = ::write(sock, &err, sizeof err);
        (void)r;
        ::_exit(127);
    };
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::setrlimit(RLIMIT_NOFILE, &nofile);  // the caller's, not the supervisor's raised one
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::chdir(cwd.c_str()) < 0) fail(errno);
    // Nothing of hsbox's but stdio crosses into the space.
    if (sock > 3) ::syscall(SYS_close_range, 3, sock - 1, 0);
    ::syscall(SYS_close_range, sock + 1, ~0U, 0);
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(errno);
    apply_landlock_scopes();
    auto listener = load_filter_in_child(prog);
    if (!listener) fail(listener.code());
    // The supervisor takes the listener with pidfd_getfd: sendmsg would
    // already be trapped by the filter we just installed.
    int lfd = listener->get();
    if (::write(sock, &lfd, sizeof lfd) != sizeof lfd) ::_exit(127);
    char go;
    if (::read(sock, &go, 1) != 1) ::_exit(127);
    listener.value().reset();
    std::vector<char*> argv;
    for (auto& a : opts.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    fail(errno);
    ::_exit(127);
}

// The signals the loop takes through its signalfd.
const sigset_t& handled_signals() {
    static const sigset_t set = [] {
        sigset_t s;
        sigemptyset(&s);
        for (int sig : {SIGCHLD, SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2}) sigaddset(&s, sig);
        return s;
    }();
    return set;
}

// Removes the state of spaces whose supervisor died without cleaning up
// (killed by SIGKILL): their lock is no longer held.
void remove_stale_spaces(const std::string& runtime) {
    int rfd = ::open(runtime.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0) return;
    DIR* d = ::fdopendir(rfd);
    if (!d) {
        ::close(rfd);
        return;
    }
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.' || e->d_type != DT_DIR) continue;
        std::string lock = std::string(e->d_name) + "/lock";
        int lfd = ::openat(::dirfd(d), lock.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (lfd < 0) continue;
        if (::flock(lfd, LOCK_EX | LOCK_NB) == 0) (void)remove_tree(::dirfd(d), e->d_name);
        ::close(lfd);
    }
    ::closedir(d);
}

}  // namespace

Result<std::string> runtime_dir() {
    std::string xdg = env_or("XDG_RUNTIME_DIR", "");
    struct stat st;
    std::string dir;
    if (!xdg.empty() && ::stat(xdg.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid())
        dir = xdg + "/hsbox";
    else
        dir = "/tmp/hsbox-" + std::to_string(::geteuid());
    if (auto s = private_dir(dir); !s) return s.error();
    return canonical(dir);
}

class Supervisor {
public:
    explicit Supervisor(const SpaceOptions& opts) : opts_(opts) {}
    Result<int> run();

private:
    Status prepare();
    Status start_child();
    void serve();
    void dispatch(const seccomp_notif& n);
    void send(const seccomp_notif& n, Reply r);
    void forward_signal(const signalfd_siginfo& si);
    void report_exec_failure();
    void collect_sockets();
    void report_network();
    void cleanup();

    SpaceOptions opts_;
    std::string state_dir_;
    Fd state_lock_;
    std::unique_ptr<SpaceView> view_;
    std::unique_ptr<Notifier> notifier_;
    std::unique_ptr<Tasks> tasks_;
    Fibers fibers_;
    CredSwitch creds_;
    Space space_;
    std::set<pid_t> in_flight_;
    pid_t child_ = -1;
    Fd exec_report_;
    Fd sigfd_;
    bool addfd_send_ = true;
    int stop_requests_ = 0;
    rlimit nofile_{};  // the descriptor limit the space starts with (the caller's)
    // A portspace's network; the engine goes before the stack it uses.
    std::unique_ptr<netstack::Stack> stack_;
    std::unique_ptr<netstack::SocketEngine> net_;
};

Status Supervisor::prepare() {
    for (int fd = 0; fd < 3; ++fd) {
        struct stat st;
        if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
            return Error{EISDIR, "descriptor " + std::to_string(fd) + " is a directory; refusing to pass it into the space"};
    }
    auto rt = runtime_dir();
    if (!rt) return rt.error();
    // Creating a space and sweeping stale ones are serialized by a lock on
    // the runtime dir, so a sweep never sees a space between mkdir and flock.
    auto rt_lock = open_at(AT_FDCWD, *rt + "/.lock", O_RDWR | O_CREAT | O_NOFOLLOW, 0600);
    if (!rt_lock) return rt_lock.error();
    if (::flock(rt_lock->get(), LOCK_EX) < 0) return last_error("lock " + *rt);
    remove_stale_spaces(*rt);
    if (opts_.name.empty()) opts_.name = "space-" + std::to_string(::getpid());
    if (opts_.name.find('/') != std::string::npos || opts_.name == "." || opts_.name == ".." || opts_.name.size() > 64)
        return Error{EINVAL, "space name '" + opts_.name + "' (use letters, digits, '-', '_')"};
    state_dir_ = *rt + "/" + opts_.name;
    if (auto s = private_dir(state_dir_); !s) return s.error();
    auto lock = open_at(AT_FDCWD, state_dir_ + "/lock", O_RDWR | O_CREAT, 0600);
    if (!lock) return lock.error();
    if (::flock(lock->get(), LOCK_EX | LOCK_NB) < 0)
        return Error{EBUSY, "space '" + opts_.name + "' is already running"};
    state_lock_ = std::move(*lock);

    ViewOptions vo;
    vo.root = canonical(opts_.root);
    vo.state_dir = canonical(state_dir_);
    vo.hidden.push_back(*rt);
    vo.hidden.push_back(canonical(env_or("XDG_DATA_HOME", env_or("HOME", "/nonexistent") + "/.local/share") + "/hsbox"));
    if (opts_.hide_home) {
        std::string home = env_or("HOME", "");
        if (home.empty()) {
            if (passwd* pw = ::getpwuid(::geteuid())) home = pw->pw_dir;
        }
        if (!home.empty() && canonical(home) != "/") vo.hidden.push_back(canonical(home));
        std::string xdg = env_or("XDG_RUNTIME_DIR", "");
        if (!xdg.empty()) vo.hidden.push_back(canonical(xdg));
    }
    for (auto& h : opts_.hidden) vo.hidden.push_back(canonical(h));
    for (auto& s : opts_.shared) vo.shared.push_back(canonical(s));
    vo.hide_host_network = opts_.portspace;
    if (opts_.portspace)  // the host's interfaces are not a portspace's business
        for (const char* p : {"/sys/class/net", "/sys/devices/virtual/net"}) vo.hidden.push_back(p);
    auto view = SpaceView::create(std::move(vo), [this](pid_t p) { return tasks_ && tasks_->contains(p); });
    if (!view) return view.error();
    view_ = std::move(*view);
    view_->set_blocking_runner([this](std::function<long()> f) { return fibers_.run_blocking(std::move(f)); });
    view_->set_fd_fetcher([this](pid_t tgid, int fd) -> Result<Fd> {
        auto pidfd = tasks_->pidfd(tgid);
        if (!pidfd) return pidfd.error();
        int dup = static_cast<int>(::syscall(SYS_pidfd_getfd, *pidfd, fd, 0));
        if (dup < 0) return last_error("pidfd_getfd");
        return Fd(dup);
    });

    if (opts_.portspace) {
        if (opts_.tunnel) {
            auto stack = netstack::Stack::start(*opts_.tunnel);
            if (!stack) return Error{stack.code(), "tunnel " + opts_.tunnel->path + ": " + stack.error().context};
            stack_ = std::move(*stack);
        }
        auto net = netstack::SocketEngine::create(stack_.get());
        if (!net) return net.error();
        net_ = std::move(*net);
        space_.net = net_.get();
        space_.stack = stack_.get();
    }

    space_.name = opts_.name;
    space_.view = view_.get();
    space_.fibers = &fibers_;
    space_.creds = &creds_;
    space_.ipc.abstract_prefix = "hsbox." + std::to_string(::getpid()) + "." + opts_.name + ".";
    for (auto& s : opts_.share_sockets) {
        struct stat st;
        if (::stat(s.c_str(), &st) < 0) return last_error("shared socket " + s);
        if (!S_ISSOCK(st.st_mode)) return Error{ENOTSOCK, "shared socket " + s};
        space_.ipc.unix_sockets.insert({st.st_dev, st.st_ino});
    }
    return {};
}

Status Supervisor::start_child() {
    auto prog = build_filter_program(opts_.portspace ? SpaceKind::Portspace : SpaceKind::Server);
    if (!prog) return prog.error();
    char cwdbuf[PATH_MAX];
    std::string cwd = view_->root();
    if (::getcwd(cwdbuf, sizeof cwdbuf) && view_->to_space(cwdbuf)) cwd = cwdbuf;
    if (view_->root() != "/" && cwd != view_->root() && cwd.rfind(view_->root() + "/", 0) != 0) cwd = view_->root();

    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) return last_error("socketpair");
    Fd parent_end(sp[0]), child_end(sp[1]);
    pid_t pid = ::fork();
    if (pid < 0) return last_error("fork");
    if (pid == 0) child_main(opts_, *prog, child_end.get(), cwd, nofile_);
    child_ = pid;
    child_end.reset();
    ::prctl(PR_SET_DUMPABLE, 0);

    int lfd;
    ssize_t n = ::read(parent_end.get(), &lfd, sizeof lfd);
    if (n != sizeof lfd) {
        int status;
        ::waitpid(pid, &status, 0);
        return Error{n == sizeof(int) ? lfd : ECHILD, "setting up the space"};
    }
    int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (pidfd < 0) return last_error("pidfd_open");
    Fd owned_pidfd(pidfd);
    int listener = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, lfd, 0));
    if (listener < 0) return last_error("pidfd_getfd (listener)");
    notifier_ = std::make_unique<Notifier>(Fd(listener));
    if (!notifier_->enable_sync_wakeup()) LOG_INFO("kernel without SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: slower round trips");
    space_.notifier = notifier_.get();
    tasks_ = std::make_unique<Tasks>(*view_, creds_, [this](pid_t t) { return in_flight_.count(t) != 0; });
    space_.tasks = tasks_.get();

    long options = PTRACE_O_TRACESECCOMP | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
                   PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD;
    if (::ptrace(PTRACE_SEIZE, pid, nullptr, reinterpret_cast<void*>(options)) < 0) {
        Error e = last_error("ptrace the space (is ptrace restricted by Yama or a container?)");
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        return e;
    }
    tasks_->add_initial(pid);
    char go = 1;
    if (::write(parent_end.get(), &go, 1) != 1) return last_error("start the space");
    exec_report_ = std::move(parent_end);
    return {};
}

void Supervisor::send(const seccomp_notif& n, Reply r) {
    Status st;
    switch (r.kind) {
        case Reply::Continue: st = notifier_->reply_continue(n.id); break;
        case Reply::Value: st = notifier_->reply(n.id, r.value, 0); break;
        case Reply::Errno: st = notifier_->reply(n.id, 0, r.error); break;
        case Reply::InjectFd: {
            if (addfd_send_) {
                auto added = notifier_->add_fd(n.id, r.fd.get(), r.cloexec, true);
                if (added || added.code() == ENOENT) return;  // done, or the target is gone
                if (added.code() != EINVAL) {
                    st = notifier_->reply(n.id, 0, added.code());
                    break;
                }
                addfd_send_ = false;  // kernel < 5.14: add, then reply
            }
            auto added = notifier_->add_fd(n.id, r.fd.get(), r.cloexec, false);
            st = added ? notifier_->reply(n.id, *added, 0) : notifier_->reply(n.id, 0, added.code());
            break;
        }
    }
    LOG_DEBUG("reply %llu: kind %d value %lld error %d", static_cast<unsigned long long>(n.id), static_cast<int>(r.kind),
              static_cast<long long>(r.value), r.error);
    if (!st && st.code() != ENOENT) LOG_DEBUG("reply to %u: %s", n.pid, st.error().message().c_str());
}

void Supervisor::dispatch(const seccomp_notif& n) {
    LOG_DEBUG("notification %llu: pid %u syscall %d", static_cast<unsigned long long>(n.id), n.pid, n.data.nr);
    in_flight_.insert(static_cast<pid_t>(n.pid));
    fibers_.spawn([this, n] {
        Reply r;
        if (n.data.arch != AUDIT_ARCH_X86_64) {
            r = Reply::err(ENOSYS);
        } else {
            Call c{n, space_, Who{static_cast<pid_t>(n.pid), tasks_->tgid_of(static_cast<pid_t>(n.pid))},
                   fibers_.yields(), Fd(), 0};
            Handler h = handler_for(n.data.nr);
            // Act with the caller's credentials (only differs under a root supervisor).
            if (creds_.active()) creds_.apply(creds_.of(static_cast<pid_t>(n.pid)));
            r = h ? h(c) : Reply::err(ENOSYS);
            creds_.restore();
        }
        send(n, std::move(r));
        in_flight_.erase(static_cast<pid_t>(n.pid));
    });
}

void Supervisor::forward_signal(const signalfd_siginfo& si) {
    // A terminal's ^C already reached the space (same process group); a
    // signal sent to hsbox by a process is passed on to the command.
    bool from_kernel = si.ssi_code == SI_KERNEL;
    int sig = static_cast<int>(si.ssi_signo);
    if (!from_kernel && !tasks_->contains(static_cast<pid_t>(si.ssi_pid)) && !tasks_->main_exited())
        ::kill(child_, sig);
    // Asked twice to stop: end the space, whatever its processes are doing
    // (one may be blocked in a call that only SIGKILL interrupts).
    if (!from_kernel && (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)) {
        if (++stop_requests_ >= 2) tasks_->kill_all();
    }
}

void Supervisor::serve() {
    Fd ep(::epoll_create1(EPOLL_CLOEXEC));
    auto watch = [&](int fd) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev);
    };
    watch(notifier_->fd());
    watch(sigfd_.get());
    watch(fibers_.completion_fd());
    watch(fibers_.wait_set_fd());
    watch(exec_report_.get());
    auto drain_signals = [&] {
        signalfd_siginfo si;
        while (::read(sigfd_.get(), &si, sizeof si) == sizeof si) {
            if (si.ssi_signo == SIGCHLD) continue;
            forward_signal(si);
        }
        tasks_->reap();
    };
    auto next_collect = std::chrono::steady_clock::now();
    while (!tasks_->main_exited()) {
        if (net_ && std::chrono::steady_clock::now() >= next_collect) {
            collect_sockets();
            next_collect = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        }
        if (tasks_->world_stopped()) {
            // Only ptrace events until the exec/chdir has taken its path.
            pollfd p{sigfd_.get(), POLLIN, 0};
            ::poll(&p, 1, 100);
            drain_signals();
            continue;
        }
        int next_timer = fibers_.on_timers();
        epoll_event evs[16];
        int n = ::epoll_wait(ep.get(), evs, 16, next_timer >= 0 && next_timer < 1000 ? next_timer : 1000);
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < n; ++i) {
            int fd = evs[i].data.fd;
            if (fd == sigfd_.get()) {
                drain_signals();
            } else if (fd == notifier_->fd()) {
                if (tasks_->world_stopped()) continue;
                if (evs[i].events & (EPOLLHUP | EPOLLERR)) {
                    ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, fd, nullptr);
                    continue;
                }
                seccomp_notif notif;
                if (notifier_->receive(notif)) dispatch(notif);
            } else if (fd == fibers_.completion_fd()) {
                if (!tasks_->world_stopped()) fibers_.on_completion();
            } else if (fd == fibers_.wait_set_fd()) {
                if (!tasks_->world_stopped()) fibers_.on_fds_ready();
            } else if (fd == exec_report_.get()) {
                report_exec_failure();
                ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, fd, nullptr);
            }
        }
    }
    // The command may have exited before its report was read.
    report_exec_failure();
}

void Supervisor::report_exec_failure() {
    if (!exec_report_) return;
    int err = 0;
    ssize_t r = ::recv(exec_report_.get(), &err, sizeof err, MSG_DONTWAIT);
    if (r == sizeof err) LOG_ERROR("cannot run '%s': %s", opts_.argv[0].c_str(), std::strerror(err));
    if (r == 0 || r == sizeof err) exec_report_.reset();
}

// Frees the records of emulated sockets that no process of the space holds
// any more (SocketEngine::collect): their inodes are in no /proc/TGID/fd.
void Supervisor::collect_sockets() {
    if (!net_ || !net_->retired()) return;
    std::set<ino_t> held;
    std::set<pid_t> groups;
    for (pid_t t : tasks_->all()) groups.insert(tasks_->tgid_of(t));
    for (pid_t g : groups) {
        std::string dir = "/proc/" + std::to_string(g) + "/fd";
        DIR* d = ::opendir(dir.c_str());
        if (!d) continue;
        while (dirent* e = ::readdir(d)) {
            char link[64];
            ssize_t n = ::readlinkat(::dirfd(d), e->d_name, link, sizeof link - 1);
            if (n <= 0) continue;
            link[n] = 0;
            unsigned long ino;
            if (std::sscanf(link, "socket:[%lu]", &ino) == 1) held.insert(static_cast<ino_t>(ino));
        }
        ::closedir(d);
    }
    net_->collect([&](ino_t ino) { return held.count(ino) != 0; });
}

void Supervisor::report_network() {
    if (!net_) return;
    // Like the kernel after a process exits: what the space wrote still goes out.
    constexpr int kDrainMs = 30000, kStallMs = 3000;
    if (!net_->drain(kDrainMs, kStallMs))
        std::fprintf(stderr,
                     "hsbox: portspace %s: data the space sent was not acknowledged by its peer at exit "
                     "(no progress for %d s, or %d s passed) and was discarded\n",
                     opts_.name.c_str(), kStallMs / 1000, kDrainMs / 1000);
    const auto& sc = net_->counters();
    uint64_t tunnel_drops = stack_ ? stack_->counters().total_drops() : 0;
    std::string text = (stack_ ? stack_->counters().to_text() : std::string()) + sc.to_text();
    LOG_DEBUG("portspace %s counters:\n%s", opts_.name.c_str(), text.c_str());
    if (!opts_.stats_file.empty())
        if (auto st = write_file_atomic(opts_.stats_file, text, 0600); !st)
            std::fprintf(stderr, "hsbox: portspace %s: --stats: %s\n", opts_.name.c_str(), st.error().message().c_str());
    // Nothing is lost silently: what was dropped is reported once, at the end.
    if (sc.total_drops() || tunnel_drops)
        std::fprintf(stderr,
                     "hsbox: portspace %s dropped: %llu tunnel packets (failed authentication, replay, unknown SPI, "
                     "...), %llu datagrams (receive buffer full), %llu unsendable datagrams, %llu connections "
                     "(accept queue full); --stats FILE lists every counter\n",
                     opts_.name.c_str(), static_cast<unsigned long long>(tunnel_drops),
                     static_cast<unsigned long long>(sc.udp_rx_dropped.load()),
                     static_cast<unsigned long long>(sc.udp_tx_unaddressed.load() + sc.udp_tx_failed.load()),
                     static_cast<unsigned long long>(sc.accept_overflow.load()));
}

void Supervisor::cleanup() {
    if (tasks_) tasks_->kill_all();
    report_network();
    release_ipc(space_.ipc);
    view_.reset();
    if (!state_dir_.empty()) {
        auto slash = state_dir_.rfind('/');
        std::string parent = state_dir_.substr(0, slash);
        int pfd = ::open(parent.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (pfd >= 0) {
            (void)remove_tree(pfd, state_dir_.substr(slash + 1).c_str());
            ::close(pfd);
        }
    }
}

Result<int> Supervisor::run() {
    // The supervisor holds descriptors on the space's behalf (one per
    // emulated socket, duplicates while handling calls): it takes the hard
    // limit; the space keeps the caller's.
    ::getrlimit(RLIMIT_NOFILE, &nofile_);
    rlimit raised = nofile_;
    raised.rlim_cur = raised.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &raised);
    if (auto s = prepare(); !s) return s.error();
    if (auto s = start_child(); !s) {
        cleanup();
        return s.error();
    }
    sigfd_.reset(::signalfd(-1, &handled_signals(), SFD_CLOEXEC | SFD_NONBLOCK));
    tasks_->reap();
    serve();
    int status = tasks_->main_status();
    cleanup();
    return status;
}

Result<int> run_space(const SpaceOptions& opts) {
    if (opts.argv.empty()) return Error{EINVAL, "no command given"};
    // Blocked before any thread exists (the fibers' workers), so that every
    // SIGCHLD reaches the signalfd and none is lost to a worker thread.
    sigset_t old;
    ::pthread_sigmask(SIG_BLOCK, &handled_signals(), &old);
    // A write to a bridge or pipe whose reader is gone must fail with EPIPE,
    // not end the supervisor (blocked rather than ignored: the child's mask
    // is reset before exec, an ignored disposition would be inherited).
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    Result<int> r = [&] {
        Supervisor s(opts);
        return s.run();
    }();
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return r;
}

}  // namespace hsbox::supervisor
