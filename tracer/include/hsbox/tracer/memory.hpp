// MemoryReader: how the decoder reads the traced process's memory. The live
// implementation reads another process (process_vm_readv); RecordedMemory
// serves bytes captured earlier, so the decoder is tested without a process.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

namespace hsbox::tracer {

class MemoryReader {
public:
    virtual ~MemoryReader() = default;
    // Copies up to `len` bytes at `addr` into `out`. Returns how many bytes were
    // copied from the start (0 when `addr` is unreadable).
    virtual size_t read(uint64_t addr, void* out, size_t len) = 0;

    // Reads a NUL-terminated string of at most `max` bytes (NUL excluded) into
    // `out`. Returns true when the NUL was found within `max` bytes, false when
    // the string is longer (out holds `max` bytes) or memory ended early.
    bool read_cstring(uint64_t addr, size_t max, std::string& out, bool* fault = nullptr);

    // Reads exactly sizeof(T) bytes. Returns false when they are not all readable.
    template <typename T>
    bool read_struct(uint64_t addr, T& out) {
        return addr != 0 && read(addr, &out, sizeof(T)) == sizeof(T);
    }
};

// Reads the memory of thread `tid` with process_vm_readv (the caller must be
// allowed to ptrace it). Reads never cross into an unmapped page silently:
// a partial read returns the readable prefix.
class ProcessMemory final : public MemoryReader {
public:
    explicit ProcessMemory(pid_t tid) : tid_(tid) {}
    void set_tid(pid_t tid) { tid_ = tid; }
    size_t read(uint64_t addr, void* out, size_t len) override;

private:
    pid_t tid_;
};

// Memory captured in advance: a set of regions (address -> bytes). Reads
// inside a region succeed, everything else is unreadable, as in a process.
class RecordedMemory final : public MemoryReader {
public:
    // Adds a region at `addr`; returns `addr` for convenience.
    uint64_t add(uint64_t addr, std::string bytes);
    size_t read(uint64_t addr, void* out, size_t len) override;

private:
    std::map<uint64_t, std::string> regions_;
};

}  // namespace hsbox::tracer
