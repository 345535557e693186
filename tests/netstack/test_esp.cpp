// ESP tunnel: known vectors, round trips, and every drop cause (invariant 7).
#include <set>

#include "catch.hpp"
#include "esp_test_util.hpp"

using namespace hsbox::netstack;
using namespace esptest;

namespace {

// Two tunnels facing each other: A (10.77.0.1) and B (10.77.0.2).
struct Pair {
    std::unique_ptr<Tunnel> a, b;
    GcmKey ab = key(0x10), ba = key(0x40, 32);
    explicit Pair(uint32_t first_seq = 1) {
        TunnelPeer to_b{{addr("10.77.0.2"), addr("fd77::2")}, 0x1001, 0x2001, ba, ab, first_seq};
        TunnelPeer to_a{{addr("10.77.0.1"), addr("fd77::1")}, 0x2001, 0x1001, ab, ba, first_seq};
        a = std::move(Tunnel::create({addr("10.77.0.1"), addr("fd77::1")}, {to_b}).value());
        b = std::move(Tunnel::create({addr("10.77.0.2"), addr("fd77::2")}, {to_a}).value());
    }
    // B seals `inner` towards A. Returns the datagram.
    Bytes b_to_a(const Bytes& inner) {
        Bytes out(inner.size() + kEspOverhead);
        auto n = b->seal(0, inner.data(), inner.size(), out.data(), out.size());
        REQUIRE(n.ok());
        out.resize(*n);
        return out;
    }
    Tunnel::OpenResult a_open(Bytes d) { return a->open(d.data(), d.size()); }
};

}  // namespace

TEST_CASE("AES-GCM matches the GCM specification's test vectors", "[esp]") {
    struct V { const char *k, *iv, *p, *a, *c, *t; };
    const V vs[] = {
        // McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 2, 4 and 16.
        {"00000000000000000000000000000000", "000000000000000000000000", "00000000000000000000000000000000", "",
         "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"},
        {"feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
         "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
         "feedfacedeadbeeffeedfacedeadbeefabaddad2",
         "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
         "5bc94fbc3221a5db94fae95ae7121a47"},
        {"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
         "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
         "feedfacedeadbeeffeedfacedeadbeefabaddad2",
         "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
         "76fc6ece0f4e1768cddf8853bb2d551b"},
    };
    for (const V& v : vs) {
        GcmKey k;
        k.key = hex(v.k);
        GcmCipher c(k);
        Bytes iv = hex(v.iv), p = hex(v.p), a = hex(v.a), out(p.size()), tag(16);
        REQUIRE(c.seal(iv.data(), a.data(), a.size(), p.data(), p.size(), out.data(), tag.data()));
        CHECK(out == hex(v.c));
        CHECK(tag == hex(v.t));
        Bytes back(p.size());
        CHECK(c.open(iv.data(), a.data(), a.size(), out.data(), out.size(), back.data(), tag.data()));
        CHECK(back == p);
        tag[0] ^= 1;
        CHECK_FALSE(c.open(iv.data(), a.data(), a.size(), out.data(), out.size(), back.data(), tag.data()));
    }
}

TEST_CASE("ESP output is byte-identical to scapy's for the same SA, sequence and IV", "[esp]") {
    // Generated once with python3-scapy 2.5: SecurityAssociation(ESP, spi=0x1001,
    // crypt_algo='AES-GCM', crypt_key=bytes(range(0x10,0x20))+cafebabe).encrypt(
    // inner, seq_num=5, iv=(5).to_bytes(8,'big')); UDP payload shown.
    Bytes inner = hex("45000025000100004011662b0a4d00020a4d000104d200070011ccf068656c6c6f20657370");
    Bytes esp = hex("00001001000000050000000000000005932b6455b338af6e961207a9c27f805aa34e3426c486db1a2e5a6ea2"
                    "3034b4fc372d02b6858fb97d3c11ab20b6e2748151fb8bf45ef5cd66");
    GcmKey k;
    for (int i = 0x10; i < 0x20; ++i) k.key.push_back(uint8_t(i));
    k.salt = {0xca, 0xfe, 0xba, 0xbe};
    GcmKey other = key(1);
    auto sender = Tunnel::create({addr("10.77.0.2")}, {{{addr("10.77.0.1")}, 0x9999, 0x1001, other, k, 5}});
    REQUIRE(sender.ok());
    Bytes out(inner.size() + kEspOverhead);
    auto n = (*sender)->seal(0, inner.data(), inner.size(), out.data(), out.size());
    REQUIRE(n.ok());
    out.resize(*n);
    CHECK(out == esp);

    auto receiver = Tunnel::create({addr("10.77.0.1")}, {{{addr("10.77.0.2")}, 0x1001, 0x9999, k, other, 1}});
    REQUIRE(receiver.ok());
    auto r = (*receiver)->open(esp.data(), esp.size());
    REQUIRE(r.ok);
    CHECK(r.opened.next_header == kNextIpv4);
    CHECK(Bytes(r.opened.packet, r.opened.packet + r.opened.len) == inner);
}

