// Path family: every syscall that names a path is resolved in the space's
// view (view.cpp) and performed here; results are written back or the new
// descriptor injected. Nothing is passed to the kernel by string.
#include <fcntl.h>
#include <linux/limits.h>
#include <linux/openat2.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

#include <sys/mman.h>

#include <vector>

#include "handlers.hpp"
#include "target_memory.hpp"

namespace hsbox::supervisor {

namespace {

std::string self_fd(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

Reply status_reply(int r) { return r < 0 ? Reply::err(errno) : Reply::ok(r); }

// Opens what a (dirfd, path, flags) triple names, for calls that act on the
// object itself: an empty path with AT_EMPTY_PATH (or a NULL path where the
// call allows it) means the dirfd.
Result<Fd> object(Call& c, int dirfd_arg, int path_arg, bool nofollow, bool empty_ok, struct stat* st = nullptr) {
    int dirfd = dirfd_arg < 0 ? AT_FDCWD : c.iarg(dirfd_arg);
    uint64_t ptr = c.arg(path_arg);
    std::string path;
    if (ptr) {
        auto p = c.path_arg(path_arg);
        if (!p) return p.error();
        path = std::move(*p);
    }
    if (path.empty()) {
        if (!empty_ok) return Error{ENOENT, "empty path"};
        if (dirfd == AT_FDCWD) {
            auto cwd = c.space.view->absolute(c.who, AT_FDCWD, ".");
            if (!cwd) return cwd.error();
            return c.space.view->open(c.who, *cwd, O_PATH, 0, st);
        }
        auto fd = c.target_fd(dirfd);
        if (!fd) return fd;
        struct stat own;
        struct stat* sp = st ? st : &own;
        if (::fstat(fd->get(), sp) < 0) return last_error("fstat");
        if (auto link = c.space.symlinks.lookup(*sp)) {
            if (::fstatat(link->get(), "", sp, AT_EMPTY_PATH) < 0) return last_error("fstat");
            return link;
        }
        return fd;
    }
    auto sp = c.space.view->absolute(c.who, dirfd, path);
    if (!sp) return sp.error();
    return c.space.view->open(c.who, *sp, O_PATH | (nofollow ? O_NOFOLLOW : 0), 0, st);
}

Reply write_back(Call& c, uint64_t addr, const void* data, size_t len, int64_t ret) {
    if (!c.valid()) return Reply::err(EINTR);
    if (!write_memory(c.n.pid, addr, data, len)) return Reply::err(EFAULT);
    return Reply::ok(ret);
}

// SECCOMP_IOCTL_NOTIF_ADDFD cannot pass an O_PATH descriptor (the kernel
// takes the source with fget(), which skips O_PATH files). An O_PATH open is
// answered with a read-only descriptor of the same object; a symlink itself
// (O_PATH|O_NOFOLLOW) gets a placeholder (SymlinkPlaceholders).
Result<Fd> without_o_path(Call& c, Fd& fd, int flags) {
    struct stat st;
    if (::fstat(fd.get(), &st) < 0) return last_error("fstat");
    if (S_ISLNK(st.st_mode)) return c.space.symlinks.make(std::move(fd));
    int f = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0);
    auto plain = open_at(AT_FDCWD, self_fd(fd.get()), f);
    if (!plain) return plain.error();
    if (!(flags & O_NONBLOCK)) ::fcntl(plain->get(), F_SETFL, ::fcntl(plain->get(), F_GETFL) & ~O_NONBLOCK);
    return plain;
}

Reply do_open(Call& c, int dirfd, int path_arg, int flags, mode_t mode) {
    auto path = c.path_arg(path_arg);
    if (!path) return Reply::err(path.code());
    if (path->empty()) return Reply::err(ENOENT);
    auto sp = c.space.view->absolute(c.who, dirfd, *path);
    if (!sp) return Reply::err(sp.code());
    auto fd = c.space.view->open(c.who, *sp, flags, mode);
    if (!fd) return Reply::err(fd.code());
    if (flags & O_PATH) {
        auto plain = without_o_path(c, *fd, flags);
        if (!plain) return Reply::err(plain.code());
        fd = std::move(plain);
    }
    return Reply::inject(std::move(*fd), flags & O_CLOEXEC);
}

Reply do_stat(Call& c, int dirfd_arg, int path_arg, uint64_t buf, int flags) {
    struct stat st;
    auto fd = object(c, dirfd_arg, path_arg, flags & AT_SYMLINK_NOFOLLOW, flags & AT_EMPTY_PATH, &st);
    if (!fd) return Reply::err(fd.code());
    return write_back(c, buf, &st, sizeof st, 0);
}

Reply do_statx(Call& c) {
    int flags = c.iarg(2);
    // statx(2) accepts a NULL path with AT_EMPTY_PATH since Linux 6.11.
    bool empty_ok = flags & AT_EMPTY_PATH;
    auto fd = object(c, 0, 1, flags & AT_SYMLINK_NOFOLLOW, empty_ok);
    if (!fd) return Reply::err(fd.code());
    struct statx sx;
    int sync = flags & AT_STATX_SYNC_TYPE;
    if (::statx(fd->get(), "", AT_EMPTY_PATH | sync, static_cast<unsigned>(c.arg(3)), &sx) < 0)
        return Reply::err(errno);
    return write_back(c, c.arg(4), &sx, sizeof sx, 0);
}

Reply do_access(Call& c, int dirfd_arg, int path_arg, int mode, int flags) {
    auto fd = object(c, dirfd_arg, path_arg, flags & AT_SYMLINK_NOFOLLOW, flags & AT_EMPTY_PATH);
    if (!fd) return Reply::err(fd.code());
    return status_reply(::faccessat(AT_FDCWD, self_fd(fd->get()).c_str(), mode, flags & AT_EACCESS));
}

Reply do_readlink(Call& c, int dirfd_arg, int path_arg, uint64_t buf, int64_t size) {
    if (size <= 0) return Reply::err(EINVAL);
    int dirfd = dirfd_arg < 0 ? AT_FDCWD : c.iarg(dirfd_arg);
    auto path = c.path_arg(path_arg);
    if (!path) return Reply::err(path.code());
    std::string target;
    if (path->empty()) {
        if (dirfd == AT_FDCWD) return Reply::err(ENOENT);
        auto fd = object(c, 0, 1, true, true);
        if (!fd) return Reply::err(fd.code());
        auto t = read_link(fd->get(), "");
        if (!t) return Reply::err(t.code());
        target = std::move(*t);
    } else {
        auto sp = c.space.view->absolute(c.who, dirfd, *path);
        if (!sp) return Reply::err(sp.code());
        auto t = c.space.view->readlink(c.who, *sp);
        if (!t) return Reply::err(t.code());
        target = std::move(*t);
    }
    size_t n = std::min(target.size(), static_cast<size_t>(size));
    return write_back(c, buf, target.data(), n, static_cast<int64_t>(n));
}

Reply do_getcwd(Call& c) {
    auto host = read_link(AT_FDCWD, "/proc/" + std::to_string(c.who.tid) + "/cwd");
    if (!host) return Reply::err(ENOENT);
    auto sp = c.space.view->to_space(*host);
    if (!sp) return Reply::err(ENOENT);
    size_t need = sp->size() + 1;
    if (static_cast<uint64_t>(need) > c.arg(1)) return Reply::err(ERANGE);
    return write_back(c, c.arg(0), sp->c_str(), need, static_cast<int64_t>(need));
}

// The parent directory of path argument `path_arg`, relative to `dirfd` (a
// descriptor value or AT_FDCWD), for calls that create, remove or rename.
Result<Parent> parent_arg(Call& c, int dirfd, int path_arg) {
    auto path = c.path_arg(path_arg);
    if (!path) return path.error();
    if (path->empty()) return Error{ENOENT, "empty path"};
    auto sp = c.space.view->absolute(c.who, dirfd, *path);
    if (!sp) return sp.error();
    return c.space.view->parent(c.who, *sp);
}

// mkdir, mknod, unlink, rmdir: act on the last component inside its parent.
Reply do_entry(Call& c, int dirfd, int path_arg, int (*op)(Call&, const Parent&)) {
    auto par = parent_arg(c, dirfd, path_arg);
    if (!par) return Reply::err(par.code());
    int r = op(c, *par);
    return r < 0 ? Reply::err(-r) : Reply::ok(r);
}

int op_mkdir(Call& c, const Parent& p) {
    if (p.name.empty()) return -EEXIST;
    mode_t mode = static_cast<mode_t>(c.nr() == SYS_mkdir ? c.arg(1) : c.arg(2));
    return ::mkdirat(p.dir.get(), p.name.c_str(), mode) < 0 ? -errno : 0;
}

int op_mknod(Call& c, const Parent& p) {
    if (p.name.empty()) return -EEXIST;
    bool at = c.nr() == SYS_mknodat;
    mode_t mode = static_cast<mode_t>(c.arg(at ? 2 : 1));
    dev_t dev = static_cast<dev_t>(c.arg(at ? 3 : 2));
    // Device nodes would be a way around the /dev rules.
    if (S_ISCHR(mode) || S_ISBLK(mode)) return -EPERM;
    return ::mknodat(p.dir.get(), p.name.c_str(), mode, dev) < 0 ? -errno : 0;
}

void forget_socket(Call& c, const Parent& p) {
    struct stat st;
    if (::fstatat(p.dir.get(), p.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode))
        c.space.ipc.unix_sockets.erase({st.st_dev, st.st_ino});
}

int op_unlink(Call& c, const Parent& p) {
    int flags = c.nr() == SYS_unlinkat ? c.iarg(2) : (c.nr() == SYS_rmdir ? AT_REMOVEDIR : 0);
    if (p.name.empty()) return (flags & AT_REMOVEDIR) ? -EBUSY : -EISDIR;
    forget_socket(c, p);
    return ::unlinkat(p.dir.get(), p.name.c_str(), flags) < 0 ? -errno : 0;
}

Reply do_rename(Call& c, int olddir, int oldpath, int newdir, int newpath, unsigned flags) {
    auto a = parent_arg(c, olddir, oldpath);
    if (!a) return Reply::err(a.code());
    auto b = parent_arg(c, newdir, newpath);
    if (!b) return Reply::err(b.code());
    if (a->name.empty() || b->name.empty()) return Reply::err(EBUSY);
    long r = ::syscall(SYS_renameat2, a->dir.get(), a->name.c_str(), b->dir.get(), b->name.c_str(), flags);
    return status_reply(static_cast<int>(r));
}

// `olddir_arg` is an argument index (object() reads it), `newdir` a value.
Reply do_link(Call& c, int olddir_arg, int oldpath, int newdir, int newpath, int flags) {
    auto fd = object(c, olddir_arg, oldpath, !(flags & AT_SYMLINK_FOLLOW), flags & AT_EMPTY_PATH);
    if (!fd) return Reply::err(fd.code());
    auto b = parent_arg(c, newdir, newpath);
    if (!b) return Reply::err(b.code());
    if (b->name.empty()) return Reply::err(EEXIST);
    return status_reply(::linkat(AT_FDCWD, self_fd(fd->get()).c_str(), b->dir.get(), b->name.c_str(), AT_SYMLINK_FOLLOW));
}

Reply do_symlink(Call& c, int target_arg, int newdir, int newpath) {
    auto target = c.path_arg(target_arg);
    if (!target) return Reply::err(target.code());
    if (target->empty()) return Reply::err(ENOENT);
    auto b = parent_arg(c, newdir, newpath);
    if (!b) return Reply::err(b.code());
    if (b->name.empty()) return Reply::err(EEXIST);
    return status_reply(::symlinkat(target->c_str(), b->dir.get(), b->name.c_str()));
}

Reply do_chmod(Call& c, int dirfd_arg, int path_arg, mode_t mode, int flags) {
    auto fd = object(c, dirfd_arg, path_arg, flags & AT_SYMLINK_NOFOLLOW, flags & AT_EMPTY_PATH);
    if (!fd) return Reply::err(fd.code());
    struct stat st;
    if (::fstat(fd->get(), &st) == 0 && S_ISLNK(st.st_mode)) return Reply::err(EOPNOTSUPP);
    return status_reply(::chmod(self_fd(fd->get()).c_str(), mode));
}

Reply do_chown(Call& c, int dirfd_arg, int path_arg, uid_t uid, gid_t gid, int flags) {
    auto fd = object(c, dirfd_arg, path_arg, flags & AT_SYMLINK_NOFOLLOW, flags & AT_EMPTY_PATH);
    if (!fd) return Reply::err(fd.code());
    return status_reply(::fchownat(fd->get(), "", uid, gid, AT_EMPTY_PATH));
}

Reply do_utimens(Call& c, int dirfd_arg, int path_arg, const timespec* ts, int flags) {
    auto fd = object(c, dirfd_arg, path_arg, flags & AT_SYMLINK_NOFOLLOW, true);
    if (!fd) return Reply::err(fd.code());
    return status_reply(::utimensat(AT_FDCWD, self_fd(fd->get()).c_str(), ts, 0));
}

// utime/utimes/futimesat/utimensat: read the times once, then one path.
Reply do_times(Call& c) {
    timespec ts[2];
    const timespec* tp = nullptr;
    int nr = c.nr();
    if (nr == SYS_utimensat) {
        if (c.arg(2)) {
            if (!read_memory(c.n.pid, c.arg(2), ts, sizeof ts)) return Reply::err(EFAULT);
            tp = ts;
        }
        int flags = c.iarg(3);
        if (!c.arg(1)) {  // utimensat(fd, NULL, ...) is futimens
            auto fd = c.target_fd(c.iarg(0));
            if (!fd) return Reply::err(fd.code());
            return status_reply(::futimens(fd->get(), tp));
        }
        return do_utimens(c, 0, 1, tp, flags | AT_EMPTY_PATH);
    }
    if (nr == SYS_utime) {
        if (c.arg(1)) {
            utimbuf ub;
            if (!read_memory(c.n.pid, c.arg(1), &ub, sizeof ub)) return Reply::err(EFAULT);
            ts[0] = {ub.actime, 0};
            ts[1] = {ub.modtime, 0};
            tp = ts;
        }
        return do_utimens(c, -1, 0, tp, 0);
    }
    int ptr_arg = nr == SYS_futimesat ? 2 : 1;
    if (c.arg(ptr_arg)) {
        timeval tv[2];
        if (!read_memory(c.n.pid, c.arg(ptr_arg), tv, sizeof tv)) return Reply::err(EFAULT);
        for (int i = 0; i < 2; ++i) ts[i] = {tv[i].tv_sec, tv[i].tv_usec * 1000};
        tp = ts;
    }
    return nr == SYS_futimesat ? do_utimens(c, 0, 1, tp, 0) : do_utimens(c, -1, 0, tp, 0);
}

Reply do_truncate(Call& c) {
    auto path = c.path_arg(0);
    if (!path) return Reply::err(path.code());
    if (path->empty()) return Reply::err(ENOENT);
    auto sp = c.space.view->absolute(c.who, AT_FDCWD, *path);
    if (!sp) return Reply::err(sp.code());
    auto fd = c.space.view->open(c.who, *sp, O_WRONLY, 0);
    if (!fd) return Reply::err(fd.code());
    return status_reply(::ftruncate(fd->get(), static_cast<off_t>(c.arg(1))));
}

Reply do_xattr(Call& c) {
    int nr = c.nr();
    bool nofollow = nr == SYS_lsetxattr || nr == SYS_lgetxattr || nr == SYS_llistxattr || nr == SYS_lremovexattr;
    auto fd = object(c, -1, 0, nofollow, false);
    if (!fd) return Reply::err(fd.code());
    std::string p = self_fd(fd->get());
    if (nr == SYS_listxattr || nr == SYS_llistxattr) {
        size_t size = std::min<uint64_t>(c.arg(2), XATTR_LIST_MAX);
        std::vector<char> buf(size);
        ssize_t n = ::listxattr(p.c_str(), size ? buf.data() : nullptr, size);
        if (n < 0) return Reply::err(errno);
        if (size == 0) return Reply::ok(n);
        return write_back(c, c.arg(1), buf.data(), static_cast<size_t>(n), n);
    }
    auto name = read_string(c.n.pid, c.arg(1), XATTR_NAME_MAX);
    if (!name) return Reply::err(name.code() == ENAMETOOLONG ? ERANGE : EFAULT);
    if (nr == SYS_removexattr || nr == SYS_lremovexattr) return status_reply(::removexattr(p.c_str(), name->c_str()));
    size_t size = std::min<uint64_t>(c.arg(3), XATTR_SIZE_MAX);
    if (c.arg(3) > XATTR_SIZE_MAX && (nr == SYS_setxattr || nr == SYS_lsetxattr)) return Reply::err(E2BIG);
    std::vector<char> buf(size);
    if (nr == SYS_setxattr || nr == SYS_lsetxattr) {
        if (!read_memory(c.n.pid, c.arg(2), buf.data(), size)) return Reply::err(EFAULT);
        return status_reply(::setxattr(p.c_str(), name->c_str(), buf.data(), size, c.iarg(4)));
    }
    ssize_t n = ::getxattr(p.c_str(), name->c_str(), size ? buf.data() : nullptr, size);
    if (n < 0) return Reply::err(errno);
    if (size == 0) return Reply::ok(n);
    return write_back(c, c.arg(2), buf.data(), static_cast<size_t>(n), n);
}

Reply do_statfs(Call& c) {
    auto fd = object(c, -1, 0, false, false);
    if (!fd) return Reply::err(fd.code());
    struct statfs sf;
    if (::fstatfs(fd->get(), &sf) < 0) return Reply::err(errno);
    return write_back(c, c.arg(1), &sf, sizeof sf, 0);
}

Reply do_inotify_add_watch(Call& c) {
    auto ifd = c.target_fd(c.iarg(0));
    if (!ifd) return Reply::err(ifd.code());
    uint32_t mask = static_cast<uint32_t>(c.arg(2));
    auto fd = object(c, -1, 1, mask & IN_DONT_FOLLOW, false);
    if (!fd) return Reply::err(fd.code());
    return status_reply(::inotify_add_watch(ifd->get(), self_fd(fd->get()).c_str(), mask & ~IN_DONT_FOLLOW));
}

}  // namespace

Result<Fd> SymlinkPlaceholders::make(Fd symlink) {
    int mfd = ::memfd_create("hsbox-symlink", MFD_CLOEXEC);
    if (mfd < 0) return last_error("memfd_create");
    Fd placeholder(mfd);
    struct stat st;
    if (::fstat(mfd, &st) < 0) return last_error("fstat");
    memfd_dev_ = st.st_dev;
    if (entries_.size() >= 256) entries_.pop_front();
    entries_.push_back(Entry{st.st_ino, std::move(symlink)});
    return placeholder;
}

Result<Fd> SymlinkPlaceholders::lookup(const struct stat& st) const {
    if (entries_.empty() || st.st_dev != memfd_dev_) return Error{ENOENT, "placeholder"};
    for (auto it = entries_.rbegin(); it != entries_.rend(); ++it)
        if (it->ino == st.st_ino) {
            int dup = ::fcntl(it->symlink.get(), F_DUPFD_CLOEXEC, 0);
            if (dup < 0) return last_error("dup");
            return Fd(dup);
        }
    return Error{ENOENT, "placeholder"};
}

Reply handle_path(Call& c) {
    switch (c.nr()) {
        case SYS_open: return do_open(c, AT_FDCWD, 0, c.iarg(1), static_cast<mode_t>(c.arg(2)));
        case SYS_creat: return do_open(c, AT_FDCWD, 0, O_CREAT | O_WRONLY | O_TRUNC, static_cast<mode_t>(c.arg(1)));
        case SYS_openat: return do_open(c, c.iarg(0), 1, c.iarg(2), static_cast<mode_t>(c.arg(3)));
        case SYS_openat2: {
            open_how how{};
            uint64_t size = c.arg(3);
            if (size < 24) return Reply::err(EINVAL);
            if (!read_memory(c.n.pid, c.arg(2), &how, sizeof how)) return Reply::err(EFAULT);
            // Resolve restrictions of the caller's own are not emulated yet:
            // ENOSYS makes libc and programs fall back to openat.
            if (how.resolve != 0 || size > sizeof how) return Reply::err(ENOSYS);
            return do_open(c, c.iarg(0), 1, static_cast<int>(how.flags), static_cast<mode_t>(how.mode));
        }
        case SYS_stat: return do_stat(c, -1, 0, c.arg(1), 0);
        case SYS_lstat: return do_stat(c, -1, 0, c.arg(1), AT_SYMLINK_NOFOLLOW);
        case SYS_newfstatat: return do_stat(c, 0, 1, c.arg(2), c.iarg(3));
        case SYS_statx: return do_statx(c);
        case SYS_access: return do_access(c, -1, 0, c.iarg(1), 0);
        case SYS_faccessat: return do_access(c, 0, 1, c.iarg(2), 0);
        case SYS_faccessat2: return do_access(c, 0, 1, c.iarg(2), c.iarg(3));
        case SYS_readlink: return do_readlink(c, -1, 0, c.arg(1), static_cast<int64_t>(c.arg(2)));
        case SYS_readlinkat: return do_readlink(c, 0, 1, c.arg(2), static_cast<int64_t>(c.arg(3)));
        case SYS_getcwd: return do_getcwd(c);
        case SYS_mkdir: return do_entry(c, AT_FDCWD, 0, op_mkdir);
        case SYS_mkdirat: return do_entry(c, c.iarg(0), 1, op_mkdir);
        case SYS_mknod: return do_entry(c, AT_FDCWD, 0, op_mknod);
        case SYS_mknodat: return do_entry(c, c.iarg(0), 1, op_mknod);
        case SYS_unlink:
        case SYS_rmdir: return do_entry(c, AT_FDCWD, 0, op_unlink);
        case SYS_unlinkat: return do_entry(c, c.iarg(0), 1, op_unlink);
        case SYS_rename: return do_rename(c, AT_FDCWD, 0, AT_FDCWD, 1, 0);
        case SYS_renameat: return do_rename(c, c.iarg(0), 1, c.iarg(2), 3, 0);
        case SYS_renameat2: return do_rename(c, c.iarg(0), 1, c.iarg(2), 3, static_cast<unsigned>(c.arg(4)));
        case SYS_link: return do_link(c, -1, 0, AT_FDCWD, 1, 0);
        case SYS_linkat: return do_link(c, 0, 1, c.iarg(2), 3, c.iarg(4));
        case SYS_symlink: return do_symlink(c, 0, AT_FDCWD, 1);
        case SYS_symlinkat: return do_symlink(c, 0, c.iarg(1), 2);
        case SYS_chmod: return do_chmod(c, -1, 0, static_cast<mode_t>(c.arg(1)), 0);
        case SYS_fchmodat: return do_chmod(c, 0, 1, static_cast<mode_t>(c.arg(2)), 0);
        case 452 /* fchmodat2 */: return do_chmod(c, 0, 1, static_cast<mode_t>(c.arg(2)), c.iarg(3));
        case SYS_chown: return do_chown(c, -1, 0, static_cast<uid_t>(c.arg(1)), static_cast<gid_t>(c.arg(2)), 0);
        case SYS_lchown:
            return do_chown(c, -1, 0, static_cast<uid_t>(c.arg(1)), static_cast<gid_t>(c.arg(2)), AT_SYMLINK_NOFOLLOW);
        case SYS_fchownat:
            return do_chown(c, 0, 1, static_cast<uid_t>(c.arg(2)), static_cast<gid_t>(c.arg(3)), c.iarg(4));
        case SYS_utime:
        case SYS_utimes:
        case SYS_futimesat:
        case SYS_utimensat: return do_times(c);
        case SYS_truncate: return do_truncate(c);
        case SYS_setxattr:
        case SYS_lsetxattr:
        case SYS_getxattr:
        case SYS_lgetxattr:
        case SYS_listxattr:
        case SYS_llistxattr:
        case SYS_removexattr:
        case SYS_lremovexattr: return do_xattr(c);
        case SYS_statfs: return do_statfs(c);
        case SYS_inotify_add_watch: return do_inotify_add_watch(c);
    }
    return Reply::err(ENOSYS);
}

}  // namespace hsbox::supervisor
