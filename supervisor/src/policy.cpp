#include "policy.hpp"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string_view>

#include "hsbox/fd.hpp"

namespace hsbox::supervisor {

namespace {

constexpr Action allow() { return {Action::Allow, 0}; }
constexpr Action notify() { return {Action::Notify, 0}; }
constexpr Action trace() { return {Action::Trace, 0}; }
constexpr Action deny(int e) { return {Action::Errno, e}; }

// Exceptions to the family default, by name. Reasons inline.
struct Exception {
    std::string_view name;
    Action action;
};
constexpr Exception kExceptions[] = {
    // The kernel must perform these in the target's own context with a path:
    // handled at a ptrace stop with the space stopped (see tasks.cpp).
    {"chdir", trace()},
    // Path calls hsbox does not emulate: refuse rather than pass through.
    {"name_to_handle_at", deny(EOPNOTSUPP)},
    {"open_by_handle_at", deny(EPERM)},
    {"uselib", deny(EPERM)},
    {"acct", deny(EPERM)},
    {"swapon", deny(EPERM)},
    {"swapoff", deny(EPERM)},
    {"quotactl", deny(EPERM)},
    {"quotactl_fd", deny(EPERM)},
    {"fanotify_mark", deny(EPERM)},
    {"fanotify_init", deny(EPERM)},
    {"setxattrat", deny(ENOSYS)},
    {"getxattrat", deny(ENOSYS)},
    {"listxattrat", deny(ENOSYS)},
    {"removexattrat", deny(ENOSYS)},
    {"file_getattr", deny(ENOSYS)},
    {"file_setattr", deny(ENOSYS)},
    {"userfaultfd", deny(EPERM)},
    // clone3 keeps its flags in memory: ENOSYS makes libc fall back to clone,
    // whose flags the filter checks.
    {"clone3", deny(ENOSYS)},
    // Changes of the caller's own ids: the supervisor must forget the
    // credentials it acts with (creds.hpp); the call itself runs as given.
    {"setuid", notify()},
    {"setgid", notify()},
    {"setreuid", notify()},
    {"setregid", notify()},
    {"setresuid", notify()},
    {"setresgid", notify()},
    {"setfsuid", notify()},
    {"setfsgid", notify()},
    {"setgroups", notify()},
    // Identity of other pids: checked against the space.
    {"getpgid", notify()},
    {"getsid", notify()},
    {"setpgid", notify()},
    {"prlimit64", notify()},
    {"get_robust_list", notify()},
    // Host-wide state a root-run space must not change.
    {"sethostname", deny(EPERM)},
    {"setdomainname", deny(EPERM)},
    {"settimeofday", deny(EPERM)},
    {"clock_settime", deny(EPERM)},
    {"clock_adjtime", deny(EPERM)},
    {"adjtimex", deny(EPERM)},
    {"sched_get_priority_max", allow()},
    {"sched_get_priority_min", allow()},
    // fd-based handles on processes the space could only get from its own.
    {"pidfd_send_signal", allow()},
    {"pidfd_getfd", allow()},
    {"process_madvise", allow()},
    {"process_mrelease", allow()},
    // SysV: detaching is local; everything naming an id or key is checked.
    {"shmdt", allow()},
    // Message-queue descriptors are fds; only names are checked.
    {"mq_timedsend", allow()},
    {"mq_timedreceive", allow()},
    {"mq_notify", allow()},
    {"mq_getsetattr", allow()},
    // Self-restriction only ever narrows what the space can do.
    {"landlock_create_ruleset", allow()},
    {"landlock_add_rule", allow()},
    {"landlock_restrict_self", allow()},
    // seccomp is allowed except NEW_LISTENER (argument rule below).
    {"seccomp", allow()},
    // Legacy AIO works on descriptors the process holds.
    {"io_setup", allow()},
    {"io_destroy", allow()},
    {"io_getevents", allow()},
    {"io_submit", allow()},
    {"io_cancel", allow()},
    {"io_pgetevents", allow()},
    {"set_thread_area", deny(ENOSYS)},
    {"get_thread_area", deny(ENOSYS)},
};

Action family_default(Family f) {
    switch (f) {
        case Family::Path: return notify();
        case Family::Exec: return trace();
        case Family::Desc:
        case Family::Poll:
        case Family::Memory:
        case Family::Process:
        case Family::SignalSelf:
        case Family::Time:
        case Family::Futex:
        case Family::Misc: return allow();
        case Family::ProcessMem:
        case Family::Sched:
        case Family::Signal:
        case Family::Pidfd:
        case Family::SysvIpc:
        case Family::Mqueue: return notify();
        // Every call that names an address is emulated (the address is copied
        // once); the rest (send/recv on a connected socket) stay native.
        case Family::Socket: return allow();
        case Family::Mount:
        case Family::Namespace:
        case Family::Privileged: return deny(EPERM);
    }
    return deny(ENOSYS);
}

constexpr std::string_view kSocketNotify[] = {"connect", "bind", "sendmsg", "sendmmsg"};
// In a portspace, also every call that acts on an emulated socket's state
// (the space end of its bridge is a unix socket: natively these would answer
// for that) and every receive that reports a source address. socket() is
// notified except for AF_UNIX (an argument rule below); recvfrom only with
// an address buffer. socketpair stays native: it makes AF_UNIX pairs only.
constexpr std::string_view kPortspaceNotify[] = {"socket",      "listen",      "accept",     "accept4",
                                                 "getsockname", "getpeername", "shutdown",   "setsockopt",
                                                 "getsockopt",  "recvfrom",    "recvmsg",    "recvmmsg"};

struct CtxDeleter {
    void operator()(scmp_filter_ctx c) const { seccomp_release(c); }
};

uint32_t to_scmp(const Action& a) {
    switch (a.kind) {
        case Action::Allow: return SCMP_ACT_ALLOW;
        case Action::Notify: return SCMP_ACT_NOTIFY;
        case Action::Trace: return SCMP_ACT_TRACE(0);
        case Action::Errno: return SCMP_ACT_ERRNO(static_cast<uint16_t>(a.error));
    }
    return SCMP_ACT_KILL_PROCESS;
}

// Network-device configuration through any socket (SIOCADDRT 0x890B up to the
// private ranges ending at 0x89FF) changes the host for a root process,
// namespaces or not, and describes the host's interfaces to anyone. The
// read-only ones a server sharing the host's network may use stay allowed in
// a server space; a portspace has no host interfaces at all.
constexpr uint32_t kSiocFirst = 0x890B, kSiocLast = 0x89FF;
constexpr uint32_t kWextFirst = 0x8B00, kWextLast = 0x8BFF;
constexpr uint32_t kSiocReadOnly[] = {
    0x8910 /* SIOCGIFNAME */,    0x8912 /* SIOCGIFCONF */,  0x8913 /* SIOCGIFFLAGS */, 0x8915 /* SIOCGIFADDR */,
    0x8917 /* SIOCGIFDSTADDR */, 0x8919 /* SIOCGIFBRDADDR */, 0x891b /* SIOCGIFNETMASK */,
    0x891d /* SIOCGIFMETRIC */,  0x8921 /* SIOCGIFMTU */,    0x8927 /* SIOCGIFHWADDR */, 0x8933 /* SIOCGIFINDEX */,
    0x8935 /* SIOCGIFPFLAGS */,  0x8938 /* SIOCGIFCOUNT */,  0x8942 /* SIOCGIFTXQLEN */, 0x8970 /* SIOCGIFMAP */,
};

// The BPF prefix: TIOCSTI/TIOCLINUX (terminal input injection), wireless
// extensions and the network-device ioctls above get EPERM; everything else falls through to
// libseccomp's program. The kernel truncates the command to 32 bits: compare
// the low word.
std::vector<sock_filter> ioctl_prefix(SpaceKind kind) {
    std::vector<uint32_t> allowed;
    if (kind == SpaceKind::Server) allowed.assign(std::begin(kSiocReadOnly), std::end(kSiocReadOnly));
    // Layout: [0..4) dispatch, then the comparisons, then "continue" (JA 1) and "deny".
    std::vector<sock_filter> p;
    auto stmt = [&](uint16_t code, uint32_t k) { p.push_back(BPF_STMT(code, k)); };
    stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
    size_t arch_jump = p.size();
    p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 0));
    stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
    size_t nr_jump = p.size();
    p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 0));
    stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[1]));
    std::vector<size_t> to_deny, to_continue;  // jt of these jumps
    std::vector<size_t> to_deny_if_le;         // jf of these jumps
    for (uint32_t cmd : {static_cast<uint32_t>(TIOCSTI), static_cast<uint32_t>(TIOCLINUX)}) {
        to_deny.push_back(p.size());
        p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, cmd, 0, 0));
    }
    // Wireless extensions (0x8B00-0x8BFF) act on the host's interfaces in
    // any space, whatever socket carries them: refused everywhere.
    p.push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, kWextFirst, 0, 1));  // below 0x8B00: skip the next
    to_deny_if_le.push_back(p.size());                                    // up to 0x8BFF: deny (jf)
    p.push_back(BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, kWextLast, 0, 0));
    size_t below = p.size();  // cmd < first: continue (jf)
    p.push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, kSiocFirst, 0, 0));
    to_continue.push_back(p.size());  // cmd > last: continue (jt)
    p.push_back(BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, kSiocLast, 0, 0));
    for (uint32_t cmd : allowed) {
        to_continue.push_back(p.size());
        p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, cmd, 0, 0));
    }
    size_t in_range_deny = p.size();
    p.push_back(BPF_STMT(BPF_JMP | BPF_JA, 0));  // -> deny
    size_t cont = p.size();
    p.push_back(BPF_STMT(BPF_JMP | BPF_JA, 1));  // skip "deny": on to libseccomp's program
    size_t deny = p.size();
    p.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
    size_t end = p.size();
    auto rel = [](size_t from, size_t to) { return static_cast<uint8_t>(to - from - 1); };
    p[arch_jump].jf = rel(arch_jump, end);
    p[nr_jump].jf = rel(nr_jump, end);
    for (size_t j : to_deny) p[j].jt = rel(j, deny);
    for (size_t j : to_deny_if_le) p[j].jf = rel(j, deny);
    p[below].jf = rel(below, cont);
    for (size_t j : to_continue) p[j].jt = rel(j, cont);
    p[in_range_deny].k = static_cast<uint32_t>(deny - in_range_deny - 1);
    return p;
}

}  // namespace

