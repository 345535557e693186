#include "hsbox/fd.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

namespace hsbox {

void Fd::reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

Result<Fd> open_at(int dirfd, const std::string& path, int flags, unsigned mode) {
    int fd = ::openat(dirfd, path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) return last_error("open " + path);
    return Fd(fd);
}

Status write_all(int fd, const void* data, size_t len) {
    const char* p = static_cast<const char*>(data);
    while (len > 0) {
        ssize_t n = ::write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return last_error("write");
        }
        p += n;
        len -= static_cast<size_t>(n);
    }
    return {};
}

Result<std::string> read_file(int dirfd, const std::string& path, size_t limit) {
    auto fd = open_at(dirfd, path, O_RDONLY);
    if (!fd) return fd.error();
    std::string out;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd->get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return last_error("read " + path);
        }
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
        if (out.size() > limit) return Error{EFBIG, "read " + path};
    }
    return out;
}

Status write_file_atomic(const std::string& path, const std::string& data, unsigned mode) {
    std::string tmp = path + ".tmp.XXXXXX";
    int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0) return last_error("create " + tmp);
    Fd owned(fd);
    auto fail = [&](const char* what) {
        Error e = last_error(std::string(what) + " " + tmp);
        ::unlink(tmp.c_str());
        return e;
    };
    if (::fchmod(fd, mode) < 0) return fail("chmod");
    if (auto st = write_all(fd, data.data(), data.size()); !st) {
        ::unlink(tmp.c_str());
        return st.error();
    }
    if (::fsync(fd) < 0) return fail("fsync");
    if (::rename(tmp.c_str(), path.c_str()) < 0) return fail("rename");
    return {};
}

Result<std::string> read_link(int dirfd, const std::string& path) {
    char buf[PATH_MAX + 1];
    ssize_t n = ::readlinkat(dirfd, path.c_str(), buf, PATH_MAX);
    if (n < 0) return last_error("readlink " + path);
    return std::string(buf, static_cast<size_t>(n));
}

}  // namespace hsbox
