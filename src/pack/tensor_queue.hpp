// The hand-over between a Writer's caller, who adds tensors, and the writer's threads,
// which encode and write them: a queue of tensors in file order, bounded by the bytes
// of the tensors held at once (added and not yet written: queued, being encoded, or
// encoded and waiting for the ones before them). The bound is `slots` times the
// largest tensor seen, or times `min_per_slot` bytes if that is more (many small
// tensors then pass in batches rather than one hand-over each); a tensor larger than
// the bound is let in alone. The caller blocks while the queue is full, and then until
// it has drained to half the bound, so that caller and threads do not wake each other
// for every tensor. With one slot per thread and one for the tensor the caller fills,
// memory stays about one tensor per thread whatever the model's size.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

namespace qstore {

template <class Job>
class TensorQueue {
public:
    TensorQueue(unsigned slots, uint64_t min_per_slot) : slots_(slots), min_per_slot_(min_per_slot) {}

    // Waits for room for a tensor of `bytes`, then counts it as held (the caller then
    // fills it in and push()es it, or release()s it). Rethrows the threads' failure.
    void reserve(uint64_t bytes) {
        std::unique_lock<std::mutex> lock(mutex_);
        largest_ = std::max(largest_, bytes);
        const uint64_t bound = this->bound();
        auto fits = [&] { return held_bytes_ == 0 || held_bytes_ + bytes <= bound; };
        if (!fits() && !stopped_) {
            waiting_ = true;
            room_.wait(lock, [&] { return stopped_ || (held_bytes_ <= bound / 2 && fits()); });
            waiting_ = false;
        }
        if (failure_) std::rethrow_exception(failure_);
        held_bytes_ += bytes;
        peak_bytes_ = std::max(peak_bytes_, held_bytes_);
    }
    void push(std::unique_ptr<Job> job) {
        std::lock_guard<std::mutex> lock(mutex_);
        queue_.push_back(std::move(job));
        work_.notify_all();
    }
    // A tensor reserved and not pushed, or written: no longer held.
    void release(uint64_t bytes) {
        std::lock_guard<std::mutex> lock(mutex_);
        held_bytes_ -= bytes;
        if (waiting_ && held_bytes_ <= bound() / 2) room_.notify_all();
    }

    // Waits for the next tensor and tells whether `test(front)` holds; nothing once the
    // queue is closed and empty, or stopped. The front stays queued, and is looked at
    // only under the lock: stop() may free it as soon as the lock is let go.
    std::optional<bool> wait_front(const std::function<bool(const Job&)>& test) {
        std::unique_lock<std::mutex> lock(mutex_);
        work_.wait(lock, [&] { return !queue_.empty() || closed_ || stopped_; });
        if (stopped_ || queue_.empty()) return std::nullopt;
        return test(*queue_.front());
    }
    // Takes the next tensor, waiting for one, if `take(front)`; nullptr once the queue is
    // closed and empty, or stopped, or if the next tensor is not to be taken.
    std::unique_ptr<Job> pop_if(const std::function<bool(const Job&)>& take) {
        std::unique_lock<std::mutex> lock(mutex_);
        work_.wait(lock, [&] { return !queue_.empty() || closed_ || stopped_; });
        if (stopped_ || queue_.empty() || !take(*queue_.front())) return nullptr;
        std::unique_ptr<Job> job = std::move(queue_.front());
        queue_.pop_front();
        return job;
    }

    // No more tensors will be pushed: the threads finish what is queued.
    void close() {
        std::lock_guard<std::mutex> lock(mutex_);
        closed_ = true;
        work_.notify_all();
    }
    // Stops everything: queued tensors are dropped, waiting calls return. A failure
    // (the first one is kept) is rethrown by reserve() and failure().
    void stop(std::exception_ptr failure = nullptr) {
        std::deque<std::unique_ptr<Job>> dropped;  // freed after the lock is let go
        std::lock_guard<std::mutex> lock(mutex_);
        if (failure && !failure_) failure_ = failure;
        stopped_ = true;
        dropped.swap(queue_);
        work_.notify_all();
        room_.notify_all();
    }
    std::exception_ptr failure() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return failure_;
    }
    // The most tensor bytes held at once so far (what bounds the memory).
    uint64_t peak_bytes() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return peak_bytes_;
    }

private:
    uint64_t bound() const { return slots_ * std::max(largest_, min_per_slot_); }

    const uint64_t slots_, min_per_slot_;
    mutable std::mutex mutex_;
    std::condition_variable work_;  // the threads wait for tensors
    std::condition_variable room_;  // the caller waits for room
    std::deque<std::unique_ptr<Job>> queue_;
    uint64_t held_bytes_ = 0, peak_bytes_ = 0, largest_ = 0;
    bool waiting_ = false;  // the caller waits for room
    bool closed_ = false, stopped_ = false;
    std::exception_ptr failure_;
};

}  // namespace qstore
