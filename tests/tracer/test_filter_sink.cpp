// SyscallFilter parsing and the LineSink's bounded, never-blocking buffer.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "catch.hpp"
#include "hsbox/tracer/filter.hpp"
#include "hsbox/tracer/sink.hpp"
#include "hsbox/tracer/ptrace_source.hpp"

using namespace hsbox::tracer;

TEST_CASE("a syscall name list selects exactly those syscalls") {
    auto f = SyscallFilter::parse("trace=openat,close");
    REQUIRE(f.ok());
    REQUIRE(f->selected(SYS_openat));
    REQUIRE(f->selected(SYS_close));
    REQUIRE_FALSE(f->selected(SYS_read));
    REQUIRE(f->numbers() == std::vector<int>{SYS_close, SYS_openat});
}

TEST_CASE("classes come from the table: %file is every call with a path argument") {
    auto f = SyscallFilter::parse("%file");
    REQUIRE(f.ok());
    for (int nr : {SYS_open, SYS_openat, SYS_execve, SYS_newfstatat, SYS_unlink, SYS_statx, SYS_inotify_add_watch})
        REQUIRE(f->selected(nr));
    for (int nr : {SYS_read, SYS_close, SYS_socket, SYS_mmap}) REQUIRE_FALSE(f->selected(nr));
    auto n = SyscallFilter::parse("network");
    REQUIRE(n.ok());
    REQUIRE(n->selected(SYS_accept4));
    REQUIRE(n->selected(SYS_sendto));
    REQUIRE_FALSE(n->selected(SYS_write));
    auto fam = SyscallFilter::parse("@Memory");
    REQUIRE(fam.ok());
    REQUIRE(fam->selected(SYS_mmap));
}

TEST_CASE("a negated syscall set selects everything else") {
    auto f = SyscallFilter::parse("!write");
    REQUIRE(f.ok());
    REQUIRE_FALSE(f->selected(SYS_write));
    REQUIRE(f->selected(SYS_read));
    REQUIRE(f->selected(1000));  // numbers outside the table too
}

TEST_CASE("unknown names and classes are errors naming them") {
    auto f = SyscallFilter::parse("openat,nosuch");
    REQUIRE_FALSE(f.ok());
    REQUIRE(f.error().context.find("nosuch") != std::string::npos);
    REQUIRE_FALSE(SyscallFilter::parse("%nosuchclass").ok());
    REQUIRE_FALSE(SyscallFilter::parse("").ok());
    REQUIRE_FALSE(SyscallFilter::parse("a,,b").ok());
}

TEST_CASE("the seccomp program traces the selected numbers and allows the rest") {
    auto p = seccomp_trace_program({SYS_openat, SYS_close});
    // arch check (3), load nr (1), two per syscall, final allow.
    REQUIRE(p.size() == 3 + 1 + 2 * 2 + 1);
    REQUIRE(p[4].k == SYS_openat);
    REQUIRE(p[6].k == SYS_close);
}

TEST_CASE("a full buffer drops and counts lines instead of waiting for the reader") {
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    // Nobody reads fds[0]: once the pipe is full the writer thread blocks forever.
    auto sink = LineSink::to_fd(fds[1], 4096, [](uint64_t n) { return "dropped " + std::to_string(n) + "\n"; });
    REQUIRE(sink.ok());
    std::string line(100, 'x');
    line += '\n';
    uint64_t accepted = 0, refused = 0;
    for (int i = 0; i < 5000; ++i) (sink.value()->push(line) ? accepted : refused)++;
    REQUIRE(refused > 0);  // 500 KB pushed into 64 KB of pipe plus 4 KB of buffer
    SinkStats st = sink.value()->close(std::chrono::milliseconds(0));
    REQUIRE(st.lines == accepted);
    REQUIRE(st.dropped >= refused);
    REQUIRE(st.written < 5000);
    close(fds[0]);
    close(fds[1]);
}

TEST_CASE("after drops the stream carries a notice with the count") {
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
    // Fill the pipe first so the writer's first write blocks.
    std::string junk(4096, 'j');
    size_t prefill = 0;
    for (;;) {
        ssize_t n = write(fds[1], junk.data(), junk.size());
        if (n <= 0) break;
        prefill += static_cast<size_t>(n);
    }
    int fl = fcntl(fds[1], F_GETFL);
    fcntl(fds[1], F_SETFL, fl & ~O_NONBLOCK);  // the writer thread writes blocking
    auto sink = LineSink::to_fd(fds[1], 64, [](uint64_t n) { return "dropped " + std::to_string(n) + "\n"; });
    REQUIRE(sink.ok());
    int refused = 0;
    for (int i = 0; i < 100; ++i) refused += !sink.value()->push("0123456789012345678901234567890\n");
    REQUIRE(refused >= 100 - 3);  // 64 bytes of buffer plus at most one batch in flight
    // Now read everything: the writer unblocks, then reports the gap.
    std::string all;
    char buf[65536];
    auto reader = std::thread([&] {
        fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) & ~O_NONBLOCK);
        ssize_t n;
        while ((n = read(fds[0], buf, sizeof buf)) > 0) all.append(buf, n);
    });
    // Room frees up as soon as the writer's blocked batch is through.
    bool pushed = false;
    for (int i = 0; i < 1000 && !pushed; ++i) {
        pushed = sink.value()->push("after the gap\n");
        if (!pushed) {
            ++refused;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    SinkStats st = sink.value()->close(std::chrono::milliseconds(10000));
    close(fds[1]);
    reader.join();
    close(fds[0]);
    REQUIRE(pushed);
    REQUIRE(st.dropped == static_cast<uint64_t>(refused));
    REQUIRE(all.size() > prefill);
    std::string tail = all.substr(prefill);
    INFO(tail);
    REQUIRE(tail.find("dropped ") != std::string::npos);
    REQUIRE(tail.find("after the gap\n") != std::string::npos);
}
