#include "schemes/int8.hpp"

#include <cfloat>
#include <cmath>
#include <cstring>

#include "base/cpu.hpp"
#include "base/float_bits.hpp"
#include "base/float_env.hpp"

namespace qstore {

Int8Scheme::Int8Scheme(Granularity granularity, uint32_t group, bool tiny_scale_nearest)
    : GridScheme(false), granularity_(granularity), group_(group), tiny_scale_nearest_(tiny_scale_nearest) {
    init_tables();
}

SchemeSpec Int8Scheme::spec() const {
    switch (granularity_) {
        case Granularity::row: return {SchemeId::int8_row, 0};
        case Granularity::tensor: return {SchemeId::int8_tensor, 0};
        case Granularity::row_ct: return {SchemeId::int8_row_ct, 0};
        default: return {SchemeId::int8_group, group_};
    }
}

std::string Int8Scheme::name() const {
    switch (granularity_) {
        case Granularity::row: return "int8-row";
        case Granularity::tensor: return "int8-tensor";
        case Granularity::row_ct: return "int8-row-ct";
        default: return "int8-group:" + std::to_string(group_);
    }
}

ScaleGrid Int8Scheme::grid(const Geometry& g) const {
    switch (granularity_) {
        case Granularity::row:
        case Granularity::row_ct: return {1, g.cols};
        case Granularity::tensor: return {g.rows, g.cols};
        default: return {1, group_};
    }
}

BlockScale Int8Scheme::scale_of_block(const BlockStats& s) const {
    float scale = s.absmax;
    if (granularity_ == Granularity::group) scale = s.absmax / 127.0f;
    if (granularity_ == Granularity::row_ct) scale = std::fmax(s.absmax / 127.5f, FLT_EPSILON);
    return {scale, scale, 0};
}

bool Int8Scheme::tiny_scale(float scale) const {
    if (!absmax_scale()) return false;
    const FloatEnvironmentGuard float_env;
    return scale > 0.0f && std::isinf(127.0f / scale);
}

namespace {

constexpr float kTwoTo64 = 18446744073709551616.0f;

// §7.2.1: v = x * inv (row, tensor: inv = 127 / s; with kPrescale (x * 2^64) * inv,
// inv = 127 / (s * 2^64)) or x / s (group); NaN -> 0, clamp to ±127, round half to
// even. Written without branches or libm calls so it vectorizes: adding and
// subtracting 1.5 * 2^23 rounds |v| <= 127 to an integer with the float adder's
// round-to-nearest-even (the mode FloatEnvironmentGuard sets). One body, built for
// every kernel set (run_kernel): IEEE float32 products and quotients, the same codes.
template <bool kGroup, bool kPrescale>
struct QuantizeInt8 {
    template <KernelSet>
    QSTORE_ALWAYS_INLINE static void run(const float* x, uint64_t n, float scale, float inv, uint8_t* codes) {
        constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
        for (uint64_t c = 0; c < n; ++c) {
            const float w = kPrescale ? x[c] * kTwoTo64 : x[c];
            const uint32_t v = f32_bits(kGroup ? w / scale : w * inv);
            // Selects by integer masks: float ?: and std::min keep branches (NaN semantics).
            const uint32_t magnitude = v & 0x7FFFFFFFu;
            const uint32_t clamp = 0u - static_cast<uint32_t>(magnitude >= 0x42FE0000u);  // |v| >= 127, Inf, NaN
            const uint32_t not_nan = 0u - static_cast<uint32_t>(magnitude <= 0x7F800000u);
            const uint32_t clamped = (v & ~clamp) | (((v & 0x80000000u) | 0x42FE0000u) & clamp);  // ±127
            const int32_t q = static_cast<int32_t>((f32_from_bits(clamped) + kRound) - kRound);
            codes[c] = static_cast<uint8_t>(static_cast<uint32_t>(q) & not_nan);
        }
    }
};

// int8-row-ct: v = x / s; NaN -> 0; clamp to [-128, 127], round half to even.
struct QuantizeInt8Ct {
    template <KernelSet>
    QSTORE_ALWAYS_INLINE static void run(const float* x, uint64_t n, float scale, uint8_t* codes) {
        constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
        for (uint64_t c = 0; c < n; ++c) {
            const float v = x[c] / scale;
            const float clamped = v != v ? 0.0f : v < -128.0f ? -128.0f : v > 127.0f ? 127.0f : v;
            codes[c] = static_cast<uint8_t>(static_cast<int32_t>((clamped + kRound) - kRound));
        }
    }
};

}  // namespace

void Int8Scheme::quantize_segment(KernelSet kernels, const float* x, uint64_t n, float scale, uint8_t,
                                  uint8_t* codes) const {
    if (!(scale > 0.0f)) {
        std::memset(codes, 0, n);  // includes a NaN scale: every v is 0 (or NaN, also 0)
        return;
    }
    if (granularity_ == Granularity::row_ct) return run_kernel<QuantizeInt8Ct>(kernels, x, n, scale, codes);
    if (granularity_ == Granularity::group) return run_kernel<QuantizeInt8<true, false>>(kernels, x, n, scale, 0.0f, codes);
    const float inv = 127.0f / scale;
    if (std::isinf(inv) && tiny_scale_nearest_)
        run_kernel<QuantizeInt8<false, true>>(kernels, x, n, scale, 127.0f / (scale * kTwoTo64), codes);
    else
        run_kernel<QuantizeInt8<false, false>>(kernels, x, n, scale, inv, codes);
}

}  // namespace qstore
