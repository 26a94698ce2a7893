#include "entropy/rans_word.hpp"


#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.hpp"
#include "base/reusable_bytes.hpp"
#include "base/simd.hpp"

namespace qstore {

// 64 x 64 -> 128-bit products (a GCC and Clang extension; __extension__ keeps -Wpedantic quiet).
__extension__ typedef unsigned __int128 u128;

// ---- models ----

// ---- encoder ----

namespace {

#if QSTORE_X86_KERNELS
// Encodes groups [0, groups) of `lanes` (16, 32 or 64) symbols, last group first, 16
// lanes per vector, exactly as the scalar loop does: the same words in the same places.
// `packed[c * 256 + s]` is freq | start << 16 of the scaled model. The division x / f
// is a float64 division of exact operands: its rounding cannot cross an integer (x /
// f is an integer or at least 1/f >= 2^-12 from one; half an ulp of a value below
// 2^32 is at most 2^-21), so its truncation is exact.
// kOneModel (context is null): see `table` below; a separate build, so that the
// contexts' build keeps those registers for itself.
template <bool kOneModel>
QSTORE_TARGET_AVX512 uint8_t* avx512_encode_groups(
    const uint8_t* symbols, const uint8_t* context, size_t groups, int lanes, const uint32_t* packed, int scale_bits,
                                                   uint32_t* xs, uint8_t* p, bool& no_freq) {
    const int vectors = lanes / 16;
    __mmask16 missing = 0;
    const __m128i up = _mm_cvtsi32_si128(32 - scale_bits);
    const __m128i scale = _mm_cvtsi32_si128(scale_bits);
    const __m512i low16 = _mm512_set1_epi32(0xFFFF);
    // One model (no contexts): its 256 entries in 16 registers, looked up by permutes
    // (8 of 32 entries each, then 3 selects by the symbol's top bits) instead of a gather.
    __m512i table[16];
    if constexpr (kOneModel)
        for (int k = 0; k < 16; ++k) table[k] = _mm512_loadu_si512(packed + 16 * k);
    for (size_t g = groups; g-- > 0;) {
        for (int v = vectors; v-- > 0;) {
            const size_t i0 = g * static_cast<size_t>(lanes) + 16 * static_cast<size_t>(v);
            __m512i x = _mm512_loadu_si512(xs + 16 * v);
            const __m512i sym = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(symbols + i0)));
            __m512i e;
            if constexpr (!kOneModel) {
                const __m512i index = _mm512_or_si512(
                    sym, _mm512_slli_epi32(
                             _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(context + i0))), 8));
                e = _mm512_i32gather_epi32(index, packed, 4);
            } else {
                __m512i part[8];
                for (int k = 0; k < 8; ++k) part[k] = _mm512_permutex2var_epi32(table[2 * k], sym, table[2 * k + 1]);
                const __mmask16 b5 = _mm512_test_epi32_mask(sym, _mm512_set1_epi32(32));
                const __mmask16 b6 = _mm512_test_epi32_mask(sym, _mm512_set1_epi32(64));
                const __mmask16 b7 = _mm512_test_epi32_mask(sym, _mm512_set1_epi32(128));
                const __m512i q0 = _mm512_mask_blend_epi32(b6, _mm512_mask_blend_epi32(b5, part[0], part[1]),
                                                           _mm512_mask_blend_epi32(b5, part[2], part[3]));
                const __m512i q1 = _mm512_mask_blend_epi32(b6, _mm512_mask_blend_epi32(b5, part[4], part[5]),
                                                           _mm512_mask_blend_epi32(b5, part[6], part[7]));
                e = _mm512_mask_blend_epi32(b7, q0, q1);
            }
            const __m512i f = _mm512_and_si512(e, low16);
            missing |= _mm512_testn_epi32_mask(f, f);
            const __m512i start = _mm512_srli_epi32(e, 16);
            // Renormalize where x >= f << (32 - S), i.e. x >> (32 - S) >= f (no overflow
            // when f = 2^S): those lanes' low words go below p, in increasing lane order.
            const __mmask16 m = _mm512_cmpge_epu32_mask(_mm512_srl_epi32(x, up), f);
            const int count = __builtin_popcount(m);
            // The words go to the top `count` lanes (compress, then expand upwards) and
            // one whole 32-byte store ends at p: what it writes below the new p is
            // overwritten later (the output only grows downwards), and the stack keeps
            // room below it. A masked store to memory is microcoded on some CPUs.
            const __mmask16 top = static_cast<__mmask16>(0xFFFFu << (16 - count));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(p - 32),
                                _mm512_cvtepi32_epi16(_mm512_maskz_expand_epi32(top, _mm512_maskz_compress_epi32(m, x))));
            p -= 2 * count;
            x = _mm512_mask_srli_epi32(x, m, x, 16);
            // q = x / f; x = q << S | (x - q * f) + start.
            const __m512d x_lo = _mm512_cvtepu32_pd(_mm512_castsi512_si256(x));
            const __m512d x_hi = _mm512_cvtepu32_pd(_mm512_extracti64x4_epi64(x, 1));
            const __m512d f_lo = _mm512_cvtepu32_pd(_mm512_castsi512_si256(f));
            const __m512d f_hi = _mm512_cvtepu32_pd(_mm512_extracti64x4_epi64(f, 1));
            const __m256i q_lo = _mm512_cvttpd_epu32(_mm512_div_pd(x_lo, f_lo));
            const __m256i q_hi = _mm512_cvttpd_epu32(_mm512_div_pd(x_hi, f_hi));
            const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(q_lo), q_hi, 1);
            const __m512i r = _mm512_sub_epi32(x, _mm512_mullo_epi32(q, f));
            x = _mm512_add_epi32(_mm512_add_epi32(_mm512_sll_epi32(q, scale), r), start);
            _mm512_storeu_si512(xs + 16 * v, x);
        }
    }
    no_freq = no_freq || missing;
    return p;
}

