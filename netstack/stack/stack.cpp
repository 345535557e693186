// lwIP glue: one netif whose output is the ESP tunnel, one receiver thread
// feeding authenticated inner packets to ip_input. See stack.hpp.
#include "hsbox/netstack/stack.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "hsbox/fd.hpp"
#include "hsbox/log.hpp"

extern "C" {
#include <lwip/ip.h>
#include <lwip/ip6_addr.h>
#include <lwip/netif.h>
#include <lwip/pbuf.h>
#include <lwip/tcpip.h>
}

namespace hsbox::netstack {

namespace {

constexpr size_t kBatch = 32;      // datagrams per recvmmsg
constexpr size_t kSlot = 2048;     // an inner MTU of 1400 + ESP fits; larger is hostile
constexpr int kSocketBuffer = 4 << 20;

std::atomic<bool> g_running{false};
std::once_flag g_lwip_once;

InnerAddress from_ip4(const ip4_addr_t* a) {
    InnerAddress r;
    r.family = AF_INET;
    std::memcpy(r.bytes.data(), &a->addr, 4);
    return r;
}

InnerAddress from_ip6(const ip6_addr_t* a) {
    InnerAddress r;
    r.family = AF_INET6;
    std::memcpy(r.bytes.data(), a->addr, 16);
    return r;
}

}  // namespace

struct Stack::Impl {
    TunnelConfig config;
    std::unique_ptr<Tunnel> tunnel;
    Fd udp;   // receives; also sends unless `tx` is set
    Fd tx;    // the shared UDP socket when behind an SpiDispatcher
    Fd stop;  // eventfd: tells the receiver thread to leave
    // Serialises Tunnel::open (the replay windows) between the receiver thread
    // and input_datagram(); uncontended in normal operation.
    std::mutex open_mu;
    std::thread rx;
    struct netif nif {};
    bool nif_added = false;
    std::vector<uint8_t> txbuf = std::vector<uint8_t>(65536);  // used under the core lock only
    uint16_t port = 0;

    // Output batching. While the receiver thread runs lwIP input (core lock
    // held), what lwIP sends in reaction — ACKs, and on a sender the data that
    // ACKs release — is sealed into `batch` and sent with one sendmmsg before
    // the lock is released, so order on the wire is the order of sealing.
    // Output from any other context is sent at once.
    static constexpr size_t kOutBatch = 64;
    static constexpr size_t kOutSlot = 1600;  // kInnerMtu + ESP overhead fits
    std::vector<uint8_t> batch = std::vector<uint8_t>(kOutBatch * kOutSlot);
    mmsghdr out_msgs[kOutBatch];
    iovec out_iov[kOutBatch];
    size_t batched = 0;
    bool batching = false;  // true only in the receiver thread, under the core lock
    std::function<void()> batch_hook;  // the socket engine's deferred work, per batch

    int tx_fd() const { return tx ? tx.get() : udp.get(); }

