// INT8 symmetric, one scale per row (LLM.int8() / bitsandbytes layout) or per tensor:
//   scale = max |w| over the row's (or tensor's) finite values (float32)
//   code  = clamp(round_half_even(w * (127 / scale)), -127, 127); NaN -> 0; scale 0 -> 0
//   prediction = float(code) * (scale / 127)            (all float32, no FMA)
//   context    = bucket of |code|: 0,1,2,3,4,5,6-7,8-11,12-15,16-23,24-31,32-47,48-63,
//                64-95,96-127,128 -> classes 0..15 (finer where the residual's spread changes fastest)
#pragma once

#include "low_scheme.hpp"

namespace qstore {

class Int8Scheme final : public LowScheme {
public:
    explicit Int8Scheme(bool per_tensor) : per_tensor_(per_tensor) {}
    SchemeId id() const override { return per_tensor_ ? SchemeId::int8_tensor : SchemeId::int8_row; }
    const char* name() const override { return per_tensor_ ? "int8-tensor" : "int8-row"; }
    DType code_dtype() const override { return DType::i8; }
    uint64_t code_bytes(const Geometry& g) const override { return g.elements(); }
    uint64_t scale_count(const Geometry& g) const override { return per_tensor_ ? 1 : g.rows; }
    void prepare(const uint8_t* high, DType t, const Geometry& g, float* scales) const override;
    void quantize(const uint8_t* high, DType t, const Geometry& g, uint64_t row_begin, uint64_t row_end,
                  uint8_t* codes, float* scales) const override;
    void predict(const uint8_t* codes, const float* scales, const Geometry& g, uint64_t first, uint64_t n,
                 float* prediction, uint8_t* context) const override;

private:
    bool per_tensor_;
};

}  // namespace qstore
