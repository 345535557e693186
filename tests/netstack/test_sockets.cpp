// SocketEngine in-process, without a tunnel (a portspace with no peers):
// the errno of every control call a confined process can make, the bridge's
// kind and readiness, and that closing the space end frees the socket.
// Traffic across tunnels is tested with real programs in tests/portspace.
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <tuple>

#include "catch.hpp"
#include "hsbox/netstack/sockets.hpp"

using namespace hsbox;
using namespace hsbox::netstack;

namespace {

SocketEngine& engine() {
    static auto e = std::move(SocketEngine::create(nullptr).value());  // lwIP is once per process
    return *e;
}

struct Sock {
    Fd fd;
    ino_t ino = 0;
};

Sock open_sock(int domain, int type) {
    auto fd = engine().open(domain, type, 0);
    REQUIRE(fd.ok());
    struct stat st;
    REQUIRE(::fstat(fd->get(), &st) == 0);
    return Sock{std::move(*fd), st.st_ino};
}

sockaddr_in v4(const char* ip, uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

sockaddr_in6 v6(const char* ip, uint16_t port) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    ::inet_pton(AF_INET6, ip, &a.sin6_addr);
    return a;
}

template <class A>
const sockaddr* sa(const A& a) {
    return reinterpret_cast<const sockaddr*>(&a);
}

uint16_t port_of(const SocketAddress& a) {
    return ntohs(a.ss.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(&a.ss)->sin_port
                                           : reinterpret_cast<const sockaddr_in6*>(&a.ss)->sin6_port);
}

int int_opt(Sock& s, int level, int name) {
    auto v = engine().getsockopt(s.ino, s.fd.get(), level, name, sizeof(int));
    REQUIRE(v.ok());
    REQUIRE(v->size() == sizeof(int));
    int r;
    std::memcpy(&r, v->data(), sizeof r);
    return r;
}

}  // namespace

