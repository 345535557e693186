// The HyperSpector tunnel file (`hsbox run --portspace --tunnel FILE`), TOML:
//
//     name = "ids"                      # the HyperSpector
//     [local]
//     endpoint = "192.0.2.10:4500"      # UDP address this host's tunnel end listens on
//     address  = "10.77.0.1"            # inner address; or a list ["10.77.0.1", "fd77::1"]
//     [[peer]]
//     name     = "host-b"
//     endpoint = "192.0.2.11:4500"      # "[2001:db8::1]:4500" for IPv6; port defaults to 4500
//     address  = "10.77.0.2"            # or a list, e.g. ["10.77.0.2", "fd77::2"]
//     spi_in   = 0x1001                 # SPI on packets from this peer to us
//     spi_out  = 0x2001                 # SPI on packets from us to this peer
//     key_in   = "keys/b-to-a.key"      # relative to this file
//     key_out  = "keys/a-to-b.key"
//     iv_epochs = true                 # optional: false for a peer that is not hsbox
//
// Key files hold the `ip xfrm` rfc4106(gcm(aes)) form: hex of key + 4-byte salt
// (20 or 36 bytes), one key per file, mode 0600 (no group/world bits), owned by
// us or root. Every refusal is one line "FILE:LINE: FIELD: what is wrong".
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>
#include <vector>

#include "hsbox/netstack/esp.hpp"
#include "hsbox/result.hpp"

namespace hsbox::netstack {

// A UDP endpoint "ip:port", "[ip6]:port", or a bare address (port 4500).
struct Endpoint {
    sockaddr_storage addr{};
    socklen_t len = 0;
    std::string text;  // as written
    uint16_t port() const;
};
Result<Endpoint> parse_endpoint(std::string_view text);

struct PeerConfig {
    std::string name;
    Endpoint endpoint;
    std::vector<InnerAddress> addresses;  // "address": one string or a list
    uint32_t spi_in = 0, spi_out = 0;
    GcmKey key_in, key_out;
    // "iv_epochs" (default true): the peer is hsbox, whose explicit IVs begin
    // with its run's epoch, so a restarted peer is recognised (see TunnelPeer).
    // false for other ESP implementations, which may pick IVs at random.
    bool iv_epochs = true;
};

struct TunnelConfig {
    std::string path;  // the file it came from
    std::string name;  // the HyperSpector
    Endpoint local_endpoint;
    std::vector<InnerAddress> local_addresses;
    std::vector<PeerConfig> peers;

    // The peers as the ESP layer wants them (addresses, SPIs, keys).
    std::vector<TunnelPeer> tunnel_peers() const;
};

// Reads and checks the tunnel file at `path` and the key files it names.
// Returns the config, or an Error whose context is the complete one-line
// message to print (EINVAL for bad content, EACCES/EPERM for unsafe key files,
// the errno of a failed open or read).
Result<TunnelConfig> load_tunnel_config(const std::string& path);

// Reads a key file: refuses anything but a regular file of mode 0600 or
// stricter owned by the caller (or root), then parses its hex.
Result<GcmKey> read_key_file(const std::string& path);

// Writes a fresh random rfc4106 key (bits = 128 or 256) to `path`, mode 0600,
// atomically (temp file + fsync + rename). Refuses to replace an existing
// file (EEXIST) unless `force`. Returns the key written.
Result<GcmKey> write_new_key(const std::string& path, int bits, bool force);

}  // namespace hsbox::netstack
