// The default native layout of a low-precision scheme: the internal bytes themselves,
// scales in the scheme's scale dtype.
#include "schemes/scheme.hpp"

#include <cstring>

#include "base/float_bits.hpp"

namespace qstore {

void LowScheme::to_native(const LowTensorView& low, const Geometry& g, uint8_t* codes, uint8_t* scales,
                          uint8_t* zero_points) const {
    std::memcpy(codes, low.codes, g.elements());
    const uint64_t n = scale_count(g);
    if (scale_dtype() == DType::f32) {
        std::memcpy(scales, low.scales, n * 4);
    } else {
        for (uint64_t k = 0; k < n; ++k) {
            const uint16_t h = f16_bits_of_widened(low.scales[k]);
            std::memcpy(scales + 2 * k, &h, 2);
        }
    }
    if (has_zero_points()) std::memcpy(zero_points, low.zero_points, n);
}

void LowScheme::from_native(const uint8_t* codes, const uint8_t* scales, const uint8_t* zero_points,
                            const Geometry& g, const LowTensorData& low) const {
    std::memcpy(low.codes, codes, g.elements());
    const uint64_t n = scale_count(g);
    if (scale_dtype() == DType::f32) {
        std::memcpy(low.scales, scales, n * 4);
    } else {
        for (uint64_t k = 0; k < n; ++k) {
            uint16_t h;
            std::memcpy(&h, scales + 2 * k, 2);
            low.scales[k] = f32_from_f16(h);
        }
    }
    if (has_zero_points()) std::memcpy(low.zero_points, zero_points, n);
}

}  // namespace qstore