// kCompressTop[m] = byte shuffle that moves the 16-bit words of the lanes set in m (of
// 8 words) to the top of 16 bytes, in increasing lane order; the bytes below are 0.
struct CompressTop8 {
    alignas(16) uint8_t idx[256][16];
    constexpr CompressTop8() : idx{} {
        for (int m = 0; m < 256; ++m) {
            int count = 0;
            for (int k = 0; k < 8; ++k) count += (m >> k) & 1;
            int slot = 8 - count;
            for (int b = 0; b < 16; ++b) idx[m][b] = 0x80;
            for (int k = 0; k < 8; ++k) {
                if (!((m >> k) & 1)) continue;
                idx[m][2 * slot] = static_cast<uint8_t>(2 * k);
                idx[m][2 * slot + 1] = static_cast<uint8_t>(2 * k + 1);
                ++slot;
            }
        }
    }
};
constexpr CompressTop8 kCompressTop8{};

// x / f for 4 lanes as float64 (exact: see avx512_encode_groups), x below 2^32 taken as
// unsigned (AVX2 converts signed int32 only: the exponent trick instead), the quotient
// below 2^31 (x < f << (32 - S), and S >= 1: a model of scale 0 has no symbols, so a
// payload of scale 0 codes none): truncation is floor.
QSTORE_TARGET_AVX2 inline __m128i avx2_div4(__m128i x, __m128i f) {
    const __m256i magic = _mm256_set1_epi64x(0x4330000000000000LL);  // 2^52
    const __m256d xd = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_cvtepu32_epi64(x), magic)),
                                     _mm256_castsi256_pd(magic));
    return _mm256_cvttpd_epi32(_mm256_div_pd(xd, _mm256_cvtepi32_pd(f)));  // f <= 2^12
}

// avx512_encode_groups with 8 lanes per vector (lanes 8 to 64): the same words in the
// same places.
QSTORE_TARGET_AVX2 uint8_t* avx2_encode_groups(const uint8_t* symbols, const uint8_t* context,
                                               size_t groups, int lanes, const uint32_t* packed,
                                               int scale_bits, uint32_t* xs, uint8_t* p,
                                               bool& no_freq) {
    const int vectors = lanes / 8;
    __m256i missing = _mm256_setzero_si256();
    const __m128i up = _mm_cvtsi32_si128(32 - scale_bits);
    const __m256i total = _mm256_set1_epi32(1 << scale_bits);
    const __m256i low16 = _mm256_set1_epi32(0xFFFF);
    const __m256i zero = _mm256_setzero_si256();
    // The low 16 bits of each dword lane, packed into the low 8 bytes of each half.
    const __m256i words = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                           0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
    for (size_t g = groups; g-- > 0;) {
        for (int v = vectors; v-- > 0;) {
            const size_t i0 = g * static_cast<size_t>(lanes) + 8 * static_cast<size_t>(v);
            __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xs + 8 * v));
            __m256i index = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(symbols + i0)));
            if (context)
                index = _mm256_or_si256(
                    index, _mm256_slli_epi32(
                               _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(context + i0))), 8));
            const __m256i e = _mm256_i32gather_epi32(reinterpret_cast<const int*>(packed), index, 4);
            const __m256i f = _mm256_and_si256(e, low16);
            missing = _mm256_or_si256(missing, _mm256_cmpeq_epi32(f, zero));
            const __m256i start = _mm256_srli_epi32(e, 16);
            // Renormalize where x >> (32 - S) >= f (both below 2^13: a signed compare).
            const __m256i renorm = _mm256_xor_si256(_mm256_cmpgt_epi32(f, _mm256_srl_epi32(x, up)),
                                                    _mm256_set1_epi32(-1));
            const unsigned m = static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(renorm)));
            const int count = __builtin_popcount(m);
            // One 16-byte store ends at p (what it writes below the new p is overwritten
            // later, and the stack keeps room below it).
            const __m256i w = _mm256_shuffle_epi8(x, words);
            const __m128i w8 = _mm_unpacklo_epi64(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(p - 16),
                             _mm_shuffle_epi8(w8, _mm_load_si128(reinterpret_cast<const __m128i*>(kCompressTop8.idx[m]))));
            p -= 2 * count;
            x = _mm256_blendv_epi8(x, _mm256_srli_epi32(x, 16), renorm);
            // q = x / f; x = q << S | (x - q * f) + start.
            const __m256i q = _mm256_set_m128i(avx2_div4(_mm256_extracti128_si256(x, 1), _mm256_extracti128_si256(f, 1)),
                                               avx2_div4(_mm256_castsi256_si128(x), _mm256_castsi256_si128(f)));
            // q << S | (x - q * f) = x + q * (2^S - f).
            x = _mm256_add_epi32(_mm256_add_epi32(x, start), _mm256_mullo_epi32(q, _mm256_sub_epi32(total, f)));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(xs + 8 * v), x);
        }
    }
    no_freq = no_freq || !_mm256_testz_si256(missing, missing);
    return p;
}
#endif  // QSTORE_X86_KERNELS

