// The byte spans of a .qs file that loads will read, so that a source where every read
// costs a round trip (a web server, net/) can fetch them ahead in few requests: the
// low model as one span of the low prefix (one more per level of a chain), or the
// parts of chosen tensors in batches of bounded size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "read/reader.hpp"

namespace qstore {

struct FileSpan {
    uint64_t begin = 0, end = 0;
};

// Every level at or above a quantized tensor's top level means its high precision.
constexpr size_t kHighLevel = SIZE_MAX;

// The spans of tensor i's parts that loading it at `level` reads: its parts at levels
// 0..level (every level below is decoded first). Clipped to the file's actual size.
std::vector<FileSpan> tensor_spans(const Reader& r, size_t i, size_t level);

// What serves every tensor at levels 0..level: [0, low prefix) for level 0, then one
// span per level section above it. Clipped to the file's actual size.
std::vector<FileSpan> level_spans(const Reader& r, size_t level);

// `tensors`, in their order, cut into runs whose spans at `level` add up to at most
// `budget` bytes (a tensor larger than the budget forms a run of its own).
std::vector<std::vector<size_t>> fetch_batches(const Reader& r, const std::vector<size_t>& tensors, size_t level,
                                               uint64_t budget);

}  // namespace qstore
