#include "target_memory.hpp"

#include <sys/uio.h>

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

}  // namespace hsbox::supervisor
