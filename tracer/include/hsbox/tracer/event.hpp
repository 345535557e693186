// SyscallEvent: one system call as an event source reports it (number, raw
// arguments, raw result, times). The decoder and the output never see where
// it came from: the ptrace source here, or the supervisor's seccomp events.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <ctime>

namespace hsbox::tracer {

struct SyscallEvent {
    pid_t pid = 0;   // thread group id
    pid_t tid = 0;   // thread id (== pid for the main thread)
    int nr = -1;     // x86_64 number
    std::array<uint64_t, 6> args{};
    uint64_t stack_pointer = 0;  // at entry, when the source knows it (0 otherwise)
    int64_t ret = 0;        // raw return value: -errno (1..4095) on failure
    bool returned = false;  // false until the exit was seen (exit/exit_group never return)
    timespec entry_time{};  // CLOCK_REALTIME at entry
    timespec exit_time{};   // CLOCK_REALTIME at exit (valid when returned)
};

// Returns true when `ret` is a kernel error return (-4095..-1).
inline bool is_error_return(int64_t ret) { return ret < 0 && ret >= -4095; }

}  // namespace hsbox::tracer
