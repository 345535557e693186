// `hsbox tunnel --config FILE [--echo PORT]... [--discard PORT]... [--stats FILE]`
//
// Runs one space's network stack (lwIP behind the ESP tunnel) in this process,
// without a confined program: a test and benchmark front end until the socket
// emulation of the supervisor drives the same stack. It serves TCP+UDP echo on
// each --echo port and a TCP discard on each --discard port (IPv4 and IPv6),
// prints "ready PORT" (the tunnel's UDP port), then reads commands on stdin,
// one per line, answering one line each ("ok ..." or "error ERRNO message"):
//
//   tcp HOST PORT MSG          connect, send MSG, half-close, print the reply
//   udp HOST PORT MSG          send a datagram, print the reply datagram
//   bind tcp|udp PORT          bind PORT on the any-address and keep it
//   send HOST PORT BYTES       stream BYTES to a discard port; "ok BYTES SECONDS"
//   rr HOST PORT COUNT SIZE    COUNT request/responses of SIZE bytes on one
//                              connection to an echo port; "ok COUNT SECONDS"
//   verify HOST PORT BYTES     send BYTES of a pseudo-random stream to an echo
//                              port in 16 KiB chunks and compare what comes back
//   stats                      the tunnel counters, one "name value" per line, then "end"
//   quit                       (or end of input) write --stats and exit 0
//
// SIGUSR1 writes the counters to --stats; SIGTERM/SIGINT write them and exit.
// Every destination is checked against the tunnel's peers first: anything
// else answers "error ENETUNREACH".
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "command.hpp"
#include "hsbox/fd.hpp"
#include "hsbox/netstack/stack.hpp"

extern "C" {
#include <lwip/sockets.h>
}

