// Decoder: turns a SyscallEvent plus the tracee's memory into named,
// formatted arguments and a result, driven by the argument kinds of the one
// syscall table (base/syscalls.def). Nothing here knows about ptrace.
//
// A call is decoded in two steps, like strace: decode_entry() reads the
// arguments the process passes in (paths, buffers it writes, flags), and
// decode_exit() the ones the kernel fills (read buffers, stat structs) and
// the result. A source that only sees entries (seccomp notify) calls only
// the first; the formatter then prints "= ?".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hsbox/syscall_table.hpp"
#include "hsbox/tracer/event.hpp"
#include "hsbox/tracer/memory.hpp"

namespace hsbox::tracer {

struct DecodedArg {
    Arg kind = Arg::Hex;
    std::string text;  // strace spelling: "O_RDONLY|O_CLOEXEC", "\"/etc/passwd\""
    std::string json;  // a JSON value: 3, "O_RDONLY|O_CLOEXEC", {"family":"AF_INET",...}
    uint64_t saved = 0;    // entry-time value of in/out arguments
    bool saved_valid = false;
    // When non-zero: the first `entry_len` bytes of `text` were known at entry
    // and the rest was added at exit (clone3's " => {parent_tid=[N]}").
    size_t entry_len = 0;
};

struct DecodedCall {
    const SyscallInfo* info = nullptr;  // nullptr for a number the table lacks
    std::string name;                   // "openat", or "syscall_0x1c8"
    std::vector<DecodedArg> args;
    bool entered = false;
    bool returned = false;
    int64_t ret = 0;        // raw return value
    int err = 0;            // errno (positive) when the call failed, else 0
    std::string ret_text;   // "3", "0x7f12...", "-1 ENOENT (No such file or directory)", "?"
    std::string ret_suffix; // strace's auxiliary text after the result: "(flags FD_CLOEXEC)"
};

struct DecodeOptions {
    size_t string_limit = 32;  // bytes of a string or buffer printed (strace -s)
    size_t array_limit = 32;   // elements of an array printed
};

class Decoder {
public:
    explicit Decoder(DecodeOptions opts = {}) : opts_(opts) {}

    // Decodes the name and the "in" arguments of `ev` (reading `mem`).
    void decode_entry(const SyscallEvent& ev, MemoryReader& mem, DecodedCall& call) const;
    // Decodes the "out" arguments and the result of `ev` (which has returned).
    void decode_exit(const SyscallEvent& ev, MemoryReader& mem, DecodedCall& call) const;

    const DecodeOptions& options() const { return opts_; }

private:
    DecodeOptions opts_;
};

// Returns true when an argument of kind `k` is fully decoded at entry
// (false for kinds the kernel fills or updates: read buffers, stat, socklen).
bool is_entry_kind(Arg k);

// Returns the name of syscall `nr` ("syscall_0x1c8" for a number the table lacks).
std::string syscall_name(int nr);

// Returns the text for a raw return `ret` of syscall `info` (no suffix):
// "3", "0x7f...", "-1 ENOENT (No such file or directory)".
std::string result_text(const SyscallInfo* info, int64_t ret);

// Returns strace's spelling of `bytes` in double quotes: escapes \n \t \" \\,
// octal for other non-printables; appends "..." when `truncated`.
std::string quote_string(std::string_view bytes, bool truncated);

// Returns `bytes` as a JSON string literal (bytes >= 0x80 as \u00XX).
std::string json_string(std::string_view bytes);

}  // namespace hsbox::tracer
