// `hsbox keygen [--bits 128|256] [--force] FILE`: writes a fresh rfc4106
// AES-GCM key (ip-xfrm hex form: key + 4-byte salt) with mode 0600, atomically.
#include <cstdio>
#include <cstring>
#include <string>

#include "command.hpp"
#include "hsbox/netstack/tunnel_config.hpp"

namespace hsbox::cli {
namespace {

int cmd_keygen(int argc, char** argv) {
    int bits = 256;
    bool force = false;
    const char* file = nullptr;
    for (int i = 0; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--bits") {
            if (i + 1 >= argc) return usage_error("keygen: --bits needs 128 or 256");
            std::string b = argv[++i];
            if (b != "128" && b != "256") return usage_error("keygen: --bits must be 128 or 256 (got '%s')", b.c_str());
            bits = std::stoi(b);
        } else if (a == "--force") {
            force = true;
        } else if (!a.empty() && a[0] == '-') {
            return usage_error("keygen: unknown option '%s'", a.c_str());
        } else if (file) {
            return usage_error("keygen: one FILE only (got '%s' and '%s')", file, a.c_str());
        } else {
            file = argv[i];
        }
    }
    if (!file) return usage_error("keygen: missing FILE (usage: hsbox keygen [--bits 128|256] [--force] FILE)");
    auto k = netstack::write_new_key(file, bits, force);
    if (!k) {
        std::fprintf(stderr, "hsbox: keygen: %s\n", k.error().message().c_str());
        return 1;
    }
    return 0;
}

const Command reg{"keygen", "keygen [--bits 128|256] [--force] FILE", cmd_keygen};

}  // namespace
}  // namespace hsbox::cli
