// `hsbox mount`: serves a union view of layers at a mountpoint.
//
//   hsbox mount [--upper DIR] [--lower DIR]... [--view root|merged|upper]
//               [--hide PATH]... [--timeout SECONDS] [--allow-other] [-f] MOUNTPOINT
//
// Without --lower the host root "/" is the lower layer. The mountpoint, the
// upper directory and hsbox's state directories ($XDG_RUNTIME_DIR/hsbox,
// $XDG_DATA_HOME/hsbox) are hidden in the lowers. Kernel caches: 60 s (the
// root view is the only writer of its upper; read-only views follow its change
// journal and drop what changed); --timeout overrides. Without -f it detaches once
// mounted; with -f it stays in the foreground and unmounts on SIGINT/SIGTERM.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "command.hpp"
#include "hsbox/fusefs/fuse_server.hpp"
#include "hsbox/fusefs/union_fs.hpp"

namespace hsbox::cli {
namespace {

struct MountPlan {
    fusefs::Config cfg;
    fusefs::ServeOptions serve;
};

bool is_dir(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Default state directories hsbox keeps and a space must never see.
std::vector<std::string> state_dirs() {
    std::vector<std::string> out;
    const char* home = std::getenv("HOME");
    const char* run = std::getenv("XDG_RUNTIME_DIR");
    const char* data = std::getenv("XDG_DATA_HOME");
    if (run && *run) out.push_back(std::string(run) + "/hsbox");
    if (data && *data) out.push_back(std::string(data) + "/hsbox");
    else if (home && *home) out.push_back(std::string(home) + "/.local/share/hsbox");
    return out;
}

int cmd_mount(int argc, char** argv) {
    MountPlan plan;
    plan.serve.foreground = false;
    bool timeout_given = false;
    std::vector<std::string> extra_hidden;
    for (int i = 0; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](const char* what) -> const char* {
            if (i + 1 >= argc) return nullptr;
            (void)what;
            return argv[++i];
        };
        if (a == "-f" || a == "--foreground") {
            plan.serve.foreground = true;
        } else if (a == "--allow-other") {
            plan.serve.allow_other = true;
        } else if (a == "--upper" || a == "--lower" || a == "--view" || a == "--hide" || a == "--timeout") {
            const char* v = value(a.c_str());
            if (!v) return usage_error("mount: %s needs a value", a.c_str());
            if (a == "--upper") plan.cfg.upper = v;
            else if (a == "--lower") plan.cfg.lowers.push_back(v);
            else if (a == "--hide") extra_hidden.push_back(v);
            else if (a == "--timeout") {
                char* end = nullptr;
                double t = std::strtod(v, &end);
                if (!end || *end || t < 0 || t > 3600)
                    return usage_error("mount: --timeout wants seconds between 0 and 3600, got '%s'", v);
                plan.serve.timeout = t;
                timeout_given = true;
            } else {
                auto view = fusefs::parse_view(v);
                if (!view) return usage_error("mount: --view must be root, merged or upper (got '%s')", v);
                plan.cfg.view = *view;
            }
        } else if (!a.empty() && a[0] == '-') {
            return usage_error("mount: unknown option '%s'", a.c_str());
        } else if (plan.serve.mountpoint.empty()) {
            plan.serve.mountpoint = a;
        } else {
            return usage_error("mount: one mountpoint only (got '%s' and '%s')", plan.serve.mountpoint.c_str(),
                               a.c_str());
        }
    }
    if (plan.serve.mountpoint.empty()) return usage_error("mount: missing MOUNTPOINT");
    if (!is_dir(plan.serve.mountpoint))
        return usage_error("mount: mountpoint '%s' is not a directory", plan.serve.mountpoint.c_str());
    if (plan.cfg.view != fusefs::View::Merged && plan.cfg.upper.empty())
        return usage_error("mount: the %s view needs --upper DIR",
                           std::string(fusefs::view_name(plan.cfg.view)).c_str());
    if (!plan.cfg.upper.empty() && !is_dir(plan.cfg.upper))
        return usage_error("mount: upper '%s' is not a directory", plan.cfg.upper.c_str());
    if (plan.cfg.lowers.empty() && plan.cfg.view != fusefs::View::Upper) plan.cfg.lowers.push_back("/");
    for (auto& l : plan.cfg.lowers)
        if (!is_dir(l)) return usage_error("mount: lower '%s' is not a directory", l.c_str());
    for (auto& h : extra_hidden)
        if (::access(h.c_str(), F_OK) != 0) return usage_error("mount: --hide '%s' does not exist", h.c_str());
    plan.cfg.live = plan.cfg.view != fusefs::View::Root;
    // The root view is the only writer of its upper, and the kernel sees every
    // change it makes; read-only views follow its change journal: cache long.
    if (!timeout_given) plan.serve.timeout = 60.0;
    // Hide what must never be seen through the lowers: the mountpoint (else a
    // lookup would loop into this mount), the upper, hsbox's state.
    plan.cfg.hidden = extra_hidden;
    plan.cfg.hidden.push_back(plan.serve.mountpoint);
    if (!plan.cfg.upper.empty()) plan.cfg.hidden.push_back(plan.cfg.upper);
    for (auto& s : state_dirs())
        if (::access(s.c_str(), F_OK) == 0) plan.cfg.hidden.push_back(s);

    if (auto st = fusefs::check_dev_fuse(); !st) {
        std::fprintf(stderr, "hsbox: mount: %s\n", st.error().message().c_str());
        return 1;
    }
    auto u = fusefs::Union::open(plan.cfg);
    if (!u) {
        std::fprintf(stderr, "hsbox: mount: %s\n", u.error().message().c_str());
        return 1;
    }
    auto st = fusefs::serve(**u, plan.serve);
    if (!st) {
        std::fprintf(stderr, "hsbox: mount: %s\n", st.error().message().c_str());
        return 1;
    }
    return 0;
}

const Command reg{"mount",
                  "mount [--upper DIR] [--lower DIR]... [--view root|merged|upper] [--hide PATH]... "
                  "[--timeout S] [--allow-other] [-f] MOUNTPOINT",
                  cmd_mount};

}  // namespace
}  // namespace hsbox::cli
