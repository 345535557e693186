#include "hsbox/syscall_table.hpp"

#include <algorithm>

namespace hsbox {

namespace {

template <typename... A>
constexpr SyscallInfo make(int nr, std::string_view name, Family f, A... a) {
    SyscallInfo s;
    s.nr = nr;
    s.name = name;
    s.family = f;
    s.nargs = static_cast<uint8_t>(sizeof...(A));
    Arg list[] = {a..., Arg::Hex};
    for (size_t i = 0; i < sizeof...(A); ++i) s.args[i] = list[i];
    return s;
}


#define SYSCALL(nr, name, fam, ...) \
    make(nr, #name, Family::fam __VA_OPT__(, ) __VA_ARGS__),

using enum Arg;
constexpr SyscallInfo kTable[] = {
#include "../syscalls.def"
};
#undef SYSCALL


constexpr int kMaxNr = kTable[std::size(kTable) - 1].nr;

// Direct index by number; -1 where the table has a hole.
struct Index {
    std::array<int16_t, kMaxNr + 1> slot{};
    constexpr Index() {
        for (auto& s : slot) s = -1;
        for (size_t i = 0; i < std::size(kTable); ++i) slot[kTable[i].nr] = static_cast<int16_t>(i);
    }
};
constexpr Index kIndex;

}  // namespace

int max_syscall_nr() { return kMaxNr; }

const SyscallInfo* syscall_info(int nr) {
    if (nr < 0 || nr > kMaxNr) return nullptr;
    int i = kIndex.slot[nr];
    return i < 0 ? nullptr : &kTable[i];
}

const SyscallInfo* syscall_by_name(std::string_view name) {
    auto it = std::find_if(std::begin(kTable), std::end(kTable),
                           [&](const SyscallInfo& s) { return s.name == name; });
    return it == std::end(kTable) ? nullptr : it;
}

std::string_view family_name(Family f) {
    switch (f) {
        case Family::Path: return "Path";
        case Family::Exec: return "Exec";
        case Family::Desc: return "Desc";
        case Family::Poll: return "Poll";
        case Family::Memory: return "Memory";
        case Family::ProcessMem: return "ProcessMem";
        case Family::Process: return "Process";
        case Family::Sched: return "Sched";
        case Family::Signal: return "Signal";
        case Family::SignalSelf: return "SignalSelf";
        case Family::Pidfd: return "Pidfd";
        case Family::Time: return "Time";
        case Family::Futex: return "Futex";
        case Family::Socket: return "Socket";
        case Family::SysvIpc: return "SysvIpc";
        case Family::Mqueue: return "Mqueue";
        case Family::Mount: return "Mount";
        case Family::Namespace: return "Namespace";
        case Family::Privileged: return "Privileged";
        case Family::Misc: return "Misc";
    }
    return "?";
}

const SyscallInfo* syscall_table_begin() { return std::begin(kTable); }
const SyscallInfo* syscall_table_end() { return std::end(kTable); }

}  // namespace hsbox