namespace hsbox::cli {
namespace {

using netstack::Stack;

Stack* g_stack = nullptr;
std::string g_stats_path;
std::mutex g_out;  // one line at a time on stdout

void write_stats() {
    if (g_stats_path.empty() || !g_stack) return;
    (void)write_file_atomic(g_stats_path, g_stack->counters().to_text(), 0600);
}

[[noreturn]] void finish(int status) {
    write_stats();
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(status);  // lwIP's threads cannot be joined; nothing else to clean
}

void say(const std::string& line) {
    std::lock_guard<std::mutex> l(g_out);
    std::fputs(line.c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

const char* errno_name(int e) {
    switch (e) {
        case ENETUNREACH: return "ENETUNREACH";
        case EHOSTUNREACH: return "EHOSTUNREACH";
        case ECONNREFUSED: return "ECONNREFUSED";
        case ECONNRESET: return "ECONNRESET";
        case ETIMEDOUT: return "ETIMEDOUT";
        case EADDRINUSE: return "EADDRINUSE";
        case EAGAIN: return "EAGAIN";
        case EINVAL: return "EINVAL";
        case EAFNOSUPPORT: return "EAFNOSUPPORT";
        default: return "E?";
    }
}

std::string err(int e, const std::string& what) {
    return std::string("error ") + errno_name(e) + " " + what + ": " + std::strerror(e);
}

// A borrowed-to-owned lwIP socket (lwIP descriptors are not kernel fds).
struct LwipSocket {
    int fd = -1;
    explicit LwipSocket(int f) : fd(f) {}
    LwipSocket(const LwipSocket&) = delete;
    ~LwipSocket() {
        if (fd >= 0) lwip_close(fd);
    }
};

Result<sockaddr_storage> make_addr(const std::string& host, const std::string& port, socklen_t* len) {
    auto a = netstack::InnerAddress::parse(host);
    if (!a) return a.error();
    char* end = nullptr;
    unsigned long p = std::strtoul(port.c_str(), &end, 10);
    if (port.empty() || *end || p > 65535) return Error{EINVAL, "bad port '" + port + "'"};
    sockaddr_storage ss{};
    if (a->family == AF_INET) {
        auto* s = reinterpret_cast<sockaddr_in*>(&ss);
        s->sin_family = AF_INET;
        s->sin_port = htons(uint16_t(p));
        std::memcpy(&s->sin_addr, a->bytes.data(), 4);
        *len = sizeof *s;
    } else {
        auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(uint16_t(p));
        std::memcpy(&s->sin6_addr, a->bytes.data(), 16);
        *len = sizeof *s;
    }
    return ss;
}

void set_timeout(int fd, int opt, int ms) {
    timeval tv{ms / 1000, (ms % 1000) * 1000};
    lwip_setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv);
}

// Connects with a deadline (lwIP's connect would retry SYNs for minutes).
// Returns the connected socket or an error line.
Result<int> connect_tcp(const sockaddr_storage& ss, socklen_t len, int timeout_ms) {
    if (auto st = g_stack->check_destination(reinterpret_cast<const sockaddr*>(&ss), len); !st)
        return st.error();
    int fd = lwip_socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0) return last_error("socket");
    int on = 1;
    lwip_ioctl(fd, FIONBIO, &on);
    int r = lwip_connect(fd, reinterpret_cast<const sockaddr*>(&ss), len);
    if (r != 0 && errno != EINPROGRESS) {
        Error e = last_error("connect");
        lwip_close(fd);
        return e;
    }
    if (r != 0) {
        pollfd p{fd, POLLOUT, 0};
        int n = lwip_poll(&p, 1, timeout_ms);
        if (n == 0) {
            lwip_close(fd);
            return Error{ETIMEDOUT, "connect"};
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        lwip_getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr) {
            lwip_close(fd);
            // lwIP reports a RST answering our SYN as ECONNRESET; Linux says refused.
            return Error{soerr == ECONNRESET ? ECONNREFUSED : soerr, "connect"};
        }
    }
    int off = 0;
    lwip_ioctl(fd, FIONBIO, &off);
    int one = 1;
    lwip_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_timeout(fd, SO_RCVTIMEO, timeout_ms);
    return fd;
}

// Resolves HOST:PORT and connects to it through the stack (connect_tcp).
Result<int> dial(const std::string& host, const std::string& port, int timeout_ms) {
    socklen_t len;
    auto ss = make_addr(host, port, &len);
    if (!ss) return ss.error();
    return connect_tcp(*ss, len, timeout_ms);
}

bool send_all(int fd, const char* p, size_t n) {
    while (n) {
        ssize_t w = lwip_send(fd, p, n, 0);
        if (w <= 0) return false;
        p += w;
        n -= size_t(w);
    }
    return true;
}

std::string do_tcp(const std::string& host, const std::string& port, const std::string& msg, int timeout_ms) {
    auto c = dial(host, port, timeout_ms);
    if (!c) return err(c.code(), c.error().context);
    LwipSocket s(*c);
    if (!send_all(s.fd, msg.data(), msg.size())) return err(errno, "send");
    lwip_shutdown(s.fd, SHUT_WR);
    std::string reply;
    char b[4096];
    for (;;) {
        ssize_t n = lwip_recv(s.fd, b, sizeof b, 0);
        if (n < 0) return err(errno, "recv");
        if (n == 0) break;
        reply.append(b, size_t(n));
    }
    return "ok " + reply;
}

std::string do_udp(const std::string& host, const std::string& port, const std::string& msg, int timeout_ms) {
    socklen_t len;
    auto ss = make_addr(host, port, &len);
    if (!ss) return err(ss.code(), ss.error().context);
    if (auto st = g_stack->check_destination(reinterpret_cast<const sockaddr*>(&*ss), len); !st)
        return err(st.code(), st.error().context);
    LwipSocket s(lwip_socket(ss->ss_family, SOCK_DGRAM, 0));
    if (s.fd < 0) return err(errno, "socket");
    set_timeout(s.fd, SO_RCVTIMEO, timeout_ms);
    if (lwip_sendto(s.fd, msg.data(), msg.size(), 0, reinterpret_cast<const sockaddr*>(&*ss), len) < 0)
        return err(errno, "sendto");
    char b[65536];
    sockaddr_storage from{};
    socklen_t fl = sizeof from;
    ssize_t n = lwip_recvfrom(s.fd, b, sizeof b, 0, reinterpret_cast<sockaddr*>(&from), &fl);
    if (n < 0) return err(errno == EWOULDBLOCK ? ETIMEDOUT : errno, "recvfrom");
    return "ok " + std::string(b, size_t(n));
}

std::vector<LwipSocket*> g_kept;  // sockets bound by "bind", kept open until exit

std::string do_bind(const std::string& proto, const std::string& port) {
    socklen_t len;
    auto ss = make_addr("::", port, &len);
    if (!ss) return err(ss.code(), ss.error().context);
    int fd = lwip_socket(AF_INET6, proto == "udp" ? SOCK_DGRAM : SOCK_STREAM, 0);
    if (fd < 0) return err(errno, "socket");
    if (lwip_bind(fd, reinterpret_cast<const sockaddr*>(&*ss), len) != 0) {
        int e = errno;
        lwip_close(fd);
        return err(e, "bind");
    }
    if (proto != "udp") lwip_listen(fd, 8);
    g_kept.push_back(new LwipSocket(fd));
    return "ok";
}

std::string do_send(const std::string& host, const std::string& port, const std::string& bytes, int timeout_ms) {
    size_t total = std::stoull(bytes);
    auto c = dial(host, port, timeout_ms);
    if (!c) return err(c.code(), c.error().context);
    LwipSocket s(*c);
    std::vector<char> buf(64 * 1024, 'x');
    auto t0 = std::chrono::steady_clock::now();
    size_t left = total;
    while (left) {
        size_t n = std::min(left, buf.size());
        if (!send_all(s.fd, buf.data(), n)) return err(errno, "send");
        left -= n;
    }
    lwip_shutdown(s.fd, SHUT_WR);
    char b[16];
    if (lwip_recv(s.fd, b, sizeof b, 0) < 0) return err(errno, "recv");  // the sink's close: all arrived
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char out[96];
    std::snprintf(out, sizeof out, "ok %zu %.6f", total, secs);
    return out;
}

std::string do_rr(const std::string& host, const std::string& port, const std::string& count,
                  const std::string& size, int timeout_ms) {
    long n = std::stol(count), sz = std::stol(size);
    if (n <= 0 || sz <= 0 || sz > 65536) return err(EINVAL, "rr COUNT SIZE");
    auto c = dial(host, port, timeout_ms);
    if (!c) return err(c.code(), c.error().context);
    LwipSocket s(*c);
    std::vector<char> req(static_cast<size_t>(sz), 'r');
    std::vector<char> resp(static_cast<size_t>(sz));
    auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < n; ++i) {
        if (!send_all(s.fd, req.data(), req.size())) return err(errno, "send");
        size_t got = 0;
        while (got < resp.size()) {
            ssize_t r = lwip_recv(s.fd, resp.data() + got, resp.size() - got, 0);
            if (r <= 0) return err(r < 0 ? errno : ECONNRESET, "recv");
            got += size_t(r);
        }
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char out[96];
    std::snprintf(out, sizeof out, "ok %ld %.6f", n, secs);
    return out;
}

std::string do_verify(const std::string& host, const std::string& port, const std::string& bytes, int timeout_ms) {
    size_t total = std::stoull(bytes);
    auto c = dial(host, port, timeout_ms);
    if (!c) return err(c.code(), c.error().context);
    LwipSocket s(*c);
    std::vector<char> out(16 * 1024), in(16 * 1024);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t done = 0; done < total;) {
        size_t n = std::min(out.size(), total - done);
        for (size_t i = 0; i < n; ++i) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            out[i] = char(x);
        }
        if (!send_all(s.fd, out.data(), n)) return err(errno, "send");
        for (size_t got = 0; got < n;) {
            ssize_t r = lwip_recv(s.fd, in.data() + got, n - got, 0);
            if (r <= 0) return err(r < 0 ? errno : ECONNRESET, "recv");
            got += size_t(r);
        }
        if (std::memcmp(out.data(), in.data(), n) != 0)
            return err(EIO, "stream differs within bytes " + std::to_string(done) + "+" + std::to_string(n));
        done += n;
    }
    return "ok " + std::to_string(total);
}

