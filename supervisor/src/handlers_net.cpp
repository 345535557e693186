// Portspace sockets: socket() of an IP family gets an emulated socket
// (netstack::SocketEngine: lwIP behind a socketpair bridge), and the calls
// that act on one are answered here. Sends and receives without addresses
// never reach us: they go through the bridge natively.
//
// A call is emulated when its descriptor is the space end of one of the
// engine's bridges (by inode); everything else (unix sockets) goes on to
// handlers_socket.cpp, where an IP address on a non-emulated socket is refused.
//
// Waiting (blocking accept, connect, recvfrom) happens in the loop: the fiber
// waits on the space end's readiness (Fibers::wait_fd), in slices, checking
// that the caller still waits, and within the socket's SO_RCVTIMEO/SO_SNDTIMEO.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "handlers.hpp"
#include "hsbox/netstack/sockets.hpp"
#include "hsbox/netstack/stack.hpp"
#include "target_memory.hpp"

namespace hsbox::supervisor {

namespace {

constexpr size_t kMaxData = 4 << 20;     // largest send or receive the supervisor copies
constexpr size_t kMaxDatagram = 65536;

struct Emulated {
    Fd fd;      // our duplicate of the process's descriptor (the space end)
    ino_t ino;
    int type;
};

int wait_ready(Call& c, const Emulated& e, short events, int timeout_opt) {
    return wait_socket(c, e.fd.get(), events, timeout_opt);
}

// Copies an address out to a (sockaddr*, socklen_t*) pair of the target, as
// the kernel does: truncated to the buffer, the full length written back.
Status put_address(Call& c, uint64_t addr_ptr, uint64_t len_ptr, const netstack::SocketAddress& a) {
    if (!addr_ptr || !len_ptr) return {};
    socklen_t room;
    if (auto st = read_memory(c.n.pid, len_ptr, &room, sizeof room); !st) return st;
    if (static_cast<int>(room) < 0) return Error{EINVAL, "address length"};
    if (auto st = write_memory(c.n.pid, addr_ptr, &a.ss, std::min(room, a.len)); !st) return st;
    return write_memory(c.n.pid, len_ptr, &a.len, sizeof a.len);
}

// Reads a sockaddr argument (bounded by sockaddr_storage).
Result<netstack::SocketAddress> get_address(Call& c, uint64_t ptr, uint64_t len) {
    netstack::SocketAddress a;
    if (len > sizeof a.ss) return Error{EINVAL, "address too long"};
    if (len < sizeof(sa_family_t)) return Error{EINVAL, "address too short"};
    if (auto st = read_memory(c.n.pid, ptr, &a.ss, len); !st) return Error{EFAULT, "address"};
    a.len = static_cast<socklen_t>(len);
    return a;
}

// Is this destination behind a tunnel? ENETUNREACH otherwise (no tunnel at all, too).
Status check_destination(Call& c, const netstack::SocketAddress& a) {
    if (a.ss.ss_family != AF_INET && a.ss.ss_family != AF_INET6) return Error{EAFNOSUPPORT, "address family"};
    if (!c.space.stack) return Error{ENETUNREACH, "this portspace has no tunnel"};
    return c.space.stack->check_destination(reinterpret_cast<const sockaddr*>(&a.ss), a.len);
}

Reply do_socket(Call& c) {
    int domain = c.iarg(0);
    int type = c.iarg(1);
    int flags = type & (SOCK_NONBLOCK | SOCK_CLOEXEC);
    type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (domain == AF_UNIX) return Reply::cont();  // decided by register values alone
    if (domain != AF_INET && domain != AF_INET6) return Reply::err(EAFNOSUPPORT);  // netlink, packet, ...
    // TCP, UDP, and ICMP (ping and raw ICMP sockets, for everyone: they reach
    // only the tunnels); the engine refuses the rest.
    auto fd = c.space.net->open(domain, type, c.iarg(2));
    if (!fd) return Reply::err(fd.code());
    if ((flags & SOCK_NONBLOCK) && ::fcntl(fd->get(), F_SETFL, O_NONBLOCK) < 0) return Reply::err(errno);
    return Reply::inject(std::move(*fd), flags & SOCK_CLOEXEC);
}

Reply do_connect(Call& c, Emulated& e) {
    auto a = get_address(c, c.arg(1), c.arg(2));
    if (!a) return Reply::err(a.code());
    auto* sa = reinterpret_cast<const sockaddr*>(&a->ss);
    if (!(e.type != SOCK_STREAM && a->ss.ss_family == AF_UNSPEC))
        if (auto st = check_destination(c, *a); !st) return Reply::err(st.code());
    auto st = c.space.net->connect(e.ino, e.fd.get(), sa, a->len);
    if (st || st.code() != EINPROGRESS) return st ? Reply::ok(0) : Reply::err(st.code());
    if (nonblocking(e.fd.get())) return Reply::err(EINPROGRESS);
    // The space end polls writable once the handshake ended (the gate).
    for (;;) {
        auto r = c.space.net->connect_result(e.ino);
        if (r) return Reply::ok(0);
        if (r.code() != EINPROGRESS) return Reply::err(r.code());
        int w = wait_ready(c, e, POLLOUT, SO_SNDTIMEO);
        if (w == EAGAIN) return Reply::err(EINPROGRESS);  // Linux: timed out connect keeps connecting
        if (w) return Reply::err(w);
    }
}

Reply do_accept(Call& c, Emulated& e) {
    int flags = c.nr() == SYS_accept4 ? c.iarg(3) : 0;
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) return Reply::err(EINVAL);
    for (;;) {
        auto a = c.space.net->accept(e.ino, e.fd.get());
        if (a) {
            if ((flags & SOCK_NONBLOCK) && ::fcntl(a->space_end.get(), F_SETFL, O_NONBLOCK) < 0)
                return Reply::err(errno);
            if (auto st = put_address(c, c.arg(1), c.arg(2), a->peer); !st) return Reply::err(EFAULT);
            return Reply::inject(std::move(a->space_end), flags & SOCK_CLOEXEC);
        }
        if (a.code() != EAGAIN || nonblocking(e.fd.get())) return Reply::err(a.code());
        if (int w = wait_ready(c, e, POLLIN, SO_RCVTIMEO)) return Reply::err(w);
    }
}

Reply do_name(Call& c, Emulated& e, bool peer) {
    auto a = peer ? c.space.net->peername(e.ino) : c.space.net->sockname(e.ino);
    if (!a) return Reply::err(a.code());
    if (!c.arg(1) || !c.arg(2)) return Reply::err(EFAULT);
    if (auto st = put_address(c, c.arg(1), c.arg(2), *a); !st) return Reply::err(st.code() == EINVAL ? EINVAL : EFAULT);
    return Reply::ok(0);
}

Reply do_setsockopt(Call& c, Emulated& e) {
    auto v = sockopt_value(c, 256);
    if (!v) return Reply::err(v.code());
    auto st = c.space.net->setsockopt(e.ino, e.fd.get(), c.iarg(1), c.iarg(2), v->data(), static_cast<socklen_t>(v->size()));
    return st ? Reply::ok(0) : Reply::err(st.code());
}

Reply do_getsockopt(Call& c, Emulated& e) {
    auto room = sockopt_room(c);
    if (!room) return Reply::err(room.code());
    auto v = c.space.net->getsockopt(e.ino, e.fd.get(), c.iarg(1), c.iarg(2), std::min<socklen_t>(*room, 1024));
    if (!v) return Reply::err(v.code());
    auto st = put_sockopt(c, v->data(), static_cast<socklen_t>(v->size()));
    return st ? Reply::ok(0) : Reply::err(st.code());
}

// One send of what the target's iovecs hold, with or without a destination.
// UDP/ICMP with an address goes to lwIP directly (a datagram: at most 64 KiB
// copied); everything else into the bridge, as the process's own send would
// have, in chunks gathered as the bridge drains (send_iov).
Result<long> send_data(Call& c, Emulated& e, const std::vector<iovec>& iov, const netstack::SocketAddress* to,
                       int flags) {
    // Any address is judged first: nothing but a tunnel peer is reachable.
    if (to)
        if (auto st = check_destination(c, *to); !st) return st.error();
    if (to && e.type == SOCK_STREAM && !c.space.net->peername(e.ino)) {
        // Linux: EPIPE (and SIGPIPE) for data on a stream socket not connected.
        if (!(flags & MSG_NOSIGNAL)) ::syscall(SYS_tgkill, c.tgid(), c.who.tid, SIGPIPE);
        return Error{EPIPE, "send on an unconnected stream socket"};
    }
    if (!to && e.type != SOCK_STREAM && !c.space.net->peername(e.ino))
        return Error{EDESTADDRREQ, "datagram without a destination"};
    if (to && e.type != SOCK_STREAM) {
        size_t total = 0;
        for (auto& v : iov) total += v.iov_len;
        if (total > kMaxDatagram) return Error{EMSGSIZE, "datagram too large"};
        auto data = gather(c.n.pid, iov);
        if (!data) return data.error();
        auto n = c.space.net->sendto(e.ino, data->data(), data->size(), reinterpret_cast<const sockaddr*>(&to->ss),
                                     to->len);
        if (!n) return n.error();
        return static_cast<long>(*n);
    }
    // TCP ignores a destination, as Linux does on a connected socket.
    return send_iov(c, e.fd.get(), iov, nullptr, 0, {}, flags);
}

Reply do_sendto(Call& c, Emulated& e) {
    uint64_t len = c.arg(2);
    if (len > kMaxData) return Reply::err(EMSGSIZE);
    std::optional<netstack::SocketAddress> to;
    if (c.arg(4)) {
        auto a = get_address(c, c.arg(4), c.arg(5));
        if (!a) return Reply::err(a.code());
        to = *a;
    }
    std::vector<iovec> iov{{reinterpret_cast<void*>(c.arg(1)), len}};
    auto r = send_data(c, e, iov, to ? &*to : nullptr, c.iarg(3));
    return r ? Reply::ok(*r) : Reply::err(r.code());
}

// sendmsg for one msghdr at `msg_ptr`. Control messages (IP_PKTINFO, ...)
// are ignored: they have no meaning on the tunnel.
Result<long> send_msg(Call& c, Emulated& e, uint64_t msg_ptr, int flags) {
    msghdr m{};
    if (!read_memory(c.n.pid, msg_ptr, &m, sizeof m)) return Error{EFAULT, "msghdr"};
    std::optional<netstack::SocketAddress> to;
    if (m.msg_name && m.msg_namelen) {
        auto a = get_address(c, reinterpret_cast<uint64_t>(m.msg_name), m.msg_namelen);
        if (!a) return a.error();
        to = *a;
    }
    auto iov = read_iovecs(c.n.pid, reinterpret_cast<uint64_t>(m.msg_iov), m.msg_iovlen, kMaxData);
    if (!iov) return iov.error();
    return send_data(c, e, *iov, to ? &*to : nullptr, flags);
}

Reply do_sendmsg(Call& c, Emulated& e) {
    auto r = send_msg(c, e, c.arg(1), c.iarg(2));
    return r ? Reply::ok(*r) : Reply::err(r.code());
}

Reply do_sendmmsg(Call& c, Emulated& e) {
    return each_mmsg(c, [&](uint64_t entry, unsigned) { return send_msg(c, e, entry, c.iarg(3)); });
}

// What one receive produced, before it is copied to the target.
struct Received {
    std::vector<uint8_t> data;  // what was read (a whole datagram for UDP)
    size_t full = 0;            // the datagram's length (UDP) or bytes read (TCP)
    netstack::SocketAddress from;
};

// Receives into our buffer from the space end (at most `room` bytes for TCP,
// the whole datagram for UDP), waiting if the socket blocks.
Result<Received> receive(Call& c, Emulated& e, size_t room, int flags) {
    Received r;
    bool datagram = e.type != SOCK_STREAM;
    int native = (flags & (MSG_PEEK | MSG_WAITALL)) | MSG_DONTWAIT;
    if (datagram) native &= ~MSG_WAITALL;
    for (;;) {
        // Wait before allocating, and allocate what is there: a thread
        // blocked on a quiet socket pins no memory in the supervisor.
        pollfd p{e.fd.get(), POLLIN, 0};
        if (::poll(&p, 1, 0) == 0) {
            if (nonblocking(e.fd.get()) || (flags & MSG_DONTWAIT)) return Error{EAGAIN, "recv"};
            if (int w = wait_ready(c, e, POLLIN, SO_RCVTIMEO)) return Error{w, "recv"};
        }
        int queued = 0;
        if (::ioctl(e.fd.get(), FIONREAD, &queued) < 0 || queued < 0) queued = 0;
        // A datagram is never longer than what is queued (a whole record).
        size_t want = datagram ? std::min<size_t>(size_t(queued), kMaxDatagram)
                               : std::min({room, kMaxData, std::max<size_t>(size_t(queued), 1)});
        r.data.resize(want);
        ssize_t n = ::recv(e.fd.get(), r.data.data(), r.data.size(), native);
        if (n >= 0) {
            r.data.resize(static_cast<size_t>(n));
            r.full = static_cast<size_t>(n);
            break;
        }
        if (errno != EAGAIN || nonblocking(e.fd.get()) || (flags & MSG_DONTWAIT)) return Error{errno, "recv"};
    }
    if (datagram) {
        auto src = c.space.net->source_of(e.ino, r.data.data(), r.data.size(), flags & MSG_PEEK);
        if (src.known) r.from = src.from;
    }
    return r;
}

// recvmsg for one msghdr at `msg_ptr`; writes back the name, flags and data.
Result<long> recv_msg(Call& c, Emulated& e, uint64_t msg_ptr, int flags) {
    msghdr m{};
    if (!read_memory(c.n.pid, msg_ptr, &m, sizeof m)) return Error{EFAULT, "msghdr"};
    auto iov = read_iovecs(c.n.pid, reinterpret_cast<uint64_t>(m.msg_iov), m.msg_iovlen, SIZE_MAX / 2);
    if (!iov) return iov.error();
    size_t room = 0;
    for (auto& v : *iov) room += v.iov_len;
    auto r = receive(c, e, room, flags);
    if (!r) return r.error();
    size_t copied = std::min(room, r->data.size());
    if (auto st = scatter(c.n.pid, *iov, r->data.data(), copied); !st) return Error{EFAULT, "recvmsg data"};
    int out_flags = copied < r->full ? MSG_TRUNC : 0;
    socklen_t namelen = 0;
    if (m.msg_name && r->from.len) {
        namelen = r->from.len;
        if (auto st = write_memory(c.n.pid, reinterpret_cast<uint64_t>(m.msg_name), &r->from.ss,
                                   std::min(m.msg_namelen, r->from.len));
            !st)
            return Error{EFAULT, "recvmsg name"};
    }
    size_t zero = 0;
    if (!write_memory(c.n.pid, msg_ptr + offsetof(msghdr, msg_namelen), &namelen, sizeof namelen) ||
        !write_memory(c.n.pid, msg_ptr + offsetof(msghdr, msg_controllen), &zero, sizeof zero) ||
        !write_memory(c.n.pid, msg_ptr + offsetof(msghdr, msg_flags), &out_flags, sizeof out_flags))
        return Error{EFAULT, "msghdr"};
    return static_cast<long>((flags & MSG_TRUNC) && e.type != SOCK_STREAM ? r->full : copied);
}

Reply do_recvfrom(Call& c, Emulated& e) {
    int flags = c.iarg(3);
    size_t room = c.arg(2);
    auto r = receive(c, e, room, flags);
    if (!r) return Reply::err(r.code());
    size_t copied = std::min(room, r->data.size());
    if (copied && !write_memory(c.n.pid, c.arg(1), r->data.data(), copied)) return Reply::err(EFAULT);
    if (c.arg(5)) {
        if (r->from.len) {
            if (!put_address(c, c.arg(4), c.arg(5), r->from)) return Reply::err(EFAULT);
        } else {
            socklen_t zero = 0;  // TCP, or a source no longer known
            if (!write_memory(c.n.pid, c.arg(5), &zero, sizeof zero)) return Reply::err(EFAULT);
        }
    }
    return Reply::ok(static_cast<int64_t>((flags & MSG_TRUNC) && e.type != SOCK_STREAM ? r->full : copied));
}

Reply do_recvmsg(Call& c, Emulated& e) {
    auto r = recv_msg(c, e, c.arg(1), c.iarg(2));
    return r ? Reply::ok(*r) : Reply::err(r.code());
}

Reply do_recvmmsg(Call& c, Emulated& e) {
    int flags = c.iarg(3);
    if (c.arg(4)) return Reply::err(EOPNOTSUPP);  // a timeout: not emulated
    // The first may wait; the rest take what is already there.
    return each_mmsg(c, [&](uint64_t entry, unsigned i) {
        return recv_msg(c, e, entry, i ? (flags | MSG_DONTWAIT) : (flags & ~MSG_WAITFORONE));
    });
}

}  // namespace

