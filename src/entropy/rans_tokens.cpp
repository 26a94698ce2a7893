#include "entropy/rans_tokens.hpp"


#include <algorithm>
#include <cstring>

#include "base/error.hpp"
#include "base/simd.hpp"

namespace qstore {

namespace {

constexpr uint32_t kDirect = 16;

inline uint32_t max_token(int dtype_bits) { return kDirect + 4 * (static_cast<uint32_t>(dtype_bits) - 5) + 3; }

// nbits (<= 29) bits at bit position pos of the stream; the caller checked they exist.
inline uint32_t read_bits(const uint8_t* data, size_t size, uint64_t pos, int nbits) {
    const size_t byte = static_cast<size_t>(pos >> 3);
    uint64_t v;
    if (size - byte >= 8) {
        std::memcpy(&v, data + byte, 8);  // little-endian hosts only (docs/FORMAT.md §2)
    } else {
        v = 0;
        for (size_t k = 0; byte + k < size; ++k) v |= static_cast<uint64_t>(data[byte + k]) << (8 * k);
    }
    return static_cast<uint32_t>((v >> (pos & 7)) & ((uint64_t(1) << nbits) - 1));
}

void scalar_tokens(const uint8_t* tokens, size_t m, uint32_t max_tok, ExtraBitReader& r, uint32_t* z,
                   const std::string& what) {
    const uint64_t total = static_cast<uint64_t>(r.size) * 8;
    uint64_t pos = r.pos;
    size_t k = 0;
    if (r.size >= 8) {
        // Branch-free while 8 bytes can be loaded at every field (whether a token has
        // extra bits is unpredictable); a field starting there also ends in the stream.
        const uint64_t fast_end = (static_cast<uint64_t>(r.size) - 8) * 8;
        uint32_t bad = 0;
        for (; k < m && pos <= fast_end; ++k) {
            const uint32_t t = tokens[k];
            bad |= static_cast<uint32_t>(t > max_tok);
            const uint32_t u = std::min(t, max_tok) - kDirect;  // wraps for t < 16 (unused then)
            const uint32_t big = 0u - static_cast<uint32_t>(t >= kDirect);  // mask selects: no branch
            const uint32_t nb = (2 + (u >> 2)) & big;
            uint64_t v;
            std::memcpy(&v, r.data + (pos >> 3), 8);  // little-endian hosts only (docs/FORMAT.md §2)
            const uint32_t low = static_cast<uint32_t>((v >> (pos & 7)) & ((uint64_t(1) << nb) - 1));
            const uint32_t zz = ((4u | (u & 3u)) << nb) | low;
            z[k] = (zz & big) | (t & ~big);
            pos += nb;
        }
        if (bad) fail(Errc::corrupt, what + ": residual token out of range");
    }
    for (; k < m; ++k) {
        const uint32_t t = tokens[k];
        if (t < kDirect) {
            z[k] = t;
            continue;
        }
        if (t > max_tok) fail(Errc::corrupt, what + ": residual token out of range");
        const int nbits = 2 + static_cast<int>(t - kDirect) / 4;  // e - 3
        if (static_cast<uint64_t>(nbits) > total - pos) fail(Errc::corrupt, what + ": residual extra bits run out");
        const uint32_t low = read_bits(r.data, r.size, pos, nbits);
        pos += static_cast<uint64_t>(nbits);
        z[k] = ((4u | ((t - kDirect) & 3u)) << nbits) | low;
    }
    r.pos = pos;
}

// 16 tokens per vector. The fields of 16 tokens span at most 16 x 29 + 7 bits, so one
// 64-byte load at the byte of the first field holds them all; a byte permute (VBMI)
// moves each field's bytes into its lane. Returns the tokens done (a multiple of 16);
// stops where that load would pass the end of the stream (the scalar loop, which
// checks every read, does the rest). Sets `bad` if a token is out of range.
#if QSTORE_X86_KERNELS
template <bool kWide>
QSTORE_TARGET_AVX512 size_t avx512_tokens(
    const uint8_t* tokens, size_t m, uint32_t max_tok, const uint8_t* data, size_t size, uint64_t& pos_ref,
                                          uint32_t* z, bool& bad) {
    const __m512i zero = _mm512_setzero_si512();
    const __m512i one = _mm512_set1_epi32(1), two = _mm512_set1_epi32(2), three = _mm512_set1_epi32(3);
    const __m512i four = _mm512_set1_epi32(4), seven = _mm512_set1_epi32(7);
    const __m512i sixteen = _mm512_set1_epi32(16);
    const __m512i maxv = _mm512_set1_epi32(static_cast<int>(max_tok));
    // Byte k of dword lane i <- byte 0 of lane i, plus k: the 4 bytes from the field's byte.
    const __m512i spread32 = _mm512_set4_epi32(0x0C0C0C0C, 0x08080808, 0x04040404, 0x00000000);
    const __m512i ramp32 = _mm512_set1_epi32(0x03020100);
    const __m512i spread64 = _mm512_set4_epi32(0x08080808, 0x08080808, 0x00000000, 0x00000000);
    const __m512i ramp64 = _mm512_set1_epi64(0x0706050403020100LL);
    uint64_t pos = pos_ref;
    __mmask16 any_bad = 0;
    size_t k = 0;
    for (; k + 16 <= m; k += 16) {
        const size_t byte = static_cast<size_t>(pos >> 3);
        if (size < 64 || byte > size - 64) break;
        const __m512i window = _mm512_loadu_si512(data + byte);
        const __m512i t = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tokens + k)));
        any_bad |= _mm512_cmpgt_epu32_mask(t, maxv);
        const __mmask16 big = _mm512_cmpge_epu32_mask(t, sixteen);
        const __m512i u = _mm512_sub_epi32(_mm512_min_epu32(t, maxv), sixteen);
        const __m512i nb = _mm512_maskz_add_epi32(big, _mm512_srli_epi32(u, 2), two);
        __m512i s = _mm512_add_epi32(nb, _mm512_alignr_epi32(nb, zero, 15));
        s = _mm512_add_epi32(s, _mm512_alignr_epi32(s, zero, 14));
        s = _mm512_add_epi32(s, _mm512_alignr_epi32(s, zero, 12));
        s = _mm512_add_epi32(s, _mm512_alignr_epi32(s, zero, 8));
        // Bit offset of each field from the window's first byte (exclusive prefix sum).
        const __m512i rel = _mm512_add_epi32(_mm512_sub_epi32(s, nb), _mm512_set1_epi32(static_cast<int>(pos & 7)));
        const __m512i fb = _mm512_srli_epi32(rel, 3);
        const __m512i sh = _mm512_and_si512(rel, seven);
        __m512i val;
        if constexpr (kWide) {  // fields up to 29 bits + 7 of shift: 64-bit lanes, two halves
            const __m512i fb_lo = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(fb));
            const __m512i fb_hi = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(fb, 1));
            const __m512i g_lo = _mm512_permutexvar_epi8(
                _mm512_add_epi64(_mm512_shuffle_epi8(fb_lo, spread64), ramp64), window);
            const __m512i g_hi = _mm512_permutexvar_epi8(
                _mm512_add_epi64(_mm512_shuffle_epi8(fb_hi, spread64), ramp64), window);
            const __m512i v_lo = _mm512_srlv_epi64(g_lo, _mm512_cvtepu32_epi64(_mm512_castsi512_si256(sh)));
            const __m512i v_hi = _mm512_srlv_epi64(g_hi, _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(sh, 1)));
            val = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(v_lo)), _mm512_cvtepi64_epi32(v_hi),
                                     1);
        } else {  // fields up to 13 bits + 7 of shift: 32-bit lanes
            const __m512i g =
                _mm512_permutexvar_epi8(_mm512_add_epi32(_mm512_shuffle_epi8(fb, spread32), ramp32), window);
            val = _mm512_srlv_epi32(g, sh);
        }
        val = _mm512_and_si512(val, _mm512_sub_epi32(_mm512_sllv_epi32(one, nb), one));
        const __m512i lead = _mm512_sllv_epi32(_mm512_or_si512(four, _mm512_and_si512(u, three)), nb);
        _mm512_storeu_si512(z + k, _mm512_mask_or_epi32(t, big, lead, val));
        pos += static_cast<uint32_t>(_mm_extract_epi32(_mm512_extracti32x4_epi32(s, 3), 3));
    }
    pos_ref = pos;
    bad = any_bad != 0;
    return k;
}