// The caller's invariants, checked because a broken one would silently lose data:
// contexts in range (here: a value >= 16 leaves a bit above 15 in the OR of all, a
// reduction without dependencies from element to element) and a frequency for every
// symbol (in the coding loops: a missing one reads a zero table entry).
void check_contexts(const uint8_t* context, size_t n) {
    static_assert(kWordRansContexts == 16, "contexts: 0..15");
    uint32_t all_bits = 0;
    if (context)
        for (size_t i = 0; i < n; ++i) all_bits |= context[i];
    if (all_bits >= kWordRansContexts) fail(Errc::internal, "word rANS: context out of range");
}

// The encoding tables of the models of `contexts` contexts, scaled up to scale_bits.
// Every packed entry of every context is written (zero without a frequency: both
// coding loops check that); the scalar loop's entries only for the symbols present.
void build_encode_tables(const RansModel* models, int contexts, int scale_bits, WordRansEncodeScratch& scratch) {
    std::vector<WordRansEncSymbol>& table = scratch.table;
    std::vector<uint32_t>& packed = scratch.packed;
    table.resize(kWordRansContexts * 256);
    packed.resize(kWordRansContexts * 256);
    for (int c = 0; c < contexts; ++c) {
        const RansModel& m = models[c];
        if (m.scale_bits > scale_bits) fail(Errc::internal, "word rANS: model scale above the payload scale");
        const int up = scale_bits - m.scale_bits;
        uint32_t* const pk = packed.data() + c * 256;
        std::fill(pk, pk + 256, 0u);
        for (int s = 0; s < m.coded_symbols(); ++s) {
            const uint32_t f = m.freq[s] << up;
            if (!f) continue;
            WordRansEncSymbol& e = table[c * 256 + s];
            e.x_max = static_cast<uint64_t>(f) << (32 - scale_bits);
            e.rcp = ceil_pow2_div(44, f);
            e.bias = m.start[s] << up;
            e.cmpl = (1u << scale_bits) - f;
            pk[s] = f | e.bias << 16;
        }
    }
}

}  // namespace

void word_rans_encode(KernelSet kernels, const uint8_t* symbols, const uint8_t* context, size_t n, int lanes,
                      const RansModel* models, int scale_bits, WordRansEncodeScratch& scratch, ByteVector& out) {
    if (!word_rans_lanes_valid(lanes) || scale_bits < 0 || scale_bits > kRansMaxScaleBits)
        fail(Errc::internal, "word rANS: bad lanes or scale");
    check_contexts(context, n);
    build_encode_tables(models, context ? kWordRansContexts : 1, scale_bits, scratch);
    const std::vector<uint32_t>& packed = scratch.packed;
    const WordRansEncSymbol* const tab = scratch.table.data();
    // Backwards into a stack; the decoder reads forwards. One word per symbol at most,
    // and below them the final states (4 * lanes >= 64 bytes with the vector kernel,
    // whose 32-byte stores reach up to 32 bytes below the words).
    const size_t stack_size = 2 * n + 4 * static_cast<size_t>(lanes);
    uint8_t* const end = scratch.stack.reserve(stack_size) + stack_size;
    uint8_t* p = end;
    uint32_t x[kWordRansMaxLanes];
    for (int k = 0; k < lanes; ++k) x[k] = kWordRansLow;
    const size_t lane_mask = static_cast<size_t>(lanes) - 1;
    // The scalar loop takes the symbols from `stop` down; with a vector kernel, the
    // last (partial) group only, and the kernel the whole groups before it.
    size_t stop = 0;
#if QSTORE_X86_KERNELS
    if ((lanes >= 16 && kernels == KernelSet::avx512) || (lanes >= 8 && kernels == KernelSet::avx2))
        stop = n / static_cast<size_t>(lanes) * static_cast<size_t>(lanes);
#else
    (void)kernels;
#endif
    bool no_freq = false;
    for (size_t i = n; i-- > stop;) {
        uint32_t& s = x[i & lane_mask];
        const uint32_t entry = (context ? context[i] * 256u : 0u) + symbols[i];
        const WordRansEncSymbol& e = tab[entry];
        no_freq |= packed[entry] == 0;  // then e is stale, and the result is thrown away
        // Renormalization without a branch (it happens on a random ~third of the
        // symbols): the word is always written below p, and p moves only if it counts.
        // Arithmetic, not ?: — GCC turns a select on this condition into a branch.
        const uint32_t renorm = s >= e.x_max;
        p[-2] = static_cast<uint8_t>(s);
        p[-1] = static_cast<uint8_t>(s >> 8);
        p -= 2 * renorm;
        s >>= 16 * renorm;
        const uint32_t q = static_cast<uint32_t>((static_cast<u128>(s) * e.rcp) >> 44);
        s = s + e.bias + q * e.cmpl;
    }
#if QSTORE_X86_KERNELS
    if (stop && kernels == KernelSet::avx512)
        p = context ? avx512_encode_groups<false>(symbols, context, stop / static_cast<size_t>(lanes), lanes,
                                                  packed.data(), scale_bits, x, p, no_freq)
                    : avx512_encode_groups<true>(symbols, nullptr, stop / static_cast<size_t>(lanes), lanes,
                                                 packed.data(), scale_bits, x, p, no_freq);
    else if (stop)
        p = avx2_encode_groups(symbols, context, stop / static_cast<size_t>(lanes), lanes, packed.data(), scale_bits, x,
                               p, no_freq);
#endif
    if (no_freq) fail(Errc::internal, "word rANS: symbol without frequency");
    for (int k = lanes; k-- > 0;)
        for (int b = 3; b >= 0; --b) *--p = static_cast<uint8_t>(x[k] >> (8 * b));
    put_bytes(out, p, static_cast<size_t>(end - p));
}

