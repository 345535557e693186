// The FUSE adapter: translates libfuse3 low-level requests into Union calls
// and Union results into replies. It holds no filesystem state of its own
// besides open-file and open-directory handles; the errno of a failed Union
// call is what the kernel (and the program in the space) gets.
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "hsbox/fusefs/fuse_server.hpp"
#include "hsbox/log.hpp"

namespace hsbox::fusefs {
namespace {

struct Ctx {
    Union* u;
    double timeout;
    bool writeback = false;  // kernel writeback cache negotiated (root view only)
};

struct FileHandle {
    Fd fd;
    bool writes = false;  // opened for writing: journaled on release
};

// The listing is taken on the first readdir, not at opendir: when the
// kernel's readdir cache is valid it opens the directory but reads nothing.
struct DirHandle {
    bool listed = false;
    std::vector<DirEntry> entries;
};

Ctx& ctx(fuse_req_t req) { return *static_cast<Ctx*>(fuse_req_userdata(req)); }
Union& un(fuse_req_t req) { return *ctx(req).u; }
FileHandle* fh(fuse_file_info* fi) { return reinterpret_cast<FileHandle*>(fi->fh); }

Caller caller(fuse_req_t req) {
    const fuse_ctx* c = fuse_req_ctx(req);
    return Caller{c->uid, c->gid, c->umask};
}

void reply_error(fuse_req_t req, const Error& e) {
    int code = e.code > 0 ? e.code : EIO;
    if (code != ENOENT && code != EROFS && code != ENODATA && code != EEXIST && code != ENOTEMPTY)
        LOG_DEBUG("fuse: %s", e.message().c_str());
    fuse_reply_err(req, code);
}

void reply_entry(fuse_req_t req, const Entry& e) {
    fuse_entry_param p{};
    p.ino = e.node;
    p.generation = 0;
    p.attr = e.attr;
    p.attr_timeout = ctx(req).timeout;
    p.entry_timeout = ctx(req).timeout;
    fuse_reply_entry(req, &p);
}

// ---------------------------------------------------------------- handlers

void op_init(void* userdata, fuse_conn_info* conn) {
    Ctx& c = *static_cast<Ctx*>(userdata);
    if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
    if (conn->capable & FUSE_CAP_SPLICE_MOVE) conn->want |= FUSE_CAP_SPLICE_MOVE;
    // Writeback cache only where this mount is the upper's only writer (the
    // root view): the kernel then owns O_APPEND offsets and mtimes, and close
    // (flush) writes dirty pages back, so other views see the data after it.
    // readdirplus fills the kernel's dentry cache during listings; "auto"
    // lets the kernel use plain readdir when it has the entries already.
    if (c.writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) conn->want |= FUSE_CAP_WRITEBACK_CACHE;
    else conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    c.writeback = conn->want & FUSE_CAP_WRITEBACK_CACHE;
    if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
    if (conn->capable & FUSE_CAP_READDIRPLUS_AUTO) conn->want |= FUSE_CAP_READDIRPLUS_AUTO;
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
    auto r = un(req).lookup(parent, name);
    if (!r) {
        if (r.code() == ENOENT) {
            // Negative entry, cached only as long as positive ones.
            fuse_entry_param p{};
            p.entry_timeout = ctx(req).timeout;
            fuse_reply_entry(req, &p);
            return;
        }
        return reply_error(req, r.error());
    }
    reply_entry(req, *r);
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n) {
    un(req).forget(ino, n);
    fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
    for (size_t i = 0; i < count; ++i) un(req).forget(forgets[i].ino, forgets[i].nlookup);
    fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    auto r = fi ? un(req).fgetattr(ino, fh(fi)->fd.get()) : un(req).getattr(ino);
    if (!r) return reply_error(req, r.error());
    fuse_reply_attr(req, &*r, ctx(req).timeout);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
    SetAttr a;
    if (to_set & FUSE_SET_ATTR_MODE) a.mode = attr->st_mode;
    if (to_set & FUSE_SET_ATTR_UID) a.uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID) a.gid = attr->st_gid;
    if (to_set & FUSE_SET_ATTR_ATIME) a.atime = attr->st_atim;
    if (to_set & FUSE_SET_ATTR_MTIME) a.mtime = attr->st_mtim;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) a.atime = timespec{0, UTIME_NOW};
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) a.mtime = timespec{0, UTIME_NOW};
    if (to_set & FUSE_SET_ATTR_SIZE) {
        if (fi && (fi->flags & O_ACCMODE) != O_RDONLY) {
            // ftruncate on an open file: works even if it was unlinked.
            if (::ftruncate(fh(fi)->fd.get(), attr->st_size) < 0) return (void)fuse_reply_err(req, errno);
        } else {
            a.size = attr->st_size;
        }
    }
    bool any = a.mode || a.uid || a.gid || a.atime || a.mtime || a.size;
    auto r = any ? un(req).setattr(ino, a)
                 : (fi ? un(req).fgetattr(ino, fh(fi)->fd.get()) : un(req).getattr(ino));
    if (!r) return reply_error(req, r.error());
    fuse_reply_attr(req, &*r, ctx(req).timeout);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino) {
    auto r = un(req).readlink(ino);
    if (!r) return reply_error(req, r.error());
    fuse_reply_readlink(req, r->c_str());
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
    auto r = un(req).mknod(parent, name, mode, rdev, caller(req));
    if (!r) return reply_error(req, r.error());
    reply_entry(req, *r);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
    auto r = un(req).mkdir(parent, name, mode, caller(req));
    if (!r) return reply_error(req, r.error());
    reply_entry(req, *r);
}

