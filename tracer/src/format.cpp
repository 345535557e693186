#include "hsbox/tracer/format.hpp"

#include <sys/wait.h>

#include <cstdio>

#include "names.hpp"

namespace hsbox::tracer {

namespace {

std::string prefix_text(pid_t tid, PidPrefix p) {
    char b[32];
    switch (p) {
        case PidPrefix::None: return {};
        case PidPrefix::Column: std::snprintf(b, sizeof b, "%-5d ", tid); return b;
        case PidPrefix::Bracket: std::snprintf(b, sizeof b, "[pid %5d] ", tid); return b;
    }
    return {};
}

std::string time_json(timespec t) {
    char b[48];
    std::snprintf(b, sizeof b, "%lld.%06ld", static_cast<long long>(t.tv_sec), t.tv_nsec / 1000);
    return b;
}

double seconds_between(timespec a, timespec b) {
    return static_cast<double>(b.tv_sec - a.tv_sec) + static_cast<double>(b.tv_nsec - a.tv_nsec) / 1e9;
}

}  // namespace

std::string arg_kind_name(Arg k) {
    switch (k) {
#define K(name, s) case Arg::name: return s;
        K(Int, "int") K(Uint, "uint") K(Hex, "hex") K(Ptr, "ptr") K(Fd, "fd") K(Dirfd, "dirfd")
        K(Path, "path") K(Str, "str") K(InBuf, "buf") K(OutBuf, "buf") K(Size, "size")
        K(OpenFlags, "open_flags") K(Mode, "mode") K(AtFlags, "at_flags") K(Signal, "signal")
        K(Pid, "pid") K(Sockaddr, "sockaddr") K(StatBuf, "stat") K(Iovec, "iovec")
        K(Timespec, "timespec") K(Void, "void") K(OutIovec, "iovec") K(OutTimespec, "timespec")
        K(OutSockaddr, "sockaddr") K(SocklenPtr, "socklen") K(Prot, "prot") K(MapFlags, "map_flags")
        K(CloneFlags, "clone_flags") K(SockDomain, "domain") K(SockType, "sock_type")
        K(SockProto, "protocol") K(SockFlags, "sock_flags") K(MsgFlags, "msg_flags")
        K(SockLevel, "level") K(SockOpt, "optname") K(SockOptVal, "optval")
        K(AccessMode, "access_mode") K(Whence, "whence") K(FcntlCmd, "fcntl_cmd")
        K(IoctlReq, "ioctl_request") K(FutexOp, "futex_op") K(SigHow, "how") K(Sigset, "sigset")
        K(OutSigset, "sigset") K(Sigaction, "sigaction") K(OutSigaction, "sigaction")
        K(Argv, "argv") K(Envp, "envp") K(OutPipeFds, "fds") K(OutWaitStatus, "wait_status")
        K(WaitOptions, "wait_options") K(PollFds, "pollfds") K(OutEpollEvents, "epoll_events")
        K(EpollCtlOp, "epoll_op") K(EpollEvent, "epoll_event") K(ClockId, "clock")
        K(RlimitResource, "resource") K(Rlimit, "rlimit") K(OutRlimit, "rlimit")
        K(ArchPrctlCode, "arch_prctl_code") K(PrctlOption, "prctl_option") K(OutDirents, "dirents")
        K(OffPtr, "offset") K(FdFlags, "fd_flags") K(UnlinkFlags, "at_flags")
        K(RenameFlags, "rename_flags") K(GrndFlags, "grnd_flags") K(Timeval, "timeval")
        K(OutTimeval, "timeval") K(OutUname, "utsname") K(OutStatx, "statx")
        K(StatxMask, "statx_mask") K(MadviseAdvice, "advice") K(FadviseAdvice, "advice")
        K(ShutdownHow, "how") K(EventfdFlags, "efd_flags") K(EpollFlags, "epoll_flags")
        K(OutSysinfo, "sysinfo") K(OutStatfs, "statfs") K(Clone3Args, "clone_args")
        K(OutStr, "str") K(OutInt, "int") K(IntPtr, "int") K(Itimer, "itimer") K(MsgHdr, "msghdr")
        K(OutMsgHdr, "msghdr") K(Octal, "octal") K(CloseRangeFlags, "close_range_flags")
        K(Rusage, "ptr") K(TimerFlags, "timer_flags") K(MemfdFlags, "mfd_flags")
        K(InotifyMask, "inotify_mask") K(SpliceFlags, "splice_flags") K(MlockFlags, "mlock_flags")
        K(MsyncFlags, "msync_flags") K(MremapFlags, "mremap_flags") K(SchedPolicy, "sched_policy")
        K(PersonalityFlags, "personality") K(Which, "which") K(Uid, "id") K(FlockOp, "flock_op")
        K(FallocMode, "falloc_mode") K(SignalfdFlags, "sfd_flags") K(TimerfdFlags, "tfd_flags")
        K(InotifyFlags, "inotify_flags") K(Idtype, "idtype") K(Siginfo, "ptr")
        K(XattrFlags, "xattr_flags") K(MountFlags, "mount_flags") K(UmountFlags, "umount_flags") K(OutBufHex, "buf") K(StatxFlags, "at_flags") K(SigreturnFrame, "sigframe") K(OutCpuSet, "cpuset") K(OutSockOptVal, "optval") K(FdSet, "fdset")
#undef K
    }
    return "raw";
}

namespace {

// Index of the first argument strace prints at exit: the first one the kernel
// fills (an "out" or "in/out" kind). Everything before it is printed at entry.
size_t entry_args(const DecodedCall& call) {
    if (!call.info || call.info->nargs == 0) return call.args.size();
    for (size_t i = 0; i < call.args.size(); ++i)
        if (!is_entry_kind(call.args[i].kind) || call.args[i].entry_len) return i;
    return call.args.size();
}

// Appends the arguments from `n` (the first one not complete at entry) on:
// the exit part of a straddling argument, then the others.
void append_exit_args(std::string& line, const DecodedCall& call, size_t n) {
    for (size_t i = n; i < call.args.size(); ++i) {
        const DecodedArg& a = call.args[i];
        if (i == n && a.entry_len) {
            line += a.text.substr(std::min(a.entry_len, a.text.size()));
            continue;
        }
        if (i > n) line += ", ";
        line += a.text;
    }
}

void append_args(std::string& line, const DecodedCall& call, size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
        if (i) line += ", ";
        line += call.args[i].text;
    }
}

// Appends ") = result" aligned as strace does (column 40 of the line).
void append_result(std::string& line, const DecodedCall& call, size_t col_before) {
    line += ')';
    size_t col = col_before + line.size();
    if (col < 39) line.append(39 - col, ' ');
    line += " = ";
    line += call.returned ? call.ret_text : "?";
    if (call.returned && !call.ret_suffix.empty()) {
        line += ' ';
        line += call.ret_suffix;
    }
    line += '\n';
}

}  // namespace

