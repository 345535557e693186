// Socket emulation over lwIP's raw API, bridged through socket pairs. See
// sockets.hpp for the shape; the notes here are about the moving parts.
//
// Data path (TCP):
//   space -> lwIP: the pump reads the host end into a staging buffer (at
//     most what tcp_sndbuf() admits), tcp_write()s it, and stops reading
//     while lwIP's send buffer is full; tcp_sent() resumes it. EOF on the
//     host end (the space closed or shut down writing) becomes a FIN once
//     the staged data is out.
//   lwIP -> space: tcp_recv() chains the pbufs and writes them to the host
//     end; only what was written is tcp_recved(), so a space that does not
//     read closes lwIP's window instead of growing a buffer here.
// UDP: each datagram is one SOCK_SEQPACKET record; the sources of datagrams
// handed to the space are kept in order (length + hash) for recvfrom.
#include "hsbox/netstack/sockets.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <thread>
#include <unordered_map>

#include "hsbox/log.hpp"
#include "hsbox/netstack/stack.hpp"

extern "C" {
#include <lwip/inet_chksum.h>
#include <lwip/ip_addr.h>
#include <lwip/pbuf.h>
#include <lwip/priv/tcp_priv.h>
#include <lwip/raw.h>
#include <lwip/tcp.h>
#include <lwip/tcpip.h>
#include <lwip/udp.h>
}

namespace hsbox::netstack {

namespace {

constexpr size_t kStage = 64 << 10;        // bytes read from a host end per tcp_write round
constexpr size_t kMaxDatagram = 65535;     // largest UDP payload over IPv6 (65507 over IPv4)
constexpr size_t kMaxSources = 4096;       // datagram sources remembered per UDP socket
constexpr size_t kGateLimit = 16 << 20;    // bound on the bytes used to gate a connecting socket
constexpr int kMaxBacklog = 4096;
constexpr uint32_t kSlowTimerMs = 500;     // lwIP's TCP_SLOW_INTERVAL (tcp_priv.h): RTT estimates count its ticks

struct CoreLock {
    CoreLock() { LOCK_TCPIP_CORE(); }
    ~CoreLock() { UNLOCK_TCPIP_CORE(); }
    CoreLock(const CoreLock&) = delete;
    CoreLock& operator=(const CoreLock&) = delete;
};

// SOL_SOCKET options that belong to the bridge: the process's own reads and
// writes meet its end of it, so buffer sizes, timeouts and low-water marks
// must be set there.
bool bridge_option(int name) {
    switch (name) {
        case SO_RCVBUF:
        case SO_SNDBUF:
        case SO_RCVTIMEO:
        case SO_SNDTIMEO:
        case SO_RCVLOWAT:
        case SO_SNDLOWAT:
        case SO_TIMESTAMP: return true;
    }
    return false;
}

uint64_t fnv1a(const uint8_t* p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

int errno_of(err_t e) {
    switch (e) {
        case ERR_OK: return 0;
        case ERR_MEM: return ENOBUFS;
        case ERR_BUF: return ENOBUFS;
        case ERR_TIMEOUT: return ETIMEDOUT;
        case ERR_RTE: return ENETUNREACH;
        case ERR_INPROGRESS: return EINPROGRESS;
        case ERR_VAL: return EINVAL;
        case ERR_WOULDBLOCK: return EAGAIN;
        case ERR_USE: return EADDRINUSE;
        case ERR_ALREADY: return EALREADY;
        case ERR_ISCONN: return EISCONN;
        case ERR_CONN: return ENOTCONN;
        case ERR_IF: return ENETDOWN;
        case ERR_ABRT: return ECONNABORTED;
        case ERR_RST: return ECONNRESET;
        case ERR_CLSD: return ENOTCONN;
        case ERR_ARG: return EINVAL;
    }
    return EIO;
}

// A socket address for the space, in the socket's own family: IPv4 peers of
// an AF_INET6 socket appear as ::ffff:a.b.c.d.
SocketAddress to_sockaddr(int domain, const ip_addr_t* ip, u16_t port) {
    SocketAddress a;
    if (domain == AF_INET) {
        auto* s = reinterpret_cast<sockaddr_in*>(&a.ss);
        s->sin_family = AF_INET;
        s->sin_port = htons(port);
        if (ip && IP_IS_V4(ip)) s->sin_addr.s_addr = ip_2_ip4(ip)->addr;
        a.len = sizeof *s;
        return a;
    }
    auto* s = reinterpret_cast<sockaddr_in6*>(&a.ss);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    if (ip && IP_IS_V4_VAL(*ip) && !ip_addr_isany(ip)) {
        s->sin6_addr.s6_addr[10] = 0xff;
        s->sin6_addr.s6_addr[11] = 0xff;
        std::memcpy(s->sin6_addr.s6_addr + 12, &ip_2_ip4(ip)->addr, 4);
    } else if (ip && IP_IS_V6_VAL(*ip)) {
        std::memcpy(s->sin6_addr.s6_addr, ip_2_ip6(ip)->addr, 16);
    }
    a.len = sizeof *s;
    return a;
}

// Reads a sockaddr of the socket's family into an lwIP address and port.
// `any_type`: the IPv6 wildcard means both families (a dual-stack socket).
Status from_sockaddr(int domain, const sockaddr* sa, socklen_t len, bool any_type, ip_addr_t* ip, u16_t* port) {
    if (domain == AF_INET) {
        if (len < socklen_t(sizeof(sockaddr_in))) return Error{EINVAL, "address too short"};
        if (sa->sa_family != AF_INET) return Error{EAFNOSUPPORT, "not an IPv4 address"};
        auto* s = reinterpret_cast<const sockaddr_in*>(sa);
        ip_addr_set_ip4_u32_val(*ip, s->sin_addr.s_addr);
        *port = ntohs(s->sin_port);
        return {};
    }
    if (len < socklen_t(sizeof(sockaddr_in6))) return Error{EINVAL, "address too short"};
    if (sa->sa_family != AF_INET6) return Error{EAFNOSUPPORT, "not an IPv6 address"};
    auto* s = reinterpret_cast<const sockaddr_in6*>(sa);
    *port = ntohs(s->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
        uint32_t v4;
        std::memcpy(&v4, s->sin6_addr.s6_addr + 12, 4);
        ip_addr_set_ip4_u32_val(*ip, v4);
        return {};
    }
    if (IN6_IS_ADDR_UNSPECIFIED(&s->sin6_addr) && any_type) {
        ip_addr_copy(*ip, *IP_ANY_TYPE);
        return {};
    }
    ip6_addr_t a6;
    std::memcpy(a6.addr, s->sin6_addr.s6_addr, 16);
    ip6_addr_clear_zone(&a6);
    ip_addr_copy_from_ip6(*ip, a6);
    return {};
}

}  // namespace

std::string SocketCounters::to_text() const {
    std::string s;
    auto line = [&](const char* n, const std::atomic<uint64_t>& v) { s += std::string(n) + " " + std::to_string(v.load()) + "\n"; };
    line("sockets_opened", opened);
    line("udp_rx_dropped", udp_rx_dropped);
    line("udp_tx_unaddressed", udp_tx_unaddressed);
    line("udp_tx_failed", udp_tx_failed);
    line("tcp_accept_overflow", accept_overflow);
    line("udp_source_unknown", source_unknown);
    return s;
}

uint64_t SocketCounters::total_drops() const {
    return udp_rx_dropped + udp_tx_unaddressed + udp_tx_failed + accept_overflow;
}

struct SocketEngine::Impl {
    struct Sock;
    struct Source {
        size_t len;
        uint64_t hash;
        SocketAddress from;
    };
    struct Pending {
        Fd space_end;
        uint64_t id;
    };
    enum class State { Fresh, Listening, Connecting, Connected, Failed, Closed };

