// Symbolic names of the constants the decoder prints (flags, enums, errnos,
// signals), as strace spells them. Private to tracer/.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace hsbox::tracer {

struct Named {
    uint64_t value;
    const char* name;
};

// Returns "A|B|0x40" for the bits of `v` named in `table` (entries with value
// 0 are ignored), or `zero` when v == 0.
std::string flags_text(uint64_t v, std::span<const Named> table, const char* zero = "0");

// Returns the name of `v` in `table`, or nullptr.
const char* enum_name(uint64_t v, std::span<const Named> table);

// Returns the name of `v`, or `v` in decimal followed by " /* PREFIX??? */".
std::string enum_text(int64_t v, std::span<const Named> table, const char* unknown_prefix);

// Returns "ENOENT" for 2, or nullptr for an unknown errno (including the
// kernel-internal ERESTART* codes, which errno_restart_name covers).
const char* errno_name(int e);
// Returns "ERESTARTSYS" etc. for the kernel's internal restart codes, or nullptr.
const char* errno_restart_name(int e);
// Returns strace's message for the restart codes ("To be restarted if SA_RESTART is set").
const char* errno_restart_message(int e);

// Returns "SIGINT" for 2, "SIGRT_3" for SIGRTMIN+3, or nullptr.
std::string signal_name(int sig);

// Tables (defined in names.cpp).
extern const std::span<const Named> kOpenFlags;       // without the access mode
extern const std::span<const Named> kAtFlags;
extern const std::span<const Named> kProt;
extern const std::span<const Named> kMapFlags;
extern const std::span<const Named> kCloneFlags;
extern const std::span<const Named> kAddressFamilies;
extern const std::span<const Named> kSockTypes;
extern const std::span<const Named> kSockTypeFlags;
extern const std::span<const Named> kIpProtos;
extern const std::span<const Named> kMsgFlags;
extern const std::span<const Named> kSockLevels;
extern const std::span<const Named> kSolSocketOpts;
extern const std::span<const Named> kTcpOpts;
extern const std::span<const Named> kIpOpts;
extern const std::span<const Named> kIpv6Opts;
extern const std::span<const Named> kAccessModes;
extern const std::span<const Named> kWhence;
extern const std::span<const Named> kFcntlCmds;
extern const std::span<const Named> kIoctls;
extern const std::span<const Named> kFutexOps;
extern const std::span<const Named> kSigHow;
extern const std::span<const Named> kSaFlags;
extern const std::span<const Named> kWaitOptions;
extern const std::span<const Named> kPollEvents;
extern const std::span<const Named> kEpollEvents;
extern const std::span<const Named> kEpollCtlOps;
extern const std::span<const Named> kClockIds;
extern const std::span<const Named> kRlimits;
extern const std::span<const Named> kArchPrctl;
extern const std::span<const Named> kPrctl;
extern const std::span<const Named> kRenameFlags;
extern const std::span<const Named> kGrndFlags;
extern const std::span<const Named> kStatxMask;
extern const std::span<const Named> kMadvise;
extern const std::span<const Named> kFadvise;
extern const std::span<const Named> kShutdown;
extern const std::span<const Named> kEfdFlags;
extern const std::span<const Named> kCloseRangeFlags;
extern const std::span<const Named> kTimerFlags;
extern const std::span<const Named> kMfdFlags;
extern const std::span<const Named> kInotifyMask;
extern const std::span<const Named> kSpliceFlags;
extern const std::span<const Named> kMlockFlags;
extern const std::span<const Named> kMsyncFlags;
extern const std::span<const Named> kMremapFlags;
extern const std::span<const Named> kSchedPolicies;
extern const std::span<const Named> kPersonality;
extern const std::span<const Named> kWhich;
extern const std::span<const Named> kFlockOps;
extern const std::span<const Named> kFallocModes;
extern const std::span<const Named> kIdtypes;
extern const std::span<const Named> kXattrFlags;
extern const std::span<const Named> kMountFlags;
extern const std::span<const Named> kUmountFlags;
extern const std::span<const Named> kItimers;
extern const std::span<const Named> kFdFlagsFcntl;    // FD_CLOEXEC

// Returns "S_IFREG|0644" for a st_mode value.
std::string file_mode_text(uint32_t mode);
// Returns "O_RDONLY|O_CLOEXEC" (access mode always first).
std::string open_flags_text(uint64_t flags);
// Returns "0644" style octal ("0" for 0).
std::string octal_text(uint64_t v);
// Returns "0x1f" ("0" for 0).
std::string hex_text(uint64_t v);

}  // namespace hsbox::tracer
