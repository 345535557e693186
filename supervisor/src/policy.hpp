// The space's seccomp policy: one pure function of the syscall (its family in
// the shared table plus a short list of exceptions), compiled to BPF with
// libseccomp. Numbers outside the table get ENOSYS; foreign architectures
// (i386, x32) kill the process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hsbox/result.hpp"
#include "hsbox/syscall_table.hpp"

namespace hsbox::supervisor {

struct Action {
    enum Kind : uint8_t { Allow, Notify, Trace, Errno } kind = Allow;
    int error = 0;  // for Errno
    bool operator==(const Action&) const = default;
};

// Which kind of space the filter is for. A portspace has no host network:
// every socket call that could create, name or describe an IP socket is
// notified, so that its sockets are the emulated ones (netstack/sockets).
enum class SpaceKind : uint8_t { Server, Portspace };

// What the filter does with `s` before any argument check.
Action policy_for(const SyscallInfo& s, SpaceKind kind = SpaceKind::Server);

// Compiles the whole policy. Returns the BPF program as raw sock_filter bytes.
Result<std::vector<uint8_t>> build_filter_program(SpaceKind kind = SpaceKind::Server);

}  // namespace hsbox::supervisor
