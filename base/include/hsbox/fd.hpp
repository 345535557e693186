// Fd: move-only owner of a file descriptor. A raw int borrows; an Fd owns and
// closes. Every descriptor hsbox opens is O_CLOEXEC so none leaks into a space.
#pragma once

#include <string>

#include "hsbox/result.hpp"

namespace hsbox {

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(o.release()) {}
    Fd& operator=(Fd&& o) noexcept {
        if (this != &o) reset(o.release());
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    explicit operator bool() const { return valid(); }

    // Gives up ownership; returns the descriptor (or -1).
    int release() {
        int f = fd_;
        fd_ = -1;
        return f;
    }
    // Closes the owned descriptor (if any) and takes `fd`.
    void reset(int fd = -1);

private:
    int fd_ = -1;
};

// Opens `path` relative to `dirfd` with O_CLOEXEC added; returns the Fd.
Result<Fd> open_at(int dirfd, const std::string& path, int flags, unsigned mode = 0);

// Writes all of `data` to `fd`, retrying on EINTR and short writes.
Status write_all(int fd, const void* data, size_t len);

// Reads the whole of a small file (procfs, config). Returns its contents.
Result<std::string> read_file(int dirfd, const std::string& path, size_t limit = 1 << 20);

// Writes `data` to `path` atomically (temp file in the same dir, fsync, rename),
// with `mode`. Never leaves a half-written file behind.
Status write_file_atomic(const std::string& path, const std::string& data, unsigned mode);

// Returns the target of the symlink `path` relative to `dirfd`.
Result<std::string> read_link(int dirfd, const std::string& path);

}  // namespace hsbox
