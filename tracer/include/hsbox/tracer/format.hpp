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

// strace prints a call in two pieces when it can: at entry the name and the
// arguments known then, at exit the rest. When another line comes between,
// the first piece ends with " <unfinished ...>" and the second is a
// "<... name resumed>" line. These build the pieces:
// Returns "1234  read(3, " (no newline): the arguments printed at entry.
std::string format_text_head(const SyscallEvent& ev, const DecodedCall& call, PidPrefix prefix);
// Returns the rest after a head of `head_len` characters: "\"...\", 832) = 832\n".
std::string format_text_tail(const DecodedCall& call, size_t head_len);
// Returns "1234  <... read resumed>\"...\", 832) = 832\n".
std::string format_text_resumed(const SyscallEvent& ev, const DecodedCall& call, PidPrefix prefix);
// What ends a head when another line must be written first.
inline constexpr std::string_view kUnfinished = " <unfinished ...>\n";
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