std::optional<Reply> handle_portspace_socket(Call& c) {
    if (c.nr() == SYS_socket) return do_socket(c);
    auto fd = c.socket_arg();  // fetched once: the generic path then uses the same object
    if (!fd) return std::nullopt;  // the generic path reports EBADF
    struct stat st;
    if (::fstat(*fd, &st) < 0 || !S_ISSOCK(st.st_mode)) return std::nullopt;
    int type = c.space.net->type_of(st.st_ino);
    if (!type) return std::nullopt;
    int dup = ::fcntl(*fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0) return Reply::err(EMFILE);
    Emulated e{Fd(dup), st.st_ino, type};
    switch (c.nr()) {
        case SYS_bind: {
            auto a = get_address(c, c.arg(1), c.arg(2));
            if (!a) return Reply::err(a.code());
            auto r = c.space.net->bind(e.ino, reinterpret_cast<const sockaddr*>(&a->ss), a->len);
            return r ? Reply::ok(0) : Reply::err(r.code());
        }
        case SYS_connect: return do_connect(c, e);
        case SYS_listen: {
            auto r = c.space.net->listen(e.ino, c.iarg(1));
            return r ? Reply::ok(0) : Reply::err(r.code());
        }
        case SYS_accept:
        case SYS_accept4: return do_accept(c, e);
        case SYS_getsockname: return do_name(c, e, false);
        case SYS_getpeername: return do_name(c, e, true);
        case SYS_shutdown: {
            auto r = c.space.net->shutdown(e.ino, e.fd.get(), c.iarg(1));
            return r ? Reply::ok(0) : Reply::err(r.code());
        }
        case SYS_setsockopt: return do_setsockopt(c, e);
        case SYS_getsockopt: return do_getsockopt(c, e);
        case SYS_sendto: return do_sendto(c, e);
        case SYS_sendmsg: return do_sendmsg(c, e);
        case SYS_sendmmsg: return do_sendmmsg(c, e);
        case SYS_recvfrom: return do_recvfrom(c, e);
        case SYS_recvmsg: return do_recvmsg(c, e);
        case SYS_recvmmsg: return do_recvmmsg(c, e);
    }
    return Reply::err(ENOSYS);
}

}  // namespace hsbox::supervisor
