// Test program: N threads each create, write and close their own file in
// DIR, then the main thread reads them back. Used to compare hsbox trace with
// strace on a multi-threaded process.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s DIR NTHREADS\n", argv[0]);
        return 2;
    }
    std::string dir = argv[1];
    int n = std::atoi(argv[2]);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
        // One thread at a time: descriptor numbers (and so results) are then the
        // same in every run, which lets two tracers' outputs be compared.
        threads.emplace_back([&dir, i] {
            std::string path = dir + "/t" + std::to_string(i);
            int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            if (fd < 0) _exit(1);
            std::string line = "thread " + std::to_string(i) + "\n";
            if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(1);
            close(fd);
        });
        threads.back().join();
    }
    char buf[64];
    for (int i = 0; i < n; ++i) {
        std::string path = dir + "/t" + std::to_string(i);
        int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) return 1;
        ssize_t r = read(fd, buf, sizeof buf);
        close(fd);
        if (r <= 0) return 1;
    }
    return 0;
}
