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

std::vector<std::vector<size_t>> fetch_batches(const Reader& r, const std::vector<size_t>& tensors, size_t level,
                                               uint64_t budget) {
    std::vector<std::vector<size_t>> batches;
    uint64_t bytes = 0;
    for (size_t i : tensors) {
        uint64_t n = 0;
        for (const FileSpan& s : tensor_spans(r, i, level)) n += s.end - s.begin;
        if (batches.empty() || (bytes + n > budget && !batches.back().empty())) {
            batches.emplace_back();
            bytes = 0;
        }
        batches.back().push_back(i);
        bytes += n;
    }
    return batches;
}

}  // namespace qstore
