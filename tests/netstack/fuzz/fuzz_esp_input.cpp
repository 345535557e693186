// libFuzzer harness for the inbound path: UDP payload -> ESP (SPI, replay,
// ICV, trailer, inner addresses) -> lwIP ip_input, in one running Stack.
//
// The first input byte picks what the rest is:
//   0: a raw datagram off the wire (almost always dropped before decryption:
//      what an attacker without the key can reach);
//   1: the plaintext of an ESP packet (inner packet + trailer), which the
//      harness seals with the peer's key and the next sequence number: what a
//      peer holding the key (buggy or hostile) can reach, including lwIP;
//   2: like 1, but the harness first writes the right inner source and
//      destination addresses and a correct trailer, so inputs reach lwIP's
//      IPv4/IPv6/ICMP/UDP/TCP input code instead of stopping at our checks.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <vector>

#include "hsbox/netstack/stack.hpp"

using namespace hsbox::netstack;

namespace {

GcmKey make_key(uint8_t seed) {
    GcmKey k;
    for (int i = 0; i < 16; ++i) k.key.push_back(uint8_t(seed + i));
    k.salt = {1, 2, 3, seed};
    return k;
}

Stack* g_stack;
GcmKey g_in = make_key(0x30);
GcmCipher* g_seal;
uint32_t g_seq = 1;

Stack* stack() {
    if (g_stack) return g_stack;
    TunnelConfig c;
    c.path = "fuzz";
    c.name = "fuzz";
    auto* s4 = reinterpret_cast<sockaddr_in*>(&c.local_endpoint.addr);
    s4->sin_family = AF_INET;
    s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // port 0: any free one
    c.local_endpoint.len = sizeof *s4;
    c.local_addresses = {InnerAddress::parse("10.77.0.1").value(), InnerAddress::parse("fd77::1").value()};
    PeerConfig p;
    p.name = "peer";
    auto e = reinterpret_cast<sockaddr_in*>(&p.endpoint.addr);
    e->sin_family = AF_INET;
    e->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    e->sin_port = htons(9);  // discard: replies go nowhere
    p.endpoint.len = sizeof *e;
    p.addresses = {InnerAddress::parse("10.77.0.2").value(), InnerAddress::parse("fd77::2").value()};
    p.spi_in = 0x1001;
    p.spi_out = 0x2001;
    p.key_in = g_in;
    p.key_out = make_key(0x50);
    c.peers.push_back(p);
    g_stack = Stack::start(c).value().release();
    g_seal = new GcmCipher(g_in);
    return g_stack;
}

void seal_and_input(std::vector<uint8_t> plain) {
    if (g_seq == 0) return;  // 2^32 inputs: the SA is spent
    std::vector<uint8_t> d(16 + plain.size() + 16);
    uint32_t spi = htonl(0x1001), seq = htonl(g_seq++);
    std::memcpy(&d[0], &spi, 4);
    std::memcpy(&d[4], &seq, 4);
    std::memcpy(&d[12], &seq, 4);
    uint8_t nonce[12];
    std::memcpy(nonce, g_in.salt.data(), 4);
    std::memcpy(nonce + 4, &d[8], 8);
    g_seal->seal(nonce, d.data(), 8, plain.data(), plain.size(), &d[16], &d[16 + plain.size()]);
    stack()->input_datagram(d.data(), d.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    stack();
    std::vector<uint8_t> rest(data + 1, data + size);
    switch (data[0] % 3) {
        case 0:
            stack()->input_datagram(rest.data(), rest.size());
            break;
        case 1:
            seal_and_input(std::move(rest));
            break;
        case 2: {
            if (rest.empty()) return 0;
            bool v6 = rest[0] >> 4 == 6;
            size_t need = v6 ? 40 : 20;
            if (rest.size() < need) rest.resize(need);
            if (v6) {
                inet_pton(AF_INET6, "fd77::2", &rest[8]);
                inet_pton(AF_INET6, "fd77::1", &rest[24]);
                size_t pl = rest.size() - 40;
                rest[4] = uint8_t(pl >> 8);
                rest[5] = uint8_t(pl);
            } else {
                rest[0] = uint8_t(0x40 | (rest[0] & 15));
                inet_pton(AF_INET, "10.77.0.2", &rest[12]);
                inet_pton(AF_INET, "10.77.0.1", &rest[16]);
                rest[2] = uint8_t(rest.size() >> 8);
                rest[3] = uint8_t(rest.size());
            }
            size_t pad = (4 - (rest.size() + 2) % 4) % 4;
            for (size_t i = 0; i < pad; ++i) rest.push_back(uint8_t(i + 1));
            rest.push_back(uint8_t(pad));
            rest.push_back(v6 ? 41 : 4);
            seal_and_input(std::move(rest));
            break;
        }
    }
    return 0;
}
