// Reading and writing a confined process's memory. Every pointer and length
// comes from a hostile process: reads are bounded, EFAULT is the target's
// error, and nothing read is trusted beyond its bytes.
#pragma once

#include <sys/types.h>

#include <sys/uio.h>

#include <cstdint>
#include <string>
#include <vector>

#include "hsbox/result.hpp"

namespace hsbox::supervisor {

// Copies `len` bytes at `addr` in `pid`. Returns EFAULT if any byte is unmapped.
Status read_memory(pid_t pid, uint64_t addr, void* out, size_t len);

// Copies `len` bytes into `pid` at `addr`. Returns EFAULT if unmapped/read-only.
Status write_memory(pid_t pid, uint64_t addr, const void* data, size_t len);

// Reads a NUL-terminated string of at most `max` bytes (excluding the NUL).
// Returns ENAMETOOLONG when no NUL is found within `max`, EFAULT when unmapped.
Result<std::string> read_string(pid_t pid, uint64_t addr, size_t max);

// Reads an iovec array of `count` entries (at most IOV_MAX; EMSGSIZE beyond,
// or when the lengths add up to more than `max_total`).
Result<std::vector<iovec>> read_iovecs(pid_t pid, uint64_t addr, uint64_t count, size_t max_total);

// Copies the data an iovec array describes into one buffer (a send).
Result<std::vector<char>> gather(pid_t pid, const std::vector<iovec>& iov);
// The same for bytes [offset, offset + len) of that data only.
Result<std::vector<char>> gather_range(pid_t pid, const std::vector<iovec>& iov, size_t offset, size_t len);

// Spreads `len` bytes of `data` over the target's iovecs (a receive).
Status scatter(pid_t pid, const std::vector<iovec>& iov, const void* data, size_t len);

}  // namespace hsbox::supervisor
