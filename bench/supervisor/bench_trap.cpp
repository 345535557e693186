// bench_trap: the round trip of a trapped syscall, measured natively and
// under `hsbox run` (and PRoot when it is installed) in one invocation.
//
// The parent re-executes this binary with `--child` once per runner; the
// child times a handful of probes and prints one line per probe on stdout:
//   probe NAME MEDIAN_NS MIN_NS
//   seccomp MODE        (the Seccomp: field of /proc/self/status)
// The parent prints a Markdown table (ns per call, the overhead in µs, the
// ratio to native) and, with --json, the same figures as JSON.
//
// A probe that fails (a wrong return value, an errno) is a finding, not a
// figure: the child exits non-zero naming the probe and the errno, and the
// parent reports that runner as failed.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hsbox/fd.hpp"
#include "hsbox/result.hpp"

#ifndef HSBOX_BENCH_DEFAULT_HSBOX
#define HSBOX_BENCH_DEFAULT_HSBOX "hsbox"
#endif

namespace {

using hsbox::Error;
using hsbox::Fd;
using hsbox::Result;
using hsbox::Status;

constexpr const char* kUsage =
    "usage: bench_trap [--iterations N] [--reps R] [--hsbox PATH] [--runners LIST] [--json FILE]\n"
    "  --iterations N   calls per repetition and probe (default 20000)\n"
    "  --reps R         repetitions per probe; the median is reported (default 5)\n"
    "  --hsbox PATH     the hsbox binary (default: $HSBOX_BIN, else the one built with this)\n"
    "  --runners LIST   comma-separated subset of native,hsbox,proot (default: all;\n"
    "                   proot is skipped with a note when it is not installed)\n"
    "  --json FILE      also write the figures as JSON to FILE\n";

// ---------------------------------------------------------------- child side

// One probe: `run(n, fd)` makes n calls (n open+close pairs for the open
// probes), each of which must succeed; it returns the first failure.
struct Probe {
    const char* name;
    const char* what;  // which syscalls, and whether hsbox traps them
    bool trapped;      // does hsbox's filter send it to the supervisor?
    Status (*run)(long iterations, int fd);
};

uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

Status probe_getppid(long n, int) {
    for (long i = 0; i < n; ++i)
        if (syscall(SYS_getppid) < 0) return hsbox::last_error("getppid");
    return {};
}

Status probe_fstat_raw(long n, int fd) {
    struct stat st;
    for (long i = 0; i < n; ++i)
        if (syscall(SYS_fstat, fd, &st) < 0) return hsbox::last_error("fstat (syscall 5)");
    return {};
}

Status probe_fstatat_empty(long n, int fd) {
    struct stat st;
    for (long i = 0; i < n; ++i)
        if (syscall(SYS_newfstatat, fd, "", &st, AT_EMPTY_PATH) < 0)
            return hsbox::last_error("newfstatat(fd, \"\", AT_EMPTY_PATH)");
    return {};
}

Status probe_stat_path(long n, int) {
    struct stat st;
    for (long i = 0; i < n; ++i) {
        if (syscall(SYS_newfstatat, AT_FDCWD, "/usr/bin", &st, 0) < 0)
            return hsbox::last_error("newfstatat(AT_FDCWD, \"/usr/bin\")");
        if (!S_ISDIR(st.st_mode)) return Error{ENOTDIR, "stat /usr/bin: not a directory"};
    }
    return {};
}

Status open_close(long n, const char* path, int flags) {
    for (long i = 0; i < n; ++i) {
        long fd = syscall(SYS_openat, AT_FDCWD, path, flags | O_CLOEXEC, 0);
        if (fd < 0) return hsbox::last_error(std::string("openat ") + path);
        if (syscall(SYS_close, fd) < 0) return hsbox::last_error(std::string("close ") + path);
    }
    return {};
}

Status probe_open_devnull(long n, int) { return open_close(n, "/dev/null", O_RDONLY); }
Status probe_open_dir(long n, int) { return open_close(n, "/usr/bin", O_RDONLY | O_DIRECTORY); }

const Probe kProbes[] = {
    {"getppid", "getppid()", false, probe_getppid},
    {"fstat", "fstat(fd) as syscall 5", false, probe_fstat_raw},
    {"fstatat-empty", "newfstatat(fd, \"\", AT_EMPTY_PATH), what glibc's fstat() does", true,
     probe_fstatat_empty},
    {"stat-path", "newfstatat(AT_FDCWD, \"/usr/bin\", 0)", true, probe_stat_path},
    {"open-close-devnull", "openat(\"/dev/null\") + close, per pair", true, probe_open_devnull},
    {"open-close-dir", "openat(\"/usr/bin\", O_DIRECTORY) + close, per pair", true, probe_open_dir},
};

// Times one probe: a warm-up, then `reps` repetitions of `n` calls.
// Returns {median, min} ns per call.
Result<std::pair<double, double>> time_probe(const Probe& p, long n, int reps, int fd) {
    if (auto st = p.run(std::max(1L, n / 10), fd); !st) return st.error();
    std::vector<double> per_call;
    for (int r = 0; r < reps; ++r) {
        uint64_t t0 = now_ns();
        if (auto st = p.run(n, fd); !st) return st.error();
        per_call.push_back(double(now_ns() - t0) / double(n));
    }
    std::sort(per_call.begin(), per_call.end());
    return std::make_pair(per_call[per_call.size() / 2], per_call.front());
}

// Returns the Seccomp: field of /proc/self/status ("0" native, "2" filtered).
std::string seccomp_mode() {
    auto s = hsbox::read_file(AT_FDCWD, "/proc/self/status");
    if (!s) return "unknown";
    auto pos = s->find("\nSeccomp:");
    if (pos == std::string::npos) return "unknown";
    pos += 9;
    while (pos < s->size() && ((*s)[pos] == ' ' || (*s)[pos] == '\t')) ++pos;
    auto end = s->find('\n', pos);
    return s->substr(pos, end - pos);
}

int run_child(long n, int reps) {
    auto fd = hsbox::open_at(AT_FDCWD, "/usr/bin", O_RDONLY | O_DIRECTORY);
    if (!fd) {
        std::fprintf(stderr, "bench_trap: %s\n", fd.error().message().c_str());
        return 1;
    }
    std::printf("seccomp %s\n", seccomp_mode().c_str());
    for (const auto& p : kProbes) {
        auto t = time_probe(p, n, reps, fd->get());
        if (!t) {
            std::fprintf(stderr, "bench_trap: probe %s failed: %s\n", p.name, t.error().message().c_str());
            return 1;
        }
        std::printf("probe %s %.1f %.1f\n", p.name, t->first, t->second);
    }
    return 0;
}

// --------------------------------------------------------------- parent side

struct Figures {
    std::string seccomp;
    std::map<std::string, std::pair<double, double>> ns;  // probe -> {median, min}
};

struct RunnerResult {
    std::string name;
    std::vector<std::string> argv;
    std::optional<Figures> figures;
    std::string failure;  // set when the runner failed
};

// Runs argv with stdout captured; stderr passes through. Returns the exit
// status (as waitpid) and the captured output.
Result<std::pair<int, std::string>> run_captured(const std::vector<std::string>& argv) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) return hsbox::last_error("pipe2");
    Fd rd(p[0]), wr(p[1]);
    pid_t pid = ::fork();
    if (pid < 0) return hsbox::last_error("fork");
    if (pid == 0) {
        ::dup2(wr.get(), STDOUT_FILENO);  // dup2 clears O_CLOEXEC on the copy
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        std::fprintf(stderr, "bench_trap: exec %s: %s\n", args[0], std::strerror(errno));
        ::_exit(127);
    }
    wr.reset();
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t r = ::read(rd.get(), buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        out.append(buf, size_t(r));
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return hsbox::last_error("waitpid");
    return std::make_pair(status, out);
}