std::string format_text(const SyscallEvent& ev, const DecodedCall& call, PidPrefix prefix) {
    std::string line = prefix_text(ev.tid, prefix);
    line += call.name;
    line += '(';
    append_args(line, call, 0, call.args.size());
    append_result(line, call, 0);
    return line;
}

std::string format_text_head(const SyscallEvent& ev, const DecodedCall& call, PidPrefix prefix) {
    std::string line = prefix_text(ev.tid, prefix);
    line += call.name;
    line += '(';
    size_t n = entry_args(call);
    append_args(line, call, 0, n);
    if (n < call.args.size()) {
        const DecodedArg& a = call.args[n];
        if (n > 0) line += ", ";
        if (a.entry_len) line += a.text.substr(0, a.entry_len);
    }
    return line;
}

std::string format_text_tail(const DecodedCall& call, size_t head_len) {
    std::string line;
    append_exit_args(line, call, entry_args(call));
    append_result(line, call, head_len);
    return line;
}

std::string format_text_resumed(const SyscallEvent& ev, const DecodedCall& call, PidPrefix prefix) {
    std::string line = prefix_text(ev.tid, prefix) + "<... " + call.name + " resumed>";
    append_exit_args(line, call, entry_args(call));
    append_result(line, call, 0);
    return line;
}

std::string format_json(const SyscallEvent& ev, const DecodedCall& call) {
    std::string j = "{\"type\":\"syscall\",\"time\":" + time_json(ev.entry_time) +
                    ",\"pid\":" + std::to_string(ev.pid) + ",\"tid\":" + std::to_string(ev.tid) +
                    ",\"syscall\":" + json_string(call.name) + ",\"nr\":" + std::to_string(ev.nr) +
                    ",\"args\":[";
    for (size_t i = 0; i < call.args.size(); ++i) {
        const DecodedArg& a = call.args[i];
        if (i) j += ',';
        j += "{\"kind\":\"" + (call.info && call.info->nargs ? arg_kind_name(a.kind) : std::string("raw")) +
             "\",\"value\":" + (a.json.empty() ? std::string("null") : a.json) +
             ",\"text\":" + json_string(a.text) + "}";
    }
    j += "],\"return\":";
    if (!call.returned) {
        j += "null,\"errno\":null,\"duration\":null}\n";
        return j;
    }
    j += call.err ? "-1" : std::to_string(call.ret);
    j += ",\"errno\":";
    if (call.err) {
        const char* n = errno_name(call.err);
        if (!n) n = errno_restart_name(call.err);
        j += n ? json_string(n) : std::to_string(call.err);
    } else {
        j += "null";
    }
    char b[48];
    std::snprintf(b, sizeof b, ",\"duration\":%.6f}\n", seconds_between(ev.entry_time, ev.exit_time));
    j += b;
    return j;
}

