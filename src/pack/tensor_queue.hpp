// The hand-over between a Writer's caller, who adds tensors, and the writer's threads,
// which encode and write them: a queue of tensors in file order, bounded by how many
// tensors are held at once (added and not yet written: queued, being encoded, or
// encoded and waiting for the ones before them). The caller blocks when it is full, so
// memory stays about `capacity` tensors whatever the model's size.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>

namespace qstore {

template <class Job>
class TensorQueue {
public:
    explicit TensorQueue(size_t capacity) : capacity_(capacity) {}

    // Waits until fewer than `capacity` tensors are held, then counts one more of
    // `bytes` (the caller then fills it in and push()es it, or release()s it). Rethrows
    // the writer threads' failure.
    void reserve(uint64_t bytes) {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return held_ < capacity_ || stopped_; });
        if (failure_) std::rethrow_exception(failure_);
        ++held_;
        held_bytes_ += bytes;
        if (held_bytes_ > peak_bytes_) peak_bytes_ = held_bytes_;
    }
    void push(std::unique_ptr<Job> job) {
        std::lock_guard<std::mutex> lock(mutex_);
        queue_.push_back(std::move(job));
        changed_.notify_all();
    }
    // A tensor reserved and not pushed, or written: no longer held.
    void release(uint64_t bytes) {
        std::lock_guard<std::mutex> lock(mutex_);
        --held_;
        held_bytes_ -= bytes;
        changed_.notify_all();
    }

    // The next tensor, once there is one; nullptr once the queue is closed and empty, or
    // stopped. The front stays queued: one thread (the dispatcher) looks.
    Job* wait_front() {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return !queue_.empty() || closed_ || stopped_; });
        return stopped_ || queue_.empty() ? nullptr : queue_.front().get();
    }
    // Takes the next tensor, waiting for one, if `take(front)`; nullptr once the queue is
    // closed and empty, or stopped, or if the next tensor is not to be taken.
    std::unique_ptr<Job> pop_if(const std::function<bool(const Job&)>& take) {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return !queue_.empty() || closed_ || stopped_; });
        if (stopped_ || queue_.empty() || !take(*queue_.front())) return nullptr;
        std::unique_ptr<Job> job = std::move(queue_.front());
        queue_.pop_front();
        return job;
    }

    // No more tensors will be pushed: the threads finish what is queued.
    void close() {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = true;
        changed_.notify_all();
    }
    // Stops everything: queued tensors are dropped, waiting calls return. A failure
    // (the first one is kept) is rethrown by reserve() and failure().
    void stop(std::exception_ptr failure = nullptr) {
        std::deque<std::unique_ptr<Job>> dropped;
        std::lock_guard<std::mutex> lock(mutex_);
        if (failure && !failure_) failure_ = failure;
        stopped_ = true;
        dropped.swap(queue_);
        changed_.notify_all();
    }
    std::exception_ptr failure() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return failure_;
    }
    // The largest number of tensor bytes held at once so far (what bounds the memory).
    uint64_t peak_bytes() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return peak_bytes_;
    }

private:
    const size_t capacity_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<std::unique_ptr<Job>> queue_;
    size_t held_ = 0;
    uint64_t held_bytes_ = 0, peak_bytes_ = 0;
    bool closed_ = false, stopped_ = false;
    std::exception_ptr failure_;
};

}  // namespace qstore
