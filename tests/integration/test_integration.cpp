// Integration tests: real programs under `hsbox run`, in a populated root
// (busybox-static, a multi-threaded static program) and under the default
// root "/" with a shared temp dir (bash, coreutils, tar). Where a native run
// is a fair oracle, the same script runs natively and confined and the
// outputs must match.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <sstream>

#include "catch.hpp"
#include "harness.hpp"

using namespace hsbox::test;

namespace {

std::string describe(const RunResult& r) {
    return "exit " + std::to_string(r.code) + (r.timed_out ? " (timed out)" : "") + "\nstdout:\n" + r.out +
           "stderr:\n" + r.err;
}

bool have(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

// A root holding busybox and an /etc/passwd of its own.
struct BusyboxRoot {
    std::string t = make_temp("integ");
    std::string root = t + "/root";
    std::string passwd = "spaceuser:x:4242:4242:only in the space root:/home/spaceuser:/bin/sh\n";
    BusyboxRoot() {
        for (auto d : {"", "/bin", "/etc", "/tmp", "/usr", "/usr/bin", "/sbin", "/usr/sbin", "/proc", "/dev"})
            ::mkdir((root + d).c_str(), 0755);
        ::chmod((root + "/tmp").c_str(), 01777);
        copy_file("/bin/busybox", root + "/bin/busybox", 0755);
        put(root + "/etc/passwd", passwd);
    }
    ~BusyboxRoot() { remove_tree(t); }
};

#define REQUIRE_BUSYBOX()                                                      \
    do {                                                                       \
        if (!have("/bin/busybox")) {                                           \
            WARN("skipped: /bin/busybox missing (package busybox-static)");    \
            return;                                                            \
        }                                                                      \
    } while (0)

std::vector<long> numbers_in(const std::string& text) {
    std::vector<long> out;
    std::istringstream in(text);
    std::string w;
    while (in >> w)
        if (!w.empty() && w.find_first_not_of("0123456789") == std::string::npos) out.push_back(std::stol(w));
    return out;
}

size_t lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST_CASE("integration: busybox sees the root's /etc/passwd and only the space's pids", "[integration]") {
    REQUIRE_BUSYBOX();
    BusyboxRoot b;
    Bystander by;
    auto r = hsbox_run({"--root", b.root, "--", "/bin/busybox", "sh", "-c",
                        "echo self=$$; /bin/busybox cat /etc/passwd; echo ---; /bin/busybox ls /proc"});
    INFO(describe(r));
    REQUIRE(r.code == 0);
    CHECK(r.out.find(b.passwd) != std::string::npos);
    CHECK(r.out.find("root:x:0:0") == std::string::npos);  // not the host's passwd
    auto self_at = r.out.find("self=");
    REQUIRE(self_at != std::string::npos);
    long self = std::stol(r.out.substr(self_at + 5));
    auto pids = numbers_in(r.out.substr(r.out.find("---")));
    // The shell and ls, nothing else: not the driver, not hsbox, not a bystander.
    CHECK(std::find(pids.begin(), pids.end(), self) != pids.end());
    CHECK(pids.size() <= 3);
    for (long p : pids) {
        CHECK(p != ::getpid());
        CHECK(p != r.pid);
        CHECK(p != by.pid());
        CHECK(p != 1);
    }
}

TEST_CASE("integration: busybox --install -s and applets through the symlinks", "[integration]") {
    REQUIRE_BUSYBOX();
    BusyboxRoot b;
    auto r = hsbox_run({"--root", b.root, "--", "/bin/busybox", "--install", "-s"});
    INFO(describe(r));
    REQUIRE(r.code == 0);
    // The links were made in the root, pointing at the space's busybox.
    char target[4096];
    ssize_t n = ::readlink((b.root + "/bin/sh").c_str(), target, sizeof target - 1);
    REQUIRE(n > 0);
    CHECK(std::string(target, static_cast<size_t>(n)) == "/bin/busybox");
    auto r2 = hsbox_run({"--root", b.root, "--", "/bin/sh", "-c",
                         "cd /tmp && echo hello | tr a-z A-Z > up && cat up && mkdir -p d/e && touch d/e/f && "
                         "find d | sort && ls /etc && wc -l < /etc/passwd && test ! -e /root && echo done"});
    INFO(describe(r2));
    CHECK(r2.code == 0);
    CHECK(r2.out == "HELLO\nd\nd/e\nd/e/f\npasswd\n1\ndone\n");
    CHECK(slurp(b.root + "/tmp/up") == "HELLO\n");
}

TEST_CASE("integration: exit status propagation", "[integration]") {
    REQUIRE_BUSYBOX();
    BusyboxRoot b;
    auto r = hsbox_run({"--root", b.root, "--", "/bin/busybox", "sh", "-c", "exit 3"});
    INFO(describe(r));
    CHECK(r.code == 3);
    r = hsbox_run({"--root", b.root, "--", "/bin/busybox", "sh", "-c", "kill -TERM $$"});
    INFO(describe(r));
    CHECK(r.code == 143);
    r = hsbox_run({"--root", b.root, "--", "/bin/busybox", "true"});
    CHECK(r.code == 0);
    r = hsbox_run({"--root", b.root, "--", "/bin/busybox", "false"});
    CHECK(r.code == 1);
}

TEST_CASE("integration: bad command lines exit 2 with a one-line error", "[integration]") {
    std::string t = make_temp("integ-cli");
    put(t + "/file", "x\n");
    struct Case {
        std::vector<std::string> args;
        std::string mentions;
    } cases[] = {
        {{}, "no command"},
        {{"--"}, "no command"},
        {{"--bogus-flag", "--", "/bin/true"}, "--bogus-flag"},
        {{"--root", t + "/nonexistent", "--", "/bin/true"}, t + "/nonexistent"},
        {{"--root", t + "/file", "--", "/bin/true"}, "not a directory"},
        {{"--root"}, "--root"},
        {{"--name", "a/b", "--", "/bin/true"}, "a/b"},
        {{"--name", "..", "--", "/bin/true"}, ".."},
        {{"--share-socket", t + "/file", "--", "/bin/true"}, "not a socket"},
        {{"--share-socket", t + "/nonexistent", "--", "/bin/true"}, t + "/nonexistent"},
    };
    for (auto& c : cases) {
        auto r = hsbox_run(c.args);
        INFO(describe(r));
        CHECK(r.code == 2);
        CHECK(lines(r.err) == 1);
        CHECK(r.err.find(c.mentions) != std::string::npos);
        CHECK(r.out.empty());
    }
    remove_tree(t);
}

TEST_CASE("integration: a command that does not exist", "[integration]") {
    auto r = hsbox_run({"--", "/nonexistent/hsbox-no-such-command"});
    INFO(describe(r));
    CHECK(r.code == 127);
    if (have("/bin/busybox")) {
        BusyboxRoot b;
        auto r2 = hsbox_run({"--root", b.root, "--", "/bin/bash"});  // exists on the host, not in the root
        INFO(describe(r2));
        CHECK(r2.code == 127);
    }
}

// The supervisor reads the exec error report even after the command exited.
TEST_CASE("integration: a command that does not exist is named in the error", "[integration]") {
    for (int i = 0; i < 10; ++i) {
        auto r = hsbox_run({"--", "/nonexistent/hsbox-no-such-command"});
        INFO(describe(r));
        CHECK(r.code == 127);
        CHECK(r.err.find("hsbox-no-such-command") != std::string::npos);
        CHECK(r.err.find("No such file") != std::string::npos);
    }
}

// A small tree with nesting, modes and an empty dir (and a symlink if asked).
std::string make_tree(bool with_symlink) {
    std::string t = make_temp("integ-tree");
    for (auto d : {"/src", "/src/a", "/src/a/b", "/src/empty", "/src/c"}) ::mkdir((t + d).c_str(), 0755);
    for (int i = 0; i < 30; ++i) put(t + "/src/a/f" + std::to_string(i), std::string(100 * i, 'x'));
    put(t + "/src/a/b/deep", "deep\n", 0600);
    put(t + "/src/c/run.sh", "#!/bin/sh\necho ran\n", 0755);
    if (with_symlink) ::symlink("../a/b/deep", (t + "/src/c/link").c_str());
    return t;
}

// `full`: also extract with tar and copy with cp -a (both restore times and
// owners through *at(..., AT_SYMLINK_NOFOLLOW) calls), with a symlink in the tree.
void coreutils_round_trip(bool full) {
    std::string t = make_tree(full);
    std::string script = "set -e; cd " + t +
                         "; cp -r src copy; find copy | sort > find.txt; diff -r src copy; copy/c/run.sh; "
                         "stat -c '%a %n' copy/a/b/deep; tar -C src -cf - . | tar -tf - | sort > list.txt; "
                         "du -s --apparent-size --block-size=1 src | cut -f1; echo ok";
    if (full)
        script += "; mkdir out; tar -C src -cf - . | tar -C out -xf -; diff -r src out; cp -a src preserved; "
                  "readlink preserved/c/link; cat out/c/link";
    auto r = hsbox_run({"--share", t, "--", "/bin/bash", "-c", script});
    INFO(describe(r));
    CHECK(r.code == 0);
    CHECK(r.out.find("ran\n600 copy/a/b/deep\n") != std::string::npos);
    CHECK(r.out.find("ok\n") != std::string::npos);
    if (full) CHECK(r.out.find("ok\n../a/b/deep\ndeep\n") != std::string::npos);
    // find and tar saw the same tree the host sees.
    auto native = run({"/bin/bash", "-c", "cd " + t + " && find copy | sort && tar -C src -cf - . | tar -tf - | sort"});
    REQUIRE(exists(t + "/find.txt"));
    CHECK(slurp(t + "/find.txt") + slurp(t + "/list.txt") == native.out);
    CHECK(lines(native.out) == (full ? 76u : 74u));
    remove_tree(t);
}

TEST_CASE("integration: coreutils, find and tar under the default root", "[integration]") {
    coreutils_round_trip(false);
}

// glibc's fchmodat(AT_SYMLINK_NOFOLLOW) opens the symlink O_PATH|O_NOFOLLOW
// and fstats it: the supervisor's symlink placeholder must answer as the
// kernel does (EOPNOTSUPP, which tar ignores).
TEST_CASE("integration: tar -x and cp -a with a symlink", "[integration]") {
    coreutils_round_trip(true);
}

// Entry calls with relative paths, from the cwd and from directory fds, give
// the same tree confined as natively (link() once read its new path against
// an invalid dirfd).
TEST_CASE("integration: link, rename and symlink relative to the cwd and to dirfds", "[integration]") {
    std::string script =
        "set -e; rm -rf w; mkdir w; cd w; echo x > a; ln a b; mv b c; ln -s c d; mkdir sub; "
        "python3 -c 'import os\n"
        "d = os.open(\".\", os.O_RDONLY); s = os.open(\"sub\", os.O_RDONLY)\n"
        "os.link(\"a\", \"e\", src_dir_fd=d, dst_dir_fd=s)\n"
        "os.rename(\"e\", \"f\", src_dir_fd=s, dst_dir_fd=s)\n"
        "os.symlink(\"../a\", \"g\", dir_fd=s)\n"
        "os.mkdir(\"h\", dir_fd=s); os.rmdir(\"h\", dir_fd=s)\n"
        "print(os.readlink(\"g\", dir_fd=s), os.stat(\"f\", dir_fd=s).st_nlink)'; "
        "cat sub/g; find . | sort; stat -c '%h %n' a";
    std::string t = make_temp("integ-links");
    auto native = run({"/bin/bash", "-c", "cd " + t + " && " + script});
    REQUIRE(native.code == 0);
    auto r = hsbox_run({"--share", t, "--", "/bin/bash", "-c", "cd " + t + " && " + script});
    INFO(describe(r));
    INFO("native:\n" << native.out << native.err);
    CHECK(r.code == 0);
    CHECK(r.out == native.out);
    CHECK(r.out.find("../a 3\nx\n") != std::string::npos);
    remove_tree(t);
}

// Run by root, a space process that drops to nobody must not get root's
// access through the supervisor's emulated calls.
TEST_CASE("integration: a process that drops privileges keeps its own access", "[integration]") {
    if (::geteuid() != 0) {
        WARN("skipped: needs root (an ordinary user's space cannot change uid)");
        return;
    }
    if (!have("/usr/bin/setpriv")) {
        WARN("skipped: /usr/bin/setpriv missing (package util-linux)");
        return;
    }
    std::string t = make_temp("integ-creds");
    ::chmod(t.c_str(), 0755);
    put(t + "/secret", "root only\n", 0600);
    ::mkdir((t + "/open").c_str(), 0777);
    ::chmod((t + "/open").c_str(), 0777);
    ::mkdir((t + "/private").c_str(), 0700);
    copy_file("/bin/true", t + "/private/prog", 0755);
    std::string script = "cat " + t + "/secret; echo cat=$?; touch " + t + "/new; echo touch=$?; "
                         "touch " + t + "/open/mine && stat -c '%u:%g' " + t + "/open/mine; " +
                         t + "/private/prog; echo exec=$?; cd " + t + "/private; echo cd=$?";
    auto r = hsbox_run({"--share", t, "--", "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "/bin/bash", "-c", script});
    INFO(describe(r));
    CHECK(r.out.find("root only") == std::string::npos);
    CHECK(r.out.find("cat=1\n") != std::string::npos);
    CHECK(r.out.find("touch=1\n") != std::string::npos);
    CHECK_FALSE(exists(t + "/new"));
    CHECK(r.out.find("65534:65534\n") != std::string::npos);
    CHECK(r.out.find("exec=126\n") != std::string::npos);
    CHECK(r.out.find("cd=1\n") != std::string::npos);
    remove_tree(t);
}

TEST_CASE("integration: shell pipes and job control match a native run", "[integration]") {
    std::string script =
        "seq 1 2000 | grep 7 | sort -rn | head -3; "
        "printf 'b\\na\\nc\\n' | sort | tr '\\n' ' '; echo; "
        "sleep 5 & jobs; kill %1; wait %1; echo status=$?; "
        "(exit 4) | cat; echo pipe=${PIPESTATUS[0]}; "
        "set -m; sleep 5 & "
        "[ \"$(cut -d' ' -f5 /proc/$!/stat)\" = \"$!\" ] && echo own-group; "
        "kill -STOP %1; sleep 0.2; jobs; kill -CONT %1; kill %1; wait %1; echo monitor=$?; "
        "sleep 0.1 & wait; jobs; echo done";
    auto native = run({"/bin/bash", "-c", script});
    REQUIRE(native.code == 0);
    auto r = hsbox_run({"--", "/bin/bash", "-c", script});
    INFO(describe(r));
    INFO("native:\n" << native.out << native.err);
    CHECK(r.code == 0);
    CHECK(r.out == native.out);
    CHECK(r.out.find("status=143") != std::string::npos);
    CHECK(r.out.find("own-group") != std::string::npos);
    CHECK(r.out.find("Stopped") != std::string::npos);
}

TEST_CASE("integration: a multi-threaded program doing file I/O and fork/exec", "[integration]") {
    std::string t = make_temp("integ-mt");
    std::string root = t + "/root";
    for (auto d : {"", "/tmp", "/work"}) ::mkdir((root + d).c_str(), 0755);
    ::chmod((root + "/tmp").c_str(), 01777);
    copy_file(HSBOX_MT_WORKER, root + "/mt_worker", 0755);
    auto r = hsbox_run({"--root", root, "--", "/mt_worker", "/work", "25"});
    INFO(describe(r));
    CHECK(r.code == 0);
    CHECK(r.out == "ok 200 200\n");
    CHECK(list_dir(root + "/work").empty());
    remove_tree(t);
}