    struct Sock {
        Impl* engine = nullptr;
        uint64_t id = 0;
        ino_t ino = 0;
        int domain = 0, type = 0;
        bool v6only = false;
        bool reuseaddr = false, keepalive = false, nodelay = false;
        bool deferred_in = false, deferred_out = false;  // queued in Impl::deferred
        bool retired = false;  // bridge and pcb released; the record stays for SO_ERROR and the like
        Fd host;  // our end of the bridge (non-blocking)
        State state = State::Fresh;
        int so_error = 0;
        bool space_gone = false;  // every descriptor of the space end is closed
        // TCP
        tcp_pcb* pcb = nullptr;
        struct pbuf* in = nullptr;  // lwIP -> space, not yet written
        bool in_fin = false, fin_delivered = false;
        // space -> lwIP: read from the bridge, not yet accepted by lwIP
        // ([stage_off, stage_len) of a kStage buffer allocated on first use;
        // raw, so that a read does not zero-fill it first).
        std::unique_ptr<uint8_t[]> stage;
        size_t stage_off = 0, stage_len = 0;
        bool host_readable = false, out_eof = false, fin_sent = false;
        size_t gate = 0;  // filler bytes at the head of the host end's input
        int backlog = 0;
        std::deque<Pending> queue;  // listening: connections not yet accepted
        // UDP, and ICMP (datagram "ping" sockets and raw ICMP sockets)
        udp_pcb* upcb = nullptr;
        raw_pcb* rpcb = nullptr;
        bool icmp_raw = false;   // SOCK_RAW: every ICMP packet, IPv4 ones with their IP header
        uint16_t ident = 0;      // ping socket: the echo identifier, its "port"
        bool udp_connected = false;  // a datagram socket (UDP or ICMP) has a default destination
        std::deque<Source> sources;
    };

    Stack* stack = nullptr;
    std::unordered_map<uint64_t, std::unique_ptr<Sock>> socks;  // by id
    // Work deferred to the end of the stack's input batch: one write to the
    // bridge per socket per batch instead of one per segment, and one refill
    // of lwIP's send buffer per batch of ACKs instead of one per ACK.
    std::vector<uint64_t> deferred;
    size_t retired_count = 0;
    uint16_t next_ident = uint16_t(std::rand());  // echo identifiers of ping sockets
    std::unordered_map<ino_t, uint64_t> by_ino;
    uint64_t next_id = 1;
    Fd ep, stop;
    std::thread pump;
    SocketCounters counters;
    std::vector<uint8_t> dgram = std::vector<uint8_t>(kMaxDatagram);  // under the core lock

    Sock* find(ino_t ino) const {
        auto it = by_ino.find(ino);
        if (it == by_ino.end()) return nullptr;
        auto s = socks.find(it->second);
        return s == socks.end() ? nullptr : s->second.get();
    }

    // Makes a bridge; registers the host end with the pump. Returns the space end.
    Result<Fd> make(int domain, int type, Sock** out) {
        int sv[2];
        int kind = type == SOCK_STREAM ? SOCK_STREAM : SOCK_SEQPACKET;
        if (::socketpair(AF_UNIX, kind | SOCK_CLOEXEC, 0, sv) < 0) return last_error("socketpair");
        Fd space(sv[0]), host(sv[1]);
        if (::fcntl(host.get(), F_SETFL, O_NONBLOCK) < 0) return last_error("fcntl");
        struct stat st;
        if (::fstat(space.get(), &st) < 0) return last_error("fstat");
        auto s = std::make_unique<Sock>();
        s->engine = this;
        s->id = next_id++;
        s->ino = st.st_ino;
        s->domain = domain;
        s->type = type;
        s->host = std::move(host);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.u64 = s->id;
        if (::epoll_ctl(ep.get(), EPOLL_CTL_ADD, s->host.get(), &ev) < 0) return last_error("epoll_ctl");
        *out = s.get();
        by_ino[s->ino] = s->id;
        socks[s->id] = std::move(s);
        ++counters.opened;
        return space;
    }

    // Releases what a socket holds — its pcb, its end of the bridge (the
    // space then reads EOF and its writes fail with EPIPE), connections
    // waiting to be accepted — and keeps the record, so that the process can
    // still ask SO_ERROR. Why not free it: EPOLLHUP on our end means the
    // space closed its end *or* both directions were shut down, and the
    // process may still hold the socket. Records are freed by collect(),
    // once no process of the space holds the descriptor.
    void retire(Sock& s) {
        if (s.retired) return;
        if (s.pcb) {
            detach(s.pcb);
            if (tcp_close(s.pcb) != ERR_OK) tcp_abort(s.pcb);
            s.pcb = nullptr;
        }
        if (s.upcb) {
            udp_remove(s.upcb);
            s.upcb = nullptr;
        }
        if (s.rpcb) {
            raw_remove(s.rpcb);
            s.rpcb = nullptr;
        }
        if (s.in) pbuf_free(s.in);
        s.in = nullptr;
        s.queue.clear();
        s.stage.reset();
        s.stage_off = s.stage_len = 0;
        if (s.host) {
            ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, s.host.get(), nullptr);
            s.host.reset();
        }
        if (s.state != State::Failed) s.state = State::Closed;
        s.udp_connected = false;
        s.retired = true;
        ++retired_count;
    }

    void destroy(Sock& s) {
        retire(s);
        --retired_count;
        auto it = by_ino.find(s.ino);
        if (it != by_ino.end() && it->second == s.id) by_ino.erase(it);
        uint64_t id = s.id;
        socks.erase(id);  // s is gone
    }

    static void detach(tcp_pcb* pcb) {
        tcp_arg(pcb, nullptr);
        if (pcb->state == LISTEN) {
            tcp_accept(pcb, nullptr);
            return;
        }
        tcp_recv(pcb, nullptr);
        tcp_sent(pcb, nullptr);
        tcp_err(pcb, nullptr);
    }

    // The pcb of a socket that is not listening (a listening pcb is a
    // smaller struct without TCP state), or null.
    static tcp_pcb* active(const Sock& s) { return s.state == State::Listening ? nullptr : s.pcb; }

    // ---- TCP: lwIP -> space ----
    void flush_in(Sock& s) {
        if (s.retired) return;
        size_t delivered = 0;
        while (s.in) {
            iovec iov[64];
            int n = 0;
            for (struct pbuf* q = s.in; q && n < 64; q = q->next)
                if (q->len) iov[n++] = {q->payload, q->len};
            msghdr m{};
            m.msg_iov = iov;
            m.msg_iovlen = size_t(n);
            ssize_t w = ::sendmsg(s.host.get(), &m, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR) continue;
                if (errno != EAGAIN) {  // the space end is gone: nobody will read this
                    pbuf_free(s.in);
                    s.in = nullptr;
                    s.in_fin = false;
                }
                break;
            }
            size_t left = size_t(w);
            delivered += left;
            while (left && s.in) {
                u16_t step = u16_t(std::min<size_t>(left, 0xffff));
                s.in = pbuf_free_header(s.in, step);
                left -= step;
            }
        }
        if (s.pcb && delivered) {
            while (delivered) {
                u16_t step = u16_t(std::min<size_t>(delivered, 0xffff));
                tcp_recved(s.pcb, step);
                delivered -= step;
            }
        }
        if (!s.in && s.in_fin && !s.fin_delivered) {
            s.fin_delivered = true;
            // The space reads EOF; after a reset its writes fail too (EPIPE).
            if (s.state == State::Failed) {
                retire(s);
            } else {
                ::shutdown(s.host.get(), SHUT_WR);
            }
        }
    }

