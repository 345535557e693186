// A thin wrapper over the seccomp user-notification ioctls (sandbox2 style),
// so the loop and the handlers never spell an ioctl themselves.
#pragma once

#include <linux/seccomp.h>

#include <cstdint>

#include "hsbox/fd.hpp"
#include "hsbox/result.hpp"

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif

namespace hsbox::supervisor {

class Notifier {
public:
    explicit Notifier(Fd listener) : fd_(std::move(listener)) {}

    int fd() const { return fd_.get(); }

    // Asks the kernel to wake the target on the supervisor's CPU when the
    // reply is sent (Linux 6.6+). Returns false where unsupported.
    bool enable_sync_wakeup();

    // Receives one notification. Returns ENOENT when the target died before it
    // could be read (try again), other errors as they come.
    Status receive(seccomp_notif& out);

    // Is the notification still pending (target alive, not interrupted)?
    bool id_valid(uint64_t id) const;

    // Replies with a return value (error == 0) or an errno (error > 0).
    Status reply(uint64_t id, int64_t value, int error);

    // Lets the kernel run the syscall as the target issued it.
    Status reply_continue(uint64_t id);

    // Installs `fd` into the target; with `send`, atomically as the reply
    // (the syscall returns the new descriptor). Returns the target's number.
    Result<int> add_fd(uint64_t id, int fd, bool cloexec, bool send);

private:
    Fd fd_;
};

}  // namespace hsbox::supervisor
