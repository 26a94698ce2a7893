// FP8 low precision with float32 scales (per row, as in Llama 3's row-wise FP8, or per
// tensor), in the layout vLLM / llm-compressor write: weight codes F8 + weight_scale:
//   scale = max |w| over the finite values of the row (tensor) / max_value  (448 for
//           E4M3, 57344 for E5M2), float32 division
//   code  = fp8_from_f32(w / scale)  (saturating round to nearest even, fp8.hpp);
//           scale 0 -> code 0
//   prediction = f32_from_fp8(code) * scale   (float32)
//   context    = the code's exponent field (E4M3: 0..15; E5M2: 0..31 halved)
#pragma once

#include "fp8.hpp"
#include "low_scheme.hpp"

namespace qstore {

class Fp8Scheme final : public LowScheme {
public:
    Fp8Scheme(SchemeId id, const char* name, const Fp8Format& format, bool per_tensor)
        : id_(id), name_(name), format_(format), per_tensor_(per_tensor) {}
    SchemeId id() const override { return id_; }
    const char* name() const override { return name_; }
    DType code_dtype() const override { return format_.e4m3 ? DType::f8_e4m3 : DType::f8_e5m2; }
    uint64_t code_bytes(const Geometry& g) const override { return g.elements(); }
    uint64_t scale_count(const Geometry& g) const override { return per_tensor_ ? 1 : g.rows; }
    void prepare(const uint8_t* high, DType t, const Geometry& g, float* scales) const override;
    void quantize(const uint8_t* high, DType t, const Geometry& g, uint64_t row_begin, uint64_t row_end,
                  uint8_t* codes, float* scales) const override;
    void predict(const uint8_t* codes, const float* scales, const Geometry& g, uint64_t first, uint64_t n,
                 float* prediction, uint8_t* context) const override;

private:
    SchemeId id_;
    const char* name_;
    Fp8Format format_;
    bool per_tensor_;
};

}  // namespace qstore
