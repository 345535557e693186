// Socket emulation for a portspace: TCP and UDP sockets of confined
// processes, served by the space's lwIP stack (raw API) and bridged to the
// process through a unix socket pair.
//
//   confined process                      supervisor (this engine)
//   fd ── space end ═══ socketpair ═══ host end ── pump ── lwIP pcb ── tunnel
//
// The process holds only the space end of a socketpair (SOCK_STREAM for TCP,
// SOCK_SEQPACKET for UDP), so read/write/send/recv without addresses,
// poll/select/epoll, fcntl, dup and fork stay native and cost nothing extra.
// Control calls (bind, listen, accept, connect, getsockname, ...) are trapped
// by the supervisor and answered through this class; it identifies a socket
// by the inode of its space end, which survives dup, fork and SCM_RIGHTS.
//
// Readiness is made to match a TCP socket's:
//  * a listening socket's space end holds one byte per connection waiting in
//    the accept queue, so it polls readable exactly when accept would not block;
//  * a connecting socket's space end is filled ("gated") until the handshake
//    ends, so POLLOUT arrives when the connection is made or has failed;
//  * the peer's FIN becomes EOF on the space end; the space's close or
//    shutdown(SHUT_WR) becomes a FIN.
//
// Threads: every method takes lwIP's core lock; the pump thread serves the
// host ends (epoll, edge-triggered) under the same lock, and lwIP's callbacks
// run under it, so the socket table needs no lock of its own.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hsbox/fd.hpp"
#include "hsbox/result.hpp"

namespace hsbox::netstack {

class Stack;

struct SocketAddress {
    sockaddr_storage ss{};
    socklen_t len = 0;
};

// What the engine drops or could not do, for the space's exit report.
struct SocketCounters {
    std::atomic<uint64_t> opened{0};
    std::atomic<uint64_t> udp_rx_dropped{0};     // datagrams lost: the space's receive buffer was full
    std::atomic<uint64_t> udp_tx_unaddressed{0};  // send() on an unconnected UDP socket (EDESTADDRREQ on Linux)
    std::atomic<uint64_t> udp_tx_failed{0};      // lwIP refused a datagram (no memory, too big)
    std::atomic<uint64_t> accept_overflow{0};    // connections reset: the accept queue was full
    std::atomic<uint64_t> source_unknown{0};     // a datagram read whose source was no longer recorded
    // One "name value" per line.
    std::string to_text() const;
    // Datagrams and connections lost.
    uint64_t total_drops() const;
};

// What accept() hands back: the new connection's space end and its peer.
struct Accepted {
    Fd space_end;
    SocketAddress peer;
};

// A datagram's source, for recvfrom/recvmsg on a UDP socket.
struct DatagramSource {
    bool known = false;
    SocketAddress from;
};

class SocketEngine {
public:
    // `stack` may be null: a portspace without tunnels, where sockets work
    // but every destination is unreachable. The engine starts lwIP if the
    // stack did not, and its pump thread; it hooks the end of the stack's
    // input batches, so the stack must outlive it.
    static Result<std::unique_ptr<SocketEngine>> create(Stack* stack);
    ~SocketEngine();
    SocketEngine(const SocketEngine&) = delete;
    SocketEngine& operator=(const SocketEngine&) = delete;

    // socket(domain, type, protocol): AF_INET/AF_INET6 with SOCK_STREAM
    // (protocol 0 or IPPROTO_TCP) or SOCK_DGRAM (0 or IPPROTO_UDP); `type`
    // without SOCK_NONBLOCK/SOCK_CLOEXEC. Returns the space end to hand to the
    // process (blocking, close-on-exec); EAFNOSUPPORT, ESOCKTNOSUPPORT,
    // EPROTONOSUPPORT otherwise.
    Result<Fd> open(int domain, int type, int protocol);

    // Is the socket whose space end has inode `ino` one of ours?
    bool owns(ino_t ino) const;
    int type_of(ino_t ino) const;  // SOCK_STREAM, SOCK_DGRAM, or 0

    // The calls. `space_fd` is the supervisor's duplicate of the process's
    // descriptor (the same open file as the space end). Errors are the errno
    // the process should see.
    Status bind(ino_t ino, const sockaddr* addr, socklen_t len);
    Status listen(ino_t ino, int backlog);
    // Starts a connection. TCP: returns EINPROGRESS when the handshake began;
    // the space end then polls writable when it ended, and connect_result()
    // tells how. UDP: sets the default destination (AF_UNSPEC clears it).
    // The caller checks the destination against the tunnels first.
    Status connect(ino_t ino, int space_fd, const sockaddr* addr, socklen_t len);
    // After a TCP connect: ok once connected, EINPROGRESS while connecting,
    // or the error it failed with (reported once, like SO_ERROR).
    Status connect_result(ino_t ino);
    // Takes the oldest waiting connection: EAGAIN if none, EINVAL if not listening.
    Result<Accepted> accept(ino_t ino, int space_fd);
    Result<SocketAddress> sockname(ino_t ino) const;
    Result<SocketAddress> peername(ino_t ino) const;
    Status shutdown(ino_t ino, int space_fd, int how);
    Status setsockopt(ino_t ino, int space_fd, int level, int name, const void* value, socklen_t len);
    // Returns the option's value (at most `max` bytes).
    Result<std::vector<uint8_t>> getsockopt(ino_t ino, int space_fd, int level, int name, socklen_t max);
    // UDP sendto with an address (the caller checked the destination).
    Result<size_t> sendto(ino_t ino, const void* data, size_t len, const sockaddr* addr, socklen_t alen);
    // UDP: where the datagram just read from the space end (`data`, its full
    // length `len`) came from. `peek`: it stays queued (MSG_PEEK).
    DatagramSource source_of(ino_t ino, const uint8_t* data, size_t len, bool peek);

    // Sockets whose bridge was released (the space closed them, or both
    // directions ended, or the connection failed) keep a small record while
    // a process may still hold the descriptor. retired() counts them;
    // collect() frees those whose inode `held` says no process holds.
    size_t retired() const;
    size_t collect(const std::function<bool(ino_t)>& held);

    // When the space's processes are gone: waits until what they wrote has
    // left and been acknowledged, as the kernel keeps sending after a process
    // exits — at most `limit_ms`, and no longer than `stall_ms` without
    // progress (a peer that went away). Returns false if data was left.
    bool drain(int limit_ms, int stall_ms);

    const SocketCounters& counters() const;

private:
    SocketEngine() = default;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace hsbox::netstack
