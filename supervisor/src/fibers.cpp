#include "fibers.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/context/fiber.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>

#include <algorithm>
#include <chrono>

#include "creds.hpp"
#include "hsbox/log.hpp"

namespace ctx = boost::context;

namespace hsbox::supervisor {

namespace {
// Handlers keep paths and a few PATH_MAX buffers on their stack.
ctx::pooled_fixedsize_stack& stack_pool() {
    static ctx::pooled_fixedsize_stack pool(256 * 1024);
    return pool;
}
}  // namespace

struct Fibers::Fiber {
    ctx::fiber self;     // the fiber, while suspended or not started
    ctx::fiber back;     // the loop, while the fiber runs
    long result = 0;
    bool finished = false;
};

struct Fibers::FdWait {
    Fiber* fiber;
    int fd;
    short revents = 0;
    bool done = false;
    std::chrono::steady_clock::time_point deadline;
};

Fibers::Fibers(unsigned workers)
    : done_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), wait_ep_(::epoll_create1(EPOLL_CLOEXEC)) {
    for (unsigned i = 0; i < workers; ++i) workers_.emplace_back([this] { worker_main(); });
}

Fibers::~Fibers() {
    {
        std::lock_guard<std::mutex> g(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
}

void Fibers::worker_main() {
    for (;;) {
        Job* job;
        {
            std::unique_lock<std::mutex> g(mu_);
            cv_.wait(g, [&] { return stopping_ || !queue_.empty(); });
            if (stopping_ && queue_.empty()) return;
            job = queue_.front();
            queue_.pop_front();
        }
        job->result = job->work();
        {
            std::lock_guard<std::mutex> g(mu_);
            done_.push_back(job);
        }
        uint64_t one = 1;
        ssize_t r = ::write(done_fd_.get(), &one, sizeof one);
        (void)r;
    }
}

void Fibers::spawn(std::function<void()> fn) {
    auto* f = new Fiber;
    f->self = ctx::fiber(std::allocator_arg, stack_pool(), [this, f, fn = std::move(fn)](ctx::fiber&& back) mutable {
        f->back = std::move(back);
        fn();
        f->finished = true;
        return std::move(f->back);
    });
    resume(f);
}

void Fibers::resume(Fiber* f) {
    Fiber* prev = current_;
    current_ = f;
    f->self = std::move(f->self).resume();
    current_ = prev;
    if (f->finished) delete f;
}

long Fibers::run_blocking(std::function<long()> work) {
    Fiber* f = current_;
    if (!f) return work();
    // The caller's credentials go with the work, and the loop thread goes
    // back to the supervisor's own while this fiber waits.
    auto creds = current_thread_creds();
    restore_thread_creds();
    Job job{[creds, w = std::move(work)] {
                apply_thread_creds(creds);
                long r = w();
                restore_thread_creds();
                return r;
            },
            f};
    {
        std::lock_guard<std::mutex> g(mu_);
        queue_.push_back(&job);
    }
    cv_.notify_one();
    (void)f;
    suspend_current();  // back to the loop until on_completion
    apply_thread_creds(creds);
    return job.result;
}

short Fibers::wait_fd(int fd, short events, int timeout_ms) {
    if (!current_) {
        pollfd p{fd, events, 0};
        return ::poll(&p, 1, timeout_ms) > 0 ? p.revents : 0;
    }
    FdWait w{current_, fd, 0, false, {}};
    w.deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    epoll_event ev{};
    ev.events = static_cast<uint32_t>(events) | EPOLLONESHOT;
    ev.data.ptr = &w;
    // The kernel limits how many epoll paths may lead to one file (about 500
    // through our nested set): past it, poll the descriptor in short sleeps
    // instead, still yielding to the loop (never spin).
    bool registered = ::epoll_ctl(wait_ep_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
    if (!registered)
        w.deadline = std::min(w.deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(20));
    fd_waits_.push_back(&w);
    // The loop thread acts as the supervisor while this fiber waits.
    auto creds = current_thread_creds();
    restore_thread_creds();
    suspend_current();
    apply_thread_creds(creds);
    if (registered) ::epoll_ctl(wait_ep_.get(), EPOLL_CTL_DEL, fd, nullptr);
    fd_waits_.erase(std::find(fd_waits_.begin(), fd_waits_.end(), &w));
    if (!registered) {
        pollfd p{fd, events, 0};
        return ::poll(&p, 1, 0) > 0 ? p.revents : 0;
    }
    return w.revents;
}

void Fibers::suspend_current() {
    Fiber* f = current_;
    ++yields_;
    f->back = std::move(f->back).resume();
}

void Fibers::on_fds_ready() {
    epoll_event evs[32];
    int n = ::epoll_wait(wait_ep_.get(), evs, 32, 0);
    for (int i = 0; i < n; ++i) {
        auto* w = static_cast<FdWait*>(evs[i].data.ptr);
        if (w->done) continue;
        w->done = true;
        w->revents = static_cast<short>(evs[i].events);
        resume(w->fiber);  // w is gone once the fiber returned from wait_fd
    }
}

int Fibers::on_timers() {
    auto now = std::chrono::steady_clock::now();
    for (size_t i = 0; i < fd_waits_.size();) {
        FdWait* w = fd_waits_[i];
        if (!w->done && w->deadline <= now) {
            w->done = true;
            resume(w->fiber);  // removes itself from fd_waits_
            i = 0;
            continue;
        }
        ++i;
    }
    if (fd_waits_.empty()) return -1;
    auto next = fd_waits_.front()->deadline;
    for (FdWait* w : fd_waits_) next = std::min(next, w->deadline);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
    return static_cast<int>(std::max<long long>(ms, 0) + 1);
}

void Fibers::on_completion() {
    uint64_t n;
    ssize_t r = ::read(done_fd_.get(), &n, sizeof n);
    (void)r;
    for (;;) {
        Job* job;
        {
            std::lock_guard<std::mutex> g(mu_);
            if (done_.empty()) return;
            job = done_.front();
            done_.pop_front();
        }
        resume(job->fiber);
    }
}

}  // namespace hsbox::supervisor