// One group of 8 fields of avx2_tokens_narrow: `ex` (exclusive prefix sums of the
// extra-bit counts), `nb` (the counts), `lead` (leading bits) and `sum` (inclusive sums)
// hold its bytes in their low 8 bytes. Writes 8 z and advances pos; false (nothing
// done) where the window would pass the end of the stream.
QSTORE_TARGET_AVX2 QSTORE_ALWAYS_INLINE bool narrow_group(__m128i ex, __m128i nb, __m128i lead, __m128i sum,
                                                          const uint8_t* data, size_t size, uint64_t& pos,
                                                          uint32_t* z) {
    const size_t byte = static_cast<size_t>(pos >> 3);
    if (size < 16 || byte > size - 16) return false;
    const __m256i one = _mm256_set1_epi32(1);
    // Byte k of dword lane i <- byte 0 of lane i, plus k: the 4 bytes from the field's byte.
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12,  //
                                            0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12);
    const __m256i ramp = _mm256_set1_epi32(0x03020100);
    const __m256i nbits = _mm256_cvtepu8_epi32(nb);
    // Bit offset of each field from `byte`.
    const __m256i rel = _mm256_add_epi32(_mm256_cvtepu8_epi32(ex), _mm256_set1_epi32(static_cast<int>(pos & 7)));
    const __m256i window = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + byte)));
    const __m256i g =
        _mm256_shuffle_epi8(window, _mm256_add_epi32(_mm256_shuffle_epi8(_mm256_srli_epi32(rel, 3), spread), ramp));
    const __m256i val = _mm256_and_si256(_mm256_srlv_epi32(g, _mm256_and_si256(rel, _mm256_set1_epi32(7))),
                                         _mm256_sub_epi32(_mm256_sllv_epi32(one, nbits), one));
    // A token below 16 is its own z: its lead is itself and it has no extra bits.
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(z),
                        _mm256_or_si256(_mm256_sllv_epi32(_mm256_cvtepu8_epi32(lead), nbits), val));
    pos += static_cast<uint32_t>(_mm_extract_epi8(sum, 7));
    return true;
}

