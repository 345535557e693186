#include "view.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <cstring>
#include <set>
#include <sstream>

#include "creds.hpp"
#include "hsbox/log.hpp"

namespace hsbox::supervisor {

namespace {

constexpr int kMaxSymlinkDepth = 40;

int sys_openat2(int dirfd, const char* path, int flags, mode_t mode, uint64_t resolve) {
    open_how how{};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    // openat2 refuses a mode without O_CREAT/O_TMPFILE.
    how.mode = (flags & (O_CREAT | __O_TMPFILE)) ? (mode & 07777) : 0;
    how.resolve = resolve;
    return static_cast<int>(::syscall(SYS_openat2, dirfd, path, &how, sizeof how));
}

Result<Fd> openat2_fd(int dirfd, const std::string& path, int flags, mode_t mode, uint64_t resolve) {
    for (;;) {
        int fd = sys_openat2(dirfd, path.empty() ? "." : path.c_str(), flags, mode, resolve);
        if (fd >= 0) return Fd(fd);
        // EAGAIN: a concurrent rename raced the lookup (RESOLVE_IN_ROOT); retry.
        if (errno != EAGAIN && errno != EINTR) return last_error("open " + path);
    }
}

bool under(std::string_view path, std::string_view dir) {
    if (dir == "/") return true;
    return path.size() >= dir.size() && path.compare(0, dir.size(), dir) == 0 &&
           (path.size() == dir.size() || path[dir.size()] == '/');
}

// "/a/b" -> ("/a", "b"); trailing slashes are ignored.
std::pair<std::string, std::string> split_last(std::string_view path) {
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    auto slash = path.rfind('/');
    if (slash == std::string_view::npos) return {".", std::string(path)};
    std::string dir(path.substr(0, slash));
    if (dir.empty()) dir = "/";
    return {dir, std::string(path.substr(slash + 1))};
}

bool is_number(std::string_view s) {
    return !s.empty() && s.size() < 11 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Character devices a space may open (major, minor): null zero full random
// urandom tty ptmx; pts (136..143, any minor) is checked separately.
bool safe_device(dev_t rdev) {
    unsigned ma = major(rdev), mi = minor(rdev);
    if (ma == 1) return mi == 3 || mi == 5 || mi == 7 || mi == 8 || mi == 9;
    if (ma == 5) return mi == 0 || mi == 2;
    return ma >= 136 && ma <= 143;
}

const char* const kDevNodes[] = {"null", "zero", "full", "random", "urandom", "tty", "ptmx"};
const std::pair<const char*, const char*> kDevLinks[] = {
    {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}};

}  // namespace

std::vector<std::string> lexical_components(std::string_view path) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < path.size()) {
        size_t j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        std::string_view c = path.substr(i, j - i);
        if (c == "..") {
            if (!out.empty()) out.pop_back();
        } else if (!c.empty() && c != ".") {
            out.emplace_back(c);
        }
        i = j + 1;
    }
    return out;
}

std::string join_components(const std::vector<std::string>& comps, size_t from) {
    std::string out;
    for (size_t i = from; i < comps.size(); ++i) out += "/" + comps[i];
    return out.empty() ? "/" : out;
}

Result<std::string> SpaceView::fd_path(int fd) { return read_link(AT_FDCWD, "/proc/self/fd/" + std::to_string(fd)); }

