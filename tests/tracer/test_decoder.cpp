// Decoder unit tests on recorded inputs: raw arguments plus the bytes the
// call pointed at, as captured from real programs. No live process.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <cstring>
#include <random>
#include <regex>
#include <string>

#include "catch.hpp"
#include "hsbox/tracer/decoder.hpp"
#include "hsbox/tracer/format.hpp"

using namespace hsbox;
using namespace hsbox::tracer;

namespace {

template <typename T>
std::string bytes_of(const T& v) {
    return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}

std::string cstr(const char* s) { return std::string(s, std::strlen(s) + 1); }

// Decodes a call that returned `ret` and returns its text line without the
// column padding strace puts before " = ".
std::string decode(RecordedMemory& mem, int nr, std::array<uint64_t, 6> args, int64_t ret,
                   bool returned = true, DecodedCall* out = nullptr) {
    SyscallEvent ev;
    ev.pid = ev.tid = 100;
    ev.nr = nr;
    ev.args = args;
    Decoder d;
    DecodedCall call;
    d.decode_entry(ev, mem, call);
    ev.ret = ret;
    ev.returned = returned;
    d.decode_exit(ev, mem, call);
    std::string line = format_text(ev, call, PidPrefix::None);
    line.pop_back();  // '\n'
    line = std::regex_replace(line, std::regex("\\) +="), ") =", std::regex_constants::format_first_only);
    if (out) *out = call;
    return line;
}

}  // namespace

TEST_CASE("openat prints the dirfd, the path and the open flags") {
    RecordedMemory mem;
    uint64_t p = mem.add(0x1000, cstr("/etc/ld.so.cache"));
    REQUIRE(decode(mem, SYS_openat, {static_cast<uint64_t>(AT_FDCWD), p, O_RDONLY | O_CLOEXEC, 0}, 3) ==
            "openat(AT_FDCWD, \"/etc/ld.so.cache\", O_RDONLY|O_CLOEXEC) = 3");
}

TEST_CASE("a failed call prints -1, the errno name and its message") {
    RecordedMemory mem;
    uint64_t p = mem.add(0x1000, cstr("/nonexistent"));
    REQUIRE(decode(mem, SYS_openat, {static_cast<uint64_t>(AT_FDCWD), p, O_RDONLY, 0}, -ENOENT) ==
            "openat(AT_FDCWD, \"/nonexistent\", O_RDONLY) = -1 ENOENT (No such file or directory)");
    REQUIRE(decode(mem, SYS_access, {p, R_OK}, -EACCES) ==
            "access(\"/nonexistent\", R_OK) = -1 EACCES (Permission denied)");
}

TEST_CASE("open with O_CREAT prints the mode in octal") {
    RecordedMemory mem;
    uint64_t p = mem.add(0x1000, cstr("out.txt"));
    REQUIRE(decode(mem, SYS_openat, {static_cast<uint64_t>(AT_FDCWD), p, O_WRONLY | O_CREAT | O_TRUNC, 0644}, 4) ==
            "openat(AT_FDCWD, \"out.txt\", O_WRONLY|O_CREAT|O_TRUNC, 0644) = 4");
}

TEST_CASE("read prints the filled buffer bounded to 32 bytes with strace escapes") {
    RecordedMemory mem;
    std::string elf("\177ELF\2\1\1\3\0\0\0\0\0\0\0\0\3\0>\0\1\0\0\0\020t\2\0\0\0\0\0MORE", 36);
    uint64_t b = mem.add(0x2000, elf + std::string(832 - elf.size(), 'x'));
    REQUIRE(decode(mem, SYS_read, {3, b, 832}, 832) ==
            "read(3, \"\\177ELF\\2\\1\\1\\3\\0\\0\\0\\0\\0\\0\\0\\0\\3\\0>\\0\\1\\0\\0\\0\\20t\\2\\0\\0\\0\\0\\0\"..., 832) = 832");
    // A failed read prints the buffer address, not its contents.
    REQUIRE(decode(mem, SYS_read, {3, b, 832}, -EBADF) == "read(3, 0x2000, 832) = -1 EBADF (Bad file descriptor)");
}

TEST_CASE("octal escapes use three digits only before a digit") {
    REQUIRE(quote_string(std::string("\0" "1\0a\n\"\\", 7), false) == "\"\\0001\\0a\\n\\\"\\\\\"");
    REQUIRE(quote_string("abc", true) == "\"abc\"...");
    REQUIRE(quote_string("\x80\xff", false) == "\"\\200\\377\"");
}