TEST_CASE("rfc4106 hex keys: 20 and 36 bytes accepted, anything else refused", "[esp][config]") {
    auto k = parse_gcm_key_hex("0x" + std::string(40, 'a') + "\n");
    REQUIRE(k.ok());
    CHECK(k->key.size() == 16);
    CHECK(k->salt[0] == 0xaa);
    auto k2 = parse_gcm_key_hex(std::string(72, '1'));
    REQUIRE(k2.ok());
    CHECK(k2->key.size() == 32);
    CHECK(parse_gcm_key_hex(k2->to_hex()).value().key == k2->key);
    CHECK_FALSE(parse_gcm_key_hex(std::string(32, 'a')).ok());       // bare AES-128 key, no salt
    CHECK_FALSE(parse_gcm_key_hex(std::string(48, 'a')).ok());       // 24 bytes
    CHECK_FALSE(parse_gcm_key_hex(std::string(41, 'a')).ok());       // odd
    CHECK_FALSE(parse_gcm_key_hex(std::string(39, 'a') + "g").ok()); // not hex
    CHECK_FALSE(parse_gcm_key_hex("").ok());
}

TEST_CASE("IPv4 and IPv6 inner packets of every padding length round-trip", "[esp]") {
    Pair p;
    for (size_t len = 0; len < 70; ++len) {
        for (bool v6 : {false, true}) {
            Bytes inner = v6 ? ipv6_udp("fd77::2", "fd77::1", len) : ipv4_udp("10.77.0.2", "10.77.0.1", len);
            Bytes d = p.b_to_a(inner);
            CHECK((d.size() - 32) % 4 == 0);
            auto r = p.a_open(d);
            REQUIRE(r.ok);
            CHECK(r.opened.next_header == (v6 ? kNextIpv6 : kNextIpv4));
            CHECK(Bytes(r.opened.packet, r.opened.packet + r.opened.len) == inner);
        }
    }
    CHECK(p.a->counters().rx_packets == 140);
    CHECK(p.a->counters().total_drops() == 0);
    CHECK(p.b->counters().tx_packets == 140);
}

TEST_CASE("the explicit IV is the epoch and the send counter and never repeats", "[esp]") {
    Pair p;
    std::set<Bytes> ivs;
    Bytes inner = ipv4_udp("10.77.0.2", "10.77.0.1", 10);
    for (int i = 1; i <= 1000; ++i) {
        Bytes d = p.b_to_a(inner);
        Bytes iv(d.begin() + 8, d.begin() + 16);
        CHECK(ivs.insert(iv).second);
        CHECK(iv == Bytes{0, 0, 0, 0, uint8_t(i >> 24), uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)});
    }
}

