// Output formats for decoded calls: strace-compatible text and JSON lines.
// Pure functions of their inputs (no I/O), so the supervisor can reuse them.
//
// JSON line schema (one object per line, keys always in this order):
//   {"type":"syscall","time":<entry, seconds since the epoch, float>,
//    "pid":<tgid>,"tid":<tid>,"syscall":"openat","nr":257,
//    "args":[{"kind":"dirfd","value":"AT_FDCWD","text":"AT_FDCWD"}, ...],
//    "return":3|null,"errno":"ENOENT"|null,"duration":<seconds, float>|null}
//   {"type":"exit","time":..,"pid":..,"tid":..,"status":0}          thread/process ended
//   {"type":"killed","time":..,"pid":..,"tid":..,"signal":"SIGKILL"}
//   {"type":"signal","time":..,"pid":..,"tid":..,"signal":"SIGCHLD","code":1,"code_name":"CLD_EXITED","sender":1234}
//   {"type":"dropped","time":..,"count":N}   N events lost because the reader was slow
// "return" is null when the call never returned (exit_group, a killed thread).
// "value" is the decoded argument (number, string, object or array; see
// docs/tracer.md); "text" its strace spelling.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>

#include "hsbox/tracer/decoder.hpp"
#include "hsbox/tracer/event.hpp"

namespace hsbox::tracer {

enum class PidPrefix {
    None,     // single process: "openat(...) = 3"
    Column,   // strace -f -o FILE: "1234  openat(...) = 3"
    Bracket,  // strace -f to a terminal: "[pid  1234] openat(...) = 3"
};

// Returns one text line (with '\n') for a decoded call.
std::string format_text(const SyscallEvent& ev, const DecodedCall& call, PidPrefix prefix);
// Returns one JSON line (with '\n') for a decoded call.
std::string format_json(const SyscallEvent& ev, const DecodedCall& call);

// Returns the line for a thread that ended with wait status `status`:
// "+++ exited with 0 +++" / "+++ killed by SIGKILL +++".
std::string format_exit_text(pid_t tid, int status, PidPrefix prefix);
std::string format_exit_json(pid_t pid, pid_t tid, int status, timespec when);

// Returns the line for a signal delivered to `tid`: "--- SIGCHLD {...} ---".
std::string format_signal_text(pid_t tid, const siginfo_t& si, PidPrefix prefix);
std::string format_signal_json(pid_t pid, pid_t tid, const siginfo_t& si, timespec when);

// Returns the in-stream notice for `count` dropped events.
std::string format_dropped_text(uint64_t count);
std::string format_dropped_json(uint64_t count, timespec when);

// Returns the lowercase JSON name of an argument kind ("path", "open_flags").
std::string arg_kind_name(Arg k);

}  // namespace hsbox::tracer
