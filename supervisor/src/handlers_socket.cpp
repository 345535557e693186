// Socket family: every call that carries an address is performed by the
// supervisor on a duplicate of the target's socket (pidfd_getfd: same open
// file description), with the address copied once. Unix sockets follow the
// space's rules: a pathname socket is reachable only if it was bound inside
// the space or shared explicitly; abstract names are renamed under a per-space
// prefix, so neither side sees the other's. Other families (the server space's
// host network, direct mode) pass through unchanged.
#include <fcntl.h>
#include <linux/limits.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "handlers.hpp"
#include "target_memory.hpp"

namespace hsbox::supervisor {

namespace {

constexpr size_t kMaxData = 4 << 20;  // largest send the supervisor copies
constexpr size_t kMaxControl = 64 << 10;

// An address as the supervisor will use it. `keep` holds descriptors the
// rewritten address refers to (/proc/self/fd/N paths).
struct Address {
    sockaddr_storage ss{};
    socklen_t len = 0;
    std::vector<Fd> keep;
};

enum class Use { Bind, Connect };

// Reads and translates an address from the target. Returns the errno the
// call should fail with on refusal.
Result<Address> take_address(Call& c, uint64_t ptr, uint64_t len, Use use) {
    Address a;
    if (len > sizeof a.ss) return Error{EINVAL, "sockaddr too long"};
    if (len < sizeof(sa_family_t)) return Error{EINVAL, "sockaddr too short"};
    if (!read_memory(c.n.pid, ptr, &a.ss, len)) return Error{EFAULT, "sockaddr"};
    a.len = static_cast<socklen_t>(len);
    if (c.space.net && (a.ss.ss_family == AF_INET || a.ss.ss_family == AF_INET6)) {
        // A portspace's IP sockets are all emulated: an IP address on any
        // other socket (one passed in from outside) goes nowhere (invariant 5).
        return Error{use == Use::Bind ? EADDRNOTAVAIL : ENETUNREACH, "no host network in a portspace"};
    }
    if (a.ss.ss_family != AF_UNIX) return a;

    auto* un = reinterpret_cast<sockaddr_un*>(&a.ss);
    size_t plen = len - offsetof(sockaddr_un, sun_path);
    if (plen == 0) {
        if (use == Use::Connect) return Error{EINVAL, "unnamed unix address"};
        return a;  // autobind
    }
    if (un->sun_path[0] == '\0') {
        // Abstract: rename into the space.
        std::string name(un->sun_path + 1, plen - 1);
        std::string renamed = c.space.ipc.abstract_prefix + name;
        if (renamed.size() + 1 > sizeof un->sun_path) return Error{ENAMETOOLONG, "abstract name"};
        std::memset(un->sun_path, 0, sizeof un->sun_path);
        std::memcpy(un->sun_path + 1, renamed.data(), renamed.size());
        a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + renamed.size());
        return a;
    }
    std::string path(un->sun_path, strnlen(un->sun_path, plen));
    auto sp = c.space.view->absolute(c.who, AT_FDCWD, path);
    if (!sp) return sp.error();
    std::string host;
    if (use == Use::Bind) {
        auto par = c.space.view->parent(c.who, *sp);
        if (!par) return par.error();
        if (par->name.empty()) return Error{EADDRINUSE, path};
        host = "/proc/self/fd/" + std::to_string(par->dir.get()) + "/" + par->name;
        a.keep.push_back(std::move(par->dir));
    } else {
        auto fd = c.space.view->open(c.who, *sp, O_PATH, 0);
        if (!fd) return fd.error();
        struct stat st;
        if (::fstat(fd->get(), &st) < 0 || !S_ISSOCK(st.st_mode)) return Error{ECONNREFUSED, path};
        if (!c.space.ipc.unix_sockets.count({st.st_dev, st.st_ino})) return Error{ECONNREFUSED, path};
        host = "/proc/self/fd/" + std::to_string(fd->get());
        a.keep.push_back(std::move(*fd));
    }
    if (host.size() + 1 > sizeof un->sun_path) return Error{ENAMETOOLONG, path};
    std::memset(un->sun_path, 0, sizeof un->sun_path);
    std::memcpy(un->sun_path, host.data(), host.size());
    a.len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + host.size() + 1);
    return a;
}

