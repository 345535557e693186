// A multi-threaded program for the integration tests: 8 threads, each
// writing, renaming, reading back and removing files while forking and
// exec'ing this program (in "child N" mode, which exits N % 7) at the same
// time. Prints "ok <files> <execs>" and exits 0 when every result matched.
// Usage: mt_worker DIR ROUNDS | mt_worker child N
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<int> failures{0}, files{0}, execs{0};
std::string self;

void fail(const std::string& what) {
    std::fprintf(stderr, "mt_worker: %s: %s\n", what.c_str(), std::strerror(errno));
    ++failures;
}

void worker(const std::string& dir, int id, int rounds) {
    for (int r = 0; r < rounds; ++r) {
        std::string name = dir + "/t" + std::to_string(id) + "_" + std::to_string(r);
        std::string content(1000 + id * 100 + r, static_cast<char>('a' + (id + r) % 26));
        int fd = ::open((name + ".tmp").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            fail("create " + name);
            continue;
        }
        if (::write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size())) fail("write " + name);
        ::close(fd);
        if (::rename((name + ".tmp").c_str(), name.c_str()) < 0) fail("rename " + name);
        struct stat st;
        if (::stat(name.c_str(), &st) < 0 || st.st_size != static_cast<off_t>(content.size())) fail("stat " + name);
        fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
        std::string back(content.size() + 1, '\0');
        ssize_t n = fd < 0 ? -1 : ::read(fd, back.data(), back.size());
        if (fd >= 0) ::close(fd);
        if (n != static_cast<ssize_t>(content.size()) || back.compare(0, content.size(), content) != 0) fail("read back " + name);
        ++files;

        int code = id * rounds + r;
        pid_t pid = ::fork();
        if (pid == 0) {
            std::string arg = std::to_string(code);
            ::execl(self.c_str(), "mt_worker", "child", arg.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        int status = 0;
        if (pid < 0 || ::waitpid(pid, &status, 0) != pid) fail("fork/wait");
        else if (!WIFEXITED(status) || WEXITSTATUS(status) != code % 7) {
            errno = 0;
            fail("child " + std::to_string(code) + " status " + std::to_string(status));
        } else {
            ++execs;
        }
        if (::unlink(name.c_str()) < 0) fail("unlink " + name);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 3 && !std::strcmp(argv[1], "child")) return std::atoi(argv[2]) % 7;
    if (argc != 3) {
        std::fprintf(stderr, "usage: mt_worker DIR ROUNDS | mt_worker child N\n");
        return 2;
    }
    self = argv[0];  // started by absolute path
    std::string dir = argv[1];
    int rounds = std::atoi(argv[2]);
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) threads.emplace_back(worker, dir, i, rounds);
    for (auto& t : threads) t.join();
    std::printf("ok %d %d\n", files.load(), execs.load());
    return failures ? 1 : 0;
}
