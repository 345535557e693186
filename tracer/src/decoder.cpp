// The decoder: one small function per argument kind, chosen by the kind the
// syscall table gives each argument. Spelling follows strace 6.1 so the two
// outputs can be compared line by line.
#include "hsbox/tracer/decoder.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <linux/stat.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "names.hpp"

namespace hsbox::tracer {

namespace {

enum class Dir { In, Out, InOut };

// Which step decodes an argument of kind `k`.
Dir direction(Arg k) {
    switch (k) {
        case Arg::OutBuf: case Arg::OutBufHex: case Arg::OutCpuSet: case Arg::OutSockOptVal: case Arg::StatBuf: case Arg::OutIovec: case Arg::OutTimespec:
        case Arg::OutSockaddr: case Arg::OutSigset: case Arg::OutSigaction:
        case Arg::OutPipeFds: case Arg::OutWaitStatus: case Arg::OutEpollEvents:
        case Arg::OutRlimit: case Arg::OutDirents: case Arg::OutTimeval: case Arg::OutUname:
        case Arg::OutStatx: case Arg::OutSysinfo: case Arg::OutStatfs: case Arg::OutStr:
        case Arg::OutInt: case Arg::OutMsgHdr: case Arg::Rusage:
            return Dir::Out;
        case Arg::SocklenPtr: case Arg::PollFds: case Arg::OffPtr: case Arg::FdSet:
            return Dir::InOut;
        default:
            return Dir::In;
    }
}

std::string dec(int64_t v) { return std::to_string(v); }
std::string udec(uint64_t v) { return std::to_string(v); }
std::string ptr_text(uint64_t v) { return v == 0 ? "NULL" : hex_text(v); }
std::string ptr_json(uint64_t v) { return v == 0 ? "null" : "\"" + hex_text(v) + "\""; }
std::string jstr(const std::string& s) { return json_string(s); }

// Everything one argument decoder needs.
struct Ctx {
    const SyscallEvent& ev;
    MemoryReader& mem;
    const DecodeOptions& opts;
    DecodedCall& call;
    bool exit;  // decoding at exit

