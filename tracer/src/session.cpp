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

void TraceSession::close_open_line() {
    if (open_tid_ == 0) return;
    auto it = pending_.find(open_tid_);
    open_tid_ = 0;
    if (it == pending_.end()) return;
    if (sink_.push(kUnfinished)) it->second.unfinished = true;
    else it->second.head_written = false;  // the head is cut off: write whole lines from now on
}

void TraceSession::on_syscall_entry(const SyscallEvent& ev, MemoryReader& mem) {
    if (!opts_.filter.selected(ev.nr)) return;
    Pending& p = pending_[ev.tid];
    p = Pending{};
    decoder_.decode_entry(ev, mem, p.call);
    if (opts_.format != OutputFormat::Text) return;
    // Text: write the head now, as strace does, so a blocking call shows at once.
    if (open_tid_ != ev.tid) close_open_line();
    std::string head = format_text_head(ev, p.call, opts_.prefix);
    p.head_len = head.size();
    if (sink_.push(head)) {
        p.head_written = true;
        open_tid_ = ev.tid;
    }
}

void TraceSession::on_syscall_exit(const SyscallEvent& ev, MemoryReader& mem) {
    auto it = pending_.find(ev.tid);
    if (it == pending_.end()) return;  // not selected, or entry not seen
    Pending& p = it->second;
    decoder_.decode_exit(ev, mem, p.call);
    ++calls_;
    if (opts_.format == OutputFormat::Json) {
        sink_.push(format_json(ev, p.call));
    } else if (p.head_written && open_tid_ == ev.tid && !p.unfinished) {
        sink_.push(format_text_tail(p.call, p.head_len));
        open_tid_ = 0;
    } else {
        close_open_line();
        sink_.push(p.head_written ? format_text_resumed(ev, p.call, opts_.prefix)
                                  : format_text(ev, p.call, opts_.prefix));
    }
    pending_.erase(it);
}

void TraceSession::on_signal(pid_t pid, pid_t tid, const siginfo_t& si) {
    if (!opts_.show_signals) return;
    if (opts_.format == OutputFormat::Json) {
        sink_.push(format_signal_json(pid, tid, si, now()));
    } else {
        close_open_line();
        sink_.push(format_signal_text(tid, si, opts_.prefix));
    }
}

void TraceSession::on_thread_exit(pid_t pid, pid_t tid, int status) {
    auto it = pending_.find(tid);
    if (it != pending_.end()) {
        if (open_tid_ == tid) open_tid_ = 0;
        pending_.erase(it);
    }
    if (!opts_.show_exits) return;
    if (opts_.format == OutputFormat::Json) {
        sink_.push(format_exit_json(pid, tid, status, now()));
    } else {
        close_open_line();
        sink_.push(format_exit_text(tid, status, opts_.prefix));
    }
}

}  // namespace hsbox::tracer
