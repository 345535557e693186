// Reading and writing a confined process's memory. Every pointer and length
// comes from a hostile process: reads are bounded, EFAULT is the target's
// error, and nothing read is trusted beyond its bytes.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "hsbox/result.hpp"

namespace hsbox::supervisor {

// Copies `len` bytes at `addr` in `pid`. Returns EFAULT if any byte is unmapped.
Status read_memory(pid_t pid, uint64_t addr, void* out, size_t len);

// Copies `len` bytes into `pid` at `addr`. Returns EFAULT if unmapped/read-only.
Status write_memory(pid_t pid, uint64_t addr, const void* data, size_t len);

// Reads a NUL-terminated string of at most `max` bytes (excluding the NUL).
// Returns ENAMETOOLONG when no NUL is found within `max`, EFAULT when unmapped.
Result<std::string> read_string(pid_t pid, uint64_t addr, size_t max);

}  // namespace hsbox::supervisor
