// ESP seal/open, SPI demultiplexing and drop accounting. See esp.hpp for the
// wire format and the order of checks.
#include "hsbox/netstack/esp.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

namespace hsbox::netstack {

namespace {

uint32_t load_be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
void store_be32(uint8_t* p, uint32_t v) {
    p[0] = uint8_t(v >> 24);
    p[1] = uint8_t(v >> 16);
    p[2] = uint8_t(v >> 8);
    p[3] = uint8_t(v);
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

const EVP_CIPHER* gcm_for(size_t key_len) {
    return key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm();
}

}  // namespace

// ---- keys -----------------------------------------------------------------

GcmKey::~GcmKey() {
    OPENSSL_cleanse(key.data(), key.size());
    OPENSSL_cleanse(salt.data(), salt.size());
}

std::string GcmKey::to_hex() const {
    std::string s = "0x";
    char b[3];
    for (uint8_t c : key) {
        std::snprintf(b, sizeof b, "%02x", c);
        s += b;
    }
    for (uint8_t c : salt) {
        std::snprintf(b, sizeof b, "%02x", c);
        s += b;
    }
    return s;
}

Result<GcmKey> parse_gcm_key_hex(std::string_view t) {
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
    if (t.size() >= 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) t.remove_prefix(2);
    if (t.size() % 2 != 0)
        return Error{EINVAL, "key has an odd number of hex digits (" + std::to_string(t.size()) + ")"};
    std::vector<uint8_t> raw;
    struct Wipe {
        std::vector<uint8_t>& v;
        ~Wipe() { OPENSSL_cleanse(v.data(), v.size()); }
    } wipe{raw};
    raw.reserve(t.size() / 2);
    for (size_t i = 0; i < t.size(); i += 2) {
        int hi = hex_value(t[i]), lo = hex_value(t[i + 1]);
        if (hi < 0 || lo < 0)
            return Error{EINVAL, "key has a non-hex character at digit " + std::to_string(hi < 0 ? i : i + 1)};
        raw.push_back(uint8_t(hi << 4 | lo));
    }
    if (raw.size() != 20 && raw.size() != 36)
        return Error{EINVAL, "key is " + std::to_string(raw.size()) +
                                 " bytes; rfc4106 wants 20 (AES-128 + salt) or 36 (AES-256 + salt)"};
    GcmKey k;
    k.key.assign(raw.begin(), raw.end() - 4);
    std::copy(raw.end() - 4, raw.end(), k.salt.begin());
    return k;
}

// ---- AES-GCM ----------------------------------------------------------------

struct GcmCipher::Ctx {
    EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
    ~Ctx() { EVP_CIPHER_CTX_free(c); }
};

GcmCipher::GcmCipher(const GcmKey& key) : enc_(new Ctx), dec_(new Ctx) {
    // Key schedule once; per packet only the nonce changes. Failure here means
    // OpenSSL is broken (out of memory): not a condition to carry on from.
    if (!enc_->c || !dec_->c ||
        EVP_EncryptInit_ex(enc_->c, gcm_for(key.key.size()), nullptr, key.key.data(), nullptr) != 1 ||
        EVP_DecryptInit_ex(dec_->c, gcm_for(key.key.size()), nullptr, key.key.data(), nullptr) != 1) {
        std::fprintf(stderr, "hsbox: OpenSSL AES-GCM initialisation failed\n");
        std::abort();
    }
}

GcmCipher::~GcmCipher() = default;

bool GcmCipher::seal(const uint8_t nonce[12], const uint8_t* aad, size_t aad_len, const uint8_t* in,
                     size_t len, uint8_t* out, uint8_t tag[16]) {
    EVP_CIPHER_CTX* c = enc_->c;
    int n = 0;
    if (EVP_EncryptInit_ex(c, nullptr, nullptr, nullptr, nonce) != 1) return false;
    if (aad_len && EVP_EncryptUpdate(c, nullptr, &n, aad, int(aad_len)) != 1) return false;
    if (len && EVP_EncryptUpdate(c, out, &n, in, int(len)) != 1) return false;
    if (EVP_EncryptFinal_ex(c, out + len, &n) != 1) return false;
    return EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
}

bool GcmCipher::open(const uint8_t nonce[12], const uint8_t* aad, size_t aad_len, const uint8_t* in,
                     size_t len, uint8_t* out, const uint8_t tag[16]) {
    EVP_CIPHER_CTX* c = dec_->c;
    int n = 0;
    if (EVP_DecryptInit_ex(c, nullptr, nullptr, nullptr, nonce) != 1) return false;
    if (aad_len && EVP_DecryptUpdate(c, nullptr, &n, aad, int(aad_len)) != 1) return false;
    if (len && EVP_DecryptUpdate(c, out, &n, in, int(len)) != 1) return false;
    if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, const_cast<uint8_t*>(tag)) != 1) return false;
    return EVP_DecryptFinal_ex(c, out + len, &n) == 1;
}

