// Test/bench helpers: a running `hsbox tunnel` instance driven over its
// stdin/stdout, free UDP ports, and a temp dir with tunnel files and keys for
// two hosts of one HyperSpector (A, B) plus a host of another (C).
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "hsbox/netstack/tunnel_config.hpp"

namespace tunneltest {

// A UDP port on 127.0.0.1 (or ::1) that was free a moment ago.
inline int free_udp_port(bool v6 = false) {
    int s = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_storage ss{};
    socklen_t l;
    if (v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        l = sizeof *a;
    } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        l = sizeof *a;
    }
    bind(s, reinterpret_cast<sockaddr*>(&ss), l);
    getsockname(s, reinterpret_cast<sockaddr*>(&ss), &l);
    close(s);
    return ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

inline std::string hsbox_bin() {
    const char* b = std::getenv("HSBOX_BIN");
    return b ? b : "hsbox";
}

// One child process with piped stdin/stdout; killed and reaped on destruction.
class Proc {
public:
    explicit Proc(const std::vector<std::string>& argv) {
        int in[2], out[2];
        if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) throw std::runtime_error("pipe");
        pid_ = fork();
        if (pid_ == 0) {
            dup2(in[0], 0);
            dup2(out[1], 1);
            std::vector<char*> v;
            for (auto& a : argv) v.push_back(const_cast<char*>(a.c_str()));
            v.push_back(nullptr);
            execv(v[0], v.data());
            _exit(127);
        }
        close(in[0]);
        close(out[1]);
        to_ = in[1];
        from_ = out[0];
    }
    ~Proc() {
        if (to_ >= 0) close(to_);
        if (from_ >= 0) close(from_);
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
    }
    Proc(const Proc&) = delete;

    // Next line of output, or "" after `timeout_s` or at EOF.
    std::string line(double timeout_s = 20) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
        for (;;) {
            auto nl = buf_.find('\n');
            if (nl != std::string::npos) {
                std::string l = buf_.substr(0, nl);
                buf_.erase(0, nl + 1);
                return l;
            }
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return "";
            pollfd p{from_, POLLIN, 0};
            if (poll(&p, 1, int(left.count())) <= 0) continue;
            char b[4096];
            ssize_t n = read(from_, b, sizeof b);
            if (n <= 0) return "";
            buf_.append(b, size_t(n));
        }
    }
    // Sends one command line; returns its one-line answer.
    std::string ask(const std::string& cmd, double timeout_s = 30) {
        std::string l = cmd + "\n";
        if (write(to_, l.data(), l.size()) != ssize_t(l.size())) return "";
        return line(timeout_s);
    }
    // The tunnel counters as a map (the "stats" command).
    std::map<std::string, unsigned long long> stats() {
        std::map<std::string, unsigned long long> m;
        std::string l = ask("stats");
        while (!l.empty() && l != "end") {
            auto sp = l.find(' ');
            m[l.substr(0, sp)] = std::stoull(l.substr(sp + 1));
            l = line();
        }
        return m;
    }
    // Closes stdin (the instance exits 0) and returns the exit status.
    int quit() {
        close(to_);
        to_ = -1;
        int st = 0;
        waitpid(pid_, &st, 0);
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
    int to_ = -1, from_ = -1;
    std::string buf_;
};

// A temp dir with keys and tunnel files:
//   a.toml, b.toml — HyperSpector "ids": A (10.77.0.1, fd77::1) <-> B (10.77.0.2, fd77::2),
//                    A receives SPI 0x1001 from B, B receives 0x2001 from A;
//   c.toml         — HyperSpector "other": C claims to be B towards A's endpoint,
//                    with the same SPIs but its own keys.
struct Hosts {
    std::string dir;
    int port_a, port_b, port_c;
    std::string host;  // the outer (tunnel endpoint) address: 127.0.0.1 or [::1]

    // `outer_v6`: the tunnel's UDP endpoints on ::1 instead of 127.0.0.1.
    explicit Hosts(bool outer_v6 = false) : host(outer_v6 ? "[::1]" : "127.0.0.1") {
        const char* t = std::getenv("TMPDIR");
        std::string tmpl = std::string(t && *t ? t : "/tmp") + "/hsbox-tunnel-XXXXXX";
        if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
        dir = tmpl;
        port_a = free_udp_port(outer_v6);
        port_b = free_udp_port(outer_v6);
        port_c = free_udp_port(outer_v6);
        for (const char* k : {"ab", "ba", "cx", "xc"})
            if (!hsbox::netstack::write_new_key(dir + "/" + k + ".key", 128, false).ok())
                throw std::runtime_error("keygen");
        write("a.toml", "ids", port_a, "[\"10.77.0.1\", \"fd77::1\"]", "b", port_b, "[\"10.77.0.2\", \"fd77::2\"]",
              0x1001, 0x2001, "ba.key", "ab.key");
        write("b.toml", "ids", port_b, "[\"10.77.0.2\", \"fd77::2\"]", "a", port_a, "[\"10.77.0.1\", \"fd77::1\"]",
              0x2001, 0x1001, "ab.key", "ba.key");
        write("c.toml", "other", port_c, "\"10.77.0.2\"", "a", port_a, "\"10.77.0.1\"", 0x2001, 0x1001, "xc.key",
              "cx.key");
    }
    ~Hosts() { (void)std::system(("rm -rf '" + dir + "'").c_str()); }

    void write(const std::string& file, const std::string& name, int port, const std::string& addr,
               const std::string& peer, int peer_port, const std::string& peer_addr, unsigned spi_in,
               unsigned spi_out, const std::string& key_in, const std::string& key_out) {
        std::ofstream f(dir + "/" + file);
        f << "name = \"" << name << "\"\n[local]\nendpoint = \"" << host << ":" << port << "\"\naddress = " << addr
          << "\n[[peer]]\nname = \"" << peer << "\"\nendpoint = \"" << host << ":" << peer_port
          << "\"\naddress = " << peer_addr << "\nspi_in = " << spi_in << "\nspi_out = " << spi_out
          << "\nkey_in = \"" << key_in << "\"\nkey_out = \"" << key_out << "\"\n";
    }

    // Starts `hsbox tunnel --config DIR/FILE ARGS...` and waits for "ready".
    std::unique_ptr<Proc> start(const std::string& file, std::vector<std::string> args = {}) {
        std::vector<std::string> argv{hsbox_bin(), "tunnel", "--config", dir + "/" + file};
        argv.insert(argv.end(), args.begin(), args.end());
        auto p = std::make_unique<Proc>(argv);
        std::string r = p->line();
        if (r.rfind("ready ", 0) != 0) throw std::runtime_error("tunnel did not start: '" + r + "'");
        return p;
    }
};

}  // namespace tunneltest
