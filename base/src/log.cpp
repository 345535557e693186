#include "hsbox/log.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace hsbox {

namespace {
LogLevel level_from_env() {
    const char* v = std::getenv("HSBOX_LOG");
    if (!v) return LogLevel::Warn;
    if (!std::strcmp(v, "error")) return LogLevel::Error;
    if (!std::strcmp(v, "info")) return LogLevel::Info;
    if (!std::strcmp(v, "debug")) return LogLevel::Debug;
    return LogLevel::Warn;
}
LogLevel g_level = level_from_env();
}  // namespace

LogLevel log_level() { return g_level; }
void set_log_level(LogLevel level) { g_level = level; }

void log(LogLevel level, const char* fmt, ...) {
    static const char* names[] = {"error", "warning", "info", "debug"};
    char buf[2048];
    int n = std::snprintf(buf, sizeof buf, "hsbox: %s: ", names[static_cast<int>(level)]);
    va_list ap;
    va_start(ap, fmt);
    int m = std::vsnprintf(buf + n, sizeof buf - static_cast<size_t>(n) - 1, fmt, ap);
    va_end(ap);
    size_t len = static_cast<size_t>(n) + static_cast<size_t>(m < 0 ? 0 : m);
    if (len > sizeof buf - 2) len = sizeof buf - 2;
    buf[len++] = '\n';
    // One write() per line so concurrent lines do not interleave.
    ssize_t r = ::write(STDERR_FILENO, buf, len);
    (void)r;
}

}  // namespace hsbox
