#include "hsbox/tracer/session.hpp"

#include <ctime>

namespace hsbox::tracer {

namespace {
timespec now() {
    timespec t{};
    clock_gettime(CLOCK_REALTIME, &t);
    return t;
}
}  // namespace

void TraceSession::on_syscall_entry(const SyscallEvent& ev, MemoryReader& mem) {
    if (!opts_.filter.selected(ev.nr)) return;
    decoder_.decode_entry(ev, mem, pending_[ev.tid]);
}

void TraceSession::on_syscall_exit(const SyscallEvent& ev, MemoryReader& mem) {
    auto it = pending_.find(ev.tid);
    if (it == pending_.end()) return;  // not selected, or entry not seen
    DecodedCall& call = it->second;
    decoder_.decode_exit(ev, mem, call);
    emit(ev, call);
    pending_.erase(it);
}

void TraceSession::emit(const SyscallEvent& ev, const DecodedCall& call) {
    ++calls_;
    if (opts_.format == OutputFormat::Json)
        sink_.push(format_json(ev, call));
    else
        sink_.push(format_text(ev, call, opts_.prefix));
}

void TraceSession::on_signal(pid_t pid, pid_t tid, const siginfo_t& si) {
    if (!opts_.show_signals) return;
    if (opts_.format == OutputFormat::Json)
        sink_.push(format_signal_json(pid, tid, si, now()));
    else
        sink_.push(format_signal_text(tid, si, opts_.prefix));
}

void TraceSession::on_thread_exit(pid_t pid, pid_t tid, int status) {
    pending_.erase(tid);
    if (!opts_.show_exits) return;
    if (opts_.format == OutputFormat::Json)
        sink_.push(format_exit_json(pid, tid, status, now()));
    else
        sink_.push(format_exit_text(tid, status, opts_.prefix));
}

}  // namespace hsbox::tracer
