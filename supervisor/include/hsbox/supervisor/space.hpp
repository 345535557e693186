// Running a command confined in a space. One supervisor process per space:
// the caller of run_space() becomes it (non-dumpable), starts the command
// under the space's seccomp filter and ptrace, serves its notifications until
// it exits, and returns its wait status.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "hsbox/netstack/tunnel_config.hpp"
#include "hsbox/result.hpp"

namespace hsbox::supervisor {

struct SpaceOptions {
    std::string name;                       // space name (default: "space-<pid>")
    std::string root = "/";                 // host directory that becomes "/"
    std::vector<std::string> hidden;        // extra host paths to hide
    std::vector<std::string> shared;        // host paths to keep visible under hidden ones
    std::vector<std::string> share_sockets; // host unix sockets the space may connect to
    bool hide_home = true;                  // hide $HOME and $XDG_RUNTIME_DIR
    // A portspace: no host network; IP sockets are emulated over its own
    // TCP/IP stack, whose only links are the tunnels (none without `tunnel`).
    bool portspace = false;
    std::optional<netstack::TunnelConfig> tunnel;  // loaded tunnel file (portspace only)
    std::string stats_file;  // portspace: tunnel and socket counters, written (atomically) at exit
    std::vector<std::string> argv;          // the command
};

// Where hsbox keeps per-user runtime state ($XDG_RUNTIME_DIR/hsbox, or
// /tmp/hsbox-UID), created 0700 and checked to be ours. Returns its path.
Result<std::string> runtime_dir();

// Runs `opts.argv` confined. Returns the command's wait status (as waitpid).
Result<int> run_space(const SpaceOptions& opts);

}  // namespace hsbox::supervisor
