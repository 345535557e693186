#include <sys/syscall.h>

#include "catch.hpp"
#include "hsbox/syscall_table.hpp"
#include "policy.hpp"

using namespace hsbox;
using namespace hsbox::supervisor;

namespace {
Action of(int nr) { return policy_for(*syscall_info(nr)); }
}  // namespace

TEST_CASE("path syscalls are emulated and exec/chdir go through ptrace") {
    for (int nr : {SYS_open, SYS_openat, SYS_openat2, SYS_newfstatat, SYS_statx, SYS_readlink, SYS_getcwd,
                   SYS_mkdir, SYS_rename, SYS_linkat, SYS_symlinkat, SYS_inotify_add_watch, SYS_truncate})
        REQUIRE(of(nr).kind == Action::Notify);
    REQUIRE(of(SYS_execve).kind == Action::Trace);
    REQUIRE(of(SYS_execveat).kind == Action::Trace);
    REQUIRE(of(SYS_chdir).kind == Action::Trace);
}

TEST_CASE("calls that would change the view are refused with EPERM") {
    for (int nr : {SYS_mount, SYS_umount2, SYS_chroot, SYS_pivot_root, SYS_unshare, SYS_setns, SYS_io_uring_setup,
                   SYS_io_uring_enter, SYS_bpf, SYS_perf_event_open, SYS_keyctl, SYS_open_by_handle_at,
                   SYS_fsopen, SYS_move_mount, SYS_open_tree})
        REQUIRE(of(nr) == Action{Action::Errno, EPERM});
    REQUIRE(of(SYS_clone3) == Action{Action::Errno, ENOSYS});
}

TEST_CASE("calls naming another process are checked against the space") {
    for (int nr : {SYS_kill, SYS_tkill, SYS_tgkill, SYS_rt_sigqueueinfo, SYS_pidfd_open, SYS_ptrace,
                   SYS_process_vm_readv, SYS_kcmp, SYS_prlimit64, SYS_sched_setaffinity, SYS_getpgid,
                   SYS_setpriority, SYS_shmget, SYS_shmat, SYS_mq_open})
        REQUIRE(of(nr).kind == Action::Notify);
}

TEST_CASE("calls on the caller's own descriptors and memory stay in the kernel") {
    for (int nr : {SYS_read, SYS_write, SYS_close, SYS_mmap, SYS_futex, SYS_epoll_wait, SYS_getpid, SYS_fchdir,
                   SYS_getdents64, SYS_recvmsg, SYS_accept4, SYS_clock_gettime})
        REQUIRE(of(nr).kind == Action::Allow);
}

TEST_CASE("the whole policy compiles to a BPF program") {
    auto prog = build_filter_program();
    REQUIRE(prog.ok());
    REQUIRE(prog->size() % 8 == 0);
    REQUIRE(prog->size() / 8 > 100);
    REQUIRE(prog->size() / 8 < 65536);
}

TEST_CASE("a portspace notifies every call that makes, names or describes an IP socket") {
    auto port = [](int nr) { return policy_for(*syscall_info(nr), SpaceKind::Portspace); };
    for (int nr : {SYS_socket, SYS_bind, SYS_connect, SYS_listen, SYS_accept, SYS_accept4, SYS_getsockname,
                   SYS_getpeername, SYS_shutdown, SYS_setsockopt, SYS_getsockopt, SYS_sendmsg, SYS_sendmmsg,
                   SYS_recvfrom, SYS_recvmsg, SYS_recvmmsg}) {
        INFO(syscall_info(nr)->name);
        REQUIRE(port(nr).kind == Action::Notify);
    }
    // sendto (in both kinds) and recvfrom are notified by an argument rule
    // only when they carry an address. Data on a connected socket and
    // socketpair (unix only) stay native.
    for (int nr : {SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_socketpair, SYS_poll, SYS_epoll_wait})
        REQUIRE(port(nr).kind == Action::Allow);
    // A server space keeps its kernel sockets for these.
    for (int nr : {SYS_socket, SYS_listen, SYS_accept4, SYS_getsockopt, SYS_recvmsg})
        REQUIRE(of(nr).kind == Action::Allow);
    auto prog = build_filter_program(SpaceKind::Portspace);
    REQUIRE(prog.ok());
    auto server = build_filter_program(SpaceKind::Server);
    REQUIRE(server.ok());
    REQUIRE(*prog != *server);
}
