#include "harness.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>

#include "hsbox/fd.hpp"

extern char** environ;

namespace hsbox::test {

namespace {

[[noreturn]] void die(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

double now() {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

std::string hsbox_bin() {
    const char* b = std::getenv("HSBOX_BIN");
    if (!b || !*b) throw std::runtime_error("HSBOX_BIN is not set (run the tests through ctest)");
    return b;
}

std::string make_temp(const std::string& tag) {
    const char* t = std::getenv("TMPDIR");
    std::string base = t && *t ? t : "/tmp";
    std::string tmpl = base + "/hsbox-" + tag + "-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back(0);
    if (!::mkdtemp(buf.data())) die("mkdtemp " + tmpl);
    ::chmod(buf.data(), 0755);
    char real[PATH_MAX];
    if (!::realpath(buf.data(), real)) die("realpath");
    return real;
}

void remove_tree(const std::string& path) {
    // Make everything writable first (a test may leave 0500 dirs behind).
    ::nftw(
        path.c_str(),
        [](const char* p, const struct stat* st, int type, FTW*) {
            if (type == FTW_D || type == FTW_DP) ::chmod(p, st->st_mode | 0700);
            return 0;
        },
        32, FTW_PHYS);
    ::nftw(
        path.c_str(), [](const char* p, const struct stat*, int, FTW*) { return ::remove(p) < 0 ? 0 : 0; }, 32,
        FTW_DEPTH | FTW_PHYS);
}

void put(const std::string& path, const std::string& content, mode_t mode) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (!fd) die("create " + path);
    if (::write(fd.get(), content.data(), content.size()) != static_cast<ssize_t>(content.size())) die("write " + path);
    ::fchmod(fd.get(), mode);
}

std::string slurp(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) die("open " + path);
    std::string s;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
    return s;
}

void copy_file(const std::string& from, const std::string& to, mode_t mode) { put(to, slurp(from), mode); }

bool exists(const std::string& path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> list_dir(const std::string& path) {
    std::vector<std::string> names;
    DIR* d = ::opendir(path.c_str());
    if (!d) die("opendir " + path);
    while (dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) names.push_back(e->d_name);
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
}

std::string random_token() {
    std::random_device rd;
    char buf[40];
    std::snprintf(buf, sizeof buf, "TOKEN-%08x%08x", rd(), rd());
    return buf;
}

RunResult run(const std::vector<std::string>& argv, const RunOptions& opts) {
    int outp[2], errp[2], inp[2] = {-1, -1};
    if (::pipe2(outp, O_CLOEXEC) < 0 || ::pipe2(errp, O_CLOEXEC) < 0) die("pipe");
    if (opts.pipe_stdin && ::pipe2(inp, O_CLOEXEC) < 0) die("pipe");
    Fd out_r(outp[0]), out_w(outp[1]), err_r(errp[0]), err_w(errp[1]), in_r(inp[0]), in_w(inp[1]);

    // Environment: ours, minus unset_env, with env overriding.
    std::vector<std::string> envs;
    for (char** e = environ; *e; ++e) {
        std::string kv = *e;
        std::string name = kv.substr(0, kv.find('='));
        bool drop = std::find(opts.unset_env.begin(), opts.unset_env.end(), name) != opts.unset_env.end();
        for (auto& o : opts.env)
            if (o.substr(0, o.find('=')) == name) drop = true;
        if (!drop) envs.push_back(kv);
    }
    for (auto& o : opts.env) envs.push_back(o);
    std::vector<char*> envp, args;
    for (auto& e : envs) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    RunResult res;
    pid_t pid = ::fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        int in = opts.pipe_stdin ? in_r.get() : opts.stdin_fd;
        if (in < 0) in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        // Move everything we dup from above the target range first.
        int in_hi = ::fcntl(in, F_DUPFD_CLOEXEC, 1000);
        int out_hi = ::fcntl(out_w.get(), F_DUPFD_CLOEXEC, 1000);
        int err_hi = ::fcntl(err_w.get(), F_DUPFD_CLOEXEC, 1000);
        std::vector<std::pair<int, int>> extra;
        for (auto [from, to] : opts.extra_fds) extra.push_back({::fcntl(from, F_DUPFD_CLOEXEC, 1000), to});
        ::dup2(in_hi, 0);
        ::dup2(out_hi, 1);
        ::dup2(err_hi, 2);
        for (auto [from, to] : extra) ::dup2(from, to);  // dup2 clears CLOEXEC: inherited
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        if (!opts.cwd.empty() && ::chdir(opts.cwd.c_str()) < 0) ::_exit(126);
        std::string self;
        if (!opts.pid_env.empty()) {
            self = opts.pid_env + "=" + std::to_string(::getpid());
            envp.back() = const_cast<char*>(self.c_str());
            envp.push_back(nullptr);
        }
        ::execve(args[0], args.data(), envp.data());
        std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
        ::_exit(127);
    }
    res.pid = pid;
    out_w.reset();
    err_w.reset();
    in_r.reset();
    double deadline = now() + opts.timeout_s;
    bool out_open = true, err_open = true;
    while (out_open || err_open) {
        pollfd p[2] = {{out_open ? out_r.get() : -1, POLLIN, 0}, {err_open ? err_r.get() : -1, POLLIN, 0}};
        int left = static_cast<int>((deadline - now()) * 1000);
        if (left <= 0) {
            res.timed_out = true;
            ::kill(pid, SIGKILL);
            break;
        }
        int n = ::poll(p, 2, std::min(left, 1000));
        if (n < 0 && errno != EINTR) break;
        char buf[65536];
        if (p[0].revents) {
            ssize_t r = ::read(out_r.get(), buf, sizeof buf);
            if (r <= 0) {
                out_open = false;
            } else {
                res.out.append(buf, static_cast<size_t>(r));
                if (opts.on_output) opts.on_output(res.out, in_w.get());
            }
        }
        if (p[1].revents) {
            ssize_t r = ::read(err_r.get(), buf, sizeof buf);
            if (r <= 0) err_open = false;
            else res.err.append(buf, static_cast<size_t>(r));
        }
    }
    in_w.reset();
    int status = 0;
    // Output closed: the process is ending (or something inherited the pipes
    // and lives on; the deadline still holds).
    for (;;) {
        pid_t w = ::waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (now() > deadline) {
            res.timed_out = true;
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            break;
        }
        ::usleep(2000);
    }
    if (WIFEXITED(status)) res.code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) res.code = 128 + WTERMSIG(status);
    return res;
}

RunResult hsbox_run(const std::vector<std::string>& args, const RunOptions& opts) {
    std::vector<std::string> argv{hsbox_bin(), "run"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, opts);
}

Bystander::Bystander() {
    pid_ = ::fork();
    if (pid_ < 0) die("fork");
    if (pid_ == 0) {
        for (;;) ::pause();
    }
}

Bystander::~Bystander() {
    if (!reaped_) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status_, 0);
    }
}

bool Bystander::alive() {
    if (reaped_) return false;
    pid_t w = ::waitpid(pid_, &status_, WNOHANG);
    if (w == pid_) {
        reaped_ = true;
        return false;
    }
    return ::kill(pid_, 0) == 0;
}

}  // namespace hsbox::test