// A sender restarted with the same static key starts its sequence numbers
// again at 1. Its new epoch keeps the GCM nonces (salt ‖ IV) apart from the
// earlier run's and, for a peer known to send epoch IVs (hsbox), tells the
// long-running receiver to start a fresh window; packets of the earlier run
// are replays. For other peers the IV means nothing: the repeated sequence
// numbers are replays.
TEST_CASE("a restarted sender never repeats an IV and is recognised by its epoch", "[esp][invariant7]") {
    GcmKey ab = key(0x10), ba = key(0x40, 32);
    auto receiver_for = [&](bool epoch_ivs) {
        TunnelPeer from_b{{addr("10.77.0.2")}, 0x1001, 0x2001, ba, ab, 1, 0, epoch_ivs};
        return std::move(Tunnel::create({addr("10.77.0.1")}, {from_b}).value());
    };
    auto sender_run = [&](uint32_t epoch) {
        TunnelPeer to_a{{addr("10.77.0.1")}, 0x2001, 0x1001, ab, ba, 1, epoch};
        return std::move(Tunnel::create({addr("10.77.0.2")}, {to_a}).value());
    };
    Bytes inner = ipv4_udp("10.77.0.2", "10.77.0.1", 10);
    auto seal = [&](Tunnel& t) {
        Bytes out(inner.size() + kEspOverhead);
        out.resize(t.seal(0, inner.data(), inner.size(), out.data(), out.size()).value());
        return out;
    };
    uint32_t e1 = Tunnel::fresh_epoch(), e2 = Tunnel::fresh_epoch();
    CHECK(e2 > e1);
    auto hsbox_peer = receiver_for(true), other_peer = receiver_for(false);
    auto run1 = sender_run(e1);
    std::set<Bytes> ivs;
    std::vector<Bytes> old;
    for (int i = 0; i < 10; ++i) {
        Bytes d = seal(*run1);
        ivs.insert(Bytes(d.begin() + 8, d.begin() + 16));
        old.push_back(d);
        Bytes d2 = d;
        CHECK(hsbox_peer->open(d.data(), d.size()).ok);
        CHECK(other_peer->open(d2.data(), d2.size()).ok);
    }
    auto run2 = sender_run(e2);  // same key, sequence numbers from 1 again
    for (int i = 0; i < 10; ++i) {
        Bytes d = seal(*run2), d2 = d, again = d;
        CHECK(ivs.insert(Bytes(d.begin() + 8, d.begin() + 16)).second);  // no nonce reuse
        CHECK(hsbox_peer->open(d.data(), d.size()).ok);
        CHECK(hsbox_peer->open(again.data(), again.size()).drop == Drop::Replay);
        CHECK(other_peer->open(d2.data(), d2.size()).drop == Drop::Replay);
    }
    for (auto& d : old) CHECK(hsbox_peer->open(d.data(), d.size()).drop == Drop::Replay);  // the earlier run's
    // A forged later epoch does not get past the ICV, and moves nothing.
    Bytes forged = seal(*run2);
    forged[8] ^= 0x80;
    CHECK(hsbox_peer->open(forged.data(), forged.size()).drop == Drop::AuthFailed);
    Bytes next = seal(*run2);
    CHECK(hsbox_peer->open(next.data(), next.size()).ok);
}

TEST_CASE("an SA refuses to send rather than wrap its sequence number", "[esp]") {
    Pair p(0xfffffffeu);
    Bytes inner = ipv4_udp("10.77.0.2", "10.77.0.1", 10);
    Bytes out(200);
    CHECK(p.b->seal(0, inner.data(), inner.size(), out.data(), out.size()).ok());  // 0xfffffffe
    CHECK(p.b->seal(0, inner.data(), inner.size(), out.data(), out.size()).ok());  // 0xffffffff
    auto r = p.b->seal(0, inner.data(), inner.size(), out.data(), out.size());
    REQUIRE_FALSE(r.ok());
    CHECK(r.code() == EOVERFLOW);
    CHECK(p.b->seal(0, inner.data(), inner.size(), out.data(), out.size()).code() == EOVERFLOW);
    CHECK(p.b->counters().tx_seq_exhausted == 2);
    CHECK(p.b->counters().tx_packets == 2);
}

TEST_CASE("seal refuses a too-small buffer and a non-IP inner packet", "[esp]") {
    Pair p;
    Bytes inner = ipv4_udp("10.77.0.2", "10.77.0.1", 100);
    Bytes out(inner.size() + 10);
    CHECK(p.b->seal(0, inner.data(), inner.size(), out.data(), out.size()).code() == EMSGSIZE);
    inner[0] = 0x25;
    out.resize(500);
    CHECK(p.b->seal(0, inner.data(), inner.size(), out.data(), out.size()).code() == EINVAL);
}

TEST_CASE("a forged SPI is dropped as unknown and counted", "[esp][invariant7]") {
    Pair p;
    Bytes d = p.b_to_a(ipv4_udp("10.77.0.2", "10.77.0.1", 20));
    d[3] ^= 0x10;  // SPI 0x1011: nobody's
    auto r = p.a_open(d);
    CHECK_FALSE(r.ok);
    CHECK(r.drop == Drop::UnknownSpi);
    CHECK(p.a->counters().drops(Drop::UnknownSpi) == 1);
    CHECK(p.a->counters().rx_packets == 0);
}

