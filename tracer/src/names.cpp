#include "names.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <termios.h>
#include <sys/ioctl.h>

#include <ctime>
#include <sys/time.h>
#include <cerrno>
#include <cstdio>

namespace hsbox::tracer {

#define N(x) Named{static_cast<uint64_t>(x), #x}

namespace {

constexpr Named kOpenFlagsT[] = {
    // strace's order (it prints O_DIRECTORY after O_CLOEXEC).
    N(O_CREAT), N(O_EXCL), N(O_NOCTTY), N(O_TRUNC), N(O_APPEND), N(O_NONBLOCK),
    N(O_DSYNC), N(FASYNC), N(O_DIRECT), {0100000, "O_LARGEFILE"}, N(O_NOFOLLOW),
    N(O_NOATIME), N(O_CLOEXEC), N(O_DIRECTORY), {04000000, "__O_SYNC"}, N(O_PATH),
    {020000000, "__O_TMPFILE"},
};
constexpr Named kAtFlagsT[] = {
    N(AT_SYMLINK_NOFOLLOW), N(AT_REMOVEDIR), N(AT_SYMLINK_FOLLOW), N(AT_NO_AUTOMOUNT),
    N(AT_EMPTY_PATH), {0x2000, "AT_STATX_FORCE_SYNC"}, {0x4000, "AT_STATX_DONT_SYNC"},
    {0x8000, "AT_RECURSIVE"},
};
constexpr Named kProtT[] = {N(PROT_READ), N(PROT_WRITE), N(PROT_EXEC), N(PROT_GROWSDOWN),
                            N(PROT_GROWSUP)};
constexpr Named kMapFlagsT[] = {
    N(MAP_SHARED), N(MAP_PRIVATE), {0x03, "MAP_SHARED_VALIDATE"}, N(MAP_FIXED),
    N(MAP_ANONYMOUS), N(MAP_32BIT), N(MAP_GROWSDOWN), N(MAP_DENYWRITE), N(MAP_EXECUTABLE),
    N(MAP_LOCKED), N(MAP_NORESERVE), N(MAP_POPULATE), N(MAP_NONBLOCK), N(MAP_STACK),
    N(MAP_HUGETLB), {0x80000, "MAP_SYNC"}, {0x100000, "MAP_FIXED_NOREPLACE"},
};
constexpr Named kCloneFlagsT[] = {
    N(CLONE_VM), N(CLONE_FS), N(CLONE_FILES), N(CLONE_SIGHAND), {0x1000, "CLONE_PIDFD"},
    N(CLONE_PTRACE), N(CLONE_VFORK), N(CLONE_PARENT), N(CLONE_THREAD), N(CLONE_NEWNS),
    N(CLONE_SYSVSEM), N(CLONE_SETTLS), N(CLONE_PARENT_SETTID), N(CLONE_CHILD_CLEARTID),
    N(CLONE_DETACHED), N(CLONE_UNTRACED), N(CLONE_CHILD_SETTID), N(CLONE_NEWCGROUP),
    N(CLONE_NEWUTS), N(CLONE_NEWIPC), N(CLONE_NEWUSER), N(CLONE_NEWPID), N(CLONE_NEWNET),
    N(CLONE_IO),
};
constexpr Named kAfT[] = {
    N(AF_UNSPEC), N(AF_UNIX), N(AF_INET), N(AF_AX25), N(AF_IPX), N(AF_APPLETALK),
    N(AF_INET6), N(AF_KEY), N(AF_NETLINK), N(AF_PACKET), N(AF_ALG), N(AF_VSOCK),
    N(AF_BLUETOOTH), N(AF_CAN), N(AF_TIPC), N(AF_XDP),
};
constexpr Named kSockTypesT[] = {N(SOCK_STREAM), N(SOCK_DGRAM), N(SOCK_RAW), N(SOCK_RDM),
                                 N(SOCK_SEQPACKET), N(SOCK_DCCP), N(SOCK_PACKET)};
constexpr Named kSockTypeFlagsT[] = {N(SOCK_CLOEXEC), N(SOCK_NONBLOCK)};
constexpr Named kIpProtosT[] = {
    N(IPPROTO_IP), N(IPPROTO_ICMP), N(IPPROTO_IGMP), N(IPPROTO_TCP), N(IPPROTO_UDP),
    N(IPPROTO_IPV6), N(IPPROTO_ICMPV6), N(IPPROTO_SCTP), N(IPPROTO_UDPLITE), N(IPPROTO_RAW),
    N(IPPROTO_MPTCP),
};
constexpr Named kMsgFlagsT[] = {
    N(MSG_OOB), N(MSG_PEEK), N(MSG_DONTROUTE), N(MSG_CTRUNC), N(MSG_PROXY), N(MSG_TRUNC),
    N(MSG_DONTWAIT), N(MSG_EOR), N(MSG_WAITALL), N(MSG_FIN), N(MSG_SYN), N(MSG_CONFIRM),
    N(MSG_RST), N(MSG_ERRQUEUE), N(MSG_NOSIGNAL), N(MSG_MORE), N(MSG_WAITFORONE),
    N(MSG_FASTOPEN), N(MSG_CMSG_CLOEXEC),
};
constexpr Named kSockLevelsT[] = {N(SOL_SOCKET), N(SOL_IP), N(SOL_TCP), {17, "SOL_UDP"},
                                  N(SOL_IPV6), {263, "SOL_NETLINK"}};
constexpr Named kSolSocketT[] = {
    N(SO_DEBUG), N(SO_REUSEADDR), N(SO_TYPE), N(SO_ERROR), N(SO_DONTROUTE), N(SO_BROADCAST),
    N(SO_SNDBUF), N(SO_RCVBUF), N(SO_KEEPALIVE), N(SO_OOBINLINE), N(SO_NO_CHECK),
    N(SO_PRIORITY), N(SO_LINGER), N(SO_BSDCOMPAT), N(SO_REUSEPORT), N(SO_PASSCRED),
    N(SO_PEERCRED), N(SO_RCVLOWAT), N(SO_SNDLOWAT), {20, "SO_RCVTIMEO_OLD"},
    {21, "SO_SNDTIMEO_OLD"}, N(SO_BINDTODEVICE), N(SO_ATTACH_FILTER), N(SO_TIMESTAMP),
    N(SO_ACCEPTCONN), N(SO_PEERSEC), N(SO_SNDBUFFORCE), N(SO_RCVBUFFORCE), N(SO_PASSSEC),
    N(SO_MARK), N(SO_PROTOCOL), N(SO_DOMAIN), N(SO_RXQ_OVFL), N(SO_BUSY_POLL),
    N(SO_INCOMING_CPU), N(SO_ZEROCOPY),
};
constexpr Named kTcpOptsT[] = {
    N(TCP_NODELAY), N(TCP_MAXSEG), N(TCP_CORK), N(TCP_KEEPIDLE), N(TCP_KEEPINTVL),
    N(TCP_KEEPCNT), N(TCP_SYNCNT), N(TCP_LINGER2), N(TCP_DEFER_ACCEPT), N(TCP_WINDOW_CLAMP),
    N(TCP_INFO), N(TCP_QUICKACK), N(TCP_CONGESTION), N(TCP_FASTOPEN), N(TCP_USER_TIMEOUT),
    N(TCP_NOTSENT_LOWAT),
};
constexpr Named kIpOptsT[] = {N(IP_TOS), N(IP_TTL), N(IP_HDRINCL), N(IP_OPTIONS),
                              N(IP_RECVERR), N(IP_MTU_DISCOVER), N(IP_MULTICAST_TTL),
                              N(IP_ADD_MEMBERSHIP), N(IP_BIND_ADDRESS_NO_PORT)};
constexpr Named kIpv6OptsT[] = {N(IPV6_V6ONLY), N(IPV6_UNICAST_HOPS), N(IPV6_RECVERR),
                                N(IPV6_MTU_DISCOVER), N(IPV6_TCLASS)};
constexpr Named kAccessT[] = {N(R_OK), N(W_OK), N(X_OK)};
constexpr Named kWhenceT[] = {N(SEEK_SET), N(SEEK_CUR), N(SEEK_END), N(SEEK_DATA), N(SEEK_HOLE)};
constexpr Named kFcntlT[] = {
    N(F_DUPFD), N(F_GETFD), N(F_SETFD), N(F_GETFL), N(F_SETFL), N(F_GETLK), N(F_SETLK),
    N(F_SETLKW), N(F_SETOWN), N(F_GETOWN), N(F_SETSIG), N(F_GETSIG), N(F_SETOWN_EX),
    N(F_GETOWN_EX), N(F_OFD_GETLK), N(F_OFD_SETLK), N(F_OFD_SETLKW), N(F_SETLEASE),
    N(F_GETLEASE), N(F_NOTIFY), N(F_DUPFD_CLOEXEC), N(F_SETPIPE_SZ), N(F_GETPIPE_SZ),
    N(F_ADD_SEALS), N(F_GET_SEALS),
};
constexpr Named kIoctlsT[] = {
    N(TCGETS), N(TCSETS), N(TCSETSW), N(TCSETSF), N(TIOCGWINSZ), N(TIOCSWINSZ),
    N(TIOCGPGRP), N(TIOCSPGRP), N(TIOCSCTTY), N(TIOCNOTTY), N(TIOCINQ), N(TIOCOUTQ),
    N(FIONBIO), N(FIOCLEX), N(FIONCLEX), N(FIOASYNC), N(TIOCGPTN), N(TIOCSPTLCK),
    {0x80086601, "FS_IOC_GETFLAGS"}, {0x40086602, "FS_IOC_SETFLAGS"},
    {0x5401 + 0x1f, "TIOCGSID"},
};
constexpr Named kFutexOpsT[] = {
    N(FUTEX_WAIT), N(FUTEX_WAKE), N(FUTEX_FD), N(FUTEX_REQUEUE), N(FUTEX_CMP_REQUEUE),
    N(FUTEX_WAKE_OP), N(FUTEX_LOCK_PI), N(FUTEX_UNLOCK_PI), N(FUTEX_TRYLOCK_PI),
    N(FUTEX_WAIT_BITSET), N(FUTEX_WAKE_BITSET), N(FUTEX_WAIT_REQUEUE_PI),
    N(FUTEX_CMP_REQUEUE_PI), {13, "FUTEX_LOCK_PI2"},
};
constexpr Named kSigHowT[] = {N(SIG_BLOCK), N(SIG_UNBLOCK), N(SIG_SETMASK)};
// strace's order.
constexpr Named kSaFlagsT[] = {{0x04000000, "SA_RESTORER"}, N(SA_ONSTACK), N(SA_RESTART),
                               N(SA_NODEFER), N(SA_RESETHAND), N(SA_SIGINFO),
                               N(SA_NOCLDSTOP), N(SA_NOCLDWAIT)};
constexpr Named kWaitOptionsT[] = {N(WNOHANG), N(WUNTRACED), N(WEXITED), N(WCONTINUED),
                                   N(WNOWAIT), {0x20000000, "__WNOTHREAD"},
                                   {0x40000000, "__WALL"}, {0x80000000, "__WCLONE"}};
constexpr Named kPollT[] = {N(POLLIN), N(POLLPRI), N(POLLOUT), N(POLLERR), N(POLLHUP),
                            N(POLLNVAL), N(POLLRDNORM), N(POLLRDBAND), N(POLLWRNORM),
                            N(POLLWRBAND), N(POLLMSG), N(POLLRDHUP)};
constexpr Named kEpollT[] = {N(EPOLLIN), N(EPOLLPRI), N(EPOLLOUT), N(EPOLLERR), N(EPOLLHUP),
                             N(EPOLLRDNORM), N(EPOLLRDBAND), N(EPOLLWRNORM), N(EPOLLWRBAND),
                             N(EPOLLMSG), N(EPOLLRDHUP), N(EPOLLEXCLUSIVE), N(EPOLLWAKEUP),
                             N(EPOLLONESHOT), N(EPOLLET)};
constexpr Named kEpollCtlT[] = {N(EPOLL_CTL_ADD), N(EPOLL_CTL_DEL), N(EPOLL_CTL_MOD)};
constexpr Named kClocksT[] = {
    N(CLOCK_REALTIME), N(CLOCK_MONOTONIC), N(CLOCK_PROCESS_CPUTIME_ID),
    N(CLOCK_THREAD_CPUTIME_ID), N(CLOCK_MONOTONIC_RAW), N(CLOCK_REALTIME_COARSE),
    N(CLOCK_MONOTONIC_COARSE), N(CLOCK_BOOTTIME), N(CLOCK_REALTIME_ALARM),
    N(CLOCK_BOOTTIME_ALARM), N(CLOCK_TAI),
};
constexpr Named kRlimitsT[] = {
    N(RLIMIT_CPU), N(RLIMIT_FSIZE), N(RLIMIT_DATA), N(RLIMIT_STACK), N(RLIMIT_CORE),
    N(RLIMIT_RSS), N(RLIMIT_NPROC), N(RLIMIT_NOFILE), N(RLIMIT_MEMLOCK), N(RLIMIT_AS),
    N(RLIMIT_LOCKS), N(RLIMIT_SIGPENDING), N(RLIMIT_MSGQUEUE), N(RLIMIT_NICE),
    N(RLIMIT_RTPRIO), N(RLIMIT_RTTIME),
};
constexpr Named kArchPrctlT[] = {{0x1001, "ARCH_SET_GS"}, {0x1002, "ARCH_SET_FS"},
                                 {0x1003, "ARCH_GET_FS"}, {0x1004, "ARCH_GET_GS"},
                                 {0x1011, "ARCH_GET_CPUID"}, {0x1012, "ARCH_SET_CPUID"},
                                 {0x1021, "ARCH_GET_XCOMP_SUPP"}, {0x1022, "ARCH_GET_XCOMP_PERM"},
                                 {0x1023, "ARCH_REQ_XCOMP_PERM"}, {0x2001, "ARCH_MAP_VDSO_X32"},
                                 {0x2002, "ARCH_MAP_VDSO_32"}, {0x2003, "ARCH_MAP_VDSO_64"},
                                 {0x4001, "ARCH_GET_UNTAG_MASK"}, {0x4002, "ARCH_ENABLE_TAGGED_ADDR"},
                                 {0x4003, "ARCH_GET_MAX_TAG_BITS"}, {0x4004, "ARCH_FORCE_TAGGED_SVA"},
                                 {0x5001, "ARCH_SHSTK_ENABLE"}, {0x5002, "ARCH_SHSTK_DISABLE"},
                                 {0x5003, "ARCH_SHSTK_LOCK"}, {0x5004, "ARCH_SHSTK_UNLOCK"},
                                 {0x5005, "ARCH_SHSTK_STATUS"}};
constexpr Named kPrctlT[] = {
    {1, "PR_SET_PDEATHSIG"}, {2, "PR_GET_PDEATHSIG"}, {3, "PR_GET_DUMPABLE"},
    {4, "PR_SET_DUMPABLE"}, {8, "PR_SET_KEEPCAPS"}, {15, "PR_SET_NAME"}, {16, "PR_GET_NAME"},
    {22, "PR_SET_SECCOMP"}, {21, "PR_GET_SECCOMP"}, {23, "PR_CAPBSET_READ"},
    {24, "PR_CAPBSET_DROP"}, {36, "PR_SET_CHILD_SUBREAPER"}, {37, "PR_GET_CHILD_SUBREAPER"},
    {38, "PR_SET_NO_NEW_PRIVS"}, {39, "PR_GET_NO_NEW_PRIVS"}, {0x59616d61, "PR_SET_PTRACER"},
    {47, "PR_CAP_AMBIENT"}, {35, "PR_SET_MM"}, {1499557217, "PR_SET_PTRACER"},
    {0x53564d41, "PR_SET_VMA"},
};
constexpr Named kRenameT[] = {{1, "RENAME_NOREPLACE"}, {2, "RENAME_EXCHANGE"}, {4, "RENAME_WHITEOUT"}};
constexpr Named kGrndT[] = {{1, "GRND_NONBLOCK"}, {2, "GRND_RANDOM"}, {4, "GRND_INSECURE"}};
constexpr Named kStatxT[] = {
    {0xfff, "STATX_ALL"}, {0x7ff, "STATX_BASIC_STATS"},
    {0x1, "STATX_TYPE"}, {0x2, "STATX_MODE"}, {0x4, "STATX_NLINK"}, {0x8, "STATX_UID"},
    {0x10, "STATX_GID"}, {0x20, "STATX_ATIME"}, {0x40, "STATX_MTIME"}, {0x80, "STATX_CTIME"},
    {0x100, "STATX_INO"}, {0x200, "STATX_SIZE"}, {0x400, "STATX_BLOCKS"},
    {0x800, "STATX_BTIME"}, {0x1000, "STATX_MNT_ID"}, {0x2000, "STATX_DIOALIGN"},
};
constexpr Named kMadviseT[] = {
    N(MADV_NORMAL), N(MADV_RANDOM), N(MADV_SEQUENTIAL), N(MADV_WILLNEED), N(MADV_DONTNEED),
    N(MADV_FREE), N(MADV_REMOVE), N(MADV_DONTFORK), N(MADV_DOFORK), N(MADV_MERGEABLE),
    N(MADV_UNMERGEABLE), N(MADV_HUGEPAGE), N(MADV_NOHUGEPAGE), N(MADV_DONTDUMP),
    N(MADV_DODUMP), N(MADV_WIPEONFORK), N(MADV_KEEPONFORK), N(MADV_COLD), N(MADV_PAGEOUT),
    N(MADV_HWPOISON), {22, "MADV_POPULATE_READ"}, {23, "MADV_POPULATE_WRITE"},
};
constexpr Named kFadviseT[] = {N(POSIX_FADV_NORMAL), N(POSIX_FADV_RANDOM),
                               N(POSIX_FADV_SEQUENTIAL), N(POSIX_FADV_WILLNEED),
                               N(POSIX_FADV_DONTNEED), N(POSIX_FADV_NOREUSE)};
constexpr Named kShutdownT[] = {N(SHUT_RD), N(SHUT_WR), N(SHUT_RDWR)};
constexpr Named kEfdT[] = {{1, "EFD_SEMAPHORE"}, {O_NONBLOCK, "EFD_NONBLOCK"}, {O_CLOEXEC, "EFD_CLOEXEC"}};
constexpr Named kCloseRangeT[] = {{2, "CLOSE_RANGE_UNSHARE"}, {4, "CLOSE_RANGE_CLOEXEC"}};
constexpr Named kTimerT[] = {{1, "TIMER_ABSTIME"}, {2, "TFD_TIMER_CANCEL_ON_SET"}};
constexpr Named kMfdT[] = {{1, "MFD_CLOEXEC"}, {2, "MFD_ALLOW_SEALING"}, {4, "MFD_HUGETLB"},
                           {8, "MFD_NOEXEC_SEAL"}, {0x10, "MFD_EXEC"}};
constexpr Named kInotifyT[] = {
    {0x1, "IN_ACCESS"}, {0x2, "IN_MODIFY"}, {0x4, "IN_ATTRIB"}, {0x8, "IN_CLOSE_WRITE"},
    {0x10, "IN_CLOSE_NOWRITE"}, {0x20, "IN_OPEN"}, {0x40, "IN_MOVED_FROM"},
    {0x80, "IN_MOVED_TO"}, {0x100, "IN_CREATE"}, {0x200, "IN_DELETE"},
    {0x400, "IN_DELETE_SELF"}, {0x800, "IN_MOVE_SELF"}, {0x1000000, "IN_ONLYDIR"},
    {0x2000000, "IN_DONT_FOLLOW"}, {0x4000000, "IN_EXCL_UNLINK"}, {0x20000000, "IN_MASK_ADD"},
    {0x80000000, "IN_ONESHOT"},
};
constexpr Named kSpliceT[] = {{1, "SPLICE_F_MOVE"}, {2, "SPLICE_F_NONBLOCK"}, {4, "SPLICE_F_MORE"},
                              {8, "SPLICE_F_GIFT"}};
constexpr Named kMlockT[] = {N(MCL_CURRENT), N(MCL_FUTURE), N(MCL_ONFAULT)};
constexpr Named kMsyncT[] = {N(MS_ASYNC), N(MS_INVALIDATE), N(MS_SYNC)};
constexpr Named kMremapT[] = {{1, "MREMAP_MAYMOVE"}, {2, "MREMAP_FIXED"}, {4, "MREMAP_DONTUNMAP"}};
constexpr Named kSchedT[] = {N(SCHED_OTHER), N(SCHED_FIFO), N(SCHED_RR), N(SCHED_BATCH),
                             N(SCHED_IDLE), {6, "SCHED_DEADLINE"}};
constexpr Named kPersonalityT[] = {{0, "PER_LINUX"}, {0x0008, "PER_LINUX32"},
                                   {0xffffffff, "0xffffffff"}};
constexpr Named kWhichT[] = {N(PRIO_PROCESS), N(PRIO_PGRP), N(PRIO_USER)};
constexpr Named kFlockT[] = {{1, "LOCK_SH"}, {2, "LOCK_EX"}, {4, "LOCK_NB"}, {8, "LOCK_UN"}};
constexpr Named kFallocT[] = {{1, "FALLOC_FL_KEEP_SIZE"}, {2, "FALLOC_FL_PUNCH_HOLE"},
                              {8, "FALLOC_FL_COLLAPSE_RANGE"}, {0x10, "FALLOC_FL_ZERO_RANGE"},
                              {0x20, "FALLOC_FL_INSERT_RANGE"}, {0x40, "FALLOC_FL_UNSHARE_RANGE"}};
constexpr Named kIdtypeT[] = {N(P_ALL), N(P_PID), N(P_PGID), {3, "P_PIDFD"}};
constexpr Named kXattrT[] = {{1, "XATTR_CREATE"}, {2, "XATTR_REPLACE"}};
constexpr Named kMountT[] = {
    {1, "MS_RDONLY"}, {2, "MS_NOSUID"}, {4, "MS_NODEV"}, {8, "MS_NOEXEC"},
    {16, "MS_SYNCHRONOUS"}, {32, "MS_REMOUNT"}, {64, "MS_MANDLOCK"}, {128, "MS_DIRSYNC"},
    {256, "MS_NOSYMFOLLOW"}, {1024, "MS_NOATIME"}, {2048, "MS_NODIRATIME"}, {4096, "MS_BIND"},
    {8192, "MS_MOVE"}, {16384, "MS_REC"}, {32768, "MS_SILENT"}, {1 << 17, "MS_UNBINDABLE"},
    {1 << 18, "MS_PRIVATE"}, {1 << 19, "MS_SLAVE"}, {1 << 20, "MS_SHARED"},
    {1 << 21, "MS_RELATIME"}, {1 << 24, "MS_STRICTATIME"}, {1 << 25, "MS_LAZYTIME"},
};
constexpr Named kUmountT[] = {{1, "MNT_FORCE"}, {2, "MNT_DETACH"}, {4, "MNT_EXPIRE"},
                              {8, "UMOUNT_NOFOLLOW"}};
constexpr Named kItimersT[] = {N(ITIMER_REAL), N(ITIMER_VIRTUAL), N(ITIMER_PROF)};
constexpr Named kFdFlagsT[] = {N(FD_CLOEXEC)};

struct ErrnoName {
    int code;
    const char* name;
};
#define E(x) ErrnoName{x, #x}
constexpr ErrnoName kErrnos[] = {
    E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG), E(ENOEXEC),
    E(EBADF), E(ECHILD), E(EAGAIN), E(ENOMEM), E(EACCES), E(EFAULT), E(ENOTBLK), E(EBUSY),
    E(EEXIST), E(EXDEV), E(ENODEV), E(ENOTDIR), E(EISDIR), E(EINVAL), E(ENFILE), E(EMFILE),
    E(ENOTTY), E(ETXTBSY), E(EFBIG), E(ENOSPC), E(ESPIPE), E(EROFS), E(EMLINK), E(EPIPE),
    E(EDOM), E(ERANGE), E(EDEADLK), E(ENAMETOOLONG), E(ENOLCK), E(ENOSYS), E(ENOTEMPTY),
    E(ELOOP), E(ENOMSG), E(EIDRM), E(ECHRNG), E(EL2NSYNC), E(EL3HLT), E(EL3RST), E(ELNRNG),
    E(EUNATCH), E(ENOCSI), E(EL2HLT), E(EBADE), E(EBADR), E(EXFULL), E(ENOANO), E(EBADRQC),
    E(EBADSLT), E(EBFONT), E(ENOSTR), E(ENODATA), E(ETIME), E(ENOSR), E(ENONET), E(ENOPKG),
    E(EREMOTE), E(ENOLINK), E(EADV), E(ESRMNT), E(ECOMM), E(EPROTO), E(EMULTIHOP),
    E(EDOTDOT), E(EBADMSG), E(EOVERFLOW), E(ENOTUNIQ), E(EBADFD), E(EREMCHG), E(ELIBACC),
    E(ELIBBAD), E(ELIBSCN), E(ELIBMAX), E(ELIBEXEC), E(EILSEQ), E(ERESTART), E(ESTRPIPE),
    E(EUSERS), E(ENOTSOCK), E(EDESTADDRREQ), E(EMSGSIZE), E(EPROTOTYPE), E(ENOPROTOOPT),
    E(EPROTONOSUPPORT), E(ESOCKTNOSUPPORT), E(EOPNOTSUPP), E(EPFNOSUPPORT), E(EAFNOSUPPORT),
    E(EADDRINUSE), E(EADDRNOTAVAIL), E(ENETDOWN), E(ENETUNREACH), E(ENETRESET),
    E(ECONNABORTED), E(ECONNRESET), E(ENOBUFS), E(EISCONN), E(ENOTCONN), E(ESHUTDOWN),
    E(ETOOMANYREFS), E(ETIMEDOUT), E(ECONNREFUSED), E(EHOSTDOWN), E(EHOSTUNREACH),
    E(EALREADY), E(EINPROGRESS), E(ESTALE), E(EUCLEAN), E(ENOTNAM), E(ENAVAIL), E(EISNAM),
    E(EREMOTEIO), E(EDQUOT), E(ENOMEDIUM), E(EMEDIUMTYPE), E(ECANCELED), E(ENOKEY),
    E(EKEYEXPIRED), E(EKEYREVOKED), E(EKEYREJECTED), E(EOWNERDEAD), E(ENOTRECOVERABLE),
    E(ERFKILL), E(EHWPOISON),
};
#undef E

constexpr const char* kSignals[] = {
    nullptr,   "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",    "SIGTRAP", "SIGABRT",
    "SIGBUS",  "SIGFPE",  "SIGKILL",   "SIGUSR1", "SIGSEGV",   "SIGUSR2", "SIGPIPE",
    "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT",   "SIGSTOP", "SIGTSTP",
    "SIGTTIN", "SIGTTOU", "SIGURG",    "SIGXCPU", "SIGXFSZ",   "SIGVTALRM", "SIGPROF",
    "SIGWINCH", "SIGIO",  "SIGPWR",    "SIGSYS",
};

}  // namespace

