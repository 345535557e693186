// The Stack in this process: lwIP behind the tunnel, driven from a kernel UDP
// socket that plays the peer with its own Tunnel (the mirror SAs).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "catch.hpp"
#include "esp_test_util.hpp"
#include "hsbox/fd.hpp"
#include "hsbox/netstack/stack.hpp"

using namespace hsbox::netstack;
using namespace esptest;

namespace {

sockaddr_in loopback(uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    return a;
}

// One Stack per process (lwIP is global): every test case shares it.
struct World {
    hsbox::Fd peer_sock;       // the peer's end of the tunnel (kernel UDP)
    std::unique_ptr<Tunnel> peer;  // the peer's SAs, mirroring the stack's
    std::unique_ptr<Stack> stack;
    GcmKey to_stack = key(0x21), from_stack = key(0x61, 32);

    World() {
        peer_sock.reset(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        sockaddr_in a = loopback(0);
        REQUIRE(bind(peer_sock.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        socklen_t l = sizeof a;
        getsockname(peer_sock.get(), reinterpret_cast<sockaddr*>(&a), &l);

        TunnelConfig c;
        c.path = "test";
        c.name = "test";
        auto lp = parse_endpoint("127.0.0.1:1").value();  // port replaced below: any free one
        reinterpret_cast<sockaddr_in*>(&lp.addr)->sin_port = 0;
        c.local_endpoint = lp;
        c.local_addresses = {addr("10.77.0.1"), addr("fd77::1")};
        PeerConfig p;
        p.name = "peer";
        p.endpoint = parse_endpoint("127.0.0.1:" + std::to_string(ntohs(a.sin_port))).value();
        p.addresses = {addr("10.77.0.2"), addr("fd77::2")};
        p.spi_in = 0x1001;
        p.spi_out = 0x2001;
        p.key_in = to_stack;
        p.key_out = from_stack;
        c.peers.push_back(p);
        auto s = Stack::start(c);
        INFO((s.ok() ? "" : s.error().message()));
        REQUIRE(s.ok());
        stack = std::move(s.value());
        peer = std::move(Tunnel::create({addr("10.77.0.2"), addr("fd77::2")},
                                        {{{addr("10.77.0.1"), addr("fd77::1")}, 0x2001, 0x1001, from_stack,
                                          to_stack, 1}})
                             .value());
    }

    void send(const Bytes& inner) {
        Bytes d(inner.size() + kEspOverhead);
        d.resize(peer->seal(0, inner.data(), inner.size(), d.data(), d.size()).value());
        send_raw(d);
    }
    void send_raw(const Bytes& d) {
        sockaddr_in to = loopback(stack->udp_port());
        REQUIRE(sendto(peer_sock.get(), d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
                ssize_t(d.size()));
    }
    // The next inner packet from the stack, or empty after `ms`.
    Bytes receive(int ms = 3000) {
        pollfd p{peer_sock.get(), POLLIN, 0};
        if (poll(&p, 1, ms) <= 0) return {};
        Bytes b(4096);
        ssize_t n = recv(peer_sock.get(), b.data(), b.size(), 0);
        if (n <= 0) return {};
        auto r = peer->open(b.data(), size_t(n));
        if (!r.ok) return {};
        return Bytes(r.opened.packet, r.opened.packet + r.opened.len);
    }
};

World& world() {
    static World w;
    return w;
}

Bytes icmp_echo(uint16_t seq) {
    Bytes p(28 + 4);
    p[0] = 0x45;
    p[3] = uint8_t(p.size());
    p[8] = 64;
    p[9] = 1;
    inet_pton(AF_INET, "10.77.0.2", &p[12]);
    inet_pton(AF_INET, "10.77.0.1", &p[16]);
    uint16_t c = csum(p.data(), 20);
    p[10] = uint8_t(c >> 8);
    p[11] = uint8_t(c);
    p[20] = 8;  // echo request
    p[24] = 0x12;
    p[25] = 0x34;
    p[26] = uint8_t(seq >> 8);
    p[27] = uint8_t(seq);
    p[28] = 'p'; p[29] = 'i'; p[30] = 'n'; p[31] = 'g';
    c = csum(p.data() + 20, p.size() - 20);
    p[22] = uint8_t(c >> 8);
    p[23] = uint8_t(c);
    return p;
}

}  // namespace

TEST_CASE("the stack answers an ICMP echo that came through the tunnel", "[stack]") {
    World& w = world();
    uint64_t rx = w.stack->counters().rx_packets;
    w.send(icmp_echo(1));
    Bytes r = w.receive();
    REQUIRE(r.size() == 32);
    CHECK(r[9] == 1);   // ICMP
    CHECK(r[20] == 0);  // echo reply
    char src[16];
    inet_ntop(AF_INET, &r[12], src, sizeof src);
    CHECK(std::string(src) == "10.77.0.1");
    CHECK(Bytes(r.begin() + 28, r.end()) == Bytes{'p', 'i', 'n', 'g'});
    CHECK(w.stack->counters().rx_packets == rx + 1);
}

TEST_CASE("a second stack in one process is refused", "[stack]") {
    World& w = world();
    TunnelConfig c;
    c.local_endpoint = parse_endpoint("127.0.0.1:1").value();
    auto again = Stack::start(c);
    CHECK(again.code() == EBUSY);
    CHECK(w.stack->udp_port() != 0);
}

TEST_CASE("check_destination allows tunnel peers only", "[stack][invariant5]") {
    World& w = world();
    auto dest = [&](const char* a) {
        sockaddr_storage ss{};
        socklen_t len;
        auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
        auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
        if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
            s4->sin_family = AF_INET;
            len = sizeof *s4;
        } else {
            REQUIRE(inet_pton(AF_INET6, a, &s6->sin6_addr) == 1);
            s6->sin6_family = AF_INET6;
            len = sizeof *s6;
        }
        return w.stack->check_destination(reinterpret_cast<sockaddr*>(&ss), len).code();
    };
    CHECK(dest("10.77.0.2") == 0);
    CHECK(dest("fd77::2") == 0);
    CHECK(dest("::ffff:10.77.0.2") == 0);
    for (const char* a : {"127.0.0.1", "10.77.0.1", "10.77.0.3", "0.0.0.0", "255.255.255.255", "::1", "::",
                          "fd77::1", "::ffff:127.0.0.1", "ff02::1", "192.0.2.1"}) {
        INFO(a);
        CHECK(dest(a) == ENETUNREACH);
    }
    {
        sockaddr s{};
        s.sa_family = AF_UNIX;
        CHECK(w.stack->check_destination(&s, sizeof s).code() == EAFNOSUPPORT);
        sockaddr_in shortone{};
        shortone.sin_family = AF_INET;
        CHECK(w.stack->check_destination(reinterpret_cast<sockaddr*>(&shortone), 4).code() == EAFNOSUPPORT);
    }
}

TEST_CASE("datagrams that fail the tunnel never reach lwIP and get no answer", "[stack][invariant7]") {
    World& w = world();
    Bytes ping = icmp_echo(2);
    Bytes d(ping.size() + kEspOverhead);
    d.resize(w.peer->seal(0, ping.data(), ping.size(), d.data(), d.size()).value());
    auto before = w.stack->counters().total_drops();
    uint64_t rx = w.stack->counters().rx_packets;
    Bytes flipped = d;
    flipped[20] ^= 1;
    w.send_raw(flipped);
    Bytes other_spi = d;
    other_spi[2] ^= 0x40;
    w.send_raw(other_spi);
    w.send_raw(Bytes(d.begin(), d.begin() + 20));
    Bytes huge(5000, 0x11);  // larger than any datagram the tunnel expects
    w.send_raw(huge);
    CHECK(w.receive(500).empty());
    w.send_raw(d);  // the original is still good: answered
    CHECK_FALSE(w.receive().empty());
    w.send_raw(d);  // and its replay is not
    CHECK(w.receive(500).empty());
    CHECK(w.stack->counters().rx_packets == rx + 1);
    CHECK(w.stack->counters().total_drops() == before + 5);
    CHECK(w.stack->counters().drops(Drop::Malformed) >= 1);  // the oversized datagram
}