    uint64_t raw(size_t i) const { return i < 6 ? ev.args[i] : 0; }
    Arg kind(size_t i) const {
        return call.info && i < call.info->nargs ? call.info->args[i] : Arg::Hex;
    }
    bool failed() const { return ev.returned && is_error_return(ev.ret); }
    void set(size_t i, std::string text, std::string json) {
        call.args[i].text = std::move(text);
        call.args[i].json = std::move(json);
    }
    void set_same(size_t i, std::string text) {
        std::string j = jstr(text);
        set(i, std::move(text), std::move(j));
    }
};

// A bounded C string: quoted text plus JSON.
void put_cstring(Ctx& c, size_t i, size_t limit) {
    uint64_t addr = c.raw(i);
    if (addr == 0) return c.set(i, "NULL", "null");
    std::string s;
    bool fault = false;
    bool complete = c.mem.read_cstring(addr, limit, s, &fault);
    if (fault && s.empty()) return c.set(i, hex_text(addr), ptr_json(addr));
    c.set(i, quote_string(s, !complete), jstr(s));
}

std::string quote_hex(std::string_view s, bool truncated) {
    std::string out = "\"";
    char b[8];
    for (unsigned char ch : s) {
        std::snprintf(b, sizeof b, "\\x%02x", ch);
        out += b;
    }
    out += '"';
    if (truncated) out += "...";
    return out;
}

// A buffer of `len` bytes: strace prints the first string_limit bytes.
void put_buffer(Ctx& c, size_t i, uint64_t addr, uint64_t len, bool hex = false) {
    if (addr == 0) return c.set(i, "NULL", "null");
    size_t want = std::min<uint64_t>(len, c.opts.string_limit);
    std::string s(want, '\0');
    size_t got = c.mem.read(addr, s.data(), want);
    if (got < want && got == 0 && want > 0) return c.set(i, hex_text(addr), ptr_json(addr));
    s.resize(got);
    bool truncated = len > got;
    c.set(i, hex ? quote_hex(s, truncated) : quote_string(s, truncated),
          "{\"data\":" + jstr(s) + ",\"len\":" + udec(len) + ",\"truncated\":" +
              (truncated ? "true" : "false") + "}");
}

void put_flags(Ctx& c, size_t i, std::span<const Named> t, const char* zero = "0") {
    c.set_same(i, flags_text(c.raw(i), t, zero));
}
void put_enum(Ctx& c, size_t i, std::span<const Named> t, const char* prefix, bool is32 = true) {
    int64_t v = is32 ? static_cast<int32_t>(c.raw(i)) : static_cast<int64_t>(c.raw(i));
    c.set_same(i, enum_text(v, t, prefix));
}

std::string fd_text(uint64_t raw) { return dec(static_cast<int32_t>(raw)); }

std::string sigset_text(const uint8_t* bytes, size_t len) {
    // strace prints the complement (~[...]) when more than half the signals are set.
    size_t nsig = std::min<size_t>(len * 8, 64);
    int set = 0;
    for (size_t s = 0; s < nsig; ++s) set += (bytes[s / 8] >> (s % 8)) & 1;
    bool invert = static_cast<size_t>(set) * 2 > nsig;
    std::string out = invert ? "~[" : "[";
    bool first = true;
    for (size_t s = 0; s < nsig; ++s) {
        bool bit = (bytes[s / 8] >> (s % 8)) & 1;
        if (bit == invert) continue;
        std::string n = signal_name(static_cast<int>(s + 1));
        if (n.empty()) n = std::to_string(s + 1);
        else if (n.rfind("SIG", 0) == 0) n = n.substr(3);
        if (!first) out += ' ';
        out += n;
        first = false;
    }
    return out + "]";
}

void put_sigset(Ctx& c, size_t i, uint64_t addr, uint64_t size) {
    if (addr == 0) return c.set(i, "NULL", "null");
    uint8_t b[8] = {};
    size_t n = std::min<uint64_t>(size, 8);
    if (n == 0 || c.mem.read(addr, b, n) != n) return c.set(i, hex_text(addr), ptr_json(addr));
    c.set_same(i, sigset_text(b, n));
}

struct KSigaction {
    uint64_t handler;
    uint64_t flags;
    uint64_t restorer;
    uint64_t mask;
};

void put_sigaction(Ctx& c, size_t i) {
    uint64_t addr = c.raw(i);
    if (addr == 0) return c.set(i, "NULL", "null");
    KSigaction sa{};
    if (!c.mem.read_struct(addr, sa)) return c.set(i, hex_text(addr), ptr_json(addr));
    std::string h = sa.handler == 0 ? "SIG_DFL" : sa.handler == 1 ? "SIG_IGN" : hex_text(sa.handler);
    std::string mask = sigset_text(reinterpret_cast<const uint8_t*>(&sa.mask), 8);
    std::string flags = flags_text(sa.flags, kSaFlags);
    std::string t = "{sa_handler=" + h + ", sa_mask=" + mask + ", sa_flags=" + flags;
    if (sa.flags & 0x04000000) t += ", sa_restorer=" + hex_text(sa.restorer);
    t += "}";
    c.set(i, t, "{\"handler\":" + jstr(h) + ",\"mask\":" + jstr(mask) + ",\"flags\":" + jstr(flags) + "}");
}

std::string timespec_text(int64_t sec, int64_t nsec, const char* frac = "tv_nsec") {
    return "{tv_sec=" + dec(sec) + ", " + frac + "=" + dec(nsec) + "}";
}

void put_timespec(Ctx& c, size_t i) {
    uint64_t addr = c.raw(i);
    if (addr == 0) return c.set(i, "NULL", "null");
    timespec ts{};
    if (!c.mem.read_struct(addr, ts)) return c.set(i, hex_text(addr), ptr_json(addr));
    c.set(i, timespec_text(ts.tv_sec, ts.tv_nsec),
          "{\"sec\":" + dec(ts.tv_sec) + ",\"nsec\":" + dec(ts.tv_nsec) + "}");
}

void put_timeval(Ctx& c, size_t i) {
    uint64_t addr = c.raw(i);
    if (addr == 0) return c.set(i, "NULL", "null");
    timeval tv{};
    if (!c.mem.read_struct(addr, tv)) return c.set(i, hex_text(addr), ptr_json(addr));
    c.set(i, timespec_text(tv.tv_sec, tv.tv_usec, "tv_usec"),
          "{\"sec\":" + dec(tv.tv_sec) + ",\"usec\":" + dec(tv.tv_usec) + "}");
}

std::string dev_text(uint64_t dev) {
    char b[64];
    std::snprintf(b, sizeof b, "makedev(%#x, %#x)", major(dev), minor(dev));
    return b;
}

void put_stat(Ctx& c, size_t i) {
    uint64_t addr = c.raw(i);
    struct stat st{};
    if (!c.mem.read_struct(addr, st)) return c.set(i, ptr_text(addr), ptr_json(addr));
    std::string mode = file_mode_text(st.st_mode);
    std::string t = "{st_mode=" + mode + ", ";
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
        t += "st_rdev=" + dev_text(st.st_rdev);
    else
        t += "st_size=" + dec(st.st_size);
    t += ", ...}";
    c.set(i, t, "{\"mode\":" + jstr(mode) + ",\"size\":" + dec(st.st_size) + ",\"ino\":" +
                    udec(st.st_ino) + ",\"uid\":" + udec(st.st_uid) + ",\"gid\":" +
                    udec(st.st_gid) + "}");
}

void put_statx(Ctx& c, size_t i) {
    uint64_t addr = c.raw(i);
    struct statx st{};
    if (!c.mem.read_struct(addr, st)) return c.set(i, ptr_text(addr), ptr_json(addr));
    std::string mask = flags_text(st.stx_mask, kStatxMask);
    std::string mode = file_mode_text(st.stx_mode);
    std::string t = "{stx_mask=" + mask + ", stx_attributes=" + hex_text(st.stx_attributes) +
                    ", stx_mode=" + mode + ", stx_size=" + udec(st.stx_size) + ", ...}";
    c.set(i, t, "{\"mask\":" + jstr(mask) + ",\"mode\":" + jstr(mode) + ",\"size\":" +
                    udec(st.stx_size) + ",\"ino\":" + udec(st.stx_ino) + "}");
}

// struct sockaddr of `len` bytes at `addr`.
void put_sockaddr(Ctx& c, size_t i, uint64_t addr, uint64_t len) {
    if (addr == 0) return c.set(i, "NULL", "null");
    sockaddr_storage ss{};
    size_t n = std::min<uint64_t>(len, sizeof ss);
    if (n < 2 || c.mem.read(addr, &ss, n) != n) return c.set(i, hex_text(addr), ptr_json(addr));
    int fam = ss.ss_family;
    std::string fname = enum_text(fam, kAddressFamilies, "AF_");
    std::string t = "{sa_family=" + fname;
    std::string j = "{\"family\":" + jstr(fname);
    if (fam == AF_INET && n >= sizeof(sockaddr_in)) {
        auto* in = reinterpret_cast<sockaddr_in*>(&ss);
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &in->sin_addr, a, sizeof a);
        int port = ntohs(in->sin_port);
        t += ", sin_port=htons(" + dec(port) + "), sin_addr=inet_addr(\"" + a + "\")}";
        j += ",\"port\":" + dec(port) + ",\"addr\":" + jstr(a) + "}";
    } else if (fam == AF_INET6 && n >= sizeof(sockaddr_in6)) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
        char a[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof a);
        int port = ntohs(in6->sin6_port);
        t += ", sin6_port=htons(" + dec(port) + "), sin6_flowinfo=htonl(" +
             udec(ntohl(in6->sin6_flowinfo)) + "), inet_pton(AF_INET6, \"" + a +
             "\", &sin6_addr), sin6_scope_id=" + udec(in6->sin6_scope_id) + "}";
        j += ",\"port\":" + dec(port) + ",\"addr\":" + jstr(a) + "}";
    } else if (fam == AF_UNIX) {
        const char* p = reinterpret_cast<sockaddr_un*>(&ss)->sun_path;
        size_t plen = n > 2 ? n - 2 : 0;
        if (plen > 0 && p[0] == '\0') {  // abstract name
            std::string s(p + 1, plen - 1);
            t += ", sun_path=@" + quote_string(s, false) + "}";
            j += ",\"path\":" + jstr("@" + s) + "}";
        } else {
            std::string s(p, strnlen(p, plen));
            t += ", sun_path=" + quote_string(s, false) + "}";
            j += ",\"path\":" + jstr(s) + "}";
        }
        if (plen == 0) {
            t = "{sa_family=AF_UNIX}";
            j = "{\"family\":\"AF_UNIX\"}";
        }
    } else if (fam == AF_NETLINK && n >= 12) {
        uint32_t pid, groups;
        std::memcpy(&pid, reinterpret_cast<char*>(&ss) + 4, 4);
        std::memcpy(&groups, reinterpret_cast<char*>(&ss) + 8, 4);
        char g[16];
        std::snprintf(g, sizeof g, "%08x", groups);
        t += ", nl_pid=" + udec(pid) + ", nl_groups=" + g + "}";
        j += ",\"pid\":" + udec(pid) + "}";
    } else {
        std::string data(reinterpret_cast<char*>(&ss) + 2, n - 2);
        t += ", sa_data=" + quote_string(data, false) + "}";
        j += "}";
    }
    c.set(i, t, j);
}

void put_iovec(Ctx& c, size_t i, uint64_t addr, uint64_t count, bool out) {
    if (addr == 0) return c.set(i, "NULL", "null");
    // For readv-like calls only the first `ret` bytes were filled.
    uint64_t budget = out ? static_cast<uint64_t>(c.ev.ret) : UINT64_MAX;
    std::string t = "[", j = "[";
    size_t n = std::min<uint64_t>(count, 1024);
    for (size_t k = 0; k < n; ++k) {
        iovec v{};
        if (!c.mem.read_struct(addr + k * sizeof(iovec), v)) {
            if (k == 0) return c.set(i, hex_text(addr), ptr_json(addr));
            t += "...";
            break;
        }
        if (k >= c.opts.array_limit) {
            t += ", ...";
            break;
        }
        if (k) t += ", ", j += ",";
        auto base = reinterpret_cast<uint64_t>(v.iov_base);
        uint64_t show = std::min<uint64_t>(v.iov_len, budget);
        budget -= show;
        std::string data(std::min<uint64_t>(show, c.opts.string_limit), '\0');
        size_t got = c.mem.read(base, data.data(), data.size());
        data.resize(got);
        t += "{iov_base=" + (base == 0 ? std::string("NULL") : quote_string(data, show > got)) +
             ", iov_len=" + udec(v.iov_len) + "}";
        j += "{\"data\":" + jstr(data) + ",\"len\":" + udec(v.iov_len) + "}";
    }
    c.set(i, t + "]", j + "]");
}