    // ---- TCP: space -> lwIP ----
    void pump_out(Sock& s) {
        if (s.retired || s.state != State::Connected || !s.pcb) return;
        bool wrote = false;
        for (;;) {
            if (s.stage_off == s.stage_len) {
                s.stage_off = s.stage_len = 0;
                if (!s.host_readable || s.out_eof) break;
                size_t want = std::min<size_t>(tcp_sndbuf(s.pcb), kStage);
                if (want == 0) break;
                if (!s.stage) s.stage = std::make_unique_for_overwrite<uint8_t[]>(kStage);
                ssize_t n = ::read(s.host.get(), s.stage.get(), want);
                if (n > 0) {
                    s.stage_len = size_t(n);
                } else {
                    if (n == 0) {
                        s.out_eof = true;
                    } else if (errno == EAGAIN) {
                        s.host_readable = false;
                    } else if (errno != EINTR) {
                        s.out_eof = true;
                    }
                    if (n < 0 && errno == EINTR) continue;
                    break;
                }
            }
            size_t room = tcp_sndbuf(s.pcb);
            size_t chunk = std::min(room, s.stage_len - s.stage_off);
            if (chunk == 0) break;
            u8_t flags = TCP_WRITE_FLAG_COPY;
            if (chunk < s.stage_len - s.stage_off || s.host_readable) flags |= TCP_WRITE_FLAG_MORE;
            err_t e = tcp_write(s.pcb, s.stage.get() + s.stage_off, u16_t(std::min<size_t>(chunk, 0xffff)), flags);
            if (e == ERR_MEM) break;  // lwIP's queue is full: tcp_sent() resumes
            if (e != ERR_OK) {
                s.so_error = errno_of(e);
                break;
            }
            s.stage_off += std::min<size_t>(chunk, 0xffff);
            wrote = true;
        }
        if (wrote) tcp_output(s.pcb);
        if (s.out_eof && s.stage_off == s.stage_len && !s.fin_sent) {
            s.fin_sent = true;
            if (s.space_gone) {
                finish(s);
                return;
            }
            tcp_shutdown(s.pcb, 0, 1);
        }
    }

    // The space closed the socket and everything it wrote is handed to lwIP.
    void finish(Sock& s) { retire(s); }

    // ---- gate for connecting sockets ----
    void open_gate(Sock& s) {
        uint8_t junk[16384];
        while (s.gate) {
            ssize_t n = ::read(s.host.get(), junk, std::min(s.gate, sizeof junk));
            if (n <= 0) {
                if (n < 0 && errno == EINTR) continue;
                break;
            }
            s.gate -= size_t(n);
        }
        s.gate = 0;
    }

    // A connection attempt failed: the gate opens (the space end polls
    // writable and hung up), SO_ERROR tells why.
    void fail(Sock& s, int err) {
        s.state = State::Failed;
        s.so_error = err;
        open_gate(s);
        retire(s);
    }

    // ---- lwIP callbacks (core lock held) ----
    // Inside an input batch: remember the socket, do the work at its end.
    bool defer(Sock& s, bool Sock::*flag) {
        if (!stack || !stack->in_input_batch()) return false;
        if (!s.deferred_in && !s.deferred_out) deferred.push_back(s.id);
        s.*flag = true;
        return true;
    }

    void run_deferred() {
        std::vector<uint64_t> ids;
        ids.swap(deferred);
        for (uint64_t id : ids) {
            auto it = socks.find(id);
            if (it == socks.end()) continue;  // gone meanwhile
            Sock& s = *it->second;
            bool in = s.deferred_in, out = s.deferred_out;
            s.deferred_in = s.deferred_out = false;
            if (in) flush_in(s);
            if (out) pump_out(s);  // may destroy s
        }
    }

    static err_t on_recv(void* arg, tcp_pcb* pcb, struct pbuf* p, err_t err) {
        auto* s = static_cast<Sock*>(arg);
        if (!s) {
            if (p) pbuf_free(p);
            return ERR_OK;
        }
        (void)pcb;
        (void)err;
        if (!p) {
            s->in_fin = true;
        } else if (s->in) {
            pbuf_cat(s->in, p);
        } else {
            s->in = p;
        }
        if (!s->engine->defer(*s, &Sock::deferred_in)) s->engine->flush_in(*s);
        return ERR_OK;
    }

    static err_t on_sent(void* arg, tcp_pcb*, u16_t) {
        auto* s = static_cast<Sock*>(arg);
        if (s && !s->engine->defer(*s, &Sock::deferred_out)) s->engine->pump_out(*s);
        return ERR_OK;
    }

    static void on_err(void* arg, err_t err) {
        auto* s = static_cast<Sock*>(arg);
        if (!s) return;
        s->pcb = nullptr;  // lwIP freed it
        if (s->state == State::Connecting) {
            // lwIP reports a RST answering our SYN as a reset; Linux says refused.
            s->engine->fail(*s, err == ERR_RST ? ECONNREFUSED : err == ERR_ABRT ? ETIMEDOUT : errno_of(err));
            return;
        }
        if (s->space_gone) {
            s->engine->retire(*s);
            return;
        }
        int e = err == ERR_RST ? ECONNRESET : err == ERR_ABRT ? ETIMEDOUT : errno_of(err);
        // Data already received stays readable, then EOF; SO_ERROR tells why.
        s->so_error = e;
        s->state = State::Failed;
        s->in_fin = true;
        s->engine->flush_in(*s);  // retires once the data is out
    }

    static err_t on_connected(void* arg, tcp_pcb* pcb, err_t err) {
        auto* s = static_cast<Sock*>(arg);
        if (!s) return ERR_OK;
        (void)pcb;
        if (err != ERR_OK) {
            s->engine->fail(*s, errno_of(err));
            return ERR_OK;
        }
        s->state = State::Connected;
        s->engine->open_gate(*s);
        s->host_readable = true;  // the space may have written while we connected
        s->engine->pump_out(*s);
        return ERR_OK;
    }

    void attach(Sock& s, tcp_pcb* pcb) {
        s.pcb = pcb;
        tcp_arg(pcb, &s);
        tcp_recv(pcb, on_recv);
        tcp_sent(pcb, on_sent);
        tcp_err(pcb, on_err);
    }

    static err_t on_accept(void* arg, tcp_pcb* newpcb, err_t err) {
        auto* l = static_cast<Sock*>(arg);
        if (!l || err != ERR_OK || !newpcb) return ERR_VAL;
        Impl& im = *l->engine;
        if (int(l->queue.size()) >= l->backlog || l->space_gone) {
            ++im.counters.accept_overflow;
            return ERR_MEM;  // lwIP aborts (resets) the connection
        }
        Sock* c = nullptr;
        auto space = im.make(l->domain, SOCK_STREAM, &c);
        if (!space) {
            ++im.counters.accept_overflow;
            return ERR_MEM;
        }
        c->state = State::Connected;
        c->keepalive = l->keepalive;
        c->nodelay = l->nodelay;
        im.attach(*c, newpcb);
        if (l->nodelay) tcp_nagle_disable(newpcb);
        l->queue.push_back({std::move(*space), c->id});
        char one = 1;
        (void)!::send(l->host.get(), &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL);  // readable: accept won't block
        return ERR_OK;
    }