// ---- replay window (RFC 6479) ----------------------------------------------

bool ReplayWindow::check(uint32_t seq) const {
    if (seq == 0) return false;  // never sent (RFC 4303 §3.3.3: first packet is 1)
    if (seq > top_) return true;
    if (top_ - seq >= kSize) return false;  // left of the window
    uint32_t block = (seq >> 6) % kBlocks;
    return !(bits_[block] & (uint64_t{1} << (seq & 63)));
}

void ReplayWindow::update(uint32_t seq) {
    if (seq > top_) {
        uint32_t old_block = top_ >> 6, new_block = seq >> 6;
        uint32_t diff = new_block - old_block;
        if (diff > kBlocks) diff = kBlocks;
        for (uint32_t i = 1; i <= diff; ++i) bits_[(old_block + i) % kBlocks] = 0;
        top_ = seq;
    }
    bits_[(seq >> 6) % kBlocks] |= uint64_t{1} << (seq & 63);
}

// ---- counters ---------------------------------------------------------------

std::string_view drop_name(Drop d) {
    switch (d) {
        case Drop::TooShort: return "too_short";
        case Drop::NonEsp: return "non_esp";
        case Drop::Keepalive: return "keepalive";
        case Drop::UnknownSpi: return "unknown_spi";
        case Drop::Replay: return "replay";
        case Drop::AuthFailed: return "auth_failed";
        case Drop::BadPadding: return "bad_padding";
        case Drop::BadNextHeader: return "bad_next_header";
        case Drop::Malformed: return "malformed";
        case Drop::InnerSource: return "inner_source";
        case Drop::InnerDestination: return "inner_destination";
        case Drop::InnerProtocol: return "inner_protocol";
        case Drop::Count: break;
    }
    return "?";
}

uint64_t TunnelCounters::total_drops() const {
    uint64_t n = 0;
    for (auto& c : rx_drops) n += c.load();
    return n;
}

std::string TunnelCounters::to_text() const {
    std::string s;
    auto line = [&](std::string_view name, uint64_t v) {
        s += name;
        s += ' ';
        s += std::to_string(v);
        s += '\n';
    };
    line("rx_packets", rx_packets);
    line("rx_bytes", rx_bytes);
    line("tx_packets", tx_packets);
    line("tx_bytes", tx_bytes);
    line("tx_no_route", tx_no_route);
    line("tx_seq_exhausted", tx_seq_exhausted);
    line("tx_errors", tx_errors);
    for (size_t i = 0; i < kDropCount; ++i)
        line("drop_" + std::string(drop_name(static_cast<Drop>(i))), rx_drops[i]);
    return s;
}

// ---- addresses --------------------------------------------------------------

Result<InnerAddress> InnerAddress::parse(std::string_view text) {
    std::string s(text);
    InnerAddress a;
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
        a.family = AF_INET;
        return a;
    }
    if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
        a.family = AF_INET6;
        return a;
    }
    return Error{EINVAL, "'" + s + "' is not an IPv4 or IPv6 address"};
}

std::string InnerAddress::to_string() const {
    char b[INET6_ADDRSTRLEN] = "?";
    if (family) inet_ntop(family, bytes.data(), b, sizeof b);
    return b;
}

// ---- the tunnel -------------------------------------------------------------

Result<std::unique_ptr<Tunnel>> Tunnel::create(std::vector<InnerAddress> local,
                                               std::vector<TunnelPeer> peers) {
    std::unique_ptr<Tunnel> t(new Tunnel);
    t->local_ = std::move(local);
    for (size_t i = 0; i < peers.size(); ++i) {
        TunnelPeer& p = peers[i];
        for (const GcmKey* k : {&p.key_in, &p.key_out})
            if (k->key.size() != 16 && k->key.size() != 32)
                return Error{EINVAL, "peer " + std::to_string(i) + ": AES key must be 16 or 32 bytes"};
        if (p.spi_in < 256 || p.spi_out < 256)
            return Error{EINVAL, "peer " + std::to_string(i) + ": SPIs 0-255 are reserved"};
        if (!t->by_spi_.emplace(p.spi_in, i).second)
            return Error{EINVAL, "peer " + std::to_string(i) + ": duplicate spi_in"};
        if (p.first_seq_out == 0)
            return Error{EINVAL, "peer " + std::to_string(i) + ": sequence numbers start at 1"};
        PeerState s;
        s.addresses = p.addresses;
        s.spi_out = p.spi_out;
        s.out = std::make_unique<GcmCipher>(p.key_out);
        s.salt_out = p.key_out.salt;
        s.next_seq = p.first_seq_out;
        s.epoch_out = p.epoch;
        s.spi_in = p.spi_in;
        s.in = std::make_unique<GcmCipher>(p.key_in);
        s.salt_in = p.key_in.salt;
        s.epoch_ivs = p.epoch_ivs;
        t->peers_.push_back(std::move(s));
    }
    return t;
}

