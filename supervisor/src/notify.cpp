#include "notify.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cstring>

namespace hsbox::supervisor {

bool Notifier::enable_sync_wakeup() {
    return ::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) == 0;
}

Status Notifier::receive(seccomp_notif& out) {
    std::memset(&out, 0, sizeof out);
    if (::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_RECV, &out) < 0) return last_error("seccomp notif recv");
    return {};
}

bool Notifier::id_valid(uint64_t id) const {
    return ::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

Status Notifier::reply(uint64_t id, int64_t value, int error) {
    seccomp_notif_resp resp{};
    resp.id = id;
    resp.val = error ? 0 : value;
    resp.error = error ? -error : 0;
    if (::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0) return last_error("seccomp notif send");
    return {};
}

Status Notifier::reply_continue(uint64_t id) {
    seccomp_notif_resp resp{};
    resp.id = id;
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    if (::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0) return last_error("seccomp notif send");
    return {};
}

Result<int> Notifier::add_fd(uint64_t id, int fd, bool cloexec, bool send) {
    seccomp_notif_addfd a{};
    a.id = id;
    a.srcfd = static_cast<uint32_t>(fd);
    a.newfd_flags = cloexec ? O_CLOEXEC : 0;
    a.flags = send ? SECCOMP_ADDFD_FLAG_SEND : 0;
    int r = ::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_ADDFD, &a);
    if (r < 0) return last_error("seccomp addfd");
    return r;
}

}  // namespace hsbox::supervisor
