// LineSink: a bounded buffer of output lines drained by a writer thread.
// push() never blocks and never waits for I/O: when the buffer is full the
// line is dropped and counted, so a slow or stopped reader (a FIFO nobody
// reads, a paused pager) can never slow the traced program. The writer
// inserts a notice into the stream when it has lost lines.
//
// Threads: any number of producers call push(); one writer thread owns the
// output descriptor. State is guarded by one mutex, never held during I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "hsbox/result.hpp"

namespace hsbox::tracer {

struct SinkStats {
    uint64_t lines = 0;     // lines accepted
    uint64_t dropped = 0;   // lines dropped because the buffer was full (or never delivered)
    uint64_t written = 0;   // lines written to the output
};

class LineSink {
public:
    // Text of the notice written after `count` lines were lost.
    using DropNotice = std::function<std::string(uint64_t count)>;

    // Writes to a borrowed descriptor (e.g. stdout). Returns the sink.
    static Result<std::unique_ptr<LineSink>> to_fd(int fd, size_t capacity_bytes, DropNotice notice);
    // Writes to `path`: a FIFO is opened by the writer thread (opening a FIFO
    // waits for a reader, which must not delay the tracer); anything else is
    // created or truncated now, mode 0644. Returns the sink or the open error.
    static Result<std::unique_ptr<LineSink>> to_path(const std::string& path, size_t capacity_bytes,
                                                     DropNotice notice);
    ~LineSink();
    LineSink(const LineSink&) = delete;
    LineSink& operator=(const LineSink&) = delete;

    // Queues `line`. Returns false (and counts a drop) when the buffer is full.
    bool push(std::string_view line);

    // Stops accepting lines and waits up to `linger` for the writer to empty
    // the buffer. Lines still queued after that are counted as dropped.
    // Returns the final counts. Idempotent.
    SinkStats close(std::chrono::milliseconds linger);

    SinkStats stats() const;

    struct State;

private:
    explicit LineSink(std::shared_ptr<State> s);
    std::shared_ptr<State> state_;
    bool closed_ = false;
};

}  // namespace hsbox::tracer
