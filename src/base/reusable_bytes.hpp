// Bytes reused from task to task (a reader's staged file bytes and decoded codes):
// grown when a task needs more, never zero-filled. A fresh std::vector per task would
// be zeroed and, when large, page-faulted in again each time. Buffers of 256 KiB and
// more are mapped in whole 2 MiB units that ask for transparent huge pages, so that
// first touching them costs one fault per 2 MiB instead of one per 4 KiB page (systems
// with THP in "madvise" mode, the default of Debian's kernels): without it, the page
// faults make a fresh handle's first loads much slower than later ones
// (docs/design/code-notes.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace qstore {

class ReusableBytes {
public:
    // Decoders may load a few bytes past the end of their data with wide vector reads.
    static constexpr size_t kSlack = 64;

    // Buffers from 256 KiB are mapped on 2 MiB pages by default; `mapped_from` moves
    // that threshold (a buffer of many per thread that is usually small would otherwise
    // take a whole 2 MiB page of memory each).
    static constexpr size_t kMappedFrom = size_t(256) << 10;
    explicit ReusableBytes(size_t mapped_from = kMappedFrom) : mapped_from_(mapped_from) {}
    ~ReusableBytes() { release(); }
    ReusableBytes(const ReusableBytes&) = delete;
    ReusableBytes& operator=(const ReusableBytes&) = delete;
    ReusableBytes(ReusableBytes&& o) noexcept
        : data_(o.data_), capacity_(o.capacity_), mapped_(o.mapped_), mapped_from_(o.mapped_from_) {
        o.data_ = nullptr;
        o.capacity_ = 0;
    }
    ReusableBytes& operator=(ReusableBytes&&) = delete;

    // Room for n bytes (+ kSlack); the contents are unspecified.
    uint8_t* reserve(size_t n) { return grow(n, 0); }
    // Room for n bytes (+ kSlack), the first `keep` bytes (<= n) as they were. Growing
    // allocates anew and copies; callers that grow in steps grow geometrically.
    uint8_t* grow(size_t n, size_t keep);
    // Frees the memory if it grew beyond `keep` bytes (one huge tensor should not pin it).
    void trim(size_t keep) {
        if (capacity_ > keep) release();
    }
    size_t capacity() const { return capacity_; }
    uint8_t* data() const { return data_; }  // as the last reserve() returned it

private:
    void release();
    uint8_t* data_ = nullptr;
    size_t capacity_ = 0;
    bool mapped_ = false;  // from mmap (large), else from new[]
    size_t mapped_from_;
};

// Memory for large buffers: `size` rounded up to whole 2 MiB units, mapped and asked
// for transparent huge pages (the rounded size is what unmap_large_pages takes back).
size_t large_pages_size(size_t size);
void* map_large_pages(size_t size);  // throws std::bad_alloc
void unmap_large_pages(void* p, size_t size);

// An allocator for the encoders' output vectors (ByteVector): allocations from
// ReusableBytes::kMappedFrom bytes on 2 MiB pages, like ReusableBytes', smaller ones
// from operator new. The first touch of a 4 KiB page is a page fault, which costs
// microseconds, and the blocks and streams a pack encodes are up to a few MB each: in
// plain vectors, regrown per block, they would fault in anew page by page (fewer,
// larger pages: docs/design/code-notes.md).
template <class T>
struct LargePageAllocator {
    using value_type = T;
    LargePageAllocator() = default;
    template <class U>
    LargePageAllocator(const LargePageAllocator<U>&) noexcept {}
    T* allocate(size_t n) {
        const size_t bytes = n * sizeof(T);
        if (bytes >= ReusableBytes::kMappedFrom) return static_cast<T*>(map_large_pages(bytes));
        return static_cast<T*>(::operator new(bytes));
    }
    void deallocate(T* p, size_t n) noexcept {
        const size_t bytes = n * sizeof(T);
        if (bytes >= ReusableBytes::kMappedFrom) unmap_large_pages(p, bytes);
        else ::operator delete(p);
    }
    template <class U>
    bool operator==(const LargePageAllocator<U>&) const noexcept { return true; }
    template <class U>
    bool operator!=(const LargePageAllocator<U>&) const noexcept { return false; }
};

// The bytes an encoder appends to (blocks, stream sets, rANS payloads and models).
using ByteVector = std::vector<uint8_t, LargePageAllocator<uint8_t>>;

}  // namespace qstore
