// Subcommand registry for `hsbox`. Each cli/cmd_*.cpp registers one command
// with a static Command object; main() dispatches on the first argument.
#pragma once

#include <string_view>

namespace hsbox::cli {

// A subcommand: gets the arguments after its name; returns the exit status.
using CommandFn = int (*)(int argc, char** argv);

struct Command {
    Command(std::string_view name, std::string_view usage, CommandFn fn);
    std::string_view name;
    std::string_view usage;  // one line: "run [--root DIR] -- CMD [ARG...]"
    CommandFn fn;
};

// Prints "hsbox: <msg>" to stderr and returns 2 (the usage-error status).
int usage_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace hsbox::cli