TEST_CASE("a packet with a valid SPI but another HyperSpector's key fails authentication",
          "[esp][invariant7]") {
    Pair p;
    // HyperSpector 2 happens to use the same SPI numbers, with its own keys.
    auto other = Tunnel::create({addr("10.77.0.2")}, {{{addr("10.77.0.1")}, 0x2001, 0x1001, key(0x77), key(0x99), 1}});
    REQUIRE(other.ok());
    Bytes inner = ipv4_udp("10.77.0.2", "10.77.0.1", 30);
    for (int i = 0; i < 5; ++i) {
        Bytes d(inner.size() + kEspOverhead);
        d.resize((*other)->seal(0, inner.data(), inner.size(), d.data(), d.size()).value());
        auto r = p.a_open(d);
        CHECK_FALSE(r.ok);
        CHECK(r.drop == Drop::AuthFailed);
    }
    CHECK(p.a->counters().drops(Drop::AuthFailed) == 5);
    CHECK(p.a->counters().rx_packets == 0);
    // and the forgeries did not move the window: B's own packet 1 still passes
    CHECK(p.a_open(p.b_to_a(inner)).ok);
}

TEST_CASE("every single-bit flip anywhere in a packet is dropped", "[esp][invariant7]") {
    Pair p;
    Bytes good = p.b_to_a(ipv4_udp("10.77.0.2", "10.77.0.1", 40));
    for (size_t i = 0; i < good.size(); ++i)
        for (int bit = 0; bit < 8; ++bit) {
            Bytes d = good;
            d[i] ^= uint8_t(1 << bit);
            auto r = p.a_open(d);
            CHECK_FALSE(r.ok);
            // SPI bits give unknown SPI; a flipped sequence number may fail the
            // replay check first (seq 0); everything else fails the ICV.
            if (i >= 8) CHECK(r.drop == Drop::AuthFailed);
        }
    CHECK(p.a->counters().rx_packets == 0);
    CHECK(p.a_open(good).ok);  // the original still verifies: nothing was recorded
}

TEST_CASE("truncated packets are dropped as too short or unauthentic", "[esp][invariant7]") {
    Pair p;
    Bytes good = p.b_to_a(ipv4_udp("10.77.0.2", "10.77.0.1", 40));
    for (size_t n = 0; n < good.size(); ++n) {
        Bytes d(good.begin(), good.begin() + long(n));
        auto r = p.a_open(d);
        CHECK_FALSE(r.ok);
        if (n < 8 + 8 + 2 + 16)
            CHECK((r.drop == Drop::TooShort || r.drop == Drop::NonEsp));
        else
            CHECK(r.drop == Drop::AuthFailed);
    }
    CHECK(p.a->counters().rx_packets == 0);
}

TEST_CASE("replays are dropped, also after the window moved", "[esp][invariant7]") {
    Pair p;
    Bytes inner = ipv4_udp("10.77.0.2", "10.77.0.1", 8);
    Bytes first = p.b_to_a(inner);
    CHECK(p.a_open(first).ok);
    auto r = p.a_open(first);
    CHECK_FALSE(r.ok);
    CHECK(r.drop == Drop::Replay);
    for (uint32_t i = 0; i < ReplayWindow::kSize + 10; ++i) (void)p.b_to_a(inner);  // lost on the way
    Bytes late = p.b_to_a(inner);
    CHECK(p.a_open(late).ok);
    CHECK(p.a_open(first).drop == Drop::Replay);
    CHECK(p.a_open(late).drop == Drop::Replay);
    CHECK(p.a->counters().drops(Drop::Replay) == 3);
}

TEST_CASE("packets reordered inside the window are accepted once each", "[esp][invariant7]") {
    Pair p;
    Bytes inner = ipv4_udp("10.77.0.2", "10.77.0.1", 8);
    std::vector<Bytes> sent;
    for (int i = 0; i < 3000; ++i) sent.push_back(p.b_to_a(inner));
    // Deliver in blocks of 500, each block in reverse order: every packet is
    // within 1000 of the newest, so all are accepted.
    int ok = 0;
    for (int blk = 0; blk < 3000; blk += 500)
        for (int i = blk + 499; i >= blk; --i) ok += p.a_open(sent[size_t(i)]).ok;
    CHECK(ok == 3000);
    int again = 0;
    for (auto& d : sent) again += p.a_open(d).ok;
    CHECK(again == 0);
    CHECK(p.a->counters().drops(Drop::Replay) == 3000);
}

