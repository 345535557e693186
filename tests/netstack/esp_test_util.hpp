// Helpers for the ESP tests: hex, packet builders, and a forger that builds
// authenticated ESP packets with arbitrary trailers (what a buggy or hostile
// peer holding the right key could send).
#pragma once

#include <arpa/inet.h>

#include <cstring>
#include <string>
#include <vector>

#include "hsbox/netstack/esp.hpp"

namespace esptest {

using Bytes = std::vector<uint8_t>;

inline Bytes hex(std::string_view s) {
    Bytes b;
    for (size_t i = 0; i + 1 < s.size(); i += 2) b.push_back(uint8_t(std::stoi(std::string(s.substr(i, 2)), nullptr, 16)));
    return b;
}

inline hsbox::netstack::GcmKey key(uint8_t seed, size_t len = 16) {
    hsbox::netstack::GcmKey k;
    for (size_t i = 0; i < len; ++i) k.key.push_back(uint8_t(seed + i));
    k.salt = {uint8_t(seed ^ 0xa5), 1, 2, 3};
    return k;
}

inline hsbox::netstack::InnerAddress addr(const char* s) { return hsbox::netstack::InnerAddress::parse(s).value(); }

inline uint16_t csum(const uint8_t* p, size_t n) {
    uint32_t s = 0;
    for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t(p[i]) << 8) | p[i + 1];
    if (n & 1) s += uint32_t(p[n - 1]) << 8;
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return uint16_t(~s);
}

// An IPv4/UDP packet src -> dst carrying `payload_len` bytes of pattern.
inline Bytes ipv4_udp(const char* src, const char* dst, size_t payload_len) {
    Bytes p(28 + payload_len);
    p[0] = 0x45;
    p[2] = uint8_t(p.size() >> 8);
    p[3] = uint8_t(p.size());
    p[8] = 64;
    p[9] = 17;
    inet_pton(AF_INET, src, &p[12]);
    inet_pton(AF_INET, dst, &p[16]);
    uint16_t c = csum(p.data(), 20);
    p[10] = uint8_t(c >> 8);
    p[11] = uint8_t(c);
    p[20] = 0x30; p[21] = 0x39;  // 12345
    p[22] = 0; p[23] = 7;
    p[24] = uint8_t((8 + payload_len) >> 8);
    p[25] = uint8_t(8 + payload_len);
    for (size_t i = 0; i < payload_len; ++i) p[28 + i] = uint8_t(i * 7 + 1);
    return p;
}

inline Bytes ipv6_udp(const char* src, const char* dst, size_t payload_len) {
    Bytes p(48 + payload_len);
    p[0] = 0x60;
    p[4] = uint8_t((8 + payload_len) >> 8);
    p[5] = uint8_t(8 + payload_len);
    p[6] = 17;
    p[7] = 64;
    inet_pton(AF_INET6, src, &p[8]);
    inet_pton(AF_INET6, dst, &p[24]);
    p[41] = 9;
    p[43] = 7;
    p[44] = uint8_t((8 + payload_len) >> 8);
    p[45] = uint8_t(8 + payload_len);
    for (size_t i = 0; i < payload_len; ++i) p[48 + i] = uint8_t(i * 3 + 2);
    return p;
}

// An ESP packet with SPI/seq and the given plaintext (inner packet + trailer
// as the caller wants it, possibly malformed), sealed with `k`.
inline Bytes forge(uint32_t spi, uint32_t seq, const hsbox::netstack::GcmKey& k, const Bytes& plain) {
    Bytes out(16 + plain.size() + 16);
    uint32_t s = htonl(spi), q = htonl(seq);
    std::memcpy(&out[0], &s, 4);
    std::memcpy(&out[4], &q, 4);
    std::memcpy(&out[12], &q, 4);
    uint8_t nonce[12];
    std::memcpy(nonce, k.salt.data(), 4);
    std::memcpy(nonce + 4, &out[8], 8);
    hsbox::netstack::GcmCipher c(k);
    c.seal(nonce, out.data(), 8, plain.data(), plain.size(), &out[16], &out[16 + plain.size()]);
    return out;
}

// A correct trailer for `inner`: padding 1,2,3.. to 4 bytes, pad length, next header.
inline Bytes with_trailer(Bytes inner, uint8_t next) {
    size_t pad = (4 - (inner.size() + 2) % 4) % 4;
    for (size_t i = 0; i < pad; ++i) inner.push_back(uint8_t(i + 1));
    inner.push_back(uint8_t(pad));
    inner.push_back(next);
    return inner;
}

}  // namespace esptest
