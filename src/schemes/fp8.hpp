// FP8 low precision with float32 scales per row (Llama 3's row-wise FP8), per tensor,
// or per 128x128 tile (DeepSeek-V3's block-wise FP8):
//   scale = max |w| over the finite values of the row / tensor / tile, divided by
//           max_value (448 for E4M3, 57344 for E5M2), float32 division
//   code  = fp8_from_f32(w / scale)  (saturating round to nearest even, base/fp8.hpp);
//           scale 0 -> code 0
//   prediction = f32_from_fp8(code) * scale   (float32)
//   context    = the code's exponent field (E4M3: 0..15; E5M2: 0..31 halved)
#pragma once

#include "base/fp8.hpp"
#include "schemes/grid.hpp"

namespace qstore {

class Fp8Scheme final : public GridScheme {
public:
    enum class Granularity { row, tensor, tile128 };
    Fp8Scheme(SchemeId id, const char* name, const Fp8Format& format, Granularity granularity)
        : GridScheme(false), id_(id), name_(name), format_(format), granularity_(granularity) {
        init_tables();
    }
    SchemeSpec spec() const override { return {id_, 0}; }
    std::string name() const override { return name_; }
    DType code_dtype() const override { return format_.e4m3 ? DType::f8_e4m3 : DType::f8_e5m2; }
    // Sign-magnitude to an ordered key: negative codes reversed below the positive ones.
    uint8_t code_key(uint8_t code) const override {
        return (code & 0x80) ? static_cast<uint8_t>(0x7F - (code & 0x7F)) : static_cast<uint8_t>(code | 0x80);
    }
    uint8_t code_from_key(uint8_t key) const override {
        return (key & 0x80) ? static_cast<uint8_t>(key & 0x7F) : static_cast<uint8_t>(0x80 | (0x7F - key));
    }

private:
    ScaleGrid grid(const Geometry& g) const override {
        switch (granularity_) {
            case Granularity::row: return {1, g.cols};
            case Granularity::tensor: return {g.rows, g.cols};
            default: return {128, 128};
        }
    }
    BlockScale scale_of_block(const BlockStats& s) const override {
        const float scale = s.absmax / format_.max_value;
        return {scale, scale, 0};
    }
    void quantize_segment(KernelSet, const float* x, uint64_t n, float scale, uint8_t, uint8_t* codes) const override {
        for (uint64_t c = 0; c < n; ++c) codes[c] = scale > 0.0f ? fp8_from_f32(x[c] / scale, format_) : 0;
    }
    float value_of_code(uint8_t code) const override { return f32_from_fp8(code, format_); }
    uint8_t context_of_code(uint8_t code) const override {
        const int exponent = (code & 0x7F) >> format_.mantissa_bits;
        return static_cast<uint8_t>(format_.e4m3 ? exponent : exponent / 2);
    }

    SchemeId id_;
    const char* name_;
    Fp8Format format_;
    Granularity granularity_;
};

}  // namespace qstore