uint32_t Tunnel::fresh_epoch() {
    using namespace std::chrono;
    constexpr int64_t k2020 = 1577836800;  // 2020-01-01T00:00:00Z
    auto quarters = [] {
        auto now = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
        return (now / 250) - k2020 * 4;
    };
    int64_t start = quarters();
    int64_t q;
    while ((q = quarters()) == start) std::this_thread::sleep_for(milliseconds(5));
    return static_cast<uint32_t>(std::clamp<int64_t>(q, 1, 0xffffffff));
}

long Tunnel::find_peer(const InnerAddress& dst) const {
    for (size_t i = 0; i < peers_.size(); ++i)
        for (auto& a : peers_[i].addresses)
            if (a == dst) return long(i);
    return -1;
}

Result<size_t> Tunnel::seal(size_t peer, const uint8_t* inner, size_t len, uint8_t* out, size_t cap) {
    PeerState& p = peers_.at(peer);
    if (len < 1 || ((inner[0] >> 4) != 4 && (inner[0] >> 4) != 6)) {
        ++counters_.tx_errors;
        return Error{EINVAL, "ESP seal: inner packet is not IPv4/IPv6"};
    }
    uint8_t next = (inner[0] >> 4) == 4 ? kNextIpv4 : kNextIpv6;
    // Without ESN the sequence number is 32 bits and must not cycle (RFC 4303
    // §3.3.3): the SA is spent once 2^32-1 has been sent.
    if (p.next_seq > 0xffffffffull) {
        ++counters_.tx_seq_exhausted;
        return Error{EOVERFLOW, "ESP SA " + std::to_string(p.spi_out) + " exhausted its sequence numbers"};
    }
    size_t pad = (4 - (len + kEspTrailerLen) % 4) % 4;
    size_t plain = len + pad + kEspTrailerLen;
    size_t total = kEspHeaderLen + kEspIvLen + plain + kEspIcvLen;
    if (total > cap) {
        ++counters_.tx_errors;
        return Error{EMSGSIZE, "ESP seal: packet of " + std::to_string(len) + " bytes too big"};
    }
    uint64_t seq = p.next_seq++;
    store_be32(out, p.spi_out);
    store_be32(out + 4, uint32_t(seq));
    // Explicit IV = epoch ‖ sequence number: unique per key within a run by
    // the counter, across runs by the epoch.
    store_be32(out + 8, p.epoch_out);
    store_be32(out + 12, uint32_t(seq));
    uint8_t* body = out + kEspHeaderLen + kEspIvLen;
    std::memmove(body, inner, len);
    for (size_t i = 0; i < pad; ++i) body[len + i] = uint8_t(i + 1);
    body[len + pad] = uint8_t(pad);
    body[len + pad + 1] = next;
    uint8_t nonce[12];
    std::memcpy(nonce, p.salt_out.data(), 4);
    std::memcpy(nonce + 4, out + 8, 8);
    if (!p.out->seal(nonce, out, kEspHeaderLen, body, plain, body, body + plain)) {
        ++counters_.tx_errors;
        return Error{EIO, "ESP seal: OpenSSL failed"};
    }
    ++counters_.tx_packets;
    counters_.tx_bytes += len;
    return total;
}

Tunnel::OpenResult Tunnel::drop(Drop d) {
    ++counters_.rx_drops[static_cast<size_t>(d)];
    OpenResult r;
    r.drop = d;
    return r;
}

