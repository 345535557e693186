// Result<T>: a value or an Error (errno + context). Fallible functions return
// one; the errno reaches a confined process only at the edge (seccomp reply,
// FUSE reply). C++20 has no std::expected, so this is a small stand-in.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace hsbox {

struct Error {
    int code = 0;          // an errno value (positive)
    std::string context;   // what was being done, e.g. "open /etc/passwd"

    // Returns "context: strerror(code)".
    std::string message() const {
        return context.empty() ? std::string(std::strerror(code))
                               : context + ": " + std::strerror(code);
    }
};

// Builds an Error from the current errno.
inline Error last_error(std::string context) { return Error{errno, std::move(context)}; }

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error e) : v_(std::move(e)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T&& operator*() && { return std::move(*this).value(); }

    const Error& error() const { return std::get<1>(v_); }
    int code() const { return ok() ? 0 : error().code; }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error e) : err_(std::move(e)), ok_(false) {}
    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return err_; }
    int code() const { return ok_ ? 0 : err_.code; }

private:
    Error err_;
    bool ok_ = true;
};

using Status = Result<void>;

}  // namespace hsbox
