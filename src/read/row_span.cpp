#include "read/row_span.hpp"

#include <algorithm>

namespace qstore {

namespace {

constexpr uint64_t kTileRows = 128;  // QS_LOW_FP8_E4M3_BLOCK128

bool per_tensor(SchemeId id) {
    return id == SchemeId::int8_tensor || id == SchemeId::fp8_e4m3_tensor || id == SchemeId::fp8_e5m2_tensor ||
           id == SchemeId::uint8_asym_tensor;
}

}  // namespace

RowSpan scale_aligned_rows(const LowScheme& scheme, const Geometry& g, RowSpan rows) {
    if (scheme.id() != SchemeId::fp8_e4m3_block || rows.size() == 0) return rows;
    return {rows.begin / kTileRows * kTileRows, std::min(g.rows, (rows.end + kTileRows - 1) / kTileRows * kTileRows)};
}

uint64_t first_scale_of_row(const LowScheme& scheme, const Geometry& g, uint64_t row) {
    if (per_tensor(scheme.id()) || g.rows == 0) return 0;
    if (scheme.id() == SchemeId::fp8_e4m3_block) return row / kTileRows * ((g.cols + kTileRows - 1) / kTileRows);
    return row * (scheme.scale_count(g) / g.rows);
}

}  // namespace qstore