// ---- decoding table ----

namespace {

constexpr uint32_t kInvalidEntry = 255;  // symbol 255, bias 0, freq 1

#if QSTORE_X86_KERNELS
// rans_fill_slots with 16-entry stores: small blocks' tables, their models scaled up to
// the block's scale, hold several times more entries than the block has symbols.
QSTORE_TARGET_AVX512 void avx512_fill_slots(const RansModelSymbols& m, int up, uint32_t* slots) {
    // head | k << 8 == head + (k << 8): the bias field of head is zero.
    const __m512i ramp = _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 8);
    const __m512i step = _mm512_set1_epi32(16 << 8);
    uint32_t start = 0;
    for (int j = 0; j < m.count; ++j) {
        const uint32_t f = static_cast<uint32_t>(m.freq[j]) << up;
        const uint32_t head = static_cast<uint32_t>(m.symbol[j]) | (f - 1) << 20;
        uint32_t* const dst = slots + start;
        __m512i v = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(head)), ramp);
        uint32_t k = 0;
        for (; k + 16 <= f; k += 16, v = _mm512_add_epi32(v, step)) _mm512_storeu_si512(dst + k, v);
        if (k < f) _mm512_mask_storeu_epi32(dst + k, static_cast<__mmask16>((1u << (f - k)) - 1), v);
        start += f;
    }
}
#endif

void fill_slots(KernelSet kernels, const RansModelSymbols& m, int up, uint32_t* slots) {
#if QSTORE_X86_KERNELS
    if (kernels == KernelSet::avx512) return avx512_fill_slots(m, up, slots);
#else
    (void)kernels;
#endif
    rans_fill_slots(m, up, slots);
}

// With `invalid_section` false the section for contexts without a model is left out
// (and such contexts point at the first model): only for callers whose contexts all
// have models, like whole streams of one context.
WordRansTableView build_table(KernelSet kernels, const RansModelSymbols* models, uint16_t used,
                              WordRansTableStorage& storage, bool invalid_section = true) {
    WordRansTableView v;
    int scale = 0;
    int count = 0;
    for (int c = 0; c < kWordRansContexts; ++c)
        if (used & (1u << c)) {
            scale = std::max(scale, models[c].scale_bits);
            ++count;
        }
    const uint32_t size = 1u << scale;
    std::vector<uint32_t>& slots_store = storage.slots;
    // Only ever grown: a shrinking resize followed by a growing one would zero-fill.
    if (slots_store.size() < (static_cast<size_t>(count + 1) << scale))
        slots_store.resize(static_cast<size_t>(count + 1) << scale);
    uint32_t* slots = slots_store.data();
    uint32_t at = 0;
    if (invalid_section) {
        // Section 0 (contexts without a model) holds only the invalid entry: filled as far
        // as an earlier table did not already (small blocks would otherwise spend as much
        // on it as on their own models).
        if (storage.invalid_entries < size) std::fill(slots + storage.invalid_entries, slots + size, kInvalidEntry);
        at = size;
    }
    for (int c = 0; c < kWordRansContexts; ++c) {
        v.base[c] = 0;
        if (!(used & (1u << c))) continue;
        v.base[c] = at;
        fill_slots(kernels, models[c], scale - models[c].scale_bits, slots + at);
        at += size;
    }
    // The models' sections begin where section 0 ends: what lay beyond it is overwritten.
    storage.invalid_entries = invalid_section ? size : 0;
    v.slots = slots;
    v.scale_bits = scale;
    return v;
}

}  // namespace

WordRansTableView word_rans_read_table(KernelSet kernels, ByteReader& r, uint16_t used,
                                       WordRansTableStorage& storage, const std::string& what) {
    RansModelSymbols models[kWordRansContexts];
    for (int c = 0; c < kWordRansContexts; ++c)
        if (used & (1u << c)) rans_read_model_symbols(r, what, models[c]);
    return build_table(kernels, models, used, storage);
}

WordRansTableView word_rans_build_table(KernelSet kernels, const RansModel* models, uint16_t used,
                                        WordRansTableStorage& storage) {
    std::vector<RansModelSymbols> symbols(kWordRansContexts);
    for (int c = 0; c < kWordRansContexts; ++c)
        if (used & (1u << c)) symbols[c] = rans_model_symbols(models[c]);
    return build_table(kernels, symbols.data(), used, storage);
}

