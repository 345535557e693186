// `hsbox run`: parse the command line into SpaceOptions (the plan), check
// it, then hand it to the supervisor. Exits with the command's status
// (128+N when it was killed by signal N, as shells report it).
#include <sys/stat.h>
#include <sys/wait.h>

#include <cctype>
#include <cstring>
#include <string>

#include "command.hpp"
#include "hsbox/supervisor/space.hpp"

namespace hsbox::cli {
namespace {

constexpr const char* kUsage =
    "run [--name NAME] [--root DIR] [--hide PATH]... [--share PATH]... [--share-socket PATH]... "
    "[--show-home] [--portspace [--tunnel FILE] [--stats FILE]] -- CMD [ARG...]";

int cmd_run(int argc, char** argv) {
    supervisor::SpaceOptions opts;
    std::string tunnel_file;
    int i = 0;
    auto value = [&](const char* flag) -> const char* {
        if (i + 1 >= argc) return nullptr;
        (void)flag;
        return argv[++i];
    };
    for (; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--") {
            ++i;
            break;
        }
        if (a.empty() || a[0] != '-') break;
        if (a == "--name" || a == "--root" || a == "--hide" || a == "--share" || a == "--share-socket" ||
            a == "--tunnel" || a == "--stats") {
            const char* v = value(a.c_str());
            if (!v) return usage_error("run: %s needs a value", a.c_str());
            if (a == "--name") opts.name = v;
            if (a == "--root") opts.root = v;
            if (a == "--hide") opts.hidden.push_back(v);
            if (a == "--share") opts.shared.push_back(v);
            if (a == "--share-socket") opts.share_sockets.push_back(v);
            if (a == "--stats") opts.stats_file = v;
            if (a == "--tunnel") {
                if (!tunnel_file.empty()) return usage_error("run: --tunnel given twice");
                tunnel_file = v;
            }
        } else if (a == "--show-home") {
            opts.hide_home = false;
        } else if (a == "--portspace") {
            opts.portspace = true;
        } else if (a == "--monitor" || a == "--net" || a == "--publish") {
            return usage_error("run: %s is not available yet in this build", a.c_str());
        } else if (a == "-h" || a == "--help") {
            std::printf("usage: hsbox %s\n", kUsage);
            return 0;
        } else {
            return usage_error("run: unknown option '%s' (usage: hsbox %s)", a.c_str(), kUsage);
        }
    }
    for (; i < argc; ++i) opts.argv.push_back(argv[i]);
    if (opts.argv.empty()) return usage_error("run: no command given (usage: hsbox %s)", kUsage);
    struct stat st;
    if (::stat(opts.root.c_str(), &st) < 0)
        return usage_error("run: --root %s: %s", opts.root.c_str(), std::strerror(errno));
    if (!S_ISDIR(st.st_mode)) return usage_error("run: --root %s: not a directory", opts.root.c_str());

    for (char ch : opts.name)
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.')
            return usage_error("run: --name '%s': use letters, digits, '-', '_' and '.'", opts.name.c_str());
    if (opts.name == "." || opts.name == ".." || opts.name.size() > 64)
        return usage_error("run: --name '%s': not a usable space name", opts.name.c_str());
    for (const auto& sock : opts.share_sockets) {
        if (::stat(sock.c_str(), &st) < 0)
            return usage_error("run: --share-socket %s: %s", sock.c_str(), std::strerror(errno));
        if (!S_ISSOCK(st.st_mode)) return usage_error("run: --share-socket %s: not a socket", sock.c_str());
    }

    if (!tunnel_file.empty()) {
        if (!opts.portspace) return usage_error("run: --tunnel needs --portspace (only a portspace has tunnels)");
        auto cfg = netstack::load_tunnel_config(tunnel_file);
        if (!cfg) return usage_error("run: %s", cfg.error().context.c_str());
        opts.tunnel = std::move(*cfg);
    }
    if (!opts.stats_file.empty() && !opts.portspace)
        return usage_error("run: --stats needs --portspace (the counters are the portspace network's)");
    if (opts.portspace && !opts.share_sockets.empty())
        return usage_error("run: --share-socket in a portspace would hand it a host endpoint; not allowed");

    auto status = supervisor::run_space(opts);
    if (!status) {
        std::fprintf(stderr, "hsbox: run: %s\n", status.error().message().c_str());
        return 125;
    }
    int s = *status;
    if (WIFEXITED(s)) return WEXITSTATUS(s);
    if (WIFSIGNALED(s)) return 128 + WTERMSIG(s);
    return 125;
}

const Command reg{"run", kUsage, cmd_run};

}  // namespace
}  // namespace hsbox::cli
