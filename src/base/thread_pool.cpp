#include "base/thread_pool.hpp"

#include <atomic>
#include <exception>
#include <new>
#include <string>
#include <system_error>

#include "base/error.hpp"

namespace qstore {

struct ThreadPool::Job {
    const std::function<void(size_t)>* fn;
    size_t n;
    unsigned max_threads;
    std::atomic<unsigned> threads{1};  // the caller, then each worker that joins
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex mutex;
    std::condition_variable done_cv;
    size_t done = 0;  // indices finished (or skipped), under mutex
    // The first failure, as plain values: the exception object itself is not handed
    // across threads (a worker could hold the last reference to it while the caller
    // reads its message; libstdc++'s reference counting of exception objects is
    // invisible to ThreadSanitizer, and copying is simpler than proving it safe).
    void record_failure(bool oom, Errc c, const char* what) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failed_once) {
            failed_once = true;
            out_of_memory = oom;
            code = c;
            message = what;
        }
        failed = true;
    }
    bool failed_once = false;
    bool out_of_memory = false;
    Errc code = Errc::internal;
    std::string message;
};

ThreadPool::ThreadPool(unsigned threads)
    : threads_(threads ? threads : std::max(1u, std::thread::hardware_concurrency())) {}

void ThreadPool::start_workers() {
    std::call_once(started_, [this] {
        try {
            for (unsigned i = 1; i < threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
        } catch (const std::system_error& e) {
            // The workers started so far stay (the destructor joins them); jobs run on them
            // and the caller.
            if (workers_.empty()) fail(Errc::internal, std::string("cannot start a worker thread: ") + e.what());
        }
    });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
}

void ThreadPool::run_indices(Job& job) {
    size_t finished = 0;
    for (;;) {
        size_t i = job.next.fetch_add(1);
        if (i >= job.n) break;
        if (!job.failed.load()) {
            try {
                (*job.fn)(i);
            } catch (const Error& e) {
                job.record_failure(false, e.code(), e.what());
            } catch (const std::bad_alloc&) {
                job.record_failure(true, Errc::out_of_memory, "out of memory");
            } catch (const std::exception& e) {
                job.record_failure(false, Errc::internal, e.what());
            } catch (...) {
                job.record_failure(false, Errc::internal, "unknown exception in a worker thread");
            }
        }
        ++finished;
    }
    if (finished) {
        std::lock_guard<std::mutex> lock(job.mutex);
        job.done += finished;
        if (job.done == job.n) job.done_cv.notify_all();
    }
}

void ThreadPool::worker_loop() {
    for (;;) {
        std::shared_ptr<Job> job;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (stopping_ && queue_.empty()) return;
            job = queue_.front();
            // Leave the job queued while indices remain and it may take more threads, so
            // that other workers join it (a job is popped the moment it is full: no worker
            // joins one beyond max_threads).
            const bool full = job->threads.fetch_add(1) + 1 >= job->max_threads;
            if (full || job->next.load() + 1 >= job->n) queue_.pop_front();
        }
        run_indices(*job);
        std::lock_guard<std::mutex> lock(mutex_);
        if (!queue_.empty() && queue_.front() == job) queue_.pop_front();
    }
}

void ThreadPool::parallel_for(size_t n, const std::function<void(size_t)>& fn, unsigned max_threads) {
    if (n == 0) return;
    if (threads_ == 1 || n == 1 || max_threads <= 1) {
        for (size_t i = 0; i < n; ++i) fn(i);
        return;
    }
    start_workers();
    auto job = std::make_shared<Job>();
    job->fn = &fn;
    job->n = n;
    job->max_threads = max_threads;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        queue_.push_back(job);
    }
    wake_.notify_all();
    run_indices(*job);
    {
        std::unique_lock<std::mutex> lock(job->mutex);
        job->done_cv.wait(lock, [&] { return job->done == job->n; });
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto it = queue_.begin(); it != queue_.end(); ++it)
            if (*it == job) {
                queue_.erase(it);
                break;
            }
    }
    // Every index is finished (done == n, read under job->mutex above): no worker
    // writes the failure any more.
    if (job->failed_once) {
        if (job->out_of_memory) throw std::bad_alloc();
        throw Error(job->code, job->message);
    }
}

}  // namespace qstore