#define TABLE(name, arr) const std::span<const Named> name{arr};
TABLE(kOpenFlags, kOpenFlagsT)
TABLE(kAtFlags, kAtFlagsT)
TABLE(kProt, kProtT)
TABLE(kMapFlags, kMapFlagsT)
TABLE(kCloneFlags, kCloneFlagsT)
TABLE(kAddressFamilies, kAfT)
TABLE(kSockTypes, kSockTypesT)
TABLE(kSockTypeFlags, kSockTypeFlagsT)
TABLE(kIpProtos, kIpProtosT)
TABLE(kMsgFlags, kMsgFlagsT)
TABLE(kSockLevels, kSockLevelsT)
TABLE(kSolSocketOpts, kSolSocketT)
TABLE(kTcpOpts, kTcpOptsT)
TABLE(kIpOpts, kIpOptsT)
TABLE(kIpv6Opts, kIpv6OptsT)
TABLE(kAccessModes, kAccessT)
TABLE(kWhence, kWhenceT)
TABLE(kFcntlCmds, kFcntlT)
TABLE(kIoctls, kIoctlsT)
TABLE(kFutexOps, kFutexOpsT)
TABLE(kSigHow, kSigHowT)
TABLE(kSaFlags, kSaFlagsT)
TABLE(kWaitOptions, kWaitOptionsT)
TABLE(kPollEvents, kPollT)
TABLE(kEpollEvents, kEpollT)
TABLE(kEpollCtlOps, kEpollCtlT)
TABLE(kClockIds, kClocksT)
TABLE(kRlimits, kRlimitsT)
TABLE(kArchPrctl, kArchPrctlT)
TABLE(kPrctl, kPrctlT)
TABLE(kRenameFlags, kRenameT)
TABLE(kGrndFlags, kGrndT)
TABLE(kStatxMask, kStatxT)
TABLE(kMadvise, kMadviseT)
TABLE(kFadvise, kFadviseT)
TABLE(kShutdown, kShutdownT)
TABLE(kEfdFlags, kEfdT)
TABLE(kCloseRangeFlags, kCloseRangeT)
TABLE(kTimerFlags, kTimerT)
TABLE(kMfdFlags, kMfdT)
TABLE(kInotifyMask, kInotifyT)
TABLE(kSpliceFlags, kSpliceT)
TABLE(kMlockFlags, kMlockT)
TABLE(kMsyncFlags, kMsyncT)
TABLE(kMremapFlags, kMremapT)
TABLE(kSchedPolicies, kSchedT)
TABLE(kPersonality, kPersonalityT)
TABLE(kWhich, kWhichT)
TABLE(kFlockOps, kFlockT)
TABLE(kFallocModes, kFallocT)
TABLE(kIdtypes, kIdtypeT)
TABLE(kXattrFlags, kXattrT)
TABLE(kMountFlags, kMountT)
TABLE(kUmountFlags, kUmountT)
TABLE(kItimers, kItimersT)
TABLE(kFdFlagsFcntl, kFdFlagsT)
#undef TABLE