void op_symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
    auto r = un(req).symlink(parent, name, target, caller(req));
    if (!r) return reply_error(req, r.error());
    reply_entry(req, *r);
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
    auto r = un(req).link(ino, newparent, newname);
    if (!r) return reply_error(req, r.error());
    reply_entry(req, *r);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
    auto r = un(req).unlink(parent, name);
    fuse_reply_err(req, r ? 0 : r.code());
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
    auto r = un(req).rmdir(parent, name);
    fuse_reply_err(req, r ? 0 : r.code());
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
               unsigned int flags) {
    auto r = un(req).rename(parent, name, newparent, newname, flags);
    fuse_reply_err(req, r ? 0 : r.code());
}

// With the writeback cache the kernel may read to fill a partial page of a
// write-only file, and it computes O_APPEND offsets itself.
int backing_flags(fuse_req_t req, int flags, bool* widened) {
    *widened = false;
    if (!ctx(req).writeback) return flags;
    flags &= ~O_APPEND;
    if ((flags & O_ACCMODE) == O_WRONLY) {
        flags = (flags & ~O_ACCMODE) | O_RDWR;
        *widened = true;
    }
    return flags;
}

void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    bool widened;
    auto r = un(req).open_file(ino, backing_flags(req, fi->flags, &widened));
    if (!r && widened && r.code() == EACCES) r = un(req).open_file(ino, fi->flags & ~O_APPEND);
    if (!r) return reply_error(req, r.error());
    auto* h = new FileHandle{std::move(r->fd), (fi->flags & O_ACCMODE) != O_RDONLY};
    fi->fh = reinterpret_cast<uint64_t>(h);
    fi->keep_cache = r->keep_cache;
    if ((fi->flags & O_ACCMODE) == O_RDONLY) fi->noflush = 1;
    if (fuse_reply_open(req, fi) == -ENOENT) delete h;  // interrupted: the kernel never saw it
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
    bool widened;
    auto r = un(req).create(parent, name, mode, backing_flags(req, fi->flags, &widened), caller(req));
    if (!r) return reply_error(req, r.error());
    auto* h = new FileHandle{std::move(r->second.fd), true};
    fi->fh = reinterpret_cast<uint64_t>(h);
    fuse_entry_param p{};
    p.ino = r->first.node;
    p.attr = r->first.attr;
    p.attr_timeout = ctx(req).timeout;
    p.entry_timeout = ctx(req).timeout;
    if (fuse_reply_create(req, &p, fi) == -ENOENT) delete h;
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    (void)ino;
    // Hand the kernel the backing fd: libfuse splices the data when it can.
    fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    buf.buf[0].fd = fh(fi)->fd.get();
    buf.buf[0].pos = off;
    fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void op_write_buf(fuse_req_t req, fuse_ino_t ino, fuse_bufvec* in, off_t off, fuse_file_info* fi) {
    (void)ino;
    fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
    out.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    out.buf[0].fd = fh(fi)->fd.get();
    out.buf[0].pos = off;
    ssize_t n = fuse_buf_copy(&out, in, static_cast<fuse_buf_copy_flags>(0));
    if (n < 0) return (void)fuse_reply_err(req, static_cast<int>(-n));
    fuse_reply_write(req, static_cast<size_t>(n));
}