// ---- decoder ----

WordRansDecoder::WordRansDecoder(const uint8_t* payload, size_t size, int lanes, const std::string& what)
    : lanes_(lanes), p_(payload), end_(payload + size), what_(what) {
    if (!word_rans_lanes_valid(lanes)) rans_corrupt(what, "bad lane count");
    if (size < 4 * static_cast<size_t>(lanes)) rans_corrupt(what, "payload too short");
    for (int k = 0; k < lanes; ++k) {
        x_[k] = static_cast<uint32_t>(load_le(p_, 4));
        p_ += 4;
        if (x_[k] < kWordRansLow) rans_corrupt(what, "bad initial state");
    }
}

void WordRansDecoder::finish() const {
    for (int k = 0; k < lanes_; ++k)
        if (x_[k] != kWordRansLow) rans_corrupt(what_, "stream does not end in its initial state");
    if (p_ != end_) rans_corrupt(what_, "trailing bytes after the payload");
}

namespace {

inline uint32_t load_u16(const uint8_t* p) { return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8; }

// One step of the reference decoder. A context >= 16 is taken mod 16 (as the SIMD
// kernels' permutes do); the residual's contexts are always < 16.
template <bool kChecked>
inline uint8_t word_step(uint32_t& x, const uint8_t*& p, const uint8_t* end, const WordRansTableView& t, uint8_t ctx,
                         const std::string& what) {
    const uint32_t mask = (1u << t.scale_bits) - 1;
    const uint32_t e = t.slots[t.base[ctx & 15] + (x & mask)];
    x = ((e >> 20) + 1) * (x >> t.scale_bits) + ((e >> 8) & 0xFFF);
    if constexpr (kChecked) {
        if (x < kWordRansLow) {
            if (end - p < 2) rans_corrupt(what, "payload ends early");
            x = (x << 16) | load_u16(p);
            p += 2;
        }
    } else {  // branch-free (whether a lane renormalizes is unpredictable); 2 bytes are there
        const uint32_t need = 0u - static_cast<uint32_t>(x < kWordRansLow);
        x = (x & ~need) | (((x << 16) | load_u16(p)) & need);
        p += 2 & need;
    }
    return static_cast<uint8_t>(e);
}

// Whole groups, scalar; stops early only for lack of bytes when `unchecked_only`.
void scalar_groups(uint32_t* x, int lanes, const uint8_t*& p, const uint8_t* end, const WordRansTableView& t,
                   const uint8_t* ctx, size_t groups, uint8_t* out, const std::string& what) {
    const size_t n = static_cast<size_t>(lanes);
    for (size_t g = 0; g < groups; ++g, ctx += n, out += n) {
        if (end - p >= static_cast<ptrdiff_t>(2 * n)) {
            for (size_t j = 0; j < n; ++j) out[j] = word_step<false>(x[j], p, end, t, ctx[j], what);
        } else {
            for (size_t j = 0; j < n; ++j) out[j] = word_step<true>(x[j], p, end, t, ctx[j], what);
        }
    }
}

#if QSTORE_X86_KERNELS
// ---- AVX2: 8 lanes per vector ----

// kExpand8[m][k] = index of the word for lane k under renormalization mask m: the
// number of set bits of m below k (lanes take consecutive words in increasing order).
struct Expand8 {
    alignas(32) uint32_t idx[256][8];
    constexpr Expand8() : idx{} {
        for (int m = 0; m < 256; ++m) {
            int r = 0;
            for (int k = 0; k < 8; ++k) {
                idx[m][k] = static_cast<uint32_t>(r);
                if (m & (1 << k)) ++r;
            }
        }
    }
};
constexpr Expand8 kExpand8{};

// slots[i[k]] for k < 4 by scalar loads, inserted into a register.
QSTORE_TARGET_AVX2 QSTORE_ALWAYS_INLINE __m128i load_quad(const uint32_t* slots, const uint32_t* i) {
    const __m128i lo = _mm_insert_epi32(_mm_cvtsi32_si128(static_cast<int>(slots[i[0]])), static_cast<int>(slots[i[1]]), 1);
    const __m128i hi = _mm_insert_epi32(_mm_cvtsi32_si128(static_cast<int>(slots[i[2]])), static_cast<int>(slots[i[3]]), 1);
    return _mm_unpacklo_epi64(lo, hi);
}

// slots[idx[k]] for the 8 lanes of idx without vpgatherdd (which runs 2-3x slower on
// Intel CPUs with the GDS microcode mitigation): the indices go through memory, the
// entries are loaded one by one and inserted into the register.
QSTORE_TARGET_AVX2 QSTORE_ALWAYS_INLINE __m256i avx2_lookup_loads(const uint32_t* slots, __m256i idx) {
    alignas(32) uint32_t i[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(i), idx);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(load_quad(slots, i)), load_quad(slots, i + 4), 1);
}

// slots[idx[k]] for the 8 lanes of idx, by a gather or by scalar loads.
template <bool kGather>
QSTORE_TARGET_AVX2 QSTORE_ALWAYS_INLINE __m256i avx2_lookup(const uint32_t* slots, __m256i idx) {
    if constexpr (kGather) return _mm256_i32gather_epi32(reinterpret_cast<const int*>(slots), idx, 4);
    else return avx2_lookup_loads(slots, idx);
}

