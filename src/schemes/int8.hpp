// INT8 symmetric schemes. Codes are int8 (two's complement), -127..127 from the quantizer.
//   int8-row / int8-tensor (bitsandbytes' LLM.int8() layout: the scale is the absmax):
//     scale = max |w| over the row's (or tensor's) finite values (float32)
//     code  = clamp(round_half_even(w * (127 / scale)), -127, 127); NaN -> 0; scale 0 -> 0
//     prediction = float(code) * (scale / 127)
//   int8-group:G (compressed-tensors style: the scale is the multiplier):
//     scale = absmax of a group of G consecutive elements of a row / 127 (float32)
//     code  = clamp(round_half_even(w / scale), -127, 127); NaN -> 0; scale 0 -> 0
//     prediction = float(code) * scale
//   context = bucket of |code| (magnitude_class)
#pragma once

#include "schemes/grid.hpp"

namespace qstore {

class Int8Scheme final : public GridScheme {
public:
    enum class Granularity { row, tensor, group };
    Int8Scheme(Granularity granularity, uint32_t group);
    SchemeSpec spec() const override;
    std::string name() const override;
    DType code_dtype() const override { return DType::i8; }
    uint8_t code_key(uint8_t code) const override { return code ^ 0x80; }
    uint8_t code_from_key(uint8_t key) const override { return key ^ 0x80; }

private:
    ScaleGrid grid(const Geometry& g) const override;
    BlockScale scale_of_block(const BlockStats& s) const override;
    void quantize_segment(KernelSet kernels, const float* x, uint64_t n, float scale, uint8_t zero_point,
                          uint8_t* codes) const override;
    float value_of_code(uint8_t code) const override { return static_cast<float>(static_cast<int8_t>(code)); }
    float step_of_scale(float scale) const override { return granularity_ == Granularity::group ? scale : scale / 127.0f; }

    Granularity granularity_;
    uint32_t group_;
};

}  // namespace qstore