void op_flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    (void)ino;
    (void)fi;
    fuse_reply_err(req, 0);
}

void op_release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    if (fh(fi)->writes) un(req).note_written(ino);  // after the kernel flushed it
    delete fh(fi);
    fuse_reply_err(req, 0);
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
    (void)ino;
    int fd = fh(fi)->fd.get();
    int r = datasync ? ::fdatasync(fd) : ::fsync(fd);
    fuse_reply_err(req, r < 0 ? errno : 0);
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, fuse_file_info* fi) {
    (void)ino;
    int r = ::fallocate(fh(fi)->fd.get(), mode, off, len);
    fuse_reply_err(req, r < 0 ? errno : 0);
}

void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info* fi) {
    (void)ino;
    off_t r = ::lseek(fh(fi)->fd.get(), off, whence);
    if (r < 0) return (void)fuse_reply_err(req, errno);
    fuse_reply_lseek(req, r);
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    auto a = un(req).getattr(ino);
    if (!a) return reply_error(req, a.error());
    if (!S_ISDIR(a->st_mode)) return (void)fuse_reply_err(req, ENOTDIR);
    auto* h = new DirHandle;
    fi->fh = reinterpret_cast<uint64_t>(h);
    // The root view is the only writer of its upper and the kernel drops a
    // directory's cached listing whenever it changes one of its entries; the
    // read-only views drop it when the root view's journal names an entry.
    fi->cache_readdir = 1;
    fi->keep_cache = 1;
    if (fuse_reply_open(req, fi) == -ENOENT) delete h;
}

void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi, bool plus) {
    auto* h = reinterpret_cast<DirHandle*>(fi->fh);
    if (!h->listed) {
        auto r = un(req).readdir(ino);
        if (!r) return reply_error(req, r.error());
        h->entries = std::move(*r);
        h->listed = true;
    }
    std::vector<char> buf(size);
    size_t used = 0;
    for (size_t i = static_cast<size_t>(off); i < h->entries.size(); ++i) {
        const DirEntry& e = h->entries[i];
        size_t n;
        if (plus) {
            fuse_entry_param p{};
            bool dot = e.name == "." || e.name == "..";
            if (dot) {
                p.attr.st_ino = e.ino;
                p.attr.st_mode = static_cast<mode_t>(e.type) << 12;
            } else {
                auto l = un(req).lookup(ino, e.name);
                if (!l) continue;  // gone since the listing
                p.ino = l->node;
                p.attr = l->attr;
                p.attr_timeout = ctx(req).timeout;
                p.entry_timeout = ctx(req).timeout;
            }
            n = fuse_add_direntry_plus(req, buf.data() + used, size - used, e.name.c_str(), &p,
                                       static_cast<off_t>(i + 1));
            if (n > size - used) {
                if (!dot) un(req).forget(p.ino, 1);  // did not fit: the kernel never saw it
                break;
            }
        } else {
            struct stat st {};
            st.st_ino = e.ino;
            st.st_mode = static_cast<mode_t>(e.type) << 12;
            n = fuse_add_direntry(req, buf.data() + used, size - used, e.name.c_str(), &st,
                                  static_cast<off_t>(i + 1));
            if (n > size - used) break;
        }
        used += n;
    }
    fuse_reply_buf(req, buf.data(), used);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    do_readdir(req, ino, size, off, fi, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
    do_readdir(req, ino, size, off, fi, true);
}

void op_releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
    (void)ino;
    delete reinterpret_cast<DirHandle*>(fi->fh);
    fuse_reply_err(req, 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
    (void)datasync;
    (void)fi;
    auto r = un(req).sync_dir(ino);
    fuse_reply_err(req, r ? 0 : r.code());
}

void op_statfs(fuse_req_t req, fuse_ino_t ino) {
    (void)ino;
    auto r = un(req).statfs();
    if (!r) return reply_error(req, r.error());
    fuse_reply_statfs(req, &*r);
}

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size, int flags) {
    auto r = un(req).setxattr(ino, name, std::string(value, size), flags);
    fuse_reply_err(req, r ? 0 : r.code());
}