// The symbols (low bytes) of n = 8 * V table entries, in order.
template <int V>
QSTORE_TARGET_AVX2 QSTORE_ALWAYS_INLINE void avx2_pack_symbols(const uint32_t* e, uint8_t* out) {
    const __m256i low8 = _mm256_set1_epi32(0xFF);
    if constexpr (V % 4 == 0) {
        // 32 at a time: two packs (which interleave the 128-bit halves), then one permute.
        const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        for (int k = 0; k < 8 * V; k += 32) {
            const __m256i* q = reinterpret_cast<const __m256i*>(e + k);
            const __m256i w01 = _mm256_packus_epi32(_mm256_and_si256(_mm256_load_si256(q), low8),
                                                    _mm256_and_si256(_mm256_load_si256(q + 1), low8));
            const __m256i w23 = _mm256_packus_epi32(_mm256_and_si256(_mm256_load_si256(q + 2), low8),
                                                    _mm256_and_si256(_mm256_load_si256(q + 3), low8));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + k),
                                _mm256_permutevar8x32_epi32(_mm256_packus_epi16(w01, w23), order));
        }
    } else {
        const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,  //
                                              0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
        for (int k = 0; k < 8 * V; k += 8) {
            const __m256i sym = _mm256_shuffle_epi8(_mm256_load_si256(reinterpret_cast<const __m256i*>(e + k)), pick);
            _mm_storel_epi64(reinterpret_cast<__m128i*>(out + k),
                             _mm_unpacklo_epi32(_mm256_castsi256_si128(sym), _mm256_extracti128_si256(sym, 1)));
        }
    }
}

// kContexts false: every base is 0 and the contexts are not read. kGather false: the
// table lookups by scalar loads (avx2_lookup_loads).
template <int V, bool kContexts, bool kGather>
QSTORE_TARGET_AVX2 size_t avx2_groups(uint32_t* xs, const uint8_t*& p_ref, const uint8_t* end,
                                      const WordRansTableView& t, const uint8_t* ctx,
                                      size_t groups, uint8_t* out) {
    constexpr int N = 8 * V;
    __m256i x[V];
    for (int v = 0; v < V; ++v) x[v] = _mm256_load_si256(reinterpret_cast<const __m256i*>(xs + 8 * v));
    const __m256i mask = _mm256_set1_epi32(static_cast<int>((1u << t.scale_bits) - 1));
    const __m128i shift = _mm_cvtsi32_si128(t.scale_bits);
    // A context's section k (base = k << S, k <= 16) by one byte shuffle of 16 contexts
    // (their low 4 bits, as the scalar step's c & 15): the 16 k as bytes, in order (the
    // packs work within 128-bit halves; the permute puts the 64-bit quarters in order).
    const __m256i k16 = _mm256_permute4x64_epi64(
        _mm256_packus_epi32(_mm256_srl_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.base.data())), shift),
                            _mm256_srl_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.base.data() + 8)), shift)),
        0xD8);
    const __m128i sections = _mm_packus_epi16(_mm256_castsi256_si128(k16), _mm256_extracti128_si256(k16, 1));
    const __m128i low4 = _mm_set1_epi8(15);
    // A group's table entries are kept whole and their symbols packed one group later:
    // the packing's instructions then never wait for a gather in the scheduler, where
    // they would keep the next steps' instructions out. For the same reason each group
    // runs in two passes: every vector's gather and state update first, then the
    // renormalizations, which follow each other through p; so every gather of a group
    // is under way before the first renormalization (docs/design/code-notes.md).
    alignas(32) uint32_t entries[2][N];
    const uint8_t* p = p_ref;
    size_t g = 0;
    for (; g < groups; ++g, ctx += N, out += N) {
        if (end - p < 2 * N) break;
        uint32_t* const e_out = entries[g & 1];
        __m128i sec = _mm_setzero_si128();  // sections of vectors v (low 8 bytes) and v + 1
        for (int v = 0; v < V; ++v) {
            __m256i idx = _mm256_and_si256(x[v], mask);
            if constexpr (kContexts) {
                if (v % 2 == 0) {
                    const __m128i c = V == 1 ? _mm_loadl_epi64(reinterpret_cast<const __m128i*>(ctx))
                                             : _mm_loadu_si128(reinterpret_cast<const __m128i*>(ctx + 8 * v));
                    sec = _mm_shuffle_epi8(sections, _mm_and_si128(c, low4));
                } else {
                    sec = _mm_unpackhi_epi64(sec, sec);
                }
                idx = _mm256_add_epi32(idx, _mm256_sll_epi32(_mm256_cvtepu8_epi32(sec), shift));
            }
            const __m256i e = avx2_lookup<kGather>(t.slots, idx);
            _mm256_store_si256(reinterpret_cast<__m256i*>(e_out + 8 * v), e);
            // x = freq * (x >> S) + bias as (freq - 1) * (x >> S) + (x >> S) + bias, and bias
            // by two shifts: no constants, which 64 lanes (8 state registers) cannot spare.
            const __m256i q = _mm256_srl_epi32(x[v], shift);
            const __m256i bias = _mm256_srli_epi32(_mm256_slli_epi32(e, 12), 20);
            x[v] = _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(_mm256_srli_epi32(e, 20), q), q), bias);
        }
        for (int v = 0; v < V; ++v) {
            const __m256i need = _mm256_cmpeq_epi32(_mm256_srli_epi32(x[v], 16), _mm256_setzero_si256());
            const unsigned m = static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(need)));
            __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
            w = _mm256_permutevar8x32_epi32(w, _mm256_load_si256(reinterpret_cast<const __m256i*>(kExpand8.idx[m])));
            x[v] = _mm256_blendv_epi8(x[v], _mm256_or_si256(_mm256_slli_epi32(x[v], 16), w), need);
            p += 2 * __builtin_popcount(m);
        }
        if (g > 0) avx2_pack_symbols<V>(entries[(g - 1) & 1], out - N);
    }
    if (g > 0) avx2_pack_symbols<V>(entries[(g - 1) & 1], out - N);
    for (int v = 0; v < V; ++v) _mm256_store_si256(reinterpret_cast<__m256i*>(xs + 8 * v), x[v]);
    p_ref = p;
    return g;
}

