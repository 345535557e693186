// The one handler table: syscall number -> family handler. Which syscalls
// reach the supervisor at all is decided by the policy (policy.cpp); a
// notified syscall without a handler is answered ENOSYS.
#include "handlers.hpp"

#include <fcntl.h>
#include <linux/limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "hsbox/syscall_table.hpp"
#include "target_memory.hpp"

namespace hsbox::supervisor {

Result<std::string> Call::path_arg(int i) const {
    auto s = read_string(n.pid, arg(i), PATH_MAX - 1);
    if (!s) return Error{s.code() == ENAMETOOLONG ? ENAMETOOLONG : EFAULT, "path argument"};
    return s;
}

Reply each_mmsg(Call& c, const std::function<Result<long>(uint64_t entry, unsigned index)>& one) {
    unsigned vlen = std::min<unsigned>(static_cast<unsigned>(c.arg(2)), 1024);
    unsigned done = 0;
    for (; done < vlen; ++done) {
        uint64_t entry = c.arg(1) + done * sizeof(mmsghdr);
        auto r = one(entry, done);
        if (!r) {
            if (done == 0) return Reply::err(r.code());
            break;
        }
        unsigned n = static_cast<unsigned>(*r);
        if (!write_memory(c.n.pid, entry + offsetof(mmsghdr, msg_len), &n, sizeof n)) break;
    }
    return Reply::ok(done);
}

Result<int> Call::socket_arg() const {
    if (!socket_dup && !socket_err) {
        auto fd = target_fd(iarg(0));
        if (fd) socket_dup = std::move(*fd);
        else socket_err = fd.code();
    }
    if (socket_err) return Error{socket_err, "socket argument"};
    return socket_dup.get();
}

Result<Fd> Call::target_fd(int fd) const {
    if (fd < 0) return Error{EBADF, "fd"};
    auto pidfd = space.tasks->pidfd(who.tgid);
    if (!pidfd) return Error{ESRCH, "pidfd"};
    int dup = static_cast<int>(::syscall(SYS_pidfd_getfd, *pidfd, fd, 0));
    if (dup < 0) return Error{errno == ESRCH ? ESRCH : EBADF, "pidfd_getfd"};
    return Fd(dup);
}

namespace {

constexpr int kWaitSlice = 100;  // ms between checks that the caller still waits

// The socket's timeout for this direction (SO_RCVTIMEO/SO_SNDTIMEO), or none.
std::optional<std::chrono::milliseconds> timeout_of(int fd, int opt) {
    timeval tv{};
    socklen_t len = sizeof tv;
    if (::getsockopt(fd, SOL_SOCKET, opt, &tv, &len) < 0 || (tv.tv_sec == 0 && tv.tv_usec == 0)) return std::nullopt;
    // Beyond a year is forever (and would overflow the deadline arithmetic).
    constexpr long long kYear = 365LL * 24 * 3600;
    if (tv.tv_sec < 0 || tv.tv_sec > kYear) return std::nullopt;
    return std::chrono::milliseconds(tv.tv_sec * 1000LL + tv.tv_usec / 1000);
}

// Does `tid` have a signal pending that it catches and does not block? The
// kernel would interrupt a blocking socket call for it; a notified call waits
// in the kernel where only fatal signals get through (WAIT_KILLABLE_RECV),
// so the handler has to notice and return EINTR itself (alarm-driven
// programs such as ping depend on it).
bool handled_signal_pending(pid_t tid) {
    auto st = read_file(AT_FDCWD, "/proc/" + std::to_string(tid) + "/status");
    if (!st) return false;
    auto mask = [&](const char* key) -> uint64_t {
        auto at = st->find(std::string("\n") + key + ":");
        if (at == std::string::npos) return 0;
        return std::strtoull(st->c_str() + at + std::strlen(key) + 2, nullptr, 16);
    };
    return ((mask("SigPnd") | mask("ShdPnd")) & ~mask("SigBlk") & mask("SigCgt")) != 0;
}

}  // namespace

bool nonblocking(int fd) {
    int fl = ::fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

Result<std::vector<char>> sockopt_value(const Call& c, size_t max) {
    uint64_t len = c.arg(4);
    if (len > max) return Error{EINVAL, "option length"};
    std::vector<char> v(len);
    if (len && !read_memory(c.n.pid, c.arg(3), v.data(), len)) return Error{EFAULT, "option value"};
    return v;
}

Result<socklen_t> sockopt_room(const Call& c) {
    socklen_t room;
    if (!read_memory(c.n.pid, c.arg(4), &room, sizeof room)) return Error{EFAULT, "option length"};
    if (static_cast<int>(room) < 0) return Error{EINVAL, "option length"};
    return room;
}

Status put_sockopt(const Call& c, const void* value, socklen_t len) {
    if (len && !write_memory(c.n.pid, c.arg(3), value, len)) return Error{EFAULT, "option value"};
    if (!write_memory(c.n.pid, c.arg(4), &len, sizeof len)) return Error{EFAULT, "option length"};
    return {};
}

int wait_socket(Call& c, int fd, short events, int timeout_opt) {
    auto limit = timeout_of(fd, timeout_opt);
    auto until = std::chrono::steady_clock::now() + limit.value_or(std::chrono::milliseconds(0));
    for (;;) {
        int slice = kWaitSlice;
        if (limit) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
            if (left.count() <= 0) return EAGAIN;
            slice = static_cast<int>(std::min<long long>(left.count(), kWaitSlice));
        }
        short r = c.space.fibers->wait_fd(fd, events, slice);
        if (!c.valid()) return EINTR;
        if (r) return 0;
        if (handled_signal_pending(c.who.tid)) return EINTR;
    }
}

Result<long> send_iov(Call& c, int sock, const std::vector<iovec>& iov, const sockaddr* name, socklen_t namelen,
                      const std::vector<char>& control, int flags) {
    constexpr size_t kChunk = 256 << 10;
    size_t total = 0;
    for (auto& v : iov) total += v.iov_len;
    int type = 0;
    socklen_t tl = sizeof type;
    if (::getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &tl) < 0) return last_error("send");
    bool stream = type == SOCK_STREAM;
    if (!stream) {
        // A datagram goes in one piece, and cannot be larger than the send buffer.
        int sndbuf = 0;
        socklen_t sl = sizeof sndbuf;
        if (::getsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl) == 0 && total > size_t(sndbuf))
            return Error{EMSGSIZE, "send"};
    }
    bool wait = !(flags & MSG_DONTWAIT) && !nonblocking(sock);
    size_t sent = 0;
    for (;;) {
        // Gather the next piece of the target's data, only now.
        auto data = gather_range(c.n.pid, iov, sent, stream ? std::min(kChunk, total - sent) : total);
        if (!data) return sent ? Result<long>(long(sent)) : Error{EFAULT, "send data"};
        iovec one{data->data(), data->size()};
        msghdr m{};
        m.msg_name = sent ? nullptr : const_cast<sockaddr*>(name);
        m.msg_namelen = sent ? 0 : namelen;
        m.msg_iov = &one;
        m.msg_iovlen = 1;
        if (!sent && !control.empty()) {
            m.msg_control = const_cast<char*>(control.data());
            m.msg_controllen = control.size();
        }
        ssize_t n = ::sendmsg(sock, &m, (flags & ~MSG_DONTWAIT) | MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
            sent += size_t(n);
            if (sent >= total || !stream) return long(sent);
            continue;
        }
        int err = errno;
        if (err == EAGAIN && wait) {
            if (int w = wait_socket(c, sock, POLLOUT, SO_SNDTIMEO)) {
                if (sent) return long(sent);
                return Error{w, "send"};
            }
            continue;
        }
        if (sent) return long(sent);
        if (err == EPIPE && !(flags & MSG_NOSIGNAL)) ::syscall(SYS_tgkill, c.tgid(), c.who.tid, SIGPIPE);
        return Error{err, "send"};
    }
}

