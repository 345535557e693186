// Handlers: one small function per syscall family, registered in one table
// (handlers.cpp). A handler reads its arguments once from the notification
// and the target's memory, does the work itself, and returns a Reply. The
// errno reaches the confined process only here, at the edge.
#pragma once

#include <linux/seccomp.h>
#include <sys/types.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "creds.hpp"
#include "fibers.hpp"
#include "hsbox/fd.hpp"
#include "notify.hpp"
#include "tasks.hpp"
#include "view.hpp"

namespace hsbox::netstack {
class SocketEngine;
class Stack;
}  // namespace hsbox::netstack

namespace hsbox::supervisor {

struct Reply {
    enum Kind { Value, Errno, Continue, InjectFd } kind = Errno;
    int64_t value = 0;
    int error = ENOSYS;
    Fd fd;
    bool cloexec = false;

    static Reply ok(int64_t v) { return Reply{Value, v, 0, Fd(), false}; }
    static Reply err(int e) { return Reply{Errno, 0, e, Fd(), false}; }
    static Reply cont() { return Reply{Continue, 0, 0, Fd(), false}; }
    static Reply inject(Fd fd, bool cloexec) { return Reply{InjectFd, 0, 0, std::move(fd), cloexec}; }
};

// IPC objects created by the space, private to it (DESIGN invariant 2).
struct IpcState {
    std::map<int64_t, int> sysv_keys[3];  // per kind (shm, sem, msg): key -> id
    std::set<int> sysv_ids[3];            // ids the space created
    std::set<std::string> mq_names;       // host names of the space's queues
    std::set<std::pair<dev_t, ino_t>> unix_sockets;  // socket files bound in the space or shared
    std::string abstract_prefix;          // abstract unix names are renamed under it
};

// Symlinks handed out for O_PATH|O_NOFOLLOW opens. An O_PATH descriptor
// cannot be injected, so the space gets a placeholder memfd, and calls that
// act on a descriptor through an empty path (fstatat, readlinkat, fchownat,
// linkat with AT_EMPTY_PATH) are pointed back at the symlink. glibc's
// fchmodat(AT_SYMLINK_NOFOLLOW), used by tar and cp -a, works this way.
class SymlinkPlaceholders {
public:
    // Returns the placeholder to inject for `symlink` (an O_PATH fd).
    Result<Fd> make(Fd symlink);
    // The symlink a descriptor stands for, if it is one of ours.
    Result<Fd> lookup(const struct stat& st) const;

private:
    struct Entry {
        ino_t ino;
        Fd symlink;
    };
    std::deque<Entry> entries_;  // bounded: the oldest are forgotten
    dev_t memfd_dev_ = 0;
};

// Everything one supervisor owns for its space.
struct Space {
    std::string name;
    SpaceView* view = nullptr;
    Notifier* notifier = nullptr;
    Fibers* fibers = nullptr;
    Tasks* tasks = nullptr;
    CredSwitch* creds = nullptr;
    IpcState ipc;
    SymlinkPlaceholders symlinks;
    // A portspace's network: its emulated sockets, and the tunnels (null when
    // it has none: every destination is unreachable). Both null in a server space.
    netstack::SocketEngine* net = nullptr;
    const netstack::Stack* stack = nullptr;
};

// One notification being handled.
struct Call {
    const seccomp_notif& n;
    Space& space;
    Who who;

    int nr() const { return n.data.nr; }
    uint64_t arg(int i) const { return n.data.args[i]; }
    int iarg(int i) const { return static_cast<int>(n.data.args[i]); }
    pid_t tgid() const { return who.tgid; }

    // Reads a path argument (bounded by PATH_MAX).
    Result<std::string> path_arg(int i) const;
    // A duplicate of one of the target's descriptors (pidfd_getfd).
    Result<Fd> target_fd(int fd) const;
    // The socket argument (arg 0) of a socket call, fetched once per call:
    // every check and the operation itself then see the same object, even if
    // another thread moves a different file to that number meanwhile.
    Result<int> socket_arg() const;
    // Is the notification still live, so that what was read from the
    // target's memory was the target's and a write-back reaches it? Until a
    // handler yields, the target cannot have gone: it is traced by us and
    // its exit is only collected on this thread, so its pid stays pinned.
    // After a yield, ask the kernel (SECCOMP_IOCTL_NOTIF_ID_VALID).
    bool valid() const { return space.fibers->yields() == yields_at_start || space.notifier->id_valid(n.id); }
    uint64_t yields_at_start = 0;
    mutable Fd socket_dup;  // socket_arg()'s, for the life of the call
    mutable int socket_err = 0;
};

using Handler = Reply (*)(Call&);

// The handler for `nr`, or nullptr (the loop then answers ENOSYS).
Handler handler_for(int nr);

// sendmmsg/recvmmsg: runs `one` on each mmsghdr entry of the vector at
// arg(1) (at most arg(2), capped at 1024), writes each result to the entry's
// msg_len, and stops at the first failure. Returns the count done, or the
// first entry's error when none was.
Reply each_mmsg(Call& c, const std::function<Result<long>(uint64_t entry, unsigned index)>& one);

// Is the target's descriptor (our duplicate: the same open file) non-blocking?
bool nonblocking(int fd);

// setsockopt's value (arg 3, its length arg 4; EINVAL beyond `max` bytes).
Result<std::vector<char>> sockopt_value(const Call& c, size_t max);
// The room getsockopt offers (*arg 4); EINVAL if negative.
Result<socklen_t> sockopt_room(const Call& c);
// getsockopt's answer: `len` bytes of `value` to arg 3, `len` to *arg 4.
Status put_sockopt(const Call& c, const void* value, socklen_t len);

// Waits, as the handler's fiber, until the target's socket `fd` (our
// duplicate) polls `events`. Returns 0 when it does; EINTR when the caller
// stopped waiting or has a caught, unblocked signal pending (the kernel would
// interrupt it; a notified call only lets fatal signals in); EAGAIN when the
// socket's `timeout_opt` (SO_RCVTIMEO or SO_SNDTIMEO) passed.
int wait_socket(Call& c, int fd, short events, int timeout_opt);

// Sends what the target's iovecs describe, as its own send would: a datagram
// in one piece (EMSGSIZE beyond the send buffer, before anything is copied),
// a stream in chunks gathered only as the socket takes them, so a blocked
// send holds at most one chunk of the target's data here. `name` and
// `control` go with the first piece. Returns the bytes sent.
Result<long> send_iov(Call& c, int sock, const std::vector<iovec>& iov, const sockaddr* name, socklen_t namelen,
                      const std::vector<char>& control, int flags);

// Families, each in its own file.
Reply handle_path(Call& c);      // handlers_fs.cpp
Reply handle_process(Call& c);   // handlers_process.cpp
Reply handle_socket(Call& c);    // handlers_socket.cpp
Reply handle_ipc(Call& c);       // handlers_ipc.cpp
// In a portspace: socket() of an IP family, and any call on an emulated
// socket. nullopt when the descriptor is not an emulated socket.
std::optional<Reply> handle_portspace_socket(Call& c);  // handlers_net.cpp

// Releases what the space created in host-global namespaces (SysV ids, queues).
void release_ipc(IpcState& ipc);

}  // namespace hsbox::supervisor