TEST_CASE("socket(): IP families and TCP/UDP only; the bridge is a unix socket of the right kind", "[sockets]") {
    CHECK(engine().open(AF_UNIX, SOCK_STREAM, 0).code() == EAFNOSUPPORT);
    CHECK(engine().open(AF_NETLINK, SOCK_RAW, 0).code() == EAFNOSUPPORT);
    CHECK(engine().open(AF_INET, SOCK_RAW, 0).code() == EPERM);  // only ICMP may be raw
    CHECK(engine().open(AF_INET, SOCK_SEQPACKET, 0).code() == ESOCKTNOSUPPORT);
    CHECK(engine().open(AF_INET, SOCK_STREAM, IPPROTO_UDP).code() == EPROTONOSUPPORT);
    CHECK(engine().open(AF_INET6, SOCK_DGRAM, IPPROTO_TCP).code() == EPROTONOSUPPORT);

    Sock t = open_sock(AF_INET, SOCK_STREAM);
    Sock u = open_sock(AF_INET6, SOCK_DGRAM);
    CHECK(engine().owns(t.ino));
    CHECK(engine().type_of(t.ino) == SOCK_STREAM);
    CHECK(engine().type_of(u.ino) == SOCK_DGRAM);
    int kind;
    socklen_t len = sizeof kind;
    REQUIRE(::getsockopt(t.fd.get(), SOL_SOCKET, SO_TYPE, &kind, &len) == 0);
    CHECK(kind == SOCK_STREAM);
    REQUIRE(::getsockopt(u.fd.get(), SOL_SOCKET, SO_TYPE, &kind, &len) == 0);
    CHECK(kind == SOCK_SEQPACKET);  // one record per datagram
    CHECK((::fcntl(t.fd.get(), F_GETFD) & FD_CLOEXEC));  // nothing leaks across exec by accident
    CHECK_FALSE((::fcntl(t.fd.get(), F_GETFL) & O_NONBLOCK));
    CHECK_FALSE(engine().owns(1));
    CHECK(int_opt(t, SOL_SOCKET, SO_TYPE) == SOCK_STREAM);
    CHECK(int_opt(u, SOL_SOCKET, SO_TYPE) == SOCK_DGRAM);
    CHECK(int_opt(u, SOL_SOCKET, SO_DOMAIN) == AF_INET6);
    CHECK(int_opt(t, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP);
}

TEST_CASE("bind: wildcard and ephemeral ports, foreign addresses, double binds, port clashes", "[sockets][invariant6]") {
    Sock a = open_sock(AF_INET, SOCK_STREAM);
    auto any0 = v4("0.0.0.0", 0);
    REQUIRE(engine().bind(a.ino, sa(any0), sizeof any0).ok());
    auto name = engine().sockname(a.ino);
    REQUIRE(name.ok());
    uint16_t port = port_of(*name);
    CHECK(port != 0);
    CHECK(engine().bind(a.ino, sa(any0), sizeof any0).code() == EINVAL);  // already bound

    Sock b = open_sock(AF_INET, SOCK_STREAM);
    auto same = v4("0.0.0.0", port);
    CHECK(engine().bind(b.ino, sa(same), sizeof same).code() == EADDRINUSE);
    auto lo = v4("127.0.0.1", 0);
    CHECK(engine().bind(b.ino, sa(lo), sizeof lo).code() == EADDRNOTAVAIL);  // not an address of this space
    auto host = v4("192.0.2.1", 0);
    CHECK(engine().bind(b.ino, sa(host), sizeof host).code() == EADDRNOTAVAIL);
    auto six = v6("::", 0);
    CHECK(engine().bind(b.ino, sa(six), sizeof six).code() == EAFNOSUPPORT);  // family of the socket
    CHECK(engine().bind(b.ino, sa(any0), 4).code() == EINVAL);                 // short address

    // A UDP socket may use the same port number as a TCP one.
    Sock u = open_sock(AF_INET, SOCK_DGRAM);
    CHECK(engine().bind(u.ino, sa(same), sizeof same).ok());
}

TEST_CASE("IPv6 sockets: dual stack by default, IPV6_V6ONLY only before bind", "[sockets]") {
    Sock s = open_sock(AF_INET6, SOCK_STREAM);
    CHECK(int_opt(s, IPPROTO_IPV6, IPV6_V6ONLY) == 0);
    int one = 1;
    REQUIRE(engine().setsockopt(s.ino, s.fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one).ok());
    CHECK(int_opt(s, IPPROTO_IPV6, IPV6_V6ONLY) == 1);
    auto any = v6("::", 0);
    REQUIRE(engine().bind(s.ino, sa(any), sizeof any).ok());
    CHECK(engine().setsockopt(s.ino, s.fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one).code() == EINVAL);
    auto name = engine().sockname(s.ino);
    REQUIRE(name.ok());
    CHECK(name->ss.ss_family == AF_INET6);
    Sock v4only = open_sock(AF_INET, SOCK_STREAM);
    CHECK(engine().setsockopt(v4only.ino, v4only.fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one).code() ==
          ENOPROTOOPT);
}

TEST_CASE("listen and accept: states, empty queue, datagram sockets", "[sockets]") {
    Sock l = open_sock(AF_INET6, SOCK_STREAM);
    CHECK(engine().accept(l.ino, l.fd.get()).code() == EINVAL);  // not listening
    REQUIRE(engine().listen(l.ino, 16).ok());                     // binds an ephemeral port, as Linux does
    CHECK(port_of(*engine().sockname(l.ino)) != 0);
    CHECK(int_opt(l, SOL_SOCKET, SO_ACCEPTCONN) == 1);
    CHECK(engine().accept(l.ino, l.fd.get()).code() == EAGAIN);
    CHECK(engine().listen(l.ino, 4).ok());  // again: changes the backlog
    auto to = v6("fd77::2", 80);
    CHECK(engine().connect(l.ino, l.fd.get(), sa(to), sizeof to).code() == EISCONN);
    CHECK(engine().peername(l.ino).code() == ENOTCONN);
    pollfd p{l.fd.get(), POLLIN, 0};
    CHECK(::poll(&p, 1, 0) == 0);  // readable only with a connection waiting

    Sock u = open_sock(AF_INET, SOCK_DGRAM);
    CHECK(engine().listen(u.ino, 1).code() == EOPNOTSUPP);
    CHECK(engine().accept(u.ino, u.fd.get()).code() == EOPNOTSUPP);
}

TEST_CASE("connect without a route fails at once and leaves the socket writable", "[sockets][invariant5]") {
    // The supervisor answers ENETUNREACH before asking the engine; lwIP
    // without an interface says the same.
    Sock s = open_sock(AF_INET, SOCK_STREAM);
    auto to = v4("10.77.0.2", 80);
    CHECK(engine().connect(s.ino, s.fd.get(), sa(to), sizeof to).code() == ENETUNREACH);
    pollfd p{s.fd.get(), POLLOUT, 0};
    CHECK(::poll(&p, 1, 0) == 1);  // the gate was opened again
    CHECK(engine().connect_result(s.ino).ok());
    auto zero = v4("10.77.0.2", 0);
    CHECK(engine().connect(s.ino, s.fd.get(), sa(zero), sizeof zero).code() == ECONNREFUSED);

    Sock u = open_sock(AF_INET, SOCK_DGRAM);
    uint64_t failed = engine().counters().udp_tx_failed;
    auto n = engine().sendto(u.ino, "x", 1, sa(to), sizeof to);
    CHECK(n.code() == ENETUNREACH);
    CHECK(engine().counters().udp_tx_failed == failed + 1);
    CHECK(engine().sendto(u.ino, "x", 1, sa(zero), sizeof zero).code() == EINVAL);
    std::vector<char> big(70000);
    CHECK(engine().sendto(u.ino, big.data(), big.size(), sa(to), sizeof to).code() == EMSGSIZE);
    // UDP connect only records the peer; AF_UNSPEC forgets it.
    REQUIRE(engine().connect(u.ino, u.fd.get(), sa(to), sizeof to).ok());
    CHECK(port_of(*engine().peername(u.ino)) == 80);
    sockaddr unspec{};
    unspec.sa_family = AF_UNSPEC;
    REQUIRE(engine().connect(u.ino, u.fd.get(), &unspec, sizeof unspec).ok());
    CHECK(engine().peername(u.ino).code() == ENOTCONN);
}

TEST_CASE("socket options: emulated ones, the bridge's own, unknown ones", "[sockets]") {
    Sock s = open_sock(AF_INET, SOCK_STREAM);
    int one = 1;
    CHECK(int_opt(s, IPPROTO_TCP, TCP_NODELAY) == 0);
    REQUIRE(engine().setsockopt(s.ino, s.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one).ok());
    CHECK(int_opt(s, IPPROTO_TCP, TCP_NODELAY) == 1);
    REQUIRE(engine().setsockopt(s.ino, s.fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one).ok());
    CHECK(int_opt(s, SOL_SOCKET, SO_REUSEADDR) == 1);
    int size = 65536;
    REQUIRE(engine().setsockopt(s.ino, s.fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size).ok());
    int native;
    socklen_t len = sizeof native;
    REQUIRE(::getsockopt(s.fd.get(), SOL_SOCKET, SO_RCVBUF, &native, &len) == 0);
    CHECK(int_opt(s, SOL_SOCKET, SO_RCVBUF) == native);  // the bridge's, which reads meet
    CHECK(engine().setsockopt(s.ino, s.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, 2).code() == EINVAL);
    CHECK(engine().setsockopt(s.ino, s.fd.get(), SOL_SOCKET, 9999, &one, sizeof one).code() == ENOPROTOOPT);
    CHECK(engine().setsockopt(s.ino, s.fd.get(), 9999, 1, &one, sizeof one).code() == ENOPROTOOPT);
    CHECK(engine().getsockopt(s.ino, s.fd.get(), IPPROTO_TCP, 9999, 4).code() == ENOPROTOOPT);
    CHECK(int_opt(s, SOL_SOCKET, SO_ERROR) == 0);
    auto info = engine().getsockopt(s.ino, s.fd.get(), IPPROTO_TCP, TCP_INFO, sizeof(tcp_info));
    REQUIRE(info.ok());
    REQUIRE(info->size() == sizeof(tcp_info));
    CHECK(reinterpret_cast<const tcp_info*>(info->data())->tcpi_state == TCP_CLOSE);
    Sock u = open_sock(AF_INET, SOCK_DGRAM);
    CHECK(engine().setsockopt(u.ino, u.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one).code() == ENOPROTOOPT);
    CHECK(engine().shutdown(u.ino, u.fd.get(), SHUT_WR).code() == ENOTCONN);
    CHECK(engine().shutdown(s.ino, s.fd.get(), 7).code() == EINVAL);
}

TEST_CASE("closing the space end frees the port; the record goes when no process holds it", "[sockets]") {
    Sock s = open_sock(AF_INET, SOCK_STREAM);
    auto any = v4("0.0.0.0", 0);
    REQUIRE(engine().bind(s.ino, sa(any), sizeof any).ok());
    REQUIRE(engine().listen(s.ino, 1).ok());
    uint16_t port = port_of(*engine().sockname(s.ino));
    ino_t ino = s.ino;
    s.fd.reset();
    // The pump sees the hang-up and releases the pcb (and so the port).
    Sock again = open_sock(AF_INET, SOCK_STREAM);
    auto same = v4("0.0.0.0", port);
    bool bound = false;
    for (int i = 0; i < 200 && !bound; ++i) {
        bound = engine().bind(again.ino, sa(same), sizeof same).ok();
        if (!bound) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK(bound);
    // A hang-up may also mean both directions ended while a process still
    // holds the socket: the record stays until the supervisor says nobody does.
    CHECK(engine().owns(ino));
    CHECK(engine().retired() >= 1);
    CHECK(engine().getsockopt(ino, -1, SOL_SOCKET, SO_ERROR, sizeof(int)).ok());
    CHECK(engine().collect([&](ino_t i) { return i != ino; }) == 1);
    CHECK_FALSE(engine().owns(ino));
    CHECK(engine().owns(again.ino));  // live sockets are never collected
}

TEST_CASE("ICMP sockets: ping and raw ICMP are emulated, other raw sockets are not", "[sockets]") {
    CHECK(engine().open(AF_INET, SOCK_RAW, IPPROTO_TCP).code() == EPERM);
    CHECK(engine().open(AF_INET, SOCK_RAW, IPPROTO_RAW).code() == EPERM);
    CHECK(engine().open(AF_INET6, SOCK_RAW, IPPROTO_ICMP).code() == EPERM);  // ICMPv4 on an IPv6 socket
    CHECK(engine().open(AF_INET, SOCK_DGRAM, IPPROTO_ICMPV6).code() == EPROTONOSUPPORT);
    for (auto [domain, type, proto] : {std::tuple{AF_INET, SOCK_DGRAM, int(IPPROTO_ICMP)},
                                       std::tuple{AF_INET6, SOCK_DGRAM, int(IPPROTO_ICMPV6)},
                                       std::tuple{AF_INET, SOCK_RAW, int(IPPROTO_ICMP)},
                                       std::tuple{AF_INET6, SOCK_RAW, int(IPPROTO_ICMPV6)}}) {
        auto fd = engine().open(domain, type, proto);
        REQUIRE(fd.ok());
        struct stat st;
        REQUIRE(::fstat(fd->get(), &st) == 0);
        Sock s{std::move(*fd), st.st_ino};
        CHECK(engine().type_of(s.ino) == type);
        CHECK(int_opt(s, SOL_SOCKET, SO_PROTOCOL) == proto);
        auto to4 = v4("10.77.0.2", 0);
        auto to6 = v6("fd77::2", 0);
        const sockaddr* to = domain == AF_INET ? sa(to4) : sa(to6);
        socklen_t tolen = domain == AF_INET ? sizeof to4 : sizeof to6;
        uint8_t echo[8] = {uint8_t(domain == AF_INET ? 8 : 128), 0, 0, 0, 0, 0, 0, 1};
        uint8_t reply[8] = {uint8_t(domain == AF_INET ? 0 : 129), 0, 0, 0, 0, 0, 0, 1};
        if (type == SOCK_DGRAM) {
            // A ping socket sends echo requests only, and gets its identifier as its port.
            CHECK(engine().sendto(s.ino, reply, sizeof reply, to, tolen).code() == EINVAL);
            CHECK(port_of(*engine().sockname(s.ino)) != 0);
        }
        CHECK(engine().sendto(s.ino, echo, 4, to, tolen).code() == EINVAL);               // shorter than a header
        CHECK(engine().sendto(s.ino, echo, sizeof echo, to, tolen).code() == ENETUNREACH);  // no tunnel here
        CHECK(engine().listen(s.ino, 1).code() == EOPNOTSUPP);
    }
}
