// INT8 symmetric schemes. Codes are int8 (two's complement).
//   int8-row / int8-tensor (bitsandbytes' LLM.int8() layout: the scale is the absmax):
//     scale = max |w| over the row's (or tensor's) finite values (float32)
//     code  = clamp(round_half_even(w * (127 / scale)), -127, 127); NaN -> 0; scale 0 -> 0
//     When 127 / scale overflows float32 (scale below about 3.7e-37: subnormal and the
//     smallest normal absmaxes) the product is formed as (w * 2^64) * (127 / (scale * 2^64)),
//     the same rounding without the overflow, so codes stay the nearest integers (format
//     1.5; the rule before, every non-zero w -> +-127, decodes chains of older files).
//     prediction = float(code) * (scale / 127)
//   int8-group:G (compressed-tensors style: the scale is the multiplier):
//     scale = absmax of a group of G consecutive elements of a row / 127 (float32)
//     code  = clamp(round_half_even(w / scale), -127, 127); NaN -> 0; scale 0 -> 0
//     prediction = float(code) * scale
//   int8-row-ct (compressed-tensors' symmetric INT8 per output channel):
//     scale = max(absmax of the row / 127.5, FLT_EPSILON) (float32)
//     code  = clamp(round_half_even(w / scale), -128, 127); NaN -> 0
//     prediction = float(code) * scale
//   context = bucket of |code| (magnitude_class)
#pragma once

#include "schemes/grid.hpp"

namespace qstore {

class Int8Scheme final : public GridScheme {
public:
    enum class Granularity { row, tensor, group, row_ct };
    // tiny_scale_nearest: the format 1.5 rule for scales whose 127 / scale overflows
    // (above); false gives the rule of files before 1.5 (chains of such files).
    Int8Scheme(Granularity granularity, uint32_t group, bool tiny_scale_nearest = true);
    SchemeSpec spec() const override;
    std::string name() const override;
    DType code_dtype() const override { return DType::i8; }
    uint8_t code_key(uint8_t code) const override { return code ^ 0x80; }
    uint8_t code_from_key(uint8_t key) const override { return key ^ 0x80; }
    // Whether `scale` is one whose codes the two rules above give differently
    // (int8-row and int8-tensor only): a positive scale with 127 / scale infinite.
    bool tiny_scale(float scale) const;

private:
    ScaleGrid grid(const Geometry& g) const override;
    BlockScale scale_of_block(const BlockStats& s) const override;
    void quantize_segment(KernelSet kernels, const float* x, uint64_t n, float scale, uint8_t zero_point,
                          uint8_t* codes) const override;
    float value_of_code(uint8_t code) const override { return static_cast<float>(static_cast<int8_t>(code)); }
    float step_of_scale(float scale) const override { return absmax_scale() ? scale / 127.0f : scale; }
    bool absmax_scale() const { return granularity_ == Granularity::row || granularity_ == Granularity::tensor; }

    Granularity granularity_;
    uint32_t group_;
    bool tiny_scale_nearest_;
};

}  // namespace qstore
