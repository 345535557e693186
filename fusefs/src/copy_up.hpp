// Copy-up: makes a copy of one lower entry in the upper layer, keeping type,
// mode, owner (where the server may chown), timestamps, xattrs (those the
// server may set) and sparse holes. The copy is built under a temporary name in
// the work directory and renamed into place, so a crash never leaves a
// half-copied file visible. Nothing in the lower layer is ever followed or
// written: the source is opened O_NOFOLLOW|O_NONBLOCK and checked to be the
// entry that was stat'ed.
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>

#include "hsbox/result.hpp"

namespace hsbox::fusefs {

// Returns a fresh temporary name for the work directory.
std::string temp_name();

// Copies the data of `src` into `dst` (both regular-file fds), `size` bytes,
// skipping holes; the result has exactly `size` bytes.
Status copy_data(int src, int dst, off_t size);

// Copies xattrs of the entry named by the /proc/self/fd path `src` to `dst`,
// ignoring the ones the server may not set (EPERM, ENOTSUP).
Status copy_xattrs(const std::string& src, const std::string& dst);

// Creates a copy of `src_dirfd`/`name` (stat'ed as `st`) as `workfd`/`tmp`.
// Directories are created empty; with `with_data` false a regular file is
// created empty (open with O_TRUNC). Timestamps are set last.
Status copy_entry(int src_dirfd, std::string_view name, const struct stat& st, int workfd,
                  const std::string& tmp, bool with_data);

// Sets owner (ignoring EPERM), mode and timestamps of `dirfd`/`name` from `st`.
Status copy_attrs(int dirfd, const std::string& name, const struct stat& st);

}  // namespace hsbox::fusefs
