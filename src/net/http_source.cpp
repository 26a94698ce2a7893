#include "net/http_source.hpp"

#include <algorithm>
#include <cstring>

#include "base/checksum.hpp"

namespace qstore::net {

HttpSource::HttpSource(const std::string& url, const HttpOptions& options, uint64_t first_bytes)
    : file_(url, options, first_bytes) {
    held_.push_back({0, std::make_shared<const std::vector<uint8_t>>(file_.first_chunk())});
    if (!options.cache_dir.empty()) {
        const Validators& v = file_.validators();
        cache_ = std::make_unique<RangeCache>(options.cache_dir, url, v.etag.empty() ? v.last_modified : v.etag);
    }
}

bool HttpSource::copy_held(uint64_t offset, uint8_t* dst, size_t n) const {
    std::shared_ptr<const std::vector<uint8_t>> bytes;
    uint64_t begin = 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const Held& h : held_)
            if (h.begin <= offset && offset + n <= h.begin + h.bytes->size()) {
                bytes = h.bytes;
                begin = h.begin;
            }
    }
    if (!bytes) return false;
    std::memcpy(dst, bytes->data() + (offset - begin), n);
    return true;
}

void HttpSource::fetch(uint64_t begin, uint64_t end, uint8_t* dst, bool split) const {
    if (cache_ && cache_->get(begin, end, dst)) return;
    const uint64_t pieces = split ? std::max<uint64_t>(1, (end - begin) / kPiece) : 1;
    const uint64_t step = (end - begin + pieces - 1) / pieces;
    std::vector<RangeRead> reads;
    for (uint64_t b = begin; b < end; b += step) reads.push_back({b, std::min(end, b + step), dst + (b - begin)});
    file_.read_ranges(reads);
    if (cache_) cache_->put(begin, end, dst);
}

void HttpSource::read_at(uint64_t offset, uint8_t* dst, size_t n) const {
    check_range(offset, n);
    if (n == 0 || copy_held(offset, dst, n)) return;
    fetch(offset, offset + n, dst, false);
}

uint64_t HttpSource::checksum_at(uint64_t offset, uint64_t n) const {
    check_range(offset, n);
    Checksummer sum;
    const uint64_t batch = kPiece * std::max(1u, file_.options().connections);
    std::vector<uint8_t> bytes;
    for (uint64_t done = 0; done < n;) {
        const uint64_t len = std::min(batch, n - done);
        bytes.resize(static_cast<size_t>(len));
        if (!copy_held(offset + done, bytes.data(), bytes.size())) fetch(offset + done, offset + done + len, bytes.data(), true);
        sum.update(bytes.data(), bytes.size());
        done += len;
    }
    return sum.digest();
}

std::vector<ByteSpan> HttpSource::merge(std::vector<ByteSpan> spans) {
    spans.erase(std::remove_if(spans.begin(), spans.end(), [](const ByteSpan& s) { return s.end <= s.begin; }),
                spans.end());
    std::sort(spans.begin(), spans.end(), [](const ByteSpan& a, const ByteSpan& b) { return a.begin < b.begin; });
    std::vector<ByteSpan> out;
    for (const ByteSpan& s : spans) {
        if (!out.empty() && s.begin <= out.back().end + kMergeGap) out.back().end = std::max(out.back().end, s.end);
        else out.push_back(s);
    }
    return out;
}

// The spans not in the cache are fetched in one batch, so that their pieces share the
// parallel connections.
void HttpSource::prefetch(const std::vector<std::pair<uint64_t, uint64_t>>& spans, bool whole) const {
    std::vector<ByteSpan> v;
    for (const auto& [begin, end] : spans) v.push_back({begin, end});
    hold(std::move(v), !whole);
}

void HttpSource::hold(std::vector<ByteSpan> spans, bool split_pieces) const {
    const std::vector<ByteSpan> merged = merge(std::move(spans));
    std::vector<std::shared_ptr<std::vector<uint8_t>>> buffers;
    std::vector<RangeRead> reads;
    std::vector<size_t> fetched;  // merged spans not found in the cache
    for (const ByteSpan& s : merged) {
        auto buffer = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(s.end - s.begin));
        if (!(cache_ && cache_->get(s.begin, s.end, buffer->data()))) {
            fetched.push_back(buffers.size());
            const uint64_t pieces = split_pieces ? std::max<uint64_t>(1, (s.end - s.begin) / kPiece) : 1;
            const uint64_t step = (s.end - s.begin + pieces - 1) / pieces;
            for (uint64_t b = s.begin; b < s.end; b += step)
                reads.push_back({b, std::min(s.end, b + step), buffer->data() + (b - s.begin)});
        }
        buffers.push_back(std::move(buffer));
    }
    file_.read_ranges(reads);
    if (cache_)
        for (size_t k : fetched) cache_->put(merged[k].begin, merged[k].end, buffers[k]->data());
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t k = 0; k < merged.size(); ++k) held_.push_back({merged[k].begin, std::move(buffers[k])});
}

void HttpSource::release() const {
    std::lock_guard<std::mutex> lock(mutex_);
    held_.resize(1);
}

}  // namespace qstore::net