    void flush() {
        for (size_t done = 0; done < batched;) {
            int n = ::sendmmsg(tx_fd(), out_msgs + done, unsigned(batched - done), 0);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) continue;
                tunnel->counters().tx_errors += batched - done;
                break;
            }
            done += size_t(n);
        }
        batched = 0;
    }

    // Seals `p` for the peer owning `dst` and sends (or batches) it. Runs with
    // the lwIP core lock held (lwIP's thread or an API caller), so txbuf and
    // the batch need no other lock.
    err_t emit(struct pbuf* p, const InnerAddress& dst) {
        long peer = tunnel->find_peer(dst);
        if (peer < 0) {
            ++tunnel->counters().tx_no_route;
            return ERR_RTE;
        }
        size_t len = p->tot_len;
        const Endpoint& ep = config.peers[size_t(peer)].endpoint;
        if (batching && len + kEspOverhead <= kOutSlot) {
            uint8_t* slot = batch.data() + batched * kOutSlot;
            pbuf_copy_partial(p, slot + kEspHeaderLen + kEspIvLen, uint16_t(len), 0);
            auto n = tunnel->seal(size_t(peer), slot + kEspHeaderLen + kEspIvLen, len, slot, kOutSlot);
            if (!n) return ERR_OK;  // counted
            out_iov[batched] = {slot, *n};
            mmsghdr& m = out_msgs[batched];
            std::memset(&m, 0, sizeof m);
            m.msg_hdr.msg_name = const_cast<sockaddr_storage*>(&ep.addr);
            m.msg_hdr.msg_namelen = ep.len;
            m.msg_hdr.msg_iov = &out_iov[batched];
            m.msg_hdr.msg_iovlen = 1;
            if (++batched == kOutBatch) flush();
            return ERR_OK;
        }
        if (batched) flush();  // keep wire order
        if (len + kEspOverhead > txbuf.size()) {
            ++tunnel->counters().tx_errors;
            return ERR_OK;
        }
        uint8_t* inner = txbuf.data() + kEspHeaderLen + kEspIvLen;  // seal works in place
        pbuf_copy_partial(p, inner, uint16_t(len), 0);
        auto n = tunnel->seal(size_t(peer), inner, len, txbuf.data(), txbuf.size());
        if (!n) return ERR_OK;  // counted (a spent SA drops rather than wraps)
        // A blocking send: a full socket buffer is back-pressure, not loss.
        if (::sendto(tx_fd(), txbuf.data(), *n, 0, reinterpret_cast<const sockaddr*>(&ep.addr), ep.len) < 0)
            ++tunnel->counters().tx_errors;
        return ERR_OK;
    }

    static err_t output4(struct netif* n, struct pbuf* p, const ip4_addr_t* dst) {
        return static_cast<Impl*>(n->state)->emit(p, from_ip4(dst));
    }
    static err_t output6(struct netif* n, struct pbuf* p, const ip6_addr_t* dst) {
        return static_cast<Impl*>(n->state)->emit(p, from_ip6(dst));
    }
    static err_t init_netif(struct netif* n) {
        n->name[0] = 'h';
        n->name[1] = 's';
        n->output = output4;
        n->output_ip6 = output6;
        n->mtu = kInnerMtu;
        n->mtu6 = kInnerMtu;
        // No ARP/ND, no IGMP/MLD: a point-to-multipoint tunnel, nothing to discover.
        n->flags = 0;
        return ERR_OK;
    }

    // Turns one authenticated inner packet into a pbuf; nullptr if out of memory.
    static struct pbuf* to_pbuf(const Opened& o) {
        struct pbuf* p = pbuf_alloc(PBUF_RAW, uint16_t(o.len), PBUF_RAM);
        if (p) pbuf_take(p, o.packet, uint16_t(o.len));
        return p;
    }

    void deliver(struct pbuf** ps, size_t n) {
        if (!n) return;
        LOCK_TCPIP_CORE();
        batching = true;
        for (size_t i = 0; i < n; ++i) nif.input(ps[i], &nif);  // ip_input consumes the pbuf
        if (batch_hook) batch_hook();
        batching = false;
        flush();
        UNLOCK_TCPIP_CORE();
    }

    void receive_loop() {
        std::vector<uint8_t> bufs(kBatch * kSlot);
        mmsghdr msgs[kBatch];
        iovec iov[kBatch];
        struct pbuf* ready[kBatch];
        pollfd fds[2] = {{udp.get(), POLLIN, 0}, {stop.get(), POLLIN, 0}};
        for (;;) {
            if (::poll(fds, 2, -1) < 0) {
                if (errno == EINTR) continue;
                LOG_ERROR("netstack: poll: %s", std::strerror(errno));
                return;
            }
            if (fds[1].revents) return;
            for (;;) {
                for (size_t i = 0; i < kBatch; ++i) {
                    iov[i] = {bufs.data() + i * kSlot, kSlot};
                    std::memset(&msgs[i], 0, sizeof msgs[i]);
                    msgs[i].msg_hdr.msg_iov = &iov[i];
                    msgs[i].msg_hdr.msg_iovlen = 1;
                }
                int got = ::recvmmsg(udp.get(), msgs, kBatch, MSG_DONTWAIT, nullptr);
                if (got == 0) {  // EOF: the dispatcher's end of a socketpair closed
                    LOG_ERROR("netstack: the tunnel's receive socket was closed");
                    return;
                }
                // < 0: EAGAIN, or an ICMP error reported (and thereby cleared) on the UDP socket
                if (got < 0) break;
                size_t nready = 0;
                std::unique_lock<std::mutex> opening(open_mu);
                for (int i = 0; i < got; ++i) {
                    uint8_t* b = bufs.data() + size_t(i) * kSlot;
                    if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
                        ++tunnel->counters().rx_drops[static_cast<size_t>(Drop::Malformed)];
                        continue;
                    }
                    auto r = tunnel->open(b, msgs[i].msg_len);
                    if (!r.ok) continue;  // counted by the tunnel
                    if (struct pbuf* p = to_pbuf(r.opened)) ready[nready++] = p;
                }
                opening.unlock();
                deliver(ready, nready);
                if (size_t(got) < kBatch) break;
            }
        }
    }
};

