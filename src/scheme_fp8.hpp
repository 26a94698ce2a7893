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
#include "scheme_absmax.hpp"

namespace qstore {

class Fp8Scheme final : public AbsmaxScheme {
public:
    Fp8Scheme(SchemeId id, const char* name, const Fp8Format& format, bool per_tensor)
        : AbsmaxScheme(per_tensor), id_(id), name_(name), format_(format) {
        init_tables();
    }
    SchemeId id() const override { return id_; }
    const char* name() const override { return name_; }
    DType code_dtype() const override { return format_.e4m3 ? DType::f8_e4m3 : DType::f8_e5m2; }

private:
    float scale_of_absmax(float absmax) const override { return absmax / format_.max_value; }
    void quantize_row(const float* row, uint64_t n, float scale, uint8_t* codes) const override {
        for (uint64_t c = 0; c < n; ++c) codes[c] = scale > 0.0f ? fp8_from_f32(row[c] / scale, format_) : 0;
    }
    float value_of_code(uint8_t code) const override { return f32_from_fp8(code, format_); }
    float step_of_scale(float scale) const override { return scale; }
    uint8_t context_of_code(uint8_t code) const override {
        const int exponent = (code & 0x7F) >> format_.mantissa_bits;
        return static_cast<uint8_t>(format_.e4m3 ? exponent : exponent / 2);
    }

    SchemeId id_;
    const char* name_;
    Fp8Format format_;
};

}  // namespace qstore