Action policy_for(const SyscallInfo& s, SpaceKind kind) {
    for (const auto& e : kExceptions)
        if (e.name == s.name) return e.action;
    if (s.family == Family::Socket) {
        for (auto n : kSocketNotify)
            if (n == s.name) return notify();
        if (kind == SpaceKind::Portspace)
            for (auto n : kPortspaceNotify)
                if (n == s.name) return notify();
    }
    return family_default(s.family);
}

Result<std::vector<uint8_t>> build_filter_program(SpaceKind kind) {
    std::unique_ptr<void, CtxDeleter> holder(seccomp_init(SCMP_ACT_ERRNO(ENOSYS)));
    scmp_filter_ctx ctx = holder.get();
    if (!ctx) return Error{ENOMEM, "seccomp_init"};
    // i386 and x32 entry points are other architectures to libseccomp: only
    // the native one is in the context, so they hit the bad-arch action.
    if (int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); r < 0)
        return Error{-r, "seccomp badarch action"};
    // The supervisor sets no_new_privs itself before loading.
    if (int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); r < 0) return Error{-r, "seccomp nnp attr"};

    auto add = [&](uint32_t action, int nr, unsigned count, const scmp_arg_cmp* cmps) -> Status {
        int r = seccomp_rule_add_array(ctx, action, nr, count, cmps);
        if (r < 0) return Error{-r, "seccomp rule for syscall " + std::to_string(nr)};
        return {};
    };

    for (auto* s = syscall_table_begin(); s != syscall_table_end(); ++s) {
        Action a = policy_for(*s, kind);
        if (s->nr == SYS_clone) {
            // Namespaces and untraced children are refused; a CLONE_VM child
            // that is neither a thread nor a vfork child would share memory
            // with a process the exec handler cannot stop (tasks.cpp).
            const uint64_t bad[] = {CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
                                    CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWCGROUP, CLONE_UNTRACED,
                                    0x80 /* CLONE_NEWTIME */};
            uint64_t all = 0;
            for (uint64_t b : bad) {
                all |= b;
                scmp_arg_cmp c = SCMP_A0(SCMP_CMP_MASKED_EQ, b, b);
                if (auto st = add(SCMP_ACT_ERRNO(EPERM), s->nr, 1, &c); !st) return st.error();
            }
            scmp_arg_cmp ok = SCMP_A0(SCMP_CMP_MASKED_EQ, all, 0);
            if (auto st = add(SCMP_ACT_ALLOW, s->nr, 1, &ok); !st) return st.error();
            continue;
        }
        if (s->nr == SYS_seccomp) {
            // A nested listener would see the space's calls before ours.
            scmp_arg_cmp c = SCMP_A1(SCMP_CMP_MASKED_EQ, SECCOMP_FILTER_FLAG_NEW_LISTENER,
                                     SECCOMP_FILTER_FLAG_NEW_LISTENER);
            if (auto st = add(SCMP_ACT_ERRNO(EPERM), s->nr, 1, &c); !st) return st.error();
            scmp_arg_cmp ok = SCMP_A1(SCMP_CMP_MASKED_EQ, SECCOMP_FILTER_FLAG_NEW_LISTENER, 0);
            if (auto st = add(SCMP_ACT_ALLOW, s->nr, 1, &ok); !st) return st.error();
            continue;
        }
        if (s->nr == SYS_sendto || (s->nr == SYS_recvfrom && a.kind == Action::Notify)) {
            // Without an address sendto is send() on a connected socket, and
            // recvfrom is recv(): native.
            scmp_arg_cmp none = SCMP_A4(SCMP_CMP_EQ, 0);
            scmp_arg_cmp some = SCMP_A4(SCMP_CMP_NE, 0);
            if (auto st = add(SCMP_ACT_ALLOW, s->nr, 1, &none); !st) return st.error();
            if (auto st = add(SCMP_ACT_NOTIFY, s->nr, 1, &some); !st) return st.error();
            continue;
        }
        if (s->nr == SYS_socket && a.kind == Action::Notify) {
            // Unix sockets are the kernel's; every other family is emulated or refused.
            scmp_arg_cmp unix_domain = SCMP_A0(SCMP_CMP_EQ, AF_UNIX);
            scmp_arg_cmp other = SCMP_A0(SCMP_CMP_NE, AF_UNIX);
            if (auto st = add(SCMP_ACT_ALLOW, s->nr, 1, &unix_domain); !st) return st.error();
            if (auto st = add(SCMP_ACT_NOTIFY, s->nr, 1, &other); !st) return st.error();
            continue;
        }
        if (a.kind == Action::Errno && a.error == ENOSYS) continue;  // the default
        if (auto st = add(to_scmp(a), s->nr, 0, nullptr); !st) return st.error();
    }

    // libseccomp lets an unconditional rule override conditional ones for
    // the same syscall, so the refused ioctl commands are checked by a short
    // prefix of our own before its program (ioctl is allowed there).
    std::vector<sock_filter> prefix = ioctl_prefix(kind);

    int mfd = ::memfd_create("hsbox-bpf", MFD_CLOEXEC);
    if (mfd < 0) return last_error("memfd_create");
    Fd mem(mfd);
    if (int r = seccomp_export_bpf(ctx, mem.get()); r < 0) return Error{-r, "seccomp_export_bpf"};
    off_t size = ::lseek(mem.get(), 0, SEEK_END);
    size_t head = prefix.size() * sizeof(sock_filter);
    std::vector<uint8_t> prog(head + static_cast<size_t>(size));
    std::memcpy(prog.data(), prefix.data(), head);
    if (::pread(mem.get(), prog.data() + head, static_cast<size_t>(size), 0) != size)
        return last_error("read bpf");
    return prog;
}

}  // namespace hsbox::supervisor