Result<std::unique_ptr<Stack>> Stack::start(const TunnelConfig& config) {
    if (g_running) return Error{EBUSY, "a netstack already runs in this process (lwIP has global state)"};
    const Endpoint& le = config.local_endpoint;
    int fd = ::socket(le.addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return last_error("tunnel socket");
    StackSockets socks;
    socks.rx.reset(fd);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&le.addr), le.len) != 0)
        return last_error("bind tunnel socket to " + le.text);
    return start(config, std::move(socks));
}

Result<std::unique_ptr<Stack>> Stack::start(const TunnelConfig& config, StackSockets sockets) {
    if (!sockets.rx) return Error{EINVAL, "netstack: no receive socket"};
    bool expected = false;
    if (!g_running.compare_exchange_strong(expected, true))
        return Error{EBUSY, "a netstack already runs in this process (lwIP has global state)"};
    struct Release {
        bool armed = true;
        ~Release() {
            if (armed) g_running = false;
        }
    } release;

    std::unique_ptr<Stack> s(new Stack);
    s->impl_ = std::make_unique<Impl>();
    Impl& im = *s->impl_;
    im.config = config;
    int v4 = 0;
    for (auto& a : config.local_addresses) v4 += a.family == AF_INET;
    if (v4 > 1) return Error{EINVAL, config.path + ": lwIP's interface holds one IPv4 address; give at most one"};
    if (config.local_addresses.size() - size_t(v4) > LWIP_IPV6_NUM_ADDRESSES)
        return Error{EINVAL, config.path + ": too many IPv6 addresses"};
    // Keys are static: this run's epoch keeps its IVs apart from every earlier run's.
    auto peers = config.tunnel_peers();
    uint32_t epoch = Tunnel::fresh_epoch();
    for (auto& p : peers) p.epoch = epoch;
    auto t = Tunnel::create(config.local_addresses, std::move(peers));
    if (!t) return t.error();
    im.tunnel = std::move(*t);

    im.udp = std::move(sockets.rx);
    im.tx = std::move(sockets.tx);
    int sz = kSocketBuffer;
    (void)setsockopt(im.udp.get(), SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);  // best effort: capped by rmem_max
    (void)setsockopt(im.tx_fd(), SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    sockaddr_storage bound{};
    socklen_t bl = sizeof bound;
    getsockname(im.tx_fd(), reinterpret_cast<sockaddr*>(&bound), &bl);
    im.port = ntohs(bound.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                               : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
    int ev = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ev < 0) return last_error("eventfd");
    im.stop.reset(ev);

    init_lwip();

    LOCK_TCPIP_CORE();
    ip4_addr_t a4, mask, gw;
    ip4_addr_set_zero(&a4);
    ip4_addr_set_zero(&gw);
    // A /32: no on-link subnet. Peers are reached because this is the default
    // interface and output() routes by peer address.
    IP4_ADDR(&mask, 255, 255, 255, 255);
    for (auto& a : config.local_addresses)
        if (a.family == AF_INET) std::memcpy(&a4.addr, a.bytes.data(), 4);
    netif_add(&im.nif, &a4, &mask, &gw, &im, Impl::init_netif, ip_input);
    im.nif_added = true;
    s8_t slot = 0;
    for (auto& a : config.local_addresses) {
        if (a.family != AF_INET6) continue;
        ip6_addr_t a6;
        std::memcpy(a6.addr, a.bytes.data(), 16);
        ip6_addr_clear_zone(&a6);
        netif_ip6_addr_set(&im.nif, slot, &a6);
        netif_ip6_addr_set_state(&im.nif, slot, IP6_ADDR_PREFERRED);  // no DAD on a tunnel
        ++slot;
    }
    netif_set_ip6_autoconfig_enabled(&im.nif, 0);
    netif_set_default(&im.nif);
    netif_set_up(&im.nif);
    netif_set_link_up(&im.nif);
    im.nif.rs_count = 0;  // no router solicitations: there are no routers
    UNLOCK_TCPIP_CORE();

    im.rx = std::thread([&im] { im.receive_loop(); });
    release.armed = false;
    return s;
}

Stack::~Stack() {
    if (!impl_) return;
    Impl& im = *impl_;
    if (im.rx.joinable()) {
        uint64_t one = 1;
        (void)!::write(im.stop.get(), &one, sizeof one);
        im.rx.join();
    }
    if (im.nif_added) {
        LOCK_TCPIP_CORE();
        netif_set_down(&im.nif);
        netif_remove(&im.nif);
        UNLOCK_TCPIP_CORE();
    }
    g_running = false;
}

Status Stack::check_destination(const sockaddr* addr, socklen_t len) const {
    InnerAddress d;
    if (addr && addr->sa_family == AF_INET && len >= socklen_t(sizeof(sockaddr_in))) {
        d.family = AF_INET;
        std::memcpy(d.bytes.data(), &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, 4);
    } else if (addr && addr->sa_family == AF_INET6 && len >= socklen_t(sizeof(sockaddr_in6))) {
        const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&a)) {
            d.family = AF_INET;
            std::memcpy(d.bytes.data(), a.s6_addr + 12, 4);
        } else {
            d.family = AF_INET6;
            std::memcpy(d.bytes.data(), a.s6_addr, 16);
        }
    } else {
        return Error{EAFNOSUPPORT, "netstack: only IPv4/IPv6 destinations"};
    }
    if (impl_->tunnel->find_peer(d) < 0)
        return Error{ENETUNREACH, "netstack: " + d.to_string() + " is not behind a tunnel"};
    return {};
}

