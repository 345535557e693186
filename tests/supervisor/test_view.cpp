#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "catch.hpp"
#include "view.hpp"

using namespace hsbox;
using namespace hsbox::supervisor;

namespace {

struct Tree {
    std::string top, root, state, hidden, outside;
    Tree() {
        char tmpl[] = "/tmp/hsbox-view-XXXXXX";
        top = ::mkdtemp(tmpl);
        root = top + "/root";
        state = top + "/state";
        outside = top + "/outside";
        hidden = root + "/hidden";
        for (auto d : {root, state, outside, hidden, root + "/etc", root + "/tmp"}) ::mkdir(d.c_str(), 0755);
        put(root + "/etc/passwd", "space passwd\n");
        put(outside + "/secret", "outside secret\n");
        put(hidden + "/secret", "hidden secret\n");
        ::symlink("/etc", (root + "/abs").c_str());
        ::symlink("../../../../../outside", (root + "/rel").c_str());
        ::symlink("/hidden", (root + "/tmp/into-hidden").c_str());
        ::symlink("/proc/self/root", (root + "/magic").c_str());
    }
    ~Tree() { std::system(("rm -rf " + top).c_str()); }
    static void put(const std::string& p, const std::string& s) {
        int fd = ::open(p.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
        REQUIRE(::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()));
        ::close(fd);
    }
    std::unique_ptr<SpaceView> view() {
        ViewOptions o;
        o.root = root;
        o.state_dir = state;
        o.hidden = {hidden};
        auto v = SpaceView::create(o, [](pid_t p) { return p == ::getpid(); });
        REQUIRE(v.ok());
        return std::move(*v);
    }
};

std::string slurp(Fd fd) {
    char buf[256];
    ssize_t n = ::pread(fd.get(), buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

const Who me{::getpid(), ::getpid()};

}  // namespace

TEST_CASE("lexical components drop dots and clamp .. at the root") {
    REQUIRE(join_components(lexical_components("/a//b/./c/../d")) == "/a/b/d");
    REQUIRE(join_components(lexical_components("/../../x")) == "/x");
    REQUIRE(join_components(lexical_components("")) == "/");
}

TEST_CASE("paths resolve inside the root whatever .. and symlinks say") {
    Tree t;
    auto v = t.view();
    auto a = v->open(me, "/../../../etc/passwd", O_RDONLY, 0);
    REQUIRE(a.ok());
    REQUIRE(slurp(std::move(*a)) == "space passwd\n");
    auto b = v->open(me, "/abs/passwd", O_RDONLY, 0);
    REQUIRE(b.ok());
    REQUIRE(slurp(std::move(*b)) == "space passwd\n");
    REQUIRE(v->open(me, "/rel/secret", O_RDONLY, 0).code() == ENOENT);
}

TEST_CASE("a hidden directory does not exist, by name or through a symlink") {
    Tree t;
    auto v = t.view();
    REQUIRE(v->open(me, "/hidden/secret", O_RDONLY, 0).code() == ENOENT);
    REQUIRE(v->open(me, "/tmp/into-hidden/secret", O_RDONLY, 0).code() == ENOENT);
    REQUIRE(v->open(me, "/tmp/into-hidden/new", O_CREAT | O_WRONLY, 0644).code() == ENOENT);
    struct stat st;
    REQUIRE(::stat((t.hidden + "/new").c_str(), &st) == -1);
    REQUIRE(v->parent(me, "/hidden/x").code() == ENOENT);
}

TEST_CASE("creating through a trailing symlink stays inside the root") {
    Tree t;
    auto v = t.view();
    ::symlink("/etc/created", (t.root + "/tmp/dangling").c_str());
    auto fd = v->open(me, "/tmp/dangling", O_CREAT | O_WRONLY, 0600);
    REQUIRE(fd.ok());
    struct stat st;
    REQUIRE(::stat((t.root + "/etc/created").c_str(), &st) == 0);
    REQUIRE(v->open(me, "/tmp/dangling", O_CREAT | O_EXCL | O_WRONLY, 0600).code() == EEXIST);
    REQUIRE(v->open(me, "/tmp/dangling", O_CREAT | O_NOFOLLOW | O_WRONLY, 0600).code() == ELOOP);
}

TEST_CASE("an O_TRUNC open of a hidden file truncates nothing") {
    Tree t;
    auto v = t.view();
    ::symlink((t.hidden + "/secret").c_str(), (t.root + "/tmp/s").c_str());  // absolute host path: inside the root it dangles
    REQUIRE_FALSE(v->open(me, "/tmp/s", O_WRONLY | O_TRUNC, 0).ok());
    struct stat st;
    REQUIRE(::stat((t.hidden + "/secret").c_str(), &st) == 0);
    REQUIRE(st.st_size > 0);
}

TEST_CASE("host paths map to space paths and nothing outside maps") {
    Tree t;
    auto v = t.view();
    REQUIRE(*v->to_space(t.root) == "/");
    REQUIRE(*v->to_space(t.root + "/etc") == "/etc");
    REQUIRE(v->to_space(t.outside).code() == EACCES);
    REQUIRE(v->to_space(t.hidden + "/secret").code() == EACCES);
    REQUIRE(v->to_space(t.state).code() == EACCES);
}

TEST_CASE("/proc shows only the space's processes and answers magic links in space terms") {
    Tree t;
    auto v = t.view();
    std::string self = std::to_string(::getpid());
    REQUIRE(v->open(me, "/proc/" + self + "/status", O_RDONLY, 0).ok());
    REQUIRE(v->open(me, "/proc/1/status", O_RDONLY, 0).code() == ENOENT);
    REQUIRE(*v->readlink(me, "/proc/self") == self);
    REQUIRE(*v->readlink(me, "/proc/self/root") == "/");
    // /proc/self/root is the space root, even reached through a symlink.
    auto p = v->open(me, "/magic/etc/passwd", O_RDONLY, 0);
    REQUIRE(p.ok());
    REQUIRE(slurp(std::move(*p)) == "space passwd\n");
    auto listing = v->open(me, "/proc", O_RDONLY | O_DIRECTORY, 0);
    REQUIRE(listing.ok());
    struct stat st;
    REQUIRE(::fstatat(listing->get(), self.c_str(), &st, 0) == 0);
    REQUIRE(::fstatat(listing->get(), "1", &st, 0) == -1);
}

TEST_CASE("/dev offers the safe nodes and nothing else") {
    Tree t;
    auto v = t.view();
    REQUIRE(v->open(me, "/dev/null", O_WRONLY, 0).ok());
    REQUIRE(v->open(me, "/dev/urandom", O_RDONLY, 0).ok());
    REQUIRE(v->open(me, "/dev/sda", O_RDONLY, 0).code() == ENOENT);
    REQUIRE(v->open(me, "/dev/mem", O_RDONLY, 0).code() == ENOENT);
    REQUIRE(*v->readlink(me, "/dev/fd") == "/proc/self/fd");
    REQUIRE(v->parent(me, "/dev/newnode").code() == EACCES);
    auto shm = v->open(me, "/dev/shm/seg", O_CREAT | O_RDWR, 0600);
    REQUIRE(shm.ok());
    struct stat st;
    REQUIRE(::stat((t.state + "/shm/seg").c_str(), &st) == 0);
}
