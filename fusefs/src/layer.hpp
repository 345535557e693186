// Layers: one directory tree each, reached only through descriptors. Every
// backing operation is relative to a directory fd with a single name component
// (no '/' ever reaches a *at call), and final components are never followed, so
// a symlink inside a layer cannot lead out of it.
#pragma once

#include <sys/stat.h>

#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "hsbox/fd.hpp"
#include "hsbox/result.hpp"

namespace hsbox::fusefs {

struct Layer {
    Fd root;        // O_PATH | O_DIRECTORY
    std::string path;
    dev_t dev = 0;  // of the root
    bool upper = false;
};

// A directory in one layer: an O_PATH fd and its identity.
struct LayerDir {
    int layer = 0;
    Fd fd;
    dev_t dev = 0;
    ino_t ino = 0;
};

// Opens `path` as a layer root. Returns the layer or the open error.
Result<Layer> open_layer(const std::string& path, bool upper);

// Opens `name` in `dirfd` as an O_PATH directory without following a symlink.
// Returns the LayerDir (ENOTDIR if it is not a directory).
Result<LayerDir> open_layer_dir(int dirfd, std::string_view name, int layer);

// Entries hidden in lower layers, keyed by (parent dev, parent ino, name).
class HiddenSet {
public:
    // Records `path` (must exist); its parent directory is stat'ed now.
    Status add(const std::string& path);
    bool empty() const { return set_.empty(); }
    // True if `name` inside the directory (dev, ino) is hidden.
    bool hides(dev_t dev, ino_t ino, std::string_view name) const;
    // True if some hidden entry lives in directory (dev, ino).
    bool has_parent(dev_t dev, ino_t ino) const;

private:
    std::set<std::tuple<dev_t, ino_t, std::string>, std::less<>> set_;
    std::set<std::pair<dev_t, ino_t>> parents_;
};

// Maps a backing (dev, ino) to the inode number the union reports: inodes of
// `base_dev` pass through (so they stay stable across mounts); other devices
// get a 16-bit device tag in the high bits.
uint64_t map_ino(dev_t base_dev, dev_t dev, ino_t ino);

// "/proc/self/fd/N/NAME" (or ".../N" for an empty name): a path the kernel
// resolves through our own descriptor, for the l*xattr calls.
std::string fd_path(int dirfd, std::string_view name);

}  // namespace hsbox::fusefs