// Servers: one thread per listening socket, one per TCP connection.
void serve_tcp(int port, bool echo) {
    int l = lwip_socket(AF_INET6, SOCK_STREAM, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(uint16_t(port));
    if (lwip_bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || lwip_listen(l, 16) != 0) {
        std::fprintf(stderr, "hsbox: tunnel: tcp port %d: %s\n", port, std::strerror(errno));
        finish(1);
    }
    std::thread([l, echo] {
        for (;;) {
            int c = lwip_accept(l, nullptr, nullptr);
            if (c < 0) {  // out of sockets/memory: back off rather than spin
                usleep(10000);
                continue;
            }
            std::thread([c, echo] {
                int one = 1;
                lwip_setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                std::vector<char> b(64 * 1024);
                for (;;) {
                    ssize_t n = lwip_recv(c, b.data(), b.size(), 0);
                    if (n <= 0) break;
                    if (echo && !send_all(c, b.data(), size_t(n))) break;
                }
                lwip_close(c);
            }).detach();
        }
    }).detach();
}

void serve_udp_echo(int port) {
    int s = lwip_socket(AF_INET6, SOCK_DGRAM, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(uint16_t(port));
    if (lwip_bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        std::fprintf(stderr, "hsbox: tunnel: udp port %d: %s\n", port, std::strerror(errno));
        finish(1);
    }
    std::thread([s] {
        std::vector<char> b(65536);
        for (;;) {
            sockaddr_storage from{};
            socklen_t fl = sizeof from;
            ssize_t n = lwip_recvfrom(s, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
            if (n < 0) {
                usleep(10000);
                continue;
            }
            lwip_sendto(s, b.data(), size_t(n), 0, reinterpret_cast<sockaddr*>(&from), fl);
        }
    }).detach();
}

int parse_port(const char* s) {
    char* end = nullptr;
    long p = std::strtol(s, &end, 10);
    return (*end || p <= 0 || p > 65535) ? -1 : int(p);
}

int cmd_tunnel(int argc, char** argv) {
    std::string config_path;
    std::vector<int> echo, discard;
    int timeout_ms = 3000;
    for (int i = 0; i < argc; ++i) {
        std::string a = argv[i];
        auto need = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        if (a == "--config") {
            const char* v = need();
            if (!v) return usage_error("tunnel: --config needs a FILE");
            config_path = v;
        } else if (a == "--echo" || a == "--discard") {
            const char* v = need();
            int p = v ? parse_port(v) : -1;
            if (p < 0) return usage_error("tunnel: %s needs a port 1-65535", a.c_str());
            (a == "--echo" ? echo : discard).push_back(p);
        } else if (a == "--stats") {
            const char* v = need();
            if (!v) return usage_error("tunnel: --stats needs a FILE");
            g_stats_path = v;
        } else if (a == "--timeout-ms") {
            const char* v = need();
            timeout_ms = v ? std::atoi(v) : 0;
            if (timeout_ms <= 0) return usage_error("tunnel: --timeout-ms needs a positive number");
        } else {
            return usage_error("tunnel: unknown argument '%s'", a.c_str());
        }
    }
    if (config_path.empty()) return usage_error("tunnel: --config FILE is required");
    auto cfg = netstack::load_tunnel_config(config_path);
    if (!cfg) {
        std::fprintf(stderr, "hsbox: %s\n", cfg.error().context.c_str());
        return 1;
    }
    // Signals go to one thread; every thread started later inherits the mask.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);

    auto stack = Stack::start(*cfg);
    if (!stack) {
        std::fprintf(stderr, "hsbox: tunnel: %s\n", stack.error().message().c_str());
        return 1;
    }
    g_stack = stack->get();
    std::thread([set] {
        for (;;) {
            int sig = 0;
            if (sigwait(&set, &sig) != 0) continue;
            if (sig == SIGUSR1)
                write_stats();
            else
                finish(0);
        }
    }).detach();
    for (int p : echo) {
        serve_tcp(p, true);
        serve_udp_echo(p);
    }
    for (int p : discard) serve_tcp(p, false);
    say("ready " + std::to_string(g_stack->udp_port()));

    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream in(line);
        std::vector<std::string> w;
        for (std::string x; in >> x;) w.push_back(x);
        if (w.empty()) continue;
        std::string r;
        if (w[0] == "tcp" && w.size() == 4)
            r = do_tcp(w[1], w[2], w[3], timeout_ms);
        else if (w[0] == "udp" && w.size() == 4)
            r = do_udp(w[1], w[2], w[3], timeout_ms);
        else if (w[0] == "bind" && w.size() == 3)
            r = do_bind(w[1], w[2]);
        else if (w[0] == "send" && w.size() == 4)
            r = do_send(w[1], w[2], w[3], timeout_ms * 10);
        else if (w[0] == "verify" && w.size() == 4)
            r = do_verify(w[1], w[2], w[3], timeout_ms);
        else if (w[0] == "rr" && w.size() == 5)
            r = do_rr(w[1], w[2], w[3], w[4], timeout_ms);
        else if (w[0] == "stats")
            r = g_stack->counters().to_text() + "end";
        else if (w[0] == "quit")
            break;
        else
            r = err(EINVAL, "unknown command '" + line + "'");
        say(r);
    }
    finish(0);
}

const Command reg{"tunnel", "tunnel --config FILE [--echo PORT]... [--discard PORT]... [--stats FILE]",
                  cmd_tunnel};

}  // namespace
}  // namespace hsbox::cli
