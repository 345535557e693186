// TCP throughput and request/response latency between two spaces' stacks
// (two `hsbox tunnel` processes, lwIP behind ESP/UDP on loopback) versus
// native kernel TCP over loopback, in the same invocation. Prints a Markdown
// table and one JSON line; every figure also as a ratio to native.
//
// usage: bench_netstack [HSBOX_BIN] [--bytes N] [--rr N] [--size N] [--runs N]
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "hsbox/fd.hpp"
#include "tunnel_proc.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using hsbox::Fd;

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// ---- native loopback: the same two operations over kernel TCP -------------

Fd listen_on(int* port) {
    Fd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(s.get(), 8);
    socklen_t l = sizeof a;
    getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &l);
    *port = ntohs(a.sin_port);
    return s;
}

Fd connect_to(int port) {
    Fd s(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(uint16_t(port));
    if (connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) std::perror("connect");
    int one = 1;
    setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return s;
}

// Seconds to stream `bytes` to a discarding peer (until its close).
double native_send(size_t bytes) {
    int port;
    Fd l = listen_on(&port);
    std::thread sink([&] {
        Fd c(accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
        std::vector<char> b(64 * 1024);
        while (read(c.get(), b.data(), b.size()) > 0) {
        }
    });
    Fd s = connect_to(port);
    std::vector<char> buf(64 * 1024, 'x');
    auto t0 = Clock::now();
    for (size_t left = bytes; left;) {
        size_t n = std::min(left, buf.size());
        if (!hsbox::write_all(s.get(), buf.data(), n)) break;
        left -= n;
    }
    shutdown(s.get(), SHUT_WR);
    char b;
    (void)!read(s.get(), &b, 1);
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    sink.join();
    return secs;
}

// Seconds for `count` request/responses of `size` bytes on one connection.
double native_rr(long count, size_t size) {
    int port;
    Fd l = listen_on(&port);
    std::thread echo([&] {
        Fd c(accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
        int one = 1;
        setsockopt(c.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        std::vector<char> b(64 * 1024);
        ssize_t n;
        while ((n = read(c.get(), b.data(), b.size())) > 0)
            if (!hsbox::write_all(c.get(), b.data(), size_t(n))) break;
    });
    Fd s = connect_to(port);
    std::vector<char> req(size, 'r'), resp(size);
    auto t0 = Clock::now();
    for (long i = 0; i < count; ++i) {
        if (!hsbox::write_all(s.get(), req.data(), req.size())) break;
        for (size_t got = 0; got < size;) {
            ssize_t r = read(s.get(), resp.data() + got, size - got);
            if (r <= 0) break;
            got += size_t(r);
        }
    }
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    s.reset();
    echo.join();
    return secs;
}

// "ok A SECONDS" -> SECONDS (or -1).
double seconds_of(const std::string& answer) {
    double secs = -1;
    char ok[4];
    unsigned long long n;
    if (std::sscanf(answer.c_str(), "%3s %llu %lf", ok, &n, &secs) != 3 || std::string(ok) != "ok") {
        std::fprintf(stderr, "bench_netstack: tunnel answered '%s'\n", answer.c_str());
        return -1;
    }
    return secs;
}

}  // namespace

int main(int argc, char** argv) {
    size_t bytes = 256u << 20;
    long rr = 20000;
    size_t size = 64;
    int runs = 3;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--bytes" && i + 1 < argc) bytes = std::stoull(argv[++i]);
        else if (a == "--rr" && i + 1 < argc) rr = std::stol(argv[++i]);
        else if (a == "--size" && i + 1 < argc) size = std::stoul(argv[++i]);
        else if (a == "--runs" && i + 1 < argc) runs = std::stoi(argv[++i]);
        else if (a[0] != '-') setenv("HSBOX_BIN", argv[i], 1);
        else {
            std::fprintf(stderr, "usage: bench_netstack [HSBOX_BIN] [--bytes N] [--rr N] [--size N] [--runs N]\n");
            return 2;
        }
    }

    tunneltest::Hosts hosts;
    auto a = hosts.start("a.toml", {"--echo", "7", "--discard", "9", "--timeout-ms", "10000"});
    auto b = hosts.start("b.toml", {"--timeout-ms", "10000"});

    std::vector<double> t_tun, t_nat, r_tun, r_nat;
    // Interleave tunnel and native runs so machine noise hits both alike.
    for (int r = 0; r < runs; ++r) {
        t_tun.push_back(seconds_of(b->ask("send 10.77.0.1 9 " + std::to_string(bytes), 600)));
        t_nat.push_back(native_send(bytes));
        r_tun.push_back(seconds_of(b->ask("rr 10.77.0.1 7 " + std::to_string(rr) + " " + std::to_string(size), 600)));
        r_nat.push_back(native_rr(rr, size));
    }
    for (double v : t_tun)
        if (v <= 0) return 1;
    for (double v : r_tun)
        if (v <= 0) return 1;
    auto counters = b->stats();

    double gbit_tun = double(bytes) * 8 / median(t_tun) / 1e9;
    double gbit_nat = double(bytes) * 8 / median(t_nat) / 1e9;
    double us_tun = median(r_tun) / double(rr) * 1e6;
    double us_nat = median(r_nat) / double(rr) * 1e6;

    std::printf("## netstack: two spaces through the ESP tunnel vs native loopback\n\n");
    std::printf("median of %d runs; %zu MiB streamed; %ld request/responses of %zu bytes\n\n", runs, bytes >> 20, rr,
                size);
    std::printf("| measure | tunnel (lwIP + ESP) | native loopback | ratio tunnel/native |\n|---|---:|---:|---:|\n");
    std::printf("| TCP throughput | %.3f Gbit/s | %.3f Gbit/s | %.3f |\n", gbit_tun, gbit_nat, gbit_tun / gbit_nat);
    std::printf("| TCP round trip | %.1f µs | %.1f µs | %.2f |\n", us_tun, us_nat, us_tun / us_nat);
    std::printf("\nsender's tunnel: %llu ESP packets out, %llu in, %llu dropped\n\n", counters["tx_packets"],
                counters["rx_packets"],
                [&] {
                    unsigned long long d = 0;
                    for (auto& [k, v] : counters)
                        if (k.rfind("drop_", 0) == 0) d += v;
                    return d;
                }());
    std::printf("{\"bench\":\"netstack\",\"bytes\":%zu,\"rr\":%ld,\"size\":%zu,\"runs\":%d,"
                "\"tunnel_gbit\":%.4f,\"native_gbit\":%.4f,\"throughput_ratio\":%.4f,"
                "\"tunnel_rtt_us\":%.2f,\"native_rtt_us\":%.2f,\"rtt_ratio\":%.3f}\n",
                bytes, rr, size, runs, gbit_tun, gbit_nat, gbit_tun / gbit_nat, us_tun, us_nat, us_tun / us_nat);
    a->quit();
    b->quit();
    return 0;
}
