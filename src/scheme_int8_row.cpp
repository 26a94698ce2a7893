#include "scheme_int8_row.hpp"

#include <cmath>
#include <vector>

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
}  // namespace

void Int8RowScheme::quantize(const uint8_t* high, DType t, const Geometry& g, uint64_t row_begin, uint64_t row_end,
                             uint8_t* codes, float* scales) const {
    const FloatEnvironmentGuard float_env;  // the codes must not depend on the caller's FP mode
    const size_t esize = dtype_size(t);
    std::vector<float> row(g.cols);
    for (uint64_t r = row_begin; r < row_end; ++r) {
        high_to_f32(high + r * g.cols * esize, t, g.cols, row.data());
        float absmax = 0.0f;
        for (float x : row) {
            float a = std::fabs(x);
            if (std::isfinite(a) && a > absmax) absmax = a;
        }
        scales[r] = absmax;
        const float inv = absmax > 0.0f ? 127.0f / absmax : 0.0f;
        uint8_t* out = codes + r * g.cols;
        for (uint64_t c = 0; c < g.cols; ++c) {
            float v = row[c] * inv;
            int q;
            if (std::isnan(v)) q = 0;
            else if (v >= 127.0f) q = 127;
            else if (v <= -127.0f) q = -127;
            else q = static_cast<int>(std::nearbyint(v));
            out[c] = static_cast<uint8_t>(static_cast<int8_t>(q));
        }
    }
}

void Int8RowScheme::predict(const uint8_t* codes, const float* scales, const Geometry& g, uint64_t first, uint64_t n,
                            float* prediction, uint8_t* context) const {
    const FloatEnvironmentGuard float_env;
    uint64_t i = 0;
    while (i < n) {
        const uint64_t e = first + i;
        const uint64_t r = e / g.cols;
        const uint64_t row_end = (r + 1) * g.cols;
        const uint64_t stop = row_end - first < n ? row_end - first : n;
        const float step = scales[r] / 127.0f;
        const int8_t* q = reinterpret_cast<const int8_t*>(codes + first);
        for (uint64_t k = i; k < stop; ++k) prediction[k] = static_cast<float>(q[k]) * step;  // vectorizes
        for (uint64_t k = i; k < stop; ++k) context[k] = kContext.of_code[codes[first + k]];
        i = stop;
    }
}

}  // namespace qstore
