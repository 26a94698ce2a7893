// Sequential output to a file descriptor with the running position and an XXH3 of
// what was written since the last reset (a section's checksum), plus rewinding to
// patch the header at the end of a pack. Small writes are gathered in a buffer: a
// model of thousands of tensors is tens of thousands of parts and paddings, and a
// system call each cost more than encoding the small ones.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/atomic_file.hpp"
#include "base/checksum.hpp"
#include "base/reusable_bytes.hpp"

namespace qstore {

// Writes all n bytes to fd (retrying short writes and EINTR); Errc::io naming `path`.
void write_all(int fd, const void* data, size_t n, const std::string& path);

class FileSink {
public:
    // Writes `path` atomically (AtomicFile: it is replaced by close(), and kept as it
    // was if the sink is destroyed first); with temporary=true makes an unnamed file in
    // the same folder as `path` that vanishes when closed.
    FileSink(const std::string& path, bool temporary);
    ~FileSink();
    FileSink(const FileSink&) = delete;
    FileSink& operator=(const FileSink&) = delete;

    void write(const void* data, uint64_t size);
    void pad_to(uint64_t alignment);  // zero bytes up to the next multiple
    uint64_t position() const { return position_; }

    void restart_checksum();
    uint64_t checksum() const { return sum_->digest(); }

    // Appends everything written to `other` (copied from its start). The appended bytes
    // are not added to the running checksum: `other` has its own.
    void append_from(FileSink& other);
    void write_at(uint64_t offset, const void* data, uint64_t size);
    void close();  // flushes, then closes (and commits `path`); errors are Errc::io

private:
    void flush();
    static constexpr size_t kBufferSize = size_t{1} << 20;
    // Writes from this size go straight to the file (after what is buffered): copying
    // them into the buffer first costs more than their system call.
    static constexpr size_t kDirectFrom = size_t{64} << 10;

    std::string path_;
    std::unique_ptr<AtomicFile> atomic_;  // the output file; null for a temporary
    int fd_ = -1;
    uint64_t position_ = 0;
    ReusableBytes buffer_;  // kBufferSize bytes, written to fd_ when full or before any other access
    size_t buffered_ = 0;
    std::unique_ptr<Checksummer> sum_;
};

}  // namespace qstore