void put_argv(Ctx& c, size_t i) {
    uint64_t addr = c.raw(i);
    if (addr == 0) return c.set(i, "NULL", "null");
    std::string t = "[", j = "[";
    for (size_t k = 0;; ++k) {
        uint64_t p = 0;
        if (!c.mem.read_struct(addr + 8 * k, p)) {
            if (k == 0) return c.set(i, hex_text(addr), ptr_json(addr));
            break;
        }
        if (p == 0) break;
        if (k >= c.opts.array_limit) {
            t += ", ...";
            break;
        }
        std::string s;
        bool complete = c.mem.read_cstring(p, c.opts.string_limit, s);
        if (k) t += ", ", j += ",";
        t += quote_string(s, !complete);
        j += jstr(s);
    }
    c.set(i, t + "]", j + "]");
}

void put_envp(Ctx& c, size_t i) {
    uint64_t addr = c.raw(i);
    if (addr == 0) return c.set(i, "NULL", "null");
    size_t n = 0;
    for (;; ++n) {
        uint64_t p = 0;
        if (!c.mem.read_struct(addr + 8 * n, p) || p == 0) break;
        if (n > 100000) break;
    }
    c.set(i, hex_text(addr) + " /* " + udec(n) + (n == 1 ? " var */" : " vars */"),
          "{\"count\":" + udec(n) + "}");
}

std::string wait_status_text(int s) {
    char b[160];
    if (WIFEXITED(s))
        std::snprintf(b, sizeof b, "[{WIFEXITED(s) && WEXITSTATUS(s) == %d}]", WEXITSTATUS(s));
    else if (WIFSIGNALED(s))
        std::snprintf(b, sizeof b, "[{WIFSIGNALED(s) && WTERMSIG(s) == %s%s}]",
                      signal_name(WTERMSIG(s)).c_str(), WCOREDUMP(s) ? " && WCOREDUMP(s)" : "");
    else if (WIFSTOPPED(s))
        std::snprintf(b, sizeof b, "[{WIFSTOPPED(s) && WSTOPSIG(s) == %s}]",
                      signal_name(WSTOPSIG(s)).c_str());
    else if (WIFCONTINUED(s))
        std::snprintf(b, sizeof b, "[{WIFCONTINUED(s)}]");
    else
        std::snprintf(b, sizeof b, "[%#x]", s);
    return b;
}

std::string pollfds_text(Ctx& c, uint64_t addr, uint64_t n, bool revents, int* shown) {
    std::string t = "[";
    int count = 0;
    for (size_t k = 0; k < std::min<uint64_t>(n, 1024); ++k) {
        pollfd p{};
        if (!c.mem.read_struct(addr + k * sizeof p, p)) return hex_text(addr);
        if (revents && p.revents == 0) continue;
        if (count >= static_cast<int>(c.opts.array_limit)) {
            t += ", ...";
            break;
        }
        if (count++) t += ", ";
        t += "{fd=" + dec(p.fd) + ", " + (revents ? "revents=" : "events=") +
             flags_text(static_cast<uint16_t>(revents ? p.revents : p.events), kPollEvents) + "}";
    }
    if (shown) *shown = count;
    return t + "]";
}

std::string epoll_event_text(const epoll_event& e) {
    return "{events=" + flags_text(e.events, kEpollEvents) + ", data={u32=" + udec(e.data.u32) +
           ", u64=" + udec(e.data.u64) + "}}";
}

std::string rlim_value(uint64_t v) {
    if (v == RLIM64_INFINITY) return "RLIM64_INFINITY";
    if (v > 0 && v % 1024 == 0) return udec(v / 1024) + "*1024";
    return udec(v);
}

void put_rlimit(Ctx& c, size_t i) {
    uint64_t addr = c.raw(i);
    if (addr == 0) return c.set(i, "NULL", "null");
    uint64_t r[2];
    if (c.mem.read(addr, r, sizeof r) != sizeof r) return c.set(i, hex_text(addr), ptr_json(addr));
    c.set(i, "{rlim_cur=" + rlim_value(r[0]) + ", rlim_max=" + rlim_value(r[1]) + "}",
          "{\"cur\":" + (r[0] == RLIM64_INFINITY ? std::string("null") : udec(r[0])) +
              ",\"max\":" + (r[1] == RLIM64_INFINITY ? std::string("null") : udec(r[1])) + "}");
}

void put_int_ptr(Ctx& c, size_t i) {
    uint64_t addr = c.raw(i);
    if (addr == 0) return c.set(i, "NULL", "null");
    int32_t v;
    if (!c.mem.read_struct(addr, v)) return c.set(i, hex_text(addr), ptr_json(addr));
    c.set(i, "[" + dec(v) + "]", dec(v));
}

void put_msghdr(Ctx& c, size_t i, bool out) {
    uint64_t addr = c.raw(i);
    msghdr m{};
    if (!c.mem.read_struct(addr, m)) return c.set(i, ptr_text(addr), ptr_json(addr));
    std::string t = "{msg_name=";
    if (m.msg_name == nullptr) {
        t += "NULL";
    } else {
        Ctx tmp = c;
        DecodedArg save = c.call.args[i];
        put_sockaddr(tmp, i, reinterpret_cast<uint64_t>(m.msg_name), m.msg_namelen);
        t += c.call.args[i].text;
        c.call.args[i] = save;
    }
    t += ", msg_namelen=" + udec(m.msg_namelen) + ", msg_iov=";
    {
        DecodedArg save = c.call.args[i];
        put_iovec(c, i, reinterpret_cast<uint64_t>(m.msg_iov), m.msg_iovlen, out);
        t += c.call.args[i].text;
        c.call.args[i] = save;
    }
    t += ", msg_iovlen=" + udec(m.msg_iovlen);
    if (m.msg_controllen) t += ", msg_control=" + hex_text(reinterpret_cast<uint64_t>(m.msg_control));
    t += ", msg_controllen=" + udec(m.msg_controllen) + ", msg_flags=" + flags_text(m.msg_flags, kMsgFlags) + "}";
    c.set(i, t, "{\"iovlen\":" + udec(m.msg_iovlen) + ",\"namelen\":" + udec(m.msg_namelen) + "}");
}

std::string clone_flags_text(uint64_t flags) {
    uint64_t sig = flags & 0xff;
    std::string t = flags_text(flags & ~0xffULL, kCloneFlags, "");
    if (sig) {
        std::string s = signal_name(static_cast<int>(sig));
        if (s.empty()) s = udec(sig);
        t += (t.empty() ? "" : "|") + s;
    }
    return t.empty() ? "0" : t;
}

