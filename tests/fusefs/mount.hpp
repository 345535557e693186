// Integration-test helpers: runs the real `hsbox mount -f` (HSBOX_BIN) on a
// temp mountpoint, waits for the mount to appear, and stops it with SIGTERM,
// checking that it unmounted cleanly. Shell commands run with a timeout.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "tree.hpp"

namespace hsbox::test {

// Returns "" if FUSE mounts can be tested here, else the reason.
inline std::string fuse_unavailable() {
    const char* bin = std::getenv("HSBOX_BIN");
    if (!bin || ::access(bin, X_OK) != 0) return "HSBOX_BIN is not set to the hsbox binary";
    int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0) return std::string("/dev/fuse cannot be opened: ") + std::strerror(errno);
    ::close(fd);
    if (::getuid() != 0 && ::access("/usr/bin/fusermount3", X_OK) != 0 && ::access("/bin/fusermount3", X_OK) != 0)
        return "fusermount3 is not installed";
    return "";
}

inline bool is_mountpoint(const std::string& p) {
    struct stat a, b;
    if (::stat(p.c_str(), &a) < 0 || ::stat((p + "/..").c_str(), &b) < 0) return false;
    return a.st_dev != b.st_dev;
}

// Runs `cmd` with bash (stdout+stderr captured); returns the exit status.
inline int sh(const std::string& cmd, std::string* out = nullptr) {
    std::string full = "timeout 120 bash -c '" ;
    for (char c : cmd) {
        if (c == '\'') full += "'\\''";
        else full += c;
    }
    full += "' 2>&1";
    FILE* p = ::popen(full.c_str(), "r");
    if (!p) return -1;
    std::string o;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.append(buf, n);
    int st = ::pclose(p);
    if (out) *out = o;
    else if (st != 0) std::fprintf(stderr, "command failed: %s\n%s\n", cmd.c_str(), o.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

class Mount {
public:
    // Starts `hsbox mount ARGS... -f mountpoint`. ok() says whether it came up.
    Mount(const std::string& mountpoint, std::vector<std::string> args) : mnt_(mountpoint) {
        ::mkdir(mnt_.c_str(), 0755);
        args.insert(args.begin(), {std::getenv("HSBOX_BIN"), "mount"});
        args.push_back("-f");
        args.push_back(mnt_);
        pid_ = ::fork();
        if (pid_ == 0) {
            std::vector<char*> av;
            for (auto& a : args) av.push_back(a.data());
            av.push_back(nullptr);
            ::execv(av[0], av.data());
            ::_exit(127);
        }
        for (int i = 0; i < 1000 && !is_mountpoint(mnt_); ++i) {
            int st;
            if (::waitpid(pid_, &st, WNOHANG) == pid_) {
                pid_ = -1;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        up_ = is_mountpoint(mnt_);
    }
    ~Mount() { stop(); }
    bool ok() const { return up_; }
    const std::string& path() const { return mnt_; }

    // SIGTERM, then waits. Returns true if the server exited 0 and the mount is gone.
    bool stop() {
        if (pid_ <= 0) return false;
        ::kill(pid_, SIGTERM);
        int st = 0;
        ::waitpid(pid_, &st, 0);
        pid_ = -1;
        bool clean = WIFEXITED(st) && WEXITSTATUS(st) == 0 && !is_mountpoint(mnt_);
        if (is_mountpoint(mnt_)) sh("fusermount3 -u -z '" + mnt_ + "' || umount -l '" + mnt_ + "'");
        up_ = false;
        return clean;
    }

private:
    std::string mnt_;
    pid_t pid_ = -1;
    bool up_ = false;
};

}  // namespace hsbox::test