std::string hex_text(uint64_t v) {
    if (v == 0) return "0";
    char b[24];
    std::snprintf(b, sizeof b, "%#llx", static_cast<unsigned long long>(v));
    return b;
}

std::string octal_text(uint64_t v) {
    char b[32];
    std::snprintf(b, sizeof b, "%#llo", static_cast<unsigned long long>(v));
    return b;
}

std::string flags_text(uint64_t v, std::span<const Named> table, const char* zero) {
    if (v == 0) return zero;
    std::string out;
    for (const Named& n : table) {
        if (n.value != 0 && (v & n.value) == n.value) {
            if (!out.empty()) out += '|';
            out += n.name;
            v &= ~n.value;
        }
    }
    if (v != 0) {
        if (!out.empty()) out += '|';
        out += hex_text(v);
    }
    return out;
}

const char* enum_name(uint64_t v, std::span<const Named> table) {
    for (const Named& n : table)
        if (n.value == v) return n.name;
    return nullptr;
}

std::string enum_text(int64_t v, std::span<const Named> table, const char* unknown_prefix) {
    if (const char* n = enum_name(static_cast<uint64_t>(v), table)) return n;
    char b[64];
    if (v < 0 || v > 0xffff)
        std::snprintf(b, sizeof b, "%#llx /* %s??? */", static_cast<unsigned long long>(v), unknown_prefix);
    else
        std::snprintf(b, sizeof b, "%lld /* %s??? */", static_cast<long long>(v), unknown_prefix);
    return b;
}