    static void on_udp(void* arg, udp_pcb*, struct pbuf* p, const ip_addr_t* addr, u16_t port) {
        auto* s = static_cast<Sock*>(arg);
        if (!s || !p) {
            if (p) pbuf_free(p);
            return;
        }
        Impl& im = *s->engine;
        size_t len = std::min<size_t>(p->tot_len, im.dgram.size());
        pbuf_copy_partial(p, im.dgram.data(), u16_t(len), 0);
        pbuf_free(p);
        if (::send(s->host.get(), im.dgram.data(), len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
            ++im.counters.udp_rx_dropped;
            return;
        }
        if (s->sources.size() >= kMaxSources) s->sources.pop_front();
        s->sources.push_back({len, fnv1a(im.dgram.data(), len), to_sockaddr(s->domain, addr, port)});
    }

    // UDP: space -> lwIP, datagrams written without an address.
    void pump_udp(Sock& s) {
        while (!s.retired) {
            ssize_t n = ::recv(s.host.get(), dgram.data(), dgram.size(), MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR) continue;
                return;
            }
            // 0: EOF (the space shut down or closed its end), or a
            // zero-length record, which cannot be told apart and is not
            // sent; if more is queued it was a record: go on reading (the
            // epoll is edge-triggered: stopping here would strand the rest).
            if (n == 0) {
                int queued = 0;
                if (::ioctl(s.host.get(), FIONREAD, &queued) < 0 || queued <= 0) return;
                ++counters.udp_tx_failed;
                continue;
            }
            if (!s.udp_connected || (!s.upcb && !s.rpcb)) {
                ++counters.udp_tx_unaddressed;
                continue;
            }
            err_t e = s.rpcb ? send_icmp(s, dgram.data(), size_t(n), nullptr) : send_udp(s, dgram.data(), size_t(n), nullptr, 0);
            if (e != ERR_OK) ++counters.udp_tx_failed;
        }
    }

    // One ICMP message from the space. A ping socket sends echo requests
    // only, with its own identifier and the checksum filled in (as Linux
    // does); a raw socket sends what it was given. ICMPv6 checksums need the
    // pseudo-header: lwIP computes them (chksum_reqd).
    err_t send_icmp(Sock& s, const uint8_t* data, size_t len, const ip_addr_t* ip) {
        if (len < 8 || len > kMaxDatagram - 48) return ERR_VAL;
        bool v6 = s.domain == AF_INET6;
        struct pbuf* p = pbuf_alloc(PBUF_IP, u16_t(len), PBUF_RAM);
        if (!p) return ERR_MEM;
        pbuf_take(p, data, u16_t(len));
        auto* h = static_cast<uint8_t*>(p->payload);
        if (!s.icmp_raw) {
            if (h[0] != (v6 ? 128 : 8) || h[1] != 0) {
                pbuf_free(p);
                return ERR_VAL;  // EINVAL: a ping socket sends echo requests
            }
            uint16_t id = htons(s.ident);
            std::memcpy(h + 4, &id, 2);
            if (!v6) {
                h[2] = h[3] = 0;
                uint16_t sum = inet_chksum(h, u16_t(len));
                std::memcpy(h + 2, &sum, 2);
            }
        }
        err_t e = ip ? raw_sendto(s.rpcb, p, ip) : raw_send(s.rpcb, p);
        pbuf_free(p);
        return e;
    }

    // ICMP arriving for this space (lwIP hands every ICMP packet, IP header
    // included, to each raw pcb of its protocol, and answers echo requests
    // itself since we never eat a packet). A ping socket takes the echo
    // replies carrying its identifier, without the IP header; a raw socket
    // takes everything, IPv4 with its header (as Linux delivers them).
    static u8_t on_raw(void* arg, raw_pcb*, struct pbuf* p, const ip_addr_t* addr) {
        auto* s = static_cast<Sock*>(arg);
        if (!s || s->retired) return 0;
        Impl& im = *s->engine;
        size_t len = std::min<size_t>(p->tot_len, im.dgram.size());
        pbuf_copy_partial(p, im.dgram.data(), u16_t(len), 0);
        const uint8_t* pkt = im.dgram.data();
        bool v4 = IP_IS_V4(addr);
        size_t hdr = v4 ? size_t(pkt[0] & 15) * 4 : 40;
        if (len < hdr + 8) return 0;
        const uint8_t* icmp = pkt + hdr;
        if (!s->icmp_raw) {
            uint16_t id;
            std::memcpy(&id, icmp + 4, 2);
            if (icmp[0] != (v4 ? 0 : 129) || ntohs(id) != s->ident) return 0;
        }
        size_t off = (v4 && s->icmp_raw) ? 0 : hdr;
        if (::send(s->host.get(), pkt + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
            ++im.counters.udp_rx_dropped;
            return 0;
        }
        if (s->sources.size() >= kMaxSources) s->sources.pop_front();
        s->sources.push_back({len - off, fnv1a(pkt + off, len - off), to_sockaddr(s->domain, addr, 0)});
        return 0;
    }

    err_t send_udp(Sock& s, const void* data, size_t len, const ip_addr_t* ip, u16_t port) {
        if (len > kMaxDatagram - 8) return ERR_VAL;
        struct pbuf* p = pbuf_alloc(PBUF_TRANSPORT, u16_t(len), PBUF_RAM);
        if (!p) return ERR_MEM;
        pbuf_take(p, data, u16_t(len));
        err_t e = ip ? udp_sendto(s.upcb, p, ip, port) : udp_send(s.upcb, p);
        pbuf_free(p);
        return e;
    }

    // ---- the pump thread ----
    void serve() {
        epoll_event evs[64];
        for (;;) {
            int n = ::epoll_wait(ep.get(), evs, 64, -1);
            if (n < 0) {
                if (errno == EINTR) continue;
                LOG_ERROR("netstack: sockets: epoll_wait: %s", std::strerror(errno));
                return;
            }
            CoreLock lock;
            for (int i = 0; i < n; ++i) {
                if (evs[i].data.u64 == 0) return;  // stop
                auto it = socks.find(evs[i].data.u64);
                if (it == socks.end()) continue;
                Sock& s = *it->second;
                uint32_t e = evs[i].events;
                if (e & EPOLLHUP) s.space_gone = true;
                if (s.retired) continue;
                if (s.state == State::Listening || (s.type == SOCK_STREAM && s.state == State::Fresh)) {
                    if (s.space_gone) retire(s);
                    continue;
                }
                if (s.type == SOCK_DGRAM) {
                    if (e & EPOLLIN) pump_udp(s);
                    if (s.space_gone) retire(s);
                    continue;
                }
                if (e & EPOLLOUT) flush_in(s);
                if (s.retired) continue;
                if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) s.host_readable = true;
                if (s.state == State::Connected) {
                    pump_out(s);  // may retire s
                } else if (s.space_gone) {
                    retire(s);  // closed while connecting (the attempt is abandoned), or after a failure
                }
            }
        }
    }
};

Result<std::unique_ptr<SocketEngine>> SocketEngine::create(Stack* stack) {
    Stack::init_lwip();
    std::unique_ptr<SocketEngine> e(new SocketEngine);
    e->impl_ = std::make_unique<Impl>();
    Impl& im = *e->impl_;
    im.stack = stack;
    im.ep.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!im.ep) return last_error("epoll_create1");
    im.stop.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!im.stop) return last_error("eventfd");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 0;
    if (::epoll_ctl(im.ep.get(), EPOLL_CTL_ADD, im.stop.get(), &ev) < 0) return last_error("epoll_ctl");
    if (stack) stack->set_input_batch_hook([&im] { im.run_deferred(); });
    im.pump = std::thread([&im] { im.serve(); });
    return e;
}