template <bool kContexts, bool kGather>
size_t avx2_groups_for(int lanes, uint32_t* xs, const uint8_t*& p, const uint8_t* end, const WordRansTableView& t,
                       const uint8_t* ctx, size_t groups, uint8_t* out) {
    switch (lanes) {
        case 64: return avx2_groups<8, kContexts, kGather>(xs, p, end, t, ctx, groups, out);
        case 32: return avx2_groups<4, kContexts, kGather>(xs, p, end, t, ctx, groups, out);
        case 16: return avx2_groups<2, kContexts, kGather>(xs, p, end, t, ctx, groups, out);
        default: return avx2_groups<1, kContexts, kGather>(xs, p, end, t, ctx, groups, out);
    }
}

// ---- AVX-512: 16 lanes per vector ----

// avx2_lookup_loads for 16 lanes.
QSTORE_TARGET_AVX512 QSTORE_ALWAYS_INLINE __m512i avx512_lookup_loads(const uint32_t* slots, __m512i idx) {
    alignas(64) uint32_t i[16];
    _mm512_store_si512(i, idx);
    const __m256i lo = _mm256_inserti128_si256(_mm256_castsi128_si256(load_quad(slots, i)), load_quad(slots, i + 4), 1);
    const __m256i hi =
        _mm256_inserti128_si256(_mm256_castsi128_si256(load_quad(slots, i + 8)), load_quad(slots, i + 12), 1);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// avx2_lookup for 16 lanes.
template <bool kGather>
QSTORE_TARGET_AVX512 QSTORE_ALWAYS_INLINE __m512i avx512_lookup(const uint32_t* slots, __m512i idx) {
    if constexpr (kGather) return _mm512_i32gather_epi32(idx, slots, 4);
    else return avx512_lookup_loads(slots, idx);
}

template <int V, bool kGather>
QSTORE_TARGET_AVX512 size_t avx512_groups(
    uint32_t* xs, const uint8_t*& p_ref, const uint8_t* end, const WordRansTableView& t, const uint8_t* ctx,
                                          size_t groups, uint8_t* out) {
    constexpr int N = 16 * V;
    __m512i x[V];
    for (int v = 0; v < V; ++v) x[v] = _mm512_load_si512(xs + 16 * v);
    const __m512i base = _mm512_loadu_si512(t.base.data());
    const __m512i mask = _mm512_set1_epi32(static_cast<int>((1u << t.scale_bits) - 1));
    const __m128i shift = _mm_cvtsi32_si128(t.scale_bits);
    const __m512i one = _mm512_set1_epi32(1), low12 = _mm512_set1_epi32(0xFFF);
    const __m512i low = _mm512_set1_epi32(static_cast<int>(kWordRansLow));
    const uint32_t* slots = t.slots;
    const uint8_t* p = p_ref;
    size_t g = 0;
    for (; g < groups; ++g, ctx += N, out += N) {
        if (end - p < 2 * N) break;
        for (int v = 0; v < V; ++v) {
            const __m512i c = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ctx + 16 * v)));
            const __m512i idx = _mm512_add_epi32(_mm512_permutexvar_epi32(c, base), _mm512_and_si512(x[v], mask));
            const __m512i e = avx512_lookup<kGather>(slots, idx);
            const __m512i freq = _mm512_add_epi32(_mm512_srli_epi32(e, 20), one);
            const __m512i bias = _mm512_and_si512(_mm512_srli_epi32(e, 8), low12);
            x[v] = _mm512_add_epi32(_mm512_mullo_epi32(freq, _mm512_srl_epi32(x[v], shift)), bias);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * v), _mm512_cvtepi32_epi8(e));
            const __mmask16 m = _mm512_cmplt_epu32_mask(x[v], low);
            const __m512i w = _mm512_maskz_expand_epi32(
                m, _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
            x[v] = _mm512_mask_or_epi32(x[v], m, _mm512_slli_epi32(x[v], 16), w);
            p += 2 * __builtin_popcount(m);
        }
    }
    for (int v = 0; v < V; ++v) _mm512_store_si512(xs + 16 * v, x[v]);
    p_ref = p;
    return g;
}
template <bool kGather>
size_t avx512_groups_for(int lanes, uint32_t* xs, const uint8_t*& p, const uint8_t* end, const WordRansTableView& t,
                         const uint8_t* ctx, size_t groups, uint8_t* out) {
    switch (lanes) {
        case 64: return avx512_groups<4, kGather>(xs, p, end, t, ctx, groups, out);
        case 32: return avx512_groups<2, kGather>(xs, p, end, t, ctx, groups, out);
        default: return avx512_groups<1, kGather>(xs, p, end, t, ctx, groups, out);
    }
}
#endif  // QSTORE_X86_KERNELS

}  // namespace

