#include "scheme_int8.hpp"

#include <cmath>
#include <vector>

#include "finite_absmax.hpp"
#include "float_env.hpp"
#include "high_values.hpp"

namespace qstore {

namespace {
struct ContextTable {
    uint8_t of_code[256];
    ContextTable() {
        // Lower bound of |code| for each class; see the header.
        static const int kLow[kContextClasses] = {0, 1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128};
        for (int b = 0; b < 256; ++b) {
            int v = static_cast<int8_t>(b);
            int a = v < 0 ? -v : v;
            int c = 0;
            while (c + 1 < kContextClasses && a >= kLow[c + 1]) ++c;
            of_code[b] = static_cast<uint8_t>(c);
        }
    }
};
const ContextTable kContext;

void quantize_row(const float* row, uint64_t n, float scale, uint8_t* out) {
    const float inv = scale > 0.0f ? 127.0f / scale : 0.0f;
    for (uint64_t c = 0; c < n; ++c) {
        const float v = row[c] * inv;
        int q;
        if (std::isnan(v)) q = 0;
        else if (v >= 127.0f) q = 127;
        else if (v <= -127.0f) q = -127;
        else q = static_cast<int>(std::nearbyint(v));
        out[c] = static_cast<uint8_t>(static_cast<int8_t>(q));
    }
}
}  // namespace

void Int8Scheme::prepare(const uint8_t* high, DType t, const Geometry& g, float* scales) const {
    if (per_tensor_) scales[0] = finite_absmax(high, t, g.elements());
}

void Int8Scheme::quantize(const uint8_t* high, DType t, const Geometry& g, uint64_t row_begin, uint64_t row_end,
                          uint8_t* codes, float* scales) const {
    const FloatEnvironmentGuard float_env;  // the codes must not depend on the caller's FP mode
    const size_t esize = dtype_size(t);
    std::vector<float> row(g.cols);
    for (uint64_t r = row_begin; r < row_end; ++r) {
        const uint8_t* src = high + r * g.cols * esize;
        if (!per_tensor_) scales[r] = finite_absmax(src, t, g.cols);
        high_to_f32(src, t, g.cols, row.data());
        quantize_row(row.data(), g.cols, scales[per_tensor_ ? 0 : r], codes + r * g.cols);
    }
}

void Int8Scheme::predict(const uint8_t* codes, const float* scales, const Geometry& g, uint64_t first, uint64_t n,
                         float* prediction, uint8_t* context) const {
    const FloatEnvironmentGuard float_env;
    uint64_t i = 0;
    while (i < n) {
        const uint64_t r = (first + i) / g.cols;
        const uint64_t stop = std::min(n, (r + 1) * g.cols - first);
        const float step = scales[per_tensor_ ? 0 : r] / 127.0f;
        const int8_t* q = reinterpret_cast<const int8_t*>(codes + first);
        for (uint64_t k = i; k < stop; ++k) prediction[k] = static_cast<float>(q[k]) * step;  // vectorizes
        for (uint64_t k = i; k < stop; ++k) context[k] = kContext.of_code[codes[first + k]];
        i = stop;
    }
}

}  // namespace qstore