SocketEngine::~SocketEngine() {
    if (!impl_) return;
    uint64_t one = 1;
    (void)!::write(impl_->stop.get(), &one, sizeof one);
    if (impl_->pump.joinable()) impl_->pump.join();
    if (impl_->stack) impl_->stack->set_input_batch_hook(nullptr);
    CoreLock lock;
    while (!impl_->socks.empty()) impl_->destroy(*impl_->socks.begin()->second);
}

Result<Fd> SocketEngine::open(int domain, int type, int protocol) {
    if (domain != AF_INET && domain != AF_INET6) return Error{EAFNOSUPPORT, "address family"};
    int icmp_proto = domain == AF_INET ? int(IPPROTO_ICMP) : int(IPPROTO_ICMPV6);
    bool icmp = (type == SOCK_DGRAM || type == SOCK_RAW) && protocol == icmp_proto;
    if (type == SOCK_STREAM) {
        if (protocol != 0 && protocol != IPPROTO_TCP) return Error{EPROTONOSUPPORT, "protocol"};
    } else if (type == SOCK_DGRAM) {
        if (protocol != 0 && protocol != IPPROTO_UDP && !icmp) return Error{EPROTONOSUPPORT, "protocol"};
    } else if (type == SOCK_RAW) {
        if (!icmp) return Error{EPERM, "raw sockets other than ICMP"};
    } else {
        return Error{ESOCKTNOSUPPORT, "socket type"};
    }
    CoreLock lock;
    Impl::Sock* s = nullptr;
    auto space = impl_->make(domain, type, &s);
    if (!space) return space.error();
    u8_t iptype = domain == AF_INET ? IPADDR_TYPE_V4 : IPADDR_TYPE_ANY;
    if (type == SOCK_STREAM) {
        tcp_pcb* pcb = tcp_new_ip_type(iptype);
        if (!pcb) {
            impl_->destroy(*s);
            return Error{ENOBUFS, "tcp_new"};
        }
        impl_->attach(*s, pcb);
    } else if (icmp) {
        s->rpcb = raw_new_ip_type(domain == AF_INET ? IPADDR_TYPE_V4 : IPADDR_TYPE_V6, u8_t(icmp_proto));
        if (!s->rpcb) {
            impl_->destroy(*s);
            return Error{ENOBUFS, "raw_new"};
        }
        if (domain == AF_INET6) {
            s->rpcb->chksum_reqd = 1;
            s->rpcb->chksum_offset = 2;
        }
        s->icmp_raw = type == SOCK_RAW;
        s->ident = impl_->next_ident++;
        raw_recv(s->rpcb, Impl::on_raw, s);
        s->state = Impl::State::Connected;
    } else {
        s->upcb = udp_new_ip_type(iptype);
        if (!s->upcb) {
            impl_->destroy(*s);
            return Error{ENOBUFS, "udp_new"};
        }
        udp_recv(s->upcb, Impl::on_udp, s);
        s->state = Impl::State::Connected;  // datagrams flow as soon as the pcb exists
    }
    return space;
}

bool SocketEngine::owns(ino_t ino) const {
    CoreLock lock;
    return impl_->find(ino) != nullptr;
}

int SocketEngine::type_of(ino_t ino) const {
    CoreLock lock;
    auto* s = impl_->find(ino);
    return s ? s->type : 0;
}

Status SocketEngine::bind(ino_t ino, const sockaddr* addr, socklen_t len) {
    CoreLock lock;
    auto* s = impl_->find(ino);
    if (!s) return Error{ENOTSOCK, "not an emulated socket"};
    ip_addr_t ip;
    u16_t port;
    if (auto st = from_sockaddr(s->domain, addr, len, !s->v6only, &ip, &port); !st) return st;
    if (!ip_addr_isany(&ip)) {
        // Only this space's own inner addresses can be bound.
        bool ours = false;
        if (impl_->stack)
            for (auto& a : impl_->stack->local_addresses()) {
                if (a.family == AF_INET && IP_IS_V4(&ip) && !std::memcmp(a.bytes.data(), &ip_2_ip4(&ip)->addr, 4))
                    ours = true;
                if (a.family == AF_INET6 && IP_IS_V6(&ip) && !std::memcmp(a.bytes.data(), ip_2_ip6(&ip)->addr, 16))
                    ours = true;
            }
        if (!ours) return Error{EADDRNOTAVAIL, "not an address of this space"};
    }
    if (s->type == SOCK_STREAM) {
        if (!s->pcb || s->state != Impl::State::Fresh || s->pcb->local_port) return Error{EINVAL, "already bound"};
        if (s->reuseaddr) ip_set_option(s->pcb, SOF_REUSEADDR);
        err_t e = tcp_bind(s->pcb, &ip, port);
        return e == ERR_OK ? Status{} : Error{errno_of(e), "bind"};
    }
    if (s->retired) return Error{EINVAL, "socket closed"};
    if (s->rpcb) {  // ICMP: the address, and for a ping socket its identifier
        err_t e = raw_bind(s->rpcb, &ip);
        if (e != ERR_OK) return Error{errno_of(e), "bind"};
        if (port && !s->icmp_raw) s->ident = port;
        return {};
    }
    if (s->upcb->local_port) return Error{EINVAL, "already bound"};
    if (s->reuseaddr) ip_set_option(s->upcb, SOF_REUSEADDR);
    err_t e = udp_bind(s->upcb, &ip, port);
    return e == ERR_OK ? Status{} : Error{errno_of(e), "bind"};
}

Status SocketEngine::listen(ino_t ino, int backlog) {
    CoreLock lock;
    auto* s = impl_->find(ino);
    if (!s) return Error{ENOTSOCK, "not an emulated socket"};
    if (s->type != SOCK_STREAM) return Error{EOPNOTSUPP, "listen on a datagram socket"};
    if (backlog <= 0) backlog = 1;
    backlog = std::min(backlog, kMaxBacklog);
    if (s->state == Impl::State::Listening) {
        s->backlog = backlog;
        return {};
    }
    if (s->state != Impl::State::Fresh || !s->pcb) return Error{EINVAL, "socket is connected"};
    if (!s->pcb->local_port) {  // Linux binds an ephemeral port
        if (s->reuseaddr) ip_set_option(s->pcb, SOF_REUSEADDR);
        err_t e = tcp_bind(s->pcb, s->domain == AF_INET ? IP4_ADDR_ANY : (s->v6only ? IP6_ADDR_ANY : IP_ANY_TYPE), 0);
        if (e != ERR_OK) return Error{errno_of(e), "bind"};
    }
    err_t err = ERR_OK;
    tcp_pcb* pcb = s->pcb;
    Impl::detach(pcb);
    tcp_pcb* l = tcp_listen_with_backlog_and_err(pcb, u8_t(std::min(backlog, 255)), &err);
    if (!l) {
        impl_->attach(*s, pcb);  // unchanged on failure
        return Error{errno_of(err), "listen"};
    }
    s->pcb = l;
    s->backlog = backlog;
    s->state = Impl::State::Listening;
    tcp_arg(l, s);
    tcp_accept(l, Impl::on_accept);
    return {};
}

