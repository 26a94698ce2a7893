#include "read/fetch_plan.hpp"

#include <algorithm>

namespace qstore {

namespace {

uint64_t section_offset(const Reader& r, size_t level) {
    for (const SectionEntry& s : r.sections())
        if (static_cast<SectionKind>(s.kind) == SectionKind::level_data && s.level == level) return s.offset;
    return 0;  // no such section: the reader reports it when the tensor is loaded
}

void add_clipped(std::vector<FileSpan>& out, const Reader& r, uint64_t begin, uint64_t end) {
    end = std::min(end, r.actual_size());
    if (begin < end) out.push_back({begin, end});
}

}  // namespace

std::vector<FileSpan> tensor_spans(const Reader& r, size_t i, size_t level) {
    const TensorRecord& t = r.tensor(i);
    std::vector<FileSpan> out;
    const size_t last = std::min(level, t.levels.size() - 1);
    for (size_t k = 0; k <= last; ++k) {
        const uint64_t section = section_offset(r, k);
        for (const PartRef& p : t.levels[k]) add_clipped(out, r, section + p.offset, section + p.offset + p.size);
    }
    return out;
}

std::vector<FileSpan> level_spans(const Reader& r, size_t level) {
    std::vector<FileSpan> out;
    add_clipped(out, r, 0, r.header().low_prefix_end);
    for (const SectionEntry& s : r.sections())
        if (static_cast<SectionKind>(s.kind) == SectionKind::level_data && s.level >= 1 && s.level <= level)
            add_clipped(out, r, s.offset, s.offset + s.stored_size);
    return out;
}

std::vector<std::pair<size_t, size_t>> fetch_batches(const Reader& r, const std::vector<size_t>& tensors,
                                                     size_t level, uint64_t budget) {
    std::vector<std::pair<size_t, size_t>> runs;
    uint64_t bytes = 0;
    for (size_t k = 0; k < tensors.size(); ++k) {
        uint64_t n = 0;
        for (const FileSpan& s : tensor_spans(r, tensors[k], level)) n += s.end - s.begin;
        if (runs.empty() || bytes + n > budget) {
            runs.push_back({k, k});
            bytes = 0;
        }
        runs.back().second = k + 1;
        bytes += n;
    }
    return runs;
}

namespace {

// Forgets what the source prefetched when the batch ends, thrown or not.
struct Prefetched {
    const ByteSource& source;
    Prefetched(const ByteSource& s, const std::vector<FileSpan>& spans, bool whole) : source(s) {
        std::vector<std::pair<uint64_t, uint64_t>> v;
        for (const FileSpan& f : spans) v.emplace_back(f.begin, f.end);
        source.prefetch(v, whole);
    }
    ~Prefetched() { source.forget_prefetched(); }
    Prefetched(const Prefetched&) = delete;
    Prefetched& operator=(const Prefetched&) = delete;
};

}  // namespace

void for_each_fetched(const Reader& r, const std::vector<size_t>& tensors, size_t level, bool whole_levels,
                      const std::function<void(size_t, size_t)>& body) {
    if (r.source().reads_ahead()) {
        body(0, tensors.size());
        return;
    }
    if (whole_levels) {
        Prefetched p(r.source(), level_spans(r, level), true);
        body(0, tensors.size());
        return;
    }
    for (const auto& [begin, end] : fetch_batches(r, tensors, level, kFetchBatchBytes)) {
        std::vector<FileSpan> spans;
        for (size_t k = begin; k < end; ++k)
            for (const FileSpan& s : tensor_spans(r, tensors[k], level)) spans.push_back(s);
        Prefetched p(r.source(), spans, false);
        body(begin, end);
    }
}

}  // namespace qstore