TEST_CASE("write prints the bytes given, up to the string limit") {
    RecordedMemory mem;
    uint64_t b = mem.add(0x3000, "hello\n");
    REQUIRE(decode(mem, SYS_write, {1, b, 6}, 6) == "write(1, \"hello\\n\", 6) = 6");
}

TEST_CASE("connect decodes IPv4, IPv6 and Unix socket addresses") {
    RecordedMemory mem;
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(8080);
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    uint64_t a = mem.add(0x4000, bytes_of(in));
    REQUIRE(decode(mem, SYS_connect, {3, a, sizeof in}, -ECONNREFUSED) ==
            "connect(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"127.0.0.1\")}, 16) = "
            "-1 ECONNREFUSED (Connection refused)");
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(443);
    inet_pton(AF_INET6, "::1", &in6.sin6_addr);
    uint64_t a6 = mem.add(0x5000, bytes_of(in6));
    REQUIRE(decode(mem, SYS_connect, {3, a6, sizeof in6}, 0) ==
            "connect(3, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), "
            "inet_pton(AF_INET6, \"::1\", &sin6_addr), sin6_scope_id=0}, 28) = 0");
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::strcpy(un.sun_path, "/run/nscd/socket");
    uint64_t au = mem.add(0x6000, bytes_of(un));
    REQUIRE(decode(mem, SYS_connect, {4, au, 110}, -ENOENT) ==
            "connect(4, {sa_family=AF_UNIX, sun_path=\"/run/nscd/socket\"}, 110) = -1 ENOENT (No such file or directory)");
}

TEST_CASE("accept4 prints the peer address and the address length before and after") {
    RecordedMemory mem;
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(40000);
    inet_pton(AF_INET, "10.0.0.2", &in.sin_addr);
    uint64_t a = mem.add(0x4000, bytes_of(in));
    uint32_t len_before = 128;
    uint64_t l = mem.add(0x4100, bytes_of(len_before));
    SyscallEvent ev;
    ev.nr = SYS_accept4;
    ev.args = {3, a, l, SOCK_CLOEXEC};
    Decoder d;
    DecodedCall call;
    d.decode_entry(ev, mem, call);
    uint32_t len_after = 16;
    mem.add(0x4100, bytes_of(len_after));  // the kernel wrote the real length
    ev.ret = 5;
    ev.returned = true;
    d.decode_exit(ev, mem, call);
    REQUIRE(call.args[1].text == "{sa_family=AF_INET, sin_port=htons(40000), sin_addr=inet_addr(\"10.0.0.2\")}");
    REQUIRE(call.args[2].text == "[128 => 16]");
    REQUIRE(call.args[3].text == "SOCK_CLOEXEC");
    REQUIRE(call.ret_text == "5");
}

TEST_CASE("newfstatat prints a stat summary and AT_ flags") {
    RecordedMemory mem;
    struct stat st{};
    st.st_mode = S_IFREG | 0644;
    st.st_size = 46199;
    uint64_t path = mem.add(0x1000, cstr(""));
    uint64_t sb = mem.add(0x7000, bytes_of(st));
    REQUIRE(decode(mem, SYS_newfstatat, {3, path, sb, AT_EMPTY_PATH}, 0) ==
            "newfstatat(3, \"\", {st_mode=S_IFREG|0644, st_size=46199, ...}, AT_EMPTY_PATH) = 0");
}

TEST_CASE("mmap prints protections and map flags, and its result in hex") {
    RecordedMemory mem;
    REQUIRE(decode(mem, SYS_mmap, {0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, static_cast<uint64_t>(-1), 0},
                   0x7f59526a2000) ==
            "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f59526a2000");
    REQUIRE(decode(mem, SYS_mprotect, {0x7f5952683000, 16384, PROT_NONE}, 0) ==
            "mprotect(0x7f5952683000, 16384, PROT_NONE) = 0");
}

TEST_CASE("clone prints its fields by name with the flags and exit signal") {
    RecordedMemory mem;
    uint64_t flags = CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID | SIGCHLD;
    REQUIRE(decode(mem, SYS_clone, {flags, 0, 0, 0x7f0000000a10, 0}, 1234) ==
            "clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, "
            "child_tidptr=0x7f0000000a10) = 1234");
}