Status SocketEngine::connect(ino_t ino, int space_fd, const sockaddr* addr, socklen_t len) {
    CoreLock lock;
    auto* s = impl_->find(ino);
    if (!s) return Error{ENOTSOCK, "not an emulated socket"};
    if (s->type != SOCK_STREAM) {
        if (s->retired) return Error{EINVAL, "socket closed"};
        if (len >= socklen_t(sizeof(sa_family_t)) && addr->sa_family == AF_UNSPEC) {
            if (s->upcb) udp_disconnect(s->upcb);
            if (s->rpcb) raw_disconnect(s->rpcb);
            s->udp_connected = false;
            return {};
        }
        ip_addr_t ip;
        u16_t port;
        if (auto st = from_sockaddr(s->domain, addr, len, false, &ip, &port); !st) return st;
        err_t e = s->rpcb ? raw_connect(s->rpcb, &ip) : udp_connect(s->upcb, &ip, port);
        if (e != ERR_OK) return Error{errno_of(e), "connect"};
        s->udp_connected = true;
        return {};
    }
    switch (s->state) {
        case Impl::State::Connecting: return Error{EALREADY, "connecting"};
        case Impl::State::Connected: return Error{EISCONN, "connected"};
        case Impl::State::Listening: return Error{EISCONN, "listening"};
        case Impl::State::Failed:
        case Impl::State::Closed: return Error{ECONNABORTED, "socket failed before"};
        case Impl::State::Fresh: break;
    }
    if (!s->pcb) return Error{EBADF, "socket"};
    ip_addr_t ip;
    u16_t port;
    if (auto st = from_sockaddr(s->domain, addr, len, false, &ip, &port); !st) return st;
    if (s->v6only && IP_IS_V4(&ip)) return Error{ENETUNREACH, "IPv4 destination on an IPv6-only socket"};
    if (port == 0) return Error{ECONNREFUSED, "port 0"};
    // Bytes written before connect went nowhere on Linux (EPIPE): drop them,
    // so that the stream starts with what is written from now on.
    {
        uint8_t junk[16384];
        while (::read(s->host.get(), junk, sizeof junk) > 0) {
        }
    }
    // Gate the space end: fill its send buffer so that it polls writable only
    // once the handshake has ended (the filler is discarded then).
    static const uint8_t zeros[65536] = {};
    size_t gate = 0;
    while (gate < kGateLimit) {
        ssize_t n = ::send(space_fd, zeros, sizeof zeros, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            break;
        }
        gate += size_t(n);
    }
    s->gate = gate;
    if (s->keepalive) ip_set_option(s->pcb, SOF_KEEPALIVE);
    err_t e = tcp_connect(s->pcb, &ip, port, Impl::on_connected);
    if (e != ERR_OK) {
        impl_->open_gate(*s);
        return Error{errno_of(e), "connect"};
    }
    s->state = Impl::State::Connecting;
    return Error{EINPROGRESS, "connecting"};
}

Status SocketEngine::connect_result(ino_t ino) {
    CoreLock lock;
    auto* s = impl_->find(ino);
    if (!s) return Error{ENOTSOCK, "not an emulated socket"};
    switch (s->state) {
        case Impl::State::Connecting: return Error{EINPROGRESS, "connecting"};
        case Impl::State::Failed: {
            int e = s->so_error ? s->so_error : ECONNABORTED;
            s->so_error = 0;
            s->state = Impl::State::Closed;
            return Error{e, "connect"};
        }
        case Impl::State::Closed: return Error{ECONNABORTED, "connect"};
        default: return {};
    }
}

Result<Accepted> SocketEngine::accept(ino_t ino, int space_fd) {
    CoreLock lock;
    auto* s = impl_->find(ino);
    if (!s) return Error{ENOTSOCK, "not an emulated socket"};
    if (s->type != SOCK_STREAM) return Error{EOPNOTSUPP, "accept on a datagram socket"};
    if (s->state != Impl::State::Listening) return Error{EINVAL, "not listening"};
    while (!s->queue.empty()) {
        Impl::Pending p = std::move(s->queue.front());
        s->queue.pop_front();
        char byte;
        (void)!::recv(space_fd, &byte, 1, MSG_DONTWAIT);  // one byte per waiting connection
        auto it = impl_->socks.find(p.id);
        if (it == impl_->socks.end()) continue;  // went away meanwhile
        Impl::Sock& c = *it->second;
        Accepted a;
        a.space_end = std::move(p.space_end);
        if (c.pcb) {
            a.peer = to_sockaddr(c.domain, &c.pcb->remote_ip, c.pcb->remote_port);
        } else {
            a.peer = to_sockaddr(c.domain, nullptr, 0);  // reset before accept: Linux hands it out too
        }
        return a;
    }
    return Error{EAGAIN, "no connection waiting"};
}

Result<SocketAddress> SocketEngine::sockname(ino_t ino) const {
    CoreLock lock;
    auto* s = impl_->find(ino);
    if (!s) return Error{ENOTSOCK, "not an emulated socket"};
    if (s->type == SOCK_STREAM) {
        if (!s->pcb) return to_sockaddr(s->domain, nullptr, 0);
        return to_sockaddr(s->domain, &s->pcb->local_ip, s->pcb->local_port);
    }
    if (s->retired) return to_sockaddr(s->domain, nullptr, 0);
    ip_addr_t local = s->rpcb ? s->rpcb->local_ip : s->upcb->local_ip;
    const ip_addr_t& remote = s->rpcb ? s->rpcb->remote_ip : s->upcb->remote_ip;
    u16_t port = s->rpcb ? (s->icmp_raw ? 0 : s->ident) : s->upcb->local_port;
    if (s->udp_connected && ip_addr_isany(&local) && impl_->stack) {
        // Bound to the wildcard but connected: the address a packet to the
        // peer leaves from, as Linux reports it (ours of the peer's family).
        for (auto& a : impl_->stack->local_addresses()) {
            if (a.family == AF_INET && IP_IS_V4(&remote)) {
                uint32_t v4;
                std::memcpy(&v4, a.bytes.data(), 4);
                ip_addr_set_ip4_u32_val(local, v4);
                break;
            }
            if (a.family == AF_INET6 && IP_IS_V6(&remote)) {
                ip6_addr_t a6;
                std::memcpy(a6.addr, a.bytes.data(), 16);
                ip6_addr_clear_zone(&a6);
                ip_addr_copy_from_ip6(local, a6);
                break;
            }
        }
    }
    return to_sockaddr(s->domain, &local, port);
}

Result<SocketAddress> SocketEngine::peername(ino_t ino) const {
    CoreLock lock;
    auto* s = impl_->find(ino);
    if (!s) return Error{ENOTSOCK, "not an emulated socket"};
    if (s->type == SOCK_STREAM) {
        if (s->state != Impl::State::Connected || !s->pcb) return Error{ENOTCONN, "not connected"};
        return to_sockaddr(s->domain, &s->pcb->remote_ip, s->pcb->remote_port);
    }
    if (!s->udp_connected || s->retired) return Error{ENOTCONN, "not connected"};
    if (s->rpcb) return to_sockaddr(s->domain, &s->rpcb->remote_ip, 0);
    return to_sockaddr(s->domain, &s->upcb->remote_ip, s->upcb->remote_port);
}

Status SocketEngine::shutdown(ino_t ino, int space_fd, int how) {
    CoreLock lock;
    auto* s = impl_->find(ino);
    if (!s) return Error{ENOTSOCK, "not an emulated socket"};
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) return Error{EINVAL, "how"};
    if (s->type == SOCK_STREAM && s->state != Impl::State::Connected && s->state != Impl::State::Failed)
        return Error{ENOTCONN, "not connected"};
    if (s->type != SOCK_STREAM && !s->udp_connected) return Error{ENOTCONN, "not connected"};
    // Shutting down the space end does what the process expects locally (EOF
    // for its reads, EPIPE for its writes); our end then reads EOF, which the
    // pump turns into a FIN after the data written before it.
    if (::shutdown(space_fd, how) < 0) return last_error("shutdown");
    if ((how == SHUT_RD || how == SHUT_RDWR) && s->pcb && s->type == SOCK_STREAM) {
        if (s->in) {
            pbuf_free(s->in);
            s->in = nullptr;
        }
    }
    return {};
}

