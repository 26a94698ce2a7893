// Items produced out of order by several threads (tensors encoded side by side),
// consumed in order: commit(i, item) hands item i over; whichever thread completes the
// next item in order writes it, and those after it that are ready, while the other
// threads go on producing. What waits is about one item per thread.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <mutex>

namespace qstore {

template <class Item>
class OrderedCommit {
public:
    explicit OrderedCommit(std::function<void(size_t, Item&)> write) : write_(std::move(write)) {}

    void commit(size_t index, Item item) {
        std::unique_lock<std::mutex> lock(mutex_);
        done_.emplace(index, std::move(item));
        if (writing_) return;  // the thread writing will get to it
        writing_ = true;
        for (auto it = done_.find(next_); it != done_.end(); it = done_.find(next_)) {
            Item next = std::move(it->second);
            done_.erase(it);
            lock.unlock();
            try {
                write_(next_, next);
            } catch (...) {
                lock.lock();
                writing_ = false;
                throw;
            }
            lock.lock();
            ++next_;
        }
        writing_ = false;
    }
    // How many items have been written (all of them once every commit has returned).
    size_t written() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return next_;
    }

private:
    std::function<void(size_t, Item&)> write_;
    mutable std::mutex mutex_;
    std::map<size_t, Item> done_;  // produced, waiting for the items before them
    size_t next_ = 0;
    bool writing_ = false;
};

}  // namespace qstore