TEST_CASE("signal masks and actions are printed as strace does") {
    RecordedMemory mem;
    uint64_t set = (1ULL << (SIGCHLD - 1)) | (1ULL << (SIGINT - 1));
    uint64_t s = mem.add(0x8000, bytes_of(set));
    uint64_t empty = 0;
    uint64_t o = mem.add(0x8100, bytes_of(empty));
    REQUIRE(decode(mem, SYS_rt_sigprocmask, {SIG_BLOCK, s, o, 8}, 0) ==
            "rt_sigprocmask(SIG_BLOCK, [INT CHLD], [], 8) = 0");
    uint64_t full = ~0ULL & ~(1ULL << (SIGKILL - 1));
    uint64_t f = mem.add(0x8200, bytes_of(full));
    REQUIRE(decode(mem, SYS_rt_sigprocmask, {SIG_SETMASK, f, 0, 8}, 0) ==
            "rt_sigprocmask(SIG_SETMASK, ~[KILL], NULL, 8) = 0");
    uint64_t ksa[4] = {1, 0x04000000, 0x7f00, 0};
    uint64_t a = mem.add(0x8300, std::string(reinterpret_cast<char*>(ksa), sizeof ksa));
    REQUIRE(decode(mem, SYS_rt_sigaction, {SIGPIPE, a, 0, 8}, 0) ==
            "rt_sigaction(SIGPIPE, {sa_handler=SIG_IGN, sa_mask=[], sa_flags=SA_RESTORER, sa_restorer=0x7f00}, NULL, 8) = 0");
}

TEST_CASE("execve prints the path, argv and the size of the environment") {
    RecordedMemory mem;
    uint64_t path = mem.add(0x1000, cstr("/usr/bin/cat"));
    uint64_t a0 = mem.add(0x1100, cstr("cat"));
    uint64_t a1 = mem.add(0x1200, cstr("/etc/hostname"));
    uint64_t argv[3] = {a0, a1, 0};
    uint64_t av = mem.add(0x2000, std::string(reinterpret_cast<char*>(argv), sizeof argv));
    uint64_t envp[3] = {a0, a0, 0};
    uint64_t ev = mem.add(0x3000, std::string(reinterpret_cast<char*>(envp), sizeof envp));
    REQUIRE(decode(mem, SYS_execve, {path, av, ev}, 0) ==
            "execve(\"/usr/bin/cat\", [\"cat\", \"/etc/hostname\"], 0x3000 /* 2 vars */) = 0");
}

TEST_CASE("writev prints each iovec") {
    RecordedMemory mem;
    uint64_t b1 = mem.add(0x1000, "hello");
    uint64_t b2 = mem.add(0x1100, "\n");
    iovec v[2] = {{reinterpret_cast<void*>(b1), 5}, {reinterpret_cast<void*>(b2), 1}};
    uint64_t vs = mem.add(0x2000, std::string(reinterpret_cast<char*>(v), sizeof v));
    REQUIRE(decode(mem, SYS_writev, {1, vs, 2}, 6) ==
            "writev(1, [{iov_base=\"hello\", iov_len=5}, {iov_base=\"\\n\", iov_len=1}], 2) = 6");
}

TEST_CASE("fcntl decodes its third argument and flag results by command") {
    RecordedMemory mem;
    REQUIRE(decode(mem, SYS_fcntl, {3, F_SETFD, FD_CLOEXEC}, 0) == "fcntl(3, F_SETFD, FD_CLOEXEC) = 0");
    REQUIRE(decode(mem, SYS_fcntl, {3, F_GETFD, 0}, 1) == "fcntl(3, F_GETFD) = 0x1 (flags FD_CLOEXEC)");
    REQUIRE(decode(mem, SYS_fcntl, {3, F_GETFL, 0}, O_RDWR | 0100000) ==
            "fcntl(3, F_GETFL) = 0x8002 (flags O_RDWR|O_LARGEFILE)");
}

TEST_CASE("futex prints the arguments its operation uses") {
    RecordedMemory mem;
    REQUIRE(decode(mem, SYS_futex, {0x7f00, 129, 2147483647, 0, 3, 0}, 0) ==
            "futex(0x7f00, FUTEX_WAKE_PRIVATE, 2147483647) = 0");
    REQUIRE(decode(mem, SYS_futex, {0x7f00, 128, 2, 0, 0, 0}, -EAGAIN) ==
            "futex(0x7f00, FUTEX_WAIT_PRIVATE, 2, NULL) = -1 EAGAIN (Resource temporarily unavailable)");
}