// Records the socket file a pathname bind created, so the space may connect.
void remember_bound(Call& c, const Address& a) {
    if (a.ss.ss_family != AF_UNIX || a.keep.empty()) return;
    auto* un = reinterpret_cast<const sockaddr_un*>(&a.ss);
    struct stat st;
    if (::stat(un->sun_path, &st) == 0 && S_ISSOCK(st.st_mode)) c.space.ipc.unix_sockets.insert({st.st_dev, st.st_ino});
}

Reply do_bind_connect(Call& c, Use use) {
    auto sock = c.socket_arg();
    if (!sock) return Reply::err(sock.code());
    auto addr = take_address(c, c.arg(1), c.arg(2), use);
    if (!addr) return Reply::err(addr.code());
    if (!c.valid()) return Reply::err(EINTR);
    if (use == Use::Bind) {
        if (::bind(*sock, reinterpret_cast<sockaddr*>(&addr->ss), addr->len) < 0) return Reply::err(errno);
        remember_bound(c, *addr);
        return Reply::ok(0);
    }
    int s = *sock;
    auto run = [&]() -> long {
        return ::connect(s, reinterpret_cast<sockaddr*>(&addr->ss), addr->len) < 0 ? -errno : 0;
    };
    long r = !nonblocking(s) ? c.space.fibers->run_blocking(run) : run();
    return r < 0 ? Reply::err(static_cast<int>(-r)) : Reply::ok(0);
}

// Control messages: SCM_RIGHTS descriptors are the target's; translate them.
Result<std::vector<char>> take_control(Call& c, uint64_t ptr, uint64_t len, std::vector<Fd>& keep) {
    std::vector<char> ctl;
    if (!ptr || !len) return ctl;
    if (len > kMaxControl) return Error{ENOBUFS, "control"};
    ctl.resize(len);
    if (!read_memory(c.n.pid, ptr, ctl.data(), len)) return Error{EFAULT, "control"};
    msghdr m{};
    m.msg_control = ctl.data();
    m.msg_controllen = len;
    for (cmsghdr* cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
        if (cm->cmsg_len > len) return Error{EINVAL, "control"};
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int* fds = reinterpret_cast<int*>(CMSG_DATA(cm));
        for (size_t i = 0; i < n; ++i) {
            auto fd = c.target_fd(fds[i]);
            if (!fd) return Error{EBADF, "SCM_RIGHTS"};
            fds[i] = fd->get();
            keep.push_back(std::move(*fd));
        }
    }
    return ctl;
}

// One sendmsg, described by a msghdr in the target's memory.
Result<long> send_one(Call& c, int sock, uint64_t msg_ptr, int flags) {
    msghdr m{};
    if (!read_memory(c.n.pid, msg_ptr, &m, sizeof m)) return Error{EFAULT, "msghdr"};
    std::vector<Fd> keep;
    Address addr;
    if (m.msg_name && m.msg_namelen) {
        auto a = take_address(c, reinterpret_cast<uint64_t>(m.msg_name), m.msg_namelen, Use::Connect);
        if (!a) return a.error();
        addr = std::move(*a);
    }
    auto iov = read_iovecs(c.n.pid, reinterpret_cast<uint64_t>(m.msg_iov), m.msg_iovlen, kMaxData);
    if (!iov) return iov.code() == EMSGSIZE ? Error{EMSGSIZE, "send too large for the supervisor to copy"} : iov.error();
    auto ctl = take_control(c, reinterpret_cast<uint64_t>(m.msg_control), m.msg_controllen, keep);
    if (!ctl) return ctl.error();
    return send_iov(c, sock, *iov, addr.len ? reinterpret_cast<sockaddr*>(&addr.ss) : nullptr, addr.len, *ctl, flags);
}