void reply_sized(fuse_req_t req, const std::string& v, size_t size) {
    if (size == 0) return (void)fuse_reply_xattr(req, v.size());
    if (v.size() > size) return (void)fuse_reply_err(req, ERANGE);
    fuse_reply_buf(req, v.data(), v.size());
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
    auto r = un(req).getxattr(ino, name);
    if (!r) return (void)fuse_reply_err(req, r.code());
    reply_sized(req, *r, size);
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
    auto r = un(req).listxattr(ino);
    if (!r) return (void)fuse_reply_err(req, r.code());
    reply_sized(req, *r, size);
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
    auto r = un(req).removexattr(ino, name);
    fuse_reply_err(req, r ? 0 : r.code());
}

// The one registration table.
fuse_lowlevel_ops make_ops() {
    fuse_lowlevel_ops ops{};
    ops.init = op_init;
    ops.lookup = op_lookup;
    ops.forget = op_forget;
    ops.forget_multi = op_forget_multi;
    ops.getattr = op_getattr;
    ops.setattr = op_setattr;
    ops.readlink = op_readlink;
    ops.mknod = op_mknod;
    ops.mkdir = op_mkdir;
    ops.symlink = op_symlink;
    ops.link = op_link;
    ops.unlink = op_unlink;
    ops.rmdir = op_rmdir;
    ops.rename = op_rename;
    ops.open = op_open;
    ops.create = op_create;
    ops.read = op_read;
    ops.write_buf = op_write_buf;
    ops.flush = op_flush;
    ops.release = op_release;
    ops.fsync = op_fsync;
    ops.fallocate = op_fallocate;
    ops.lseek = op_lseek;
    ops.opendir = op_opendir;
    ops.readdir = op_readdir;
    ops.readdirplus = op_readdirplus;
    ops.releasedir = op_releasedir;
    ops.fsyncdir = op_fsyncdir;
    ops.statfs = op_statfs;
    ops.setxattr = op_setxattr;
    ops.getxattr = op_getxattr;
    ops.listxattr = op_listxattr;
    ops.removexattr = op_removexattr;
    return ops;
}