TEST_CASE("a call that never returns prints ? and a restart code is spelled out") {
    RecordedMemory mem;
    REQUIRE(decode(mem, SYS_exit_group, {0}, 0, false) == "exit_group(0) = ?");
    REQUIRE(decode(mem, SYS_wait4, {static_cast<uint64_t>(-1), 0, 0, 0}, -512) ==
            "wait4(-1, NULL, 0, NULL) = ? ERESTARTSYS (To be restarted if SA_RESTART is set)");
}

TEST_CASE("unreadable memory prints the address instead of the contents") {
    RecordedMemory mem;
    REQUIRE(decode(mem, SYS_openat, {static_cast<uint64_t>(AT_FDCWD), 0xdead0000, O_RDONLY, 0}, -EFAULT) ==
            "openat(AT_FDCWD, 0xdead0000, O_RDONLY) = -1 EFAULT (Bad address)");
}

TEST_CASE("syscalls without arguments print empty parentheses") {
    RecordedMemory mem;
    REQUIRE(decode(mem, SYS_getpid, {}, 42) == "getpid() = 42");
}

TEST_CASE("a number the table lacks gets a syscall_0x name and raw arguments") {
    RecordedMemory mem;
    REQUIRE(decode(mem, 1000, {1, 2, 3, 4, 5, 6}, -ENOSYS) ==
            "syscall_0x3e8(0x1, 0x2, 0x3, 0x4, 0x5, 0x6) = -1 ENOSYS (Function not implemented)");
}