Status SocketEngine::setsockopt(ino_t ino, int space_fd, int level, int name, const void* value, socklen_t len) {
    CoreLock lock;
    auto* s = impl_->find(ino);
    if (!s) return Error{ENOTSOCK, "not an emulated socket"};
    int v = 0;
    if (len >= socklen_t(sizeof(int))) std::memcpy(&v, value, sizeof v);
    auto need_int = [&]() -> Status {
        if (len < socklen_t(sizeof(int))) return Error{EINVAL, "option length"};
        return {};
    };
    if (level == SOL_SOCKET) {
        switch (name) {
            case SO_REUSEADDR:
            case SO_REUSEPORT:
                if (auto st = need_int(); !st) return st;
                s->reuseaddr = v != 0;
                return {};
            case SO_KEEPALIVE:
                if (auto st = need_int(); !st) return st;
                s->keepalive = v != 0;
                if (s->pcb) {
                    if (v) ip_set_option(s->pcb, SOF_KEEPALIVE);
                    else ip_reset_option(s->pcb, SOF_KEEPALIVE);
                }
                return {};
            case SO_BROADCAST:
            case SO_LINGER:
            case SO_OOBINLINE:
            case SO_PRIORITY:
            case SO_DONTROUTE:
                return {};  // accepted; no effect on a tunnel
        }
        if (bridge_option(name)) {
            // Native reads and writes meet the space end: the option belongs there.
            if (::setsockopt(space_fd, level, name, value, len) < 0) return last_error("setsockopt");
            return {};
        }
        return Error{ENOPROTOOPT, "socket option"};
    }
    if (level == IPPROTO_TCP) {
        if (s->type != SOCK_STREAM) return Error{ENOPROTOOPT, "TCP option on a UDP socket"};
        if (auto st = need_int(); !st) return st;
        tcp_pcb* p = Impl::active(*s);
        switch (name) {
            case TCP_NODELAY:
                s->nodelay = v != 0;
                if (p) {
                    if (v) tcp_nagle_disable(p);
                    else tcp_nagle_enable(p);
                }
                return {};
            case TCP_KEEPIDLE:
                if (v < 1) return Error{EINVAL, "TCP_KEEPIDLE"};
                if (p) p->keep_idle = u32_t(v) * 1000;
                return {};
            case TCP_KEEPINTVL:
                if (v < 1) return Error{EINVAL, "TCP_KEEPINTVL"};
                if (p) p->keep_intvl = u32_t(v) * 1000;
                return {};
            case TCP_KEEPCNT:
                if (v < 1) return Error{EINVAL, "TCP_KEEPCNT"};
                if (p) p->keep_cnt = u32_t(v);
                return {};
            case TCP_CORK:
            case TCP_QUICKACK:
            case TCP_DEFER_ACCEPT:
            case TCP_MAXSEG:
            case TCP_USER_TIMEOUT:
            case TCP_NOTSENT_LOWAT:
                return {};  // accepted; lwIP has no such knob
        }
        return Error{ENOPROTOOPT, "TCP option"};
    }
    if (level == IPPROTO_IPV6) {
        if (s->domain != AF_INET6) return Error{ENOPROTOOPT, "IPv6 option on an IPv4 socket"};
        if (auto st = need_int(); !st) return st;
        switch (name) {
            case IPV6_V6ONLY:
                if ((s->type == SOCK_STREAM && s->state != Impl::State::Fresh) || (s->pcb && s->pcb->local_port) ||
                    (s->type != SOCK_STREAM && s->udp_connected) || (s->upcb && s->upcb->local_port))
                    return Error{EINVAL, "IPV6_V6ONLY after bind"};
                s->v6only = v != 0;
                return {};
            case IPV6_TCLASS:
            case IPV6_UNICAST_HOPS:
            case IPV6_RECVPKTINFO:
            case IPV6_MTU_DISCOVER:
                return {};
        }
        return Error{ENOPROTOOPT, "IPv6 option"};
    }
    if (level == IPPROTO_IP) {
        if (auto st = need_int(); !st) return st;
        switch (name) {
            case IP_TOS:
                if (s->pcb) s->pcb->tos = u8_t(v);
                if (s->upcb) s->upcb->tos = u8_t(v);
                if (s->rpcb) s->rpcb->tos = u8_t(v);
                return {};
            case IP_TTL:
                if (v < 1 || v > 255) return Error{EINVAL, "IP_TTL"};
                if (s->pcb) s->pcb->ttl = u8_t(v);
                if (s->upcb) s->upcb->ttl = u8_t(v);
                if (s->rpcb) s->rpcb->ttl = u8_t(v);
                return {};
            case IP_RECVERR:
            case IP_MTU_DISCOVER:
            case IP_PKTINFO:
                return {};
        }
        return Error{ENOPROTOOPT, "IP option"};
    }
    if ((level == IPPROTO_ICMPV6 || level == SOL_RAW) && s->type != SOCK_STREAM && (s->rpcb || s->retired)) {
        // ICMP filters (ICMP6_FILTER, ICMP_FILTER): accepted, not applied;
        // ping programs check the type of what they receive anyway.
        return {};
    }
    return Error{ENOPROTOOPT, "option level"};
}

