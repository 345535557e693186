// The union filesystem core: an ordered stack of layers (one writable upper
// over read-only lowers), served by node id the way the FUSE low-level API asks
// for it, but with no FUSE dependency so the supervisor (and the unit tests)
// can use it directly.
//
// Layout of an upper directory (OCI image-layer conventions, no privilege):
//   NAME                 an entry that hides NAME in every lower layer
//   .wh.NAME             a whiteout: NAME is deleted
//   .wh..wh..opq         in a directory: the lower layers' contents are hidden
//   .wh..wh..hsbox/      hsbox's work area (copy-up temp files, hard-link index)
//
// Lock order: one mutex guards the node table and every metadata operation;
// data reads and writes on an open file handle never take it.
#pragma once

#include <dirent.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hsbox/fd.hpp"
#include "hsbox/result.hpp"

namespace hsbox::fusefs {

// Which view of the layers is served.
enum class View {
    Root,    // read-write: upper over lowers (a space's root)
    Merged,  // read-only: upper over lowers (/.serverfs)
    Upper,   // read-only: the upper alone, whiteouts shown as char devices 0:0 (/.dserverfs)
};

// Returns "root" / "merged" / "upper".
std::string_view view_name(View v);
// Parses "root" / "merged" / "upper".
std::optional<View> parse_view(std::string_view s);

struct Config {
    std::string upper;                // required for Root and Upper views; optional for Merged
    std::vector<std::string> lowers;  // topmost first; ignored by the Upper view
    View view = View::Root;
    // Host paths (absolute, or relative to the current directory) hidden in every
    // lower layer: hsbox's state directories, the upper layer itself, the
    // mountpoint. A hidden entry is matched by its parent directory's identity
    // and its name, so it stays hidden whatever path reaches it.
    std::vector<std::string> hidden;
    // Read-only views serve layers another process is writing: re-resolve every
    // node on every operation instead of trusting the node cache.
    bool live = false;
    // Directory fds (O_PATH, one per layer of each known directory) kept open;
    // beyond this the oldest are closed and reopened by name on use.
    size_t dir_fd_budget = 4096;
};

// Who asks: new entries get this owner when the server may chown.
struct Caller {
    uid_t uid = 0;
    gid_t gid = 0;
    mode_t umask = 0;
};

// A node the caller now holds one lookup reference on, with its attributes.
struct Entry {
    uint64_t node = 0;
    struct stat attr {};
};

struct DirEntry {
    std::string name;
    uint64_t ino = 0;
    unsigned char type = DT_UNKNOWN;
};

// Attribute changes; unset fields are left alone. A timespec with
// tv_nsec == UTIME_NOW means "now".
struct SetAttr {
    std::optional<mode_t> mode;
    std::optional<uid_t> uid;
    std::optional<gid_t> gid;
    std::optional<off_t> size;
    std::optional<struct timespec> atime;
    std::optional<struct timespec> mtime;
};

// An open backing file. keep_cache is true when the backing file is the one
// the previous open saw, unchanged (same inode, size and mtime), so the kernel
// may keep its page cache.
struct OpenFile {
    Fd fd;
    bool keep_cache = false;
};

constexpr uint64_t kRootNode = 1;  // FUSE_ROOT_ID

class Union {
public:
    // Opens the layers. Returns EINVAL for a config the view cannot serve.
    static Result<std::unique_ptr<Union>> open(const Config& cfg);
    virtual ~Union() = default;

    virtual bool writable() const = 0;
    virtual View view() const = 0;

    // Node references: lookup/create/mkdir/... add one; forget drops n.
    virtual Result<Entry> lookup(uint64_t parent, std::string_view name) = 0;
    virtual void forget(uint64_t node, uint64_t n) = 0;

    virtual Result<struct stat> getattr(uint64_t node) = 0;
    // Attributes of a node through one of its open files: works after the
    // node was unlinked (an open, unlinked file still has attributes).
    virtual Result<struct stat> fgetattr(uint64_t node, int fd) = 0;
    virtual Result<struct stat> setattr(uint64_t node, const SetAttr& a) = 0;
    virtual Result<std::string> readlink(uint64_t node) = 0;

    virtual Result<Entry> mknod(uint64_t parent, std::string_view name, mode_t mode, dev_t rdev,
                                const Caller& c) = 0;
    virtual Result<Entry> mkdir(uint64_t parent, std::string_view name, mode_t mode,
                                const Caller& c) = 0;
    virtual Result<Entry> symlink(uint64_t parent, std::string_view name, const std::string& target,
                                  const Caller& c) = 0;
    virtual Result<Entry> link(uint64_t node, uint64_t newparent, std::string_view newname) = 0;
    virtual Status unlink(uint64_t parent, std::string_view name) = 0;
    virtual Status rmdir(uint64_t parent, std::string_view name) = 0;
    // flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE.
    virtual Status rename(uint64_t parent, std::string_view name, uint64_t newparent,
                          std::string_view newname, unsigned flags) = 0;

    // Opens the backing file (copying it up first when flags ask for writing).
    virtual Result<OpenFile> open_file(uint64_t node, int flags) = 0;
    // Creates and opens a regular file.
    virtual Result<std::pair<Entry, OpenFile>> create(uint64_t parent, std::string_view name,
                                                      mode_t mode, int flags, const Caller& c) = 0;
    // Returns the merged listing ("." and ".." first).
    virtual Result<std::vector<DirEntry>> readdir(uint64_t node) = 0;

    virtual Result<std::string> getxattr(uint64_t node, const std::string& name) = 0;
    // Returns the names, each NUL-terminated, concatenated.
    virtual Result<std::string> listxattr(uint64_t node) = 0;
    virtual Status setxattr(uint64_t node, const std::string& name, const std::string& value,
                            int flags) = 0;
    virtual Status removexattr(uint64_t node, const std::string& name) = 0;
    virtual Result<struct statvfs> statfs() = 0;
    // fsync of a directory: syncs its upper directory (a lower is never written).
    virtual Status sync_dir(uint64_t node) = 0;

    // Called (under the union's lock: only queue work) with a node whose
    // cached attributes, and with `data` its cached contents, went stale
    // through another name: a hard link added or removed, a copy-up of a
    // multiply-linked file.
    virtual void set_invalidator(std::function<void(uint64_t node, bool data)> fn) = 0;

    // Root view: records that the node's data changed (a file opened for
    // writing was closed), for the live views' journal.
    virtual void note_written(uint64_t node) = 0;
    // Live views: reads what the root view journaled since the last call and
    // calls fn(parent node, name, node or 0) for every changed name the node
    // table knows the parent of (the name's own node, if known). Returns true
    // if anything was read.
    virtual bool follow_changes(
        const std::function<void(uint64_t parent, const std::string& name, uint64_t node)>& fn) = 0;

    // Number of nodes in the table (tests check that forget frees them).
    virtual size_t node_count() = 0;
};

// One change an upper layer records relative to its lowers.
struct Change {
    char kind;         // 'A' added, 'C' changed (present in upper and lower), 'D' deleted
    std::string path;  // "/etc/passwd"
};

// Walks an upper directory and lists its changes against `lowers`, sorted by
// path: A for an upper entry no lower has at that path (or hidden under an
// opaque dir), C for an upper non-directory (or a directory whose owner/mode
// differ) that shadows a lower entry, D for a whiteout. Directories that only
// hold changes are not listed themselves.
Result<std::vector<Change>> diff_upper(const std::string& upper,
                                       const std::vector<std::string>& lowers);

}  // namespace hsbox::fusefs
