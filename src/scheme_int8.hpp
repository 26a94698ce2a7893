// INT8 symmetric, one scale per row (LLM.int8() / bitsandbytes layout) or per tensor:
//   scale = max |w| over the row's (or tensor's) finite values (float32)
//   code  = clamp(round_half_even(w * (127 / scale)), -127, 127); NaN -> 0; scale 0 -> 0
//   prediction = float(code) * (scale / 127)            (all float32, no FMA)
//   context    = bucket of |code|: 0,1,2,3,4,5,6-7,8-11,12-15,16-23,24-31,32-47,48-63,
//                64-95,96-127,128 -> classes 0..15 (finer where the residual's spread changes fastest)
#pragma once

#include "scheme_absmax.hpp"

namespace qstore {

class Int8Scheme final : public AbsmaxScheme {
public:
    explicit Int8Scheme(bool per_tensor) : AbsmaxScheme(per_tensor) { init_tables(); }
    SchemeId id() const override { return per_tensor_ ? SchemeId::int8_tensor : SchemeId::int8_row; }
    const char* name() const override { return per_tensor_ ? "int8-tensor" : "int8-row"; }
    DType code_dtype() const override { return DType::i8; }

private:
    float scale_of_absmax(float absmax) const override { return absmax; }
    void quantize_row(const float* row, uint64_t n, float scale, uint8_t* codes) const override;
    float value_of_code(uint8_t code) const override { return static_cast<float>(static_cast<int8_t>(code)); }
    float step_of_scale(float scale) const override { return scale / 127.0f; }
    uint8_t context_of_code(uint8_t code) const override;
};

}  // namespace qstore