// fcntl: the third argument depends on the command.
void put_fcntl_arg(Ctx& c, size_t i) {
    int cmd = static_cast<int>(c.raw(i - 1));
    uint64_t v = c.raw(i);
    switch (cmd) {
        case F_SETFD: c.set_same(i, flags_text(v, kFdFlagsFcntl)); break;
        case F_SETFL: c.set_same(i, open_flags_text(v)); break;
        case F_DUPFD: case F_DUPFD_CLOEXEC: case F_SETOWN: case F_SETPIPE_SZ: case F_SETSIG:
        case F_NOTIFY: case F_SETLEASE: case F_ADD_SEALS:
            c.set(i, dec(static_cast<int32_t>(v)), dec(static_cast<int32_t>(v)));
            break;
        case F_GETFD: case F_GETFL: case F_GETOWN: case F_GETPIPE_SZ: case F_GETSIG:
        case F_GETLEASE: case F_GET_SEALS:
            c.call.args.resize(i);  // no third argument
            break;
        default: c.set(i, hex_text(v), ptr_json(v)); break;
    }
}

void put_sockopt_name(Ctx& c, size_t i) {
    int level = static_cast<int>(c.raw(i - 1));
    auto t = level == SOL_SOCKET ? kSolSocketOpts
           : level == IPPROTO_TCP ? kTcpOpts
           : level == IPPROTO_IP ? kIpOpts
           : level == IPPROTO_IPV6 ? kIpv6Opts
           : std::span<const Named>{};
    put_enum(c, i, t, level == SOL_SOCKET ? "SO_" : level == IPPROTO_TCP ? "TCP_" : "");
}

void put_sockopt_val(Ctx& c, size_t i) {
    uint64_t addr = c.raw(i), len = c.raw(i + 1);
    if (addr == 0) return c.set(i, "NULL", "null");
    if (len == 4) return put_int_ptr(c, i);
    put_buffer(c, i, addr, len);
}

// Returns "[3 5]" for the descriptors set in the fd_set at `addr` below
// `nfds`, or "" when it cannot be read.
std::string fdset_text(Ctx& c, uint64_t addr, int64_t nfds) {
    if (nfds < 0) nfds = 0;
    nfds = std::min<int64_t>(nfds, 1 << 16);
    size_t bytes = static_cast<size_t>((nfds + 63) / 64 * 8);
    std::string bits(bytes, '\0');
    if (bytes && c.mem.read(addr, bits.data(), bytes) != bytes) return {};
    std::string t = "[";
    for (int64_t fd = 0; fd < nfds; ++fd)
        if ((static_cast<unsigned char>(bits[fd / 8]) >> (fd % 8)) & 1) {
            if (t.size() > 1) t += ' ';
            t += dec(fd);
        }
    return t + "]";
}

// select/pselect6 at exit: "(in [3], out [4], left {tv_sec=0, tv_usec=99})" or "(Timeout)".
void select_suffix(Ctx& c) {
    if (c.ev.ret == 0) {
        c.call.ret_suffix = "(Timeout)";
        return;
    }
    static const char* names[] = {"in", "out", "except"};
    std::string t;
    for (size_t k = 1; k <= 3; ++k) {
        uint64_t addr = c.raw(k);
        if (!addr) continue;
        std::string set = fdset_text(c, addr, static_cast<int64_t>(c.raw(0)));
        if (set.empty() || set == "[]") continue;
        if (!t.empty()) t += ", ";
        t += std::string(names[k - 1]) + " " + set;
    }
    uint64_t tmo = c.raw(4);
    if (tmo) {
        if (c.kind(4) == Arg::Timeval) {
            timeval tv{};
            if (c.mem.read_struct(tmo, tv))
                t += (t.empty() ? "" : ", ") + std::string("left ") + timespec_text(tv.tv_sec, tv.tv_usec, "tv_usec");
        } else {
            timespec ts{};
            if (c.mem.read_struct(tmo, ts))
                t += (t.empty() ? "" : ", ") + std::string("left ") + timespec_text(ts.tv_sec, ts.tv_nsec);
        }
    }
    if (!t.empty()) c.call.ret_suffix = "(" + t + ")";
}

