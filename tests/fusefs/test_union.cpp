// Unit tests of the union core on temp directories: no FUSE involved.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <set>
#include <tuple>

#include "catch.hpp"
#include "hsbox/fusefs/union_fs.hpp"
#include "tree.hpp"

using namespace hsbox;
using namespace hsbox::fusefs;
using hsbox::test::put;
using hsbox::test::slurp;

namespace {

struct Fixture {
    std::string dir = test::make_temp_dir("union");
    std::string lower = dir + "/lower";
    std::string upper = dir + "/upper";
    uint64_t lower_before = 0;
    std::unique_ptr<Union> u;
    Caller me{::getuid(), ::getgid(), 022};

    Fixture() {
        ::mkdir(lower.c_str(), 0755);
        ::mkdir(upper.c_str(), 0755);
    }
    ~Fixture() {
        u.reset();
        test::remove_tree(dir);
    }
    // Opens the union once the lower tree is populated, and fingerprints it.
    void open(View v = View::Root, std::vector<std::string> hidden = {}) {
        lower_before = test::fingerprint(lower);
        Config c;
        c.upper = upper;
        c.lowers = {lower};
        c.view = v;
        c.hidden = std::move(hidden);
        auto r = Union::open(c);
        REQUIRE(r.ok());
        u = std::move(*r);
    }
    bool lower_untouched() { return test::fingerprint(lower) == lower_before; }