std::string format_exit_text(pid_t tid, int status, PidPrefix prefix) {
    std::string line = prefix_text(tid, prefix);
    if (WIFSIGNALED(status))
        line += "+++ killed by " + signal_name(WTERMSIG(status)) +
                (WCOREDUMP(status) ? " (core dumped)" : "") + " +++\n";
    else
        line += "+++ exited with " + std::to_string(WEXITSTATUS(status)) + " +++\n";
    return line;
}

std::string format_exit_json(pid_t pid, pid_t tid, int status, timespec when) {
    std::string base = "\"time\":" + time_json(when) + ",\"pid\":" + std::to_string(pid) +
                       ",\"tid\":" + std::to_string(tid);
    if (WIFSIGNALED(status))
        return "{\"type\":\"killed\"," + base + ",\"signal\":" + json_string(signal_name(WTERMSIG(status))) + "}\n";
    return "{\"type\":\"exit\"," + base + ",\"status\":" + std::to_string(WEXITSTATUS(status)) + "}\n";
}

namespace {

// Returns strace's name for si_code of signal `sig`, or "" when unknown.
std::string si_code_name(int sig, int code) {
    switch (code) {
        case SI_USER: return "SI_USER";
        case SI_KERNEL: return "SI_KERNEL";
        case SI_QUEUE: return "SI_QUEUE";
        case SI_TIMER: return "SI_TIMER";
        case SI_MESGQ: return "SI_MESGQ";
        case SI_ASYNCIO: return "SI_ASYNCIO";
        case SI_SIGIO: return "SI_SIGIO";
        case SI_TKILL: return "SI_TKILL";
    }
    if (sig == SIGCHLD) {
        static const char* n[] = {nullptr, "CLD_EXITED", "CLD_KILLED", "CLD_DUMPED",
                                  "CLD_TRAPPED", "CLD_STOPPED", "CLD_CONTINUED"};
        if (code >= 1 && code <= 6) return n[code];
    } else if (sig == SIGSEGV) {
        static const char* n[] = {nullptr, "SEGV_MAPERR", "SEGV_ACCERR", "SEGV_BNDERR", "SEGV_PKUERR"};
        if (code >= 1 && code <= 4) return n[code];
    } else if (sig == SIGBUS) {
        static const char* n[] = {nullptr, "BUS_ADRALN", "BUS_ADRERR", "BUS_OBJERR"};
        if (code >= 1 && code <= 3) return n[code];
    }
    return {};
}

std::string addr_text(const void* p) {
    if (!p) return "NULL";
    char b[32];
    std::snprintf(b, sizeof b, "%p", p);
    return b;
}

}  // namespace

std::string format_signal_text(pid_t tid, const siginfo_t& si, PidPrefix prefix) {
    std::string name = signal_name(si.si_signo);
    std::string code = si_code_name(si.si_signo, si.si_code);
    if (code.empty()) code = std::to_string(si.si_code);
    std::string line = prefix_text(tid, prefix) + "--- " + name + " {si_signo=" + name + ", si_code=" + code;
    if (si.si_code <= 0) {  // sent by a process (kill, tkill, sigqueue)
        line += ", si_pid=" + std::to_string(si.si_pid) + ", si_uid=" + std::to_string(si.si_uid);
    } else if (si.si_signo == SIGCHLD) {
        line += ", si_pid=" + std::to_string(si.si_pid) + ", si_uid=" + std::to_string(si.si_uid) + ", si_status=";
        line += (si.si_code == CLD_EXITED) ? std::to_string(si.si_status) : signal_name(si.si_status);
        line += ", si_utime=" + std::to_string(si.si_utime) + ", si_stime=" + std::to_string(si.si_stime);
    } else if (si.si_signo == SIGSEGV || si.si_signo == SIGBUS || si.si_signo == SIGILL ||
               si.si_signo == SIGFPE) {
        line += ", si_addr=" + addr_text(si.si_addr);
    }
    return line + "} ---\n";
}

std::string format_signal_json(pid_t pid, pid_t tid, const siginfo_t& si, timespec when) {
    return "{\"type\":\"signal\",\"time\":" + time_json(when) + ",\"pid\":" + std::to_string(pid) +
           ",\"tid\":" + std::to_string(tid) + ",\"signal\":" + json_string(signal_name(si.si_signo)) +
           ",\"code\":" + std::to_string(si.si_code) + ",\"code_name\":" +
           json_string(si_code_name(si.si_signo, si.si_code)) + ",\"sender\":" + std::to_string(si.si_pid) + "}\n";
}

std::string format_dropped_text(uint64_t count) {
    return "--- hsbox: " + std::to_string(count) + " events dropped (reader too slow) ---\n";
}

std::string format_dropped_json(uint64_t count, timespec when) {
    return "{\"type\":\"dropped\",\"time\":" + time_json(when) + ",\"count\":" + std::to_string(count) + "}\n";
}

}  // namespace hsbox::tracer
