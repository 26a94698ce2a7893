// OCP 8-bit floating point (OFP8) E4M3 and E5M2, with saturating round-to-nearest-even
// conversion from float32 (the "satfinite" mode deployed FP8 weights use):
//   E4M3: bias 7, max finite 448 (0x7E), NaN 0x7F/0xFF, no infinities
//   E5M2: bias 15, max finite 57344 (0x7B), +-Inf 0x7C/0xFC, NaN 0x7D-0x7F
// Finite |x| above the maximum and +-Inf saturate to +-max; NaN -> the positive or
// negative NaN code 0x7F / 0xFF. Exact float32 scaling by powers of two only.
#pragma once

#include <cmath>
#include <cstdint>

namespace qstore {

struct Fp8Format {
    int mantissa_bits;
    int bias;
    float max_value;
    uint8_t max_code;
    bool e4m3;  // E4M3 has no Inf and one NaN pattern per sign
};
constexpr Fp8Format kE4M3{3, 7, 448.0f, 0x7E, true};
constexpr Fp8Format kE5M2{2, 15, 57344.0f, 0x7B, false};

inline uint8_t fp8_from_f32(float x, const Fp8Format& f) {
    const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
    if (std::isnan(x)) return sign | 0x7F;
    const float a = std::fabs(x);
    if (a >= f.max_value) return sign | f.max_code;
    const int M = f.mantissa_bits;
    const float min_normal = std::ldexp(1.0f, 1 - f.bias);
    if (a < min_normal) {  // subnormal: a multiple of 2^(1-bias-M); 2^M carries into exponent 1
        const int q = static_cast<int>(std::nearbyint(std::ldexp(a, f.bias - 1 + M)));
        return sign | static_cast<uint8_t>(q);
    }
    int e;
    std::frexp(a, &e);  // a = fr * 2^e, fr in [0.5, 1): unbiased exponent e - 1
    int exponent = e - 1;
    int mant = static_cast<int>(std::nearbyint((std::ldexp(a, -exponent) - 1.0f) * static_cast<float>(1 << M)));
    if (mant == (1 << M)) {
        mant = 0;
        ++exponent;
    }
    const int code = ((exponent + f.bias) << M) | mant;
    return sign | static_cast<uint8_t>(code > f.max_code ? f.max_code : code);
}

inline float f32_from_fp8(uint8_t c, const Fp8Format& f) {
    const int M = f.mantissa_bits;
    const int e = (c & 0x7F) >> M;
    const int m = c & ((1 << M) - 1);
    const float sign = (c & 0x80) ? -1.0f : 1.0f;
    if (f.e4m3 && (c & 0x7F) == 0x7F) return std::copysign(NAN, sign);
    if (!f.e4m3 && e == 31) return m == 0 ? sign * INFINITY : std::copysign(NAN, sign);
    if (e == 0) return sign * std::ldexp(static_cast<float>(m), 1 - f.bias - M);
    return sign * std::ldexp(static_cast<float>((1 << M) + m), e - f.bias - M);
}

}  // namespace qstore
