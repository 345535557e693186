// Several spaces behind one UDP endpoint (e.g. two HyperSpectors both on port
// 4500 of this host): the dispatcher owns the UDP socket, reads each
// datagram's SPI and hands the datagram to the space registered for that SPI
// over a SOCK_SEQPACKET socketpair. It only routes — it holds no keys; the space's
// Tunnel authenticates as always. Unknown SPIs are dropped and counted here;
// a space that does not keep up loses its own datagrams (counted), never
// another space's: the hand-over is non-blocking.
//
// A space's Stack then receives from its socketpair end and sends through a
// duplicate of the shared UDP socket (Stack::start with StackSockets).
//
// Threads: add_space() before run(); run() in one thread; stop() from any.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "hsbox/fd.hpp"
#include "hsbox/result.hpp"

namespace hsbox::netstack {

class SpiDispatcher {
public:
    // Takes the bound UDP socket. Returns the dispatcher (EINVAL if `udp` is invalid).
    static Result<std::unique_ptr<SpiDispatcher>> create(Fd udp);

    // Registers a space by its inbound SPIs. Returns the space's end of a
    // SOCK_SEQPACKET socketpair (O_CLOEXEC) from which it reads its datagrams, or
    // EEXIST if an SPI already belongs to a space, EINVAL for SPI < 256.
    Result<Fd> add_space(const std::vector<uint32_t>& spis);

    // Returns a duplicate (O_CLOEXEC) of the shared UDP socket for sending.
    Result<Fd> send_socket() const;

    // Forwards datagrams until stop(). Returns the error that ended it, if any.
    Status run();
    void stop();

    struct Counters {
        std::atomic<uint64_t> forwarded{0};
        std::atomic<uint64_t> unknown_spi{0};   // includes SPI 0 (IKE) and keepalives
        std::atomic<uint64_t> too_short{0};     // fewer than 4 bytes
        std::atomic<uint64_t> too_long{0};      // more than 2048 bytes
        std::atomic<uint64_t> space_full{0};    // the space's queue was full: dropped
        std::atomic<uint64_t> space_gone{0};    // the space closed its end
    };
    const Counters& counters() const { return counters_; }

private:
    SpiDispatcher() = default;
    Fd udp_, stop_;
    std::vector<Fd> spaces_;                       // dispatcher's ends
    std::unordered_map<uint32_t, size_t> by_spi_;  // SPI -> index in spaces_
    Counters counters_;
};

}  // namespace hsbox::netstack