Reply do_sendto(Call& c) {
    auto sock = c.socket_arg();
    if (!sock) return Reply::err(sock.code());
    auto addr = take_address(c, c.arg(4), c.arg(5), Use::Connect);
    if (!addr) return Reply::err(addr.code());
    uint64_t len = c.arg(2);
    if (len > kMaxData) return Reply::err(EMSGSIZE);
    std::vector<iovec> iov{{reinterpret_cast<void*>(c.arg(1)), len}};
    auto r = send_iov(c, *sock, iov, reinterpret_cast<sockaddr*>(&addr->ss), addr->len, {}, c.iarg(3));
    return r ? Reply::ok(*r) : Reply::err(r.code());
}

Reply do_sendmsg(Call& c) {
    auto sock = c.socket_arg();
    if (!sock) return Reply::err(sock.code());
    auto r = send_one(c, *sock, c.arg(1), c.iarg(2));
    return r ? Reply::ok(*r) : Reply::err(r.code());
}

Reply do_sendmmsg(Call& c) {
    auto sock = c.socket_arg();
    if (!sock) return Reply::err(sock.code());
    int flags = c.iarg(3);
    return each_mmsg(c, [&](uint64_t entry, unsigned) { return send_one(c, *sock, entry, flags); });
}

// get/setsockopt on a socket that is not emulated (in a portspace, where
// they are notified): performed here on the descriptor that was checked, not
// continued. Continuing would let another thread swap the number for a
// bridge end first, and natively a bridge names its maker: SO_PEERCRED would
// show the supervisor and SO_PEERPIDFD hand out a pidfd of it; SO_PASSCRED or
// SO_PASSPIDFD set on a bridge would do the same through SCM messages.
Reply do_sockopt(Call& c) {
    constexpr int kSoPeerPidfd = 77;  // SO_PEERPIDFD (Linux 6.5): an fd we would have to inject
    constexpr size_t kMaxOpt = 64 << 10;
    auto sock = c.socket_arg();
    if (!sock) return Reply::err(sock.code());
    int level = c.iarg(1), name = c.iarg(2);
    if (level == SOL_SOCKET && name == kSoPeerPidfd) return Reply::err(ENOPROTOOPT);
    if (c.nr() == SYS_setsockopt) {
        auto v = sockopt_value(c, kMaxOpt);
        if (!v) return Reply::err(v.code());
        if (::setsockopt(*sock, level, name, v->empty() ? nullptr : v->data(), static_cast<socklen_t>(v->size())) < 0)
            return Reply::err(errno);
        return Reply::ok(0);
    }
    auto room = sockopt_room(c);
    if (!room) return Reply::err(room.code());
    std::vector<char> v(std::min<size_t>(*room, kMaxOpt));
    socklen_t len = static_cast<socklen_t>(v.size());
    if (::getsockopt(*sock, level, name, v.data(), &len) < 0) return Reply::err(errno);
    auto st = put_sockopt(c, v.data(), std::min<socklen_t>(len, static_cast<socklen_t>(v.size())));
    return st ? Reply::ok(0) : Reply::err(st.code());
}

}  // namespace

Reply handle_socket(Call& c) {
    if (c.space.net) {
        if (auto r = handle_portspace_socket(c)) return std::move(*r);
    }
    switch (c.nr()) {
        case SYS_bind: return do_bind_connect(c, Use::Bind);
        case SYS_connect: return do_bind_connect(c, Use::Connect);
        case SYS_sendto: return do_sendto(c);
        case SYS_sendmsg: return do_sendmsg(c);
        case SYS_sendmmsg: return do_sendmmsg(c);
        case SYS_setsockopt:
        case SYS_getsockopt: return do_sockopt(c);
        // Notified in a portspace for its emulated sockets; on any other
        // socket the kernel answers. Safe to continue: these act only on a
        // socket the process holds, and a descriptor swapped meanwhile for a
        // bridge end shows the process nothing but an unnamed unix socket and
        // its own data (no credentials: the options that would add them
        // never reach a bridge, see do_sockopt).
        case SYS_listen:
        case SYS_accept:
        case SYS_accept4:
        case SYS_getsockname:
        case SYS_getpeername:
        case SYS_shutdown:
        case SYS_recvfrom:
        case SYS_recvmsg:
        case SYS_recvmmsg: return Reply::cont();
    }
    return Reply::err(ENOSYS);
}

}  // namespace hsbox::supervisor