void Stack::init_lwip() {
    std::call_once(g_lwip_once, [] {
        // Debian's lwIP draws its first ephemeral port from rand() (LWIP_RAND).
        // Unseeded, every run would start at the same port, and a restarted
        // space would reuse the 4-tuple of its previous run's connections,
        // which the peer still holds in TIME-WAIT: its SYNs go unanswered.
        unsigned seed = 0;
        if (::getrandom(&seed, sizeof seed, 0) != sizeof seed) seed = unsigned(::getpid()) ^ unsigned(::time(nullptr));
        std::srand(seed);
        std::promise<void> done;
        tcpip_init([](void* arg) { static_cast<std::promise<void>*>(arg)->set_value(); }, &done);
        done.get_future().wait();
    });
}

bool Stack::in_input_batch() const { return impl_->batching; }

void Stack::set_input_batch_hook(std::function<void()> hook) {
    LOCK_TCPIP_CORE();
    impl_->batch_hook = std::move(hook);
    UNLOCK_TCPIP_CORE();
}

const std::vector<InnerAddress>& Stack::local_addresses() const { return impl_->config.local_addresses; }

const TunnelCounters& Stack::counters() const { return impl_->tunnel->counters(); }

uint16_t Stack::udp_port() const { return impl_->port; }

bool Stack::input_datagram(uint8_t* buf, size_t len) {
    std::unique_lock<std::mutex> opening(impl_->open_mu);
    auto r = impl_->tunnel->open(buf, len);
    opening.unlock();
    if (!r.ok) return false;
    struct pbuf* p = Impl::to_pbuf(r.opened);
    if (!p) return false;
    impl_->deliver(&p, 1);
    return true;
}

}  // namespace hsbox::netstack