// AVX2, 16-bit dtypes: the widths, leading bits and prefix sums of 32 tokens at a time
// on bytes (8 fields of <= 13 bits span <= 104 bits: a group's sums fit a byte), then
// per group of 8 fields one 16-byte window at the byte of its first field (8 fields +
// 7 bits of shift <= 111 bits), copied to both 128-bit halves for the in-half byte
// shuffle (AVX2 has no cross-lane one) that moves each field's 4 bytes into its lane.
// Same contract as avx512_tokens, except that it checks every token of the call first
// (any token out of range makes the call fail, whichever field the stream ends in).
QSTORE_TARGET_AVX2 size_t avx2_tokens_narrow(const uint8_t* tokens, size_t m, uint32_t max_tok,
                                             const uint8_t* data, size_t size, uint64_t& pos_ref,
                                             uint32_t* z, bool& bad) {
    {
        __m256i high = _mm256_setzero_si256();
        size_t k = 0;
        for (; k + 32 <= m; k += 32)
            high = _mm256_max_epu8(high, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tokens + k)));
        uint32_t tail = 0;
        for (; k < m; ++k) tail = std::max<uint32_t>(tail, tokens[k]);
        const __m256i over = _mm256_subs_epu8(high, _mm256_set1_epi8(static_cast<char>(max_tok)));
        if (!_mm256_testz_si256(over, over) || tail > max_tok) {
            bad = true;
            return 0;
        }
    }
    // Tokens are <= 63 from here: signed byte compares and 16-bit shifts serve.
    const __m256i b2 = _mm256_set1_epi8(2), b3 = _mm256_set1_epi8(3), b4 = _mm256_set1_epi8(4);
    const __m256i b15 = _mm256_set1_epi8(15), b16 = _mm256_set1_epi8(16), b63 = _mm256_set1_epi8(63);
    uint64_t pos = pos_ref;
    size_t k = 0;
    alignas(32) uint8_t last[32];
    while (k + 8 <= m) {
        const uint8_t* src = tokens + k;
        if (m - k < 32) {  // the last groups: from a copy (zeros beyond m are never used)
            std::memset(last, 0, sizeof last);
            std::memcpy(last, src, m - k);
            src = last;
        }
        const __m256i t = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
        const __m256i big = _mm256_cmpgt_epi8(t, b15);
        // Extra bits e - 3 = 2 + (t - 16) / 4; lead = 4 | (t - 16) % 4 (t itself below 16).
        const __m256i nb =
            _mm256_and_si256(big, _mm256_add_epi8(_mm256_and_si256(_mm256_srli_epi16(_mm256_sub_epi8(t, b16), 2), b63), b2));
        const __m256i lead = _mm256_blendv_epi8(t, _mm256_or_si256(_mm256_and_si256(t, b3), b4), big);
        // Inclusive prefix sums within each group of 8 bytes, and the exclusive ones.
        __m256i sum = _mm256_add_epi8(nb, _mm256_slli_epi64(nb, 8));
        sum = _mm256_add_epi8(sum, _mm256_slli_epi64(sum, 16));
        sum = _mm256_add_epi8(sum, _mm256_slli_epi64(sum, 32));
        const __m256i ex = _mm256_sub_epi8(sum, nb);
        const __m128i ex0 = _mm256_castsi256_si128(ex), ex1 = _mm256_extracti128_si256(ex, 1);
        const __m128i nb0 = _mm256_castsi256_si128(nb), nb1 = _mm256_extracti128_si256(nb, 1);
        const __m128i lead0 = _mm256_castsi256_si128(lead), lead1 = _mm256_extracti128_si256(lead, 1);
        const __m128i sum0 = _mm256_castsi256_si128(sum), sum1 = _mm256_extracti128_si256(sum, 1);
        // Groups 0-3 of the 32 tokens (the high 8 bytes of a half moved down for 1 and 3).
        if (!narrow_group(ex0, nb0, lead0, sum0, data, size, pos, z + k)) break;
        if ((k += 8) + 8 > m) break;
        if (!narrow_group(_mm_srli_si128(ex0, 8), _mm_srli_si128(nb0, 8), _mm_srli_si128(lead0, 8),
                          _mm_srli_si128(sum0, 8), data, size, pos, z + k))
            break;
        if ((k += 8) + 8 > m) break;
        if (!narrow_group(ex1, nb1, lead1, sum1, data, size, pos, z + k)) break;
        if ((k += 8) + 8 > m) break;
        if (!narrow_group(_mm_srli_si128(ex1, 8), _mm_srli_si128(nb1, 8), _mm_srli_si128(lead1, 8),
                          _mm_srli_si128(sum1, 8), data, size, pos, z + k))
            break;
        k += 8;
    }
    pos_ref = pos;
    return k;
}

