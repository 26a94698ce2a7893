#include "schemes/grid.hpp"


#include <cmath>
#include <cstdlib>
#include <vector>

#include "base/error.hpp"
#include "base/float_bits.hpp"
#include "base/float_env.hpp"
#include "base/high_values.hpp"
#include "base/cpu.hpp"
#include "base/simd.hpp"

namespace qstore {

namespace {

// The inner loop of symmetric predictions (every high-precision load runs it on every
// element): prediction = value(code) * step, context = table[code]. The same IEEE
// float32 products on every path; the AVX-512 one converts 16 codes per instruction and
// looks up 64 context classes with two byte permutes (VBMI).
template <bool kInt8>
QSTORE_ALWAYS_INLINE void predict_run_body(const uint8_t* c, uint64_t m, float step, const float* value,
                                           const uint8_t* table, float* pred, uint8_t* ctx) {
    if (kInt8) {
        const int8_t* q = reinterpret_cast<const int8_t*>(c);
        for (uint64_t j = 0; j < m; ++j) pred[j] = static_cast<float>(q[j]) * step;
    } else {
        for (uint64_t j = 0; j < m; ++j) pred[j] = value[c[j]] * step;
    }
    for (uint64_t j = 0; j < m; ++j) ctx[j] = table[c[j]];
}

template <bool kInt8>
void predict_run_scalar(const uint8_t* c, uint64_t m, float step, const float* value, const uint8_t* table, float* pred,
                        uint8_t* ctx) {
    predict_run_body<kInt8>(c, m, step, value, table, pred, ctx);
}

#if QSTORE_X86_KERNELS
// AVX2 has no 256-entry byte lookup; for INT8 codes whose context depends on |q| alone,
// below 16 on each value and above it on each octet (magnitude_class's classes), two
// 16-entry ones do: `split` = classes of |q| = 0..15, then of |q| >> 3 = 2..15 and 16
// (q = -128) at index 0 (GridScheme::context_split_). Null: the table, a byte at a time.
template <bool kInt8>
QSTORE_TARGET_AVX2 void predict_run_avx2(const uint8_t* c, uint64_t m, float step, const float* value,
                                         const uint8_t* table, const uint8_t* split, float* pred,
                                         uint8_t* ctx) {
    uint64_t j = 0;
    if (kInt8 && split) {
        const __m256i small_classes =
            _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(split)));
        const __m256i octet_classes =
            _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(split + 16)));
        const __m256i low_nibble = _mm256_set1_epi8(0x0F), high_nibble = _mm256_set1_epi8(static_cast<char>(0xF0));
        const __m256 s = _mm256_set1_ps(step);
        for (; j + 32 <= m; j += 32) {
            const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + j));
            const __m256i a = _mm256_abs_epi8(q);  // -128 -> 0x80 = 128
            const __m256i small = _mm256_cmpeq_epi8(_mm256_and_si256(a, high_nibble), _mm256_setzero_si256());
            const __m256i octet = _mm256_and_si256(_mm256_srli_epi16(a, 3), low_nibble);  // 128 -> 0
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(ctx + j),
                                _mm256_blendv_epi8(_mm256_shuffle_epi8(octet_classes, octet),
                                                   _mm256_shuffle_epi8(small_classes, a), small));
            for (int k = 0; k < 4; ++k) {
                const __m256i w = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(c + j + 8 * k)));
                _mm256_storeu_ps(pred + j + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(w), s));
            }
        }
    }
    predict_run_body<kInt8>(c + j, m - j, step, value, table, pred + j, ctx + j);
}

