// hsbox trace on real programs: compared with strace 6.1 run on the same
// program (tests/tracer/compare_strace.py does the comparison), plus the
// properties strace cannot show: a stopped reader never blocks the tracee,
// attach and detach, and the front end's errors.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"

namespace {

std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

std::string hsbox_bin() { return env_or("HSBOX_BIN", "hsbox"); }
std::string source_dir() { return HSBOX_TRACER_TEST_SOURCE_DIR; }

bool have(const char* prog) {
    return std::system((std::string("command -v ") + prog + " >/dev/null 2>&1").c_str()) == 0;
}

// A temporary directory, removed at the end of the test.
struct TempDir {
    std::string path;
    TempDir() {
        std::string tmpl = env_or("TMPDIR", "/tmp") + "/hsbox-trace-XXXXXX";
        path = mkdtemp(tmpl.data()) ? tmpl : "";
        REQUIRE(!path.empty());
    }
    ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

std::string slurp(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// Runs `cmd` with sh; returns its exit status (-1 if it did not exit).
int sh(const std::string& cmd) {
    int s = std::system(cmd.c_str());
    return WIFEXITED(s) ? WEXITSTATUS(s) : -1;
}

// Runs the comparison with strace; returns its exit status, prints its report.
int compare(const std::string& args, const std::string& work) {
    std::string out = work + "/compare.txt";
    int rc = sh("cd '" + work + "' && python3 '" + source_dir() + "/compare_strace.py' --hsbox '" + hsbox_bin() +
                "' " + args + " > '" + out + "' 2>&1");
    UNSCOPED_INFO(slurp(out));
    return rc;
}

bool can_compare() {
    if (!have("strace")) {
        WARN("skipped: strace is not installed");
        return false;
    }
    if (!have("python3")) {
        WARN("skipped: python3 is not installed");
        return false;
    }
    return true;
}

}  // namespace

TEST_CASE("hsbox trace matches strace on cat: every text line, and calls, results, paths and flags in JSON") {
    if (!can_compare()) return;
    TempDir t;
    REQUIRE(compare("--exact-text -- cat /etc/hostname /etc/os-release", t.path) == 0);
}

TEST_CASE("hsbox trace matches strace on ls -la of a directory with errors") {
    if (!can_compare()) return;
    TempDir t;
    sh("mkdir -p '" + t.path + "/d/sub' && echo x > '" + t.path + "/d/f' && ln -s nowhere '" + t.path + "/d/l'");
    REQUIRE(compare("--exact-text -- ls -la '" + t.path + "/d' /nonexistent-hsbox", t.path) == 0);
}

TEST_CASE("hsbox trace matches strace on a shell pipeline, process by process") {
    if (!can_compare()) return;
    TempDir t;
    // The order in which the shell reaps its children is a race in both tools.
    REQUIRE(compare("--ignore wait4,rt_sigreturn -- sh -c 'cat /etc/passwd | sort | head -n 3; ls /nonexistent-hsbox; true'",
                    t.path) == 0);
}

TEST_CASE("hsbox trace follows threads like strace on a multi-threaded program") {
    if (!can_compare()) return;
    TempDir t;
    std::string prog = std::string("'") + HSBOX_TRACER_THREADS_BIN + "' '" + t.path + "' 4";
    REQUIRE(compare("--filter '%file,write,close,clone3' -- " + prog, t.path) == 0);
    // Every call, every text line: glibc's per-thread arenas are placed by ASLR
    // (mmap/munmap/mprotect/madvise sizes), and whether join waits on a futex
    // depends on whether the thread already ended.
    REQUIRE(compare("--exact-text --ignore mmap,munmap,mprotect,madvise,futex -- " + prog, t.path) == 0);
}

TEST_CASE("hsbox trace matches strace on a forking python http.server and a client") {
    if (!can_compare()) return;
    TempDir t;
    sh("mkdir -p '" + t.path + "/www' && echo hello > '" + t.path + "/www/index.txt'");
    std::string port = t.path + "/port";
    // ForkingMixIn reaps its children in set order, which depends on the pid
    // values; CPython's allocator maps and unmaps arenas depending on where ASLR
    // put the heap. Both differ between any two runs. (Calls a child's SIGCHLD
    // interrupts and the kernel restarts are folded by the comparison.)
    REQUIRE(compare("--ignore wait4,mmap,munmap,brk,mprotect,madvise,mremap --client \"python3 '" + source_dir() + "/http_client.py' '" + port +
                        "' index.txt 3\" -- python3 '" + source_dir() + "/forking_http.py' '" + t.path + "/www' '" +
                        port + "' 3",
                    t.path) == 0);
}

TEST_CASE("with --seccomp-bpf only the selected calls are traced, as strace --seccomp-bpf") {
    if (!can_compare()) return;
    TempDir t;
    REQUIRE(compare("--seccomp --filter '%file,%process' --ignore wait4 -- sh -c 'cat /etc/hostname | wc -c'", t.path) == 0);
}

TEST_CASE("a stopped FIFO reader never blocks the traced program, and drops are reported") {
    TempDir t;
    std::string fifo = t.path + "/fifo";
    REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
    // A reader that opens the FIFO and never reads: the pipe fills after 64 KiB.
    int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    REQUIRE(reader >= 0);
    // Thousands of syscalls, far more output than the pipe and the 4 KiB buffer hold.
    // If the tracer waited for the reader, this would never finish.
    std::string err = t.path + "/err";
    int rc = sh("'" + hsbox_bin() + "' trace -f --buffer 4096 --linger 0 -o '" + fifo +
                "' -- sh -c 'i=0; while [ $i -lt 2000 ]; do i=$((i+1)); echo $i > /dev/null; done; echo done > \"" +
                t.path + "/marker\"' 2> '" + err + "'");
    close(reader);
    REQUIRE(rc == 0);
    REQUIRE(slurp(t.path + "/marker") == "done\n");
    std::string e = slurp(err);
    INFO(e);
    REQUIRE(e.find("events dropped (output reader too slow)") != std::string::npos);
}

TEST_CASE("with a reader that keeps up nothing is dropped and the trace is complete") {
    TempDir t;
    std::string out = t.path + "/out";
    REQUIRE(sh("'" + hsbox_bin() + "' trace -o '" + out + "' -- sh -c 'echo a > /dev/null' 2> '" + t.path + "/err'") == 0);
    std::string text = slurp(out);
    REQUIRE(text.find("execve(\"/") == 0);
    REQUIRE(text.find("+++ exited with 0 +++") != std::string::npos);
    REQUIRE(slurp(t.path + "/err").find("dropped") == std::string::npos);
}

TEST_CASE("hsbox trace --json writes one object per line with the documented fields") {
    if (!have("python3")) {
        WARN("skipped: python3 is not installed");
        return;
    }
    TempDir t;
    std::string out = t.path + "/out.jsonl";
    REQUIRE(sh("'" + hsbox_bin() + "' trace -f --json -o '" + out + "' -- cat /nonexistent-hsbox 2>/dev/null") == 1);
    std::string check =
        "import json,sys\n"
        "rows=[json.loads(l) for l in open(sys.argv[1])]\n"
        "calls=[r for r in rows if r['type']=='syscall']\n"
        "assert calls[0]['syscall']=='execve', calls[0]\n"
        "for r in calls:\n"
        "  assert set(r)=={'type','time','pid','tid','syscall','nr','args','return','errno','duration'}, r\n"
        "o=[r for r in calls if r['syscall']=='openat' and r['args'][1]['value']=='/nonexistent-hsbox']\n"
        "assert o and o[0]['return']==-1 and o[0]['errno']=='ENOENT', o\n"
        "assert o[0]['args'][1]['kind']=='path' and o[0]['args'][2]['value']=='O_RDONLY', o\n"
        "assert rows[-1]['type']=='exit' and rows[-1]['status']==1, rows[-1]\n";
    std::ofstream(t.path + "/check.py") << check;
    REQUIRE(sh("python3 '" + t.path + "/check.py' '" + out + "'") == 0);
}

TEST_CASE("hsbox trace -e filters by name and by class") {
    TempDir t;
    std::string out = t.path + "/out";
    REQUIRE(sh("'" + hsbox_bin() + "' trace -q -e trace=%network,close -o '" + out + "' -- cat /etc/hostname > /dev/null") == 0);
    std::string text = slurp(out);
    REQUIRE(text.find("close(") != std::string::npos);
    REQUIRE(text.find("openat(") == std::string::npos);
    REQUIRE(text.find("read(") == std::string::npos);
    REQUIRE(sh("'" + hsbox_bin() + "' trace -q -e 'trace=!close' -o '" + out + "' -- cat /etc/hostname > /dev/null") == 0);
    text = slurp(out);
    REQUIRE(text.find("close(") == std::string::npos);
    REQUIRE(text.find("openat(AT_FDCWD, \"/etc/hostname\", O_RDONLY)") != std::string::npos);
}

TEST_CASE("hsbox trace -p attaches to a running process and detaches on SIGINT") {
    TempDir t;
    pid_t target = fork();
    REQUIRE(target >= 0);
    if (target == 0) {
        execl("/bin/sh", "sh", "-c", "while :; do cat /etc/hostname > /dev/null; sleep 0.05; done", (char*)nullptr);
        _exit(127);
    }
    std::string out = t.path + "/out";
    pid_t tracer = fork();
    REQUIRE(tracer >= 0);
    if (tracer == 0) {
        std::string p = std::to_string(target);
        execl(hsbox_bin().c_str(), "hsbox", "trace", "-f", "-p", p.c_str(), "-o", out.c_str(), (char*)nullptr);
        _exit(127);
    }
    // Wait (bounded) until the trace shows the loop's cat opening the file.
    bool seen = false;
    for (int i = 0; i < 600 && !seen; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        seen = slurp(out).find("\"/etc/hostname\"") != std::string::npos;
    }
    kill(tracer, SIGINT);
    int status = 0;
    waitpid(tracer, &status, 0);
    bool alive = kill(target, 0) == 0;
    std::string st = slurp("/proc/" + std::to_string(target) + "/status");
    kill(target, SIGKILL);
    waitpid(target, nullptr, 0);
    REQUIRE(seen);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    REQUIRE(alive);  // detached, not killed
    REQUIRE(st.find("TracerPid:\t0\n") != std::string::npos);
}

TEST_CASE("the traced command's exit status is hsbox trace's exit status") {
    REQUIRE(sh("'" + hsbox_bin() + "' trace -o /dev/null -- sh -c 'exit 3'") == 3);
}

TEST_CASE("hsbox trace: bad arguments give a one-line error and a non-zero exit") {
    TempDir t;
    std::string err = t.path + "/err";
    REQUIRE(sh("'" + hsbox_bin() + "' trace -e trace=nosuchcall -- true 2> '" + err + "'") == 2);
    REQUIRE(slurp(err).find("unknown syscall 'nosuchcall'") != std::string::npos);
    REQUIRE(sh("'" + hsbox_bin() + "' trace -- /nonexistent/cmd 2> '" + err + "'") == 127);
    REQUIRE(slurp(err).find("/nonexistent/cmd") != std::string::npos);
    REQUIRE(sh("'" + hsbox_bin() + "' trace 2> '" + err + "'") == 2);
    REQUIRE(sh("'" + hsbox_bin() + "' trace -o /nonexistent-dir/x -- true 2> '" + err + "'") == 1);
    REQUIRE(slurp(err).find("/nonexistent-dir/x") != std::string::npos);
}