void WordRansDecoder::decode(const WordRansTableView& t, const uint8_t* ctx, size_t m, uint8_t* out, KernelSet isa,
                             TableLookup lookup) {
    if (ended_) fail(Errc::internal, "word rANS: decode after a partial group");
    const size_t n = static_cast<size_t>(lanes_);
    const size_t groups = m / n;
    size_t done = 0;
    (void)isa;
    (void)lookup;
#if QSTORE_X86_KERNELS
    const bool gather = lookup == TableLookup::gather;
    if (isa == KernelSet::avx512 && lanes_ >= 16) {
        done = gather ? avx512_groups_for<true>(lanes_, x_, p_, end_, t, ctx, groups, out)
                      : avx512_groups_for<false>(lanes_, x_, p_, end_, t, ctx, groups, out);
    } else if (isa >= KernelSet::avx2 && lanes_ >= 8) {
        const bool contexts_unused = std::all_of(t.base.begin(), t.base.end(), [](uint32_t b) { return b == 0; });
        if (contexts_unused)
            done = gather ? avx2_groups_for<false, true>(lanes_, x_, p_, end_, t, ctx, groups, out)
                          : avx2_groups_for<false, false>(lanes_, x_, p_, end_, t, ctx, groups, out);
        else
            done = gather ? avx2_groups_for<true, true>(lanes_, x_, p_, end_, t, ctx, groups, out)
                          : avx2_groups_for<true, false>(lanes_, x_, p_, end_, t, ctx, groups, out);
    }
#endif
    scalar_groups(x_, lanes_, p_, end_, t, ctx + done * n, groups - done, out + done * n, what_);
    for (size_t k = groups * n; k < m; ++k) out[k] = word_step<true>(x_[k % n], p_, end_, t, ctx[k], what_);
    if (m % n) ended_ = true;
}

// ---- whole streams with one model ----

void word_rans_encode_stream(KernelSet kernels, const uint8_t* data, size_t n, WordRansEncodeScratch& scratch,
                             ByteVector& out) {
    word_rans_encode_stream(kernels, data, n, byte_histogram(data, n), scratch, out);
}

bool word_rans_encode_stream(KernelSet kernels, const uint8_t* data, size_t n,
                             const std::array<uint64_t, 256>& histogram, WordRansEncodeScratch& scratch,
                             ByteVector& out, size_t limit) {
    std::array<uint64_t, 256> count = histogram;
    const int lanes = n >= kWordStream64Lanes ? 64 : n >= kWordStream32Lanes ? 32 : 16;
    const size_t start = out.size();
    put_u8(out, static_cast<uint8_t>(__builtin_ctz(static_cast<unsigned>(lanes))));
    if (n == 0) count[0] = 1;  // a model needs a symbol: an empty stream still gets a valid one
    RansModel models[kWordRansContexts];
    const RansModel& m = models[0] = rans_model(count, kRansMaxScaleBits);
    rans_write_model(m, out);
    if (limit != SIZE_MAX) {
        const double bits = order0_bits(count, m.freq, static_cast<double>(1u << m.scale_bits));
        if (static_cast<double>(out.size() - start) + bits / 8 + 2.0 * lanes > static_cast<double>(limit)) return false;
    }
    word_rans_encode(kernels, data, nullptr, n, lanes, models, m.scale_bits, scratch, out);
    return true;
}

void word_rans_decode_stream(KernelSet kernels, TableLookup lookup, const uint8_t* stored, size_t stored_size,
                             uint8_t* dst, size_t n, WordRansTableStorage& storage, const std::string& what) {
    ByteReader r(stored, stored_size, what, ": word rANS stream");
    const int lanes_log2 = r.u8();
    if (lanes_log2 < 2 || lanes_log2 > 6) rans_corrupt(what, "bad lane count");
    RansModelSymbols model;
    rans_read_model_symbols(r, what, model);
    // Every symbol has context 0, which has a model: no section for missing ones.
    const WordRansTableView table = build_table(kernels, &model, 1, storage, false);
    WordRansDecoder dec(r.position(), r.remaining(), 1 << lanes_log2, what);
    // Every symbol has context 0: decode in pieces against one block of zero contexts
    // (a multiple of every lane count; the kernels read contexts in whole vectors).
    static const uint8_t zeros[4096 + 64] = {};
    for (size_t done = 0; done < n;) {
        const size_t m = std::min<size_t>(4096, n - done);
        dec.decode(table, zeros, m, dst + done, kernels, lookup);
        done += m;
    }
    dec.finish();  // (every slot of context 0's model is a symbol: any byte is valid)
}

}  // namespace qstore
