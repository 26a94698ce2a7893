// A fixed pool of worker threads owned by one object (a qs_file handle, a packer).
// parallel_for may be called from many threads at once; the calling thread works on
// its own job too, so a pool of size 1 has no workers and runs everything inline.
// The workers start with the first job that has work for them: a handle whose loads
// never split (a small model loaded tensor by tensor) never pays for threads.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

namespace qstore {

class ThreadPool {
public:
    explicit ThreadPool(unsigned threads);  // 0 = one per online CPU
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    unsigned size() const { return threads_; }

    // Runs fn(i) for i in [0, n) on at most max_threads threads (the caller included);
    // returns when all are done. If any call throws, the remaining indices are skipped
    // and the first failure is thrown here again (a qstore::Error with its code and
    // message, std::bad_alloc, or other exceptions as Errc::internal with their message).
    void parallel_for(size_t n, const std::function<void(size_t)>& fn, unsigned max_threads = ~0u);

private:
    struct Job;
    void start_workers();
    void worker_loop();
    static void run_indices(Job& job);

    unsigned threads_;
    std::once_flag started_;
    std::vector<std::thread> workers_;  // written once, by start_workers
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::shared_ptr<Job>> queue_;
    bool stopping_ = false;
};

// A free list of reusable per-task resources (zstd contexts, scratch buffers).
template <class T>
class ResourcePool {
public:
    class Lease {
    public:
        Lease(ResourcePool& pool, std::unique_ptr<T> item) : pool_(pool), item_(std::move(item)) {}
        Lease(Lease&& other) noexcept : pool_(other.pool_), item_(std::move(other.item_)) {}
        ~Lease() { pool_.give_back(std::move(item_)); }
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        Lease& operator=(Lease&&) = delete;
        T& operator*() { return *item_; }
        T* operator->() { return item_.get(); }

    private:
        ResourcePool& pool_;
        std::unique_ptr<T> item_;
    };

    explicit ResourcePool(std::function<std::unique_ptr<T>()> make) : make_(std::move(make)) {}
    // Prefers the item this thread gave back last: its memory is in this core's caches,
    // and a reader's read-ahead windows keep following this thread's walk through a file.
    Lease acquire() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!free_.empty()) {
                const std::thread::id me = std::this_thread::get_id();
                size_t pick = free_.size() - 1;
                for (size_t k = 0; k < free_.size(); ++k)
                    if (free_[k].last_user == me) pick = k;
                auto item = std::move(free_[pick].item);
                free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(pick));
                return Lease(*this, std::move(item));
            }
        }
        return Lease(*this, make_());
    }

private:
    // From a destructor: out of memory, the item is freed rather than kept (throwing
    // here would end the program).
    void give_back(std::unique_ptr<T> item) noexcept {
        if (!item) return;
        std::lock_guard<std::mutex> lock(mutex_);
        try {
            free_.push_back({std::move(item), std::this_thread::get_id()});
        } catch (const std::bad_alloc&) {
        }
    }
    struct Free {
        std::unique_ptr<T> item;
        std::thread::id last_user;
    };
    std::function<std::unique_ptr<T>()> make_;
    std::mutex mutex_;
    std::vector<Free> free_;
};

}  // namespace qstore
