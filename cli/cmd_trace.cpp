// `hsbox trace`: runs a command (or attaches to a process) under the tracer
// and streams its system calls as strace-style text or JSON lines.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "command.hpp"
#include "hsbox/tracer/ptrace_source.hpp"
#include "hsbox/tracer/session.hpp"

namespace hsbox::cli {
namespace {

using namespace hsbox::tracer;

// The parsed command line: everything is decided before anything runs.
struct TracePlan {
    bool follow = false;
    bool json = false;
    bool seccomp = false;
    std::string filter_expr;     // -e
    std::string output;          // -o ("" = stderr, "-" = stdout)
    size_t string_limit = 32;    // -s
    size_t buffer_bytes = 4u << 20;
    long linger_ms = 2000;
    pid_t attach_pid = 0;        // -p
    std::vector<std::string> argv;
    bool quiet = false;          // -q: no signal/exit lines
};

// Attach mode: detach and end. Spawn mode: pass SIGTERM/SIGHUP on to the
// command (SIGINT from a terminal already reached it: same process group).
bool g_attach_mode = false;
void on_signal(int sig) {
    if (g_attach_mode) PtraceSource::request_detach();
    else if (sig != SIGINT) PtraceSource::forward_signal(sig);
}

bool parse_number(const char* s, long min, long max, long& out) {
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(s, &end, 10);
    if (errno || !end || *end || end == s || v < min || v > max) return false;
    out = v;
    return true;
}

int cmd_trace(int argc, char** argv) {
    TracePlan plan;
    int i = 0;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&](const char* what) -> const char* {
            if (i + 1 >= argc) return nullptr;
            (void)what;
            return argv[++i];
        };
        long n = 0;
        if (a == "--") {
            ++i;
            break;
        } else if (a == "-f") {
            plan.follow = true;
        } else if (a == "--json") {
            plan.json = true;
        } else if (a == "--seccomp-bpf") {
            plan.seccomp = true;
        } else if (a == "-q") {
            plan.quiet = true;
        } else if (a == "-e") {
            const char* v = value("-e");
            if (!v) return usage_error("trace: -e needs a syscall set (e.g. trace=%%file,network)");
            plan.filter_expr = v;
        } else if (a == "-o") {
            const char* v = value("-o");
            if (!v) return usage_error("trace: -o needs a file name");
            plan.output = v;
        } else if (a == "-s") {
            const char* v = value("-s");
            if (!v || !parse_number(v, 0, 1 << 20, n)) return usage_error("trace: -s needs a size 0..1048576");
            plan.string_limit = static_cast<size_t>(n);
        } else if (a == "--buffer") {
            const char* v = value("--buffer");
            if (!v || !parse_number(v, 4096, 1L << 32, n)) return usage_error("trace: --buffer needs a byte count >= 4096");
            plan.buffer_bytes = static_cast<size_t>(n);
        } else if (a == "--linger") {
            const char* v = value("--linger");
            if (!v || !parse_number(v, 0, 3600000, n)) return usage_error("trace: --linger needs milliseconds");
            plan.linger_ms = n;
        } else if (a == "-p") {
            const char* v = value("-p");
            if (!v || !parse_number(v, 1, 1L << 30, n)) return usage_error("trace: -p needs a process id");
            plan.attach_pid = static_cast<pid_t>(n);
        } else if (!a.empty() && a[0] == '-') {
            return usage_error("trace: unknown option '%s'", a.c_str());
        } else {
            break;  // the command starts here (no "--")
        }
    }
    for (; i < argc; ++i) plan.argv.emplace_back(argv[i]);
    if (plan.attach_pid && !plan.argv.empty()) return usage_error("trace: give either -p PID or a command, not both");
    if (!plan.attach_pid && plan.argv.empty()) return usage_error("trace: no command to trace (hsbox trace [-f] [-e SET] [-o FILE] [--json] -- CMD)");

    SessionOptions so;
    so.format = plan.json ? OutputFormat::Json : OutputFormat::Text;
    so.prefix = !plan.follow ? PidPrefix::None : plan.output.empty() || plan.output == "-" ? PidPrefix::Bracket : PidPrefix::Column;
    so.decode.string_limit = plan.string_limit;
    so.show_exits = so.show_signals = !plan.quiet;
    if (!plan.filter_expr.empty()) {
        auto f = SyscallFilter::parse(plan.filter_expr);
        if (!f.ok()) return usage_error("trace: -e %s: %s", plan.filter_expr.c_str(), f.error().context.c_str());
        so.filter = f.value();
    }

    LineSink::DropNotice notice = plan.json ? LineSink::DropNotice([](uint64_t c) {
        timespec t{};
        clock_gettime(CLOCK_REALTIME, &t);
        return format_dropped_json(c, t);
    })
                                            : LineSink::DropNotice(format_dropped_text);
    Result<std::unique_ptr<LineSink>> sink =
        plan.output.empty() ? LineSink::to_fd(STDERR_FILENO, plan.buffer_bytes, notice)
        : plan.output == "-" ? LineSink::to_fd(STDOUT_FILENO, plan.buffer_bytes, notice)
                             : LineSink::to_path(plan.output, plan.buffer_bytes, notice);
    if (!sink.ok()) {
        std::fprintf(stderr, "hsbox: trace: %s\n", sink.error().message().c_str());
        return 1;
    }

    PtraceOptions po;
    po.follow = plan.follow;
    po.use_seccomp = plan.seccomp && !so.filter.selects_everything();
    po.syscalls = so.filter.numbers();

    // Handlers, unlike SIG_IGN, are reset by exec: the command starts with
    // default dispositions.
    g_attach_mode = plan.attach_pid != 0;
    struct sigaction sa{};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: waitpid must return EINTR
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGHUP, &sa, nullptr);

    Result<PtraceSource> src = plan.attach_pid ? PtraceSource::attach(plan.attach_pid, po)
                                               : PtraceSource::spawn(plan.argv, po);
    if (!src.ok()) {
        std::fprintf(stderr, "hsbox: trace: %s\n", src.error().message().c_str());
        return src.error().code == ENOENT ? 127 : 1;
    }
    TraceSession session(so, *sink.value());
    Result<int> status = src->run(session);
    SinkStats st = sink.value()->close(std::chrono::milliseconds(plan.linger_ms));
    if (st.dropped)
        std::fprintf(stderr, "hsbox: trace: %llu of %llu events dropped (output reader too slow)\n",
                     static_cast<unsigned long long>(st.dropped),
                     static_cast<unsigned long long>(st.dropped + st.lines));
    if (!status.ok()) {
        std::fprintf(stderr, "hsbox: trace: %s\n", status.error().message().c_str());
        return status.error().code == ENOENT ? 127 : 1;
    }
    int s = status.value();
    if (plan.attach_pid) return 0;
    if (WIFEXITED(s)) return WEXITSTATUS(s);
    if (WIFSIGNALED(s)) return 128 + WTERMSIG(s);
    return 1;
}

const Command reg{"trace",
                  "trace [-f] [-q] [-e SET] [-o FILE|-] [--json] [-s N] [--seccomp-bpf] [--buffer BYTES] [--linger MS] (-p PID | -- CMD [ARG...])",
                  cmd_trace};

}  // namespace
}  // namespace hsbox::cli
