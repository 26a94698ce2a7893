#include "schemes/int8.hpp"

#include <cstring>

#include "base/float_bits.hpp"
#include "base/cpu.hpp"

namespace qstore {

Int8Scheme::Int8Scheme(Granularity granularity, uint32_t group)
    : GridScheme(false), granularity_(granularity), group_(group) {
    init_tables();
}

SchemeSpec Int8Scheme::spec() const {
    switch (granularity_) {
        case Granularity::row: return {SchemeId::int8_row, 0};
        case Granularity::tensor: return {SchemeId::int8_tensor, 0};
        default: return {SchemeId::int8_group, group_};
    }
}

std::string Int8Scheme::name() const {
    switch (granularity_) {
        case Granularity::row: return "int8-row";
        case Granularity::tensor: return "int8-tensor";
        default: return "int8-group:" + std::to_string(group_);
    }
}

ScaleGrid Int8Scheme::grid(const Geometry& g) const {
    switch (granularity_) {
        case Granularity::row: return {1, g.cols};
        case Granularity::tensor: return {g.rows, g.cols};
        default: return {1, group_};
    }
}

BlockScale Int8Scheme::scale_of_block(const BlockStats& s) const {
    const float scale = granularity_ == Granularity::group ? s.absmax / 127.0f : s.absmax;
    return {scale, scale, 0};
}

namespace {

// §7.2.1: v = x * inv (row, tensor: inv = 127 / s) or x / s (group); NaN -> 0, clamp to
// ±127, round half to even. Written without branches or libm calls so it vectorizes:
// adding and subtracting 1.5 * 2^23 rounds |v| <= 127 to an integer with the float
// adder's round-to-nearest-even (the mode FloatEnvironmentGuard sets). One body, built
// for every kernel set (run_kernel): IEEE float32 products and quotients, the same
// codes.
template <bool kGroup>
struct QuantizeInt8 {
    template <KernelSet>
    QSTORE_ALWAYS_INLINE static void run(const float* x, uint64_t n, float scale, float inv, uint8_t* codes) {
        constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
        for (uint64_t c = 0; c < n; ++c) {
            const uint32_t v = f32_bits(kGroup ? x[c] / scale : x[c] * inv);
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

}  // namespace

void Int8Scheme::quantize_segment(KernelSet kernels, const float* x, uint64_t n, float scale, uint8_t,
                                  uint8_t* codes) const {
    if (!(scale > 0.0f)) {
        std::memset(codes, 0, n);  // includes a NaN scale: every v is 0 (or NaN, also 0)
        return;
    }
    if (granularity_ == Granularity::group) run_kernel<QuantizeInt8<true>>(kernels, x, n, scale, 0.0f, codes);
    else run_kernel<QuantizeInt8<false>>(kernels, x, n, scale, 127.0f / scale, codes);
}

}  // namespace qstore
