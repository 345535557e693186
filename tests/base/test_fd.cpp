#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "catch.hpp"
#include "hsbox/fd.hpp"

using namespace hsbox;

TEST_CASE("Fd closes what it owns and moves ownership") {
    int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(raw >= 0);
    {
        Fd a(raw);
        Fd b(std::move(a));
        REQUIRE_FALSE(a.valid());
        REQUIRE(b.get() == raw);
    }
    REQUIRE(::fcntl(raw, F_GETFD) == -1);
}

TEST_CASE("open_at reports the path and errno on failure") {
    auto r = open_at(AT_FDCWD, "/nonexistent/hsbox", O_RDONLY);
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.code() == ENOENT);
    REQUIRE(r.error().message().find("/nonexistent/hsbox") != std::string::npos);
}

TEST_CASE("write_file_atomic replaces the file whole with the given mode") {
    char dir[] = "/tmp/hsbox-fd-XXXXXX";
    REQUIRE(::mkdtemp(dir));
    std::string path = std::string(dir) + "/f";
    REQUIRE(write_file_atomic(path, "one", 0600).ok());
    REQUIRE(write_file_atomic(path, "two", 0600).ok());
    auto content = read_file(AT_FDCWD, path);
    REQUIRE(content.ok());
    REQUIRE(*content == "two");
    struct stat st;
    REQUIRE(::stat(path.c_str(), &st) == 0);
    REQUIRE((st.st_mode & 0777) == 0600);
    auto missing = write_file_atomic(std::string(dir) + "/no/such/dir/f", "x", 0600);
    REQUIRE_FALSE(missing.ok());
    ::unlink(path.c_str());
    REQUIRE(::rmdir(dir) == 0);  // nothing half-written left behind
}
