// The one handler table: syscall number -> family handler. Which syscalls
// reach the supervisor at all is decided by the policy (policy.cpp); a
// notified syscall without a handler is answered ENOSYS.
#include "handlers.hpp"

#include <fcntl.h>
#include <linux/limits.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sys/socket.h>

#include <algorithm>
#include <array>

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
