// The tunnel file: what it accepts, and one test per refusal (invariant 10).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "catch.hpp"
#include "hsbox/netstack/tunnel_config.hpp"

using namespace hsbox::netstack;

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        const char* t = std::getenv("TMPDIR");
        std::string tmpl = std::string(t && *t ? t : "/tmp") + "/hsbox-netcfg-XXXXXX";
        REQUIRE(mkdtemp(tmpl.data()) != nullptr);
        path = tmpl;
        REQUIRE(mkdir((path + "/keys").c_str(), 0700) == 0);
        REQUIRE(write_new_key(path + "/keys/in.key", 128, false).ok());
        REQUIRE(write_new_key(path + "/keys/out.key", 256, false).ok());
        REQUIRE(write_new_key(path + "/keys/in2.key", 128, false).ok());
        REQUIRE(write_new_key(path + "/keys/out2.key", 128, false).ok());
    }
    ~TempDir() { (void)std::system(("rm -rf '" + path + "'").c_str()); }
    std::string write(const std::string& name, const std::string& text) {
        std::ofstream(path + "/" + name) << text;
        return path + "/" + name;
    }
};

const char* kGood = R"(name = "ids"
[local]
endpoint = "127.0.0.1:4500"
address  = ["10.77.0.1", "fd77::1"]

[[peer]]
name     = "host-b"
endpoint = "127.0.0.1:4501"
address  = ["10.77.0.2", "fd77::2"]
spi_in   = 0x1001
spi_out  = 0x2001
key_in   = "keys/in.key"
key_out  = "keys/out.key"
)";

// Loads `text` as a tunnel file; requires a refusal; returns its message.
std::string refusal(TempDir& d, const std::string& text) {
    std::string f = d.write("t.toml", text);
    auto c = load_tunnel_config(f);
    REQUIRE_FALSE(c.ok());
    INFO(c.error().message());
    CHECK(c.error().context.find(f) == 0);  // names the file first
    CHECK(c.error().message().find('\n') == std::string::npos);
    return c.error().context;
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
    auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
}

std::string second_peer(const std::string& spi_in = "0x1002", const std::string& spi_out = "0x2002") {
    return std::string("\n[[peer]]\nname = \"host-c\"\nendpoint = \"127.0.0.1:4502\"\naddress = \"10.77.0.3\"\n") +
           "spi_in = " + spi_in + "\nspi_out = " + spi_out + "\nkey_in = \"keys/in2.key\"\nkey_out = \"keys/out2.key\"\n";
}

}  // namespace

TEST_CASE("a good tunnel file loads, with key paths relative to the file", "[config]") {
    TempDir d;
    std::string f = d.write("t.toml", kGood + second_peer());
    // Load from another working directory: relative key paths follow the file.
    auto c = load_tunnel_config(f);
    INFO((c.ok() ? "" : c.error().message()));
    REQUIRE(c.ok());
    CHECK(c->name == "ids");
    CHECK(c->local_endpoint.port() == 4500);
    CHECK(c->local_addresses.size() == 2);
    REQUIRE(c->peers.size() == 2);
    CHECK(c->peers[0].spi_in == 0x1001);
    CHECK(c->peers[0].spi_out == 0x2001);
    CHECK(c->peers[0].key_in.key.size() == 16);
    CHECK(c->peers[0].key_out.key.size() == 32);
    CHECK(c->peers[0].addresses.size() == 2);
    CHECK(c->peers[1].endpoint.port() == 4502);
    CHECK(c->peers[0].iv_epochs);  // peers are hsbox unless the file says otherwise
    CHECK(Tunnel::create(c->local_addresses, c->tunnel_peers()).ok());
}

TEST_CASE("iv_epochs: true or false, nothing else", "[config]") {
    TempDir d;
    std::string off = replace(kGood, "spi_in   = 0x1001\n", "spi_in   = 0x1001\niv_epochs = false\n");
    auto c = load_tunnel_config(d.write("off.toml", off));
    REQUIRE(c.ok());
    CHECK_FALSE(c->peers[0].iv_epochs);
    CHECK_FALSE(c->tunnel_peers()[0].epoch_ivs);
    CHECK(refusal(d, replace(kGood, "spi_in   = 0x1001\n", "spi_in   = 0x1001\niv_epochs = 1\n"))
              .find(":11: peer[0].iv_epochs: must be true or false") != std::string::npos);
}