std::string describe_status(int s) {
    if (WIFEXITED(s)) return "exit status " + std::to_string(WEXITSTATUS(s));
    if (WIFSIGNALED(s)) return std::string("killed by signal ") + strsignal(WTERMSIG(s));
    return "status " + std::to_string(s);
}

// Parses the child's lines. Returns the figures, or EPROTO when a probe is missing.
Result<Figures> parse_child(const std::string& out) {
    Figures f;
    size_t pos = 0;
    while (pos < out.size()) {
        size_t end = out.find('\n', pos);
        if (end == std::string::npos) end = out.size();
        std::string line = out.substr(pos, end - pos);
        pos = end + 1;
        char name[64];
        double med, mn;
        char mode[32];
        if (std::sscanf(line.c_str(), "probe %63s %lf %lf", name, &med, &mn) == 3)
            f.ns[name] = {med, mn};
        else if (std::sscanf(line.c_str(), "seccomp %31s", mode) == 1)
            f.seccomp = mode;
    }
    for (const auto& p : kProbes)
        if (!f.ns.count(p.name)) return Error{EPROTO, std::string("child printed no figure for ") + p.name};
    return f;
}

bool on_path(const std::string& prog) {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "/usr/bin:/bin";
    size_t pos = 0;
    while (pos <= dirs.size()) {
        size_t end = dirs.find(':', pos);
        if (end == std::string::npos) end = dirs.size();
        std::string cand = dirs.substr(pos, end - pos) + "/" + prog;
        if (::access(cand.c_str(), X_OK) == 0) return true;
        pos = end + 1;
    }
    return false;
}

