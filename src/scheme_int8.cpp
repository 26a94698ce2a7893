#include "scheme_int8.hpp"

#include <cmath>

namespace qstore {

Int8Scheme::Int8Scheme(Granularity granularity, uint32_t group)
    : GridScheme(false), granularity_(granularity), group_(group) {
    init_tables();
}

SchemeSpec Int8Scheme::spec() const {
    switch (granularity_) {
        case Granularity::row: return {SchemeId::int8_row, 0};
        case Granularity::tensor: return {SchemeId::int8_tensor, 0};
        default: return {SchemeId::int8_group, group_};
    }
}

std::string Int8Scheme::name() const {
    switch (granularity_) {
        case Granularity::row: return "int8-row";
        case Granularity::tensor: return "int8-tensor";
        default: return "int8-group:" + std::to_string(group_);
    }
}

ScaleGrid Int8Scheme::grid(const Geometry& g) const {
    switch (granularity_) {
        case Granularity::row: return {1, g.cols};
        case Granularity::tensor: return {g.rows, g.cols};
        default: return {1, group_};
    }
}

BlockScale Int8Scheme::scale_of_block(const BlockStats& s) const {
    const float scale = granularity_ == Granularity::group ? s.absmax / 127.0f : s.absmax;
    return {scale, scale, 0};
}

void Int8Scheme::quantize_segment(const float* x, uint64_t n, float scale, uint8_t, uint8_t* codes) const {
    const bool multiplier = granularity_ == Granularity::group;
    const float inv = scale > 0.0f ? 127.0f / scale : 0.0f;
    for (uint64_t c = 0; c < n; ++c) {
        const float v = multiplier ? (scale > 0.0f ? x[c] / scale : 0.0f) : x[c] * inv;
        int q;
        if (std::isnan(v)) q = 0;
        else if (v >= 127.0f) q = 127;
        else if (v <= -127.0f) q = -127;
        else q = static_cast<int>(std::nearbyint(v));
        codes[c] = static_cast<uint8_t>(static_cast<int8_t>(q));
    }
}

}  // namespace qstore
