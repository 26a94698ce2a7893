// Bit-level helpers for the high-precision float types: conversions from float32
// with round-to-nearest-even (used to turn a prediction into the high dtype) and the
// order-preserving "key" map used to express residuals as integer distances.
// Everything here is integer or plain IEEE float32 arithmetic, so encoder and decoder
// compute identical predictions on every conforming platform (docs/FORMAT.md §7.2-7.3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "base/simd.hpp"


namespace qstore {

inline uint32_t f32_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
inline float f32_from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// float32 -> bfloat16, round to nearest even; NaN -> quiet NaN keeping sign and top payload.
inline uint16_t bf16_from_f32(float f) {
    const uint32_t u = f32_bits(f);
    const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
    const uint32_t quiet_nan = (u >> 16) | 0x0040u;
    const uint32_t is_nan = -static_cast<uint32_t>((u & 0x7FFFFFFFu) > 0x7F800000u);
    return static_cast<uint16_t>((quiet_nan & is_nan) | (rounded & ~is_nan));  // a mask select: no branch
}
inline float f32_from_bf16(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

// float32 -> IEEE binary16, round to nearest even; overflow -> Inf; NaN -> 0x7E00 with sign.
// All three cases are computed and one is selected, so loops over it vectorize.
inline uint16_t f16_from_f32(float f) {
    const uint32_t all = f32_bits(f);
    const uint32_t sign = (all >> 16) & 0x8000u;
    const uint32_t u = all & 0x7FFFFFFFu;
    // |f| >= 65520 rounds to Inf (or is Inf/NaN).
    const uint32_t overflow = 0x7C00u | (0x0200u & -static_cast<uint32_t>(u > 0x7F800000u));
    // Below 2^-14, a half subnormal or zero: adding 0.5 (2^-1) aligns the value so the
    // float32 adder's own round-to-nearest-even rounds it to a multiple of 2^-24.
    const uint32_t subnormal = f32_bits(f32_from_bits(u) + 0.5f) - 0x3F000000u;
    // Normal: rebias the exponent (127 -> 15), round the 13 dropped bits to even; a
    // carry into exponent 31 gives Inf.
    const uint32_t normal = (u + 0xC8000FFFu + ((u >> 13) & 1u)) >> 13;  // 0xC8000000 == (15-127) << 23
    // Select with masks rather than ?: so the compiler keeps it branch-free.
    const uint32_t is_overflow = -static_cast<uint32_t>(u >= 0x47800000u);
    const uint32_t is_subnormal = -static_cast<uint32_t>(u < 0x38800000u);
    const uint32_t finite = (subnormal & is_subnormal) | (normal & ~is_subnormal);
    const uint32_t r = (overflow & is_overflow) | (finite & ~is_overflow);
    return static_cast<uint16_t>(sign | r);
}
#if QSTORE_X86_KERNELS
// The same conversion for n values with the hardware's (F16C) round to nearest even,
// 16 at a time; only where the CPU runs AVX-512F. It equals f16_from_f32 on every input
// except NaNs other than the canonical 0x7FC00000 (the hardware keeps their payload's
// top bits): callers pass predictions, whose only NaN is the canonical one.
QSTORE_TARGET_AVX512 inline void f16_from_f32_avx512(const float* in, size_t n, uint16_t* out) {
    size_t k = 0;
    for (; k + 16 <= n; k += 16)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + k),
                            _mm512_cvtps_ph(_mm512_loadu_ps(in + k), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; k < n; ++k) out[k] = f16_from_f32(in[k]);
}
// The same with 8 at a time, where the CPU runs AVX2 (whose kernel set requires F16C).
QSTORE_TARGET_AVX2 inline void f16_from_f32_f16c(const float* in, size_t n, uint16_t* out) {
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + k),
                         _mm256_cvtps_ph(_mm256_loadu_ps(in + k), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; k < n; ++k) out[k] = f16_from_f32(in[k]);
}
#endif
// IEEE binary16 -> float32, exact (NaN payloads kept). All three cases are computed and
// one is selected, so loops over it vectorize.
inline float f32_from_f16(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    const uint32_t mant = h & 0x3FFu;
    const uint32_t special = sign | 0x7F800000u | (mant << 13);  // Inf, NaN
    const uint32_t subnormal = f32_bits(static_cast<float>(mant) * f32_from_bits(0x33800000u)) | sign;  // mant * 2^-24, exact
    const uint32_t normal = sign | ((exp + 112u) << 23) | (mant << 13);
    const uint32_t is_special = 0u - static_cast<uint32_t>(exp == 0x1Fu);
    const uint32_t is_subnormal = 0u - static_cast<uint32_t>(exp == 0u);
    return f32_from_bits((special & is_special) | (subnormal & is_subnormal) | (normal & ~(is_special | is_subnormal)));
}
#if QSTORE_X86_KERNELS
// binary16 -> float32 for n values by the hardware (F16C, exact), 16 at a time; only
// where the CPU runs AVX-512F. The hardware quiets signaling NaNs: lanes whose input
// is a NaN take f32_from_f16's pattern (sign, all-ones exponent, payload << 13)
// instead, so that the result equals f32_from_f16 on every input.
QSTORE_TARGET_AVX512 inline void f32_from_f16_avx512(const uint8_t* in, size_t n, float* out) {
    const __m512i exp_mask = _mm512_set1_epi32(0x7C00);
    const __m512i mant_mask = _mm512_set1_epi32(0x3FF);
    size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + 2 * k));
        const __m512i wide = _mm512_cvtepu16_epi32(h);
        const __m512i mant = _mm512_and_si512(wide, mant_mask);
        const __mmask16 nan = _mm512_mask_test_epi32_mask(
            _mm512_cmpeq_epi32_mask(_mm512_and_si512(wide, exp_mask), exp_mask), mant, mant);
        const __m512i special = _mm512_or_si512(
            _mm512_or_si512(_mm512_slli_epi32(_mm512_srli_epi32(wide, 15), 31), _mm512_set1_epi32(0x7F800000)),
            _mm512_slli_epi32(mant, 13));
        const __m512 f = _mm512_mask_mov_ps(_mm512_cvtph_ps(h), nan, _mm512_castsi512_ps(special));
        _mm512_storeu_ps(out + k, f);
    }
    for (; k < n; ++k) {
        uint16_t h;
        std::memcpy(&h, in + 2 * k, 2);
        out[k] = f32_from_f16(h);
    }
}
// The same 8 at a time, where the CPU runs AVX2 (whose kernel set requires F16C).
QSTORE_TARGET_AVX2 inline void f32_from_f16_f16c(const uint8_t* in, size_t n, float* out) {
    const __m256i exp_mask = _mm256_set1_epi32(0x7C00);
    const __m256i mant_mask = _mm256_set1_epi32(0x3FF);
    const __m256i zero = _mm256_setzero_si256();
    size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + 2 * k));
        const __m256i wide = _mm256_cvtepu16_epi32(h);
        const __m256i mant = _mm256_and_si256(wide, mant_mask);
        const __m256i nan = _mm256_andnot_si256(_mm256_cmpeq_epi32(mant, zero),
                                                _mm256_cmpeq_epi32(_mm256_and_si256(wide, exp_mask), exp_mask));
        const __m256i special = _mm256_or_si256(
            _mm256_or_si256(_mm256_slli_epi32(_mm256_srli_epi32(wide, 15), 31), _mm256_set1_epi32(0x7F800000)),
            _mm256_slli_epi32(mant, 13));
        const __m256 f = _mm256_blendv_ps(_mm256_cvtph_ps(h), _mm256_castsi256_ps(special), _mm256_castsi256_ps(nan));
        _mm256_storeu_ps(out + k, f);
    }
    for (; k < n; ++k) {
        uint16_t h;
        std::memcpy(&h, in + 2 * k, 2);
        out[k] = f32_from_f16(h);
    }
}
#endif

