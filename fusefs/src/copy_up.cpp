#include "copy_up.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <vector>

#include "hsbox/fd.hpp"
#include "layer.hpp"

namespace hsbox::fusefs {

std::string temp_name() {
    static std::atomic<uint64_t> counter{0};
    return "t." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
}

static Status copy_range(int src, int dst, off_t start, off_t end) {
    off_t in = start, out = start;
    bool use_cfr = true;
    std::vector<char> buf;
    while (in < end) {
        size_t len = static_cast<size_t>(end - in);
        if (use_cfr) {
            ssize_t n = ::copy_file_range(src, &in, dst, &out, len, 0);
            if (n > 0) continue;
            if (n == 0) break;  // source shrank under us
            if (errno == EINTR) continue;
            if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
                return last_error("copy_file_range");
            use_cfr = false;
        }
        if (buf.empty()) buf.resize(1 << 17);
        ssize_t n = ::pread(src, buf.data(), std::min(len, buf.size()), in);
        if (n < 0) {
            if (errno == EINTR) continue;
            return last_error("read for copy-up");
        }
        if (n == 0) break;
        ssize_t done = 0;
        while (done < n) {
            ssize_t w = ::pwrite(dst, buf.data() + done, static_cast<size_t>(n - done), out + done);
            if (w < 0) {
                if (errno == EINTR) continue;
                return last_error("write for copy-up");
            }
            done += w;
        }
        in += n;
        out += n;
    }
    return {};
}

Status copy_data(int src, int dst, off_t size) {
    off_t off = 0;
    while (off < size) {
        off_t data = ::lseek(src, off, SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO) break;  // only a hole remains
            // No SEEK_DATA support: copy everything.
            if (auto st = copy_range(src, dst, off, size); !st) return st;
            break;
        }
        if (data >= size) break;
        off_t hole = ::lseek(src, data, SEEK_HOLE);
        if (hole < 0 || hole > size) hole = size;
        if (auto st = copy_range(src, dst, data, hole); !st) return st;
        off = hole;
    }
    if (::ftruncate(dst, size) < 0) return last_error("truncate copy-up");
    return {};
}

static bool ignorable_xattr_errno(int e) { return e == EPERM || e == ENOTSUP || e == EACCES || e == EINVAL; }

Status copy_xattrs(const std::string& src, const std::string& dst) {
    ssize_t len = ::llistxattr(src.c_str(), nullptr, 0);
    if (len < 0) {
        if (errno == ENOTSUP || errno == ENODATA) return {};
        return last_error("listxattr " + src);
    }
    if (len == 0) return {};
    std::string names(static_cast<size_t>(len), '\0');
    len = ::llistxattr(src.c_str(), names.data(), names.size());
    if (len < 0) return last_error("listxattr " + src);
    names.resize(static_cast<size_t>(len));
    for (size_t i = 0; i < names.size();) {
        std::string n = names.c_str() + i;
        i += n.size() + 1;
        if (n.empty()) continue;
        ssize_t vl = ::lgetxattr(src.c_str(), n.c_str(), nullptr, 0);
        if (vl < 0) {
            if (ignorable_xattr_errno(errno) || errno == ENODATA) continue;
            return last_error("getxattr " + n);
        }
        std::string v(static_cast<size_t>(vl), '\0');
        vl = ::lgetxattr(src.c_str(), n.c_str(), v.data(), v.size());
        if (vl < 0) continue;
        v.resize(static_cast<size_t>(vl));
        if (::lsetxattr(dst.c_str(), n.c_str(), v.data(), v.size(), 0) < 0 && !ignorable_xattr_errno(errno))
            return last_error("setxattr " + n);
    }
    return {};
}

Status copy_attrs(int dirfd, const std::string& name, const struct stat& st) {
    // Owner first: chown clears set-id bits, chmod restores them.
    if (::fchownat(dirfd, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EPERM &&
        errno != EINVAL)
        return last_error("chown " + name);
    if (!S_ISLNK(st.st_mode)) {
        // The entry was just created by us under a private temporary name, so
        // following it is not a concern; fchmodat has no NOFOLLOW on old kernels.
        if (::fchmodat(dirfd, name.c_str(), st.st_mode & 07777, 0) < 0) return last_error("chmod " + name);
    }
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    if (::utimensat(dirfd, name.c_str(), ts, AT_SYMLINK_NOFOLLOW) < 0) return last_error("utimes " + name);
    return {};
}

Status copy_entry(int src_dirfd, std::string_view name, const struct stat& st, int workfd,
                  const std::string& tmp, bool with_data) {
    std::string n(name);
    switch (st.st_mode & S_IFMT) {
    case S_IFREG: {
        int s = ::openat(src_dirfd, n.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (s < 0) return last_error("open for copy-up " + n);
        Fd src(s);
        struct stat now;
        if (::fstat(s, &now) < 0) return last_error("stat " + n);
        if (!S_ISREG(now.st_mode) || now.st_ino != st.st_ino || now.st_dev != st.st_dev)
            return Error{ESTALE, "copy-up source changed: " + n};
        int d = ::openat(workfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (d < 0) return last_error("create copy-up " + tmp);
        Fd dst(d);
        if (with_data)
            if (auto r = copy_data(s, d, now.st_size); !r) return r;
        break;
    }
    case S_IFDIR:
        if (::mkdirat(workfd, tmp.c_str(), 0700) < 0) return last_error("mkdir copy-up " + tmp);
        break;
    case S_IFLNK: {
        auto target = read_link(src_dirfd, n);
        if (!target) return target.error();
        if (::symlinkat(target->c_str(), workfd, tmp.c_str()) < 0) return last_error("symlink copy-up " + tmp);
        break;
    }
    default:
        if (::mknodat(workfd, tmp.c_str(), (st.st_mode & S_IFMT) | 0600, st.st_rdev) < 0)
            return last_error("mknod copy-up " + n);
        break;
    }
    if (!S_ISLNK(st.st_mode)) {
        if (auto r = copy_xattrs(fd_path(src_dirfd, n), fd_path(workfd, tmp)); !r) {
            ::unlinkat(workfd, tmp.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
            return r;
        }
    }
    if (auto r = copy_attrs(workfd, tmp, st); !r) {
        ::unlinkat(workfd, tmp.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
        return r;
    }
    return {};
}

}  // namespace hsbox::fusefs