// AVX2, 32-bit dtypes: 8 tokens per vector, the same prefix sum of extra-bit counts.
// Fields are <= 29 bits (240 bits for 8), so 64-bit lanes and two 16-byte windows, one
// per 4 fields, each copied to both 128-bit halves for the in-half byte shuffle (AVX2 has
// no cross-lane one) that moves each field's 5 bytes into its lane (byte shuffles cost
// less than the two 4-lane 64-bit gathers that would do the same). Same contract as
// avx512_tokens.
QSTORE_TARGET_AVX2 size_t avx2_tokens_wide(const uint8_t* tokens, size_t m, uint32_t max_tok,
                                           const uint8_t* data, size_t size, uint64_t& pos_ref,
                                           uint32_t* z, bool& bad) {
    const __m256i one = _mm256_set1_epi32(1), two = _mm256_set1_epi32(2), three = _mm256_set1_epi32(3);
    const __m256i four = _mm256_set1_epi32(4), seven = _mm256_set1_epi32(7);
    const __m256i fifteen = _mm256_set1_epi32(15), sixteen = _mm256_set1_epi32(16);
    const __m256i maxv = _mm256_set1_epi32(static_cast<int>(max_tok));
    // Byte k < 5 of qword lane i <- byte 0 of lane i, plus k; bytes 5-7 <- 0x80 (zero).
    const __m256i spread5 = _mm256_setr_epi64x(0x0000000000000000LL, 0x0000000808080808LL, 0x0000000000000000LL,
                                               0x0000000808080808LL);
    const __m256i ramp5 = _mm256_set1_epi64x(static_cast<long long>(0x8080800403020100ULL));
    // Bytes read from `byte` on: 16 from field 4's byte (<= 4 x 29 + 7 bits in), + 16.
    constexpr size_t kReach = 32;
    uint64_t pos = pos_ref;
    __m256i any_bad = _mm256_setzero_si256();
    size_t k = 0;
    for (; k + 8 <= m; k += 8) {
        const size_t byte = static_cast<size_t>(pos >> 3);
        if (size < kReach || byte > size - kReach) break;
        const __m256i t = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(tokens + k)));
        any_bad = _mm256_or_si256(any_bad, _mm256_cmpgt_epi32(t, maxv));
        const __m256i big = _mm256_cmpgt_epi32(t, fifteen);
        const __m256i u = _mm256_sub_epi32(_mm256_min_epu32(t, maxv), sixteen);
        const __m256i nb = _mm256_and_si256(big, _mm256_add_epi32(_mm256_srli_epi32(u, 2), two));
        // Inclusive prefix sum: within each half, then the low half's total into the high.
        __m256i s = _mm256_add_epi32(nb, _mm256_slli_si256(nb, 4));
        s = _mm256_add_epi32(s, _mm256_slli_si256(s, 8));
        s = _mm256_add_epi32(s, _mm256_shuffle_epi32(_mm256_permute2x128_si256(s, s, 0x08), 0xFF));
        // Bit offset of each field from `byte` (exclusive prefix sum).
        const __m256i rel = _mm256_add_epi32(_mm256_sub_epi32(s, nb), _mm256_set1_epi32(static_cast<int>(pos & 7)));
        const __m256i fb = _mm256_srli_epi32(rel, 3);
        const __m256i sh = _mm256_and_si256(rel, seven);
        // Fields 0-3 from a window at `byte`, fields 4-7 from one at field 4's byte:
        // 4 fields span <= 4 x 29 + 7 bits, and each field's 5 bytes (36 bits with
        // its shift) lie in its window. Bytes 5-7 of each qword lane are zeroed.
        const uint32_t byte4 = static_cast<uint32_t>(_mm_cvtsi128_si32(_mm256_extracti128_si256(fb, 1)));
        const __m256i window_lo =
            _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + byte)));
        const __m256i window_hi =
            _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(data + byte + byte4)));
        const __m256i fb_lo = _mm256_cvtepu32_epi64(_mm256_castsi256_si128(fb));
        const __m256i fb_hi = _mm256_cvtepu32_epi64(
            _mm_sub_epi32(_mm256_extracti128_si256(fb, 1), _mm_set1_epi32(static_cast<int>(byte4))));
        const __m256i g_lo =
            _mm256_shuffle_epi8(window_lo, _mm256_add_epi64(_mm256_shuffle_epi8(fb_lo, spread5), ramp5));
        const __m256i g_hi =
            _mm256_shuffle_epi8(window_hi, _mm256_add_epi64(_mm256_shuffle_epi8(fb_hi, spread5), ramp5));
        const __m256i v_lo = _mm256_srlv_epi64(g_lo, _mm256_cvtepu32_epi64(_mm256_castsi256_si128(sh)));
        const __m256i v_hi = _mm256_srlv_epi64(g_hi, _mm256_cvtepu32_epi64(_mm256_extracti128_si256(sh, 1)));
        // The low dwords of the 8 qwords, in lane order.
        const __m256i even = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
        const __m256i val = _mm256_and_si256(_mm256_permute2x128_si256(_mm256_permutevar8x32_epi32(v_lo, even),
                                                                       _mm256_permutevar8x32_epi32(v_hi, even), 0x20),
                                             _mm256_sub_epi32(_mm256_sllv_epi32(one, nb), one));
        const __m256i lead = _mm256_sllv_epi32(_mm256_or_si256(four, _mm256_and_si256(u, three)), nb);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(z + k), _mm256_blendv_epi8(t, _mm256_or_si256(lead, val), big));
        pos += static_cast<uint32_t>(_mm256_extract_epi32(s, 7));
    }
    pos_ref = pos;
    bad = !_mm256_testz_si256(any_bad, any_bad);
    return k;
}
#endif  // QSTORE_X86_KERNELS

}  // namespace

