#include "hsbox/tracer/sink.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "hsbox/fd.hpp"

namespace hsbox::tracer {

struct LineSink::State {
    std::mutex mu;
    std::condition_variable cv_data;   // producers -> writer
    std::condition_variable cv_idle;   // writer -> close()
    std::vector<std::string> queue;
    size_t queued_bytes = 0;
    size_t capacity = 0;
    size_t batch_bytes = 0;         // wake the writer when this much is queued
    uint64_t lines = 0, dropped = 0, written = 0;
    uint64_t unreported_drops = 0;  // drops not yet announced in the stream
    bool closing = false;
    bool writing = false;           // the writer holds a batch outside the queue
    size_t inflight = 0;            // lines in that batch
    bool finished = false;          // the writer thread has ended
    int borrowed_fd = -1;           // stdout etc. (not closed)
    Fd owned;                       // a file or FIFO
    std::string fifo_path;          // opened by the writer when set
    DropNotice notice;
};

namespace {

constexpr auto kFlushDelay = std::chrono::milliseconds(20);

void writer_main(std::shared_ptr<LineSink::State> s) {
    // Signals belong to the tracer's main thread (it waits for them in
    // waitpid); SIGPIPE on a closed reader becomes EPIPE here.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    int fd = s->borrowed_fd;
    if (!s->fifo_path.empty()) {
        // Blocks until a reader opens the FIFO; the tracer keeps running meanwhile.
        int f = ::open(s->fifo_path.c_str(), O_WRONLY | O_CLOEXEC);
        std::lock_guard<std::mutex> g(s->mu);
        if (f < 0) {
            s->dropped += s->queue.size();
            s->queue.clear();
            s->queued_bytes = 0;
            s->finished = true;
            s->closing = true;
            s->cv_idle.notify_all();
            return;
        }
        s->owned.reset(f);
        fd = f;
    } else if (s->owned) {
        fd = s->owned.get();
    }
    std::vector<std::string> batch;
    std::string buf;
    bool at_line_start = true;
    for (;;) {
        uint64_t drops = 0;
        {
            std::unique_lock<std::mutex> lk(s->mu);
            s->writing = false;
            s->cv_idle.notify_all();
            s->cv_data.wait(lk, [&] { return !s->queue.empty() || s->closing; });
            // Let lines gather into one write: until a batch is full or a short
            // delay has passed (what a reader waits for at most).
            if (!s->closing && s->queued_bytes < s->batch_bytes)
                s->cv_data.wait_for(lk, kFlushDelay,
                                    [&] { return s->queued_bytes >= s->batch_bytes || s->closing; });
            if (s->queue.empty() && s->closing) {
                s->finished = true;
                s->cv_idle.notify_all();
                return;
            }
            batch.swap(s->queue);
            s->queued_bytes = 0;
            s->writing = true;
            s->inflight = batch.size();
            drops = s->unreported_drops;
            s->unreported_drops = 0;
        }
        buf.clear();
        // The notice goes where the lines were lost: before the lines that follow the gap.
        // A dropped line may have been the end of a written head: start the
        // notice on a line of its own.
        if (drops && s->notice) buf += (at_line_start ? "" : "\n") + s->notice(drops);
        for (const std::string& l : batch) buf += l;
        Status st = write_all(fd, buf.data(), buf.size());
        if (!buf.empty()) at_line_start = buf.back() == '\n';
        {
            std::lock_guard<std::mutex> g(s->mu);
            if (st.ok()) s->written += batch.size();
            else s->dropped += batch.size();
            s->inflight = 0;
        }
        batch.clear();
        if (!st.ok()) {
            // The reader went away (EPIPE): keep draining so producers never stall.
            std::lock_guard<std::mutex> g(s->mu);
            s->dropped += s->queue.size();
            s->queue.clear();
            s->queued_bytes = 0;
            s->capacity = 0;  // drop everything from now on
        }
    }
}

}  // namespace

LineSink::LineSink(std::shared_ptr<State> s) : state_(std::move(s)) {
    std::thread(writer_main, state_).detach();
}

LineSink::~LineSink() { close(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<LineSink>> LineSink::to_fd(int fd, size_t capacity, DropNotice notice) {
    auto s = std::make_shared<State>();
    s->borrowed_fd = fd;
    s->capacity = capacity;
    s->batch_bytes = std::min<size_t>(64 * 1024, capacity / 2);
    s->notice = std::move(notice);
    return std::unique_ptr<LineSink>(new LineSink(std::move(s)));
}

Result<std::unique_ptr<LineSink>> LineSink::to_path(const std::string& path, size_t capacity,
                                                    DropNotice notice) {
    auto s = std::make_shared<State>();
    s->capacity = capacity;
    s->batch_bytes = std::min<size_t>(64 * 1024, capacity / 2);
    s->notice = std::move(notice);
    struct stat st{};
    if (::stat(path.c_str(), &st) == 0 && S_ISFIFO(st.st_mode)) {
        s->fifo_path = path;
    } else {
        int f = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (f < 0) return last_error("open output " + path);
        s->owned.reset(f);
    }
    return std::unique_ptr<LineSink>(new LineSink(std::move(s)));
}

bool LineSink::push(std::string_view line) {
    State& s = *state_;
    bool wake;
    {
        std::lock_guard<std::mutex> g(s.mu);
        if (s.closing || s.queued_bytes + line.size() > s.capacity) {
            ++s.dropped;
            ++s.unreported_drops;
            return false;
        }
        // Wake the writer for the first line (it sleeps on an empty queue) and
        // when a batch is full (it waits for one); never per line.
        bool first = s.queue.empty() && !s.writing;
        bool full = s.queued_bytes < s.batch_bytes && s.queued_bytes + line.size() >= s.batch_bytes;
        wake = first || full;
        s.queue.emplace_back(line);
        s.queued_bytes += line.size();
        ++s.lines;
    }
    if (wake) s.cv_data.notify_one();
    return true;
}

SinkStats LineSink::close(std::chrono::milliseconds linger) {
    State& s = *state_;
    std::unique_lock<std::mutex> lk(s.mu);
    if (!closed_) {
        closed_ = true;
        // A final notice for drops nobody has announced yet.
        if (s.unreported_drops && s.notice && !s.finished) {
            s.queue.push_back(s.notice(s.unreported_drops));
            s.unreported_drops = 0;
        }
        s.closing = true;
        s.cv_data.notify_all();
        s.cv_idle.wait_for(lk, linger, [&] { return s.finished; });
        if (!s.finished) {
            // The reader is stuck: give up on what is still queued or in flight.
            s.dropped += s.queue.size() + s.inflight;
            s.queue.clear();
            s.queued_bytes = 0;
            s.inflight = 0;
        }
    }
    return SinkStats{s.lines, s.dropped, s.written};
}

SinkStats LineSink::stats() const {
    std::lock_guard<std::mutex> g(state_->mu);
    return SinkStats{state_->lines, state_->dropped, state_->written};
}

}  // namespace hsbox::tracer
