// `hsbox syscalls`: prints the one syscall table as Markdown (the docs'
// table is generated from it, never written by hand).
#include <cstdio>

#include "command.hpp"
#include "hsbox/syscall_table.hpp"

namespace hsbox::cli {
namespace {

int cmd_syscalls(int argc, char** argv) {
    if (argc > 0) return usage_error("syscalls takes no arguments (got '%s')", argv[0]);
    std::printf("| nr | name | family | decoded args |\n|---:|---|---|---:|\n");
    for (auto* s = syscall_table_begin(); s != syscall_table_end(); ++s)
        std::printf("| %d | %.*s | %.*s | %u |\n", s->nr, static_cast<int>(s->name.size()),
                    s->name.data(), static_cast<int>(family_name(s->family).size()),
                    family_name(s->family).data(), s->nargs);
    return 0;
}

const Command reg{"syscalls", "syscalls", cmd_syscalls};

}  // namespace
}  // namespace hsbox::cli