std::string json_escape(const std::string& s) {
    std::string o;
    for (char c : s) {
        if (c == '"' || c == '\\') o += '\\';
        if (static_cast<unsigned char>(c) < 0x20) {
            char b[8];
            std::snprintf(b, sizeof b, "\\u%04x", c);
            o += b;
            continue;
        }
        o += c;
    }
    return o;
}

int run_parent(long n, int reps, const std::string& hsbox_bin, const std::vector<std::string>& runners,
               const std::string& json_path) {
    auto self = hsbox::read_link(AT_FDCWD, "/proc/self/exe");
    if (!self) {
        std::fprintf(stderr, "bench_trap: %s\n", self.error().message().c_str());
        return 1;
    }
    std::vector<std::string> child = {*self, "--child", std::to_string(n), std::to_string(reps)};

    std::vector<RunnerResult> results;
    for (const auto& r : runners) {
        RunnerResult rr{r, {}, std::nullopt, ""};
        if (r == "native") {
            rr.argv = child;
        } else if (r == "hsbox") {
            // The binary must be visible in the space even when it was
            // built under $HOME, which a space hides by default.
            std::string dir = self->substr(0, self->rfind('/'));
            rr.argv = {hsbox_bin, "run", "--share", dir.empty() ? "/" : dir, "--"};
            rr.argv.insert(rr.argv.end(), child.begin(), child.end());
        } else if (r == "proot") {
            if (!on_path("proot")) {
                std::printf("note: proot is not installed; skipping it\n");
                continue;
            }
            rr.argv = {"proot"};
            rr.argv.insert(rr.argv.end(), child.begin(), child.end());
        }
        auto out = run_captured(rr.argv);
        if (!out) {
            rr.failure = out.error().message();
        } else if (out->first != 0) {
            rr.failure = describe_status(out->first);
        } else if (auto f = parse_child(out->second); !f) {
            rr.failure = f.error().message();
        } else {
            rr.figures = *f;
        }
        if (!rr.failure.empty()) std::fprintf(stderr, "bench_trap: %s runner failed: %s\n", r.c_str(), rr.failure.c_str());
        results.push_back(std::move(rr));
    }

    const RunnerResult* native = nullptr;
    for (const auto& rr : results)
        if (rr.name == "native" && rr.figures) native = &rr;

    auto load = hsbox::read_file(AT_FDCWD, "/proc/loadavg");
    std::string loadavg = load ? load->substr(0, load->find(' ', load->find(' ', load->find(' ') + 1) + 1)) : "?";
    std::printf("bench_trap: %ld calls x %d repetitions per probe, median ns per call; load average %s on %ld CPUs\n",
                n, reps, loadavg.c_str(), sysconf(_SC_NPROCESSORS_ONLN));
    for (const auto& rr : results) {
        std::string cmd;
        for (const auto& a : rr.argv) cmd += (cmd.empty() ? "" : " ") + a;
        std::printf("  %-6s %s%s\n", rr.name.c_str(), cmd.c_str(),
                    rr.figures ? (" (Seccomp: " + rr.figures->seccomp + ")").c_str() : "");
    }
    std::printf("\n| call | trapped by hsbox |");
    for (const auto& rr : results) {
        std::printf(" %s ns |", rr.name.c_str());
        if (native && rr.name != "native") std::printf(" %s overhead µs | %s × native |", rr.name.c_str(), rr.name.c_str());
    }
    std::printf("\n|---|---|");
    for (const auto& rr : results) std::printf(native && rr.name != "native" ? "---:|---:|---:|" : "---:|");
    std::printf("\n");
    for (const auto& p : kProbes) {
        std::printf("| %s | %s |", p.what, p.trapped ? "yes" : "no");
        for (const auto& rr : results) {
            bool has_native = native && rr.name != "native";
            if (!rr.figures) {
                std::printf(has_native ? " failed | | |" : " failed |");
                continue;
            }
            double v = rr.figures->ns.at(p.name).first;
            std::printf(" %.0f |", v);
            if (has_native) {
                double base = native->figures->ns.at(p.name).first;
                std::printf(" %.2f | %.1f× |", (v - base) / 1000.0, base > 0 ? v / base : 0.0);
            }
        }
        std::printf("\n");
    }

    if (!json_path.empty()) {
        std::string j = "{\n  \"benchmark\": \"bench_trap\",\n";
        j += "  \"loadavg\": \"" + json_escape(loadavg) + "\",\n";
        j += "  \"iterations\": " + std::to_string(n) + ",\n  \"reps\": " + std::to_string(reps) + ",\n";
        j += "  \"runners\": [\n";
        for (size_t i = 0; i < results.size(); ++i) {
            const auto& rr = results[i];
            std::string cmd;
            for (const auto& a : rr.argv) cmd += (cmd.empty() ? "" : " ") + a;
            j += "    {\"name\": \"" + rr.name + "\", \"command\": \"" + json_escape(cmd) + "\"";
            if (!rr.figures) {
                j += ", \"failure\": \"" + json_escape(rr.failure) + "\"}";
            } else {
                j += ", \"seccomp\": \"" + json_escape(rr.figures->seccomp) + "\", \"probes\": {";
                bool first = true;
                for (const auto& p : kProbes) {
                    auto [med, mn] = rr.figures->ns.at(p.name);
                    char buf[256];
                    std::snprintf(buf, sizeof buf, "%s\"%s\": {\"median_ns\": %.1f, \"min_ns\": %.1f", first ? "" : ", ",
                                  p.name, med, mn);
                    j += buf;
                    if (native && rr.name != "native") {
                        double base = native->figures->ns.at(p.name).first;
                        std::snprintf(buf, sizeof buf, ", \"overhead_us\": %.3f, \"ratio\": %.2f", (med - base) / 1000.0,
                                      base > 0 ? med / base : 0.0);
                        j += buf;
                    }
                    j += "}";
                    first = false;
                }
                j += "}}";
            }
            j += i + 1 < results.size() ? ",\n" : "\n";
        }
        j += "  ]\n}\n";
        if (auto st = hsbox::write_file_atomic(json_path, j, 0644); !st) {
            std::fprintf(stderr, "bench_trap: --json %s: %s\n", json_path.c_str(), st.error().message().c_str());
            return 1;
        }
    }

    for (const auto& rr : results)
        if (!rr.figures) return 1;
    return 0;
}

