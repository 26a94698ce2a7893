#include "schemes/asym.hpp"

#include <cmath>
#include <cstring>

#include "base/error.hpp"
#include "base/float_bits.hpp"

namespace qstore {

SchemeSpec AsymScheme::spec() const {
    return int4() ? SchemeSpec{SchemeId::int4_asym_group, group_} : SchemeSpec{SchemeId::uint8_asym_tensor, 0};
}

std::string AsymScheme::name() const {
    return int4() ? "int4-asym-group:" + std::to_string(group_) : "uint8-asym-tensor";
}

BlockScale AsymScheme::scale_of_block(const BlockStats& s) const {
    const float lo = s.min, hi = s.max;  // already min(0, .) and max(0, .): the stats start at 0
    float scale = (hi - lo) / static_cast<float>(qmax());
    if (!(scale > 0.0f) || !std::isfinite(scale)) return {1.0f, 1.0f, 0};
    const float z = std::nearbyint(0.0f - lo / scale);
    const uint8_t zero_point = static_cast<uint8_t>(z <= 0.0f ? 0 : z >= static_cast<float>(qmax()) ? qmax() : static_cast<int>(z));
    const float stored = int4() ? f32_from_f16(f16_from_f32(scale)) : scale;
    return {scale, stored, zero_point};
}

void AsymScheme::quantize_segment(KernelSet, const float* x, uint64_t n, float scale, uint8_t zero_point,
                                  uint8_t* codes) const {
    const float top = static_cast<float>(qmax());
    for (uint64_t j = 0; j < n; ++j) {
        const float v = std::nearbyint(x[j] / scale) + static_cast<float>(zero_point);
        codes[j] = std::isnan(v) ? zero_point : v <= 0.0f ? 0 : v >= top ? static_cast<uint8_t>(qmax())
                                                                    : static_cast<uint8_t>(static_cast<int>(v));
    }
}

void AsymScheme::to_native(const LowTensorView& low, const Geometry& g, uint8_t* codes, uint8_t* scales,
                           uint8_t* zero_points) const {
    if (!int4()) return LowScheme::to_native(low, g, codes, scales, zero_points);
    const uint64_t words = g.elements() / 8;
    for (uint64_t w = 0; w < words; ++w) {
        uint32_t word = 0;
        for (int k = 0; k < 8; ++k) {
            const uint8_t q = low.codes[w * 8 + k];
            if (q > 15) fail(Errc::corrupt, "an INT4 code is larger than 15");
            word |= static_cast<uint32_t>(q) << (4 * k);
        }
        std::memcpy(codes + 4 * w, &word, 4);  // little-endian hosts only
    }
    const uint64_t n = scale_count(g);
    for (uint64_t k = 0; k < n; ++k) {
        const uint16_t h = f16_bits_of_widened(low.scales[k]);
        std::memcpy(scales + 2 * k, &h, 2);
    }
    std::memcpy(zero_points, low.zero_points, n);
}

void AsymScheme::from_native(const uint8_t* codes, const uint8_t* scales, const uint8_t* zero_points,
                             const Geometry& g, const LowTensorData& low) const {
    if (!int4()) return LowScheme::from_native(codes, scales, zero_points, g, low);
    const uint64_t words = g.elements() / 8;
    for (uint64_t w = 0; w < words; ++w) {
        uint32_t word;
        std::memcpy(&word, codes + 4 * w, 4);
        for (int k = 0; k < 8; ++k) low.codes[w * 8 + k] = static_cast<uint8_t>((word >> (4 * k)) & 15u);
    }
    const uint64_t n = scale_count(g);
    for (uint64_t k = 0; k < n; ++k) {
        uint16_t h;
        std::memcpy(&h, scales + 2 * k, 2);
        low.scales[k] = f32_from_f16(h);
    }
    std::memcpy(low.zero_points, zero_points, n);
}

}  // namespace qstore
