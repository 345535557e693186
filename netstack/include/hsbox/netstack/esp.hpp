// ESP tunnel mode (RFC 4303) with AES-GCM (RFC 4106), carried in UDP (RFC 3948).
//
// Wire format of one UDP payload (what this file produces and consumes):
//
//   SPI(4) | Seq(4) | IV(8) | AES-GCM( inner IP packet | pad | padlen(1) | next(1) ) | ICV(16)
//
// AAD = SPI || Seq (no ESN); nonce = salt(4) || IV(8); IV = the 64-bit send
// counter, which equals the sequence number, so an IV is never reused under one
// key. An SA whose 32-bit sequence space is exhausted refuses to send
// (EOVERFLOW) instead of wrapping. Inbound, the replay window is checked before
// decryption and updated only after the ICV verifies. Nothing leaves
// `Tunnel::open` unless it authenticated, passed the replay check, carries a
// well-formed padding trailer and IPv4/IPv6 next header, its inner source
// address is an address configured for the peer whose SA it came through, its
// destination is ours, and it carries ICMP, TCP, UDP or ICMPv6 echo/errors
// (for IPv6 directly or behind one fragment header): the stack never sees
// protocols the space does not use, nor neighbour discovery.
//
// Threads: `seal` (outbound) may be called from any thread that holds the
// caller's lock (the lwIP core lock in the stack); `open` (inbound) from one
// thread at a time. Counters are atomics and may be read from anywhere.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "hsbox/result.hpp"

namespace hsbox::netstack {

inline constexpr size_t kEspHeaderLen = 8;    // SPI + Seq
inline constexpr size_t kEspIvLen = 8;        // explicit IV (RFC 4106)
inline constexpr size_t kEspIcvLen = 16;      // full-length GCM tag
inline constexpr size_t kEspTrailerLen = 2;   // pad length + next header
// Bytes ESP adds around an inner packet, worst case (3 bytes of padding).
inline constexpr size_t kEspOverhead = kEspHeaderLen + kEspIvLen + 3 + kEspTrailerLen + kEspIcvLen;
inline constexpr uint16_t kNatTPort = 4500;   // RFC 3948 default
inline constexpr uint8_t kNextIpv4 = 4;
inline constexpr uint8_t kNextIpv6 = 41;
inline constexpr uint8_t kNextNone = 59;      // dummy packet (RFC 4303 §2.6)

// An AES-GCM key as `ip xfrm` writes it for rfc4106(gcm(aes)): key then salt.
struct GcmKey {
    std::vector<uint8_t> key;     // 16 (AES-128) or 32 (AES-256) bytes
    std::array<uint8_t, 4> salt{};
    ~GcmKey();  // wipes the key material (OPENSSL_cleanse)
    // The key in ip-xfrm form (key||salt) as "0x..." hex.
    std::string to_hex() const;
};

// Parses "0x<hex>" or "<hex>" (surrounding whitespace allowed) of 20 or 36
// bytes. Returns the key, or EINVAL with a message naming what was wrong.
Result<GcmKey> parse_gcm_key_hex(std::string_view text);

// One AES-GCM key schedule (OpenSSL EVP). Not thread-safe: one per SA.
class GcmCipher {
public:
    explicit GcmCipher(const GcmKey& key);
    ~GcmCipher();
    GcmCipher(const GcmCipher&) = delete;
    GcmCipher& operator=(const GcmCipher&) = delete;

    // Encrypts `len` bytes of `in` into `out` (may alias) and writes the
    // 16-byte tag. Returns false only if OpenSSL fails.
    bool seal(const uint8_t nonce[12], const uint8_t* aad, size_t aad_len, const uint8_t* in,
              size_t len, uint8_t* out, uint8_t tag[16]);
    // Decrypts into `out` (may alias) and checks `tag`. Returns true only if the
    // tag verifies; on false, `out` holds garbage that must not be used.
    bool open(const uint8_t nonce[12], const uint8_t* aad, size_t aad_len, const uint8_t* in,
              size_t len, uint8_t* out, const uint8_t tag[16]);

private:
    struct Ctx;
    std::unique_ptr<Ctx> enc_, dec_;
};

// Anti-replay window, RFC 6479: a ring of 64-bit blocks; sliding forward
// clears whole blocks, so the cost does not depend on the jump. With 32
// blocks the window is 31*64 = 1984 packets (≥ the 1024 the design asks).
class ReplayWindow {
public:
    static constexpr uint32_t kBlocks = 32;
    static constexpr uint32_t kSize = (kBlocks - 1) * 64;