TEST_CASE("every syscall in the table has a name and decodes arbitrary arguments") {
    // Random raw values and memory full of random bytes: the decoder must
    // never crash, and always produce a name and a result.
    std::mt19937_64 rng(42);
    RecordedMemory mem;
    std::string junk(1 << 16, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    mem.add(0x10000, junk);
    for (auto* s = syscall_table_begin(); s != syscall_table_end(); ++s) {
        for (int round = 0; round < 20; ++round) {
            std::array<uint64_t, 6> args;
            for (auto& a : args) a = round % 2 ? 0x10000 + rng() % 0x8000 : rng() % 64;
            DecodedCall call;
            std::string line = decode(mem, s->nr, args, round % 3 ? 0 : -EINVAL, true, &call);
            REQUIRE(call.name == s->name);
            REQUIRE(line.rfind(std::string(s->name) + "(", 0) == 0);
            REQUIRE(!call.ret_text.empty());
        }
    }
}

TEST_CASE("the JSON line carries pid, tid, syscall, structured args, return and errno") {
    RecordedMemory mem;
    uint64_t p = mem.add(0x1000, cstr("/x\"y"));
    SyscallEvent ev;
    ev.pid = 10;
    ev.tid = 11;
    ev.nr = SYS_openat;
    ev.args = {static_cast<uint64_t>(AT_FDCWD), p, O_RDONLY, 0};
    ev.entry_time = {1700000000, 500000000};
    ev.exit_time = {1700000000, 500250000};
    Decoder d;
    DecodedCall call;
    d.decode_entry(ev, mem, call);
    ev.ret = -ENOENT;
    ev.returned = true;
    d.decode_exit(ev, mem, call);
    std::string j = format_json(ev, call);
    REQUIRE(j == "{\"type\":\"syscall\",\"time\":1700000000.500000,\"pid\":10,\"tid\":11,\"syscall\":\"openat\",\"nr\":257,"
                 "\"args\":[{\"kind\":\"dirfd\",\"value\":\"AT_FDCWD\",\"text\":\"AT_FDCWD\"},"
                 "{\"kind\":\"path\",\"value\":\"/x\\\"y\",\"text\":\"\\\"/x\\\\\\\"y\\\"\"},"
                 "{\"kind\":\"open_flags\",\"value\":\"O_RDONLY\",\"text\":\"O_RDONLY\"}],"
                 "\"return\":-1,\"errno\":\"ENOENT\",\"duration\":0.000250}\n");
}

TEST_CASE("with -f the text line starts with the thread id as strace prints it") {
    RecordedMemory mem;
    SyscallEvent ev;
    ev.pid = ev.tid = 4242;
    ev.nr = SYS_close;
    ev.args = {3};
    Decoder d;
    DecodedCall call;
    d.decode_entry(ev, mem, call);
    ev.ret = 0;
    ev.returned = true;
    d.decode_exit(ev, mem, call);
    // strace pads to column 40 counting the pid prefix.
    REQUIRE(format_text(ev, call, PidPrefix::Column) == "4242  close(3)" + std::string(25, ' ') + " = 0\n");
    REQUIRE(format_text(ev, call, PidPrefix::Bracket).rfind("[pid  4242] close(3)", 0) == 0);
}

TEST_CASE("signal and exit lines are spelled as strace spells them") {
    siginfo_t si{};
    si.si_signo = SIGCHLD;
    si.si_code = CLD_EXITED;
    si.si_pid = 77;
    si.si_uid = 0;
    si.si_status = 3;
    REQUIRE(format_signal_text(5, si, PidPrefix::None) ==
            "--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=77, si_uid=0, si_status=3, si_utime=0, "
            "si_stime=0} ---\n");
    siginfo_t segv{};
    segv.si_signo = SIGSEGV;
    segv.si_code = SEGV_MAPERR;
    REQUIRE(format_signal_text(5, segv, PidPrefix::Column) ==
            "5     --- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---\n");
    REQUIRE(format_exit_text(5, 3 << 8, PidPrefix::None) == "+++ exited with 3 +++\n");
    REQUIRE(format_exit_text(5, SIGKILL, PidPrefix::None) == "+++ killed by SIGKILL +++\n");
}

TEST_CASE("a call is split as strace splits it: entry arguments, then the rest at exit") {
    RecordedMemory mem;
    uint64_t b = mem.add(0x2000, "abc");
    SyscallEvent ev;
    ev.pid = ev.tid = 9;
    ev.nr = SYS_read;
    ev.args = {3, b, 10};
    Decoder d;
    DecodedCall call;
    d.decode_entry(ev, mem, call);
    std::string head = format_text_head(ev, call, PidPrefix::Column);
    REQUIRE(head == "9     read(3, ");
    ev.ret = 3;
    ev.returned = true;
    d.decode_exit(ev, mem, call);
    REQUIRE(head + format_text_tail(call, head.size()) == format_text(ev, call, PidPrefix::Column));
    REQUIRE(format_text_resumed(ev, call, PidPrefix::Column) == "9     <... read resumed>\"abc\", 10)      = 3\n");
    // A call whose arguments are all known at entry resumes with just the result.
    SyscallEvent c;
    c.pid = c.tid = 9;
    c.nr = SYS_close;
    c.args = {4};
    DecodedCall cc;
    d.decode_entry(c, mem, cc);
    REQUIRE(format_text_head(c, cc, PidPrefix::Column) == "9     close(4");
    c.returned = true;
    d.decode_exit(c, mem, cc);
    REQUIRE(format_text_resumed(c, cc, PidPrefix::Column).rfind("9     <... close resumed>)", 0) == 0);
}

TEST_CASE("getsockopt prints the value and length the kernel returned") {
    RecordedMemory mem;
    int32_t one = 1;
    uint32_t four = 4;
    uint64_t val = mem.add(0x1000, bytes_of(one));
    uint64_t len = mem.add(0x1100, bytes_of(four));
    REQUIRE(decode(mem, SYS_getsockopt, {9, IPPROTO_TCP, 1 /* TCP_NODELAY */, val, len}, 0) ==
            "getsockopt(9, SOL_TCP, TCP_NODELAY, [1], [4]) = 0");
    REQUIRE(decode(mem, SYS_setsockopt, {3, SOL_SOCKET, SO_REUSEADDR, val, 4}, 0) ==
            "setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0");
}

TEST_CASE("select prints fd sets at entry and the ready ones after the result") {
    RecordedMemory mem;
    uint64_t in = (1u << 3) | (1u << 5);
    uint64_t rin = mem.add(0x1000, bytes_of(in));
    timespec ts{1, 0};
    uint64_t t = mem.add(0x2000, bytes_of(ts));
    SyscallEvent ev;
    ev.nr = SYS_pselect6;
    ev.args = {6, rin, 0, 0, t, 0};
    Decoder d;
    DecodedCall call;
    d.decode_entry(ev, mem, call);
    REQUIRE(call.args[1].text == "[3 5]");
    uint64_t ready = 1u << 5;
    mem.add(0x1000, bytes_of(ready));  // the kernel leaves only the ready fds
    timespec left{0, 500};
    mem.add(0x2000, bytes_of(left));
    ev.ret = 1;
    ev.returned = true;
    d.decode_exit(ev, mem, call);
    REQUIRE(format_text(ev, call, PidPrefix::None) ==
            "pselect6(6, [3 5], NULL, NULL, {tv_sec=1, tv_nsec=0}, NULL) = 1 (in [5], left {tv_sec=0, tv_nsec=500})\n");
}
