#include "whiteout.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "hsbox/fd.hpp"

namespace hsbox::fusefs {

std::string_view whited_out(std::string_view entry) {
    if (!is_reserved(entry)) return {};
    std::string_view rest = entry.substr(kWhPrefix.size());
    if (rest.empty() || rest.substr(0, kWhPrefix.size()) == kWhPrefix) return {};
    return rest;
}

bool exists_at(int dirfd, std::string_view name) {
    struct stat st;
    return ::fstatat(dirfd, std::string(name).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static Status create_empty(int dirfd, const std::string& n) {
    int fd = ::openat(dirfd, n.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return last_error("create " + n);
    ::close(fd);
    return {};
}

Status make_whiteout(int dirfd, std::string_view name) { return create_empty(dirfd, whiteout_name(name)); }

Result<bool> remove_whiteout(int dirfd, std::string_view name) {
    std::string n = whiteout_name(name);
    if (::unlinkat(dirfd, n.c_str(), 0) == 0) return true;
    if (errno == ENOENT) return false;
    return last_error("remove whiteout " + n);
}

Status make_opaque(int dirfd) { return create_empty(dirfd, std::string(kOpaque)); }

bool is_opaque(int dirfd) { return exists_at(dirfd, kOpaque); }

Status clear_markers(int dirfd) {
    int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return last_error("open dir to clear whiteouts");
    DIR* d = ::fdopendir(fd);
    if (!d) {
        ::close(fd);
        return last_error("fdopendir");
    }
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
        std::string_view n = e->d_name;
        if (n == kOpaque || !whited_out(n).empty()) names.emplace_back(n);
    }
    ::closedir(d);
    for (auto& n : names)
        if (::unlinkat(dirfd, n.c_str(), 0) < 0 && errno != ENOENT) return last_error("remove " + n);
    return {};
}

}  // namespace hsbox::fusefs
