#include "scheme_fp8.hpp"

#include <vector>

#include "finite_absmax.hpp"
#include "float_env.hpp"
#include "high_values.hpp"

namespace qstore {

void Fp8Scheme::prepare(const uint8_t* high, DType t, const Geometry& g, float* scales) const {
    const FloatEnvironmentGuard float_env;
    if (per_tensor_) scales[0] = finite_absmax(high, t, g.elements()) / format_.max_value;
}

void Fp8Scheme::quantize(const uint8_t* high, DType t, const Geometry& g, uint64_t row_begin, uint64_t row_end,
                         uint8_t* codes, float* scales) const {
    const FloatEnvironmentGuard float_env;
    const size_t esize = dtype_size(t);
    std::vector<float> row(g.cols);
    for (uint64_t r = row_begin; r < row_end; ++r) {
        const uint8_t* src = high + r * g.cols * esize;
        if (!per_tensor_) scales[r] = finite_absmax(src, t, g.cols) / format_.max_value;
        const float scale = scales[per_tensor_ ? 0 : r];
        high_to_f32(src, t, g.cols, row.data());
        uint8_t* out = codes + r * g.cols;
        for (uint64_t c = 0; c < g.cols; ++c) out[c] = scale > 0.0f ? fp8_from_f32(row[c] / scale, format_) : 0;
    }
}

void Fp8Scheme::predict(const uint8_t* codes, const float* scales, const Geometry& g, uint64_t first, uint64_t n,
                        float* prediction, uint8_t* context) const {
    const FloatEnvironmentGuard float_env;
    float value[256];
    uint8_t ctx[256];
    for (int c = 0; c < 256; ++c) {
        value[c] = f32_from_fp8(static_cast<uint8_t>(c), format_);
        const int exponent = (c & 0x7F) >> format_.mantissa_bits;
        ctx[c] = static_cast<uint8_t>(format_.e4m3 ? exponent : exponent / 2);
    }
    uint64_t i = 0;
    while (i < n) {
        const uint64_t r = (first + i) / g.cols;
        const uint64_t stop = std::min(n, (r + 1) * g.cols - first);
        const float scale = scales[per_tensor_ ? 0 : r];
        for (uint64_t k = i; k < stop; ++k) {
            const uint8_t c = codes[first + k];
            prediction[k] = value[c] * scale;
            context[k] = ctx[c];
        }
        i = stop;
    }
}

}  // namespace qstore
