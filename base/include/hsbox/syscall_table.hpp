// The one syscall table (x86_64), generated at compile time from
// base/syscalls.def. The supervisor builds its seccomp policy from the
// families, the tracer decodes arguments from the argument kinds, and the docs
// list both. Nothing else in hsbox keeps a list of syscall numbers.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hsbox {

// What a syscall touches, which decides how the supervisor treats it.
enum class Family : uint8_t {
    Path,        // takes a path resolved against the filesystem view
    Exec,        // execve / execveat
    Desc,        // operates on a descriptor the process already holds
    Poll,        // poll/select/epoll
    Memory,      // the caller's own address space
    ProcessMem,  // another process's memory (by pid)
    Process,     // process lifecycle and the caller's own identity
    Sched,       // scheduling / priority of a pid
    Signal,      // sends a signal to a pid / group
    SignalSelf,  // the caller's own signal state
    Pidfd,       // pidfd, kcmp, ptrace: handles on another process
    Time,
    Futex,
    Socket,
    SysvIpc,     // SysV shm/sem/msg
    Mqueue,      // POSIX message queues
    Mount,       // mount-family, chroot, pivot_root
    Namespace,   // unshare / setns
    Privileged,  // io_uring, bpf, perf, keyctl, modules, ...: never in a space
    Misc,
};

// How the tracer decodes one argument. Extend as the decoder grows.
enum class Arg : uint8_t {
    Int,        // signed decimal
    Uint,       // unsigned decimal
    Hex,        // raw value in hex
    Ptr,        // an address
    Fd,
    Dirfd,      // AT_FDCWD or a descriptor
    Path,       // NUL-terminated string, bounded
    Str,        // other NUL-terminated string
    InBuf,      // buffer the process gives (length is the next argument)
    OutBuf,     // buffer the kernel fills (length is the return value)
    Size,
    OpenFlags,
    Mode,
    AtFlags,
    Signal,
    Pid,
    Sockaddr,   // followed by its length
    StatBuf,
    Iovec,      // followed by a count
    Timespec,
};

constexpr size_t kMaxArgs = 6;

struct SyscallInfo {
    int nr = -1;
    std::string_view name;
    Family family = Family::Misc;
    uint8_t nargs = 0;            // number of decoded argument kinds (0 = raw)
    std::array<Arg, kMaxArgs> args{};
};

// Highest syscall number in the table; the filter refuses numbers above it.
int max_syscall_nr();

// Returns the entry for `nr`, or nullptr for a number the table lacks.
const SyscallInfo* syscall_info(int nr);

// Returns the entry named `name`, or nullptr.
const SyscallInfo* syscall_by_name(std::string_view name);

// Returns the family's name ("Path", "Exec", ...).
std::string_view family_name(Family f);

// Returns every entry, ordered by number.
const SyscallInfo* syscall_table_begin();
const SyscallInfo* syscall_table_end();

}  // namespace hsbox
