// max |x| over the finite values of n high-precision elements (0 if none).
#pragma once

#include <cmath>
#include <vector>

#include "base/high_values.hpp"

namespace qstore {

inline float finite_absmax(const uint8_t* high, DType t, uint64_t n) {
    float absmax = 0.0f;
    std::vector<float> chunk(4096);
    const size_t esize = dtype_size(t);
    for (uint64_t i = 0; i < n; i += chunk.size()) {
        const uint64_t m = std::min<uint64_t>(chunk.size(), n - i);
        high_to_f32(high + i * esize, t, m, chunk.data());
        for (uint64_t k = 0; k < m; ++k) {
            const float a = std::fabs(chunk[k]);
            if (std::isfinite(a) && a > absmax) absmax = a;
        }
    }
    return absmax;
}

}  // namespace qstore
