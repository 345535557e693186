// Tunnel file parsing (toml++) and key files. Every refusal is one line naming
// the file, the line and the field.
#include "hsbox/netstack/tunnel_config.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <set>
#include <toml++/toml.h>

#include "hsbox/fd.hpp"

namespace hsbox::netstack {

namespace {

Error bad(const std::string& file, const toml::source_region& where, const std::string& field,
          const std::string& what, int code = EINVAL) {
    std::string loc = file;
    if (where.begin.line) loc += ":" + std::to_string(where.begin.line);
    return Error{code, loc + ": " + field + ": " + what};
}

std::string dir_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

// Refuses keys not in `allowed`; returns the first refusal.
Status check_keys(const std::string& file, const toml::table& t, const std::string& prefix,
                  std::initializer_list<std::string_view> allowed) {
    for (auto&& [k, v] : t) {
        bool ok = false;
        for (auto a : allowed) ok |= (k.str() == a);
        if (!ok)
            return bad(file, k.source().begin.line ? k.source() : v.source(),
                       prefix + std::string(k.str()), "unknown key");
    }
    return {};
}

Result<std::string> get_string(const std::string& file, const toml::table& t, const toml::source_region& at,
                               const std::string& prefix, std::string_view key) {
    const toml::node* n = t.get(key);
    if (!n) return bad(file, at, prefix + std::string(key), "missing");
    auto s = n->value<std::string>();
    if (!n->is_string() || !s) return bad(file, n->source(), prefix + std::string(key), "must be a string");
    if (s->empty()) return bad(file, n->source(), prefix + std::string(key), "must not be empty");
    return *s;
}

Result<uint32_t> get_spi(const std::string& file, const toml::table& t, const toml::source_region& at,
                         const std::string& prefix, std::string_view key) {
    const toml::node* n = t.get(key);
    std::string field = prefix + std::string(key);
    if (!n) return bad(file, at, field, "missing");
    if (!n->is_integer()) return bad(file, n->source(), field, "must be an integer (e.g. 0x1001)");
    int64_t v = *n->value<int64_t>();
    if (v < 256 || v > 0xffffffffll)
        return bad(file, n->source(), field,
                   "SPI " + std::to_string(v) + " out of range (256..0xffffffff; 0-255 are reserved)");
    return uint32_t(v);
}

}  // namespace

uint16_t Endpoint::port() const {
    if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
}

Result<Endpoint> parse_endpoint(std::string_view text) {
    Endpoint e;
    e.text = std::string(text);
    std::string host;
    std::string port;
    if (!text.empty() && text[0] == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) return Error{EINVAL, "'" + e.text + "': missing ']'"};
        host = std::string(text.substr(1, close - 1));
        auto rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest[0] != ':') return Error{EINVAL, "'" + e.text + "': expected ':PORT' after ']'"};
            port = std::string(rest.substr(1));
        }
    } else {
        auto colon = text.find(':');
        if (colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos) {
            host = std::string(text.substr(0, colon));
            port = std::string(text.substr(colon + 1));
        } else {
            host = std::string(text);  // bare IPv4 or IPv6 address
        }
    }
    unsigned long p = kNatTPort;
    if (!port.empty() || (text.size() && text.back() == ':')) {
        char* end = nullptr;
        p = std::strtoul(port.c_str(), &end, 10);
        if (port.empty() || *end || p == 0 || p > 65535)
            return Error{EINVAL, "'" + e.text + "': bad port '" + port + "'"};
    }
    auto* s4 = reinterpret_cast<sockaddr_in*>(&e.addr);
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&e.addr);
    if (inet_pton(AF_INET, host.c_str(), &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(uint16_t(p));
        e.len = sizeof *s4;
    } else if (inet_pton(AF_INET6, host.c_str(), &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(uint16_t(p));
        e.len = sizeof *s6;
    } else {
        return Error{EINVAL, "'" + e.text + "': '" + host + "' is not a numeric IPv4/IPv6 address"};
    }
    return e;
}

std::vector<TunnelPeer> TunnelConfig::tunnel_peers() const {
    std::vector<TunnelPeer> v;
    for (auto& p : peers) {
        TunnelPeer t;
        t.addresses = p.addresses;
        t.spi_in = p.spi_in;
        t.spi_out = p.spi_out;
        t.epoch_ivs = p.iv_epochs;
        t.key_in = p.key_in;
        t.key_out = p.key_out;
        v.push_back(std::move(t));
    }
    return v;
}

Result<GcmKey> read_key_file(const std::string& path) {
    // O_NOFOLLOW + fstat on the opened fd: the checks apply to what we read.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return last_error("key file " + path);
    Fd owned(fd);
    struct stat st;
    if (fstat(fd, &st) != 0) return last_error("key file " + path);
    if (!S_ISREG(st.st_mode)) return Error{EINVAL, "key file " + path + " is not a regular file"};
    if (st.st_mode & 077) {
        char m[8];
        std::snprintf(m, sizeof m, "%04o", unsigned(st.st_mode & 07777));
        return Error{EACCES, "key file " + path + " has mode " + m +
                                 " (group/world may access it); chmod 600 it"};
    }
    if (st.st_uid != geteuid() && st.st_uid != 0)
        return Error{EPERM, "key file " + path + " is owned by uid " + std::to_string(st.st_uid) +
                                ", not by us or root"};
    std::string text;
    char b[512];
    ssize_t n;
    while ((n = ::read(fd, b, sizeof b)) > 0) {
        text.append(b, size_t(n));
        if (text.size() > 4096) return Error{EINVAL, "key file " + path + " is too long for a key"};
    }
    OPENSSL_cleanse(b, sizeof b);
    if (n < 0) return last_error("read key file " + path);
    auto k = parse_gcm_key_hex(text);
    OPENSSL_cleanse(text.data(), text.size());
    if (!k) return Error{EINVAL, "key file " + path + ": " + k.error().context};
    return k;
}

Result<TunnelConfig> load_tunnel_config(const std::string& path) {
    // Errors carry their whole one-line message in the context (strerror included).
    auto failed = [&](const std::string& what) {
        int e = errno;
        return Error{e, what + " " + path + ": " + std::strerror(e)};
    };
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return failed("tunnel file");
    Fd owned(fd);
    std::string text;
    char b[4096];
    ssize_t n;
    while ((n = ::read(fd, b, sizeof b)) > 0) {
        text.append(b, size_t(n));
        if (text.size() > (1 << 20)) return Error{EFBIG, "tunnel file " + path + " is larger than 1 MiB"};
    }
    if (n < 0) return failed("read tunnel file");

    toml::table root;
    try {
        root = toml::parse(text, path);
    } catch (const toml::parse_error& e) {
        std::string d(e.description());
        return bad(path, e.source(), "syntax", d);
    }
    const toml::source_region top{};
    TunnelConfig c;
    c.path = path;
    if (auto s = check_keys(path, root, "", {"name", "local", "peer"}); !s) return s.error();

    auto name = get_string(path, root, top, "", "name");
    if (!name) return name.error();
    c.name = *name;

    const toml::node* ln = root.get("local");
    if (!ln) return bad(path, top, "local", "missing [local] table");
    const toml::table* local = ln->as_table();
    if (!local) return bad(path, ln->source(), "local", "must be a table");
    if (auto s = check_keys(path, *local, "local.", {"endpoint", "address"}); !s) return s.error();
    auto ep = get_string(path, *local, local->source(), "local.", "endpoint");
    if (!ep) return ep.error();
    auto lep = parse_endpoint(*ep);
    if (!lep) return bad(path, local->get("endpoint")->source(), "local.endpoint", lep.error().context);
    c.local_endpoint = *lep;
    const toml::node* la = local->get("address");
    if (!la) return bad(path, local->source(), "local.address", "missing");
    auto add_local = [&](const toml::node& n) -> Status {
        auto s = n.value<std::string>();
        if (!n.is_string() || !s) return bad(path, n.source(), "local.address", "must be an address string");
        auto a = InnerAddress::parse(*s);
        if (!a) return bad(path, n.source(), "local.address", a.error().context);
        c.local_addresses.push_back(*a);
        return {};
    };
    if (const toml::array* arr = la->as_array()) {
        if (arr->empty()) return bad(path, la->source(), "local.address", "empty list");
        for (auto& n : *arr)
            if (auto s = add_local(n); !s) return s.error();
    } else if (auto s = add_local(*la); !s) {
        return s.error();
    }

    const toml::node* pn = root.get("peer");
    if (!pn) return bad(path, top, "peer", "no [[peer]] tables: a tunnel needs at least one peer");
    const toml::array* peers = pn->as_array();
    if (!peers || !peers->is_array_of_tables())
        return bad(path, pn->source(), "peer", "must be an array of tables ([[peer]])");
    std::map<uint32_t, size_t> spi_in_seen, spi_out_seen;
    std::set<std::string> names;
    std::string dir = dir_of(path);
    for (size_t i = 0; i < peers->size(); ++i) {
        const toml::table& t = *(*peers)[i].as_table();
        std::string pre = "peer[" + std::to_string(i) + "].";
        if (auto s = check_keys(path, t, pre,
                                {"name", "endpoint", "address", "spi_in", "spi_out", "key_in", "key_out",
                                 "iv_epochs"});
            !s)
            return s.error();
        PeerConfig p;
        auto pname = get_string(path, t, t.source(), pre, "name");
        if (!pname) return pname.error();
        p.name = *pname;
        if (!names.insert(p.name).second)
            return bad(path, t.get("name")->source(), pre + "name", "duplicate peer name '" + p.name + "'");
        auto pep = get_string(path, t, t.source(), pre, "endpoint");
        if (!pep) return pep.error();
        auto e = parse_endpoint(*pep);
        if (!e) return bad(path, t.get("endpoint")->source(), pre + "endpoint", e.error().context);
        p.endpoint = *e;
        const toml::node* an = t.get("address");
        if (!an) return bad(path, t.source(), pre + "address", "missing");
        auto add_addr = [&](const toml::node& n) -> Status {
            auto str = n.value<std::string>();
            if (!n.is_string() || !str) return bad(path, n.source(), pre + "address", "must be an address string");
            auto a = InnerAddress::parse(*str);
            if (!a) return bad(path, n.source(), pre + "address", a.error().context);
            for (auto& l : c.local_addresses)
                if (l == *a) return bad(path, n.source(), pre + "address", "equals a local address");
            bool family_ok = false;
            for (auto& l : c.local_addresses) family_ok |= l.family == a->family;
            if (!family_ok)
                return bad(path, n.source(), pre + "address",
                           "no local address of the same family (IPv4/IPv6) for " + a->to_string());
            for (auto& q : c.peers)
                for (auto& qa : q.addresses)
                    if (qa == *a)
                        return bad(path, n.source(), pre + "address", "duplicate peer address " + a->to_string());
            for (auto& qa : p.addresses)
                if (qa == *a) return bad(path, n.source(), pre + "address", "duplicate address " + a->to_string());
            p.addresses.push_back(*a);
            return {};
        };
        if (const toml::array* arr = an->as_array()) {
            if (arr->empty()) return bad(path, an->source(), pre + "address", "empty list");
            for (auto& n : *arr)
                if (auto st = add_addr(n); !st) return st.error();
        } else if (auto st = add_addr(*an); !st) {
            return st.error();
        }
        auto si = get_spi(path, t, t.source(), pre, "spi_in");
        if (!si) return si.error();
        auto so = get_spi(path, t, t.source(), pre, "spi_out");
        if (!so) return so.error();
        p.spi_in = *si;
        p.spi_out = *so;
        if (auto [it, fresh] = spi_in_seen.emplace(p.spi_in, i); !fresh)
            return bad(path, t.get("spi_in")->source(), pre + "spi_in",
                       "duplicate SPI (also peer[" + std::to_string(it->second) + "].spi_in)");
        if (auto [it, fresh] = spi_out_seen.emplace(p.spi_out, i); !fresh)
            return bad(path, t.get("spi_out")->source(), pre + "spi_out",
                       "duplicate SPI (also peer[" + std::to_string(it->second) + "].spi_out)");
        if (const toml::node* ep = t.get("iv_epochs")) {
            auto v = ep->value<bool>();
            if (!v || !ep->is_boolean()) return bad(path, ep->source(), pre + "iv_epochs", "must be true or false");
            p.iv_epochs = *v;
        }
        for (std::string_view kf : {"key_in", "key_out"}) {
            auto kp = get_string(path, t, t.source(), pre, kf);
            if (!kp) return kp.error();
            std::string full = (*kp)[0] == '/' ? *kp : dir + "/" + *kp;
            auto k = read_key_file(full);
            if (!k) return bad(path, t.get(kf)->source(), pre + std::string(kf), k.error().message(), k.code());
            (kf == "key_in" ? p.key_in : p.key_out) = *k;
        }
        c.peers.push_back(std::move(p));
    }
    return c;
}

Result<GcmKey> write_new_key(const std::string& path, int bits, bool force) {
    if (bits != 128 && bits != 256) return Error{EINVAL, "key size must be 128 or 256 bits"};
    GcmKey k;
    k.key.resize(size_t(bits / 8));
    if (RAND_bytes(k.key.data(), int(k.key.size())) != 1 || RAND_bytes(k.salt.data(), 4) != 1)
        return Error{EIO, "OpenSSL RAND_bytes failed"};
    std::string data = k.to_hex() + "\n";
    struct Wipe {
        std::string& s;
        ~Wipe() { OPENSSL_cleanse(s.data(), s.size()); }
    } wipe{data};
    std::string dir = dir_of(path);
    std::string tmp = path + ".tmp" + std::to_string(getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return last_error("create " + tmp);
    Fd owned(fd);
    // The umask may have removed bits but never adds any; make it exact.
    if (fchmod(fd, 0600) != 0 || !write_all(fd, data.data(), data.size()) || fsync(fd) != 0) {
        Error e = last_error("write " + tmp);
        ::unlink(tmp.c_str());
        return e;
    }
    owned.reset();
    int r = force ? ::rename(tmp.c_str(), path.c_str())
                  : ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
    if (r != 0) {
        Error e = last_error(errno == EEXIST ? path + " exists (use --force to replace it)" : "rename to " + path);
        ::unlink(tmp.c_str());
        return e;
    }
    Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (d) fsync(d.get());  // make the rename durable; the key is in place either way
    return k;
}

}  // namespace hsbox::netstack
