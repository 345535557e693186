// hsbox: parses the subcommand and hands the rest of the line to it.
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "command.hpp"

namespace hsbox::cli {

namespace {
std::vector<const Command*>& registry() {
    static std::vector<const Command*> r;
    return r;
}

void print_usage(FILE* out) {
    std::fprintf(out, "usage: hsbox COMMAND [ARG...]\n\ncommands:\n");
    for (const Command* c : registry())
        std::fprintf(out, "  hsbox %.*s\n", static_cast<int>(c->usage.size()), c->usage.data());
}
}  // namespace

Command::Command(std::string_view n, std::string_view u, CommandFn f) : name(n), usage(u), fn(f) {
    registry().push_back(this);
}

int usage_error(const char* fmt, ...) {
    std::fputs("hsbox: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    std::vfprintf(stderr, fmt, ap);
    va_end(ap);
    std::fputs("\n", stderr);
    return 2;
}

}  // namespace hsbox::cli

int main(int argc, char** argv) {
    using namespace hsbox::cli;
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    std::string_view sub = argv[1];
    if (sub == "-h" || sub == "--help" || sub == "help") {
        print_usage(stdout);
        return 0;
    }
    for (const Command* c : registry())
        if (c->name == sub) return c->fn(argc - 2, argv + 2);
    return usage_error("unknown command '%s' (try 'hsbox --help')", argv[1]);
}
