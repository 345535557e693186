// The per-space TCP/IP stack: lwIP (Debian's liblwip, NO_SYS=0, core locking)
// with one network interface whose only link is the ESP tunnel.
//
//   lwIP output (core lock held) -> peer lookup by inner destination -> Tunnel::seal
//       -> sendto(UDP socket, peer endpoint)
//   receiver thread: recvmmsg(UDP socket) -> Tunnel::open (authenticate, replay,
//       trailer, inner addresses) -> lock core -> ip_input
//
// lwIP keeps global state and cannot be torn down, so there is one Stack per
// process (the supervisor of one space); start() refuses a second (EBUSY).
// Stopping the Stack stops the receiver thread, takes the interface down and
// closes the socket; lwIP's own thread lives on until the process exits.
//
// Routes exist only to tunnel peers. Everything else — 127.0.0.0/8, ::1, the
// host's addresses, the space's own address, any non-peer — gets ENETUNREACH
// from check_destination(), which whoever emulates connect/sendto must call
// first (lwIP's own routing would send 127.0.0.1 to its loopback path). Output
// that still reaches the interface for a non-peer is dropped and counted
// (tx_no_route).
#pragma once

#include <sys/socket.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hsbox/fd.hpp"
#include "hsbox/netstack/esp.hpp"
#include "hsbox/netstack/tunnel_config.hpp"
#include "hsbox/result.hpp"

namespace hsbox::netstack {

// MTU of the inner interface: a 1500-byte outer path minus outer IPv6 (40),
// UDP (8) and worst-case ESP overhead (37), rounded down.
inline constexpr uint16_t kInnerMtu = 1400;

// Sockets for a stack behind an SpiDispatcher (a UDP endpoint shared by
// several spaces): datagrams arrive on `rx` (the space's socketpair end) and
// leave through `tx` (a duplicate of the shared UDP socket).
struct StackSockets {
    Fd rx, tx;
};

class Stack {
public:
    // Starts lwIP (once per process), binds the tunnel's UDP socket to the
    // local endpoint and starts the receiver thread. Returns the stack, or
    // EBUSY (a stack already runs here), or the bind/socket error.
    static Result<std::unique_ptr<Stack>> start(const TunnelConfig& config);
    // The same with sockets given (the config's local endpoint is not bound here).
    static Result<std::unique_ptr<Stack>> start(const TunnelConfig& config, StackSockets sockets);
    ~Stack();
    Stack(const Stack&) = delete;
    Stack& operator=(const Stack&) = delete;

    // Returns ok if `addr` is the inner address of a tunnel peer, else
    // ENETUNREACH (EAFNOSUPPORT for families other than IPv4/IPv6).
    // IPv4-mapped IPv6 addresses are judged as the IPv4 address.
    Status check_destination(const sockaddr* addr, socklen_t len) const;

    // For lwIP callbacks (core lock held): true while the receiver thread
    // feeds a batch of received packets to lwIP. Work a callback defers to
    // the end of the batch runs in the hook set here, once per batch, still
    // under the core lock and before the batch's output leaves.
    bool in_input_batch() const;
    void set_input_batch_hook(std::function<void()> hook);

    // This space's inner addresses (from the tunnel file).
    const std::vector<InnerAddress>& local_addresses() const;

    const TunnelCounters& counters() const;

    // Starts lwIP's thread once per process (Stack::start does it too); for
    // users of lwIP without a tunnel, such as a portspace with none.
    static void init_lwip();
    // The UDP port the tunnel socket (the one it sends from) is bound to.
    uint16_t udp_port() const;

    // Runs one UDP payload through the same path as a received datagram
    // (authenticate, then hand to lwIP). For the fuzz harness and tests; the
    // buffer is decrypted in place. Safe alongside the receiver thread.
    // Returns true if it reached lwIP.
    bool input_datagram(uint8_t* buf, size_t len);

private:
    Stack() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace hsbox::netstack
