// Credentials of a space process, for a supervisor that runs as root.
//
// The supervisor performs file operations on behalf of the space. Run as an
// ordinary user it has exactly the space's credentials (the space cannot
// change its uid). Run as root, a space process may have dropped privileges
// (a server switching to www-data), and an emulated call must then be
// checked against *its* credentials, not root's: handlers run with the
// caller's fsuid, fsgid and groups, set per thread (raw setfsuid/setfsgid/
// setgroups affect only the calling thread), and the supervisor's own
// bookkeeping switches back with AsSupervisor.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <vector>

namespace hsbox::supervisor {

struct Creds {
    uid_t euid = 0, fsuid = 0;
    gid_t egid = 0, fsgid = 0;
    std::vector<gid_t> groups;
    bool operator==(const Creds&) const = default;
};

class CredSwitch {
public:
    // Records the supervisor's own credentials. Switching is only ever done
    // when they are root's.
    CredSwitch();

    bool active() const { return root_; }

    // The credentials of a thread of the space (cached until forget()).
    const Creds& of(pid_t tid);
    // The thread changed its ids (setuid family): read them again next time.
    void forget(pid_t tid) { cache_.erase(tid); }

    // Switches this thread to `c` (no-op when equal to the supervisor's).
    void apply(const Creds& c);
    // Back to the supervisor's own.
    void restore();


private:
    bool root_ = false;
    Creds own_;
    std::map<pid_t, Creds> cache_;
};

// Runs a scope with the supervisor's own credentials (its state directory is
// root's), then puts back whatever was applied on this thread.
class AsSupervisor {
public:
    AsSupervisor();
    ~AsSupervisor();
    AsSupervisor(const AsSupervisor&) = delete;
    AsSupervisor& operator=(const AsSupervisor&) = delete;

private:
    std::optional<Creds> saved_;
};

// Thread-level primitives (raw syscalls: glibc would broadcast setgroups).
void set_thread_creds(const Creds& c);
const Creds& supervisor_creds();
// What is applied on this thread (nullopt: the supervisor's own), so that a
// fiber can take it along to a worker thread and back.
std::optional<Creds> current_thread_creds();
void apply_thread_creds(const std::optional<Creds>& c);
void restore_thread_creds();

}  // namespace hsbox::supervisor
