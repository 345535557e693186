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

// How the tracer decodes one argument. "in" kinds are read when the call
// enters, "out" kinds when it returns (the kernel has filled them). Every
// argument has its own kind; a kind that depends on another argument (a
// length, a count, a domain) reads that argument's raw value.
enum class Arg : uint8_t {
    Int,        // signed decimal
    Uint,       // unsigned decimal
    Hex,        // raw value in hex
    Ptr,        // an address (NULL for 0)
    Fd,
    Dirfd,      // AT_FDCWD or a descriptor
    Path,       // NUL-terminated string, bounded by PATH_MAX
    Str,        // other NUL-terminated string, bounded by the string size
    InBuf,      // buffer the process gives (length is the next argument)
    OutBuf,     // out: buffer the kernel fills (length is the return value)
    Size,
    OpenFlags,  // O_* including the access mode
    Mode,       // permission bits, octal
    AtFlags,    // AT_*
    Signal,
    Pid,
    Sockaddr,   // followed by its length
    StatBuf,    // out: struct stat
    Iovec,      // followed by a count
    Timespec,
    // Extensions for the decoder (tracer/).
    Void,         // the syscall takes no arguments (only kind on its line)
    OutIovec,     // out: iovec array filled by the kernel, followed by a count
    OutTimespec,  // out: struct timespec
    OutSockaddr,  // out: sockaddr, followed by a socklen_t pointer
    SocklenPtr,   // in/out: pointer to a socklen_t
    Prot,         // PROT_*
    MapFlags,     // MAP_*
    CloneFlags,   // CLONE_* | exit signal
    SockDomain,   // AF_*
    SockType,     // SOCK_* | SOCK_CLOEXEC|SOCK_NONBLOCK
    SockProto,    // IPPROTO_* (depends on the previous domain argument)
    SockFlags,    // SOCK_CLOEXEC|SOCK_NONBLOCK (accept4)
    MsgFlags,     // MSG_*
    SockLevel,    // SOL_*
    SockOpt,      // SO_* / TCP_* (depends on the previous level argument)
    SockOptVal,   // in: option value, followed by its length
    AccessMode,   // F_OK / R_OK|W_OK|X_OK
    Whence,       // SEEK_*
    FcntlCmd,     // F_*, decodes the argument after it by command
    IoctlReq,     // request code
    FutexOp,      // FUTEX_*
    SigHow,       // SIG_BLOCK / SIG_UNBLOCK / SIG_SETMASK
    Sigset,       // in: sigset_t pointer
    OutSigset,    // out: sigset_t pointer
    Sigaction,    // in: struct sigaction
    OutSigaction, // out: struct sigaction
    Argv,         // in: NULL-terminated array of strings
    Envp,         // in: environment array (counted, not printed)
    OutPipeFds,   // out: int[2]
    OutWaitStatus,// out: int wait status
    WaitOptions,  // WNOHANG|...
    PollFds,      // in/out: struct pollfd[], followed by the count
    OutEpollEvents, // out: struct epoll_event[], count is the return value
    EpollCtlOp,   // EPOLL_CTL_*
    EpollEvent,   // in: struct epoll_event
    ClockId,      // CLOCK_*
    RlimitResource, // RLIMIT_*
    Rlimit,       // in: struct rlimit
    OutRlimit,    // out: struct rlimit
    ArchPrctlCode,// ARCH_*
    PrctlOption,  // PR_*
    OutDirents,   // out: getdents buffer (entry count)
    OffPtr,       // in/out: loff_t pointer
    FdFlags,      // O_CLOEXEC|O_NONBLOCK without an access mode (pipe2, dup3, ...)
    UnlinkFlags,  // AT_REMOVEDIR
    RenameFlags,  // RENAME_*
    GrndFlags,    // GRND_*
    Timeval,      // in: struct timeval
    OutTimeval,   // out: struct timeval
    OutUname,     // out: struct utsname
    OutStatx,     // out: struct statx
    StatxMask,    // STATX_*
    MadviseAdvice,// MADV_*
    FadviseAdvice,// POSIX_FADV_*
    ShutdownHow,  // SHUT_*
    EventfdFlags, // EFD_*
    EpollFlags,   // EPOLL_CLOEXEC
    OutSysinfo,   // out: struct sysinfo (summary)
    OutStatfs,    // out: struct statfs (summary)
    Clone3Args,   // in: struct clone_args, followed by its size
    OutStr,       // out: NUL-terminated string the kernel fills (getcwd)
    OutInt,       // out: int pointer
    IntPtr,       // in: int pointer
    Itimer,       // ITIMER_*
    MsgHdr,       // in: struct msghdr (summary)
    OutMsgHdr,    // out: struct msghdr (summary)
    Octal,        // raw value in octal (umask)
    CloseRangeFlags, // CLOSE_RANGE_*
    Rusage,       // out: struct rusage (address only)
    TimerFlags,   // TIMER_ABSTIME / TFD_TIMER_*
    MemfdFlags,   // MFD_*
    InotifyMask,  // IN_*
    SpliceFlags,  // SPLICE_F_*
    MlockFlags,   // MCL_* / MLOCK_ONFAULT
    MsyncFlags,   // MS_*
    MremapFlags,  // MREMAP_*
    SchedPolicy,  // SCHED_*
    PersonalityFlags, // PER_*
    Which,        // PRIO_PROCESS / PRIO_PGRP / PRIO_USER
    Uid,          // uid/gid: -1 printed as -1
    FlockOp,      // LOCK_*
    FallocMode,   // FALLOC_FL_*
    SignalfdFlags,// SFD_*
    TimerfdFlags, // TFD_*
    InotifyFlags, // IN_CLOEXEC|IN_NONBLOCK
    Idtype,       // P_PID / P_ALL / ...
    Siginfo,      // in: siginfo_t (address only)
    XattrFlags,   // XATTR_CREATE / XATTR_REPLACE
    MountFlags,   // MS_* for mount
    UmountFlags,  // MNT_* for umount2
    OutBufHex,    // out: like OutBuf, printed as \x hex (random bytes)
    StatxFlags,   // AT_* plus the AT_STATX_SYNC_* field (statx)
    FdSet,        // in/out: fd_set of select/pselect6 (size from the first argument)
    OutSockOptVal,// out: getsockopt value, its length in the socklen_t the next argument points to
    OutCpuSet,    // out: CPU mask (sched_getaffinity), size is the return value
    SigreturnFrame, // the signal frame at the stack pointer (rt_sigreturn's only "argument")
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
