// A read-only memory map of a whole file (RAII). Empty files map to size 0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "io/byte_source.hpp"

namespace qstore {

class MappedFile final : public ByteSource {
public:
    explicit MappedFile(const std::string& path);  // throws Error(io)
    ~MappedFile() override;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const uint8_t* data() const { return data_; }
    uint64_t size() const override { return size_; }
    const std::string& path() const { return path_; }
    const std::string& name() const override { return path_; }
    const uint8_t* contiguous() const override { return data_; }
    // Copies [offset, offset + n) of the file into dst with pread, without mapping any
    // page into this process: a scan of the page cache by read is several times faster
    // than touching a fresh mapping (one page fault per 16 pages, TLB misses on 4 KiB
    // pages). The range must lie inside size(); a file that shrank since it was opened
    // is reported as truncated.
    void read_at(uint64_t offset, uint8_t* dst, size_t n) const override;
    // checksum_at (ByteSource's) reads with pread in pieces: a file that shrank is
    // reported as truncated, where hashing through the mapping would raise SIGBUS.

private:
    std::string path_;
    const uint8_t* data_ = nullptr;
    size_t size_ = 0;
    int fd_ = -1;  // kept open for read_at
};

// A read-ahead window over sources: byte ranges are served from memory that one read
// (ByteSource::read_at, a pread for files) filled, so that a walk over small neighbouring ranges costs a
// system call per window instead of one per range (a system call costs more than
// copying a small tensor). The window starts at kFirstWindow bytes and doubles up to
// the caller's maximum while reads go forward through the file, as the kernel's
// read-ahead does, so that reading one range here and there does not read far past it.
// Not thread-safe: one per thread (or per use).
class ReadAhead {
public:
    static constexpr size_t kFirstWindow = size_t{64} << 10;
    // Bytes [begin, end) of `file` (end - begin <= max_window), in `memory`: at least
    // max_window bytes, the same memory at every call. A window reads nothing at or past
    // `limit` (end <= limit): a reader of one section never fetches the next one.
    const uint8_t* get(const ByteSource& file, uint64_t begin, uint64_t end, uint8_t* memory, size_t max_window,
                       uint64_t limit = UINT64_MAX);

private:
    const ByteSource* file_ = nullptr;  // the source held, none if null
    uint64_t begin_ = 0, end_ = 0;      // its offsets held
    size_t size_ = 0;                   // bytes the last read fetched at least
};

}  // namespace qstore
