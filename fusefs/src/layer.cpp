#include "layer.hpp"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

namespace hsbox::fusefs {

Result<Layer> open_layer(const std::string& path, bool upper) {
    auto fd = open_at(AT_FDCWD, path, O_PATH | O_DIRECTORY);
    if (!fd) return fd.error();
    struct stat st;
    if (::fstat(fd->get(), &st) < 0) return last_error("stat " + path);
    Layer l;
    l.root = std::move(*fd);
    l.path = path;
    l.dev = st.st_dev;
    l.upper = upper;
    return l;
}

Result<LayerDir> open_layer_dir(int dirfd, std::string_view name, int layer) {
    std::string n(name);
    int fd = ::openat(dirfd, n.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return last_error("open dir " + n);
    LayerDir d;
    d.fd = Fd(fd);
    d.layer = layer;
    struct stat st;
    if (::fstat(fd, &st) < 0) return last_error("stat dir " + n);
    d.dev = st.st_dev;
    d.ino = st.st_ino;
    return d;
}

Status HiddenSet::add(const std::string& path) {
    char real[PATH_MAX];
    if (!::realpath(path.c_str(), real)) return last_error("resolve hidden path " + path);
    std::string p = real;
    if (p == "/") return Error{EINVAL, "cannot hide the root directory"};
    auto slash = p.rfind('/');
    std::string parent = slash == 0 ? "/" : p.substr(0, slash);
    std::string name = p.substr(slash + 1);
    struct stat st;
    if (::stat(parent.c_str(), &st) < 0) return last_error("stat " + parent);
    set_.emplace(st.st_dev, st.st_ino, name);
    parents_.emplace(st.st_dev, st.st_ino);
    return {};
}

bool HiddenSet::hides(dev_t dev, ino_t ino, std::string_view name) const {
    if (!parents_.count({dev, ino})) return false;
    return set_.find(std::make_tuple(dev, ino, std::string(name))) != set_.end();
}

bool HiddenSet::has_parent(dev_t dev, ino_t ino) const { return parents_.count({dev, ino}) != 0; }

uint64_t map_ino(dev_t base_dev, dev_t dev, ino_t ino) {
    if (dev == base_dev && (static_cast<uint64_t>(ino) >> 48) == 0) return ino;
    uint64_t h = static_cast<uint64_t>(dev) * 0x9E3779B97F4A7C15ull;
    uint64_t tag = (h >> 48) | 1;  // never 0: base-device inodes keep tag 0
    return (tag << 48) ^ (static_cast<uint64_t>(ino) & 0xFFFFFFFFFFFFull);
}

std::string fd_path(int dirfd, std::string_view name) {
    std::string p = "/proc/self/fd/" + std::to_string(dirfd);
    if (!name.empty()) {
        p += '/';
        p += name;
    }
    return p;
}

}  // namespace hsbox::fusefs
