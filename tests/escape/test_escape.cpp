// Escape tests: every hostile program in progs/ is run confined by the real
// hsbox binary in a populated root, and must exit 0 (the invariant held).
//
// Layout of one sandbox (T is a fresh temp dir):
//   T/root      the space's root (R): the program as /prog, /tmp, symlinks
//               that lead out, a hidden dir (/hidden, passed with --hide)
//   T/outside   the outside: "secret" holding a random token, "evil" (a
//               program exiting 42). A sibling of R, so "../outside" from R's
//               host directory is a real way out.
// Every program gets the facts it must not reach in ESC_* variables.
#include <fcntl.h>
#include <mqueue.h>
#include <pty.h>
#include <termios.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <poll.h>

#include <cstring>
#include <random>
#include <thread>

#include "catch.hpp"
#include "harness.hpp"
#include "hsbox/fd.hpp"

using namespace hsbox::test;
using hsbox::Fd;

namespace {

std::string prog_path(const std::string& name) { return std::string(HSBOX_ESCAPE_PROG_DIR) + "/" + name; }

struct Sandbox {
    std::string t = make_temp("escape");
    std::string root = t + "/root";
    std::string outside = t + "/outside";
    std::string token = random_token();
    struct stat secret_st {}, outside_st {};
    Bystander bystander;

    explicit Sandbox(const std::string& prog) {
        ::mkdir(root.c_str(), 0755);
        ::mkdir(outside.c_str(), 0755);
        put(outside + "/secret", token + "\n");
        copy_file(prog_path("evil"), outside + "/evil", 0755);
        ::stat((outside + "/secret").c_str(), &secret_st);
        ::stat(outside.c_str(), &outside_st);

        put(root + "/.hsbox-escape-root", "");  // the programs refuse to run without it
        copy_file(prog_path(prog), root + "/prog", 0755);
        copy_file(prog_path("good"), root + "/good", 0755);
        ::mkdir((root + "/tmp").c_str(), 01777);
        ::chmod((root + "/tmp").c_str(), 01777);
        ::mkdir((root + "/indir").c_str(), 0755);
        ::mkdir((root + "/sock").c_str(), 0777);
        ::chmod((root + "/sock").c_str(), 0777);
        put(root + "/inside_secret", "inside\n");
        ::mkdir((root + "/hidden").c_str(), 0755);
        put(root + "/hidden/secret", token + "\n");

        std::string deep;
        for (int i = 0; i < 16; ++i) deep += "../";
        deep += outside.substr(1);
        link_(outside, "abs_dir");
        link_("../outside", "rel_dir");
        link_(deep, "deep_rel");
        link_("chain2", "chain1");
        link_("rel_dir", "chain2");
        link_(outside + "/secret", "abs_file");
        link_("../outside/secret", "rel_file");
        link_(outside + "/created_by_dangling", "dangling_out");
        link_(outside, "sock_link");
        link_("/hidden", "to_hidden");
        link_("hidden", "to_hidden_rel");
        link_("/hidden/secret", "to_hidden_secret");
        link_("/hidden/new_via_dangling", "to_hidden_new");

        ::mkdir((root + "/race").c_str(), 0777);
        ::mkdir((root + "/race/dir").c_str(), 0777);
        put(root + "/race/dir/secret", "inside\n");
        link_(outside, "race/sym");
        link_("../../outside", "race/relsym");
        link_("../..", "race/upsym");
        for (auto d : {"/race/deep", "/race/deep/a", "/race/deep/a/b", "/race/deep/a/b/c"}) ::mkdir((root + d).c_str(), 0777);
        // The space may run as another user than the files' owner? No: same user.
    }
    ~Sandbox() { remove_tree(t); }

    void link_(const std::string& target, const std::string& name) { ::symlink(target.c_str(), (root + "/" + name).c_str()); }

    std::vector<std::string> env() const {
        return {"ESC_TOKEN=" + token,
                "ESC_OUTSIDE=" + outside,
                "ESC_ROOT=" + root,
                "ESC_OUTSIDE_DEV=" + std::to_string(outside_st.st_dev),
                "ESC_OUTSIDE_INO=" + std::to_string(outside_st.st_ino),
                "ESC_SECRET_DEV=" + std::to_string(secret_st.st_dev),
                "ESC_SECRET_INO=" + std::to_string(secret_st.st_ino),
                "ESC_OUT_PID=" + std::to_string(bystander.pid()),
                "ESC_DRIVER_PID=" + std::to_string(::getpid())};
    }

