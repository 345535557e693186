// TraceSession fed by hand, without ptrace: the way the supervisor will feed
// it from its own events. Decoding, filtering, formatting and the sink work
// from SyscallEvents and a MemoryReader alone.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "catch.hpp"
#include "hsbox/tracer/session.hpp"

using namespace hsbox::tracer;

namespace {

std::string read_all(const std::string& path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

struct TempFile {
    std::string path;
    TempFile() {
        const char* tmp = getenv("TMPDIR");
        path = std::string(tmp && *tmp ? tmp : "/tmp") + "/hsbox-session-XXXXXX";
        int fd = mkstemp(path.data());
        REQUIRE(fd >= 0);
        close(fd);
    }
    ~TempFile() { unlink(path.c_str()); }
};

SyscallEvent openat_event(pid_t tid, uint64_t path_addr) {
    SyscallEvent ev;
    ev.pid = 100;
    ev.tid = tid;
    ev.nr = SYS_openat;
    ev.args = {static_cast<uint64_t>(AT_FDCWD), path_addr, O_RDONLY | O_CLOEXEC, 0};
    return ev;
}

}  // namespace

TEST_CASE("a session fed by hand writes strace lines for the selected calls only") {
    TempFile out;
    auto sink = LineSink::to_path(out.path, 1 << 20, format_dropped_text);
    REQUIRE(sink.ok());
    SessionOptions so;
    so.prefix = PidPrefix::Column;
    so.filter = SyscallFilter::parse("%file").value();
    TraceSession session(so, *sink.value());
    RecordedMemory mem;
    uint64_t p = mem.add(0x1000, std::string("/etc/hosts\0", 11));

    // Two threads interleave.
    SyscallEvent a = openat_event(101, p), b = openat_event(102, p);
    session.on_syscall_entry(a, mem);
    session.on_syscall_entry(b, mem);
    SyscallEvent close_ev;
    close_ev.pid = close_ev.tid = 100;
    close_ev.nr = SYS_close;
    close_ev.args = {3};
    session.on_syscall_entry(close_ev, mem);  // not selected by %file
    close_ev.returned = true;
    session.on_syscall_exit(close_ev, mem);
    b.ret = -ENOENT;
    b.returned = true;
    session.on_syscall_exit(b, mem);
    a.ret = 3;
    a.returned = true;
    session.on_syscall_exit(a, mem);
    session.on_thread_exit(100, 100, 0);
    sink.value()->close(std::chrono::milliseconds(10000));

    std::string text = read_all(out.path);
    // As strace: each call's head is written at entry; a head another line
    // interrupts ends with <unfinished ...> and its call is resumed at exit.
    REQUIRE(text ==
            "101   openat(AT_FDCWD, \"/etc/hosts\", O_RDONLY|O_CLOEXEC <unfinished ...>\n"
            "102   openat(AT_FDCWD, \"/etc/hosts\", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)\n"
            "101   <... openat resumed>)             = 3\n"
            "100   +++ exited with 0 +++\n");
    REQUIRE(session.calls() == 2);
}

TEST_CASE("a call whose thread dies inside it is written with = ? and null results in JSON") {
    TempFile out;
    auto sink = LineSink::to_path(out.path, 1 << 20, format_dropped_text);
    REQUIRE(sink.ok());
    SessionOptions so;
    so.format = OutputFormat::Json;
    TraceSession session(so, *sink.value());
    RecordedMemory mem;
    SyscallEvent ev;
    ev.pid = ev.tid = 7;
    ev.nr = SYS_exit_group;
    ev.args = {2};
    session.on_syscall_entry(ev, mem);
    session.on_syscall_exit(ev, mem);  // returned == false: the process ended inside
    session.on_thread_exit(7, 7, 2 << 8);
    sink.value()->close(std::chrono::milliseconds(10000));
    std::string text = read_all(out.path);
    REQUIRE(text.find("\"syscall\":\"exit_group\"") != std::string::npos);
    REQUIRE(text.find("\"args\":[{\"kind\":\"int\",\"value\":2,\"text\":\"2\"}],\"return\":null,\"errno\":null,\"duration\":null}") !=
            std::string::npos);
    REQUIRE(text.find("{\"type\":\"exit\",") != std::string::npos);
    REQUIRE(text.find("\"status\":2}") != std::string::npos);
}