long parse_positive(const char* flag, const char* v) {
    char* end = nullptr;
    errno = 0;
    long x = std::strtol(v, &end, 10);
    if (errno || !end || *end || x <= 0) {
        std::fprintf(stderr, "bench_trap: %s needs a positive integer, got '%s'\n", flag, v);
        std::exit(2);
    }
    return x;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::strcmp(argv[1], "--child") == 0)
        return run_child(parse_positive("--child", argv[2]), int(parse_positive("--child", argv[3])));

    long n = 20000;
    int reps = 5;
    const char* env_bin = std::getenv("HSBOX_BIN");
    std::string hsbox_bin = env_bin && *env_bin ? env_bin : HSBOX_BENCH_DEFAULT_HSBOX;
    std::vector<std::string> runners = {"native", "hsbox", "proot"};
    std::string json;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "bench_trap: %s needs a value\n%s", a.c_str(), kUsage);
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--iterations") {
            n = parse_positive("--iterations", value());
        } else if (a == "--reps") {
            reps = int(parse_positive("--reps", value()));
        } else if (a == "--hsbox") {
            hsbox_bin = value();
        } else if (a == "--json") {
            json = value();
        } else if (a == "--runners") {
            runners.clear();
            std::string list = value();
            size_t pos = 0;
            while (pos <= list.size()) {
                size_t end = list.find(',', pos);
                if (end == std::string::npos) end = list.size();
                std::string r = list.substr(pos, end - pos);
                if (r != "native" && r != "hsbox" && r != "proot") {
                    std::fprintf(stderr, "bench_trap: --runners: unknown runner '%s' (native, hsbox, proot)\n", r.c_str());
                    return 2;
                }
                runners.push_back(r);
                pos = end + 1;
            }
        } else if (a == "-h" || a == "--help") {
            std::printf("%s", kUsage);
            return 0;
        } else {
            std::fprintf(stderr, "bench_trap: unknown option '%s'\n%s", a.c_str(), kUsage);
            return 2;
        }
    }
    return run_parent(n, reps, hsbox_bin, runners, json);
}
