// `hsbox diff --upper DIR [--lower DIR]...`: what a space changed. One line
// per path, sorted: "A /path" added, "C /path" changed (the upper shadows a
// lower entry), "D /path" deleted (a whiteout). Without --lower the host
// root "/" is the lower layer.
#include <cstdio>
#include <string>
#include <vector>

#include "command.hpp"
#include "hsbox/fusefs/union_fs.hpp"

namespace hsbox::cli {
namespace {

int cmd_diff(int argc, char** argv) {
    std::string upper;
    std::vector<std::string> lowers;
    for (int i = 0; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--upper" || a == "--lower") {
            if (i + 1 >= argc) return usage_error("diff: %s needs a directory", a.c_str());
            (a == "--upper" ? upper : lowers.emplace_back()) = argv[++i];
        } else if (!a.empty() && a[0] == '-') {
            return usage_error("diff: unknown option '%s'", a.c_str());
        } else {
            return usage_error("diff: space names are not supported yet ('%s'); use --upper DIR", a.c_str());
        }
    }
    if (upper.empty()) return usage_error("diff: missing --upper DIR");
    if (lowers.empty()) lowers.push_back("/");
    auto d = fusefs::diff_upper(upper, lowers);
    if (!d) {
        std::fprintf(stderr, "hsbox: diff: %s\n", d.error().message().c_str());
        return 1;
    }
    for (auto& c : *d) std::printf("%c %s\n", c.kind, c.path.c_str());
    return 0;
}

const Command reg{"diff", "diff --upper DIR [--lower DIR]...", cmd_diff};

}  // namespace
}  // namespace hsbox::cli