template <bool kInt8>
QSTORE_TARGET_AVX512 void predict_run_avx512(
    const uint8_t* c, uint64_t m, float step, const float* value, const uint8_t* table, float* pred, uint8_t* ctx) {
    const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
    const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
    const __m512 s = _mm512_set1_ps(step);
    uint64_t j = 0;
    for (; j + 64 <= m; j += 64) {
        const __m512i codes = _mm512_loadu_si512(c + j);
        // Bits 0..6 pick within a 128-entry half; bit 7 (the sign bit) picks the half.
        const __m512i lo = _mm512_permutex2var_epi8(t0, codes, t1);
        const __m512i hi = _mm512_permutex2var_epi8(t2, codes, t3);
        _mm512_storeu_si512(ctx + j, _mm512_mask_blend_epi8(_mm512_movepi8_mask(codes), lo, hi));
        if (kInt8) {
            const __m512i w0 = _mm512_cvtepi8_epi32(_mm512_castsi512_si128(codes));
            const __m512i w1 = _mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(codes, 1));
            const __m512i w2 = _mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(codes, 2));
            const __m512i w3 = _mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(codes, 3));
            _mm512_storeu_ps(pred + j, _mm512_mul_ps(_mm512_cvtepi32_ps(w0), s));
            _mm512_storeu_ps(pred + j + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(w1), s));
            _mm512_storeu_ps(pred + j + 32, _mm512_mul_ps(_mm512_cvtepi32_ps(w2), s));
            _mm512_storeu_ps(pred + j + 48, _mm512_mul_ps(_mm512_cvtepi32_ps(w3), s));
        } else {
            for (uint64_t k = j; k < j + 64; ++k) pred[k] = value[c[k]] * step;
        }
    }
    predict_run_body<kInt8>(c + j, m - j, step, value, table, pred + j, ctx + j);
}
#endif

template <bool kInt8>
void predict_run(KernelSet isa, const uint8_t* c, uint64_t m, float step, const float* value, const uint8_t* table,
                 const uint8_t* split, float* pred, uint8_t* ctx) {
    (void)split;
    switch (isa) {
#if QSTORE_X86_KERNELS
        case KernelSet::avx512: return predict_run_avx512<kInt8>(c, m, step, value, table, pred, ctx);
        case KernelSet::avx2: return predict_run_avx2<kInt8>(c, m, step, value, table, split, pred, ctx);
#endif
        default: return predict_run_scalar<kInt8>(c, m, step, value, table, pred, ctx);
    }
}

}  // namespace

uint8_t magnitude_class(int a) {
    static const int kLow[kContextClasses] = {0, 1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128};
    int c = 0;
    while (c + 1 < kContextClasses && a >= kLow[c + 1]) ++c;
    return static_cast<uint8_t>(c);
}

namespace {

// The passes over every element of a pack before its codes: widening a row to float32
// and its blocks' statistics. One body each, built for every kernel set (run_kernel):
// integer operations and exact conversions, the same values on every set.
struct WidenRow {
    template <KernelSet K>
    QSTORE_ALWAYS_INLINE static void run(const uint8_t* src, DType t, uint64_t n, float* dst) {
#if QSTORE_X86_KERNELS
        if constexpr (K == KernelSet::avx512)
            if (t == DType::f16) return f32_from_f16_avx512(src, n, dst);  // F16C: the same values
        if constexpr (K == KernelSet::avx2)
            if (t == DType::f16) return f32_from_f16_f16c(src, n, dst);
#endif
        high_to_f32(src, t, n, dst);
    }
};

struct AddStats {
    template <KernelSet>
    QSTORE_ALWAYS_INLINE static void run(BlockStats* stats, const float* x, uint64_t n) {
        BlockStats& s = *stats;
        // Reductions over integer images of the values, selected by masks, so the loop
        // has no branch and vectorizes: magnitudes order as their bit patterns, signed
        // values as their keys (base/float_bits.hpp). Non-finite values count as +0, and
        // -0 as +0 (which never replaces the starting 0 as the minimum, as `x < min`
        // would not).
        const uint32_t absmax_bits = f32_bits(s.absmax);
        uint32_t mag = absmax_bits;
        uint32_t lo = float_key<uint32_t>(f32_bits(s.min)), hi = float_key<uint32_t>(f32_bits(s.max));
        for (uint64_t i = 0; i < n; ++i) {
            uint32_t b = f32_bits(x[i]);
            const uint32_t finite = 0u - static_cast<uint32_t>((b & 0x7F800000u) != 0x7F800000u);
            b &= finite & ~(0u - static_cast<uint32_t>(b == 0x80000000u));
            const uint32_t m = b & 0x7FFFFFFFu;
            mag = m > mag ? m : mag;
            const uint32_t k = float_key<uint32_t>(b);
            lo = k < lo ? k : lo;
            hi = k > hi ? k : hi;
        }
        s.min = f32_from_bits(float_from_key<uint32_t>(lo));
        s.max = f32_from_bits(float_from_key<uint32_t>(hi));
        if (mag > absmax_bits) {  // the first value of this largest magnitude
            s.absmax = f32_from_bits(mag);
            for (uint64_t i = 0; i < n; ++i)
                if ((f32_bits(x[i]) & 0x7FFFFFFFu) == mag) {
                    s.signed_absmax = x[i];
                    break;
                }
        }
    }
};

void widen_row(KernelSet kernels, const uint8_t* src, DType t, uint64_t n, float* dst) {
    run_kernel<WidenRow>(kernels, src, t, n, dst);
}

}  // namespace

