// Serves a Union as a FUSE mount through the libfuse3 low-level API: one
// handler per operation (fusefs/src/fuse_adapter.cpp, registered in one
// table), a multithreaded session loop, kernel caching where it is safe.
#pragma once

#include <functional>
#include <string>

#include "hsbox/fusefs/union_fs.hpp"
#include "hsbox/result.hpp"

namespace hsbox::fusefs {

struct ServeOptions {
    std::string mountpoint;
    bool foreground = true;     // false: detach once mounted (fuse_daemonize)
    double timeout = 1.0;       // entry and attribute cache, seconds
    unsigned max_threads = 8;   // session loop workers
    bool allow_other = false;   // needs user_allow_other in /etc/fuse.conf unless root
    bool writeback = true;      // kernel writeback cache for writable views
    std::function<void()> on_mounted;  // called once the mount is live
};

// Checks that /dev/fuse can be opened. Returns the reason when it cannot.
Status check_dev_fuse();

// Mounts `u` and serves it until it is unmounted or the process gets
// SIGINT/SIGTERM/SIGHUP, then unmounts. Mounting without privilege goes
// through fusermount3 (libfuse's fuse_session_mount does that).
Status serve(Union& u, const ServeOptions& o);

}  // namespace hsbox::fusefs