TEST_CASE("endpoints: IPv4, bracketed IPv6, default port 4500; names refused", "[config]") {
    CHECK(parse_endpoint("192.0.2.1:1234").value().port() == 1234);
    CHECK(parse_endpoint("192.0.2.1").value().port() == 4500);
    CHECK(parse_endpoint("[::1]:99").value().addr.ss_family == AF_INET6);
    CHECK(parse_endpoint("::1").value().port() == 4500);
    CHECK_FALSE(parse_endpoint("localhost:4500").ok());
    CHECK_FALSE(parse_endpoint("192.0.2.1:0").ok());
    CHECK_FALSE(parse_endpoint("192.0.2.1:65536").ok());
    CHECK_FALSE(parse_endpoint("192.0.2.1:").ok());
    CHECK_FALSE(parse_endpoint("[::1").ok());
}

TEST_CASE("unknown keys are refused with file, line and field", "[config]") {
    TempDir d;
    CHECK(refusal(d, std::string("colour = 1\n") + kGood).find(":1: colour: unknown key") != std::string::npos);
    CHECK(refusal(d, replace(kGood, "[local]\n", "[local]\nmtu = 1400\n")).find(":3: local.mtu: unknown key") !=
          std::string::npos);
    CHECK(refusal(d, replace(kGood, "spi_in   = 0x1001\n", "spi_in   = 0x1001\nspi = 1\n"))
              .find(":11: peer[0].spi: unknown key") != std::string::npos);
}

TEST_CASE("syntax errors name the line", "[config]") {
    TempDir d;
    auto m = refusal(d, replace(kGood, "spi_out  = 0x2001", "spi_out  = = 0x2001"));
    CHECK(m.find(":11:") != std::string::npos);
}

TEST_CASE("bad SPIs are refused", "[config]") {
    TempDir d;
    CHECK(refusal(d, replace(kGood, "0x1001", "255")).find(":10: peer[0].spi_in: SPI 255 out of range") !=
          std::string::npos);
    CHECK(refusal(d, replace(kGood, "0x1001", "0")).find("peer[0].spi_in") != std::string::npos);
    CHECK(refusal(d, replace(kGood, "0x2001", "0x100000000")).find(":11: peer[0].spi_out") != std::string::npos);
    CHECK(refusal(d, replace(kGood, "0x2001", "-5")).find("peer[0].spi_out") != std::string::npos);
    CHECK(refusal(d, replace(kGood, "0x1001", "\"0x1001\"")).find("peer[0].spi_in: must be an integer") !=
          std::string::npos);
    CHECK(refusal(d, replace(kGood, "spi_in   = 0x1001\n", "")).find("peer[0].spi_in: missing") !=
          std::string::npos);
}

TEST_CASE("duplicate SPIs are refused", "[config]") {
    TempDir d;
    CHECK(refusal(d, kGood + second_peer("0x1001", "0x2002")).find("peer[1].spi_in: duplicate SPI") !=
          std::string::npos);
    CHECK(refusal(d, kGood + second_peer("0x1002", "0x2001")).find("peer[1].spi_out: duplicate SPI") !=
          std::string::npos);
}