void BlockStats::add(KernelSet kernels, const float* x, uint64_t n) { run_kernel<AddStats>(kernels, this, x, n); }

uint8_t GridScheme::context_of_code(uint8_t code) const {
    const float v = value_of_code(code);
    if (!std::isfinite(v)) return kContextClasses - 1;
    return magnitude_class(static_cast<int>(std::fmin(std::fabs(v), 1024.0f)));
}

void GridScheme::init_tables() {
    values_finite_ = true;
    values_are_int8_ = !asymmetric_;
    for (int c = 0; c < 256; ++c) {
        value_[c] = value_of_code(static_cast<uint8_t>(c));
        context_[c] = asymmetric_ ? magnitude_class(c) : context_of_code(static_cast<uint8_t>(c));
        values_finite_ = values_finite_ && std::isfinite(value_[c]);
        values_are_int8_ = values_are_int8_ && value_[c] == static_cast<float>(static_cast<int8_t>(c));
    }
    // The split form of the contexts (predict_run_avx2), used only if it gives every code's.
    for (int k = 0; k < 16; ++k) {
        context_split_[k] = context_[k];
        context_split_[16 + k] = context_[k == 0 ? 0x80 : (8 * k) & 0x7F];
    }
    context_split_ok_ = true;
    for (int c = 0; c < 256; ++c) {
        const int a = std::abs(static_cast<int>(static_cast<int8_t>(c)));
        const uint8_t split = a < 16 ? context_split_[a] : context_split_[16 + ((a >> 3) & 15)];
        context_split_ok_ = context_split_ok_ && split == context_[c];
    }
}

uint64_t GridScheme::scale_count(const Geometry& g) const {
    const ScaleGrid b = grid(g);
    return (g.rows + b.block_rows - 1) / b.block_rows * blocks_across(b, g);
}

namespace {

// Values widened to float32 at a time. Rows are never widened whole: a row can be a
// whole tensor (some models' tensors have shape[0] = 1: rows can be hundreds of
// thousands of values long), and a row-sized buffer would be allocated, zero-filled
// and page-faulted in for every block; a chunk on the stack stays in the first-level
// cache between its passes.
constexpr uint64_t kWidenChunk = 4096;

// Calls fn(j, x, len) for the values [c0, c1) of one row (`src` its first value), in
// order, widened in chunks of at most kWidenChunk and cut where block columns (of
// `block_cols` values) begin: x holds `len` values of block column j.
template <class Fn>
void for_each_widened_segment(KernelSet isa, const uint8_t* src, DType t, uint64_t c0, uint64_t c1,
                              uint64_t block_cols, Fn&& fn) {
    alignas(64) float x[kWidenChunk];
    const size_t esize = dtype_size(t);
    for (uint64_t c = c0; c < c1;) {
        const uint64_t len = std::min(kWidenChunk, c1 - c);
        widen_row(isa, src + c * esize, t, len, x);
        for (uint64_t k = 0; k < len;) {
            const uint64_t j = (c + k) / block_cols;
            const uint64_t seg = std::min(len - k, (j + 1) * block_cols - (c + k));
            fn(j, x + k, seg);
            k += seg;
        }
        c += len;
    }
}

}  // namespace