Result<std::unique_ptr<SpaceView>> SpaceView::create(ViewOptions opts, Membership in_space) {
    std::unique_ptr<SpaceView> v(new SpaceView(std::move(opts), std::move(in_space)));
    auto root = open_at(AT_FDCWD, v->opts_.root, O_PATH | O_DIRECTORY);
    if (!root) return Error{root.code(), "space root " + v->opts_.root};
    v->root_ = std::move(*root);
    auto proc = open_at(AT_FDCWD, "/proc", O_PATH | O_DIRECTORY);
    if (!proc) return proc.error();
    v->proc_ = std::move(*proc);
    auto dev = open_at(AT_FDCWD, "/dev", O_PATH | O_DIRECTORY);
    if (!dev) return dev.error();
    v->dev_ = std::move(*dev);
    auto state = open_at(AT_FDCWD, v->opts_.state_dir, O_PATH | O_DIRECTORY);
    if (!state) return Error{state.code(), "state dir " + v->opts_.state_dir};
    v->state_ = std::move(*state);
    // The space's /dev/shm and the listing of its /dev.
    for (const char* d : {"shm", "devsnap", "procsnap"})
        if (::mkdirat(v->state_.get(), d, 0700) < 0 && errno != EEXIST) return last_error(std::string("mkdir ") + d);
    ::fchmodat(v->state_.get(), "shm", 01777, 0);
    auto shm = open_at(v->state_.get(), "shm", O_PATH | O_DIRECTORY);
    if (!shm) return shm.error();
    v->shm_ = std::move(*shm);
    auto devsnap = open_at(v->state_.get(), "devsnap", O_PATH | O_DIRECTORY);
    if (!devsnap) return devsnap.error();
    v->devsnap_ = std::move(*devsnap);
    int ds = v->devsnap_.get();
    for (const char* n : kDevNodes) {
        int f = ::openat(ds, n, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
        if (f >= 0) ::close(f);
    }
    ::mkdirat(ds, "pts", 0755);
    ::mkdirat(ds, "shm", 01777);
    for (auto& [n, t] : kDevLinks) ::symlinkat(t, ds, n);
    v->opts_.hidden.push_back(v->opts_.state_dir);
    return v;
}

bool SpaceView::hidden(std::string_view host) const {
    for (const auto& h : opts_.hidden) {
        if (!under(host, h)) continue;
        if (h == opts_.state_dir) return true;  // never shareable
        bool shared = std::any_of(opts_.shared.begin(), opts_.shared.end(),
                                  [&](const std::string& s) { return under(host, s); });
        if (!shared) return true;
    }
    return false;
}

Result<std::string> SpaceView::to_space(std::string_view host) const {
    const std::string& st = opts_.state_dir;
    if (under(host, st + "/procsnap")) return std::string("/proc");
    if (under(host, st + "/devsnap")) return "/dev" + std::string(host.substr(st.size() + 8));
    if (under(host, st + "/shm")) return "/dev/shm" + std::string(host.substr(st.size() + 4));
    if (hidden(host)) return Error{EACCES, std::string(host) + " is outside the space"};
    if (under(host, "/proc") || under(host, "/dev")) return std::string(host);
    const std::string& r = opts_.root;
    if (r == "/") return std::string(host);
    if (host == r) return std::string("/");
    if (under(host, r)) return std::string(host.substr(r.size()));
    return Error{EACCES, std::string(host) + " is outside the space"};
}

Result<std::string> SpaceView::absolute(const Who& who, int dirfd, std::string_view path) const {
    if (path.empty()) return Error{ENOENT, "empty path"};
    if (path[0] == '/') return std::string(path);
    std::string base_host;
    if (dirfd == AT_FDCWD) {
        auto cwd = read_link(AT_FDCWD, "/proc/" + std::to_string(who.tid) + "/cwd");
        if (!cwd) return Error{ENOENT, "cwd of " + std::to_string(who.tid)};
        base_host = std::move(*cwd);
    } else {
        auto host = dirfd_host(who, dirfd);
        if (!host) return host.error();
        base_host = std::move(*host);
    }
    auto base = to_space(base_host);
    if (!base) return base.error();
    std::string out = *base;
    if (out.back() != '/') out += '/';
    out.append(path);
    return out;
}

// The host path of a space process's dirfd, from a small cache revalidated
// with kcmp (one cheap syscall) or read from /proc/PID/fd.
Result<std::string> SpaceView::dirfd_host(const Who& who, int dirfd) const {
    if (dirfd < 0) return Error{EBADF, "dirfd"};
    for (auto it = dirfds_.begin(); it != dirfds_.end(); ++it) {
        if (it->tgid != who.tgid || it->fd != dirfd) continue;
        if (::syscall(SYS_kcmp, ::getpid(), who.tgid, KCMP_FILE, it->dup.get(), dirfd) == 0) {
            it->used = ++dirfd_clock_;
            return it->host;
        }
        dirfds_.erase(it);
        break;
    }
    std::string link = "/proc/" + std::to_string(who.tgid) + "/fd/" + std::to_string(dirfd);
    auto target = read_link(AT_FDCWD, link);
    if (!target) return Error{EBADF, "dirfd"};
    // A dirfd that is not a directory needs no check here: the joined
    // path then fails with ENOTDIR when it is resolved.
    if (target->empty() || (*target)[0] != '/') return Error{ENOTDIR, "dirfd"};
    if (fetch_fd_) {
        auto dup = fetch_fd_(who.tgid, dirfd);
        if (dup) {
            if (dirfds_.size() >= 32) {
                auto oldest = std::min_element(dirfds_.begin(), dirfds_.end(),
                                               [](const DirfdEntry& a, const DirfdEntry& b) { return a.used < b.used; });
                dirfds_.erase(oldest);
            }
            dirfds_.push_back(DirfdEntry{who.tgid, dirfd, std::move(*dup), *target, ++dirfd_clock_});
        }
    }
    return target;
}

Result<Fd> SpaceView::open(const Who& who, const std::string& path, int flags, mode_t mode,
                           struct stat* st) const {
    last_stat_.st_ino = 0;
    auto r = open_impl(who, path, flags, mode, 0);
    if (st) {
        if (r && last_stat_.st_ino) {
            *st = last_stat_;
        } else if (r && ::fstat(r->get(), st) < 0) {
            return last_error("fstat");
        }
    }
    return r;
}

Result<Fd> SpaceView::reopen(const Fd& probe, int flags) const {
    struct stat st;
    if (::fstat(probe.get(), &st) < 0) return last_error("fstat");
    return reopen(probe, flags, st);
}

// Filesystems that are the kernel's configuration rather than files: a
// root-run space writing them would change the host (sysfs: network devices,
// drivers, modules; cgroups; debugfs, tracefs, securityfs, configfs, bpffs,
// efivarfs, pstore; procfs mounted somewhere other than /proc).
static bool kernel_config_fs(int fd) {
    struct statfs sf;
    if (::fstatfs(fd, &sf) < 0) return true;  // unknown: refuse
    switch (static_cast<unsigned long>(sf.f_type)) {
        case 0x62656572:  // SYSFS_MAGIC
        case 0x63677270:  // CGROUP2_SUPER_MAGIC
        case 0x27e0eb:    // CGROUP_SUPER_MAGIC
        case 0x64626720:  // DEBUGFS_MAGIC
        case 0x74726163:  // TRACEFS_MAGIC
        case 0x73636673:  // SECURITYFS_MAGIC
        case 0x62656570:  // CONFIGFS_MAGIC
        case 0xcafe4a11:  // BPF_FS_MAGIC
        case 0xde5e81e4:  // EFIVARFS_MAGIC
        case 0x6165676c:  // PSTOREFS_MAGIC
        case 0xf97cff8c:  // SELINUX_MAGIC
        case 0x9fa0:      // PROC_SUPER_MAGIC
            return true;
    }
    return false;
}

Result<Fd> SpaceView::reopen(const Fd& probe, int flags, const struct stat& st) const {
    // The kernel's configuration is read-only in a space, whoever runs it.
    bool writes = (flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_APPEND));
    if (writes && kernel_config_fs(probe.get())) return Error{EACCES, "kernel configuration (read-only in a space)"};
    int f = (flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW | O_PATH)) | O_CLOEXEC;
    std::string path = "/proc/self/fd/" + std::to_string(probe.get());
    bool may_block = !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
    if (!may_block || !run_blocking_) return open_at(AT_FDCWD, path, f);
    long r = run_blocking_([&]() -> long {
        int fd = ::open(path.c_str(), f);
        return fd < 0 ? -errno : fd;
    });
    if (r < 0) return Error{static_cast<int>(-r), "open"};
    return Fd(static_cast<int>(r));
}

