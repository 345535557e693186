// OCI whiteouts, stored as ordinary files so no privilege is needed:
// ".wh.NAME" deletes NAME from the layers below; ".wh..wh..opq" inside a
// directory hides the lower layers' contents of that directory. Names starting
// with ".wh." are reserved: the merged view never shows them and refuses to
// create them.
#pragma once

#include <string>
#include <string_view>

#include "hsbox/result.hpp"

namespace hsbox::fusefs {

inline constexpr std::string_view kWhPrefix = ".wh.";
inline constexpr std::string_view kOpaque = ".wh..wh..opq";
inline constexpr std::string_view kWorkDir = ".wh..wh..hsbox";  // in the upper root

// True for any reserved name (".wh." prefix).
inline bool is_reserved(std::string_view name) { return name.substr(0, kWhPrefix.size()) == kWhPrefix; }

// ".wh.NAME".
inline std::string whiteout_name(std::string_view name) { return std::string(kWhPrefix) + std::string(name); }

// For ".wh.NAME" returns NAME; empty for non-whiteouts and the ".wh..wh." specials.
std::string_view whited_out(std::string_view entry);

// True if `name` exists (any type) in `dirfd`, without following it.
bool exists_at(int dirfd, std::string_view name);

// Creates the whiteout for `name` in `dirfd` (an O_PATH dir fd is fine).
Status make_whiteout(int dirfd, std::string_view name);
// Removes the whiteout for `name` if present. Returns true if one was removed.
Result<bool> remove_whiteout(int dirfd, std::string_view name);
// Creates ".wh..wh..opq" in the directory `dirfd`.
Status make_opaque(int dirfd);
// True if the directory `dirfd` is opaque.
bool is_opaque(int dirfd);
// Removes every whiteout and the opaque marker inside `dirfd`, so that an
// upper directory that looks empty in the union can be rmdir'ed.
Status clear_markers(int dirfd);

}  // namespace hsbox::fusefs