Tunnel::OpenResult Tunnel::open(uint8_t* buf, size_t len) {
    if (len == 1 && buf[0] == 0xff) return drop(Drop::Keepalive);
    if (len >= 4 && load_be32(buf) == 0) return drop(Drop::NonEsp);
    if (len < kEspHeaderLen + kEspIvLen + kEspTrailerLen + kEspIcvLen) return drop(Drop::TooShort);
    uint32_t spi = load_be32(buf), seq = load_be32(buf + 4);
    auto it = by_spi_.find(spi);
    if (it == by_spi_.end()) return drop(Drop::UnknownSpi);
    PeerState& p = peers_[it->second];
    // Cheap replay check first (RFC 4303 §3.4.3), so replays cost no decryption;
    // the window moves only after the ICV verifies. From an hsbox peer, a
    // packet of an earlier run (epoch) is a replay, and one of a later run
    // starts a fresh window — once it authenticates (the IV is part of the
    // nonce, so a forged epoch fails the ICV).
    uint32_t epoch = p.epoch_ivs ? load_be32(buf + 8) : 0;
    if (epoch < p.epoch_in) return drop(Drop::Replay);
    bool new_run = epoch > p.epoch_in;
    if (new_run ? seq == 0 : !p.window.check(seq)) return drop(Drop::Replay);
    uint8_t nonce[12];
    std::memcpy(nonce, p.salt_in.data(), 4);
    std::memcpy(nonce + 4, buf + 8, 8);
    uint8_t* body = buf + kEspHeaderLen + kEspIvLen;
    size_t plain = len - kEspHeaderLen - kEspIvLen - kEspIcvLen;
    if (!p.in->open(nonce, buf, kEspHeaderLen, body, plain, body, body + plain))
        return drop(Drop::AuthFailed);
    if (new_run) {
        p.window = ReplayWindow{};
        p.epoch_in = epoch;
    }
    p.window.update(seq);

    // Authenticated from here on; still the peer could be buggy or hostile.
    uint8_t padlen = body[plain - 2], next = body[plain - 1];
    if (size_t(padlen) + kEspTrailerLen > plain) return drop(Drop::BadPadding);
    size_t inner = plain - kEspTrailerLen - padlen;
    for (size_t i = 0; i < padlen; ++i)
        if (body[inner + i] != uint8_t(i + 1)) return drop(Drop::BadPadding);
    if (next != kNextIpv4 && next != kNextIpv6) return drop(Drop::BadNextHeader);

    const uint8_t* src = nullptr;
    const uint8_t* dst = nullptr;
    size_t ip_len = 0;
    int family = 0;
    if (next == kNextIpv4) {
        if (inner < 20 || (body[0] >> 4) != 4) return drop(Drop::Malformed);
        size_t ihl = size_t(body[0] & 15) * 4;
        ip_len = (size_t{body[2]} << 8) | body[3];
        if (ihl < 20 || ip_len < ihl || ip_len > inner) return drop(Drop::Malformed);
        src = body + 12;
        dst = body + 16;
        family = AF_INET;
        uint8_t proto = body[9];
        if (proto != IPPROTO_ICMP && proto != IPPROTO_TCP && proto != IPPROTO_UDP)
            return drop(Drop::InnerProtocol);
    } else {
        if (inner < 40 || (body[0] >> 4) != 6) return drop(Drop::Malformed);
        ip_len = 40 + ((size_t{body[4]} << 8) | body[5]);
        // also rejects jumbograms, and anything lwIP's 16-bit pbuf lengths cannot hold
        if (ip_len > inner || ip_len > 0xffff) return drop(Drop::Malformed);
        src = body + 8;
        dst = body + 24;
        family = AF_INET6;
        uint8_t proto = body[6];
        size_t upper = 40;  // offset of the upper-layer header, if this packet holds it
        if (proto == IPPROTO_FRAGMENT) {  // the upper protocol follows in the fragment header
            if (ip_len < 48) return drop(Drop::Malformed);
            proto = body[40];
            bool first = ((size_t{body[42]} << 8 | body[43]) & 0xfff8) == 0;
            upper = first ? 48 : 0;
        }
        if (proto != IPPROTO_ICMPV6 && proto != IPPROTO_TCP && proto != IPPROTO_UDP)
            return drop(Drop::InnerProtocol);
        // ICMPv6: echo and error messages only. Neighbour discovery, router
        // advertisements (which could change lwIP's MTU and hop limit) and MLD
        // have no business on a tunnel. ND must not be fragmented (RFC 6980),
        // so checking the first fragment is enough.
        if (proto == IPPROTO_ICMPV6 && upper) {
            if (ip_len < upper + 1) return drop(Drop::Malformed);
            uint8_t type = body[upper];
            if (!(type >= 1 && type <= 4) && type != 128 && type != 129) return drop(Drop::InnerProtocol);
        }
    }
    InnerAddress s, d;
    s.family = d.family = family;
    std::memcpy(s.bytes.data(), src, family == AF_INET ? 4 : 16);
    std::memcpy(d.bytes.data(), dst, family == AF_INET ? 4 : 16);
    bool from_peer = false;
    for (auto& a : p.addresses) from_peer |= (a == s);
    if (!from_peer) return drop(Drop::InnerSource);
    bool for_us = false;
    for (auto& l : local_) for_us |= (l == d);
    if (!for_us) return drop(Drop::InnerDestination);

    ++counters_.rx_packets;
    counters_.rx_bytes += ip_len;
    OpenResult r;
    r.ok = true;
    r.opened = Opened{it->second, next, body, ip_len};  // trailing TFC padding trimmed
    return r;
}

}  // namespace hsbox::netstack