    // True if `seq` may be accepted: not zero, not older than the window,
    // not already seen. Does not change the window.
    bool check(uint32_t seq) const;
    // Records `seq` (call only after the ICV verified and check() was true).
    void update(uint32_t seq);
    // Highest sequence number accepted so far (0 before any).
    uint32_t top() const { return top_; }

private:
    uint32_t top_ = 0;
    std::array<uint64_t, kBlocks> bits_{};
};

// Why an inbound datagram was dropped. Every cause has a counter.
enum class Drop : uint8_t {
    TooShort,       // shorter than header + IV + trailer + ICV
    NonEsp,         // RFC 3948 non-ESP marker (IKE), which we do not speak
    Keepalive,      // RFC 3948 NAT-keepalive (one 0xFF byte); harmless, counted
    UnknownSpi,     // no inbound SA with this SPI
    Replay,         // sequence number seen before or left of the window
    AuthFailed,     // ICV did not verify (wrong key, bit flip, truncation)
    BadPadding,     // pad length too long or pad bytes not 1, 2, 3, ...
    BadNextHeader,  // next header neither IPv4 nor IPv6 (dummy packets land here)
    Malformed,      // inner packet not a well-formed IPv4/IPv6 header of that length
    InnerSource,    // inner source address is not the peer's configured address
    InnerDestination,  // inner destination is not one of our addresses (no relaying)
    InnerProtocol,  // not ICMP, TCP, UDP or ICMPv6 echo/error (e.g. UDP-Lite, which crashes
                    // Debian's lwIP 2.1.3; IPv6 router advertisements)
    Count
};
inline constexpr size_t kDropCount = static_cast<size_t>(Drop::Count);
// Short stable name of a drop cause ("unknown_spi"), used in stats output.
std::string_view drop_name(Drop d);

struct TunnelCounters {
    std::atomic<uint64_t> rx_packets{0}, rx_bytes{0};   // authenticated, delivered
    std::atomic<uint64_t> tx_packets{0}, tx_bytes{0};   // sealed
    std::atomic<uint64_t> tx_no_route{0};               // inner destination is no peer
    std::atomic<uint64_t> tx_seq_exhausted{0};          // SA refused to wrap
    std::atomic<uint64_t> tx_errors{0};                 // sendto failed, too big, ...
    std::array<std::atomic<uint64_t>, kDropCount> rx_drops{};

