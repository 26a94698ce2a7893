// A read-only, random-access source of bytes: what the Reader reads a .qs file through.
// Implementations: a local file (MappedFile, io/mapped_file.hpp), a block of memory
// (MemorySource, below), and sources of the C API (a read-at callback, capi/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace qstore {

class ByteSource {
public:
    virtual ~ByteSource() = default;
    virtual uint64_t size() const = 0;
    // Names the source in messages (a file's path).
    virtual const std::string& name() const = 0;
    // Copies [offset, offset + n) into dst; the range must lie inside size(). A source that
    // cannot deliver throws Error(io), or Error(truncated) when it became shorter.
    virtual void read_at(uint64_t offset, uint8_t* dst, size_t n) const = 0;
    // The checksum (base/checksum.hpp) of [offset, offset + n), read in pieces of 1 MiB:
    // memory stays bounded whatever n is.
    virtual uint64_t checksum_at(uint64_t offset, uint64_t n) const;
    // The whole source as memory that stays valid and unchanged while the source lives,
    // or null: zero-copy views (qs_view_low) point into it.
    virtual const uint8_t* contiguous() const { return nullptr; }
    // False for a source where every byte read costs a transfer (a web server, net/):
    // read-ahead windows (ReadAhead) then read exactly the range asked for.
    virtual bool reads_ahead() const { return true; }
    // For such a source: the reader is about to read the spans ([begin, end) pairs); the
    // source may fetch them at once (each merged span in one request when `whole`, else
    // in pieces over parallel connections) and keep them until forget_prefetched().
    // Thread-safe against concurrent read_at. Other sources ignore both.
    virtual void prefetch(const std::vector<std::pair<uint64_t, uint64_t>>& spans, bool whole) const {
        (void)spans;
        (void)whole;
    }
    virtual void forget_prefetched() const {}

protected:
    // Error(internal) unless [offset, offset + n) lies inside size().
    void check_range(uint64_t offset, uint64_t n) const;
};

// Bytes the caller keeps valid and unchanged for the life of the source (not copied).
class MemorySource final : public ByteSource {
public:
    MemorySource(const void* data, size_t size, std::string name)
        : data_(static_cast<const uint8_t*>(data)), size_(size), name_(std::move(name)) {}
    uint64_t size() const override { return size_; }
    const std::string& name() const override { return name_; }
    void read_at(uint64_t offset, uint8_t* dst, size_t n) const override;
    uint64_t checksum_at(uint64_t offset, uint64_t n) const override;
    const uint8_t* contiguous() const override { return data_; }

private:
    const uint8_t* data_;
    size_t size_;
    std::string name_;
};

}  // namespace qstore
