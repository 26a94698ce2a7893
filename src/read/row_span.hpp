// Ranges of rows (dimension 0) of a tensor, and how a scheme's scales follow rows: what
// loads of a row range (Reader::load_level_rows, load_high_rows) decode and return.
#pragma once

#include <cstdint>

#include "schemes/scheme.hpp"

namespace qstore {

// Rows [begin, end).
struct RowSpan {
    uint64_t begin = 0, end = UINT64_MAX;
    uint64_t size() const { return end - begin; }
};

// The rows whose scales `rows` needs, in whole units of the scheme's scales: the 128-row
// tiles a tile scheme's range touches, else the rows themselves (per-row and per-group
// scales belong to one row; a per-tensor scale to all, and is returned whole).
RowSpan scale_aligned_rows(const LowScheme& scheme, const Geometry& g, RowSpan rows);
// Index of the first scale of row `row` (a row scale_aligned_rows may return) in the
// tensor's scales (0 for a per-tensor scheme).
uint64_t first_scale_of_row(const LowScheme& scheme, const Geometry& g, uint64_t row);

}  // namespace qstore