Result<Fd> SpaceView::open_impl(const Who& who, const std::string& path, int flags, mode_t mode,
                                int depth) const {
    if (depth > kMaxSymlinkDepth) return Error{ELOOP, path};
    auto comps = lexical_components(path);
    if (!comps.empty() && comps[0] == "proc") {
        comps.erase(comps.begin());
        return open_proc(who, std::move(comps), flags, mode, depth);
    }
    if (!comps.empty() && comps[0] == "dev") {
        comps.erase(comps.begin());
        return open_dev(who, std::move(comps), flags, mode, depth);
    }
    std::string lexical_host = opts_.root == "/" ? join_components(comps) : opts_.root + join_components(comps);
    if (hidden(lexical_host)) return Error{ENOENT, path};
    if (flags & O_CREAT) return open_created(who, path, flags, mode, depth);
    int probe_flags = O_PATH | (flags & (O_NOFOLLOW | O_DIRECTORY));
    // First without symlinks: when that succeeds the lexical path is the
    // real one, and the lexical checks above were exact.
    const uint64_t in_root = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    auto probe = openat2_fd(root_.get(), path, probe_flags, 0, in_root | RESOLVE_NO_SYMLINKS);
    bool via_symlink = !probe && probe.code() == ELOOP;
    if (via_symlink) probe = openat2_fd(root_.get(), path, probe_flags, 0, in_root);
    if (!probe) {
        int e = probe.code();
        // A symlink may lead into /proc or /dev (or be a magic link), which
        // only the space's own resolution can follow.
        if (e == ENOENT || e == ELOOP || e == ENOTDIR) {
            auto canon = walk(who, path, !(flags & O_NOFOLLOW));
            if (canon && *canon != join_components(comps)) return open_impl(who, *canon, flags, mode, depth + 1);
        }
        return probe.error();
    }
    return check_host_result(who, std::move(*probe), path, flags, mode, depth, via_symlink);
}

