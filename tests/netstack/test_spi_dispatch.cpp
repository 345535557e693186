// One UDP endpoint shared by several spaces: the SPI dispatcher routes each
// datagram to the space owning its SPI, drops and counts the rest, and a slow
// space never holds up another.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "catch.hpp"
#include "esp_test_util.hpp"
#include "hsbox/netstack/spi_dispatch.hpp"
#include "hsbox/netstack/stack.hpp"

using namespace hsbox::netstack;
using namespace esptest;
using hsbox::Fd;

namespace {

Fd udp_on_loopback(uint16_t* port) {
    Fd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t l = sizeof a;
    getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &l);
    *port = ntohs(a.sin_port);
    return s;
}

void send_to(int fd, uint16_t port, const Bytes& d) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    REQUIRE(sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a) == ssize_t(d.size()));
}

Bytes with_spi(uint32_t spi, uint8_t tag, size_t len = 40) {
    Bytes d(len, tag);
    uint32_t n = htonl(spi);
    std::memcpy(d.data(), &n, 4);
    return d;
}

// The next datagram on `fd`, or empty after `ms`.
Bytes next(int fd, int ms = 2000) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, ms) <= 0) return {};
    Bytes b(4096);
    ssize_t n = recv(fd, b.data(), b.size(), 0);
    b.resize(n > 0 ? size_t(n) : 0);
    return b;
}

struct Running {
    std::unique_ptr<SpiDispatcher> d;
    std::thread t;
    explicit Running(std::unique_ptr<SpiDispatcher> disp) : d(std::move(disp)) {
        t = std::thread([this] { REQUIRE(d->run().ok()); });
    }
    ~Running() {
        d->stop();
        t.join();
    }
};

}  // namespace

TEST_CASE("the SPI dispatcher routes by SPI and counts what it cannot route", "[dispatch][invariant7]") {
    uint16_t port;
    auto disp = SpiDispatcher::create(udp_on_loopback(&port));
    REQUIRE(disp.ok());
    auto a = (*disp)->add_space({0x1001, 0x1002});
    auto b = (*disp)->add_space({0x2001});
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK((*disp)->add_space({0x1001}).code() == EEXIST);
    CHECK((*disp)->add_space({7}).code() == EINVAL);
    Running r(std::move(disp.value()));
    uint16_t sport;
    Fd sender = udp_on_loopback(&sport);
    send_to(sender.get(), port, with_spi(0x1001, 1));
    send_to(sender.get(), port, with_spi(0x2001, 2));
    send_to(sender.get(), port, with_spi(0x1002, 3));
    send_to(sender.get(), port, with_spi(0x9999, 4));
    send_to(sender.get(), port, with_spi(0, 5));      // IKE marker: no space speaks IKE
    send_to(sender.get(), port, Bytes{0xff});          // keepalive
    send_to(sender.get(), port, with_spi(0x1001, 6, 3000));  // larger than any ESP datagram we send
    send_to(sender.get(), port, with_spi(0x2001, 7));
    CHECK(next(a->get()) == with_spi(0x1001, 1));
    CHECK(next(a->get()) == with_spi(0x1002, 3));
    CHECK(next(b->get()) == with_spi(0x2001, 2));
    CHECK(next(b->get()) == with_spi(0x2001, 7));
    CHECK(next(a->get(), 300).empty());
    CHECK(r.d->counters().forwarded == 4);
    CHECK(r.d->counters().unknown_spi == 2);
    CHECK(r.d->counters().too_short == 1);
    CHECK(r.d->counters().too_long == 1);
}