TEST_CASE("key files of the wrong length are refused", "[config]") {
    TempDir d;
    int fd = open((d.path + "/keys/short.key").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    REQUIRE(fd >= 0);
    std::string bare = "0x" + std::string(32, 'a') + "\n";  // AES-128 key without the salt
    REQUIRE(write(fd, bare.data(), bare.size()) == ssize_t(bare.size()));
    close(fd);
    auto m = refusal(d, replace(kGood, "keys/in.key", "keys/short.key"));
    CHECK(m.find(":12: peer[0].key_in:") != std::string::npos);
    CHECK(m.find("16 bytes") != std::string::npos);
}

TEST_CASE("group- or world-readable key files are refused", "[config]") {
    TempDir d;
    for (mode_t m : {0644, 0640, 0604, 0660, 0601}) {
        REQUIRE(chmod((d.path + "/keys/out.key").c_str(), m) == 0);
        auto msg = refusal(d, kGood);
        CHECK(msg.find("peer[0].key_out") != std::string::npos);
        CHECK(msg.find("chmod 600") != std::string::npos);
    }
    REQUIRE(chmod((d.path + "/keys/out.key").c_str(), 0400) == 0);
    CHECK(load_tunnel_config(d.write("t.toml", kGood)).ok());
}

TEST_CASE("missing, symlinked and non-regular key files are refused", "[config]") {
    TempDir d;
    CHECK(refusal(d, replace(kGood, "keys/in.key", "keys/nope.key")).find("peer[0].key_in") != std::string::npos);
    REQUIRE(symlink("in.key", (d.path + "/keys/link.key").c_str()) == 0);
    CHECK(refusal(d, replace(kGood, "keys/in.key", "keys/link.key")).find("peer[0].key_in") != std::string::npos);
    CHECK(refusal(d, replace(kGood, "keys/in.key", "keys")).find("peer[0].key_in") != std::string::npos);
}

TEST_CASE("missing tables, bad endpoints and bad addresses are refused", "[config]") {
    TempDir d;
    CHECK(refusal(d, "name = \"x\"\n").find("local") != std::string::npos);
    CHECK(refusal(d, replace(kGood, "127.0.0.1:4501", "host-b:4501")).find(":8: peer[0].endpoint") !=
          std::string::npos);
    CHECK(refusal(d, replace(kGood, "\"10.77.0.2\", ", "\"10.77.0.300\", ")).find(":9: peer[0].address") !=
          std::string::npos);
    CHECK(refusal(d, replace(kGood, "\"10.77.0.2\", ", "\"10.77.0.1\", ")).find("equals a local address") !=
          std::string::npos);
    CHECK(refusal(d, replace(kGood, "name     = \"host-b\"\n", "")).find("peer[0].name: missing") !=
          std::string::npos);
    CHECK(refusal(d, replace(kGood, "[[peer]]", "[peer]")).find("peer: must be an array of tables") !=
          std::string::npos);
    std::string no_peer = kGood;
    no_peer = no_peer.substr(0, no_peer.find("[[peer]]"));
    CHECK(refusal(d, no_peer).find("peer:") != std::string::npos);
}

TEST_CASE("keygen writes a fresh 0600 key and refuses to overwrite without force", "[config][keygen]") {
    TempDir d;
    std::string f = d.path + "/new.key";
    mode_t old = umask(0);
    auto k = write_new_key(f, 256, false);
    umask(old);
    REQUIRE(k.ok());
    struct stat st;
    REQUIRE(stat(f.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    auto back = read_key_file(f);
    REQUIRE(back.ok());
    CHECK(back->key == k->key);
    CHECK(back->key.size() == 32);
    auto again = write_new_key(f, 128, false);
    CHECK(again.code() == EEXIST);
    CHECK(read_key_file(f).value().key == k->key);  // untouched
    auto forced = write_new_key(f, 128, true);
    REQUIRE(forced.ok());
    CHECK(read_key_file(f).value().key.size() == 16);
    CHECK(forced->key != k->key);
    CHECK(write_new_key(d.path + "/x.key", 192, false).code() == EINVAL);
    CHECK(access((d.path + "/x.key").c_str(), F_OK) != 0);
}

TEST_CASE("a missing tunnel file is refused with its path and the reason", "[config]") {
    auto c = load_tunnel_config("/nonexistent/hsbox/t.toml");
    REQUIRE_FALSE(c.ok());
    CHECK(c.code() == ENOENT);
    CHECK(c.error().context == std::string("tunnel file /nonexistent/hsbox/t.toml: ") + std::strerror(ENOENT));
}