Result<std::optional<std::string>> SpaceView::link_target(const Who& who, const std::string& space_path) const {
    auto comps = lexical_components(space_path);
    if (!comps.empty() && comps[0] == "proc") {
        // Only these are symlinks in the space's /proc.
        size_t n = comps.size();
        bool link = (n == 2 && (comps[1] == "self" || comps[1] == "thread-self" || comps[1] == "net" ||
                                comps[1] == "mounts"));
        size_t i = 2;
        if (n >= 4 && comps[2] == "task") i = 4;
        if (n == i + 1 && (comps[i] == "root" || comps[i] == "cwd" || comps[i] == "exe")) link = true;
        if (n == i + 2 && comps[i] == "fd") link = true;
        if (n >= 2 && is_number(comps[1]) && !in_space_(static_cast<pid_t>(std::stol(comps[1]))))
            return Error{ENOENT, space_path};
        if (!link) return std::optional<std::string>();
        auto t = readlink(who, space_path);
        if (!t) return t.error();
        if (t->empty() || ((*t)[0] != '/' && comps.size() > 2)) return Error{ENOTDIR, space_path};
        return std::optional<std::string>(*t);
    }
    if (comps.size() == 2 && comps[0] == "dev") {
        for (auto& [n, t] : kDevLinks)
            if (comps[1] == n) return std::optional<std::string>(t);
        return std::optional<std::string>();
    }
    if (!comps.empty() && comps[0] == "dev") return std::optional<std::string>();
    std::string lexical_host = opts_.root == "/" ? join_components(comps) : opts_.root + join_components(comps);
    if (hidden(lexical_host)) return Error{ENOENT, space_path};
    auto fd = openat2_fd(root_.get(), space_path, O_PATH | O_NOFOLLOW, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (!fd) return fd.error();
    struct stat st;
    if (::fstat(fd->get(), &st) < 0) return last_error("fstat");
    if (!S_ISLNK(st.st_mode)) return std::optional<std::string>();
    auto t = read_link(fd->get(), "");
    if (!t) return t.error();
    return std::optional<std::string>(*t);
}

Result<std::string> SpaceView::walk(const Who& who, const std::string& path, bool follow_last) const {
    std::deque<std::string> todo;
    auto push_front_path = [&](std::string_view p) {
        std::vector<std::string> parts;
        size_t i = 0;
        while (i <= p.size()) {
            size_t j = p.find('/', i);
            if (j == std::string_view::npos) j = p.size();
            if (j > i) parts.emplace_back(p.substr(i, j - i));
            i = j + 1;
        }
        todo.insert(todo.begin(), parts.begin(), parts.end());
    };
    push_front_path(path);
    std::vector<std::string> done;
    int links = 0;
    while (!todo.empty()) {
        std::string c = std::move(todo.front());
        todo.pop_front();
        if (c == ".") continue;
        if (c == "..") {
            if (!done.empty()) done.pop_back();
            continue;
        }
        done.push_back(c);
        if (todo.empty() && !follow_last) break;
        auto link = link_target(who, join_components(done));
        if (!link) {
            // Missing (or refused): the rest is resolved no further.
            done.insert(done.end(), todo.begin(), todo.end());
            break;
        }
        if (!link->has_value()) continue;
        if (++links > kMaxSymlinkDepth) return Error{ELOOP, path};
        done.pop_back();
        const std::string& target = **link;
        if (!target.empty() && target[0] == '/') done.clear();
        push_front_path(target);
    }
    return join_components(done);
}

// `fd` came from the host route as an O_PATH probe. Checks where it landed,
// then opens it for real with `flags`.
Result<Fd> SpaceView::check_host_result(const Who& who, Fd fd, const std::string& path, int flags, mode_t mode,
                                        int depth, bool via_symlink) const {
    std::string host = path;
    if (via_symlink) {
        auto h = fd_path(fd.get());
        if (!h) return h.error();
        host = std::move(*h);
    }
    if (via_symlink && (under(host, "/proc") || under(host, "/dev"))) {
        // Reached through a symlink (only possible when the root is "/"):
        // resolve it again in the space's terms (/proc/self is the caller,
        // not the supervisor) and take the emulated route.
        auto canon = walk(who, path, !(flags & O_NOFOLLOW));
        if (!canon) return canon.error();
        auto comps = lexical_components(*canon);
        if (comps.empty() || (comps[0] != "proc" && comps[0] != "dev")) return Error{ENOENT, path};
        return open_impl(who, *canon, flags & ~O_CREAT, mode, depth + 1);
    }
    if (via_symlink && hidden(host)) return Error{ENOENT, host};
    struct stat st;
    if (::fstat(fd.get(), &st) < 0) return last_error("fstat");
    if ((S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) && !(S_ISCHR(st.st_mode) && safe_device(st.st_rdev)))
        return Error{EACCES, host};
    last_stat_ = st;
    if (flags & O_PATH) return fd;
    if (S_ISLNK(st.st_mode)) return Error{ELOOP, host};  // O_NOFOLLOW on a symlink
    if ((flags & O_DIRECTORY) && !S_ISDIR(st.st_mode)) return Error{ENOTDIR, host};
    return reopen(fd, flags, st);
}

Result<Fd> SpaceView::open_created(const Who& who, const std::string& path, int flags, mode_t mode,
                                   int depth) const {
    auto par = parent(who, path);
    if (!par) return par.error();
    if (par->name.empty()) return Error{EISDIR, path};
    struct stat st;
    if (::fstatat(par->dir.get(), par->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (flags & O_EXCL) return Error{EEXIST, path};
        if (S_ISLNK(st.st_mode)) {
            if (flags & O_NOFOLLOW) return Error{ELOOP, path};
            auto target = read_link(par->dir.get(), par->name);
            if (!target) return target.error();
            std::string next = (*target)[0] == '/' ? *target : par->space_dir + "/" + *target;
            return open_impl(who, next, flags, mode, depth + 1);
        }
        auto probe = open_at(par->dir.get(), par->name, O_PATH | O_NOFOLLOW);
        if (!probe) return probe.error();
        return check_host_result(who, std::move(*probe), path, flags & ~O_CREAT, mode, depth, true);
    }
    if (errno != ENOENT) return last_error("stat " + path);
    int fd = ::openat(par->dir.get(), par->name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) return last_error("create " + path);
    return Fd(fd);
}

Result<Parent> SpaceView::parent(const Who& who, const std::string& path) const {
    auto [dir, name] = split_last(path);
    if (name == "." || name == ".." || name == "/" || name.empty()) name.clear();
    auto comps = lexical_components(dir);
    std::string space_dir = join_components(comps);
    if (!comps.empty() && comps[0] == "dev" && comps.size() >= 2 && comps[1] == "shm") {
        auto fd = openat2_fd(shm_.get(), join_components(comps, 2), O_PATH | O_DIRECTORY, 0, RESOLVE_IN_ROOT);
        if (!fd) return fd.error();
        return Parent{std::move(*fd), name, space_dir};
    }
    if (!comps.empty() && (comps[0] == "proc" || comps[0] == "dev")) {
        // Nothing is created in /proc or /dev: EACCES, or ENOENT where the
        // directory itself does not exist in the space.
        auto fd = open_impl(who, space_dir, O_PATH | O_DIRECTORY, 0, 0);
        if (!fd) return fd.error();
        return Error{EACCES, path};
    }
    std::string lexical_host = opts_.root == "/" ? space_dir : opts_.root + space_dir;
    if (hidden(lexical_host)) return Error{ENOENT, path};
    // As in open_impl: without symlinks on the way, the lexical checks above
    // were exact and the lexical path is the space path.
    const uint64_t in_root = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    auto fd = openat2_fd(root_.get(), dir, O_PATH | O_DIRECTORY, 0, in_root | RESOLVE_NO_SYMLINKS);
    if (fd) return Parent{std::move(*fd), name, space_dir};
    if (fd.code() != ELOOP) return fd.error();
    fd = openat2_fd(root_.get(), dir, O_PATH | O_DIRECTORY, 0, in_root);
    if (!fd) return fd.error();
    auto host = fd_path(fd->get());
    if (!host) return host.error();
    if (under(*host, "/dev/shm")) {
        std::string rest = host->substr(8);
        auto sfd = openat2_fd(shm_.get(), rest, O_PATH | O_DIRECTORY, 0, RESOLVE_IN_ROOT);
        if (!sfd) return sfd.error();
        return Parent{std::move(*sfd), name, "/dev/shm" + rest};
    }
    if (under(*host, "/proc") || under(*host, "/dev")) return Error{EACCES, path};
    if (hidden(*host)) return Error{ENOENT, path};
    auto sp = to_space(*host);
    return Parent{std::move(*fd), name, sp ? *sp : space_dir};
}

Result<Fd> SpaceView::open_dev(const Who& who, std::vector<std::string> comps, int flags, mode_t mode,
                               int depth) const {
    if (comps.empty()) {
        if (flags & O_PATH) return open_at(devsnap_.get(), ".", flags & (O_PATH | O_DIRECTORY));
        return open_at(devsnap_.get(), ".", (flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_DIRECTORY);
    }
    const std::string& c0 = comps[0];
    for (auto& [n, target] : kDevLinks) {
        if (c0 != n) continue;
        bool last = comps.size() == 1;
        if (last && (flags & O_NOFOLLOW)) return open_at(devsnap_.get(), n, O_PATH | O_NOFOLLOW);
        std::string next = target + join_components(comps, 1);
        if (next.back() == '/') next.pop_back();
        return open_impl(who, comps.size() == 1 ? std::string(target) : next, flags, mode, depth + 1);
    }
    if (c0 == "shm") {
        std::string rest = join_components(comps, 1);
        if (flags & O_CREAT) return open_created(who, "/dev/shm" + (rest == "/" ? "" : rest), flags, mode, depth);
        int probe_flags = O_PATH | (flags & (O_NOFOLLOW | O_DIRECTORY));
        auto probe = openat2_fd(shm_.get(), rest, probe_flags, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
        if (!probe) return probe.error();
        struct stat st;
        if (::fstat(probe->get(), &st) < 0) return last_error("fstat");
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return Error{EACCES, "/dev/shm" + rest};
        if (flags & O_PATH) return probe;
        if (S_ISLNK(st.st_mode)) return Error{ELOOP, rest};
        return reopen(*probe, flags);
    }
    bool allowed = c0 == "pts" || std::any_of(std::begin(kDevNodes), std::end(kDevNodes),
                                              [&](const char* n) { return c0 == n; });
    if (!allowed || (c0 != "pts" && comps.size() > 1)) return Error{ENOENT, "/dev/" + c0};
    if (flags & O_CREAT) {
        if (flags & O_EXCL) return Error{EEXIST, "/dev/" + c0};
        flags &= ~O_CREAT;
    }
    auto fd = openat2_fd(dev_.get(), join_components(comps).substr(1), flags, mode,
                         RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS);
    if (!fd) return fd.error();
    struct stat st;
    if (::fstat(fd->get(), &st) == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) &&
        !(S_ISCHR(st.st_mode) && safe_device(st.st_rdev)))
        return Error{EACCES, "/dev/" + c0};
    return fd;
}

Result<Fd> SpaceView::open_proc(const Who& who, std::vector<std::string> comps, int flags, mode_t mode,
                                int depth) const {
    if (depth > kMaxSymlinkDepth) return Error{ELOOP, "/proc"};
    bool nofollow_last = flags & O_NOFOLLOW;
    if (flags & O_CREAT) {
        if (flags & O_EXCL) return Error{EEXIST, "/proc"};
        flags &= ~O_CREAT;
    }
    const int beneath = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    if (comps.empty()) {
        if (flags & O_PATH) return open_at(proc_.get(), ".", flags & (O_PATH | O_DIRECTORY));
        return proc_snapshot(who);
    }
    // The symlinks at the top of /proc.
    const std::string c0 = comps[0];
    if (c0 == "self" || c0 == "thread-self" || c0 == "net" || c0 == "mounts") {
        if (comps.size() == 1 && nofollow_last && (c0 == "self" || c0 == "thread-self"))
            return open_at(proc_.get(), c0, O_PATH | O_NOFOLLOW);
        std::vector<std::string> next{std::to_string(who.tgid)};
        if (c0 == "thread-self") {
            next.push_back("task");
            next.push_back(std::to_string(who.tid));
        } else if (c0 != "self") {
            next.push_back(c0);
        }
        next.insert(next.end(), comps.begin() + 1, comps.end());
        return open_proc(who, std::move(next), flags, mode, depth + 1);
    }
    if (!is_number(c0)) {
        // The host-wide part of /proc is read-only for a space: a root-run
        // space must not write sysctls (core_pattern runs a program as root
        // outside), sysrq-trigger, or driver files; kernel memory and its
        // log are not readable either.
        bool writes = (flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_APPEND));
        if (writes && !(flags & O_PATH)) return Error{EACCES, "/proc/" + c0 + " (read-only in a space)"};
        if ((c0 == "kcore" || c0 == "kmsg" || c0 == "kpagecount" || c0 == "kpageflags" || c0 == "kpagecgroup" ||
             c0 == "sysrq-trigger") &&
            !(flags & O_PATH))
            return Error{EACCES, "/proc/" + c0};
        if (opts_.hide_host_network && c0 == "sys" && comps.size() >= 2 && comps[1] == "net")
            return Error{ENOENT, "/proc/sys/net"};
        return openat2_fd(proc_.get(), join_components(comps).substr(1), flags, mode, beneath);
    }
    pid_t pid = static_cast<pid_t>(std::stol(c0));
    if (!in_space_(pid)) return Error{ENOENT, "/proc/" + c0};
    size_t i = 1;
    std::string prefix = c0;
    // /proc/PID/task/TID/... behaves like /proc/TID/...
    if (comps.size() >= 3 && comps[1] == "task") {
        if (!is_number(comps[2]) || !in_space_(static_cast<pid_t>(std::stol(comps[2]))))
            return Error{ENOENT, "/proc/" + c0 + "/task/" + comps[2]};
        prefix = c0 + "/task/" + comps[2];
        i = 3;
    }
    if (comps.size() == i) return openat2_fd(proc_.get(), prefix, flags, mode, beneath);
    const std::string& what = comps[i];
    bool last = comps.size() == i + 1;
    std::string rest;
    for (size_t k = i + 1; k < comps.size(); ++k) rest += "/" + comps[k];
    auto symlink_itself = [&]() { return open_at(proc_.get(), prefix + "/" + what, O_PATH | O_NOFOLLOW); };
    if (what == "root") {
        if (last && nofollow_last) return symlink_itself();
        return open_impl(who, rest.empty() ? "/" : rest, flags, mode, depth + 1);
    }
    if (what == "cwd") {
        if (last && nofollow_last) return symlink_itself();
        auto cwd = read_link(proc_.get(), prefix + "/cwd");
        if (!cwd) return cwd.error();
        auto sp = to_space(*cwd);
        if (!sp) return sp.error();
        return open_impl(who, *sp + rest, flags, mode, depth + 1);
    }
    if (what == "exe") {
        if (last && nofollow_last) return symlink_itself();
        if (!last) return Error{ENOTDIR, "exe"};
        // The process's own executable, which the space could exec.
        return open_at(proc_.get(), prefix + "/exe", flags & ~O_NOFOLLOW);
    }
    if (what == "fd" && comps.size() > i + 1) {
        const std::string& n = comps[i + 1];
        if (!is_number(n)) return Error{ENOENT, n};
        std::string link = prefix + "/fd/" + n;
        bool fd_last = comps.size() == i + 2;
        if (fd_last && nofollow_last) return open_at(proc_.get(), link, O_PATH | O_NOFOLLOW);
        if (fd_last) {
            // Re-opening a descriptor the space already holds.
            return open_at(proc_.get(), link, flags & ~O_NOFOLLOW);
        }
        auto target = read_link(proc_.get(), link);
        if (!target) return target.error();
        auto sp = to_space(*target);
        if (!sp) return sp.error();
        std::string more;
        for (size_t k = i + 2; k < comps.size(); ++k) more += "/" + comps[k];
        return open_impl(who, *sp + more, flags, mode, depth + 1);
    }
    if (what == "map_files" && comps.size() > i + 1) return Error{EACCES, "map_files"};
    // A portspace's network is its own: the host namespace's tables are not its business.
    if (what == "net" && opts_.hide_host_network) return Error{ENOENT, "/proc/" + prefix + "/net"};
    if (what == "ns" && comps.size() > i + 1) {
        if (last || !nofollow_last) return Error{EACCES, "ns"};
    }
    if ((what == "mountinfo" || what == "mounts") && last && !(flags & O_PATH)) return mountinfo(pid, what);
    return openat2_fd(proc_.get(), prefix + "/" + what + rest, flags, mode, beneath);
}

// A directory whose entries are the space's view of /proc: the space's
// pids and the host's non-pid entries. Listings are cached by content.
Result<Fd> SpaceView::proc_snapshot(const Who& who) const {
    AsSupervisor own;  // the snapshots live in hsbox's state dir
    auto dir = open_at(proc_.get(), ".", O_RDONLY | O_DIRECTORY);
    if (!dir) return dir.error();
    DIR* d = ::fdopendir(dir->release());
    if (!d) return last_error("fdopendir /proc");
    std::vector<std::pair<std::string, unsigned char>> entries;
    while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        if (is_number(n)) {
            if (!in_space_(static_cast<pid_t>(std::stol(n)))) continue;
        }
        entries.emplace_back(n, e->d_type);
    }
    ::closedir(d);
    std::sort(entries.begin(), entries.end());
    std::string key = std::to_string(who.tgid) + "/" + std::to_string(who.tid);
    for (auto& [n, t] : entries) key += ":" + n;
    auto it = procsnaps_.find(key);
    if (it == procsnaps_.end()) {
        std::string name = std::to_string(++procsnap_gen_);
        std::string rel = "procsnap/" + name;
        if (::mkdirat(state_.get(), rel.c_str(), 0755) < 0) return last_error("mkdir " + rel);
        auto sd = open_at(state_.get(), rel, O_PATH | O_DIRECTORY);
        if (!sd) return sd.error();
        for (auto& [n, t] : entries) {
            if (n == "self") {
                ::symlinkat(std::to_string(who.tgid).c_str(), sd->get(), "self");
            } else if (n == "thread-self") {
                ::symlinkat((std::to_string(who.tgid) + "/task/" + std::to_string(who.tid)).c_str(), sd->get(),
                            "thread-self");
            } else if (t == DT_LNK) {
                auto target = read_link(proc_.get(), n);
                if (target) ::symlinkat(target->c_str(), sd->get(), n.c_str());
            } else if (t == DT_DIR) {
                ::mkdirat(sd->get(), n.c_str(), 0555);
            } else {
                int f = ::openat(sd->get(), n.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0444);
                if (f >= 0) ::close(f);
            }
        }
        // Keep a bounded number of listings; an evicted one reads as empty.
        if (procsnaps_.size() >= 32) {
            auto victim = procsnaps_.begin();
            std::string cmd_dir = opts_.state_dir + "/procsnap/" + victim->second;
            auto vd = open_at(AT_FDCWD, cmd_dir, O_RDONLY | O_DIRECTORY);
            if (vd) {
                if (DIR* dd = ::fdopendir(vd->release())) {
                    while (dirent* e = ::readdir(dd)) {
                        if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
                        if (::unlinkat(::dirfd(dd), e->d_name, 0) < 0) ::unlinkat(::dirfd(dd), e->d_name, AT_REMOVEDIR);
                    }
                    ::closedir(dd);
                }
            }
            ::rmdir(cmd_dir.c_str());
            procsnaps_.erase(victim);
        }
        it = procsnaps_.emplace(key, name).first;
    }
    return open_at(state_.get(), "procsnap/" + it->second, O_RDONLY | O_DIRECTORY);
}

// /proc/PID/mountinfo in space terms: mounts outside the root or hidden are
// left out, mount points are shown relative to the root.
Result<Fd> SpaceView::mountinfo(pid_t pid, const std::string& file) const {
    auto text = read_file(proc_.get(), std::to_string(pid) + "/" + file);
    if (!text) return text.error();
    std::istringstream in(*text);
    std::string line, out;
    // The mount point is field 5 of mountinfo, field 2 of mounts.
    const bool info = file == "mountinfo";
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string id, parent, devno, mroot, mpoint;
        if (info)
            ls >> id >> parent >> devno >> mroot >> mpoint;
        else
            ls >> id >> mpoint;
        if (hidden(mpoint)) continue;
        std::string sp;
        if (opts_.root == "/") {
            sp = mpoint;
        } else if (mpoint == opts_.root) {
            sp = "/";
        } else if (under(mpoint, opts_.root)) {
            sp = mpoint.substr(opts_.root.size());
        } else if (under(mpoint, "/proc") || under(mpoint, "/dev")) {
            sp = mpoint;
        } else {
            continue;
        }
        size_t pos = line.find(" " + mpoint + " ", id.size() + parent.size() + devno.size() + mroot.size());
        if (!info) pos = line.find(" " + mpoint + " ", id.size());
        if (pos != std::string::npos) line.replace(pos + 1, mpoint.size(), sp);
        out += line + "\n";
    }
    int fd = ::memfd_create("mountinfo", MFD_CLOEXEC);
    if (fd < 0) return last_error("memfd_create");
    Fd mem(fd);
    if (auto st = write_all(fd, out.data(), out.size()); !st) return st.error();
    ::lseek(fd, 0, SEEK_SET);
    return mem;
}

