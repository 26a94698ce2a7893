// A file on a web server as a ByteSource (what the Reader reads through): read_at
// serves bytes from the ranges held in memory when they cover them, else with one
// range request. hold() fetches a batch of ranges ahead of the loads that need them:
// neighbouring ranges are merged, long ones split into pieces fetched over parallel
// connections, and the bytes stay until release(). The first chunk that opening
// fetched is held from the start, so that reading the header makes no further request.
// With options.cache_dir, ranges are looked up in and added to a RangeCache.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "io/byte_source.hpp"
#include "net/http_file.hpp"
#include "net/range_cache.hpp"

namespace qstore::net {

struct ByteSpan {
    uint64_t begin = 0, end = 0;
};

class HttpSource final : public ByteSource {
public:
    // What opening fetches: the header and, in a file this small, everything.
    static constexpr uint64_t kFirstChunk = uint64_t{64} << 10;
    // Neighbouring ranges closer than this are fetched as one.
    static constexpr uint64_t kMergeGap = 4096;
    // Merged ranges longer than this are fetched in pieces of about this size, in parallel.
    static constexpr uint64_t kPiece = uint64_t{8} << 20;

    HttpSource(const std::string& url, const HttpOptions& options, uint64_t first_bytes);

    uint64_t size() const override { return file_.size(); }
    const std::string& name() const override { return file_.name(); }
    // Thread-safe; may run while other threads read.
    void read_at(uint64_t offset, uint8_t* dst, size_t n) const override;
    // Fetched in pieces over parallel connections, a few pieces in memory at a time.
    uint64_t checksum_at(uint64_t offset, uint64_t n) const override;
    bool reads_ahead() const override { return false; }
    // hold() and release().
    void prefetch(const std::vector<std::pair<uint64_t, uint64_t>>& spans, bool whole) const override;
    void forget_prefetched() const override { release(); }

    HttpStats stats() const { return file_.stats(); }
    // Fetches the spans (merged; split into pieces when split_pieces) and holds them.
    void hold(std::vector<ByteSpan> spans, bool split_pieces) const;
    // Drops every held range but the first chunk.
    void release() const;
    // The merged spans hold() would fetch for `spans`, in file order.
    static std::vector<ByteSpan> merge(std::vector<ByteSpan> spans);

private:
    struct Held {
        uint64_t begin;
        std::shared_ptr<const std::vector<uint8_t>> bytes;
    };
    bool copy_held(uint64_t offset, uint8_t* dst, size_t n) const;
    // [begin, end) into dst from the cache, else fetched (in pieces when split).
    void fetch(uint64_t begin, uint64_t end, uint8_t* dst, bool split) const;

    mutable HttpFile file_;
    std::unique_ptr<RangeCache> cache_;  // null without a cache folder
    mutable std::mutex mutex_;
    mutable std::vector<Held> held_;  // the first chunk first; a handful of ranges
};

}  // namespace qstore::net
