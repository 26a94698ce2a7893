#include "schemes/ggml.hpp"

#include <cmath>
#include <cstring>

#include "base/error.hpp"
#include "base/float_bits.hpp"

namespace qstore {

BlockScale GgmlScheme::scale_of_block(const BlockStats& s) const {
    const float d = q4_ ? s.signed_absmax / -8.0f : s.absmax / 127.0f;
    return {d, f32_from_f16(f16_from_f32(d)), 0};
}

void GgmlScheme::quantize_segment(KernelSet, const float* x, uint64_t n, float d, uint8_t, uint8_t* codes) const {
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (uint64_t j = 0; j < n; ++j) {
        const float v = x[j] * id;
        if (q4_) {
            const float t = v + 8.5f;  // ggml: MIN(15, (int8_t)(x*id + 8.5f)); in range for its own d
            codes[j] = std::isnan(t) ? 8 : t <= 0.0f ? 0 : t >= 15.0f ? 15 : static_cast<uint8_t>(static_cast<int>(t));
        } else {
            // roundf: ties away from zero. In range for its own d; clamped for foreign scales.
            const float r = std::isnan(v) ? 0.0f : std::roundf(std::fmax(-127.0f, std::fmin(127.0f, v)));
            codes[j] = static_cast<uint8_t>(static_cast<int8_t>(r));
        }
    }
}

void GgmlScheme::to_native(const LowTensorView& low, const Geometry& g, uint8_t* codes, uint8_t*, uint8_t*) const {
    const uint64_t blocks = g.elements() / 32;
    for (uint64_t b = 0; b < blocks; ++b) {
        uint8_t* out = codes + b * block_bytes();
        const uint16_t d = f16_bits_of_widened(low.scales[b]);
        std::memcpy(out, &d, 2);  // little-endian hosts only
        const uint8_t* q = low.codes + b * 32;
        if (!q4_) {
            std::memcpy(out + 2, q, 32);
            continue;
        }
        for (int j = 0; j < 16; ++j) {
            if ((q[j] | q[j + 16]) > 15) fail(Errc::corrupt, "a Q4_0 code is larger than 15");
            out[2 + j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
        }
    }
}

void GgmlScheme::from_native(const uint8_t* codes, const uint8_t*, const uint8_t*, const Geometry& g,
                             const LowTensorData& low) const {
    const uint64_t blocks = g.elements() / 32;
    for (uint64_t b = 0; b < blocks; ++b) {
        const uint8_t* in = codes + b * block_bytes();
        uint16_t d;
        std::memcpy(&d, in, 2);
        low.scales[b] = f32_from_f16(d);
        uint8_t* q = low.codes + b * 32;
        if (!q4_) {
            std::memcpy(q, in + 2, 32);
            continue;
        }
        for (int j = 0; j < 16; ++j) {
            q[j] = in[2 + j] & 0x0F;
            q[j + 16] = in[2 + j] >> 4;
        }
    }
}

}  // namespace qstore