TEST_CASE("a space that does not read loses its own datagrams, never another's", "[dispatch]") {
    uint16_t port;
    auto disp = SpiDispatcher::create(udp_on_loopback(&port));
    REQUIRE(disp.ok());
    auto slow = (*disp)->add_space({0x3001});
    auto fast = (*disp)->add_space({0x4001});
    Running r(std::move(disp.value()));
    uint16_t sport;
    Fd sender = udp_on_loopback(&sport);
    int got_fast = 0;
    for (int i = 0; i < 20000 && r.d->counters().space_full == 0; ++i) {
        send_to(sender.get(), port, with_spi(0x3001, 1, 1400));
        if (i % 50 == 0) {
            send_to(sender.get(), port, with_spi(0x4001, 2));
            got_fast += !next(fast->get()).empty();
        }
    }
    CHECK(r.d->counters().space_full > 0);
    send_to(sender.get(), port, with_spi(0x4001, 3));
    CHECK(next(fast->get()) == with_spi(0x4001, 3));
    CHECK(got_fast > 0);
    slow->reset();  // the space went away
    send_to(sender.get(), port, with_spi(0x3001, 4));
    send_to(sender.get(), port, with_spi(0x4001, 5));
    CHECK(next(fast->get()) == with_spi(0x4001, 5));
    CHECK(r.d->counters().space_gone == 1);
}

TEST_CASE("a stack behind the dispatcher answers through the shared socket", "[dispatch][stack]") {
    uint16_t port;
    auto disp = SpiDispatcher::create(udp_on_loopback(&port));
    REQUIRE(disp.ok());
    uint16_t peer_port;
    Fd peer_sock = udp_on_loopback(&peer_port);
    GcmKey to_stack = key(0x22), from_stack = key(0x62);

    TunnelConfig c;
    c.path = c.name = "test";
    c.local_endpoint = parse_endpoint("127.0.0.1:" + std::to_string(port)).value();
    c.local_addresses = {addr("10.77.0.1")};
    PeerConfig p;
    p.name = "peer";
    p.endpoint = parse_endpoint("127.0.0.1:" + std::to_string(peer_port)).value();
    p.addresses = {addr("10.77.0.2")};
    p.spi_in = 0x1001;
    p.spi_out = 0x2001;
    p.key_in = to_stack;
    p.key_out = from_stack;
    c.peers.push_back(p);

    StackSockets socks;
    socks.rx = std::move((*disp)->add_space({0x1001}).value());
    socks.tx = std::move((*disp)->send_socket().value());
    Running r(std::move(disp.value()));
    auto stack = Stack::start(c, std::move(socks));
    REQUIRE(stack.ok());
    CHECK((*stack)->udp_port() == port);  // replies leave from the shared endpoint

    auto peer = Tunnel::create({addr("10.77.0.2")}, {{{addr("10.77.0.1")}, 0x2001, 0x1001, from_stack, to_stack, 1}});
    REQUIRE(peer.ok());
    Bytes inner = ipv4_udp("10.77.0.2", "10.77.0.1", 16);
    inner[9] = 1;  // ICMP echo request: type 8, code 0, checksum over the ICMP part
    std::fill(inner.begin() + 20, inner.end(), 0);
    inner[20] = 8;
    uint16_t ck = csum(inner.data() + 20, inner.size() - 20);
    inner[22] = uint8_t(ck >> 8);
    inner[23] = uint8_t(ck);
    inner[10] = inner[11] = 0;
    ck = csum(inner.data(), 20);
    inner[10] = uint8_t(ck >> 8);
    inner[11] = uint8_t(ck);
    Bytes d(inner.size() + kEspOverhead);
    d.resize((*peer)->seal(0, inner.data(), inner.size(), d.data(), d.size()).value());
    send_to(peer_sock.get(), port, d);
    send_to(peer_sock.get(), port, with_spi(0x5555, 9));  // nobody's: stopped at the dispatcher

    sockaddr_in from{};
    socklen_t fl = sizeof from;
    pollfd pf{peer_sock.get(), POLLIN, 0};
    REQUIRE(poll(&pf, 1, 3000) == 1);
    Bytes reply(2048);
    ssize_t n = recvfrom(peer_sock.get(), reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
    REQUIRE(n > 0);
    CHECK(ntohs(from.sin_port) == port);
    auto o = (*peer)->open(reply.data(), size_t(n));
    REQUIRE(o.ok);
    CHECK(o.opened.packet[20] == 0);  // echo reply
    // The stray datagram went after the good one, and the dispatcher's thread
    // may not have reached it yet when the reply is here.
    for (int i = 0; i < 200 && r.d->counters().unknown_spi.load() == 0; ++i) usleep(10000);
    CHECK(r.d->counters().unknown_spi.load() == 1);
    CHECK((*stack)->counters().rx_packets == 1);
}