Result<std::string> SpaceView::readlink(const Who& who, const std::string& path) const {
    auto comps = lexical_components(path);
    if (comps.size() >= 2 && comps[0] == "proc") {
        const std::string& c1 = comps[1];
        if (comps.size() == 2 && c1 == "self") return std::to_string(who.tgid);
        if (comps.size() == 2 && c1 == "thread-self")
            return std::to_string(who.tgid) + "/task/" + std::to_string(who.tid);
        if (comps.size() == 2 && (c1 == "net" || c1 == "mounts")) return "self/" + c1;
        if (c1 == "self" || c1 == "thread-self") {
            std::vector<std::string> next{"proc", std::to_string(who.tgid)};
            if (c1 == "thread-self") {
                next.push_back("task");
                next.push_back(std::to_string(who.tid));
            }
            next.insert(next.end(), comps.begin() + 2, comps.end());
            return readlink(who, join_components(next));
        }
        if (is_number(c1)) {
            if (!in_space_(static_cast<pid_t>(std::stol(c1)))) return Error{ENOENT, path};
            size_t i = 2;
            std::string prefix = c1;
            if (comps.size() >= 4 && comps[2] == "task") {
                if (!is_number(comps[3]) || !in_space_(static_cast<pid_t>(std::stol(comps[3]))))
                    return Error{ENOENT, path};
                prefix += "/task/" + comps[3];
                i = 4;
            }
            if (comps.size() == i + 1 && comps[i] == "root") return std::string("/");
            bool magic = (comps.size() == i + 1 && (comps[i] == "cwd" || comps[i] == "exe")) ||
                         (comps.size() == i + 2 && comps[i] == "fd");
            if (magic) {
                std::string rel = prefix;
                for (size_t k = i; k < comps.size(); ++k) rel += "/" + comps[k];
                auto target = read_link(proc_.get(), rel);
                if (!target) return target.error();
                if (target->empty() || (*target)[0] != '/') return target;  // pipe:[..], socket:[..]
                std::string t = *target;
                const std::string deleted = " (deleted)";
                bool del = t.size() > deleted.size() && t.compare(t.size() - deleted.size(), deleted.size(), deleted) == 0;
                if (del) t.resize(t.size() - deleted.size());
                auto sp = to_space(t);
                if (!sp) return std::string("/");  // hsbox's own state, or outside the space
                return *sp + (del ? deleted : "");
            }
        }
    }
    if (comps.size() == 2 && comps[0] == "dev")
        for (auto& [n, t] : kDevLinks)
            if (comps[1] == n) return std::string(t);
    auto fd = open(who, path, O_PATH | O_NOFOLLOW, 0);
    if (!fd) return fd.error();
    return read_link(fd->get(), "");
}

}  // namespace hsbox::supervisor
