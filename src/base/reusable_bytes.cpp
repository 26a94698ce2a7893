#include "base/reusable_bytes.hpp"

#include <sys/mman.h>

#include <cstring>
#include <new>
#include <utility>

namespace qstore {

namespace {
constexpr size_t kHugePage = size_t(2) << 20;  // allocation unit of the large buffers
}

size_t large_pages_size(size_t size) { return (size + kHugePage - 1) / kHugePage * kHugePage; }

void* map_large_pages(size_t size) {
    size = large_pages_size(size);
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    ::madvise(p, size, MADV_HUGEPAGE);  // a hint: without THP it changes nothing
#endif
    return p;
}

void unmap_large_pages(void* p, size_t size) { ::munmap(p, large_pages_size(size)); }

uint8_t* ReusableBytes::grow(size_t n, size_t keep) {
    if (n + kSlack <= capacity_) return data_;
    // Exactly what is asked for (large buffers in whole 2 MiB units): growing twofold
    // would fault in fewer pages but raise a pack's peak memory noticeably
    // (docs/design/code-notes.md). Allocated before the old buffer is let go: if
    // that fails, this buffer is as it was (another thread may still append to it).
    const size_t want = n + kSlack;
    ReusableBytes fresh(mapped_from_);
    if (want >= mapped_from_) {
        const size_t size = large_pages_size(want);
        fresh.data_ = static_cast<uint8_t*>(map_large_pages(size));
        fresh.capacity_ = size;
        fresh.mapped_ = true;
    } else {
        fresh.data_ = new uint8_t[want];
        fresh.capacity_ = want;
    }
    if (keep > 0) std::memcpy(fresh.data_, data_, keep);
    std::swap(data_, fresh.data_);  // the old buffer is released with `fresh`
    std::swap(capacity_, fresh.capacity_);
    std::swap(mapped_, fresh.mapped_);
    return data_;
}

void ReusableBytes::release() {
    if (!data_) return;
    if (mapped_) unmap_large_pages(data_, capacity_);
    else delete[] data_;
    data_ = nullptr;
    capacity_ = 0;
}

}  // namespace qstore
