// A node: one name in the union that the caller (the kernel) holds references
// on. A node knows where its entry lives: for a directory, the stack of layer
// directories that merge into it (upper first); for anything else, the one
// layer whose entry is visible (reached through the parent's directory in that
// layer). Nodes keep their parent alive; the parent's `children` map lets a
// second lookup of the same name find the same node, so inode numbers and node
// ids stay stable while the kernel holds them.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "layer.hpp"

namespace hsbox::fusefs {

// Where a name resolved to. `type` 0 means "does not exist".
struct State {
    mode_t type = 0;               // S_IFMT bits
    int err = 0;                   // type 0: why (0 = ENOENT), e.g. EACCES on a lower dir
    int layer = -1;                // layer of the visible entry
    struct stat st {};             // its stat
    std::vector<LayerDir> dirs;    // directories: every layer that merges in, top first
    bool whiteout_shown = false;   // Upper view: a whiteout shown as a char device
    uint64_t ino = 0;              // the inode number reported
    bool indexed = false;          // regular file served from the hard-link index
    bool in_lower = false;         // some lower layer has this name (under the visible entry)
    std::string index_name;        // regular file whose lower origin has several links: its index key
    nlink_t lower_nlink = 0;       // ... and that origin's link count
    nlink_t nlink = 0;             // the link count reported
};

struct Node {
    uint64_t id = 0;
    Node* parent = nullptr;
    std::string name;
    uint64_t nlookup = 0;  // kernel references
    std::unordered_map<std::string, Node*> children;
    bool unlinked = false;  // removed from the namespace (still referenced)
    size_t detached = 0;    // unlinked children still pointing here
    uint64_t gen = 0;       // layer generation this state was resolved at (live views)
    State s;
    Fd keep;                // O_PATH fd of the backing entry once unlinked (fstat of open, unlinked files)
    uint64_t reg_ino = 0;   // key under which a regular file is registered in by_ino_

    // keep_cache: what the last open saw.
    bool opened = false;
    dev_t open_dev = 0;
    ino_t open_ino = 0;
    off_t open_size = 0;
    struct timespec open_mtime {};
};

}  // namespace hsbox::fusefs
