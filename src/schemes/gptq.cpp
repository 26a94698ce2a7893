#include "schemes/gptq.hpp"

#include <cmath>
#include <cstring>

#include "base/error.hpp"
#include "base/float_bits.hpp"

namespace qstore {

namespace {

constexpr int kMaxCode = 15;

uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);  // little-endian hosts only
    return v;
}

void store_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

}  // namespace

uint64_t GptqScheme::zero_point_bytes(const Geometry& g) const { return groups(g) * ((g.rows + 7) / 8) * 4; }

BlockScale GptqScheme::scale_of_block(const BlockStats& s) const {
    float lo = s.min, hi = s.max;  // already min(0, .) and max(0, .): the stats start at 0
    if (lo == 0.0f && hi == 0.0f) lo = -1.0f, hi = 1.0f;
    const float scale = (hi - lo) / static_cast<float>(kMaxCode);
    const float z = std::nearbyint(0.0f - lo / scale);
    // z is NaN only for a scale of 0 with lo = 0 (a group range below 15 * 2^-150).
    const uint8_t zero_point = static_cast<uint8_t>(!(z >= 1.0f) ? 1 : z >= 15.0f ? 15 : static_cast<int>(z));
    return {scale, f32_from_f16(f16_from_f32(scale)), zero_point};
}

// AutoGPTQ's pack(): round((W + zero * scale) / float16(scale)), the float32 scale in
// the product, the float16 one (widened) as the divisor. `scale` is the float32 scale
// when quantizing and the stored one in chains (its float16 rounding is itself).
void GptqScheme::quantize_segment(KernelSet, const float* x, uint64_t n, float scale, uint8_t zero_point,
                                  uint8_t* codes) const {
    const float divisor = f32_from_f16(f16_from_f32(scale));
    const float offset = static_cast<float>(zero_point) * scale;
    for (uint64_t j = 0; j < n; ++j) {
        const float v = std::nearbyint((x[j] + offset) / divisor);
        codes[j] = std::isnan(v) ? zero_point
                   : v <= 0.0f   ? 0
                   : v >= 15.0f  ? static_cast<uint8_t>(kMaxCode)
                                 : static_cast<uint8_t>(static_cast<int>(v));
    }
}

void GptqScheme::to_native(const LowTensorView& low, const Geometry& g, uint8_t* codes, uint8_t* scales,
                           uint8_t* zero_points) const {
    const uint64_t words_down = g.cols / 8, ng = groups(g), zp_words = (g.rows + 7) / 8;
    for (uint64_t r = 0; r < g.rows; ++r) {
        const uint8_t* row = low.codes + r * g.cols;
        for (uint64_t k = 0; k < words_down; ++k) {
            uint32_t word = 0;
            for (int j = 0; j < 8; ++j) {
                const uint8_t q = row[8 * k + static_cast<uint64_t>(j)];
                if (q > kMaxCode) fail(Errc::corrupt, "an INT4 code is larger than 15");
                word |= static_cast<uint32_t>(q) << (4 * j);
            }
            store_u32(codes + 4 * (k * g.rows + r), word);
        }
    }
    std::memset(zero_points, 0, zero_point_bytes(g));
    for (uint64_t r = 0; r < g.rows; ++r)
        for (uint64_t k = 0; k < ng; ++k) {
            const uint16_t h = f16_bits_of_widened(low.scales[r * ng + k]);
            std::memcpy(scales + 2 * (k * g.rows + r), &h, 2);
            const uint8_t zp = low.zero_points[r * ng + k];
            if (zp < 1 || zp > 16) fail(Errc::corrupt, "a GPTQ zero point outside 1..16 has no v1 form");
            uint8_t* word = zero_points + 4 * (k * zp_words + r / 8);
            store_u32(word, load_u32(word) | static_cast<uint32_t>(zp - 1) << (4 * (r % 8)));
        }
}

void GptqScheme::from_native(const uint8_t* codes, const uint8_t* scales, const uint8_t* zero_points,
                             const Geometry& g, const LowTensorData& low) const {
    const uint64_t words_down = g.cols / 8, ng = groups(g), zp_words = (g.rows + 7) / 8;
    for (uint64_t k = 0; k < words_down; ++k)
        for (uint64_t r = 0; r < g.rows; ++r) {
            const uint32_t word = load_u32(codes + 4 * (k * g.rows + r));
            uint8_t* out = low.codes + r * g.cols + 8 * k;
            for (int j = 0; j < 8; ++j) out[j] = static_cast<uint8_t>((word >> (4 * j)) & 15u);
        }
    for (uint64_t k = 0; k < ng; ++k)
        for (uint64_t r = 0; r < g.rows; ++r) {
            uint16_t h;
            std::memcpy(&h, scales + 2 * (k * g.rows + r), 2);
            low.scales[r * ng + k] = f32_from_f16(h);
            const uint32_t word = load_u32(zero_points + 4 * (k * zp_words + r / 8));
            low.zero_points[r * ng + k] = static_cast<uint8_t>(((word >> (4 * (r % 8))) & 15u) + 1);
        }
}

}  // namespace qstore
