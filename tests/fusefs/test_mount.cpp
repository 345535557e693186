// Integration tests through a real mount of the real `hsbox` binary: real
// programs (coreutils, tar, git, sqlite3, aide) and a POSIX battery. Every
// test fingerprints the lower tree before mounting and after unmounting: no
// write may ever reach it.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "catch.hpp"
#include "mount.hpp"
#include "tree.hpp"

using namespace hsbox::test;

namespace {

#define SKIP_WITHOUT_FUSE()                                        \
    do {                                                           \
        std::string why = fuse_unavailable();                      \
        if (!why.empty()) {                                        \
            WARN("skipped: " << why);                              \
            return;                                                \
        }                                                          \
    } while (0)

struct Space {
    std::string dir = make_temp_dir("mount");
    std::string lower = dir + "/lower";
    std::string upper = dir + "/upper";
    std::string root = dir + "/root";
    uint64_t before = 0;

    Space() {
        ::chmod(dir.c_str(), 0755);
        ::mkdir(lower.c_str(), 0755);
        ::mkdir(upper.c_str(), 0755);
        ::mkdir((lower + "/etc").c_str(), 0755);
        ::mkdir((lower + "/srv").c_str(), 0755);
        ::mkdir((lower + "/srv/www").c_str(), 0755);
        ::mkdir((lower + "/tmp").c_str(), 01777);
        put(lower + "/etc/conf", "key=value\n");
        put(lower + "/etc/secret", "s\n", 0600);
        for (int i = 0; i < 20; ++i)
            put(lower + "/srv/www/page" + std::to_string(i) + ".html", "<p>" + std::to_string(i) + "</p>\n");
        put(lower + "/srv/data", std::string(100000, 'd'));
        ::symlink("www/page1.html", (lower + "/srv/link").c_str());
        ::link((lower + "/srv/www/page2.html").c_str(), (lower + "/srv/hard").c_str());
        ::mkfifo((lower + "/srv/fifo").c_str(), 0644);
        int fd = ::open((lower + "/srv/sparse").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (::pwrite(fd, "x", 1, 10 << 20) != 1) std::abort();
        ::close(fd);
    }
    ~Space() { remove_tree(dir); }
    void seal() { before = fingerprint(lower); }
    bool lower_untouched() { return fingerprint(lower) == before; }
};

std::set<std::string> lines(const std::string& s) {
    std::set<std::string> out;
    std::istringstream in(s);
    std::string l;
    while (std::getline(in, l))
        if (!l.empty()) out.insert(l);
    return out;
}

}  // namespace

TEST_CASE("coreutils work through a root view and leave the lower alone") {
    SKIP_WITHOUT_FUSE();
    Space s;
    s.seal();
    Mount m(s.root, {"--upper", s.upper, "--lower", s.lower});
    REQUIRE(m.ok());
    const std::string r = s.root;
    REQUIRE(sh("cd " + r + " && cat etc/conf | grep -q key=value") == 0);
    REQUIRE(sh("cd " + r + " && cp etc/conf etc/conf.bak && echo more >> etc/conf && mv etc/conf.bak etc/old") == 0);
    REQUIRE(sh("cd " + r + " && mkdir -p a/b/c && touch a/b/c/f && ln -s ../etc a/e && ln srv/data a/data") == 0);
    REQUIRE(sh("cd " + r + " && chmod 600 srv/www/page3.html && rm srv/www/page4.html && rm -r srv/www/../link") == 0);
    REQUIRE(sh("cd " + r + " && mv srv/www srv/web && test -f srv/web/page5.html && ! test -e srv/www") == 0);
    REQUIRE(sh("cd " + r + " && test \"$(stat -c %a srv/web/page3.html)\" = 600") == 0);
    REQUIRE(sh("cd " + r + " && test \"$(stat -c %h srv/data)\" = 2 && test \"$(stat -c %i srv/data)\" = \"$(stat -c %i a/data)\"") == 0);
    REQUIRE(sh("cd " + r + " && test \"$(cat a/e/conf)\" = \"$(printf 'key=value\\nmore')\"") == 0);
    REQUIRE(sh("cd " + r + " && test $(find . | wc -l) -gt 25 && du -s . >/dev/null && ls -laR . >/dev/null") == 0);
    REQUIRE(sh("cd " + r + " && rm -rf srv && ! test -e srv && test -z \"$(ls -A a/b/c/.. | grep -v c)\"") == 0);
    REQUIRE(sh("cd " + r + " && ls -a | grep -q '^.wh.' ; test $? = 1") == 0);
    REQUIRE(m.stop());
    REQUIRE(s.lower_untouched());
    std::string d;
    REQUIRE(sh(std::string(std::getenv("HSBOX_BIN")) + " diff --upper " + s.upper + " --lower " + s.lower, &d) == 0);
    auto got = lines(d);
    REQUIRE(got.count("C /etc/conf"));
    REQUIRE(got.count("A /etc/old"));
    REQUIRE(got.count("D /srv"));
    REQUIRE(got.count("A /a/b/c/f"));
}

TEST_CASE("tar round-trips a tree through the mount") {
    SKIP_WITHOUT_FUSE();
    Space s;
    s.seal();
    Mount m(s.root, {"--upper", s.upper, "--lower", s.lower});
    REQUIRE(m.ok());
    const std::string r = s.root;
    REQUIRE(sh("cd " + r + " && tar --sparse -cf " + s.dir + "/a.tar srv etc") == 0);
    REQUIRE(sh("mkdir " + r + "/copy && tar --sparse -xpf " + s.dir + "/a.tar -C " + r + "/copy") == 0);
    REQUIRE(sh("diff -r --no-dereference --exclude=fifo " + r + "/srv " + r + "/copy/srv") == 0);
    REQUIRE(sh("cd " + r + "/copy && test -p srv/fifo && test -L srv/link && test $(stat -c %h srv/hard) = 2") == 0);
    REQUIRE(sh("cd " + r + " && tar -cf - copy | tar -tf - | grep -q copy/srv/www/page9.html") == 0);
    REQUIRE(sh("cd " + r + " && tar --sparse -xf " + s.dir + "/a.tar && diff -r --no-dereference --exclude=fifo srv copy/srv") == 0);
    REQUIRE(sh("cd " + r + " && test \"$(find srv -printf '%p %y %m %s\\n' | sort)\" = \"$(cd copy && find srv -printf '%p %y %m %s\\n' | sort)\"") == 0);
    REQUIRE(m.stop());
    REQUIRE(s.lower_untouched());
}

TEST_CASE("git init, add and commit inside a space") {
    SKIP_WITHOUT_FUSE();
    if (sh("command -v git >/dev/null") != 0) {
        WARN("skipped: git is not installed");
        return;
    }
    Space s;
    s.seal();
    Mount m(s.root, {"--upper", s.upper, "--lower", s.lower});
    REQUIRE(m.ok());
    std::string g = "cd " + s.root + "/srv && export HOME=" + s.dir +
                    " GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@e GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@e && ";
    REQUIRE(sh(g + "git init -q . && git add -A && git commit -qm one") == 0);
    REQUIRE(sh(g + "echo change >> www/page1.html && git commit -qam two && git mv www web && git commit -qm three") == 0);
    REQUIRE(sh(g + "git gc -q && git fsck --strict && test $(git rev-list --count HEAD) = 3") == 0);
    REQUIRE(sh(g + "git status --porcelain | grep -v fifo | grep -v sparse | wc -l | grep -qx 0") == 0);
    REQUIRE(m.stop());
    REQUIRE(s.lower_untouched());
}

TEST_CASE("apt-style rename-over keeps files whole") {
    SKIP_WITHOUT_FUSE();
    Space s;
    s.seal();
    Mount m(s.root, {"--upper", s.upper, "--lower", s.lower});
    REQUIRE(m.ok());
    const std::string r = s.root;
    // dpkg: write NAME.dpkg-new, fsync, hard-link the old one as backup, rename over.
    REQUIRE(sh("cd " + r + "/etc && printf new > conf.dpkg-new && sync conf.dpkg-new && ln conf conf.dpkg-tmp "
               "&& mv -f conf.dpkg-new conf && rm conf.dpkg-tmp && test \"$(cat conf)\" = new") == 0);
    // apt lists: partial/ then rename into place, over a lower directory's file.
    REQUIRE(sh("cd " + r + "/srv && mkdir -p partial && printf list > partial/data && mv partial/data data "
               "&& test \"$(cat data)\" = list && test -z \"$(ls partial)\"") == 0);
    // Directory replaced by rename (as update-alternatives and installers do).
    REQUIRE(sh("cd " + r + "/srv && mkdir www.new && echo x > www.new/index && mv www www.old && mv www.new www "
               "&& test \"$(ls www)\" = index && test -f www.old/page0.html && rm -rf www.old") == 0);
    REQUIRE(sh("cd " + r + "/srv && python3 -c \"import os; open('t','w').write('a'); os.replace('t','data')\" "
               "&& test \"$(cat data)\" = a") == 0);
    REQUIRE(m.stop());
    REQUIRE(s.lower_untouched());
}

TEST_CASE("sqlite writes a database through the mount") {
    SKIP_WITHOUT_FUSE();
    if (sh("command -v sqlite3 >/dev/null") != 0) {
        WARN("skipped: sqlite3 is not installed");
        return;
    }
    Space s;
    s.seal();
    Mount m(s.root, {"--upper", s.upper, "--lower", s.lower});
    REQUIRE(m.ok());
    std::string db = s.root + "/srv/t.db";
    REQUIRE(sh("sqlite3 " + db + " 'create table t(a integer primary key, b text);' "
               "'with recursive c(x) as (select 1 union all select x+1 from c where x<2000) "
               "insert into t select x, hex(randomblob(40)) from c;' 'pragma integrity_check;'") == 0);
    REQUIRE(sh("sqlite3 " + db + " 'pragma journal_mode=wal;' 'update t set b=b||1 where a%3=0;' "
               "'delete from t where a%7=0;' 'pragma wal_checkpoint(truncate);' 'vacuum;'") == 0);
    std::string out;
    REQUIRE(sh("sqlite3 " + db + " 'pragma integrity_check;' 'select count(*) from t;'", &out) == 0);
    REQUIRE(out == "ok\n1715\n");
    REQUIRE(m.stop());
    REQUIRE(s.lower_untouched());
}

namespace {

// Runs `fn` in a child; returns its exit status (0 = all checks passed).
template <typename F>
int in_child(F fn) {
    pid_t p = ::fork();
    if (p == 0) ::_exit(fn());
    int st = 0;
    ::waitpid(p, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

std::string read_all(const std::string& p) { return slurp(p); }

}  // namespace

TEST_CASE("POSIX semantics battery through the mount") {
    SKIP_WITHOUT_FUSE();
    Space s;
    s.seal();
    bool root = ::getuid() == 0;
    std::vector<std::string> args = {"--upper", s.upper, "--lower", s.lower};
    Mount m(s.root, args);
    REQUIRE(m.ok());
    const std::string r = s.root;

    SECTION("O_APPEND appends from every descriptor") {
        int a = ::open((r + "/etc/conf").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
        int b = ::open((r + "/etc/conf").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
        REQUIRE(a >= 0);
        REQUIRE(b >= 0);
        REQUIRE(::write(a, "1", 1) == 1);
        REQUIRE(::write(b, "2", 1) == 1);
        REQUIRE(::write(a, "3", 1) == 1);
        ::close(a);
        ::close(b);
        REQUIRE(read_all(r + "/etc/conf") == "key=value\n123");
    }
    SECTION("O_TRUNC empties a lower file in the upper only") {
        int fd = ::open((r + "/srv/data").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
        REQUIRE(fd >= 0);
        ::close(fd);
        struct stat st;
        REQUIRE(::stat((r + "/srv/data").c_str(), &st) == 0);
        REQUIRE(st.st_size == 0);
    }
    SECTION("O_EXCL fails on lower and upper files alike") {
        REQUIRE(::open((r + "/etc/conf").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644) == -1);
        REQUIRE(errno == EEXIST);
        int fd = ::open((r + "/etc/new").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        REQUIRE(fd >= 0);
        ::close(fd);
        REQUIRE(::open((r + "/etc/new").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644) == -1);
        REQUIRE(errno == EEXIST);
    }
    SECTION("rename over a lower file replaces it atomically") {
        put(r + "/etc/conf.new", "replaced");
        REQUIRE(::rename((r + "/etc/conf.new").c_str(), (r + "/etc/conf").c_str()) == 0);
        REQUIRE(read_all(r + "/etc/conf") == "replaced");
        REQUIRE(::access((r + "/etc/conf.new").c_str(), F_OK) == -1);
    }
    SECTION("an unlinked open file stays readable and writable") {
        int fd = ::open((r + "/srv/www/page1.html").c_str(), O_RDWR | O_CLOEXEC);
        REQUIRE(fd >= 0);
        REQUIRE(::unlink((r + "/srv/www/page1.html").c_str()) == 0);
        REQUIRE(::access((r + "/srv/www/page1.html").c_str(), F_OK) == -1);
        char buf[16] = {};
        REQUIRE(::pread(fd, buf, sizeof buf, 0) == 9);
        REQUIRE(std::string(buf) == "<p>1</p>\n");
        REQUIRE(::pwrite(fd, "Z", 1, 0) == 1);
        struct stat st;
        REQUIRE(::fstat(fd, &st) == 0);
        REQUIRE(st.st_nlink == 0);
        REQUIRE(::ftruncate(fd, 2) == 0);
        REQUIRE(::fstat(fd, &st) == 0);
        REQUIRE(st.st_size == 2);
        ::close(fd);
    }
    SECTION("mmap writes reach the file") {
        int fd = ::open((r + "/srv/www/page5.html").c_str(), O_RDWR | O_CLOEXEC);
        REQUIRE(fd >= 0);
        void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        REQUIRE(p != MAP_FAILED);
        static_cast<char*>(p)[3] = 'X';
        REQUIRE(::msync(p, 4096, MS_SYNC) == 0);
        ::munmap(p, 4096);
        REQUIRE(::fsync(fd) == 0);
        ::close(fd);
        REQUIRE(read_all(r + "/srv/www/page5.html") == "<p>X</p>\n");
        REQUIRE(read_all(s.upper + "/srv/www/page5.html") == "<p>X</p>\n");
    }
    SECTION("fsync and fdatasync succeed on written files") {
        int fd = ::open((r + "/srv/f").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        REQUIRE(fd >= 0);
        REQUIRE(::write(fd, "abc", 3) == 3);
        REQUIRE(::fsync(fd) == 0);
        REQUIRE(::fdatasync(fd) == 0);
        ::close(fd);
        int dfd = ::open((r + "/srv").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        REQUIRE(::fsync(dfd) == 0);
        ::close(dfd);
    }
    SECTION("utimensat sets times on lower files, symlinks included") {
        struct timespec ts[2] = {{1500000000, 1}, {1600000000, 2}};
        REQUIRE(::utimensat(AT_FDCWD, (r + "/srv/www/page6.html").c_str(), ts, 0) == 0);
        REQUIRE(::utimensat(AT_FDCWD, (r + "/srv/link").c_str(), ts, AT_SYMLINK_NOFOLLOW) == 0);
        struct stat st;
        REQUIRE(::stat((r + "/srv/www/page6.html").c_str(), &st) == 0);
        REQUIRE(st.st_mtim.tv_sec == 1600000000);
        REQUIRE(st.st_mtim.tv_nsec == 2);
        REQUIRE(::lstat((r + "/srv/link").c_str(), &st) == 0);
        REQUIRE(st.st_mtim.tv_sec == 1600000000);
        REQUIRE(::utimensat(AT_FDCWD, (r + "/srv/www/page6.html").c_str(), nullptr, 0) == 0);
        REQUIRE(::stat((r + "/srv/www/page6.html").c_str(), &st) == 0);
        REQUIRE(st.st_mtim.tv_sec > 1600000000);
    }
    SECTION("chmod, chown and truncate of lower files") {
        REQUIRE(::chmod((r + "/etc/conf").c_str(), 0640) == 0);
        REQUIRE(::chown((r + "/etc/conf").c_str(), ::getuid(), ::getgid()) == 0);
        REQUIRE(::truncate((r + "/srv/data").c_str(), 10) == 0);
        struct stat st;
        REQUIRE(::stat((r + "/etc/conf").c_str(), &st) == 0);
        REQUIRE((st.st_mode & 07777) == 0640);
        REQUIRE(::stat((r + "/srv/data").c_str(), &st) == 0);
        REQUIRE(st.st_size == 10);
        if (root) {
            REQUIRE(::chown((r + "/etc/conf").c_str(), 65534, 65534) == 0);
            REQUIRE(::stat((r + "/etc/conf").c_str(), &st) == 0);
            REQUIRE(st.st_uid == 65534);
        } else {
            REQUIRE(::chown((r + "/etc/conf").c_str(), 0, 0) == -1);
            REQUIRE(errno == EPERM);
        }
    }
    SECTION("permissions are enforced from the union's attributes") {
        put(r + "/srv/private", "p", 0600);
        REQUIRE(::chmod((r + "/srv/private").c_str(), 0) == 0);
        REQUIRE(::mkdir((r + "/srv/closed").c_str(), 0) == 0);
        if (root) {
            // Root bypasses mode bits; check as another user on an allow_other mount.
            m.stop();
            std::vector<std::string> a = args;
            a.push_back("--allow-other");
            Mount m2(r, a);
            REQUIRE(m2.ok());
            REQUIRE(::chmod((r + "/srv").c_str(), 01777) == 0);
            int st = in_child([&] {
                if (::setgid(65534) != 0 || ::setuid(65534) != 0) return 1;
                if (::open((r + "/srv/private").c_str(), O_RDONLY) != -1 || errno != EACCES) return 2;
                if (::open((r + "/etc/secret").c_str(), O_RDONLY) != -1 || errno != EACCES) return 3;
                if (::opendir((r + "/srv/closed").c_str()) != nullptr || errno != EACCES) return 4;
                // Sticky /srv: may create and remove its own file, not root's.
                int fd = ::open((r + "/srv/mine").c_str(), O_WRONLY | O_CREAT, 0644);
                if (fd < 0) return 5;
                ::close(fd);
                if (::unlink((r + "/srv/data").c_str()) != -1 || errno != EPERM) return 6;
                if (::rename((r + "/srv/data").c_str(), (r + "/srv/x").c_str()) != -1 || errno != EPERM) return 7;
                if (::unlink((r + "/srv/mine").c_str()) != 0) return 8;
                if (::open((r + "/etc/x").c_str(), O_WRONLY | O_CREAT, 0644) != -1 || errno != EACCES) return 9;
                return 0;
            });
            REQUIRE(st == 0);
            REQUIRE(m2.stop());
        } else {
            REQUIRE(::open((r + "/srv/private").c_str(), O_RDONLY | O_CLOEXEC) == -1);
            REQUIRE(errno == EACCES);
            REQUIRE(::opendir((r + "/srv/closed").c_str()) == nullptr);
            REQUIRE(errno == EACCES);
            REQUIRE(::chmod((r + "/srv/closed").c_str(), 0755) == 0);
            // Sticky dir owned by us: our own files can still go.
            REQUIRE(::chmod((r + "/srv").c_str(), 01777) == 0);
            REQUIRE(::unlink((r + "/srv/data").c_str()) == 0);
        }
    }
    m.stop();
    REQUIRE(s.lower_untouched());
}

TEST_CASE("read-only views refuse writes with EROFS through the mount") {
    SKIP_WITHOUT_FUSE();
    Space s;
    put(s.upper + "/changed", "c");
    s.seal();
    for (const char* view : {"merged", "upper"}) {
        Mount m(s.root, {"--upper", s.upper, "--lower", s.lower, "--view", view});
        REQUIRE(m.ok());
        REQUIRE(::open((s.root + "/changed").c_str(), O_WRONLY | O_CLOEXEC) == -1);
        REQUIRE(errno == EROFS);
        REQUIRE(::mkdir((s.root + "/d").c_str(), 0755) == -1);
        REQUIRE(errno == EROFS);
        REQUIRE(::unlink((s.root + "/changed").c_str()) == -1);
        REQUIRE(errno == EROFS);
        REQUIRE(::chmod((s.root + "/changed").c_str(), 0600) == -1);
        REQUIRE(errno == EROFS);
        REQUIRE(read_all(s.root + "/changed") == "c");
        REQUIRE(m.stop());
    }
    REQUIRE(read_all(s.upper + "/changed") == "c");
    REQUIRE(s.lower_untouched());
}

TEST_CASE("hsbox mount rejects bad command lines with one line and status 2") {
    SKIP_WITHOUT_FUSE();
    std::string bin = std::getenv("HSBOX_BIN");
    std::string out;
    REQUIRE(sh(bin + " mount --view sideways /tmp", &out) == 2);
    REQUIRE(out.find("--view must be root, merged or upper") != std::string::npos);
    REQUIRE(sh(bin + " mount /nonexistent/dir", &out) == 2);
    REQUIRE(out.find("not a directory") != std::string::npos);
    REQUIRE(sh(bin + " mount --lower /tmp /tmp", &out) == 2);
    REQUIRE(out.find("needs --upper") != std::string::npos);
    REQUIRE(sh(bin + " diff", &out) == 2);
    REQUIRE(sh(bin + " diff --upper /nonexistent/upper", &out) == 1);
    REQUIRE(out.find("/nonexistent/upper") != std::string::npos);
}

TEST_CASE("hsbox mount says in one line when /dev/fuse cannot be opened") {
    const char* bin = std::getenv("HSBOX_BIN");
    if (!bin) {
        WARN("skipped: HSBOX_BIN is not set");
        return;
    }
    // A bubblewrap sandbox with a minimal /dev has no /dev/fuse.
    if (sh("command -v bwrap >/dev/null && bwrap --ro-bind / / --dev /dev true", nullptr) != 0) {
        WARN("skipped: bubblewrap cannot create a sandbox here");
        return;
    }
    std::string dir = make_temp_dir("nofuse");
    ::mkdir((dir + "/m").c_str(), 0755);
    ::mkdir((dir + "/u").c_str(), 0755);
    std::string out;
    int rc = sh("bwrap --ro-bind / / --dev /dev --bind " + dir + " " + dir + " " + bin + " mount --upper " + dir +
                    "/u " + dir + "/m",
                &out);
    remove_tree(dir);
    REQUIRE(rc == 1);
    REQUIRE(out.find("cannot open /dev/fuse") != std::string::npos);
    REQUIRE(std::count(out.begin(), out.end(), '\n') == 1);
}

namespace {

struct AideReport {
    std::set<std::string> added, removed, changed;
    std::set<std::string> all() const {
        std::set<std::string> a = added;
        a.insert(removed.begin(), removed.end());
        a.insert(changed.begin(), changed.end());
        return a;
    }
};

AideReport parse_aide(const std::string& out) {
    AideReport r;
    std::set<std::string>* cur = nullptr;
    std::istringstream in(out);
    std::string l;
    std::regex entry("^[a-zA-Z!?][^:]*: (/.*)$");
    while (std::getline(in, l)) {
        if (l == "Added entries:") cur = &r.added;
        else if (l == "Removed entries:") cur = &r.removed;
        else if (l == "Changed entries:") cur = &r.changed;
        else if (l.rfind("Detailed information", 0) == 0 || l.rfind("The attributes", 0) == 0) cur = nullptr;
        std::smatch mm;
        if (cur && std::regex_match(l, mm, entry)) cur->insert(mm[1]);
    }
    return r;
}

std::string aide_conf(const std::string& dir, const std::string& prefix) {
    return "database_in=file:" + dir + "/aide.db\n"
           "database_out=file:" + dir + "/aide.db.new\n"
           "gzip_dbout=no\nreport_url=stdout\n"
           "root_prefix=" + prefix + "\n"
           "Check = p+u+g+s+m+sha256+ftype\n"
           "/srv f,l,c,b,p,s Check\n/etc f,l,c,b,p,s Check\n";
}

}  // namespace

TEST_CASE("AIDE on the merged and upper-only views reports exactly what the upper changed") {
    SKIP_WITHOUT_FUSE();
    if (sh("command -v aide >/dev/null") != 0) {
        WARN("skipped: aide is not installed");
        return;
    }
    Space s;
    ::unlink((s.lower + "/srv/fifo").c_str());  // aide would try to hash it
    ::unlink((s.lower + "/etc/secret").c_str());  // unreadable to an ordinary user's aide? keep it simple
    s.seal();
    std::string merged = s.dir + "/merged", dmerged = s.dir + "/dserverfs";
    Mount rw(s.root, {"--upper", s.upper, "--lower", s.lower});
    REQUIRE(rw.ok());
    Mount mv(merged, {"--upper", s.upper, "--lower", s.lower, "--view", "merged", "--timeout", "0"});
    REQUIRE(mv.ok());
    Mount up(dmerged, {"--upper", s.upper, "--view", "upper", "--timeout", "0"});
    REQUIRE(up.ok());
    put(s.dir + "/merged.conf", aide_conf(s.dir, merged));
    put(s.dir + "/upper.conf", aide_conf(s.dir, dmerged));
    std::string out;
    REQUIRE(sh("aide -c " + s.dir + "/merged.conf --init", &out) == 0);
    REQUIRE(::rename((s.dir + "/aide.db.new").c_str(), (s.dir + "/aide.db").c_str()) == 0);
    // Nothing changed yet: a clean check.
    REQUIRE(sh("aide -c " + s.dir + "/merged.conf --check", &out) == 0);

    // The server changes files through its root view.
    const std::string r = s.root;
    REQUIRE(sh("cd " + r + " && echo changed >> srv/www/page1.html && rm srv/www/page2.html && "
               "chmod 600 etc/conf && echo new > srv/www/new.html && ln -sf elsewhere srv/link") == 0);
    std::set<std::string> expect = {"/srv/www/page1.html", "/srv/www/page2.html", "/etc/conf",
                                    "/srv/www/new.html", "/srv/link"};

    int rc = sh("aide -c " + s.dir + "/merged.conf --check", &out);
    REQUIRE(rc == 7);  // added | removed | changed
    AideReport full = parse_aide(out);
    INFO(out);
    REQUIRE(full.added == std::set<std::string>{"/srv/www/new.html"});
    REQUIRE(full.removed == std::set<std::string>{"/srv/www/page2.html"});
    REQUIRE(full.changed == std::set<std::string>{"/srv/www/page1.html", "/etc/conf", "/srv/link"});

    // /.dserverfs: check only what the upper holds, against the same database.
    std::string list;
    REQUIRE(sh("cd " + dmerged + " && find . ! -type d | sed 's/^\\.//' | sort", &list) == 0);
    REQUIRE(lines(list) == expect);
    std::string limit = "(";
    for (auto& p : lines(list)) limit += (limit.size() > 1 ? "|" : "") + p;
    limit += ")$";
    rc = sh("aide -c " + s.dir + "/upper.conf --check --limit '" + limit + "'", &out);
    INFO(out);
    AideReport diff = parse_aide(out);
    REQUIRE(rc != 0);
    REQUIRE(diff.all() == expect);
    REQUIRE(diff.added == std::set<std::string>{"/srv/www/new.html"});
    // The deletion shows as a whiteout (a character device): a type change.
    REQUIRE(diff.changed.count("/srv/www/page2.html"));

    REQUIRE(up.stop());
    REQUIRE(mv.stop());
    REQUIRE(rw.stop());
    REQUIRE(s.lower_untouched());
}

TEST_CASE("read-only views with long caches follow the root view's changes") {
    SKIP_WITHOUT_FUSE();
    Space s;
    s.seal();
    std::string merged = s.dir + "/merged", dserver = s.dir + "/dserverfs";
    Mount rw(s.root, {"--upper", s.upper, "--lower", s.lower});
    REQUIRE(rw.ok());
    Mount mv(merged, {"--upper", s.upper, "--lower", s.lower, "--view", "merged", "--timeout", "600"});
    REQUIRE(mv.ok());
    Mount up(dserver, {"--upper", s.upper, "--view", "upper", "--timeout", "600"});
    REQUIRE(up.ok());
    // Fill the monitors' kernel caches.
    REQUIRE(read_all(merged + "/etc/conf") == "key=value\n");
    REQUIRE(sh("ls -la " + merged + "/srv/www " + dserver + " >/dev/null") == 0);
    REQUIRE(::access((dserver + "/etc").c_str(), F_OK) == -1);
    REQUIRE(sh("cd " + s.root + " && echo more >> etc/conf && rm srv/www/page7.html && echo n > srv/www/new") == 0);
    // The monitors' caches would hold the old state for 600 s; the change
    // journal must clear them. Wait (bounded) for the change to show.
    auto settled = [&] {
        return read_all(merged + "/etc/conf") == "key=value\nmore\n" &&
               ::access((merged + "/srv/www/page7.html").c_str(), F_OK) == -1 &&
               read_all(merged + "/srv/www/new") == "n\n" && read_all(dserver + "/etc/conf") == "key=value\nmore\n";
    };
    bool ok = false;
    for (int i = 0; i < 500 && !ok; ++i) {
        ok = settled();
        if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    REQUIRE(ok);
    struct stat st;
    REQUIRE(::lstat((dserver + "/srv/www/page7.html").c_str(), &st) == 0);
    REQUIRE(S_ISCHR(st.st_mode));
    REQUIRE(up.stop());
    REQUIRE(mv.stop());
    REQUIRE(rw.stop());
    REQUIRE(s.lower_untouched());
}

TEST_CASE("a space cannot see hidden host paths nor reach the lower through the mount") {
    SKIP_WITHOUT_FUSE();
    Space s;
    ::mkdir((s.lower + "/state").c_str(), 0700);
    put(s.lower + "/state/key", "secret");
    s.seal();
    Mount m(s.root, {"--upper", s.upper, "--lower", s.lower, "--hide", s.lower + "/state"});
    REQUIRE(m.ok());
    const std::string r = s.root;
    REQUIRE(::access((r + "/state").c_str(), F_OK) == -1);
    REQUIRE(sh("ls -a " + r + " | grep -qx state; test $? = 1") == 0);
    REQUIRE(sh("cat " + r + "/state/key 2>/dev/null; test $? != 0") == 0);
    // Walking up with .. stays inside the mount.
    REQUIRE(sh("cd " + r + "/srv/www && test \"$(cd ../../.. && pwd)\" = \"" + s.dir + "\"") == 0);
    // A symlink planted in the space is served as a symlink: the kernel
    // resolves it on the caller's side, writes land in the upper.
    REQUIRE(::symlink((s.lower + "/etc").c_str(), (r + "/escape").c_str()) == 0);
    REQUIRE(sh("cd " + r + " && readlink escape | grep -q " + s.lower) == 0);
    REQUIRE(::mkdir((r + "/state").c_str(), 0700) == 0);
    REQUIRE(sh("test -z \"$(ls -A " + r + "/state)\"") == 0);
    REQUIRE(m.stop());
    REQUIRE(s.lower_untouched());
    REQUIRE(read_all(s.lower + "/state/key") == "secret");
}
