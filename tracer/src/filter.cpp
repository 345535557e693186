#include "hsbox/tracer/filter.hpp"

#include <cerrno>
#include <string>

#include "hsbox/syscall_table.hpp"

namespace hsbox::tracer {

namespace {

bool has_kind(const SyscallInfo& s, std::initializer_list<Arg> kinds) {
    for (size_t i = 0; i < s.nargs; ++i)
        for (Arg k : kinds)
            if (s.args[i] == k) return true;
    return false;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Returns true when `cls` names a class; sets the members in `out`.
bool add_class(std::string_view cls, std::bitset<SyscallFilter::kMaxNr>& out) {
    auto each = [&](auto pred) {
        for (auto* s = syscall_table_begin(); s != syscall_table_end(); ++s)
            if (s->nr < SyscallFilter::kMaxNr && pred(*s)) out.set(s->nr);
    };
    if (cls == "file") {
        each([](const SyscallInfo& s) { return has_kind(s, {Arg::Path}); });
    } else if (cls == "desc") {
        each([](const SyscallInfo& s) { return has_kind(s, {Arg::Fd, Arg::Dirfd}); });
    } else if (cls == "network" || cls == "net") {
        each([](const SyscallInfo& s) { return s.family == Family::Socket; });
    } else if (cls == "process") {
        each([](const SyscallInfo& s) {
            return s.family == Family::Exec || s.family == Family::Signal || s.name == "clone" ||
                   s.name == "clone3" || s.name == "fork" || s.name == "vfork" || s.name == "exit" ||
                   s.name == "exit_group" || s.name == "wait4" || s.name == "waitid";
        });
    } else if (cls == "signal") {
        each([](const SyscallInfo& s) { return s.family == Family::Signal || s.family == Family::SignalSelf; });
    } else if (cls == "memory") {
        each([](const SyscallInfo& s) { return s.family == Family::Memory; });
    } else if (cls == "ipc") {
        each([](const SyscallInfo& s) { return s.family == Family::SysvIpc; });
    } else if (cls == "clock") {
        each([](const SyscallInfo& s) { return s.family == Family::Time; });
    } else if (cls == "stat") {
        each([](const SyscallInfo& s) { return ends_with(s.name, "stat") || s.name == "statx"; });
    } else {
        return false;
    }
    return true;
}

}  // namespace

SyscallFilter SyscallFilter::all() {
    SyscallFilter f;
    f.set_.set();
    f.everything_ = true;
    return f;
}

Result<SyscallFilter> SyscallFilter::parse(std::string_view expr) {
    if (expr.substr(0, 6) == "trace=") expr.remove_prefix(6);
    bool negate = false;
    if (!expr.empty() && expr[0] == '!') {
        negate = true;
        expr.remove_prefix(1);
    }
    SyscallFilter f;
    if (expr.empty()) return Error{EINVAL, "empty syscall set"};
    while (!expr.empty()) {
        size_t comma = expr.find(',');
        std::string_view item = expr.substr(0, comma);
        expr = comma == std::string_view::npos ? std::string_view{} : expr.substr(comma + 1);
        if (item.empty()) return Error{EINVAL, "empty element in syscall set"};
        if (item == "all") {
            f.set_.set();
            f.everything_ = true;
            continue;
        }
        if (item == "none") continue;
        if (item[0] == '@') {
            bool found = false;
            for (auto* s = syscall_table_begin(); s != syscall_table_end(); ++s)
                if (family_name(s->family) == item.substr(1) && s->nr < kMaxNr) {
                    f.set_.set(s->nr);
                    found = true;
                }
            if (!found) return Error{EINVAL, "unknown syscall family '" + std::string(item) + "'"};
            continue;
        }
        std::string_view cls = item[0] == '%' ? item.substr(1) : item;
        if (add_class(cls, f.set_)) continue;
        if (item[0] == '%') return Error{EINVAL, "unknown syscall class '" + std::string(item) + "'"};
        const SyscallInfo* s = syscall_by_name(item);
        if (!s) return Error{EINVAL, "unknown syscall '" + std::string(item) + "'"};
        f.set_.set(s->nr);
    }
    if (negate) {
        f.set_.flip();
        f.everything_ = !f.everything_;
    }
    return f;
}

std::vector<int> SyscallFilter::numbers() const {
    std::vector<int> out;
    for (int i = 0; i < kMaxNr; ++i)
        if (set_[i]) out.push_back(i);
    return out;
}

}  // namespace hsbox::tracer
