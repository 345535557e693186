// Test helpers: temp dirs, small files, and a fingerprint of a whole tree
// (names, types, modes, owners, sizes, mtimes, contents, xattrs, link targets)
// to prove that nothing wrote to a lower layer.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace hsbox::test {

inline std::string make_temp_dir(const char* tag) {
    const char* t = std::getenv("TMPDIR");
    std::string tmpl = std::string(t && *t ? t : "/tmp") + "/hsbox-" + tag + "-XXXXXX";
    if (!::mkdtemp(tmpl.data())) std::abort();
    return tmpl;
}

inline void remove_tree(const std::string& p) {
    std::string cmd = "chmod -R u+rwx '" + p + "' 2>/dev/null; rm -rf '" + p + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "cleanup of %s failed\n", p.c_str());
}

inline void put(const std::string& path, const std::string& data, mode_t mode = 0644) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) std::abort();
    if (!data.empty() && ::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) std::abort();
    ::close(fd);
    ::chmod(path.c_str(), mode);
}

inline std::string slurp(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "<missing>";
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return out;
}

// FNV-1a over everything observable of a tree.
inline void fingerprint_into(const std::string& path, const std::string& rel, uint64_t& h) {
    auto mix = [&](const std::string& s) {
        for (unsigned char c : s) {
            h ^= c;
            h *= 1099511628211ull;
        }
        h ^= 0xff;
        h *= 1099511628211ull;
    };
    struct stat st;
    if (::lstat(path.c_str(), &st) < 0) {
        mix("missing " + rel);
        return;
    }
    mix(rel + " " + std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + " " +
        std::to_string(st.st_gid) + " " + std::to_string(st.st_nlink) + " " + std::to_string(st.st_mtim.tv_sec) + "." +
        std::to_string(st.st_mtim.tv_nsec) + " " + std::to_string(st.st_ctim.tv_sec) + "." +
        std::to_string(st.st_ctim.tv_nsec));
    char xl[4096];
    ssize_t xn = ::llistxattr(path.c_str(), xl, sizeof xl);
    if (xn > 0) mix(std::string(xl, static_cast<size_t>(xn)));
    if (S_ISREG(st.st_mode)) {
        mix(std::to_string(st.st_size));
        mix(slurp(path));
    } else if (S_ISLNK(st.st_mode)) {
        char buf[4096];
        ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
        mix(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0));
    } else if (S_ISDIR(st.st_mode)) {
        DIR* d = ::opendir(path.c_str());
        if (!d) return;
        std::vector<std::string> names;
        while (struct dirent* e = ::readdir(d)) {
            std::string n = e->d_name;
            if (n != "." && n != "..") names.push_back(n);
        }
        ::closedir(d);
        std::sort(names.begin(), names.end());
        for (auto& n : names) fingerprint_into(path + "/" + n, rel + "/" + n, h);
    }
}

inline uint64_t fingerprint(const std::string& path) {
    uint64_t h = 1469598103934665603ull;
    fingerprint_into(path, "", h);
    return h;
}

}  // namespace hsbox::test