void tokens_to_z(const uint8_t* tokens, size_t m, int dtype_bits, ExtraBitReader& r, uint32_t* z, KernelSet isa,
                 const std::string& what) {
    const uint32_t max_tok = max_token(dtype_bits);
    size_t done = 0;
    (void)isa;
#if QSTORE_X86_KERNELS
    if (isa == KernelSet::avx512) {
        bool bad = false;
        done = dtype_bits > 16 ? avx512_tokens<true>(tokens, m, max_tok, r.data, r.size, r.pos, z, bad)
                               : avx512_tokens<false>(tokens, m, max_tok, r.data, r.size, r.pos, z, bad);
        if (bad) fail(Errc::corrupt, what + ": residual token out of range");
    } else if (isa == KernelSet::avx2) {
        bool bad = false;
        done = dtype_bits > 16 ? avx2_tokens_wide(tokens, m, max_tok, r.data, r.size, r.pos, z, bad)
                               : avx2_tokens_narrow(tokens, m, max_tok, r.data, r.size, r.pos, z, bad);
        if (bad) fail(Errc::corrupt, what + ": residual token out of range");
    }
#endif
    scalar_tokens(tokens + done, m - done, max_tok, r, z + done, what);
}

void extra_bits_finish(const ExtraBitReader& r, const std::string& what) {
    if ((r.pos + 7) / 8 != r.size) fail(Errc::corrupt, what + ": trailing residual extra bits");
}

}  // namespace qstore
