#include "reusable_bytes.hpp"

#include <sys/mman.h>

#include <cstring>
#include <new>
#include <utility>

namespace qstore {

namespace {
constexpr size_t kHugePage = size_t(2) << 20;  // allocation unit of the large buffers
}

uint8_t* ReusableBytes::grow(size_t n, size_t keep) {
    if (n + kSlack <= capacity_) return data_;
    ReusableBytes old(std::move(*this));  // released on return, after the copy
    const size_t want = n + kSlack;
    if (want >= mapped_from_) {
        const size_t size = (want + kHugePage - 1) / kHugePage * kHugePage;
        void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
        ::madvise(p, size, MADV_HUGEPAGE);  // a hint: without THP it changes nothing
#endif
        data_ = static_cast<uint8_t*>(p);
        capacity_ = size;
        mapped_ = true;
    } else {
        data_ = new uint8_t[want];
        capacity_ = want;
        mapped_ = false;
    }
    if (keep > 0) std::memcpy(data_, old.data_, keep);
    return data_;
}

void ReusableBytes::release() {
    if (!data_) return;
    if (mapped_) ::munmap(data_, capacity_);
    else delete[] data_;
    data_ = nullptr;
    capacity_ = 0;
}

}  // namespace qstore