// Decodes argument `i` (kind `k`) for the current step.
void decode_one(Ctx& c, size_t i, Arg k) {
    uint64_t v = c.raw(i);
    switch (k) {
        case Arg::Void: break;
        case Arg::Int: c.set(i, dec(static_cast<int64_t>(v)), dec(static_cast<int64_t>(v))); break;
        case Arg::Uint: c.set(i, udec(v), udec(v)); break;
        case Arg::Size: c.set(i, udec(v), udec(v)); break;
        case Arg::Hex: c.set(i, hex_text(v), "\"" + hex_text(v) + "\""); break;
        case Arg::Octal: c.set(i, octal_text(v), dec(static_cast<int64_t>(v))); break;
        case Arg::Ptr: case Arg::Siginfo: case Arg::Rusage: c.set(i, ptr_text(v), ptr_json(v)); break;
        case Arg::Fd: case Arg::Pid:
            c.set(i, fd_text(v), fd_text(v));
            break;
        case Arg::Uid: c.set(i, dec(static_cast<int32_t>(v)), dec(static_cast<int32_t>(v))); break;
        case Arg::Dirfd:
            if (static_cast<int32_t>(v) == AT_FDCWD) c.set(i, "AT_FDCWD", "\"AT_FDCWD\"");
            else c.set(i, fd_text(v), fd_text(v));
            break;
        case Arg::Path: put_cstring(c, i, 4096); break;
        case Arg::Str: put_cstring(c, i, c.opts.string_limit); break;
        case Arg::OutStr:
            if (c.failed()) return c.set(i, ptr_text(v), ptr_json(v));
            put_cstring(c, i, 4096);
            break;
        case Arg::InBuf: put_buffer(c, i, v, c.raw(i + 1)); break;
        case Arg::OutBuf:
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            put_buffer(c, i, v, static_cast<uint64_t>(c.ev.ret));
            break;
        case Arg::OutBufHex:
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            put_buffer(c, i, v, static_cast<uint64_t>(c.ev.ret), true);
            break;
        case Arg::OpenFlags: c.set_same(i, open_flags_text(v)); break;
        case Arg::FdFlags:
            c.set_same(i, flags_text(v, kOpenFlags));
            break;
        case Arg::Mode: c.set(i, octal_text(v & 07777), dec(static_cast<int64_t>(v))); break;
        case Arg::AtFlags: put_flags(c, i, kAtFlags); break;
        case Arg::OutCpuSet: {
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            std::string bits(std::min<int64_t>(c.ev.ret, 1024), '\0');
            if (c.mem.read(v, bits.data(), bits.size()) != bits.size()) return c.set(i, ptr_text(v), ptr_json(v));
            std::string t = "[", j = "[";
            for (size_t cpu = 0; cpu < bits.size() * 8; ++cpu)
                if ((static_cast<unsigned char>(bits[cpu / 8]) >> (cpu % 8)) & 1) {
                    if (t.size() > 1) t += ' ', j += ',';
                    t += udec(cpu);
                    j += udec(cpu);
                }
            c.set(i, t + "]", j + "]");
            break;
        }
        case Arg::SigreturnFrame: {
            // x86_64: at entry the stack pointer is at the kernel's struct
            // ucontext; uc_sigmask follows uc_flags, uc_link, uc_stack (40 bytes)
            // and uc_mcontext (256 bytes).
            uint64_t mask = 0;
            if (c.ev.stack_pointer == 0 || !c.mem.read_struct(c.ev.stack_pointer + 296, mask)) {
                c.set(i, "{mask=?}", "null");
                break;
            }
            std::string m = sigset_text(reinterpret_cast<const uint8_t*>(&mask), 8);
            c.set(i, "{mask=" + m + "}", "{\"mask\":" + jstr(m) + "}");
            break;
        }
        case Arg::StatxFlags: {
            // The sync type is a 2-bit field; 0 is AT_STATX_SYNC_AS_STAT.
            std::string t = (v & 0x6000) == 0 ? "AT_STATX_SYNC_AS_STAT" : "";
            std::string rest = flags_text(v, kAtFlags, "");
            if (!rest.empty()) t += (t.empty() ? "" : "|") + rest;
            c.set_same(i, t);
            break;
        }
        case Arg::UnlinkFlags: c.set_same(i, v == AT_REMOVEDIR ? "AT_REMOVEDIR" : flags_text(v, kAtFlags)); break;
        case Arg::Signal: {
            std::string s = signal_name(static_cast<int>(v));
            c.set_same(i, s.empty() ? dec(static_cast<int32_t>(v)) : s);
            break;
        }
        case Arg::Sockaddr: put_sockaddr(c, i, v, c.raw(i + 1)); break;
        case Arg::OutSockaddr: {
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            uint32_t len = 0;
            if (c.raw(i + 1) && !c.mem.read_struct(c.raw(i + 1), len)) len = 0;
            put_sockaddr(c, i, v, len);
            break;
        }
        case Arg::SocklenPtr: {
            if (v == 0) return c.set(i, "NULL", "null");
            uint32_t len = 0;
            if (!c.mem.read_struct(v, len)) return c.set(i, ptr_text(v), ptr_json(v));
            DecodedArg& a = c.call.args[i];
            if (!c.exit) {
                a.saved = len;
                a.saved_valid = true;
                c.set(i, "[" + udec(len) + "]", udec(len));
            } else if (a.saved_valid && a.saved != len && !c.failed()) {
                c.set(i, "[" + udec(a.saved) + " => " + udec(len) + "]", udec(len));
            }
            break;
        }
        case Arg::StatBuf:
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            put_stat(c, i);
            break;
        case Arg::OutStatx:
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            put_statx(c, i);
            break;
        case Arg::Iovec: put_iovec(c, i, v, c.raw(i + 1), false); break;
        case Arg::OutIovec:
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            put_iovec(c, i, v, c.raw(i + 1), true);
            break;
        case Arg::Timespec: put_timespec(c, i); break;
        case Arg::OutTimespec:
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            put_timespec(c, i);
            break;
        case Arg::Timeval: put_timeval(c, i); break;
        case Arg::OutTimeval:
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            put_timeval(c, i);
            break;
        case Arg::Prot: put_flags(c, i, kProt, "PROT_NONE"); break;
        case Arg::MapFlags: put_flags(c, i, kMapFlags); break;
        case Arg::CloneFlags: c.set_same(i, clone_flags_text(v)); break;
        case Arg::SockDomain: put_enum(c, i, kAddressFamilies, "AF_"); break;
        case Arg::SockType: {
            std::string t = enum_text(v & 0xf, kSockTypes, "SOCK_");
            if (v & ~0xfULL) t += "|" + flags_text(v & ~0xfULL, kSockTypeFlags);
            c.set_same(i, t);
            break;
        }
        case Arg::SockFlags: put_flags(c, i, kSockTypeFlags); break;
        case Arg::SockProto: {
            int dom = -1;  // the domain argument before it
            for (size_t k = i; k-- > 0;)
                if (c.kind(k) == Arg::SockDomain) {
                    dom = static_cast<int>(c.raw(k));
                    break;
                }
            if (dom == AF_INET || dom == AF_INET6) put_enum(c, i, kIpProtos, "IPPROTO_");
            else c.set(i, dec(static_cast<int32_t>(v)), dec(static_cast<int32_t>(v)));
            break;
        }
        case Arg::MsgFlags: put_flags(c, i, kMsgFlags); break;
        case Arg::SockLevel: put_enum(c, i, kSockLevels, "SOL_"); break;
        case Arg::SockOpt: put_sockopt_name(c, i); break;
        case Arg::SockOptVal: put_sockopt_val(c, i); break;
        case Arg::FdSet: {
            if (v == 0) return c.set(i, "NULL", "null");
            if (!c.exit) {
                std::string t = fdset_text(c, v, static_cast<int64_t>(c.raw(0)));
                if (t.empty()) return c.set(i, ptr_text(v), ptr_json(v));
                c.set_same(i, t);
            } else if (c.ev.returned && !c.failed() && i == 1 + 0 + (c.raw(1) ? 0 : c.raw(2) ? 1 : 2)) {
                select_suffix(c);  // once, at the first non-NULL set
            }
            break;
        }
        case Arg::OutSockOptVal: {
            if (c.failed() || !c.ev.returned || v == 0) return c.set(i, ptr_text(v), ptr_json(v));
            uint32_t len = 0;
            if (!c.mem.read_struct(c.raw(i + 1), len)) return c.set(i, ptr_text(v), ptr_json(v));
            if (len == 4) return put_int_ptr(c, i);
            put_buffer(c, i, v, len);
            break;
        }
        case Arg::AccessMode: put_flags(c, i, kAccessModes, "F_OK"); break;
        case Arg::Whence: put_enum(c, i, kWhence, "SEEK_"); break;
        case Arg::FcntlCmd: put_enum(c, i, kFcntlCmds, "F_"); break;
        case Arg::IoctlReq: {
            const char* n = enum_name(static_cast<uint32_t>(v), kIoctls);
            c.set_same(i, n ? n : hex_text(static_cast<uint32_t>(v)));
            break;
        }
        case Arg::FutexOp: {
            uint64_t op = v & 0x7f;
            std::string t = enum_text(static_cast<int64_t>(op), kFutexOps, "FUTEX_");
            if (v & 128) t += "_PRIVATE";
            if (v & 256) t += "|FUTEX_CLOCK_REALTIME";
            c.set_same(i, t);
            break;
        }
        case Arg::SigHow: put_enum(c, i, kSigHow, "SIG_"); break;
        case Arg::Sigset: put_sigset(c, i, v, c.raw(i + 1) ? c.raw(i + 1) : 8); break;
        case Arg::OutSigset:
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            put_sigset(c, i, v, c.raw(i + 1) ? c.raw(i + 1) : 8);
            break;
        case Arg::Sigaction: put_sigaction(c, i); break;
        case Arg::OutSigaction:
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            put_sigaction(c, i);
            break;
        case Arg::Argv: put_argv(c, i); break;
        case Arg::Envp: put_envp(c, i); break;
        case Arg::OutPipeFds: {
            int32_t fds[2];
            if (c.failed() || !c.ev.returned || c.mem.read(v, fds, 8) != 8)
                return c.set(i, ptr_text(v), ptr_json(v));
            c.set(i, "[" + dec(fds[0]) + ", " + dec(fds[1]) + "]", "[" + dec(fds[0]) + "," + dec(fds[1]) + "]");
            break;
        }
        case Arg::OutWaitStatus: {
            if (v == 0) return c.set(i, "NULL", "null");
            int32_t s;
            if (c.failed() || !c.ev.returned || c.ev.ret == 0 || !c.mem.read_struct(v, s))
                return c.set(i, ptr_text(v), ptr_json(v));
            c.set_same(i, wait_status_text(s));
            break;
        }
        case Arg::WaitOptions: put_flags(c, i, kWaitOptions); break;
        case Arg::PollFds:
            if (v == 0) return c.set(i, "NULL", "null");
            if (!c.exit) {
                c.set_same(i, pollfds_text(c, v, c.raw(i + 1), false, nullptr));
            } else if (c.ev.returned && !c.failed()) {
                if (c.ev.ret == 0) {
                    c.call.ret_suffix = "(Timeout)";
                } else {
                    c.call.ret_suffix = "(" + pollfds_text(c, v, c.raw(i + 1), true, nullptr) + ")";
                }
            }
            break;
        case Arg::OutEpollEvents: {
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            std::string t = "[";
            for (int64_t k = 0; k < c.ev.ret; ++k) {
                epoll_event e{};
                if (!c.mem.read_struct(v + k * sizeof e, e)) break;
                if (k >= static_cast<int64_t>(c.opts.array_limit)) {
                    t += ", ...";
                    break;
                }
                if (k) t += ", ";
                t += epoll_event_text(e);
            }
            c.set_same(i, t + "]");
            break;
        }
        case Arg::EpollCtlOp: put_enum(c, i, kEpollCtlOps, "EPOLL_CTL_"); break;
        case Arg::EpollEvent: {
            epoll_event e{};
            if (v == 0) return c.set(i, "NULL", "null");
            if (!c.mem.read_struct(v, e)) return c.set(i, ptr_text(v), ptr_json(v));
            c.set_same(i, epoll_event_text(e));
            break;
        }
        case Arg::ClockId: put_enum(c, i, kClockIds, "CLOCK_"); break;
        case Arg::RlimitResource: put_enum(c, i, kRlimits, "RLIMIT_"); break;
        case Arg::Rlimit: put_rlimit(c, i); break;
        case Arg::OutRlimit:
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            put_rlimit(c, i);
            break;
        case Arg::ArchPrctlCode: put_enum(c, i, kArchPrctl, "ARCH_"); break;
        case Arg::PrctlOption: put_enum(c, i, kPrctl, "PR_"); break;
        case Arg::OutDirents:
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            {
                // Count entries: each linux_dirent64 has d_reclen at offset 16.
                size_t n = 0;
                for (int64_t off = 0; off < c.ev.ret && n < 100000;) {
                    uint16_t reclen = 0;
                    if (c.mem.read(v + off + 16, &reclen, 2) != 2 || reclen == 0) break;
                    off += reclen;
                    ++n;
                }
                c.set(i, hex_text(v) + " /* " + udec(n) + (n == 1 ? " entry */" : " entries */"),
                      "{\"entries\":" + udec(n) + "}");
            }
            break;
        case Arg::OffPtr: {
            if (v == 0) return c.set(i, "NULL", "null");
            int64_t off;
            if (!c.mem.read_struct(v, off)) return c.set(i, ptr_text(v), ptr_json(v));
            DecodedArg& a = c.call.args[i];
            if (!c.exit) {
                a.saved = static_cast<uint64_t>(off);
                a.saved_valid = true;
                c.set(i, "[" + dec(off) + "]", dec(off));
            } else if (!c.failed() && a.saved_valid && static_cast<int64_t>(a.saved) != off) {
                c.set(i, "[" + dec(static_cast<int64_t>(a.saved)) + "] => [" + dec(off) + "]", dec(off));
            }
            break;
        }
        case Arg::RenameFlags: put_flags(c, i, kRenameFlags); break;
        case Arg::GrndFlags: put_flags(c, i, kGrndFlags); break;
        case Arg::OutUname: {
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            utsname u{};
            if (!c.mem.read_struct(v, u)) return c.set(i, ptr_text(v), ptr_json(v));
            c.set(i, "{sysname=" + quote_string(u.sysname, false) + ", nodename=" +
                         quote_string(u.nodename, false) + ", ...}",
                  "{\"sysname\":" + jstr(u.sysname) + ",\"nodename\":" + jstr(u.nodename) +
                      ",\"release\":" + jstr(u.release) + ",\"machine\":" + jstr(u.machine) + "}");
            break;
        }
        case Arg::StatxMask: put_flags(c, i, kStatxMask); break;
        case Arg::MadviseAdvice: put_enum(c, i, kMadvise, "MADV_"); break;
        case Arg::FadviseAdvice: put_enum(c, i, kFadvise, "POSIX_FADV_"); break;
        case Arg::ShutdownHow: put_enum(c, i, kShutdown, "SHUT_"); break;
        case Arg::EventfdFlags: put_flags(c, i, kEfdFlags); break;
        case Arg::EpollFlags: c.set_same(i, v == O_CLOEXEC ? "EPOLL_CLOEXEC" : flags_text(v, {})); break;
        case Arg::OutSysinfo: {
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            struct sysinfo si{};
            if (!c.mem.read_struct(v, si)) return c.set(i, ptr_text(v), ptr_json(v));
            c.set(i, "{uptime=" + dec(si.uptime) + ", loads=[" + udec(si.loads[0]) + ", " + udec(si.loads[1]) +
                         ", " + udec(si.loads[2]) + "], totalram=" + udec(si.totalram) + ", freeram=" +
                         udec(si.freeram) + ", sharedram=" + udec(si.sharedram) + ", bufferram=" +
                         udec(si.bufferram) + ", totalswap=" + udec(si.totalswap) + ", freeswap=" +
                         udec(si.freeswap) + ", procs=" + udec(si.procs) + ", totalhigh=" +
                         udec(si.totalhigh) + ", freehigh=" + udec(si.freehigh) + ", mem_unit=" +
                         udec(si.mem_unit) + "}",
                  "{\"uptime\":" + dec(si.uptime) + ",\"totalram\":" + udec(si.totalram) + "}");
            break;
        }
        case Arg::OutStatfs: {
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            struct statfs sf{};
            if (!c.mem.read_struct(v, sf)) return c.set(i, ptr_text(v), ptr_json(v));
            c.set(i, "{f_type=" + hex_text(static_cast<uint64_t>(sf.f_type)) + ", f_bsize=" +
                         dec(sf.f_bsize) + ", f_blocks=" + udec(sf.f_blocks) + ", ...}",
                  "{\"type\":" + dec(sf.f_type) + ",\"bsize\":" + dec(sf.f_bsize) + "}");
            break;
        }
        case Arg::Clone3Args: {
            clone_args ca{};
            size_t n = std::min<uint64_t>(c.raw(i + 1), sizeof ca);
            if (v == 0 || n < 64 || c.mem.read(v, &ca, n) != n)
                return c.set(i, ptr_text(v), ptr_json(v));
            std::string fl = flags_text(ca.flags, kCloneFlags);
            std::string t = "{flags=" + fl;
            if (ca.child_tid) t += ", child_tid=" + hex_text(ca.child_tid);
            if (ca.parent_tid) t += ", parent_tid=" + hex_text(ca.parent_tid);
            std::string es = ca.exit_signal ? signal_name(static_cast<int>(ca.exit_signal)) : "0";
            t += ", exit_signal=" + es + ", stack=" + hex_text(ca.stack) + ", stack_size=" +
                 hex_text(ca.stack_size);
            if (ca.tls) t += ", tls=" + hex_text(ca.tls);
            c.set(i, t + "}", "{\"flags\":" + jstr(fl) + ",\"exit_signal\":" + jstr(es) + "}");
            break;
        }
        case Arg::OutInt:
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            put_int_ptr(c, i);
            break;
        case Arg::IntPtr: put_int_ptr(c, i); break;
        case Arg::Itimer: put_enum(c, i, kItimers, "ITIMER_"); break;
        case Arg::MsgHdr: put_msghdr(c, i, false); break;
        case Arg::OutMsgHdr:
            if (c.failed() || !c.ev.returned) return c.set(i, ptr_text(v), ptr_json(v));
            put_msghdr(c, i, true);
            break;
        case Arg::CloseRangeFlags: put_flags(c, i, kCloseRangeFlags); break;
        case Arg::TimerFlags: put_flags(c, i, kTimerFlags); break;
        case Arg::MemfdFlags: put_flags(c, i, kMfdFlags); break;
        case Arg::InotifyMask: put_flags(c, i, kInotifyMask); break;
        case Arg::SpliceFlags: put_flags(c, i, kSpliceFlags); break;
        case Arg::MlockFlags: put_flags(c, i, kMlockFlags); break;
        case Arg::MsyncFlags: put_flags(c, i, kMsyncFlags); break;
        case Arg::MremapFlags: put_flags(c, i, kMremapFlags); break;
        case Arg::SchedPolicy: put_enum(c, i, kSchedPolicies, "SCHED_"); break;
        case Arg::PersonalityFlags: c.set_same(i, hex_text(v)); break;
        case Arg::Which: put_enum(c, i, kWhich, "PRIO_"); break;
        case Arg::FlockOp: put_flags(c, i, kFlockOps); break;
        case Arg::FallocMode: put_flags(c, i, kFallocModes); break;
        case Arg::SignalfdFlags: c.set_same(i, flags_text(v, kOpenFlags)); break;
        case Arg::TimerfdFlags: c.set_same(i, flags_text(v, kOpenFlags)); break;
        case Arg::InotifyFlags: c.set_same(i, flags_text(v, kOpenFlags)); break;
        case Arg::Idtype: put_enum(c, i, kIdtypes, "P_"); break;
        case Arg::XattrFlags: put_flags(c, i, kXattrFlags); break;
        case Arg::MountFlags: put_flags(c, i, kMountFlags); break;
        case Arg::UmountFlags: put_flags(c, i, kUmountFlags); break;
    }
}

