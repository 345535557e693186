// Fibers (Boost.Context) for handlers that must wait, and a worker pool for
// the blocking call they wait on. One loop thread runs every handler; a
// handler that would block (open of a FIFO, a slow FUSE file, a blocking
// connect) hands the call to a worker thread and yields, so one blocked call
// never stalls the others. The loop learns of finished work through an eventfd.
//
// Threading: spawn(), run_blocking() and on_completion() run on the loop thread
// only; worker threads touch nothing but the job queue and the done queue.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "hsbox/fd.hpp"

namespace hsbox::supervisor {

class Fibers {
public:
    explicit Fibers(unsigned workers = 4);
    ~Fibers();
    Fibers(const Fibers&) = delete;
    Fibers& operator=(const Fibers&) = delete;

    // Runs `fn` in a new fiber until it returns or yields in run_blocking().
    void spawn(std::function<void()> fn);

    // From inside a fiber: runs `work` on a worker thread, suspends the fiber
    // meanwhile, and returns work's result. Outside a fiber, runs it inline.
    long run_blocking(std::function<long()> work);

    // From inside a fiber: suspends until `fd` polls one of `events` or
    // `timeout_ms` passed, without a thread (the loop watches the fd).
    // Returns the poll revents, 0 on timeout. Outside a fiber, polls inline.
    short wait_fd(int fd, short events, int timeout_ms);

    // The eventfd the loop polls; readable when blocked fibers can resume.
    int completion_fd() const { return done_fd_.get(); }
    // The epoll set of descriptors fibers wait on; the loop polls it too.
    int wait_set_fd() const { return wait_ep_.get(); }
    // Resumes fibers whose descriptors became ready. Call when wait_set_fd is readable.
    void on_fds_ready();
    // Resumes fibers whose wait timed out; returns ms until the next
    // deadline (-1: none). Call on every turn of the loop.
    int on_timers();

    // Resumes every fiber whose work finished. Call when completion_fd is readable.
    void on_completion();

    // Counts suspensions so far: a handler that sees it unchanged has not
    // yielded, so nothing else (no exit, no pid reuse) happened meanwhile.
    uint64_t yields() const { return yields_; }

private:
    struct Fiber;
    struct Job {
        std::function<long()> work;
        Fiber* fiber;
        long result = 0;
    };
    struct FdWait;
    void worker_main();
    void suspend_current();
    void resume(Fiber* f);

    std::vector<std::thread> workers_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job*> queue_;
    std::deque<Job*> done_;
    bool stopping_ = false;
    Fd done_fd_;
    Fd wait_ep_;
    std::vector<FdWait*> fd_waits_;
    Fiber* current_ = nullptr;
    uint64_t yields_ = 0;
};

}  // namespace hsbox::supervisor
