// SPI dispatcher: one UDP endpoint shared by several spaces. See spi_dispatch.hpp.
#include "hsbox/netstack/spi_dispatch.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace hsbox::netstack {

Result<std::unique_ptr<SpiDispatcher>> SpiDispatcher::create(Fd udp) {
    if (!udp) return Error{EINVAL, "SPI dispatcher: no UDP socket"};
    std::unique_ptr<SpiDispatcher> d(new SpiDispatcher);
    d->udp_ = std::move(udp);
    int ev = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ev < 0) return last_error("SPI dispatcher: eventfd");
    d->stop_.reset(ev);
    return d;
}

Result<Fd> SpiDispatcher::add_space(const std::vector<uint32_t>& spis) {
    for (uint32_t s : spis) {
        if (s < 256) return Error{EINVAL, "SPI dispatcher: SPI " + std::to_string(s) + " is reserved"};
        if (by_spi_.count(s)) return Error{EEXIST, "SPI dispatcher: SPI " + std::to_string(s) + " already has a space"};
    }
    // SEQPACKET, not DGRAM: unix datagram queues are capped at
    // net.unix.max_dgram_qlen (10 by default) packets; SEQPACKET keeps message
    // boundaries and is bounded by the buffer size instead.
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return last_error("SPI dispatcher: socketpair");
    Fd mine(sv[0]), theirs(sv[1]);
    int sz = 4 << 20;
    (void)setsockopt(mine.get(), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    (void)setsockopt(theirs.get(), SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    size_t index = spaces_.size();
    spaces_.push_back(std::move(mine));
    for (uint32_t s : spis) by_spi_[s] = index;
    return theirs;
}

Result<Fd> SpiDispatcher::send_socket() const {
    int fd = ::fcntl(udp_.get(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) return last_error("SPI dispatcher: dup");
    return Fd(fd);
}

void SpiDispatcher::stop() {
    uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof one);
}

Status SpiDispatcher::run() {
    constexpr size_t kBatch = 32, kSlot = 2048;
    std::vector<uint8_t> bufs(kBatch * kSlot);
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    pollfd fds[2] = {{udp_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    for (;;) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return last_error("SPI dispatcher: poll");
        }
        if (fds[1].revents) return {};
        for (size_t i = 0; i < kBatch; ++i) {
            iov[i] = {bufs.data() + i * kSlot, kSlot};
            std::memset(&msgs[i], 0, sizeof msgs[i]);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int got = ::recvmmsg(udp_.get(), msgs, kBatch, MSG_DONTWAIT, nullptr);
        if (got < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            return last_error("SPI dispatcher: recvmmsg");
        }
        for (int i = 0; i < got; ++i) {
            const uint8_t* b = bufs.data() + size_t(i) * kSlot;
            size_t len = msgs[i].msg_len;
            if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {  // larger than any ESP datagram we send
                ++counters_.too_long;
                continue;
            }
            if (len < 4) {
                ++counters_.too_short;
                continue;
            }
            uint32_t spi = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
            auto it = by_spi_.find(spi);
            if (it == by_spi_.end()) {
                ++counters_.unknown_spi;
                continue;
            }
            if (::send(spaces_[it->second].get(), b, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
                if (errno == EAGAIN || errno == ENOBUFS)
                    ++counters_.space_full;
                else
                    ++counters_.space_gone;
                continue;
            }
            ++counters_.forwarded;
        }
    }
}

}  // namespace hsbox::netstack