const char* errno_name(int e) {
    for (const ErrnoName& n : kErrnos)
        if (n.code == e) return n.name;
    return nullptr;
}

const char* errno_restart_name(int e) {
    switch (e) {
        case 512: return "ERESTARTSYS";
        case 513: return "ERESTARTNOINTR";
        case 514: return "ERESTARTNOHAND";
        case 515: return "ENOIOCTLCMD";
        case 516: return "ERESTART_RESTARTBLOCK";
        case 517: return "EPROBE_DEFER";
        case 518: return "EOPENSTALE";
        case 519: return "ENOPARAM";
        default: return nullptr;
    }
}

const char* errno_restart_message(int e) {
    switch (e) {
        case 512: return "To be restarted if SA_RESTART is set";
        case 513: return "To be restarted";
        case 514: return "To be restarted if no handler";
        case 516: return "Interrupted by signal";
        default: return "Unknown error";
    }
}

std::string signal_name(int sig) {
    if (sig > 0 && sig < static_cast<int>(std::size(kSignals))) return kSignals[sig];
    if (sig >= 32 && sig <= 64) {
        // glibc reserves 32 and 33; strace names them by offset from SIGRTMIN (32).
        if (sig == 32) return "SIGRTMIN";
        return "SIGRT_" + std::to_string(sig - 32);
    }
    return {};
}

