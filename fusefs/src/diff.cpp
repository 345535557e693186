// `hsbox diff`: what an upper layer changed, read straight from its files.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "hsbox/fusefs/union_fs.hpp"
#include "layer.hpp"
#include "whiteout.hpp"

namespace hsbox::fusefs {
namespace {

// Returns the names in the directory `dirfd` (without "." and "..").
Result<std::vector<std::pair<std::string, unsigned char>>> list_dir(int dirfd) {
    int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return last_error("open directory");
    DIR* d = ::fdopendir(fd);
    if (!d) {
        ::close(fd);
        return last_error("fdopendir");
    }
    std::vector<std::pair<std::string, unsigned char>> out;
    while (struct dirent* e = ::readdir(d)) {
        std::string_view n = e->d_name;
        if (n != "." && n != "..") out.emplace_back(std::string(n), e->d_type);
    }
    ::closedir(d);
    return out;
}

struct Walker {
    std::vector<Change> out;

    Status walk(int up, const std::string& path, const std::vector<LayerDir>& lowers, bool root) {
        auto names = list_dir(up);
        if (!names) return names.error();
        bool opaque = false;
        std::vector<std::string> present;
        for (auto& [n, t] : *names) {
            if (root && n == kWorkDir) continue;
            if (n == kOpaque) {
                opaque = true;
                continue;
            }
            std::string_view w = whited_out(n);
            if (!w.empty()) {
                out.push_back({'D', path + "/" + std::string(w)});
                present.emplace_back(w);
                continue;
            }
            if (is_reserved(n)) continue;
            present.push_back(n);
            struct stat st;
            if (::fstatat(up, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) return last_error("stat " + path + "/" + n);
            // The lower entry at this path, if any (first layer that has it).
            std::vector<LayerDir> sub;
            bool in_lower = false;
            struct stat low {};
            for (auto& l : lowers) {
                struct stat ls;
                if (::fstatat(l.fd.get(), n.c_str(), &ls, AT_SYMLINK_NOFOLLOW) == 0) {
                    if (!in_lower) low = ls;
                    in_lower = true;
                    if (!S_ISDIR(ls.st_mode)) break;
                    auto d = open_layer_dir(l.fd.get(), n, l.layer);
                    if (d) sub.push_back(std::move(*d));
                } else if (exists_at(l.fd.get(), whiteout_name(n))) {
                    break;
                }
            }
            std::string p = path + "/" + n;
            if (S_ISDIR(st.st_mode)) {
                if (!in_lower || !S_ISDIR(low.st_mode)) {
                    out.push_back({in_lower ? 'C' : 'A', p});
                    sub.clear();
                } else if (low.st_mode != st.st_mode || low.st_uid != st.st_uid || low.st_gid != st.st_gid) {
                    out.push_back({'C', p});
                }
                auto d = open_layer_dir(up, n, 0);
                if (!d) return d.error();
                if (auto r = walk(d->fd.get(), p, sub, false); !r) return r;
            } else {
                out.push_back({in_lower ? 'C' : 'A', p});
            }
        }
        if (opaque) {
            // Everything the lowers had here and the upper does not is gone.
            std::sort(present.begin(), present.end());
            std::vector<std::string> gone;
            for (auto& l : lowers) {
                auto ln = list_dir(l.fd.get());
                if (!ln) continue;
                for (auto& [n, t] : *ln)
                    if (!is_reserved(n) && !std::binary_search(present.begin(), present.end(), n))
                        gone.push_back(n);
            }
            std::sort(gone.begin(), gone.end());
            gone.erase(std::unique(gone.begin(), gone.end()), gone.end());
            for (auto& g : gone) out.push_back({'D', path + "/" + g});
        }
        return {};
    }
};

}  // namespace

Result<std::vector<Change>> diff_upper(const std::string& upper, const std::vector<std::string>& lowers) {
    auto up = open_layer(upper, true);
    if (!up) return up.error();
    std::vector<LayerDir> ls;
    for (size_t i = 0; i < lowers.size(); ++i) {
        auto l = open_layer(lowers[i], false);
        if (!l) return l.error();
        auto d = open_layer_dir(l->root.get(), ".", static_cast<int>(i) + 1);
        if (!d) return d.error();
        ls.push_back(std::move(*d));
    }
    auto root = open_layer_dir(up->root.get(), ".", 0);
    if (!root) return root.error();
    if (is_opaque(root->fd.get())) ls.clear();
    Walker w;
    if (auto st = w.walk(root->fd.get(), "", ls, true); !st) return st.error();
    std::sort(w.out.begin(), w.out.end(), [](const Change& a, const Change& b) { return a.path < b.path; });
    return std::move(w.out);
}

}  // namespace hsbox::fusefs
