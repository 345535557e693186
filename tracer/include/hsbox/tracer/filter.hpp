// SyscallFilter: which syscalls are shown, from strace's -e trace= syntax.
// Classes are derived from the one syscall table, not from a second list:
//   %file / file       every syscall with a Path argument (strace: "takes a file name")
//   %desc / desc       every syscall with an Fd or Dirfd argument
//   %network / network every syscall of family Socket
//   %process / process Exec + Signal families, the fork/clone/exit/wait calls
//   %signal / signal   families Signal and SignalSelf
//   %memory / memory   family Memory
//   %ipc / ipc         family SysvIpc
//   %clock             family Time
//   %stat              names ending in "stat" or "statx" (stat, fstat, newfstatat, statx...)
//   @Family            any family by its table name (@Path, @Socket, ...)
//   all / none, NAME, !EXPR (negation of the whole list)
#pragma once

#include <bitset>
#include <string_view>
#include <vector>

#include "hsbox/result.hpp"

namespace hsbox::tracer {

class SyscallFilter {
public:
    static constexpr int kMaxNr = 512;

    // Returns a filter that selects every syscall.
    static SyscallFilter all();
    // Parses "trace=file,network", "%file,write", "!write", "all". Returns the
    // filter, or EINVAL naming the unknown element.
    static Result<SyscallFilter> parse(std::string_view expr);

    bool selected(int nr) const { return nr >= 0 && nr < kMaxNr ? set_[nr] : everything_; }
    bool selects_everything() const { return everything_; }
    // Returns the selected numbers in ascending order.
    std::vector<int> numbers() const;

private:
    std::bitset<kMaxNr> set_;
    bool everything_ = false;  // also numbers outside the table
};

}  // namespace hsbox::tracer
