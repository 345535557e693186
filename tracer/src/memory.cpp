#include "hsbox/tracer/memory.hpp"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace hsbox::tracer {

bool MemoryReader::read_cstring(uint64_t addr, size_t max, std::string& out, bool* fault) {
    out.clear();
    if (fault) *fault = false;
    char chunk[256];
    while (out.size() < max) {
        // Never read across a page boundary in one go: the next page may be unmapped
        // although the string ends before it.
        size_t to_page = 4096 - (addr & 4095);
        size_t want = std::min({sizeof chunk, to_page, max - out.size()});
        size_t got = read(addr, chunk, want);
        if (got == 0) {
            if (fault) *fault = true;
            return false;
        }
        if (const void* nul = std::memchr(chunk, 0, got)) {
            out.append(chunk, static_cast<const char*>(nul) - chunk);
            return true;
        }
        out.append(chunk, got);
        addr += got;
        if (got < want) {
            if (fault) *fault = true;
            return false;
        }
    }
    // Exactly `max` bytes read: the string is complete only if a NUL follows.
    char c = 1;
    return read(addr, &c, 1) == 1 && c == 0;
}

size_t ProcessMemory::read(uint64_t addr, void* out, size_t len) {
    if (addr == 0 || len == 0) return 0;
    iovec local{out, len};
    iovec remote{reinterpret_cast<void*>(addr), len};
    ssize_t n = process_vm_readv(tid_, &local, 1, &remote, 1, 0);
    if (n > 0) return static_cast<size_t>(n);
    // EFAULT: the start is unmapped. Anything else (EPERM under some LSMs,
    // ENOSYS in some sandboxes): fall back to /proc/PID/mem, which a tracer may read.
    if (n == 0 || errno == EFAULT) return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", tid_);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t r = pread(fd, out, len, static_cast<off_t>(addr));
    ::close(fd);
    return r > 0 ? static_cast<size_t>(r) : 0;
}

uint64_t RecordedMemory::add(uint64_t addr, std::string bytes) {
    regions_[addr] = std::move(bytes);
    return addr;
}

size_t RecordedMemory::read(uint64_t addr, void* out, size_t len) {
    auto it = regions_.upper_bound(addr);
    if (it == regions_.begin()) return 0;
    --it;
    uint64_t start = it->first;
    const std::string& bytes = it->second;
    if (addr >= start + bytes.size()) return 0;
    size_t off = addr - start;
    size_t n = std::min(len, bytes.size() - off);
    std::memcpy(out, bytes.data() + off, n);
    return n;
}

}  // namespace hsbox::tracer