// futex(uaddr, op, val, timeout|val2, uaddr2, val3): which of them the op reads.
void trim_futex(DecodedCall& call, const SyscallEvent& ev) {
    int op = static_cast<int>(ev.args[1]) & 0x7f;
    auto keep = [&](std::initializer_list<size_t> idx) {
        std::vector<DecodedArg> out;
        for (size_t k : idx)
            if (k < call.args.size()) out.push_back(call.args[k]);
        call.args = std::move(out);
    };
    auto as_int = [&](size_t k) {
        if (k < call.args.size()) {
            call.args[k].text = std::to_string(static_cast<int32_t>(ev.args[k]));
            call.args[k].json = call.args[k].text;
        }
    };
    auto as_bitset = [&](size_t k) {
        if (k < call.args.size() && static_cast<uint32_t>(ev.args[k]) == 0xffffffffu) {
            call.args[k].text = "FUTEX_BITSET_MATCH_ANY";
            call.args[k].json = "\"FUTEX_BITSET_MATCH_ANY\"";
        }
    };
    switch (op) {
        case FUTEX_WAKE: case FUTEX_UNLOCK_PI: case FUTEX_FD: keep({0, 1, 2}); break;
        case FUTEX_WAIT: case FUTEX_LOCK_PI: case 13: keep({0, 1, 2, 3}); break;
        case FUTEX_TRYLOCK_PI: keep({0, 1}); break;
        case FUTEX_WAIT_BITSET: as_bitset(5); keep({0, 1, 2, 3, 5}); break;
        case FUTEX_WAKE_BITSET: as_bitset(5); keep({0, 1, 2, 5}); break;
        case FUTEX_REQUEUE: as_int(3); keep({0, 1, 2, 3, 4}); break;
        case FUTEX_CMP_REQUEUE: case FUTEX_CMP_REQUEUE_PI: as_int(3); keep({0, 1, 2, 3, 4, 5}); break;
        case FUTEX_WAIT_REQUEUE_PI: keep({0, 1, 2, 3, 4}); break;
        default: break;
    }
}