void GridScheme::prepare(KernelSet kernels, const uint8_t* high, DType t, const Geometry& g,
                         const LowTensorData& low) const {
    const ScaleGrid b = grid(g);
    if (b.block_rows == 1) return;  // row-local: quantize() computes the scales
    const FloatEnvironmentGuard float_env;
    const uint64_t across = blocks_across(b, g);
    std::vector<BlockStats> stats(scale_count(g));
    const size_t esize = dtype_size(t);
    for (uint64_t r = 0; r < g.rows; ++r) {
        BlockStats* const row_stats = stats.data() + r / b.block_rows * across;
        for_each_widened_segment(kernels, high + r * g.cols * esize, t, 0, g.cols, b.block_cols,
                                 [&](uint64_t j, const float* x, uint64_t len) { row_stats[j].add(kernels, x, len); });
    }
    for (size_t i = 0; i < stats.size(); ++i) {
        const BlockScale s = scale_of_block(stats[i]);
        if (s.stored != s.quantize_with && !(std::isnan(s.stored) && std::isnan(s.quantize_with)))
            fail(Errc::internal, "multi-row blocks must quantize with their stored scale");
        low.scales[i] = s.stored;
        if (asymmetric_) low.zero_points[i] = s.zero_point;
    }
}

void GridScheme::quantize(KernelSet kernels, const uint8_t* high, DType t, const Geometry& g, uint64_t row_begin,
                          uint64_t row_end, const LowTensorData& low) const {
    const FloatEnvironmentGuard float_env;  // the codes must not depend on the caller's FP mode
    const ScaleGrid b = grid(g);
    const uint64_t across = blocks_across(b, g);
    const size_t esize = dtype_size(t);
    const bool row_local = b.block_rows == 1;
    // Blocks narrower than a chunk go a chunk of whole blocks at a time (widened once:
    // statistics, then codes); a wider block takes two passes, its statistics then its codes.
    const uint64_t span = b.block_cols <= kWidenChunk ? kWidenChunk / b.block_cols * b.block_cols : b.block_cols;
    alignas(64) float x[kWidenChunk];
    for (uint64_t r = row_begin; r < row_end; ++r) {
        const uint8_t* const src = high + r * g.cols * esize;
        uint8_t* const codes = low.codes + r * g.cols;
        const uint64_t first_scale = r / b.block_rows * across;
        auto scale_of = [&](uint64_t j, const BlockStats& stats) {  // block column j of row r
            BlockScale s;
            if (row_local) {
                s = scale_of_block(stats);
                low.scales[first_scale + j] = s.stored;
                if (asymmetric_) low.zero_points[first_scale + j] = s.zero_point;
            } else {
                s.quantize_with = low.scales[first_scale + j];
                s.zero_point = asymmetric_ ? low.zero_points[first_scale + j] : 0;
            }
            return s;
        };
        for (uint64_t c0 = 0; c0 < g.cols; c0 += span) {
            const uint64_t c1 = std::min(g.cols, c0 + span);
            if (c1 - c0 <= kWidenChunk) {
                widen_row(kernels, src + c0 * esize, t, c1 - c0, x);
                for (uint64_t c = c0; c < c1; c += b.block_cols) {
                    const uint64_t len = std::min(b.block_cols, c1 - c);
                    BlockStats stats;
                    if (row_local) stats.add(kernels, x + (c - c0), len);
                    const BlockScale s = scale_of(c / b.block_cols, stats);
                    quantize_segment(kernels, x + (c - c0), len, s.quantize_with, s.zero_point, codes + c);
                }
            } else {
                BlockStats stats;
                if (row_local)
                    for_each_widened_segment(
                        kernels, src, t, c0, c1, b.block_cols,
                        [&](uint64_t, const float* v, uint64_t len) { stats.add(kernels, v, len); });
                const BlockScale s = scale_of(c0 / b.block_cols, stats);
                uint64_t c = c0;
                for_each_widened_segment(kernels, src, t, c0, c1, b.block_cols,
                                         [&](uint64_t, const float* v, uint64_t len) {
                                             quantize_segment(kernels, v, len, s.quantize_with, s.zero_point,
                                                              codes + c);
                                             c += len;
                                         });
            }
        }
    }
}