// The binary16 pattern a float32 came from (inverse of f32_from_f16, NaN payloads
// included): scales of float16 schemes are kept widened to float32 in memory.
inline uint16_t f16_bits_of_widened(float f) {
    const uint32_t u = f32_bits(f);
    if ((u & 0x7F800000u) == 0x7F800000u)
        return static_cast<uint16_t>(((u >> 16) & 0x8000u) | 0x7C00u | ((u >> 13) & 0x3FFu));
    return f16_from_f32(f);
}

// Order-preserving key of a sign-magnitude float bit pattern of `Bits` bits: for
// non-NaN values, a < b  =>  key(a) < key(b) (unsigned); -0 and +0 are adjacent.
// A bijection on all bit patterns, so residual = key(x) - key(pred) mod 2^Bits is lossless.
template <class U>
inline U float_key(U bits) {
    // Negative: flip every bit; non-negative: set the sign bit. Branch-free.
    using S = std::make_signed_t<U>;
    constexpr U sign = static_cast<U>(U(1) << (sizeof(U) * 8 - 1));
    const U mask = static_cast<U>(static_cast<U>(static_cast<S>(bits) >> (sizeof(U) * 8 - 1)) | sign);
    return static_cast<U>(bits ^ mask);
}
template <class U>
inline U float_from_key(U key) {
    using S = std::make_signed_t<U>;
    constexpr U sign = static_cast<U>(U(1) << (sizeof(U) * 8 - 1));
    const U mask = static_cast<U>(static_cast<U>(~(static_cast<S>(key) >> (sizeof(U) * 8 - 1))) | sign);
    return static_cast<U>(key ^ mask);
}

// Zigzag: signed distance -> unsigned, small magnitudes first (0,-1,1,-2,...).
template <class U>
inline U zigzag(U d) {
    constexpr int top = sizeof(U) * 8 - 1;
    return static_cast<U>((d << 1) ^ static_cast<U>(-(d >> top)));
}
template <class U>
inline U unzigzag(U z) {
    return static_cast<U>((z >> 1) ^ static_cast<U>(-(z & 1)));
}

}  // namespace qstore
