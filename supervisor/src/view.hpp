// SpaceView: the filesystem as a space sees it, resolved by fd.
//
// Every path a confined process names is turned into a *space path* (absolute,
// in the space's terms) and resolved here, never by string on the host:
//   - host route: openat2(root, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS),
//     so `..`, absolute symlinks and dirfds never lead out of the root; the
//     result is checked (hidden host dirs, /proc and /dev reached by a symlink,
//     device nodes) *before* it is opened for real (an O_PATH probe first), so
//     an open with side effects (O_TRUNC, a FIFO) never touches what the space
//     may not see;
//   - /proc route: only the space's processes exist; magic links are
//     re-expressed as space paths (`/proc/self/root` is the space root);
//   - /dev route: the usual safe nodes, a private /dev/shm.
// Creation never follows a trailing symlink on the host: the parent is
// resolved in the root, and a trailing symlink is re-resolved as a space path.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hsbox/fd.hpp"
#include "hsbox/result.hpp"

namespace hsbox::supervisor {

struct ViewOptions {
    std::string root = "/";            // host directory that is the space's "/"
    std::vector<std::string> hidden;   // host paths the space cannot see
    std::vector<std::string> shared;   // host paths under a hidden one that stay visible
    std::string state_dir;             // hsbox's private dir for this space (always hidden)
    bool hide_host_network = false;    // a portspace: no /proc/PID/net, no /proc/sys/net
};

// Who is asking: the thread (cwd is per thread) and its process (fds).
struct Who {
    pid_t tid;
    pid_t tgid;
};

// The parent directory of a path about to be created, removed or renamed.
struct Parent {
    Fd dir;               // the parent directory (O_PATH)
    std::string name;     // last component; "" for "/", "." or ".." as given
    std::string space_dir;  // the parent's space path
};

class SpaceView {
public:
    using Membership = std::function<bool(pid_t)>;
    // Runs a call that may block (the final open of a FIFO or a device) so
    // that it does not stall the loop; returns its result.
    using BlockingRunner = std::function<long(std::function<long()>)>;
    void set_blocking_runner(BlockingRunner r) { run_blocking_ = std::move(r); }
    // Duplicates a descriptor of a space process (pidfd_getfd). With it,
    // dirfd paths are cached and revalidated with kcmp instead of re-read
    // from /proc for every call.
    using FdFetcher = std::function<Result<Fd>(pid_t tgid, int fd)>;
    void set_fd_fetcher(FdFetcher f) { fetch_fd_ = std::move(f); }

    // Opens the root and the state directory. Returns ENOENT/ENOTDIR for a bad root.
    static Result<std::unique_ptr<SpaceView>> create(ViewOptions opts, Membership in_space);

    // Joins a (dirfd, path) pair from `who` into a space path. EBADF/ENOTDIR
    // for a bad dirfd, EACCES when the dirfd lies outside the space.
    Result<std::string> absolute(const Who& who, int dirfd, std::string_view path) const;

    // Opens a space path. `flags` are open(2) flags (O_PATH, O_NOFOLLOW,
    // O_CREAT... as the target gave them). Returns an O_CLOEXEC fd.
    // With `st`, also returns the object's stat (taken during the checks).
    Result<Fd> open(const Who& who, const std::string& path, int flags, mode_t mode,
                    struct stat* st = nullptr) const;

    // Resolves the parent of a path to create/remove/rename.
    Result<Parent> parent(const Who& who, const std::string& path) const;

    // readlink in space terms (magic links of /proc answer with space paths).
    Result<std::string> readlink(const Who& who, const std::string& path) const;

    // Maps a host path (as /proc/PID/fd or cwd show it) to its space path.
    // EACCES when it lies outside the space or is hidden.
    Result<std::string> to_space(std::string_view host) const;

    // Is this host path hidden from the space?
    bool hidden(std::string_view host) const;

    const std::string& root() const { return opts_.root; }

    // The host path an fd of the supervisor refers to.
    static Result<std::string> fd_path(int fd);

private:
    SpaceView(ViewOptions opts, Membership in_space) : opts_(std::move(opts)), in_space_(std::move(in_space)) {}
    Result<Fd> open_impl(const Who& who, const std::string& path, int flags, mode_t mode, int depth) const;
    Result<Fd> open_created(const Who& who, const std::string& path, int flags, mode_t mode, int depth) const;
    Result<Fd> open_proc(const Who& who, std::vector<std::string> comps, int flags, mode_t mode, int depth) const;
    Result<Fd> open_dev(const Who& who, std::vector<std::string> comps, int flags, mode_t mode, int depth) const;
    Result<Fd> check_host_result(const Who& who, Fd fd, const std::string& path, int flags, mode_t mode,
                                 int depth, bool via_symlink) const;
    // Resolves every symlink of a space path in space terms, component by
    // component (the slow path, taken when the kernel's one-shot resolution
    // met /proc, /dev or a magic link). Returns the canonical space path.
    Result<std::string> walk(const Who& who, const std::string& path, bool follow_last) const;
    // The target of `space_path` if it is a symlink (or an emulated one).
    Result<std::optional<std::string>> link_target(const Who& who, const std::string& space_path) const;
    Result<Fd> proc_snapshot(const Who& who) const;
    Result<Fd> mountinfo(pid_t pid, const std::string& file) const;
    Result<Fd> reopen(const Fd& probe, int flags) const;
    Result<Fd> reopen(const Fd& probe, int flags, const struct stat& st) const;

    ViewOptions opts_;
    Membership in_space_;
    Fd root_;
    Fd proc_;      // host /proc
    Fd dev_;       // host /dev
    Fd state_;     // opts_.state_dir
    Fd shm_;       // the space's /dev/shm
    Fd devsnap_;   // listing of the space's /dev
    mutable std::map<std::string, std::string> procsnaps_;  // listing key -> dir name
    mutable unsigned procsnap_gen_ = 0;
    BlockingRunner run_blocking_;
    FdFetcher fetch_fd_;
    struct DirfdEntry {
        pid_t tgid;
        int fd;
        Fd dup;  // our duplicate: kcmp(KCMP_FILE) tells whether fd still is it
        std::string host;
        uint64_t used;
    };
    mutable std::vector<DirfdEntry> dirfds_;
    mutable uint64_t dirfd_clock_ = 0;
    Result<std::string> dirfd_host(const Who& who, int dirfd) const;
    mutable struct stat last_stat_ {};  // of the last host-route object checked
};

// Splits a path into components, dropping "." and empty ones and applying
// ".." lexically (clamped at "/"). Used to route, never to resolve.
std::vector<std::string> lexical_components(std::string_view path);

// Joins components into "/a/b" ("/" when empty).
std::string join_components(const std::vector<std::string>& comps, size_t from = 0);

}  // namespace hsbox::supervisor
