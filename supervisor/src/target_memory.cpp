#include "target_memory.hpp"

#include <sys/uio.h>

#include <algorithm>
#include <climits>
#include <cstring>

namespace hsbox::supervisor {

Status read_memory(pid_t pid, uint64_t addr, void* out, size_t len) {
    if (len == 0) return {};
    if (addr == 0) return Error{EFAULT, "read target memory"};
    iovec local{out, len};
    iovec remote{reinterpret_cast<void*>(addr), len};
    ssize_t n = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n < 0) return Error{errno == ESRCH ? ESRCH : EFAULT, "read target memory"};
    if (static_cast<size_t>(n) != len) return Error{EFAULT, "read target memory"};
    return {};
}

Status write_memory(pid_t pid, uint64_t addr, const void* data, size_t len) {
    if (len == 0) return {};
    if (addr == 0) return Error{EFAULT, "write target memory"};
    iovec local{const_cast<void*>(data), len};
    iovec remote{reinterpret_cast<void*>(addr), len};
    ssize_t n = ::process_vm_writev(pid, &local, 1, &remote, 1, 0);
    if (n < 0) return Error{errno == ESRCH ? ESRCH : EFAULT, "write target memory"};
    if (static_cast<size_t>(n) != len) return Error{EFAULT, "write target memory"};
    return {};
}

Result<std::string> read_string(pid_t pid, uint64_t addr, size_t max) {
    if (addr == 0) return Error{EFAULT, "read target string"};
    std::string out;
    // Read page by page: a string may end right before an unmapped page.
    constexpr size_t kPage = 4096;
    char buf[kPage];
    while (out.size() <= max) {
        size_t chunk = kPage - (addr % kPage);
        iovec local{buf, chunk};
        iovec remote{reinterpret_cast<void*>(addr), chunk};
        ssize_t n = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (n <= 0) return Error{errno == ESRCH ? ESRCH : EFAULT, "read target string"};
        if (void* nul = std::memchr(buf, 0, static_cast<size_t>(n))) {
            out.append(buf, static_cast<size_t>(static_cast<char*>(nul) - buf));
            if (out.size() > max) break;
            return out;
        }
        out.append(buf, static_cast<size_t>(n));
        addr += static_cast<uint64_t>(n);
    }
    return Error{ENAMETOOLONG, "read target string"};
}

Result<std::vector<iovec>> read_iovecs(pid_t pid, uint64_t addr, uint64_t count, size_t max_total) {
    if (count > IOV_MAX) return Error{EMSGSIZE, "iovec count"};
    std::vector<iovec> iov(count);
    if (count)
        if (auto st = read_memory(pid, addr, iov.data(), count * sizeof(iovec)); !st) return st.error();
    size_t total = 0;
    for (auto& v : iov) {
        if (v.iov_len > max_total || total + v.iov_len > max_total) return Error{EMSGSIZE, "iovec lengths"};
        total += v.iov_len;
    }
    return iov;
}

Result<std::vector<char>> gather(pid_t pid, const std::vector<iovec>& iov) {
    size_t total = 0;
    for (auto& v : iov) total += v.iov_len;
    return gather_range(pid, iov, 0, total);
}

Result<std::vector<char>> gather_range(pid_t pid, const std::vector<iovec>& iov, size_t offset, size_t len) {
    std::vector<char> data(len);
    size_t off = 0;
    for (auto& v : iov) {
        if (off == len) break;
        if (offset >= v.iov_len) {
            offset -= v.iov_len;
            continue;
        }
        size_t n = std::min(v.iov_len - offset, len - off);
        if (auto st = read_memory(pid, reinterpret_cast<uint64_t>(v.iov_base) + offset, data.data() + off, n); !st)
            return st.error();
        off += n;
        offset = 0;
    }
    return data;
}

Status scatter(pid_t pid, const std::vector<iovec>& iov, const void* data, size_t len) {
    const char* p = static_cast<const char*>(data);
    for (auto& v : iov) {
        if (!len) break;
        size_t n = std::min(len, v.iov_len);
        if (auto st = write_memory(pid, reinterpret_cast<uint64_t>(v.iov_base), p, n); !st) return st;
        p += n;
        len -= n;
    }
    return {};
}

}  // namespace hsbox::supervisor