Result<std::vector<uint8_t>> SocketEngine::getsockopt(ino_t ino, int space_fd, int level, int name, socklen_t max) {
    CoreLock lock;
    auto* s = impl_->find(ino);
    if (!s) return Error{ENOTSOCK, "not an emulated socket"};
    auto as_int = [&](int v) {
        std::vector<uint8_t> out(sizeof v);
        std::memcpy(out.data(), &v, sizeof v);
        if (out.size() > max) out.resize(max);
        return out;
    };
    if (level == SOL_SOCKET) {
        switch (name) {
            case SO_ERROR: {
                int e = s->so_error;
                s->so_error = 0;
                if (s->state == Impl::State::Failed) s->state = Impl::State::Closed;
                return as_int(e);
            }
            case SO_TYPE: return as_int(s->type);
            case SO_DOMAIN: return as_int(s->domain);
            case SO_PROTOCOL:
                if (s->type == SOCK_STREAM) return as_int(IPPROTO_TCP);
                if (s->type == SOCK_RAW || s->ident) return as_int(s->domain == AF_INET ? int(IPPROTO_ICMP) : int(IPPROTO_ICMPV6));
                return as_int(IPPROTO_UDP);
            case SO_ACCEPTCONN: return as_int(s->state == Impl::State::Listening);
            case SO_REUSEADDR:
            case SO_REUSEPORT: return as_int(s->reuseaddr);
            case SO_KEEPALIVE: return as_int(s->keepalive);
            case SO_BROADCAST:
            case SO_OOBINLINE:
            case SO_DONTROUTE: return as_int(0);
        }
        if (bridge_option(name) || name == SO_LINGER) {
            std::vector<uint8_t> out(std::max<socklen_t>(max, 0));
            socklen_t l = max;
            if (::getsockopt(space_fd, level, name, out.data(), &l) < 0) return last_error("getsockopt");
            out.resize(l);
            return out;
        }
        return Error{ENOPROTOOPT, "socket option"};
    }
    if (level == IPPROTO_TCP) {
        if (s->type != SOCK_STREAM) return Error{ENOPROTOOPT, "TCP option on a UDP socket"};
        tcp_pcb* p = Impl::active(*s);
        switch (name) {
            case TCP_NODELAY: return as_int(s->nodelay);
            case TCP_MAXSEG: return as_int(p ? tcp_mss(p) : TCP_MSS);
            case TCP_KEEPIDLE: return as_int(p ? int(p->keep_idle / 1000) : 7200);
            case TCP_KEEPINTVL: return as_int(p ? int(p->keep_intvl / 1000) : 75);
            case TCP_KEEPCNT: return as_int(p ? int(p->keep_cnt) : 9);
            case TCP_CORK:
            case TCP_QUICKACK: return as_int(0);
            case TCP_INFO: {
                tcp_info ti{};
                ti.tcpi_state = s->state == Impl::State::Connected   ? TCP_ESTABLISHED
                                : s->state == Impl::State::Listening ? TCP_LISTEN
                                : s->state == Impl::State::Connecting ? TCP_SYN_SENT
                                                                : TCP_CLOSE;
                if (p) {
                    ti.tcpi_snd_mss = tcp_mss(p);
                    ti.tcpi_rcv_mss = tcp_mss(p);
                    ti.tcpi_snd_cwnd = u32_t(p->cwnd / std::max<u16_t>(tcp_mss(p), 1));
                    ti.tcpi_snd_ssthresh = u32_t(p->ssthresh / std::max<u16_t>(tcp_mss(p), 1));
                    ti.tcpi_rtt = u32_t(p->sa >> 3) * kSlowTimerMs * 1000;  // lwIP keeps it in ticks
                    ti.tcpi_rttvar = u32_t(p->sv >> 2) * kSlowTimerMs * 1000;
                    ti.tcpi_rcv_space = p->rcv_wnd;
                    ti.tcpi_unacked = p->snd_queuelen;
                }
                std::vector<uint8_t> out(sizeof ti);
                std::memcpy(out.data(), &ti, sizeof ti);
                if (out.size() > max) out.resize(max);
                return out;
            }
            case TCP_CONGESTION: {
                std::string cc = "reno";  // what lwIP does
                std::vector<uint8_t> out(std::min<size_t>(max, 16), 0);
                std::memcpy(out.data(), cc.data(), std::min(cc.size(), out.size()));
                return out;
            }
        }
        return Error{ENOPROTOOPT, "TCP option"};
    }
    if (level == IPPROTO_IPV6 && s->domain == AF_INET6) {
        if (name == IPV6_V6ONLY) return as_int(s->v6only);
        return Error{ENOPROTOOPT, "IPv6 option"};
    }
    if (level == IPPROTO_IP) {
        if (name == IP_TOS) return as_int(s->pcb ? s->pcb->tos : s->upcb ? s->upcb->tos : s->rpcb ? s->rpcb->tos : 0);
        if (name == IP_TTL) return as_int(s->pcb ? s->pcb->ttl : s->upcb ? s->upcb->ttl : s->rpcb ? s->rpcb->ttl : 64);
        return Error{ENOPROTOOPT, "IP option"};
    }
    return Error{ENOPROTOOPT, "option level"};
}

Result<size_t> SocketEngine::sendto(ino_t ino, const void* data, size_t len, const sockaddr* addr, socklen_t alen) {
    CoreLock lock;
    auto* s = impl_->find(ino);
    if (!s) return Error{ENOTSOCK, "not an emulated socket"};
    if (s->type == SOCK_STREAM) return Error{EISCONN, "address on a stream socket"};
    if (s->retired) return Error{EPIPE, "socket closed"};
    ip_addr_t ip;
    u16_t port;
    if (auto st = from_sockaddr(s->domain, addr, alen, false, &ip, &port); !st) return st.error();
    if (s->v6only && IP_IS_V4(&ip)) return Error{ENETUNREACH, "IPv4 destination on an IPv6-only socket"};
    if (s->rpcb) {  // ICMP: no port
        err_t e = impl_->send_icmp(*s, static_cast<const uint8_t*>(data), len, &ip);
        if (e != ERR_OK) {
            if (e != ERR_VAL) ++impl_->counters.udp_tx_failed;
            return Error{errno_of(e), "sendto"};
        }
        return len;
    }
    if (port == 0) return Error{EINVAL, "port 0"};
    if (len > kMaxDatagram - 8 - (IP_IS_V4(&ip) ? 20 : 0)) return Error{EMSGSIZE, "datagram too large"};
    err_t e = impl_->send_udp(*s, data, len, &ip, port);
    if (e != ERR_OK) {
        ++impl_->counters.udp_tx_failed;
        return Error{errno_of(e), "sendto"};
    }
    return len;
}

DatagramSource SocketEngine::source_of(ino_t ino, const uint8_t* data, size_t len, bool peek) {
    CoreLock lock;
    DatagramSource r;
    auto* s = impl_->find(ino);
    if (!s) return r;
    uint64_t h = fnv1a(data, len);
    // Datagrams the process read natively (read, recv) left their entries
    // behind: skip them until this datagram's.
    for (auto it = s->sources.begin(); it != s->sources.end(); ++it) {
        if (it->len != len || it->hash != h) continue;
        r.known = true;
        r.from = it->from;
        if (!peek) s->sources.erase(s->sources.begin(), it + 1);
        return r;
    }
    ++impl_->counters.source_unknown;
    return r;
}

size_t SocketEngine::retired() const {
    CoreLock lock;
    return impl_->retired_count;
}

size_t SocketEngine::collect(const std::function<bool(ino_t)>& held) {
    CoreLock lock;
    std::vector<Impl::Sock*> gone;
    for (auto& [id, s] : impl_->socks)
        if (s->retired && !held(s->ino)) gone.push_back(s.get());
    for (auto* s : gone) impl_->destroy(*s);
    return gone.size();
}

bool SocketEngine::drain(int limit_ms, int stall_ms) {
    using clock = std::chrono::steady_clock;
    auto until = clock::now() + std::chrono::milliseconds(limit_ms);
    auto progress_at = clock::now();
    uint64_t last = ~0ull;
    for (;;) {
        uint64_t pending = 0;  // bytes not yet acknowledged by the peers
        {
            CoreLock lock;
            for (auto& [id, s] : impl_->socks) {
                if (s->type != SOCK_STREAM || s->state != Impl::State::Connected || s->retired) continue;
                int queued = 0;
                if (::ioctl(s->host.get(), FIONREAD, &queued) == 0 && queued > 0) pending += uint64_t(queued);
                pending += s->stage_len - s->stage_off;
            }
            // Closed sockets live on in lwIP until their data and FIN are acknowledged.
            // (A connection still being set up carries no data yet.)
            for (tcp_pcb* p = tcp_active_pcbs; p; p = p->next)
                if (p->state != SYN_SENT && p->state != SYN_RCVD &&
                    (p->unsent || p->unacked || p->state == FIN_WAIT_1 || p->state == CLOSING || p->state == LAST_ACK))
                    pending += 1 + (p->snd_lbb - p->lastack);
        }
        if (!pending) return true;
        auto now = clock::now();
        if (pending != last) {
            last = pending;
            progress_at = now;
        }
        // A peer that stopped acknowledging (gone, or its tunnel down) is
        // not waited for: the kernel would keep retrying, we cannot.
        if (now >= until || now - progress_at >= std::chrono::milliseconds(stall_ms)) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

const SocketCounters& SocketEngine::counters() const { return impl_->counters; }

}  // namespace hsbox::netstack