std::string file_mode_text(uint32_t mode) {
    const char* type = nullptr;
    switch (mode & S_IFMT) {
        case S_IFREG: type = "S_IFREG"; break;
        case S_IFDIR: type = "S_IFDIR"; break;
        case S_IFLNK: type = "S_IFLNK"; break;
        case S_IFCHR: type = "S_IFCHR"; break;
        case S_IFBLK: type = "S_IFBLK"; break;
        case S_IFIFO: type = "S_IFIFO"; break;
        case S_IFSOCK: type = "S_IFSOCK"; break;
    }
    std::string out;
    if (type) out = std::string(type) + "|";
    if (mode & S_ISUID) out += "S_ISUID|";
    if (mode & S_ISGID) out += "S_ISGID|";
    if (mode & S_ISVTX) out += "S_ISVTX|";
    uint32_t perm = mode & 0777;
    char b[16];
    std::snprintf(b, sizeof b, "%04o", perm);
    out += b;
    return out;
}

std::string open_flags_text(uint64_t flags) {
    std::string out;
    switch (flags & O_ACCMODE) {
        case O_RDONLY: out = "O_RDONLY"; break;
        case O_WRONLY: out = "O_WRONLY"; break;
        case O_RDWR: out = "O_RDWR"; break;
        default: out = "O_ACCMODE"; break;
    }
    uint64_t rest = flags & ~static_cast<uint64_t>(O_ACCMODE);
    // O_TMPFILE includes O_DIRECTORY; strace prints O_TMPFILE alone.
    if ((rest & 020000000) && (rest & O_DIRECTORY)) {
        rest &= ~static_cast<uint64_t>(020000000 | O_DIRECTORY);
        out += "|O_TMPFILE";
    }
    // __O_SYNC comes with O_DSYNC: strace prints O_SYNC.
    if ((rest & 04000000) && (rest & O_DSYNC)) {
        rest &= ~static_cast<uint64_t>(04000000 | O_DSYNC);
        out += "|O_SYNC";
    }
    if (rest) out += "|" + flags_text(rest, kOpenFlags);
    return out;
}

}  // namespace hsbox::tracer
