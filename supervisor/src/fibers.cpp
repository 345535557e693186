#include "fibers.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <boost/context/fiber.hpp>
#include <boost/context/pooled_fixedsize_stack.hpp>

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

Fibers::Fibers(unsigned workers) : done_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
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
    ++yields_;
    f->back = std::move(f->back).resume();  // back to the loop until on_completion
    apply_thread_creds(creds);
    return job.result;
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
