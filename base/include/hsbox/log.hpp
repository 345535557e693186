// Minimal leveled logging to stderr, prefixed "hsbox: ". Level from
// HSBOX_LOG=error|warn|info|debug (default warn). Thread-safe per line.
#pragma once

#include <cstdarg>

namespace hsbox {

enum class LogLevel { Error = 0, Warn = 1, Info = 2, Debug = 3 };

LogLevel log_level();
void set_log_level(LogLevel level);
// printf-style; appends a newline.
void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

#define HSBOX_LOG(level, ...)                                               \
    do {                                                                    \
        if (static_cast<int>(level) <= static_cast<int>(::hsbox::log_level())) \
            ::hsbox::log(level, __VA_ARGS__);                               \
    } while (0)
#define LOG_ERROR(...) HSBOX_LOG(::hsbox::LogLevel::Error, __VA_ARGS__)
#define LOG_WARN(...) HSBOX_LOG(::hsbox::LogLevel::Warn, __VA_ARGS__)
#define LOG_INFO(...) HSBOX_LOG(::hsbox::LogLevel::Info, __VA_ARGS__)
#define LOG_DEBUG(...) HSBOX_LOG(::hsbox::LogLevel::Debug, __VA_ARGS__)

}  // namespace hsbox
