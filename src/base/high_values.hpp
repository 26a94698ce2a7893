// Reading high-precision elements (F32/F16/BF16, possibly unaligned) as float32.
#pragma once

#include <cstdint>
#include <cstring>

#include "base/cpu.hpp"
#include "base/dtype.hpp"
#include "base/float_bits.hpp"

namespace qstore {

// Converts n elements starting at `src` (dtype t) to float32. Always inlined: kernels
// compiled for AVX2/AVX-512 (schemes/grid.cpp) get it vectorized for their target.
QSTORE_ALWAYS_INLINE void high_to_f32(const uint8_t* src, DType t, uint64_t n, float* dst) {
    switch (t) {
        case DType::f32: std::memcpy(dst, src, n * 4); break;
        case DType::bf16:
            for (uint64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, src + 2 * i, 2);
                dst[i] = f32_from_bf16(h);
            }
            break;
        case DType::f16:
            for (uint64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, src + 2 * i, 2);
                dst[i] = f32_from_f16(h);
            }
            break;
        default: break;
    }
}

}  // namespace qstore