// clone's x86_64 layout is (flags, stack, parent_tid, child_tid, tls); strace
// prints it by field name in its own order.
void rewrite_clone(DecodedCall& call, const SyscallEvent& ev) {
    uint64_t flags = ev.args[0];
    std::vector<DecodedArg> out;
    auto add = [&](std::string t, std::string j) {
        DecodedArg a;
        a.kind = Arg::Hex;
        a.text = std::move(t);
        a.json = std::move(j);
        out.push_back(std::move(a));
    };
    add("child_stack=" + ptr_text(ev.args[1]), ptr_json(ev.args[1]));
    std::string f = clone_flags_text(flags);
    add("flags=" + f, json_string(f));
    if (flags & CLONE_PARENT_SETTID) add("parent_tid=" + ptr_text(ev.args[2]), ptr_json(ev.args[2]));
    if (flags & (CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID))
        add("child_tidptr=" + ptr_text(ev.args[3]), ptr_json(ev.args[3]));
    if (flags & CLONE_SETTLS) add("tls=" + ptr_text(ev.args[4]), ptr_json(ev.args[4]));
    out[1].kind = Arg::CloneFlags;
    call.args = std::move(out);
}

}  // namespace

bool is_entry_kind(Arg k) {
    // poll's fds are printed at entry; what the kernel returns goes after the result.
    return direction(k) == Dir::In || k == Arg::PollFds || k == Arg::FdSet;
}

std::string syscall_name(int nr) {
    if (const SyscallInfo* s = syscall_info(nr)) return std::string(s->name);
    char b[32];
    std::snprintf(b, sizeof b, "syscall_%#x", static_cast<unsigned>(nr));
    return b;
}

