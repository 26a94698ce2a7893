// The byte spans of a .qs file that loads will read, so that a source where every read
// costs a round trip (a web server, net/) can fetch them ahead in few requests: the
// low model as one span of the low prefix (one more per level of a chain), or the
// parts of chosen tensors in batches of bounded size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
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

// `tensors`, in their order, cut into runs [begin, end) of positions whose spans at
// `level` add up to at most `budget` bytes (a tensor larger than that is a run alone).
std::vector<std::pair<size_t, size_t>> fetch_batches(const Reader& r, const std::vector<size_t>& tensors,
                                                     size_t level, uint64_t budget);

// Bytes of a remote file fetched ahead at once while loading tensors.
constexpr uint64_t kFetchBatchBytes = uint64_t{64} << 20;

// Runs body(begin, end) over the runs of positions in `tensors` of fetch_batches
// (kFetchBatchBytes), each run's spans prefetched by the reader's source first and
// forgotten after: a web server's bytes arrive in few merged requests over parallel
// connections, and memory stays bounded by the batch. With whole_levels, one run of
// every tensor with the level spans instead (the low model in one request). Other
// sources: body(0, tensors.size()).
void for_each_fetched(const Reader& r, const std::vector<size_t>& tensors, size_t level, bool whole_levels,
                      const std::function<void(size_t, size_t)>& body);

}  // namespace qstore
