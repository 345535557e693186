// Test harness shared by tests/escape and tests/integration: temp dirs,
// files, and running the real `hsbox` binary (HSBOX_BIN) with captured
// output, extra descriptors, a timeout, and a hook that can talk to the
// command through its stdin while it runs.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace hsbox::test {

// The hsbox binary under test (env HSBOX_BIN; aborts the test if unset).
std::string hsbox_bin();

// A fresh 0755 directory under $TMPDIR (or /tmp), removed by the caller.
std::string make_temp(const std::string& tag);

void remove_tree(const std::string& path);
void put(const std::string& path, const std::string& content, mode_t mode = 0644);
std::string slurp(const std::string& path);
void copy_file(const std::string& from, const std::string& to, mode_t mode);
bool exists(const std::string& path);  // lstat
std::vector<std::string> list_dir(const std::string& path);  // sorted, no . and ..
std::string random_token();

struct RunOptions {
    std::vector<std::string> env;                // "NAME=VALUE", added to (or replacing in) ours
    std::vector<std::string> unset_env;          // names removed from the environment
    int stdin_fd = -1;                           // -1: /dev/null, unless pipe_stdin
    bool pipe_stdin = false;                     // stdin is a pipe the hook can write to
    std::vector<std::pair<int, int>> extra_fds;  // (our fd, fd number in the child), inherited
    // Called whenever stdout grew; `stdin_w` is the write end of stdin (or -1).
    std::function<void(const std::string& out, int stdin_w)> on_output;
    // Name of a variable set to the started process's own pid (for hsbox:
    // the supervisor's pid), e.g. "ESC_SUP_PID".
    std::string pid_env;
    std::string cwd;  // working directory of the started process ("" = ours)
    int timeout_s = 60;
};

struct RunResult {
    int code = -1;        // exit status, or 128+N when killed by signal N
    std::string out, err;
    bool timed_out = false;
    pid_t pid = -1;       // the hsbox process (the supervisor)
};

// Runs argv[0] (a path) with argv, capturing stdout and stderr.
RunResult run(const std::vector<std::string>& argv, const RunOptions& opts = {});

// `hsbox run ARGS...`.
RunResult hsbox_run(const std::vector<std::string>& args, const RunOptions& opts = {});

// A process outside any space (forked, paused) for the tricks to aim at.
class Bystander {
public:
    Bystander();
    ~Bystander();
    Bystander(const Bystander&) = delete;
    Bystander& operator=(const Bystander&) = delete;
    pid_t pid() const { return pid_; }
    bool alive();  // still running (not reaped, not a zombie)

private:
    pid_t pid_ = -1;
    int status_ = 0;
    bool reaped_ = false;
};

}  // namespace hsbox::test