std::string result_text(const SyscallInfo* info, int64_t ret) {
    if (is_error_return(ret)) {
        int e = static_cast<int>(-ret);
        if (const char* r = errno_restart_name(e))
            return std::string("? ") + r + " (" + errno_restart_message(e) + ")";
        const char* n = errno_name(e);
        return "-1 " + std::string(n ? n : ("errno " + std::to_string(e)).c_str()) + " (" +
               std::strerror(e) + ")";
    }
    if (info && info->family == Family::Memory && info->nargs > 0 && info->args[0] == Arg::Ptr)
        return hex_text(static_cast<uint64_t>(ret));
    if (info && info->nargs == 1 && info->args[0] == Arg::Octal)
        return octal_text(static_cast<uint64_t>(ret));
    return std::to_string(ret);
}

void Decoder::decode_entry(const SyscallEvent& ev, MemoryReader& mem, DecodedCall& call) const {
    call = DecodedCall{};
    call.info = syscall_info(ev.nr);
    call.name = syscall_name(ev.nr);
    call.entered = true;
    size_t n;
    if (!call.info || call.info->nargs == 0) n = 6;  // undecoded: six raw values
    else if (call.info->nargs == 1 && call.info->args[0] == Arg::Void) n = 0;
    else n = call.info->nargs;
    call.args.resize(n);
    Ctx c{ev, mem, opts_, call, false};
    for (size_t i = 0; i < n && i < call.args.size(); ++i) {
        Arg k = c.kind(i);
        call.args[i].kind = k;
        if (direction(k) == Dir::Out) {
            // Filled at exit; until then (or if it never returns) the address.
            c.set(i, ptr_text(ev.args[i]), ptr_json(ev.args[i]));
            continue;
        }
        decode_one(c, i, k);
    }
    // open's mode is only meaningful (and only printed by strace) with O_CREAT/O_TMPFILE.
    for (size_t i = 1; call.info && i < call.args.size(); ++i)
        if (call.info->args[i] == Arg::Mode && call.info->args[i - 1] == Arg::OpenFlags &&
            !(ev.args[i - 1] & (O_CREAT | 020000000))) {
            call.args.resize(i);
            break;
        }
    // futex prints the arguments its operation uses.
    if (call.info && call.info->nargs >= 2 && call.info->args[1] == Arg::FutexOp) trim_futex(call, ev);
    // ioctls that take no argument.
    if (call.info && call.info->nargs == 3 && call.info->args[1] == Arg::IoctlReq) {
        uint32_t req = static_cast<uint32_t>(ev.args[1]);
        if (req == FIOCLEX || req == FIONCLEX || req == TIOCNOTTY) call.args.resize(2);
    }
    // clone3's struct is printed at entry and completed at exit.
    if (call.info && call.info->nargs >= 1 && call.info->args[0] == Arg::Clone3Args && !call.args.empty())
        call.args[0].entry_len = call.args[0].text.size();
    // The argument after an fcntl command depends on it.
    if (call.info && call.info->nargs >= 3 && call.info->args[1] == Arg::FcntlCmd)
        put_fcntl_arg(c, 2);
    if (call.info && call.info->nargs >= 1 && call.info->args[0] == Arg::CloneFlags &&
        call.info->family == Family::Process && call.info->nargs == 5)
        rewrite_clone(call, ev);
}

void Decoder::decode_exit(const SyscallEvent& ev, MemoryReader& mem, DecodedCall& call) const {
    if (!call.entered) decode_entry(ev, mem, call);
    call.returned = ev.returned;
    call.ret = ev.ret;
    if (!ev.returned) {
        call.ret_text = "?";
        return;
    }
    call.err = is_error_return(ev.ret) ? static_cast<int>(-ev.ret) : 0;
    call.ret_text = result_text(call.info, ev.ret);
    if (!call.info || call.info->nargs == 0) return;
    Ctx c{ev, mem, opts_, call, true};
    size_t n = std::min<size_t>(call.info->nargs, call.args.size());
    if (call.info->args[0] == Arg::CloneFlags && call.info->nargs == 5) n = 0;  // rewritten
    // clone3 reports the parent_tid the kernel stored, as strace does.
    if (call.info->args[0] == Arg::Clone3Args && call.err == 0 && !call.args.empty()) {
        clone_args ca{};
        size_t sz = std::min<uint64_t>(ev.args[1], sizeof ca);
        int32_t ptid = 0;
        if (sz >= 64 && mem.read(ev.args[0], &ca, sz) == sz && (ca.flags & CLONE_PARENT_SETTID) &&
            ca.parent_tid && mem.read_struct(ca.parent_tid, ptid))
            call.args[0].text += " => {parent_tid=[" + std::to_string(ptid) + "]}";
    }
    for (size_t i = 0; i < n; ++i) {
        Arg k = call.info->args[i];
        if (direction(k) != Dir::In) decode_one(c, i, k);
    }
    // fcntl results that are flag sets.
    if (call.info->nargs >= 2 && call.info->args[1] == Arg::FcntlCmd && call.err == 0) {
        int cmd = static_cast<int>(ev.args[1]);
        if (cmd == F_GETFD) {
            call.ret_text = hex_text(static_cast<uint64_t>(ev.ret));
            call.ret_suffix = "(flags " + flags_text(static_cast<uint64_t>(ev.ret), kFdFlagsFcntl) + ")";
            if (ev.ret == 0) call.ret_suffix.clear(), call.ret_text = "0";
        } else if (cmd == F_GETFL) {
            call.ret_text = hex_text(static_cast<uint64_t>(ev.ret));
            call.ret_suffix = "(flags " + open_flags_text(static_cast<uint64_t>(ev.ret)) + ")";
        }
    }
}

std::string quote_string(std::string_view s, bool truncated) {
    std::string out;
    out.reserve(s.size() + 8);
    out += '"';
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned char ch = static_cast<unsigned char>(s[i]);
        switch (ch) {
            case '"': out += "\\\""; continue;
            case '\\': out += "\\\\"; continue;
            case '\f': out += "\\f"; continue;
            case '\n': out += "\\n"; continue;
            case '\r': out += "\\r"; continue;
            case '\t': out += "\\t"; continue;
            case '\v': out += "\\v"; continue;
        }
        if (ch >= ' ' && ch <= 0x7e) {
            out += static_cast<char>(ch);
            continue;
        }
        out += '\\';
        bool next_octal = i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7';
        if (next_octal) {
            out += static_cast<char>('0' + (ch >> 6));
            out += static_cast<char>('0' + ((ch >> 3) & 7));
        } else if (ch >> 3) {
            if (ch >> 6) out += static_cast<char>('0' + (ch >> 6));
            out += static_cast<char>('0' + ((ch >> 3) & 7));
        }
        out += static_cast<char>('0' + (ch & 7));
    }
    out += '"';
    if (truncated) out += "...";
    return out;
}

std::string json_string(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    for (unsigned char ch : s) {
        switch (ch) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (ch < 0x20 || ch >= 0x7f) {
                    char b[8];
                    std::snprintf(b, sizeof b, "\\u%04x", ch);
                    out += b;
                } else {
                    out += static_cast<char>(ch);
                }
        }
    }
    out += '"';
    return out;
}

}  // namespace hsbox::tracer