// Sends cache invalidations from its own thread: never from inside a request
// handler, where waiting on the kernel could deadlock.
class Invalidator {
public:
    explicit Invalidator(fuse_session* se) : se_(se), t_([this] { run(); }) {}
    ~Invalidator() {
        {
            std::lock_guard lk(mu_);
            stop_ = true;
        }
        cv_.notify_one();
        t_.join();
    }
    void push(uint64_t node, bool data) {
        {
            std::lock_guard lk(mu_);
            q_.push_back({node, data, {}});
        }
        cv_.notify_one();
    }
    // Drops the kernel's dentry for `name` in directory `parent`.
    void push_entry(uint64_t parent, std::string name) {
        {
            std::lock_guard lk(mu_);
            q_.push_back({parent, false, std::move(name)});
        }
        cv_.notify_one();
    }

private:
    void run() {
        std::unique_lock lk(mu_);
        for (;;) {
            cv_.wait(lk, [&] { return stop_ || !q_.empty(); });
            if (q_.empty()) return;
            Item it = std::move(q_.front());
            q_.pop_front();
            lk.unlock();
            if (!it.name.empty())
                fuse_lowlevel_notify_inval_entry(se_, it.node, it.name.c_str(), it.name.size());
            else
                fuse_lowlevel_notify_inval_inode(se_, it.node, it.data ? 0 : -1, 0);
            lk.lock();
        }
    }
    fuse_session* se_;
    std::mutex mu_;
    std::condition_variable cv_;
    struct Item {
        uint64_t node;
        bool data;
        std::string name;  // set: an entry invalidation
    };
    std::deque<Item> q_;
    bool stop_ = false;
    std::thread t_;
};

void raise_fd_limit() {
    struct rlimit rl;
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
}

}  // namespace

Status check_dev_fuse() {
    int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return last_error("cannot open /dev/fuse (FUSE is not usable here; on a stock distribution it is mode 0666)");
    ::close(fd);
    return {};
}

Status serve(Union& u, const ServeOptions& o) {
    if (auto st = check_dev_fuse(); !st) return st;
    raise_fd_limit();
    Ctx c{&u, o.timeout, u.writable() && o.writeback};
    fuse_lowlevel_ops ops = make_ops();
    std::string opts = "default_permissions,fsname=hsbox,subtype=hsbox";
    if (!u.writable()) opts += ",ro";
    if (o.allow_other) opts += ",allow_other";
    const char* argv[] = {"hsbox", "-o", opts.c_str()};
    fuse_args args = FUSE_ARGS_INIT(3, const_cast<char**>(argv));
    fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, &c);
    if (!se) return Error{EINVAL, "fuse_session_new failed"};
    struct Cleanup {
        fuse_session* se;
        bool signals = false, mounted = false;
        ~Cleanup() {
            if (mounted) fuse_session_unmount(se);
            if (signals) fuse_remove_signal_handlers(se);
            fuse_session_destroy(se);
        }
    } cleanup{se};
    if (fuse_set_signal_handlers(se) != 0) return Error{EINVAL, "cannot install signal handlers"};
    cleanup.signals = true;
    if (fuse_session_mount(se, o.mountpoint.c_str()) != 0)
        return Error{EPERM, "cannot mount on " + o.mountpoint + " (see the message above)"};
    cleanup.mounted = true;
    if (!o.foreground) fuse_daemonize(0);
    if (o.on_mounted) o.on_mounted();
    Invalidator inval(se);
    u.set_invalidator([&inval](uint64_t node, bool data) { inval.push(node, data); });
    // A read-only view follows the root view's journal: what changed there
    // leaves this mount's kernel caches within a poll interval.
    std::atomic<bool> stop_follow{false};
    std::thread follower;
    if (!u.writable()) {
        follower = std::thread([&] {
            while (!stop_follow.load()) {
                u.follow_changes([&](uint64_t parent, const std::string& name, uint64_t node) {
                    if (!name.empty()) inval.push_entry(parent, name);
                    if (node) inval.push(node, true);
                    inval.push(parent, true);  // its attributes and cached listing
                });
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
        });
    }
    struct JoinFollower {
        std::atomic<bool>& stop;
        std::thread& t;
        ~JoinFollower() {
            stop = true;
            if (t.joinable()) t.join();
        }
    } join_follower{stop_follow, follower};
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, o.max_threads);
    fuse_loop_cfg_set_idle_threads(cfg, o.max_threads);
    int r = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
    u.set_invalidator(nullptr);
    if (r < 0) return Error{-r, "fuse session loop"};
    return {};
}

}  // namespace hsbox::fusefs
