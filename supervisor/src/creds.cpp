#include "creds.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>

#include "hsbox/fd.hpp"

namespace hsbox::supervisor {

namespace {
// What is applied on this thread (a copy: the cache entry may be forgotten).
thread_local bool t_active = false;
thread_local Creds t_creds;
Creds g_own;

Creds read_own() {
    Creds c;
    c.euid = c.fsuid = ::geteuid();
    c.egid = c.fsgid = ::getegid();
    int n = ::getgroups(0, nullptr);
    if (n > 0) {
        c.groups.resize(static_cast<size_t>(n));
        n = ::getgroups(n, c.groups.data());
        c.groups.resize(n > 0 ? static_cast<size_t>(n) : 0);
    }
    return c;
}

Creds read_status(pid_t tid) {
    Creds c = g_own;
    auto text = read_file(AT_FDCWD, "/proc/" + std::to_string(tid) + "/status");
    if (!text) return c;
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string key;
        ls >> key;
        if (key == "Uid:") {
            unsigned r, e, s, f;
            if (ls >> r >> e >> s >> f) c.euid = e, c.fsuid = f;
        } else if (key == "Gid:") {
            unsigned r, e, s, f;
            if (ls >> r >> e >> s >> f) c.egid = e, c.fsgid = f;
        } else if (key == "Groups:") {
            c.groups.clear();
            unsigned g;
            while (ls >> g) c.groups.push_back(g);
        }
    }
    return c;
}
}  // namespace

const Creds& supervisor_creds() { return g_own; }

void set_thread_creds(const Creds& c) {
    // Order matters: groups and gid first, while fsuid may still be root.
    ::syscall(SYS_setgroups, c.groups.size(), c.groups.data());
    ::syscall(SYS_setfsgid, c.fsgid);
    ::syscall(SYS_setfsuid, c.fsuid);
}

CredSwitch::CredSwitch() {
    own_ = g_own = read_own();
    root_ = own_.euid == 0;
}

const Creds& CredSwitch::of(pid_t tid) {
    auto it = cache_.find(tid);
    if (it == cache_.end()) it = cache_.emplace(tid, read_status(tid)).first;
    return it->second;
}

void CredSwitch::apply(const Creds& c) {
    if (!root_) return;
    if (c.fsuid == own_.fsuid && c.fsgid == own_.fsgid && c.groups == own_.groups) return restore();
    set_thread_creds(c);
    t_creds = c;
    t_active = true;
}

void restore_thread_creds() {
    if (!t_active) return;
    // fsuid back to 0 first: the capabilities return with it.
    ::syscall(SYS_setfsuid, g_own.fsuid);
    ::syscall(SYS_setfsgid, g_own.fsgid);
    ::syscall(SYS_setgroups, g_own.groups.size(), g_own.groups.data());
    t_active = false;
}

std::optional<Creds> current_thread_creds() {
    if (!t_active) return std::nullopt;
    return t_creds;
}

void apply_thread_creds(const std::optional<Creds>& c) {
    if (!c) return restore_thread_creds();
    set_thread_creds(*c);
    t_creds = *c;
    t_active = true;
}

void CredSwitch::restore() { restore_thread_creds(); }

AsSupervisor::AsSupervisor() : saved_(current_thread_creds()) { restore_thread_creds(); }

AsSupervisor::~AsSupervisor() { apply_thread_creds(saved_); }

}  // namespace hsbox::supervisor