namespace {

struct Table {
    std::array<Handler, 512> slot{};
    Table() {
        for (auto* s = syscall_table_begin(); s != syscall_table_end(); ++s) {
            if (s->nr < 0 || s->nr >= static_cast<int>(slot.size())) continue;
            switch (s->family) {
                case Family::Path: slot[s->nr] = handle_path; break;
                case Family::Signal:
                case Family::Pidfd:
                case Family::ProcessMem:
                case Family::Sched: slot[s->nr] = handle_process; break;
                case Family::SysvIpc:
                case Family::Mqueue: slot[s->nr] = handle_ipc; break;
                case Family::Socket: slot[s->nr] = handle_socket; break;
                default: break;
            }
        }
        // Process-family calls that the table files under Process.
        for (int nr : {SYS_getpgid, SYS_getsid, SYS_setpgid, SYS_prlimit64, SYS_get_robust_list, SYS_setuid,
                       SYS_setgid, SYS_setreuid, SYS_setregid, SYS_setresuid, SYS_setresgid, SYS_setfsuid,
                       SYS_setfsgid, SYS_setgroups})
            slot[nr] = handle_process;
    }
};

}  // namespace

Handler handler_for(int nr) {
    static const Table table;
    if (nr < 0 || nr >= static_cast<int>(table.slot.size())) return nullptr;
    return table.slot[nr];
}

}  // namespace hsbox::supervisor
