#include "scheme_absmax.hpp"

#include <cmath>
#include <vector>

#include "finite_absmax.hpp"
#include "float_bits.hpp"
#include "float_env.hpp"
#include "high_values.hpp"

namespace qstore {

void AbsmaxScheme::init_tables() {
    values_finite_ = true;
    values_are_int8_ = true;
    for (int c = 0; c < 256; ++c) {
        value_[c] = value_of_code(static_cast<uint8_t>(c));
        context_[c] = context_of_code(static_cast<uint8_t>(c));
        values_finite_ = values_finite_ && std::isfinite(value_[c]);
        values_are_int8_ = values_are_int8_ && value_[c] == static_cast<float>(static_cast<int8_t>(c));
    }
}

void AbsmaxScheme::prepare(const uint8_t* high, DType t, const Geometry& g, const LowTensorData& low) const {
    const FloatEnvironmentGuard float_env;
    if (per_tensor_) low.scales[0] = scale_of_absmax(finite_absmax(high, t, g.elements()));
}

void AbsmaxScheme::quantize(const uint8_t* high, DType t, const Geometry& g, uint64_t row_begin, uint64_t row_end,
                            const LowTensorData& low) const {
    uint8_t* const codes = low.codes;
    float* const scales = low.scales;
    const FloatEnvironmentGuard float_env;  // the codes must not depend on the caller's FP mode
    const size_t esize = dtype_size(t);
    std::vector<float> row(g.cols);
    for (uint64_t r = row_begin; r < row_end; ++r) {
        high_to_f32(high + r * g.cols * esize, t, g.cols, row.data());
        if (!per_tensor_) {
            float absmax = 0.0f;
            for (float x : row) {
                const float a = std::fabs(x);
                if (std::isfinite(a) && a > absmax) absmax = a;
            }
            scales[r] = scale_of_absmax(absmax);
        }
        quantize_row(row.data(), g.cols, scales[per_tensor_ ? 0 : r], codes + r * g.cols);
    }
}

void AbsmaxScheme::predict(const LowTensorView& low, const Geometry& g, uint64_t first, uint64_t n,
                           float* prediction, uint8_t* context) const {
    const uint8_t* const codes = low.codes;
    const float* const scales = low.scales;
    const FloatEnvironmentGuard float_env;
    uint64_t i = 0;
    while (i < n) {
        const uint64_t r = (first + i) / g.cols;
        const uint64_t stop = std::min(n, (r + 1) * g.cols - first);
        const float step = step_of_scale(scales[per_tensor_ ? 0 : r]);
        const uint8_t* c = codes + first;
        if (values_are_int8_) {  // the same products as the table, as a vectorizable conversion
            const int8_t* q = reinterpret_cast<const int8_t*>(c);
            for (uint64_t k = i; k < stop; ++k) prediction[k] = static_cast<float>(q[k]) * step;
        } else {
            for (uint64_t k = i; k < stop; ++k) prediction[k] = value_[c[k]] * step;
        }
        // NaN results (a NaN or infinite scale, 0 x Inf, NaN codes) get one fixed pattern:
        // which NaN IEEE arithmetic returns differs between CPUs, the prediction must not.
        // Finite values times a finite step are never NaN, so that case skips the pass.
        if (!values_finite_ || !std::isfinite(step)) {
            for (uint64_t k = i; k < stop; ++k) {
                const uint32_t bits = f32_bits(prediction[k]);
                prediction[k] = f32_from_bits((bits & 0x7FFFFFFFu) > 0x7F800000u ? kCanonicalNaN : bits);
            }
        }
        for (uint64_t k = i; k < stop; ++k) context[k] = context_[codes[first + k]];
        i = stop;
    }
}

}  // namespace qstore