    uint64_t drops(Drop d) const { return rx_drops[static_cast<size_t>(d)].load(); }
    uint64_t total_drops() const;
    // One "name value" per line: rx_packets, ..., drop_unknown_spi, ...
    std::string to_text() const;
};

// An inner IPv4 or IPv6 address (network byte order).
struct InnerAddress {
    int family = 0;  // AF_INET or AF_INET6
    std::array<uint8_t, 16> bytes{};
    bool operator==(const InnerAddress& o) const {
        size_t n = family == 2 /*AF_INET*/ ? 4 : 16;
        return family == o.family && std::equal(bytes.begin(), bytes.begin() + n, o.bytes.begin());
    }
    // Parses "10.77.0.2" or "fd00::2"; EINVAL otherwise.
    static Result<InnerAddress> parse(std::string_view text);
    std::string to_string() const;
};

// What the tunnel needs to know of one peer (the config adds names and endpoints).
struct TunnelPeer {
    std::vector<InnerAddress> addresses;  // its inner addresses (IPv4 and/or IPv6)
    uint32_t spi_in = 0, spi_out = 0;
    GcmKey key_in, key_out;
    uint32_t first_seq_out = 1;  // the next sequence number to send (tests start near 2^32)
    // The sender's epoch: the high half of every explicit IV we send (the
    // low half is the sequence number). Keys are static, so a restarted
    // sender starts its sequence numbers again at 1: a new epoch keeps its IVs
    // (GCM nonces) from repeating under the same key. Use Tunnel::fresh_epoch().
    uint32_t epoch = 0;
    // Does the peer send epoch IVs too (it is hsbox)? Then an authenticated
    // packet whose IV carries a later epoch than the window's starts a fresh
    // replay window — the peer was restarted and counts from 1 again — and a
    // packet of an earlier epoch is a replay. Other ESP implementations may
    // pick IVs freely (RFC 4106; scapy picks them at random): for them the
    // IV means nothing, and a restarted peer's packets are replays until its
    // sequence numbers pass the old top.
    bool epoch_ivs = true;
};

// A datagram that authenticated: the decrypted inner packet, inside the buffer
// given to open().
struct Opened {
    size_t peer = 0;  // index into the peers given to the Tunnel
    uint8_t next_header = 0;
    uint8_t* packet = nullptr;
    size_t len = 0;
};

// All SAs of one space: outbound per peer, inbound demultiplexed by SPI.
class Tunnel {
public:
    // `local` are this space's inner addresses (inbound packets must be for
    // one of them). Peers must have distinct spi_in. Returns EINVAL otherwise.
    static Result<std::unique_ptr<Tunnel>> create(std::vector<InnerAddress> local,
                                                  std::vector<TunnelPeer> peers);

    // An epoch no earlier run on this host can have used: the current time in
    // quarter seconds since 2020, taken after waiting for the next quarter
    // second to begin (so two runs one after the other never share one).
    // Monotonic as long as the wall clock does not step back; lasts until 2054.
    static uint32_t fresh_epoch();

    size_t peer_count() const { return peers_.size(); }
    const std::vector<InnerAddress>& peer_addresses(size_t i) const { return peers_[i].addresses; }
    // Index of the peer one of whose inner addresses is `dst`, or -1.
    long find_peer(const InnerAddress& dst) const;

    // Wraps the inner IP packet for peer `peer` into `out` (capacity `cap`;
    // needs len + kEspOverhead). Returns the datagram length, or EOVERFLOW when
    // the SA's sequence numbers are exhausted (it never wraps), EMSGSIZE when
    // `cap` is too small, EINVAL for an inner packet that is not IPv4/IPv6.
    Result<size_t> seal(size_t peer, const uint8_t* inner, size_t len, uint8_t* out, size_t cap);

    // Authenticates and decrypts the UDP payload `buf[0..len)` in place.
    // Returns the inner packet, or the drop cause (already counted).
    // Nothing in `buf` may be used when this returns a Drop.
    struct OpenResult {
        bool ok = false;
        Drop drop = Drop::Count;
        Opened opened;
    };
    OpenResult open(uint8_t* buf, size_t len);

    TunnelCounters& counters() { return counters_; }
    const TunnelCounters& counters() const { return counters_; }

private:
    Tunnel() = default;
    OpenResult drop(Drop d);

    struct PeerState {
        std::vector<InnerAddress> addresses;
        uint32_t spi_out;
        std::unique_ptr<GcmCipher> out;
        std::array<uint8_t, 4> salt_out;
        uint64_t next_seq;  // 64-bit so that "exhausted" is representable
        uint32_t epoch_out;
        uint32_t spi_in;
        std::unique_ptr<GcmCipher> in;
        std::array<uint8_t, 4> salt_in;
        ReplayWindow window;
        bool epoch_ivs;
        uint32_t epoch_in = 0;  // the peer's run whose sequence numbers the window holds
    };
    std::vector<InnerAddress> local_;
    std::vector<PeerState> peers_;
    std::unordered_map<uint32_t, size_t> by_spi_;
    TunnelCounters counters_;
};

}  // namespace hsbox::netstack