void GridScheme::quantize_with_scales(KernelSet kernels, const float* values, const LowTensorView& low,
                                      const Geometry& g, uint64_t first, uint64_t n, uint8_t* codes) const {
    const FloatEnvironmentGuard float_env;
    const ScaleGrid b = grid(g);
    const uint64_t across = blocks_across(b, g);
    for (uint64_t i = 0; i < n;) {
        const uint64_t e = first + i, r = e / g.cols, c = e % g.cols;
        const uint64_t k = r / b.block_rows * across + c / b.block_cols;
        const uint64_t len = std::min(n - i, std::min(g.cols, (c / b.block_cols + 1) * b.block_cols) - c);
        quantize_segment(kernels, values + i, len, low.scales[k], asymmetric_ ? low.zero_points[k] : 0, codes + i);
        i += len;
    }
}

void GridScheme::predict(KernelSet kernels, const LowTensorView& low, const Geometry& g, uint64_t first, uint64_t n,
                         float* prediction, uint8_t* context) const {
    const FloatEnvironmentGuard float_env;
    const ScaleGrid b = grid(g);
    const uint64_t across = blocks_across(b, g);
    const uint8_t* const c = low.codes + first;
    for (uint64_t i = 0; i < n;) {
        const uint64_t e = first + i, r = e / g.cols, col = e % g.cols;
        const uint64_t k = r / b.block_rows * across + col / b.block_cols;
        const uint64_t stop = i + std::min(n - i, std::min(g.cols, (col / b.block_cols + 1) * b.block_cols) - col);
        const float step = step_of_scale(low.scales[k]);
        if (asymmetric_) {
            const int zp = low.zero_points[k];
            for (uint64_t j = i; j < stop; ++j) {
                const int d = static_cast<int>(c[j]) - zp;
                prediction[j] = static_cast<float>(d) * step;
                context[j] = context_[d < 0 ? -d : d];
            }
        } else if (values_are_int8_) {  // the same products as the table, as a conversion
            predict_run<true>(kernels, c + i, stop - i, step, value_, context_,
                              context_split_ok_ ? context_split_ : nullptr, prediction + i, context + i);
        } else {
            predict_run<false>(kernels, c + i, stop - i, step, value_, context_, nullptr, prediction + i, context + i);
        }
        // NaN results (a NaN or infinite scale, 0 x Inf, NaN codes) get one fixed pattern:
        // which NaN IEEE arithmetic returns differs between CPUs, the prediction must not.
        // Finite values times a finite step are never NaN, so that case skips the pass.
        if (!values_finite_ || !std::isfinite(step)) {
            for (uint64_t j = i; j < stop; ++j) {
                const uint32_t bits = f32_bits(prediction[j]);
                prediction[j] = f32_from_bits((bits & 0x7FFFFFFFu) > 0x7F800000u ? kCanonicalNaN : bits);
            }
        }
        i = stop;
    }
}

}  // namespace qstore