TEST_CASE("the replay window edge: kSize-1 behind the top is accepted, kSize behind is not",
          "[esp][invariant7]") {
    ReplayWindow w;
    CHECK_FALSE(w.check(0));
    const uint32_t top = 10000;
    REQUIRE(w.check(top));
    w.update(top);
    CHECK(w.check(top - ReplayWindow::kSize + 1));
    CHECK_FALSE(w.check(top - ReplayWindow::kSize));
    CHECK_FALSE(w.check(1));
    CHECK_FALSE(w.check(top));
    CHECK(ReplayWindow::kSize >= 1024);
    // A jump of exactly one block boundary clears stale bits of the reused block.
    for (uint32_t s = top - 100; s < top; ++s) w.update(s);
    w.update(top + 64 * ReplayWindow::kBlocks);
    CHECK(w.check(top + 64 * ReplayWindow::kBlocks - 1));
    CHECK_FALSE(w.check(top));
    // Huge jumps (near 2^32) are fine.
    w.update(0xffffffffu);
    CHECK_FALSE(w.check(0xffffffffu));
    CHECK(w.check(0xffffffffu - 5));
}

TEST_CASE("the replay window against a reference model, random order", "[esp][invariant7]") {
    ReplayWindow w;
    std::set<uint32_t> seen;
    uint32_t top = 0;
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 200000; ++i) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        uint32_t seq = uint32_t(top + 50 - (x % 2200));  // mostly behind the top, some ahead
        if (int64_t(top) + 50 - int64_t(x % 2200) <= 0) continue;
        bool expect = seq > top || (top - seq < ReplayWindow::kSize && !seen.count(seq));
        REQUIRE(w.check(seq) == expect);
        if (expect) {
            w.update(seq);
            seen.insert(seq);
            if (seq > top) top = seq;
        }
    }
}

TEST_CASE("a forged far-ahead sequence number does not move the window", "[esp][invariant7]") {
    Pair p;
    Bytes inner = ipv4_udp("10.77.0.2", "10.77.0.1", 8);
    Bytes real = p.b_to_a(inner);  // seq 1
    Bytes forged = real;
    forged[4] = 0x7f;  // seq 0x7f000001, ICV no longer verifies
    CHECK(p.a_open(forged).drop == Drop::AuthFailed);
    CHECK(p.a_open(real).ok);
}

