// TraceSession: the TraceHandler that turns events into output lines. It
// decodes the selected syscalls (entry and exit), formats them as text or
// JSON lines, and pushes them into a LineSink. Event-source independent: the
// ptrace source drives it here, the supervisor's events can drive it later.
#pragma once

#include <memory>
#include <unordered_map>

#include "hsbox/tracer/decoder.hpp"
#include "hsbox/tracer/filter.hpp"
#include "hsbox/tracer/format.hpp"
#include "hsbox/tracer/ptrace_source.hpp"
#include "hsbox/tracer/sink.hpp"

namespace hsbox::tracer {

enum class OutputFormat { Text, Json };

struct SessionOptions {
    OutputFormat format = OutputFormat::Text;
    PidPrefix prefix = PidPrefix::None;
    SyscallFilter filter = SyscallFilter::all();
    DecodeOptions decode;
    bool show_signals = true;  // "--- SIGCHLD ... ---" lines
    bool show_exits = true;    // "+++ exited with 0 +++" lines
};

class TraceSession final : public TraceHandler {
public:
    // `sink` is borrowed and must outlive the session.
    TraceSession(SessionOptions opts, LineSink& sink) : opts_(std::move(opts)), decoder_(opts_.decode), sink_(sink) {}

    void on_syscall_entry(const SyscallEvent& ev, MemoryReader& mem) override;
    void on_syscall_exit(const SyscallEvent& ev, MemoryReader& mem) override;
    void on_signal(pid_t pid, pid_t tid, const siginfo_t& si) override;
    void on_thread_exit(pid_t pid, pid_t tid, int status) override;

    // Number of syscalls formatted (shown) so far.
    uint64_t calls() const { return calls_; }

private:
    // A call between its entry and its exit. In text mode its head (name and
    // entry arguments) is already written; `open_tid_` says whose head is the
    // last thing in the stream, still waiting for its end of line.
    struct Pending {
        DecodedCall call;
        size_t head_len = 0;
        bool head_written = false;  // false: write the whole line at exit
        bool unfinished = false;    // closed with " <unfinished ...>": resume at exit
    };
    // Ends the open head (if any) with " <unfinished ...>".
    void close_open_line();

    SessionOptions opts_;
    Decoder decoder_;
    LineSink& sink_;
    std::unordered_map<pid_t, Pending> pending_;  // by tid
    pid_t open_tid_ = 0;
    uint64_t calls_ = 0;
};

}  // namespace hsbox::tracer