    // Runs /prog ARGS confined in R (with /hidden hidden). ESC_SUP_PID is the
    // hsbox process itself, which becomes the supervisor.
    RunResult run(const std::vector<std::string>& args = {}, RunOptions opts = {}, std::vector<std::string> flags = {}) {
        auto e = env();
        opts.env.insert(opts.env.end(), e.begin(), e.end());
        opts.pid_env = "ESC_SUP_PID";
        std::vector<std::string> a{"--root", root, "--hide", root + "/hidden"};
        a.insert(a.end(), flags.begin(), flags.end());
        a.push_back("--");
        a.push_back("/prog");
        a.insert(a.end(), args.begin(), args.end());
        return hsbox_run(a, opts);
    }

    // Nothing new may appear in the outside dir, and the secret is intact.
    void check_outside(std::vector<std::string> expected = {"evil", "secret"}) const {
        std::sort(expected.begin(), expected.end());
        CHECK(list_dir(outside) == expected);
        CHECK(slurp(outside + "/secret") == token + "\n");
        struct stat st;
        REQUIRE(::stat((outside + "/secret").c_str(), &st) == 0);
        CHECK(st.st_nlink == 1);
        CHECK(list_dir(root + "/hidden") == std::vector<std::string>{"secret"});
    }
};

std::string describe(const RunResult& r) {
    return "exit " + std::to_string(r.code) + (r.timed_out ? " (timed out)" : "") + "\nstdout:\n" + r.out +
           "stderr:\n" + r.err;
}

// Runs one program with no extra setup; asserts it held and nothing leaked.
void simple(const std::string& prog, const std::vector<std::string>& args = {}) {
    Sandbox s(prog);
    auto r = s.run(args);
    INFO(describe(r));
    CHECK_FALSE(r.timed_out);
    CHECK(r.code == 0);
    CHECK(r.err.find("ESCAPE") == std::string::npos);
    s.check_outside();
    CHECK(s.bystander.alive());
}

}  // namespace

TEST_CASE("escape: .. past the root", "[escape]") { simple("dotdot"); }

TEST_CASE("escape: absolute and relative symlinks out", "[escape]") { simple("symlinks"); }

TEST_CASE("escape: /proc/self/root, cwd and fd magic links", "[escape]") { simple("procmagic"); }

TEST_CASE("escape: path buffer rewritten during open", "[escape][race]") { simple("race_path", {"open", "1"}); }
TEST_CASE("escape: path buffer rewritten during stat", "[escape][race]") { simple("race_path", {"stat", "1"}); }
TEST_CASE("escape: path buffer rewritten during chdir", "[escape][race]") { simple("race_path", {"chdir", "1"}); }
TEST_CASE("escape: path buffer rewritten during execve", "[escape][race]") { simple("race_path", {"execve", "1"}); }
TEST_CASE("escape: path buffer rewritten during execve by a CLONE_VM process", "[escape][race]") {
    simple("race_path", {"execve-vm", "1"});
}

TEST_CASE("escape: nested filter returning SECCOMP_RET_TRACE", "[escape]") { simple("nested_trace"); }