TEST_CASE("authenticated packets with bad trailers or inner headers are dropped", "[esp]") {
    Pair p;
    const GcmKey& k = p.ba;  // B -> A key, SPI 0x1001 at A
    uint32_t seq = 1;
    auto expect = [&](const Bytes& plain, Drop d) {
        auto r = p.a_open(forge(0x1001, seq++, k, plain));
        CHECK_FALSE(r.ok);
        CHECK(r.drop == d);
    };
    Bytes inner = ipv4_udp("10.77.0.2", "10.77.0.1", 9);
    // the forger itself is right: a correct trailer passes
    CHECK(p.a_open(forge(0x1001, seq++, k, with_trailer(inner, kNextIpv4))).ok);

    Bytes t = with_trailer(inner, kNextIpv4);
    t[t.size() - 2] = 200;  // pad length beyond the packet
    expect(t, Drop::BadPadding);
    t = with_trailer(inner, kNextIpv4);  // 37 + 2 -> 1 byte of padding
    t[inner.size()] = 9;                 // padding must be 1, 2, 3, ...
    expect(t, Drop::BadPadding);
    expect(with_trailer(inner, kNextNone), Drop::BadNextHeader);
    expect(with_trailer(inner, 17), Drop::BadNextHeader);
    expect(with_trailer(inner, kNextIpv6), Drop::Malformed);  // says IPv6, is IPv4
    Bytes bad = inner;
    bad[3] = uint8_t(bad.size() + 1);  // IP total length beyond what was sent
    expect(with_trailer(bad, kNextIpv4), Drop::Malformed);
    bad = inner;
    bad[0] = 0x44;  // IHL 4 words
    expect(with_trailer(bad, kNextIpv4), Drop::Malformed);
    expect(with_trailer(Bytes(inner.begin(), inner.begin() + 12), kNextIpv4), Drop::Malformed);
    expect(with_trailer(ipv4_udp("10.77.0.9", "10.77.0.1", 9), kNextIpv4), Drop::InnerSource);
    expect(with_trailer(ipv4_udp("10.77.0.2", "10.77.0.3", 9), kNextIpv4), Drop::InnerDestination);
    expect(with_trailer(ipv4_udp("10.77.0.2", "255.255.255.255", 9), kNextIpv4), Drop::InnerDestination);
    expect(with_trailer(ipv6_udp("fd77::9", "fd77::1", 9), kNextIpv6), Drop::InnerSource);
    bad = inner;
    bad[9] = 136;  // UDP-Lite
    expect(with_trailer(bad, kNextIpv4), Drop::InnerProtocol);
    Bytes v6 = ipv6_udp("fd77::2", "fd77::1", 9);
    v6[6] = 136;
    expect(with_trailer(v6, kNextIpv6), Drop::InnerProtocol);
    v6[6] = 0;  // hop-by-hop options
    expect(with_trailer(v6, kNextIpv6), Drop::InnerProtocol);
    v6[6] = 44;  // a fragment header whose upper protocol (first byte after the header) is UDP
    v6[40] = 17;
    CHECK(p.a_open(forge(0x1001, seq++, k, with_trailer(v6, kNextIpv6))).ok);
    v6[40] = 136;  // ... or UDP-Lite
    expect(with_trailer(v6, kNextIpv6), Drop::InnerProtocol);
    // ICMPv6: echo passes, neighbour discovery and router advertisements do not
    Bytes icmp6 = ipv6_udp("fd77::2", "fd77::1", 9);
    icmp6[6] = 58;
    icmp6[40] = 128;  // echo request
    CHECK(p.a_open(forge(0x1001, seq++, k, with_trailer(icmp6, kNextIpv6))).ok);
    for (uint8_t type : {133, 134, 135, 136, 137, 130, 143}) {
        icmp6[40] = type;
        expect(with_trailer(icmp6, kNextIpv6), Drop::InnerProtocol);
    }
    v6[6] = 44;  // a first fragment of an ICMPv6 router advertisement
    v6[40] = 58;
    v6[42] = v6[43] = 0;
    v6[48] = 134;
    expect(with_trailer(v6, kNextIpv6), Drop::InnerProtocol);
    v6[43] = 8;  // a later fragment: its first one was checked
    CHECK(p.a_open(forge(0x1001, seq++, k, with_trailer(v6, kNextIpv6))).ok);
    CHECK(p.a->counters().rx_packets == 4);
}

TEST_CASE("keepalives, IKE markers and runts are counted separately", "[esp]") {
    Pair p;
    Bytes ka{0xff};
    CHECK(p.a_open(ka).drop == Drop::Keepalive);
    Bytes ike(40, 0);
    CHECK(p.a_open(ike).drop == Drop::NonEsp);
    Bytes runt{0x00, 0x00, 0x10, 0x01, 0, 0, 0, 1};
    CHECK(p.a_open(runt).drop == Drop::TooShort);
    Bytes empty;
    CHECK(p.a_open(empty).drop == Drop::TooShort);
    std::string text = p.a->counters().to_text();
    CHECK(text.find("drop_keepalive 1\n") != std::string::npos);
    CHECK(text.find("drop_non_esp 1\n") != std::string::npos);
    CHECK(text.find("drop_too_short 2\n") != std::string::npos);
}

TEST_CASE("a tunnel with duplicate inbound SPIs or reserved SPIs is refused", "[esp]") {
    TunnelPeer x{{addr("10.77.0.2")}, 0x1001, 0x2001, key(1), key(2), 1};
    TunnelPeer y{{addr("10.77.0.3")}, 0x1001, 0x2002, key(3), key(4), 1};
    CHECK(Tunnel::create({addr("10.77.0.1")}, {x, y}).code() == EINVAL);
    y.spi_in = 7;
    CHECK(Tunnel::create({addr("10.77.0.1")}, {x, y}).code() == EINVAL);
    y.spi_in = 0x1002;
    CHECK(Tunnel::create({addr("10.77.0.1")}, {x, y}).ok());
}