    // Looks up a slash-separated path; returns the node (0 if missing).
    uint64_t walk(const std::string& path, int* err = nullptr) {
        uint64_t n = kRootNode;
        size_t i = 0;
        while (i < path.size()) {
            size_t j = path.find('/', i);
            if (j == std::string::npos) j = path.size();
            std::string c = path.substr(i, j - i);
            i = j + 1;
            if (c.empty()) continue;
            auto e = u->lookup(n, c);
            if (!e) {
                if (err) *err = e.code();
                return 0;
            }
            n = e->node;
        }
        return n;
    }
    std::string read(const std::string& path) {
        uint64_t n = walk(path);
        if (!n) return "<missing>";
        auto f = u->open_file(n, O_RDONLY);
        if (!f) return "<error>";
        std::string out;
        char buf[4096];
        ssize_t k;
        while ((k = ::read(f->fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(k));
        return out;
    }
    void write(const std::string& path, const std::string& data, int flags = O_WRONLY | O_TRUNC) {
        uint64_t n = walk(path);
        REQUIRE(n != 0);
        auto f = u->open_file(n, flags);
        REQUIRE(f.ok());
        REQUIRE(::write(f->fd.get(), data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    }
    std::set<std::string> list(const std::string& path) {
        uint64_t n = walk(path);
        auto l = u->readdir(n);
        REQUIRE(l.ok());
        std::set<std::string> out;
        for (auto& e : *l)
            if (e.name != "." && e.name != "..") out.insert(e.name);
        return out;
    }
    struct stat st(const std::string& path) {
        uint64_t n = walk(path);
        REQUIRE(n != 0);
        auto a = u->getattr(n);
        REQUIRE(a.ok());
        return *a;
    }
};

using Names = std::set<std::string>;

}  // namespace

TEST_CASE("lookup and readdir merge the upper over the lower") {
    Fixture f;
    ::mkdir((f.lower + "/d").c_str(), 0755);
    put(f.lower + "/a", "lower a");
    put(f.lower + "/shadowed", "lower");
    put(f.lower + "/d/x", "x");
    ::mkdir((f.upper + "/d").c_str(), 0755);
    put(f.upper + "/b", "upper b");
    put(f.upper + "/shadowed", "upper");
    put(f.upper + "/d/y", "y");
    f.open();
    REQUIRE(f.list("") == Names{"a", "b", "d", "shadowed"});
    REQUIRE(f.list("d") == Names{"x", "y"});
    REQUIRE(f.read("a") == "lower a");
    REQUIRE(f.read("shadowed") == "upper");
    REQUIRE(f.read("d/x") == "x");
    int err = 0;
    REQUIRE(f.walk("nope", &err) == 0);
    REQUIRE(err == ENOENT);
    REQUIRE(f.lower_untouched());
}

TEST_CASE("unlink of a lower file leaves a whiteout and never touches the lower") {
    Fixture f;
    put(f.lower + "/a", "a");
    f.open();
    REQUIRE(f.u->unlink(kRootNode, "a").ok());
    int err = 0;
    REQUIRE(f.walk("a", &err) == 0);
    REQUIRE(err == ENOENT);
    REQUIRE(f.list("").empty());
    REQUIRE(test::slurp(f.upper + "/.wh.a") == "");
    REQUIRE(f.lower_untouched());
    // Creating it again removes the whiteout.
    auto c = f.u->create(kRootNode, "a", 0600, O_WRONLY, f.me);
    REQUIRE(c.ok());
    REQUIRE(::access((f.upper + "/.wh.a").c_str(), F_OK) != 0);
    REQUIRE(f.read("a") == "");
}

TEST_CASE("rmdir of a lower dir then mkdir gives an empty opaque dir") {
    Fixture f;
    ::mkdir((f.lower + "/d").c_str(), 0755);
    put(f.lower + "/d/x", "x");
    f.open();
    uint64_t d = f.walk("d");
    REQUIRE(f.u->rmdir(kRootNode, "d").code() == ENOTEMPTY);
    REQUIRE(f.u->unlink(d, "x").ok());
    REQUIRE(f.u->rmdir(kRootNode, "d").ok());
    REQUIRE(f.list("").empty());
    REQUIRE(f.u->mkdir(kRootNode, "d", 0750, f.me).ok());
    REQUIRE(f.list("d").empty());
    REQUIRE(::access((f.upper + "/d/.wh..wh..opq").c_str(), F_OK) == 0);
    REQUIRE((f.st("d").st_mode & 07777) == 0750);
    // rmdir of the opaque dir brings the whiteout back.
    REQUIRE(f.u->rmdir(kRootNode, "d").ok());
    REQUIRE(f.list("").empty());
    REQUIRE(f.lower_untouched());
}

TEST_CASE("names starting with .wh. are reserved") {
    Fixture f;
    put(f.upper + "/.wh.gone", "");
    put(f.lower + "/gone", "g");
    f.open();
    int err = 0;
    REQUIRE(f.walk(".wh.gone", &err) == 0);
    REQUIRE(f.walk("gone", &err) == 0);
    REQUIRE(f.u->create(kRootNode, ".wh.x", 0600, O_WRONLY, f.me).code() == EPERM);
    REQUIRE(f.u->mkdir(kRootNode, ".wh..wh..opq", 0700, f.me).code() == EPERM);
    REQUIRE(f.list("").empty());
}

TEST_CASE("setxattr on a lower file copies it up and removexattr removes it there only") {
    Fixture f;
    std::string p = f.lower + "/plain";
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    ::close(fd);
    if (::setxattr(p.c_str(), "user.probe", "1", 1, 0) != 0) {
        WARN("user xattrs unsupported on " << f.dir << ": not checked");
        return;
    }
    ::removexattr(p.c_str(), "user.probe");
    f.open();
    uint64_t n = f.walk("plain");
    REQUIRE(f.u->setxattr(n, "user.hsbox", "v2", 0).ok());
    char v[16];
    REQUIRE(::getxattr((f.upper + "/plain").c_str(), "user.hsbox", v, sizeof v) == 2);
    REQUIRE(::getxattr(p.c_str(), "user.hsbox", v, sizeof v) == -1);
    REQUIRE(*f.u->getxattr(n, "user.hsbox") == "v2");
    REQUIRE(f.u->removexattr(n, "user.hsbox").ok());
    REQUIRE(f.u->getxattr(n, "user.hsbox").code() == ENODATA);
    REQUIRE(f.u->removexattr(n, "user.hsbox").code() == ENODATA);
    REQUIRE(f.lower_untouched());
}

TEST_CASE("copy-up keeps mode, timestamps, xattrs and sparse holes") {
    Fixture f;
    std::string p = f.lower + "/sparse";
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    REQUIRE(fd >= 0);
    REQUIRE(::pwrite(fd, "head", 4, 0) == 4);
    REQUIRE(::pwrite(fd, "tail", 4, 64 << 20) == 4);
    ::close(fd);
    ::chmod(p.c_str(), 0640);
    bool have_xattr = ::setxattr(p.c_str(), "user.hsbox", "v1", 2, 0) == 0;
    struct timespec ts[2] = {{1000000000, 5}, {1100000000, 7}};
    REQUIRE(::utimensat(AT_FDCWD, p.c_str(), ts, 0) == 0);
    f.open();
    uint64_t n = f.walk("sparse");
    SetAttr a;
    a.uid = ::getuid();  // a chown that changes nothing still copies up
    REQUIRE(f.u->setattr(n, a).ok());
    struct stat up;
    REQUIRE(::stat((f.upper + "/sparse").c_str(), &up) == 0);
    REQUIRE((up.st_mode & 07777) == 0640);
    REQUIRE(up.st_size == (64 << 20) + 4);
    REQUIRE(up.st_mtim.tv_sec == 1100000000);
    REQUIRE(up.st_mtim.tv_nsec == 7);
    REQUIRE(up.st_blocks * 512 < (1 << 20));  // the hole stayed a hole
    if (have_xattr) {
        char v[16];
        REQUIRE(::getxattr((f.upper + "/sparse").c_str(), "user.hsbox", v, sizeof v) == 2);
        auto x = f.u->getxattr(n, "user.hsbox");
        REQUIRE(x.ok());
        REQUIRE(*x == "v1");
    } else {
        WARN("user xattrs unsupported on " << f.dir << ": xattr part not checked");
    }
    std::string head = f.read("sparse").substr(0, 4);
    REQUIRE(head == "head");
    REQUIRE(f.lower_untouched());
}

TEST_CASE("writing a lower file copies it up and keeps its inode number") {
    Fixture f;
    ::mkdir((f.lower + "/etc").c_str(), 0755);
    put(f.lower + "/etc/conf", "old");
    f.open();
    uint64_t ino = f.st("etc/conf").st_ino;
    uint64_t dino = f.st("etc").st_ino;
    f.write("etc/conf", "new!");
    REQUIRE(f.read("etc/conf") == "new!");
    REQUIRE(slurp(f.upper + "/etc/conf") == "new!");
    REQUIRE(f.st("etc/conf").st_ino == ino);
    REQUIRE(f.st("etc").st_ino == dino);
    REQUIRE(f.lower_untouched());
}

TEST_CASE("mv of a lower directory works and keeps its contents") {
    Fixture f;
    ::mkdir((f.lower + "/d").c_str(), 0755);
    ::mkdir((f.lower + "/d/sub").c_str(), 0700);
    put(f.lower + "/d/a", "a");
    put(f.lower + "/d/sub/b", "b");
    ::symlink("../a", (f.lower + "/d/sub/link").c_str());
    f.open();
    uint64_t sub = f.walk("d/sub");  // a node inside the moved tree, held across the move
    REQUIRE(f.u->rename(kRootNode, "d", kRootNode, "e", 0).ok());
    REQUIRE(f.list("") == Names{"e"});
    REQUIRE(f.list("e") == Names{"a", "sub"});
    REQUIRE(f.read("e/sub/b") == "b");
    auto l = f.u->readlink(f.walk("e/sub/link"));
    REQUIRE(l.ok());
    REQUIRE(*l == "../a");
    REQUIRE((f.st("e/sub").st_mode & 07777) == 0700);
    auto kids = f.u->readdir(sub);  // the held node now lives at e/sub
    REQUIRE(kids.ok());
    REQUIRE(kids->size() == 4);
    // Moving it back over nothing restores the name; the lower is untouched.
    REQUIRE(f.u->rename(kRootNode, "e", kRootNode, "d", 0).ok());
    REQUIRE(f.read("d/a") == "a");
    REQUIRE(f.lower_untouched());
}

TEST_CASE("rename over, noreplace and exchange") {
    Fixture f;
    put(f.lower + "/a", "A");
    put(f.lower + "/b", "B");
    put(f.lower + "/c", "C");
    ::mkdir((f.lower + "/d").c_str(), 0755);
    put(f.lower + "/d/in", "in");
    f.open();
    REQUIRE(f.u->rename(kRootNode, "a", kRootNode, "b", RENAME_NOREPLACE).code() == EEXIST);
    REQUIRE(f.u->rename(kRootNode, "a", kRootNode, "b", 0).ok());
    REQUIRE(f.list("") == Names{"b", "c", "d"});
    REQUIRE(f.read("b") == "A");
    REQUIRE(f.u->rename(kRootNode, "b", kRootNode, "d", 0).code() == EISDIR);
    REQUIRE(f.u->rename(kRootNode, "d", kRootNode, "c", 0).code() == ENOTDIR);
    REQUIRE(f.u->rename(kRootNode, "c", kRootNode, "d", RENAME_EXCHANGE).ok());
    REQUIRE(f.read("d") == "C");
    REQUIRE(f.read("c/in") == "in");
    uint64_t d = f.walk("c");
    REQUIRE(f.u->rename(kRootNode, "c", d, "x", 0).code() == EINVAL);
    REQUIRE(f.lower_untouched());
}

TEST_CASE("hard links stay one file across copy-up") {
    Fixture f;
    put(f.lower + "/a", "same");
    REQUIRE(::link((f.lower + "/a").c_str(), (f.lower + "/b").c_str()) == 0);
    f.open();
    auto sa = f.st("a");
    auto sb = f.st("b");
    REQUIRE(sa.st_ino == sb.st_ino);
    REQUIRE(sa.st_nlink == 2);
    f.write("a", "changed");
    REQUIRE(f.read("b") == "changed");
    REQUIRE(f.st("b").st_ino == sa.st_ino);
    REQUIRE(f.st("a").st_nlink == 2);
    REQUIRE(f.st("b").st_nlink == 2);
    auto c = f.u->link(f.walk("b"), kRootNode, "c");
    REQUIRE(c.ok());
    REQUIRE(c->attr.st_ino == sa.st_ino);
    REQUIRE(f.st("a").st_nlink == 3);
    REQUIRE(f.u->unlink(kRootNode, "b").ok());
    REQUIRE(f.st("a").st_nlink == 2);
    REQUIRE(f.read("c") == "changed");
    REQUIRE(f.u->unlink(kRootNode, "a").ok());
    REQUIRE(f.st("c").st_nlink == 1);
    REQUIRE(f.lower_untouched());
}

TEST_CASE("symlinks and special files are created and copied up as themselves") {
    Fixture f;
    ::symlink("/etc/passwd", (f.lower + "/abs").c_str());
    ::mkfifo((f.lower + "/fifo").c_str(), 0600);
    f.open();
    REQUIRE((f.st("abs").st_mode & S_IFMT) == S_IFLNK);
    REQUIRE(f.u->readlink(f.walk("abs")).value() == "/etc/passwd");
    // Opening a symlink node never follows it.
    REQUIRE(f.u->open_file(f.walk("abs"), O_RDONLY).code() == ELOOP);
    SetAttr t;
    t.mtime = timespec{1234, 0};
    REQUIRE(f.u->setattr(f.walk("abs"), t).ok());
    char buf[64];
    REQUIRE(::readlink((f.upper + "/abs").c_str(), buf, sizeof buf) == 11);
    REQUIRE(f.st("abs").st_mtim.tv_sec == 1234);
    REQUIRE(f.u->setattr(f.walk("fifo"), t).ok());
    struct stat fs;
    REQUIRE(::lstat((f.upper + "/fifo").c_str(), &fs) == 0);
    REQUIRE(S_ISFIFO(fs.st_mode));
    REQUIRE(f.u->symlink(kRootNode, "rel", "abs", f.me).ok());
    REQUIRE(f.u->mknod(kRootNode, "newfifo", S_IFIFO | 0600, 0, f.me).ok());
    REQUIRE(S_ISFIFO(f.st("newfifo").st_mode));
    REQUIRE(f.lower_untouched());
}

TEST_CASE("a symlink in a layer is never a way out") {
    Fixture f;
    std::string outside = f.dir + "/outside";
    ::mkdir(outside.c_str(), 0755);
    ::symlink(outside.c_str(), (f.lower + "/esc").c_str());
    ::symlink(outside.c_str(), (f.upper + "/esc2").c_str());
    f.open();
    uint64_t esc = f.walk("esc");
    REQUIRE(f.u->mkdir(esc, "x", 0755, f.me).code() == ENOTDIR);
    REQUIRE(f.u->create(f.walk("esc2"), "x", 0644, O_WRONLY, f.me).code() == ENOTDIR);
    REQUIRE(f.u->readdir(esc).code() == ENOTDIR);
    REQUIRE(::rmdir(outside.c_str()) == 0);  // still empty
}

TEST_CASE("read-only views refuse every write with EROFS") {
    Fixture f;
    put(f.lower + "/a", "a");
    put(f.upper + "/b", "b");
    for (View v : {View::Merged, View::Upper}) {
        f.open(v);
        uint64_t n = f.walk(v == View::Merged ? "a" : "b");
        REQUIRE(n != 0);
        REQUIRE(f.u->open_file(n, O_WRONLY).code() == EROFS);
        REQUIRE(f.u->open_file(n, O_RDONLY | O_TRUNC).code() == EROFS);
        REQUIRE(f.u->create(kRootNode, "c", 0644, O_WRONLY, f.me).code() == EROFS);
        REQUIRE(f.u->mkdir(kRootNode, "c", 0755, f.me).code() == EROFS);
        REQUIRE(f.u->unlink(kRootNode, "b").code() == EROFS);
        REQUIRE(f.u->rename(kRootNode, "b", kRootNode, "c", 0).code() == EROFS);
        SetAttr chmod;
        chmod.mode = 0600;
        REQUIRE(f.u->setattr(n, chmod).code() == EROFS);
        REQUIRE(f.u->setxattr(n, "user.x", "1", 0).code() == EROFS);
        REQUIRE(f.u->link(n, kRootNode, "c").code() == EROFS);
        REQUIRE(f.u->symlink(kRootNode, "c", "x", f.me).code() == EROFS);
    }
    REQUIRE(f.lower_untouched());
    REQUIRE(slurp(f.upper + "/b") == "b");
}

TEST_CASE("the upper view shows only changes, deletions as char devices 0:0") {
    Fixture f;
    ::mkdir((f.lower + "/etc").c_str(), 0755);
    put(f.lower + "/etc/keep", "k");
    put(f.lower + "/etc/gone", "g");
    put(f.lower + "/etc/conf", "old");
    f.open();
    f.write("etc/conf", "new");
    REQUIRE(f.u->unlink(f.walk("etc"), "gone").ok());
    REQUIRE(f.u->create(kRootNode, "added", 0644, O_WRONLY, f.me).ok());
    f.open(View::Upper);
    REQUIRE(f.list("") == Names{"added", "etc"});
    REQUIRE(f.list("etc") == Names{"conf", "gone"});
    auto g = f.st("etc/gone");
    REQUIRE(S_ISCHR(g.st_mode));
    REQUIRE(g.st_rdev == 0);
    REQUIRE(f.read("etc/conf") == "new");
    int err = 0;
    REQUIRE(f.walk("etc/keep", &err) == 0);
    REQUIRE(f.walk(".wh..wh..hsbox", &err) == 0);
}

TEST_CASE("hidden host paths are invisible in lower layers") {
    Fixture f;
    ::mkdir((f.lower + "/state").c_str(), 0700);
    put(f.lower + "/state/key", "secret");
    put(f.lower + "/visible", "v");
    f.open(View::Root, {f.lower + "/state"});
    int err = 0;
    REQUIRE(f.walk("state", &err) == 0);
    REQUIRE(err == ENOENT);
    REQUIRE(f.list("") == Names{"visible"});
    // Creating the name makes a new, empty upper entry; the hidden one stays out.
    REQUIRE(f.u->mkdir(kRootNode, "state", 0700, f.me).ok());
    REQUIRE(f.list("state").empty());
    REQUIRE(f.lower_untouched());
}

TEST_CASE("forget frees nodes and re-lookup gives the same inode number") {
    Fixture f;
    ::mkdir((f.lower + "/d").c_str(), 0755);
    put(f.lower + "/d/a", "a");
    f.open();
    auto d = f.u->lookup(kRootNode, "d");
    auto a = f.u->lookup(d->node, "a");
    REQUIRE(a.ok());
    uint64_t ino = a->attr.st_ino;
    REQUIRE(f.u->node_count() == 3);
    f.u->forget(a->node, 1);
    f.u->forget(d->node, 1);
    REQUIRE(f.u->node_count() == 1);
    REQUIRE(f.st("d/a").st_ino == ino);
}

TEST_CASE("diff lists added, changed and deleted paths") {
    Fixture f;
    ::mkdir((f.lower + "/etc").c_str(), 0755);
    put(f.lower + "/etc/conf", "old");
    put(f.lower + "/etc/gone", "g");
    put(f.lower + "/etc/keep", "k");
    f.open();
    f.write("etc/conf", "new");
    REQUIRE(f.u->unlink(f.walk("etc"), "gone").ok());
    REQUIRE(f.u->mkdir(kRootNode, "new", 0755, f.me).ok());
    REQUIRE(f.u->create(f.walk("new"), "file", 0644, O_WRONLY, f.me).ok());
    auto d = diff_upper(f.upper, {f.lower});
    REQUIRE(d.ok());
    std::vector<std::string> got;
    for (auto& c : *d) got.push_back(std::string(1, c.kind) + " " + c.path);
    REQUIRE(got == std::vector<std::string>{"C /etc/conf", "D /etc/gone", "A /new", "A /new/file"});
}

TEST_CASE("truncate and chmod of a lower file change only the upper copy") {
    Fixture f;
    put(f.lower + "/f", "0123456789", 0644);
    f.open();
    uint64_t n = f.walk("f");
    SetAttr a;
    a.size = 3;
    REQUIRE(f.u->setattr(n, a).ok());
    REQUIRE(f.read("f") == "012");
    SetAttr m;
    m.mode = 0600;
    auto r = f.u->setattr(n, m);
    REQUIRE(r.ok());
    REQUIRE((r->st_mode & 07777) == 0600);
    REQUIRE(f.lower_untouched());
}

TEST_CASE("with a tiny fd budget directories reopen by name and stay correct") {
    Fixture f;
    for (int i = 0; i < 6; ++i) {
        std::string d = f.lower + "/d" + std::to_string(i);
        ::mkdir(d.c_str(), 0755);
        ::mkdir((d + "/sub").c_str(), 0755);
        put(d + "/sub/file", "v" + std::to_string(i));
    }
    f.lower_before = test::fingerprint(f.lower);
    Config c;
    c.upper = f.upper;
    c.lowers = {f.lower};
    c.dir_fd_budget = 2;
    auto r = Union::open(c);
    REQUIRE(r.ok());
    f.u = std::move(*r);
    std::vector<uint64_t> subs;
    for (int i = 0; i < 6; ++i) subs.push_back(f.walk("d" + std::to_string(i) + "/sub"));
    // Every held directory still works after its fds were closed.
    for (int i = 0; i < 6; ++i) {
        auto l = f.u->readdir(subs[i]);
        REQUIRE(l.ok());
        REQUIRE(l->size() == 3);
        auto e = f.u->lookup(subs[i], "file");
        REQUIRE(e.ok());
        auto of = f.u->open_file(e->node, O_WRONLY | O_APPEND);
        REQUIRE(of.ok());
        REQUIRE(::write(of->fd.get(), "+", 1) == 1);
    }
    for (int i = 0; i < 6; ++i) REQUIRE(f.read("d" + std::to_string(i) + "/sub/file") == "v" + std::to_string(i) + "+");
    REQUIRE(f.u->rename(kRootNode, "d0", kRootNode, "moved", 0).ok());
    REQUIRE(f.u->readdir(subs[0]).ok());
    REQUIRE(f.read("moved/sub/file") == "v0+");
    REQUIRE(f.lower_untouched());
}

TEST_CASE("a live merged view follows changes made through the root view") {
    Fixture f;
    ::mkdir((f.lower + "/etc").c_str(), 0755);
    put(f.lower + "/etc/conf", "old");
    put(f.lower + "/etc/gone", "g");
    f.open();
    Config c;
    c.upper = f.upper;
    c.lowers = {f.lower};
    c.view = View::Merged;
    c.live = true;
    auto mr = Union::open(c);
    REQUIRE(mr.ok());
    Union& m = **mr;
    auto etc = m.lookup(kRootNode, "etc");
    REQUIRE(etc.ok());
    auto conf = m.lookup(etc->node, "conf");
    REQUIRE(conf.ok());
    uint64_t ino = conf->attr.st_ino;
    REQUIRE(m.lookup(etc->node, "gone").ok());
    // The server changes things through its root view.
    f.write("etc/conf", "new content");
    REQUIRE(f.u->unlink(f.walk("etc"), "gone").ok());
    REQUIRE(f.u->create(f.walk("etc"), "added", 0644, O_WRONLY, f.me).ok());
    // The monitor's nodes, held across the change, now show it.
    auto a = m.getattr(conf->node);
    REQUIRE(a.ok());
    REQUIRE(a->st_size == 11);
    REQUIRE(a->st_ino == ino);
    auto of = m.open_file(conf->node, O_RDONLY);
    REQUIRE(of.ok());
    char buf[32] = {};
    REQUIRE(::read(of->fd.get(), buf, sizeof buf) == 11);
    REQUIRE(std::string(buf) == "new content");
    REQUIRE(m.lookup(etc->node, "gone").code() == ENOENT);
    REQUIRE(m.lookup(etc->node, "added").ok());
    auto l = m.readdir(etc->node);
    REQUIRE(l.ok());
    Names names;
    for (auto& e : *l) names.insert(e.name);
    REQUIRE(names == Names{".", "..", "conf", "added"});
    REQUIRE(m.open_file(conf->node, O_RDWR).code() == EROFS);
    // The journal names exactly what changed, as nodes the monitor holds.
    std::set<std::tuple<uint64_t, std::string, uint64_t>> seen;
    REQUIRE(m.follow_changes([&](uint64_t p, const std::string& n, uint64_t node) { seen.insert({p, n, node}); }));
    REQUIRE(seen.count({etc->node, "conf", conf->node}));
    REQUIRE(seen.count({etc->node, "gone", 0}));
    auto added = m.lookup(etc->node, "added");  // looked up above: the same node
    REQUIRE(seen.count({etc->node, "added", added->node}));
    REQUIRE_FALSE(m.follow_changes([&](uint64_t, const std::string&, uint64_t) {}));  // nothing new
    f.write("etc/added", "x");
    f.u->note_written(f.walk("etc/added"));  // what the FUSE adapter does on release
    seen.clear();
    REQUIRE(m.follow_changes([&](uint64_t p, const std::string& n, uint64_t node) { seen.insert({p, n, node}); }));
    REQUIRE(seen.count({etc->node, "added", added->node}));
    REQUIRE(f.lower_untouched());
}

TEST_CASE("OCI whiteouts and opaque dirs in a lower layer hide the layers below") {
    Fixture f;
    std::string l2 = f.dir + "/lower2";
    ::mkdir(l2.c_str(), 0755);
    // lower (top lower): d is opaque and has a; x is whited out.
    ::mkdir((f.lower + "/d").c_str(), 0755);
    put(f.lower + "/d/.wh..wh..opq", "");
    put(f.lower + "/d/a", "a");
    put(f.lower + "/.wh.x", "");
    put(f.lower + "/top", "t");
    // lower2 (bottom): d has b, plus x and y.
    ::mkdir((l2 + "/d").c_str(), 0755);
    put(l2 + "/d/b", "b");
    put(l2 + "/x", "x");
    put(l2 + "/y", "y");
    f.lower_before = test::fingerprint(f.lower) ^ test::fingerprint(l2);
    Config c;
    c.upper = f.upper;
    c.lowers = {f.lower, l2};
    auto r = Union::open(c);
    REQUIRE(r.ok());
    f.u = std::move(*r);
    REQUIRE(f.list("") == Names{"d", "top", "y"});
    REQUIRE(f.list("d") == Names{"a"});
    int err = 0;
    REQUIRE(f.walk("x", &err) == 0);
    REQUIRE(f.walk("d/b", &err) == 0);
    // Deleting y (bottom only) and renaming d keep working across both lowers.
    REQUIRE(f.u->unlink(kRootNode, "y").ok());
    REQUIRE(f.u->rename(kRootNode, "d", kRootNode, "e", 0).ok());
    REQUIRE(f.list("") == Names{"e", "top"});
    REQUIRE(f.list("e") == Names{"a"});
    REQUIRE((test::fingerprint(f.lower) ^ test::fingerprint(l2)) == f.lower_before);
}