TEST_CASE("escape: descriptors from before confinement are closed", "[escape]") {
    Sandbox s("dirfd");
    Fd a(::open(s.outside.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    Fd b(::open(s.outside.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    Fd c(::open((s.outside + "/secret").c_str(), O_RDONLY | O_CLOEXEC));
    RunOptions o;
    o.extra_fds = {{a.get(), 3}, {b.get(), 7}, {c.get(), 100}, {a.get(), 255}};
    auto r = s.run({"fds"}, o);
    INFO(describe(r));
    CHECK(r.code == 0);
    CHECK(r.err.find("ESCAPE") == std::string::npos);
}

TEST_CASE("escape: a directory on stdin is refused", "[escape]") {
    Sandbox s("dirfd");
    for (int flags : {O_RDONLY | O_DIRECTORY, O_PATH | O_DIRECTORY}) {
        Fd dir(::open(s.outside.c_str(), flags | O_CLOEXEC));
        REQUIRE(dir);
        RunOptions o;
        o.stdin_fd = dir.get();
        auto r = s.run({"stdin"}, o);
        INFO(describe(r));
        // The supervisor refuses to start: the program never runs.
        CHECK(r.code != 0);
        CHECK(r.out.find("held") == std::string::npos);
        CHECK(r.err.find("directory") != std::string::npos);
        CHECK(r.err.find("ESCAPE") == std::string::npos);
    }
    // And stdout/stderr too.
    Fd dir(::open(s.outside.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    RunOptions o;
    o.extra_fds = {{dir.get(), 1}};
    auto r = s.run({"stdin"}, o);
    INFO(describe(r));
    CHECK(r.code != 0);
    CHECK(r.err.find("directory") != std::string::npos);
}

TEST_CASE("escape: renames racing a lookup", "[escape][race]") { simple("rename_race", {"1"}); }

TEST_CASE("escape: hard links to a file outside the root", "[escape]") { simple("hardlink"); }

TEST_CASE("escape: unix sockets by path", "[escape]") {
    Sandbox s("unix_path");
    auto listen_at = [](const std::string& path, int type) {
        Fd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
        REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        if (type == SOCK_STREAM) REQUIRE(::listen(fd.get(), 16) == 0);
        ::chmod(path.c_str(), 0777);
        return fd;
    };
    Fd stream = listen_at(s.root + "/sock/outer.sock", SOCK_STREAM);
    Fd dgram = listen_at(s.root + "/sock/outer.dgram", SOCK_DGRAM);
    Fd stream2 = listen_at(s.outside + "/outer.sock", SOCK_STREAM);
    auto r = s.run();
    INFO(describe(r));
    CHECK(r.code == 0);
    CHECK(r.err.find("ESCAPE") == std::string::npos);
    // Nothing reached the outside sockets.
    CHECK(::accept4(stream.get(), nullptr, nullptr, SOCK_CLOEXEC) < 0);
    CHECK(errno == EAGAIN);
    CHECK(::accept4(stream2.get(), nullptr, nullptr, SOCK_CLOEXEC) < 0);
    char buf[16];
    CHECK(::recv(dgram.get(), buf, sizeof buf, MSG_DONTWAIT) < 0);
    s.check_outside({"evil", "outer.sock", "secret"});

    SECTION("a socket shared with --share-socket is reachable") {
        // The control: the same connect works once the socket is shared, so
        // the refusal above is the space's rule, not a broken setup.
        Sandbox s2("unix_path");
        Fd shared = listen_at(s2.root + "/sock/outer.sock", SOCK_STREAM);
        Fd dg = listen_at(s2.root + "/sock/outer.dgram", SOCK_DGRAM);
        auto r2 = s2.run({}, {}, {"--share-socket", s2.root + "/sock/outer.sock"});
        INFO(describe(r2));
        CHECK(r2.code != 0);
        CHECK(r2.err.find("ESCAPE: connect(/sock/outer.sock)") != std::string::npos);
        CHECK(::accept4(shared.get(), nullptr, nullptr, SOCK_CLOEXEC) >= 0);
    }
}

TEST_CASE("escape: a dirfd passed in over a shared socket", "[escape]") {
    Sandbox s("passed_fd");
    std::string path = s.root + "/sock/share.sock";
    Fd srv(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    REQUIRE(::bind(srv.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(srv.get(), 1) == 0);
    ::chmod(path.c_str(), 0777);
    Fd dir(::open(s.outside.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(dir);
    // Hand the outside dir to the first connection (bounded wait).
    bool sent = false;
    std::thread server([&] {
        pollfd p{srv.get(), POLLIN, 0};
        if (::poll(&p, 1, 30000) != 1) return;
        Fd c(::accept4(srv.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (!c) return;
        char byte = 'd';
        char ctl[CMSG_SPACE(sizeof(int))] = {};
        iovec iov{&byte, 1};
        msghdr mh{};
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctl;
        mh.msg_controllen = sizeof ctl;
        cmsghdr* cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        int d = dir.get();
        std::memcpy(CMSG_DATA(cm), &d, sizeof d);
        sent = ::sendmsg(c.get(), &mh, 0) == 1;
        // Keep the connection until the program is done with it.
        pollfd q{c.get(), POLLIN, 0};
        ::poll(&q, 1, 60000);
    });
    auto r = s.run({}, {}, {"--share-socket", path});
    INFO(describe(r));
    server.join();
    CHECK(sent);
    CHECK(r.code == 0);
    CHECK(r.err.find("ESCAPE") == std::string::npos);
    s.check_outside();
}

TEST_CASE("escape: abstract unix sockets", "[escape]") {
    Sandbox s("abstract");
    std::string name = "hsbox-esc-" + s.token;
    auto addr = [](const std::string& n, sockaddr_un& a) {
        a = {};
        a.sun_family = AF_UNIX;
        std::memcpy(a.sun_path + 1, n.data(), n.size());
        return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n.size());
    };
    sockaddr_un a;
    socklen_t len = addr(name, a);
    Fd srv(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    REQUIRE(::bind(srv.get(), reinterpret_cast<sockaddr*>(&a), len) == 0);
    REQUIRE(::listen(srv.get(), 8) == 0);
    Fd dsrv(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    int outside_connect = 0, outside_errno = 0;
    bool probed = false;
    RunOptions o;
    o.pipe_stdin = true;
    o.env = {"ESC_ABSTRACT=" + name};
    o.on_output = [&](const std::string& out, int in_w) {
        if (probed || out.find("bound\n") == std::string::npos) return;
        probed = true;
        sockaddr_un ia;
        socklen_t ilen = addr(name + "-in", ia);
        Fd c(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        outside_connect = ::connect(c.get(), reinterpret_cast<sockaddr*>(&ia), ilen);
        outside_errno = errno;
        if (::write(in_w, "done\n", 5) != 5) outside_connect = -2;
    };
    auto r = s.run({}, o);
    INFO(describe(r));
    CHECK(probed);
    CHECK(outside_connect == -1);
    CHECK(outside_errno == ECONNREFUSED);
    CHECK(r.code == 0);
    CHECK(r.err.find("ESCAPE") == std::string::npos);
    CHECK(::accept4(srv.get(), nullptr, nullptr, SOCK_CLOEXEC) < 0);
}

TEST_CASE("escape: io_uring is refused", "[escape]") { simple("io_uring"); }

TEST_CASE("escape: x32 system call numbers", "[escape]") { simple("x32"); }

TEST_CASE("escape: int 0x80 i386 system calls", "[escape]") { simple("int80"); }

TEST_CASE("escape: signalling the supervisor and outside processes", "[escape]") {
    Sandbox s("signal");
    auto r = s.run();
    INFO(describe(r));
    CHECK(r.code == 0);
    CHECK(r.err.find("ESCAPE") == std::string::npos);
    CHECK(s.bystander.alive());
}

TEST_CASE("escape: ptrace of the supervisor and outside processes", "[escape]") { simple("ptrace"); }

TEST_CASE("escape: reading another process's memory", "[escape]") { simple("vmread"); }

TEST_CASE("escape: /proc shows only the space's processes", "[escape]") { simple("proclist"); }

TEST_CASE("escape: SysV objects created outside", "[escape]") {
    Sandbox s("sysv");
    std::random_device rd;
    key_t shm_key = static_cast<key_t>(0x4800000 | (rd() & 0xfffff)), msg_key = shm_key + 1, sem_key = shm_key + 2;
    int shm = ::shmget(shm_key, 4096, IPC_CREAT | IPC_EXCL | 0600);
    REQUIRE(shm >= 0);
    int msg = ::msgget(msg_key, IPC_CREAT | IPC_EXCL | 0600);
    int sem = ::semget(sem_key, 1, IPC_CREAT | IPC_EXCL | 0600);
    void* p = ::shmat(shm, nullptr, 0);
    REQUIRE(p != reinterpret_cast<void*>(-1));
    std::strcpy(static_cast<char*>(p), s.token.c_str());
    ::shmdt(p);
    struct {
        long type;
        char text[64];
    } m{1, {}};
    std::strncpy(m.text, s.token.c_str(), sizeof m.text - 1);
    REQUIRE(msg >= 0);
    REQUIRE(::msgsnd(msg, &m, sizeof m.text, 0) == 0);
    REQUIRE(sem >= 0);
    RunOptions o;
    o.env = {"ESC_SHM_KEY=" + std::to_string(shm_key), "ESC_SHM_ID=" + std::to_string(shm),
             "ESC_MSG_KEY=" + std::to_string(msg_key), "ESC_MSG_ID=" + std::to_string(msg),
             "ESC_SEM_KEY=" + std::to_string(sem_key), "ESC_SEM_ID=" + std::to_string(sem)};
    auto r = s.run({}, o);
    INFO(describe(r));
    CHECK(r.code == 0);
    CHECK(r.err.find("ESCAPE") == std::string::npos);
    // The outside objects are intact.
    shmid_ds ds;
    CHECK(::shmctl(shm, IPC_STAT, &ds) == 0);
    CHECK(ds.shm_nattch == 0);
    msqid_ds mds;
    CHECK(::msgctl(msg, IPC_STAT, &mds) == 0);
    CHECK(mds.msg_qnum == 1);
    CHECK(::semctl(sem, 0, GETVAL) == 0);
    ::shmctl(shm, IPC_RMID, nullptr);
    ::msgctl(msg, IPC_RMID, nullptr);
    ::semctl(sem, 0, IPC_RMID);
}

TEST_CASE("escape: POSIX message queue created outside", "[escape]") {
    Sandbox s("mqueue");
    std::string name = "/hsbox-test-q-" + s.token;
    mq_attr attr{};
    attr.mq_maxmsg = 4;
    attr.mq_msgsize = 128;
    mqd_t q = ::mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &attr);
    if (q == static_cast<mqd_t>(-1)) {
        WARN("skipped: mq_open on the host: " << std::strerror(errno));
        return;
    }
    REQUIRE(::mq_send(q, s.token.c_str(), s.token.size(), 0) == 0);
    RunOptions o;
    o.env = {"ESC_MQ=" + name};
    auto r = s.run({}, o);
    INFO(describe(r));
    CHECK(r.code == 0);
    CHECK(r.err.find("ESCAPE") == std::string::npos);
    mq_attr now{};
    CHECK(::mq_getattr(q, &now) == 0);
    CHECK(now.mq_curmsgs == 1);
    ::mq_close(q);
    CHECK(::mq_unlink(name.c_str()) == 0);
}

TEST_CASE("escape: nested seccomp listener", "[escape]") { simple("seccomp_listener"); }

TEST_CASE("escape: new namespaces", "[escape]") { simple("userns"); }

// TIOCSTI/TIOCLINUX are refused by a BPF prefix before libseccomp's program
// (libseccomp let its unconditional ioctl allow override argument rules).
TEST_CASE("escape: TIOCSTI on the terminal", "[escape]") {
    Sandbox s("tiocsti");
    int master, slave;
    if (::openpty(&master, &slave, nullptr, nullptr, nullptr) < 0) {
        WARN("skipped: no pty: " << std::strerror(errno));
        return;
    }
    Fd m(master), sl(slave);
    ::fcntl(master, F_SETFD, FD_CLOEXEC);
    ::fcntl(slave, F_SETFD, FD_CLOEXEC);
    // Raw mode: an injected byte is readable at once (no line discipline wait).
    termios tio;
    if (::tcgetattr(slave, &tio) == 0) {
        ::cfmakeraw(&tio);
        ::tcsetattr(slave, TCSANOW, &tio);
    }
    RunOptions o;
    o.stdin_fd = slave;
    auto r = s.run({}, o);
    INFO(describe(r));
    if (r.code == 77) {
        WARN("skipped: " << r.out);
        return;
    }
    CHECK(r.code == 0);
    CHECK(r.err.find("ESCAPE") == std::string::npos);
    // Nothing was pushed into the terminal's input.
    ::fcntl(slave, F_SETFL, O_NONBLOCK);
    char buf[16];
    CHECK(::read(slave, buf, sizeof buf) < 0);
}

TEST_CASE("escape: kill(-1, SIGKILL) from inside", "[escape]") {
    Sandbox s("nested_kill");
    auto r = s.run();
    INFO(describe(r));
    // The first process died of SIGKILL: hsbox reports 128+9.
    CHECK(r.code == 137);
    CHECK(r.err.find("ESCAPE") == std::string::npos);
    CHECK(s.bystander.alive());
}

TEST_CASE("escape: $HOME, $XDG_RUNTIME_DIR and the state dir by path", "[escape]") {
    // Default root "/": the program lives in a shared scratch dir.
    std::string t = make_temp("escape-home");
    std::string home = t + "/home", xdg = t + "/xdg", scratch = t + "/scratch";
    std::string token = random_token();
    ::mkdir(home.c_str(), 0755);
    ::mkdir(xdg.c_str(), 0700);
    ::mkdir(scratch.c_str(), 0777);
    put(home + "/secret", token + "\n");
    put(xdg + "/secret", token + "\n");
    copy_file(prog_path("hidden"), scratch + "/hidden", 0755);
    // Under the default root the space's "/" is the host's: the marker the
    // programs look for is not there, and this one writes only in scratch.
    std::string name = "esc-home-" + std::to_string(::getpid());
    std::string state = xdg + "/hsbox/" + name;
    Bystander by;
    RunOptions o;
    o.env = {"ESC_NATIVE_CONTROL=1", "HOME=" + home, "XDG_RUNTIME_DIR=" + xdg, "ESC_TOKEN=" + token, "ESC_SCRATCH=" + scratch,
             "ESC_HIDDEN=" + home + ":" + xdg + ":" + xdg + "/hsbox:" + state};
    auto r = hsbox_run({"--name", name, "--share", scratch, "--", scratch + "/hidden"}, o);
    INFO(describe(r));
    CHECK(r.code == 0);
    CHECK(r.err.find("ESCAPE") == std::string::npos);
    CHECK(list_dir(home) == std::vector<std::string>{"secret"});

    // Without XDG_RUNTIME_DIR the state lives in /tmp/hsbox-UID.
    std::string tmpstate = "/tmp/hsbox-" + std::to_string(::geteuid());
    RunOptions o2;
    o2.unset_env = {"XDG_RUNTIME_DIR"};
    o2.env = {"ESC_NATIVE_CONTROL=1", "HOME=" + home, "ESC_TOKEN=" + token, "ESC_SCRATCH=" + scratch,
              "ESC_HIDDEN=" + home + ":" + tmpstate + ":" + tmpstate + "/" + name};
    auto r2 = hsbox_run({"--name", name, "--share", scratch, "--", scratch + "/hidden"}, o2);
    INFO(describe(r2));
    CHECK(r2.code == 0);
    CHECK(r2.err.find("ESCAPE") == std::string::npos);
    remove_tree(t);
}

TEST_CASE("escape: creating through a symlink into a hidden dir", "[escape]") { simple("hidden_create"); }

TEST_CASE("escape: privileged calls as root", "[escape][root]") {
    if (::geteuid() != 0) {
        WARN("skipped: open_by_handle_at/chroot/mount/mknod only mean something as root");
        return;
    }
    Sandbox s("root_only");
    // The handle of the outside secret, as the host sees it.
    std::vector<unsigned char> raw(sizeof(file_handle) + MAX_HANDLE_SZ);
    auto* fh = reinterpret_cast<file_handle*>(raw.data());
    fh->handle_bytes = MAX_HANDLE_SZ;
    int mount_id;
    std::string hex;
    if (::name_to_handle_at(AT_FDCWD, (s.outside + "/secret").c_str(), fh, &mount_id, 0) == 0) {
        char b[3];
        for (size_t i = 0; i < sizeof(file_handle) + fh->handle_bytes; ++i) {
            std::snprintf(b, sizeof b, "%02x", raw[i]);
            hex += b;
        }
    } else {
        WARN("name_to_handle_at on the host: " << std::strerror(errno) << " (using an empty handle)");
        hex = "00000000000000000";
    }
    RunOptions o;
    o.env = {"ESC_HANDLE=" + hex};
    auto r = s.run({}, o);
    INFO(describe(r));
    CHECK(r.code == 0);
    CHECK(r.err.find("ESCAPE") == std::string::npos);
    CHECK_FALSE(exists(s.root + "/blockdev"));
    CHECK_FALSE(exists(s.root + "/chardev"));
    s.check_outside();
}

// Controls: the same programs run natively (not confined, working directory
// R) must detect the escape, so a passing test above means the trick failed
// rather than the program being unable to notice.
TEST_CASE("escape controls: the tricks detect an escape without hsbox", "[escape][control]") {
    struct Case {
        std::string prog;
        std::vector<std::string> args;
    };
    // Only programs that write nothing by absolute path: natively "/" is the host's root.
    Case cases[] = {{"dotdot", {}}, {"race_path", {"open", "1"}}, {"race_path", {"execve", "1"}},
                    {"race_path", {"chdir", "1"}}};
    for (auto& c : cases) {
        Sandbox s(c.prog);
        RunOptions o;
        o.env = s.env();
        o.env.push_back("ESC_SUP_PID=" + std::to_string(::getppid()));
        o.env.push_back("ESC_NATIVE_CONTROL=1");
        o.cwd = s.root;
        std::vector<std::string> argv{s.root + "/prog"};
        argv.insert(argv.end(), c.args.begin(), c.args.end());
        auto r = run(argv, o);
        INFO(c.prog << " natively: " << describe(r));
        CHECK(r.code == 1);
        CHECK(r.err.find("ESCAPE") != std::string::npos);
    }
}
