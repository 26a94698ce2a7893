#include "residual/high_residual.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>

#include "base/byte_io.hpp"
#include "base/error.hpp"
#include "base/float_bits.hpp"
#include "base/float_env.hpp"
#include "base/simd.hpp"
#include "entropy/bit_writer.hpp"
#include "entropy/rans.hpp"
#include "entropy/rans_tokens.hpp"
#include "entropy/rans_word.hpp"
#include "base/reusable_bytes.hpp"

namespace qstore {

namespace {

constexpr int kDirectTokens = 16;
// Elements decoded per call of LowScheme::predict: the tile's predictions stay in L1.
constexpr uint64_t kTile = 2048;
static_assert(kTile % kRansLanes == 0 && kTile % kWordRansMaxLanes == 0,
              "tiles must keep the lane of element i at i mod lanes");

inline uint64_t load_le64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);  // little-endian hosts only (docs/FORMAT.md §2)
    return v;
}

// The prediction in the high dtype's bits (round to nearest even).
template <DType T>
struct HighBits;
template <>
struct HighBits<DType::f32> {
    using U = uint32_t;
    static U of(float p) { return f32_bits(p); }
};
template <>
struct HighBits<DType::bf16> {
    using U = uint16_t;
    static U of(float p) { return bf16_from_f32(p); }
};
template <>
struct HighBits<DType::f16> {
    using U = uint16_t;
    static U of(float p) { return f16_from_f32(p); }
};

// Residual blocks of at least kWordMinElements use the word-rANS layout (§7.6) with 16,
// 32 or 64 lanes (more lanes decode faster: each lane waits for its table lookup);
// smaller ones the 4-lane byte layout, whose 4 states cost less (each lane costs about
// 3 bytes of final state).
constexpr uint64_t kWordMinElements = 4096;
constexpr uint64_t kWord32Elements = 16384;
constexpr uint64_t kWord64Elements = 65536;
// Largest model scale of the word layout: its decoder gathers from one table of
// (classes + 1) x 2^S entries, which should stay in the first-level caches.
constexpr int kWordMaxScaleBits = 10;

// 16-bit blocks from this size count their tokens in four tables (encode_typed).
constexpr uint64_t kSplitCountsFrom = 16384;

int word_lanes_for(uint64_t n) {
    if (n >= kWord64Elements) return 64;
    if (n >= kWord32Elements) return 32;
    if (n >= kWordMinElements) return 16;
    return 0;
}

}  // namespace

bool residual_block_is_word_layout(uint64_t n) { return word_lanes_for(n) != 0; }

namespace {

// Pass 1 of encoding, element-wise and branch-free: for a tile of m elements, z (§7.4),
// its token and its extra bits (§7.5). `pred` holds the predictions already in the high
// dtype's bits.
template <class U>
QSTORE_ALWAYS_INLINE void tokenize_body(const uint8_t* high, const U* pred, uint64_t m, uint8_t* tokens,
                                        uint32_t* extra, uint8_t* nbits) {
    for (uint64_t k = 0; k < m; ++k) {
        U h;
        std::memcpy(&h, high + k * sizeof(U), sizeof(U));
        const uint32_t z = zigzag<U>(static_cast<U>(float_key<U>(h) - float_key<U>(pred[k])));
        // Bit length from the exponent of an exact conversion (float holds every z of
        // 16-bit dtypes, double every 32-bit z); vectorizes where __builtin_clz does not.
        int32_t e;
        if constexpr (sizeof(U) == 2) {
            e = static_cast<int32_t>(f32_bits(static_cast<float>(z)) >> 23) - 126;
        } else {
            uint64_t d;
            const double zd = static_cast<double>(z);
            std::memcpy(&d, &zd, 8);
            e = static_cast<int32_t>(d >> 52) - 1022;
        }
        // Selects by masks: with ?: GCC keeps branches and does not vectorize the loop.
        const uint32_t big = 0u - static_cast<uint32_t>(z >= static_cast<uint32_t>(kDirectTokens));
        const uint32_t nb = static_cast<uint32_t>(e - 3) & big;  // e >= 5 when big
        const uint32_t token = static_cast<uint32_t>(kDirectTokens + 4 * (e - 5)) + ((z >> nb) & 3);
        tokens[k] = static_cast<uint8_t>((token & big) | (z & ~big));
        extra[k] = z & ((1u << nb) - 1);
        nbits[k] = static_cast<uint8_t>(nb);
    }
}

// Tokenize, built for every kernel set (run_kernel): the predictions in the high
// dtype's bits, then tokenize_body. F16 with a vector set rounds the predictions to
// binary16 by F16C, as Reconstruct does.
template <DType T>
struct Tokenize {
    template <KernelSet K>
    QSTORE_ALWAYS_INLINE static void run(const uint8_t* high, const float* pred, uint64_t m, uint8_t* tokens,
                                         uint32_t* extra, uint8_t* nbits) {
        using U = typename HighBits<T>::U;
        alignas(64) U bits[kTile];
#if QSTORE_X86_KERNELS
        if constexpr (T == DType::f16 && K == KernelSet::avx512) f16_from_f32_avx512(pred, m, bits);
        else if constexpr (T == DType::f16 && K == KernelSet::avx2) f16_from_f32_f16c(pred, m, bits);
        else
#endif
            for (uint64_t k = 0; k < m; ++k) bits[k] = HighBits<T>::of(pred[k]);
        tokenize_body<U>(high, bits, m, tokens, extra, nbits);
    }
};

using CountTable = std::array<std::array<uint64_t, 256>, kContextClasses>;

// A tile's tokens counted per context class. With 16-bit dtypes most elements fall on
// a few tokens, and each increment of a counter waits for the previous one of the same
// counter: in large blocks (`split`) elements 1, 2 and 3 mod 4 are counted in three
// more tables, added to the first at the end (F32 tokens are spread wider; there more
// tables only cost cache).
inline void count_tokens(const uint8_t* tok, const uint8_t* c, uint64_t m, bool split, ResidualEncodeScratch& s) {
    uint64_t k = 0;
    if (split)
        for (; k + 4 <= m; k += 4) {
            ++s.count[c[k]][tok[k]];
            ++s.count_more[0][c[k + 1]][tok[k + 1]];
            ++s.count_more[1][c[k + 2]][tok[k + 2]];
            ++s.count_more[2][c[k + 3]][tok[k + 3]];
        }
    for (; k < m; ++k) ++s.count[c[k]][tok[k]];
}

// A 16-bit tile's extra bits (<= 13 an element) joined four elements at a time (<= 52
// bits, one BitWriter::put each): joined[j] holds elements 4j..4j+3, element 4j in the
// low bits, and width[j] their bit count. m / 4 groups; the caller puts the rest.
struct JoinExtraBits {
    template <KernelSet K>
    QSTORE_ALWAYS_INLINE static void run(const uint32_t* extra, const uint8_t* nbits, uint64_t m, uint64_t* joined,
                                         uint8_t* width) {
        uint64_t j = 0;
#if QSTORE_X86_KERNELS
        if constexpr (K == KernelSet::avx512) j = join_avx512(extra, nbits, m, joined, width);
#endif
        for (; 4 * j + 4 <= m; ++j) {
            const uint64_t k = 4 * j;
            const uint32_t n0 = nbits[k], n01 = n0 + nbits[k + 1], n012 = n01 + nbits[k + 2];
            joined[j] = static_cast<uint64_t>(extra[k]) | static_cast<uint64_t>(extra[k + 1]) << n0 |
                        static_cast<uint64_t>(extra[k + 2]) << n01 | static_cast<uint64_t>(extra[k + 3]) << n012;
            width[j] = static_cast<uint8_t>(n012 + nbits[k + 3]);
        }
    }
#if QSTORE_X86_KERNELS
    // 32 elements a step: pairs in the 64-bit lanes of the two halves (element 2i in the
    // low half, 2i + 1 shifted above it), then even and odd pairs brought together by
    // one permute each and joined the same way. Returns the groups done.
    QSTORE_TARGET_AVX512 static uint64_t join_avx512(const uint32_t* extra,
                                                                          const uint8_t* nbits, uint64_t m,
                                                                          uint64_t* joined, uint8_t* width) {
        const __m512i low32 = _mm512_set1_epi64(0xFFFFFFFF);
        const __m512i even = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
        const __m512i odd = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
        uint64_t j = 0;
        for (; 4 * j + 32 <= m; j += 8) {
            const uint64_t k = 4 * j;
            __m512i pair[2], pair_bits[2];
            for (int h = 0; h < 2; ++h) {
                const __m512i e = _mm512_loadu_si512(extra + k + 16 * static_cast<uint64_t>(h));
                const __m512i n = _mm512_cvtepu8_epi32(
                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(nbits + k + 16 * static_cast<uint64_t>(h))));
                const __m512i n_lo = _mm512_and_si512(n, low32);
                pair[h] = _mm512_or_si512(_mm512_and_si512(e, low32), _mm512_sllv_epi64(_mm512_srli_epi64(e, 32), n_lo));
                pair_bits[h] = _mm512_add_epi64(n_lo, _mm512_srli_epi64(n, 32));
            }
            const __m512i lo = _mm512_permutex2var_epi64(pair[0], even, pair[1]);
            const __m512i hi = _mm512_permutex2var_epi64(pair[0], odd, pair[1]);
            const __m512i lo_bits = _mm512_permutex2var_epi64(pair_bits[0], even, pair_bits[1]);
            const __m512i hi_bits = _mm512_permutex2var_epi64(pair_bits[0], odd, pair_bits[1]);
            _mm512_storeu_si512(joined + j, _mm512_or_si512(lo, _mm512_sllv_epi64(hi, lo_bits)));
            _mm_storel_epi64(reinterpret_cast<__m128i*>(width + j), _mm512_cvtepi64_epi8(_mm512_add_epi64(lo_bits, hi_bits)));
        }
        return j;
    }
#endif
};

// A tile's extra bits appended to the block's bit stream (§7.5). The chain through the
// writer's fill is the cost: with 16-bit dtypes (<= 13 extra bits an element) each step
// appends four elements' bits, joined beforehand (JoinExtraBits). The writer is copied
// into a local for the loop, which keeps its state in registers.
template <class U>
inline void append_extra_bits(KernelSet kernels, const uint32_t* extra, const uint8_t* nbits, uint64_t m,
                              BitWriter& bits) {
    BitWriter w = bits;
    uint64_t k = 0;
    if constexpr (sizeof(U) == 2) {
        alignas(64) uint64_t joined[kTile / 4];
        alignas(64) uint8_t width[kTile / 4];
        run_kernel<JoinExtraBits>(kernels, extra, nbits, m, joined, width);
        for (uint64_t j = 0; j < m / 4; ++j) w.put(joined[j], width[j]);
        k = m / 4 * 4;
    }
    for (; k < m; ++k) w.put(extra[k], nbits[k]);  // <= 29 bits (F32)
    bits = w;
}

// Pass 1 over a block, tile by tile: tokens into `tokens`, their counts into the
// scratch's tables, extra bits into `bits`.
template <DType T>
void tokenize_block(const uint8_t* high, const float* pred, const uint8_t* ctx, uint64_t n, bool split_counts,
                    ResidualEncodeScratch& s, uint8_t* tokens, BitWriter& bits) {
    using U = typename HighBits<T>::U;
    alignas(64) uint32_t extra[kTile];
    alignas(64) uint8_t nbits[kTile];
    for (uint64_t tile = 0; tile < n; tile += kTile) {
        const uint64_t m = std::min(kTile, n - tile);
        run_kernel<Tokenize<T>>(s.kernels, high + tile * sizeof(U), pred + tile, m, tokens + tile, extra, nbits);
        count_tokens(tokens + tile, ctx + tile, m, split_counts, s);
        append_extra_bits<U>(s.kernels, extra, nbits, m, bits);
    }
    if (split_counts)
        for (auto& more : s.count_more)
            for (int c = 0; c < kContextClasses; ++c) {
                for (int t = 0; t < 256; ++t) s.count[c][t] += more[c][t];
                more[c].fill(0);
            }
}

// The context classes present: from the context bytes when the block has fewer
// elements than the count table has counters (most blocks of a model of small
// tensors), else from the counts.
uint16_t classes_used(const uint8_t* ctx, uint64_t n, const CountTable& count) {
    uint16_t used = 0;
    if (n < static_cast<uint64_t>(kContextClasses) * 256) {
        for (uint64_t k = 0; k < n; ++k) used |= static_cast<uint16_t>(1u << ctx[k]);
    } else {
        for (int c = 0; c < kContextClasses; ++c) {
            uint64_t any = 0;
            for (uint64_t k : count[c]) any |= k;
            if (any) used |= static_cast<uint16_t>(1u << c);
        }
    }
    return used;
}

// The block header (§7.3, §7.6): the word layout's marker, the classes used and their
// models, into s.header; the models into s.models (scale 0 for classes without one).
// Returns the largest model scale.
int write_block_header(uint16_t used, int lanes, ResidualEncodeScratch& s) {
    s.header.clear();
    if (lanes) {  // word-rANS layout (§7.6): marker u16 0, u8 log2(lanes)
        put_u16(s.header, 0);
        put_u8(s.header, static_cast<uint8_t>(__builtin_ctz(static_cast<unsigned>(lanes))));
    }
    put_u16(s.header, used);
    int scale = 0;
    for (int c = 0; c < kContextClasses; ++c) {
        s.models[c].scale_bits = 0;
        if (used & (1u << c)) {
            s.models[c] = rans_model(s.count[c], lanes ? kWordMaxScaleBits : kRansMaxScaleBits);
            rans_write_model(s.models[c], s.header);
            scale = std::max(scale, s.models[c].scale_bits);
        }
    }
    return scale;
}

template <DType T>
void encode_typed(const uint8_t* high, const float* pred, const uint8_t* ctx, uint64_t n,
                  ResidualEncodeScratch& scratch, ByteVector& out) {
    using U = typename HighBits<T>::U;
    uint8_t* const tokens = scratch.tokens.reserve(n);
    // At most 8*sizeof(U) - 3 extra bits per element, + the writer's slack.
    uint8_t* const bits = scratch.extra_bits.reserve(n * sizeof(U) + BitWriter::kSlack);
    // The count rows used are cleared on the way out (all of them if an error leaves
    // before the classes used are known).
    struct ClearUsedRows {
        CountTable& count;
        uint16_t used = 0xFFFF;
        ~ClearUsedRows() {
            for (int c = 0; c < kContextClasses; ++c)
                if (used & (1u << c)) count[c].fill(0);
        }
    } clear_on_exit{scratch.count};
    const bool split_counts = sizeof(U) == 2 && n >= kSplitCountsFrom && n <= UINT32_MAX;
    BitWriter bit_writer(bits);
    tokenize_block<T>(high, pred, ctx, n, split_counts, scratch, tokens, bit_writer);
    uint8_t* const bits_end = bit_writer.finish();
    const uint16_t used = classes_used(ctx, n, scratch.count);
    clear_on_exit.used = used;
    const int lanes = word_lanes_for(n);
    const int scale = write_block_header(used, lanes, scratch);
    ByteVector& payload = scratch.payload;
    payload.clear();
    if (lanes) word_rans_encode(scratch.kernels, tokens, ctx, n, lanes, scratch.models.data(), scale,
                                scratch.word_rans, payload);
    else rans_encode_payload(tokens, ctx, n, scratch.models.data(), scratch.rans, payload);
    // At most one reallocation for the block (an insert at a time could make three).
    const size_t bit_bytes = static_cast<size_t>(bits_end - bits);
    reserve_more(out, scratch.header.size() + 10 + payload.size() + bit_bytes);
    out.insert(out.end(), scratch.header.begin(), scratch.header.end());
    put_varint(out, payload.size());
    out.insert(out.end(), payload.begin(), payload.end());
    out.insert(out.end(), bits, bits_end);
}

// The decoders write each tile's values straight into the caller's buffer, which is
// usually not in cache: a store to a line that is not there waits for the line to be
// read in. Asked for (PREFETCHW) before the tile's symbols are decoded, the lines arrive
// while the tile decodes. Only the residual decoders do this: the same before the code
// streams' pieces gained nothing (measurements: docs/design/code-notes.md).
inline void prefetch_for_write(uint8_t* p, size_t bytes) {
    for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(p + off, 1, 3);
}

// Pass 2 of decoding, element-wise and branch-free: prediction + residual (integer
// operations and one IEEE float32 addition per element: identical results on every
// kernel set). The output is written as bytes (the caller's buffer needs no
// alignment): straight into it, with no staging copy.
template <DType T>
QSTORE_ALWAYS_INLINE void reconstruct_body(const float* __restrict pred, const uint32_t* __restrict zs, uint64_t m,
                                           uint8_t* __restrict out) {
    using U = typename HighBits<T>::U;
    for (uint64_t k = 0; k < m; ++k) {
        const U v = float_from_key<U>(
            static_cast<U>(float_key<U>(HighBits<T>::of(pred[k])) + unzigzag<U>(static_cast<U>(zs[k]))));
        std::memcpy(out + k * sizeof(U), &v, sizeof(U));
    }
}
#if QSTORE_X86_KERNELS
// F16 with a vector kernel set: the predictions are rounded to binary16 by the hardware
// (F16C, round to nearest even; kToHalf, 8 or 16 at a time) instead of f16_from_f32's
// integer emulation; the two agree on every float32 input a prediction can be (every
// finite value, ±Inf and the canonical NaN; test_units checks all 2^32 inputs but
// non-canonical NaNs, whose payloads the hardware keeps). Then the same key arithmetic
// as the generic body.
template <void (*kToHalf)(const float*, size_t, uint16_t*)>
QSTORE_ALWAYS_INLINE void reconstruct_f16_hw(const float* pred, const uint32_t* zs, uint64_t m,
                                             uint8_t* __restrict out) {
    alignas(64) uint16_t half[kTile];
    for (uint64_t done = 0; done < m; done += kTile) {
        const uint64_t c = std::min<uint64_t>(kTile, m - done);
        kToHalf(pred + done, c, half);
        for (uint64_t k = 0; k < c; ++k) {
            const uint16_t v = float_from_key<uint16_t>(static_cast<uint16_t>(
                float_key<uint16_t>(half[k]) + unzigzag<uint16_t>(static_cast<uint16_t>(zs[done + k]))));
            std::memcpy(out + 2 * (done + k), &v, 2);
        }
    }
}
#endif
// Reconstruct, built for every kernel set (run_kernel).
template <DType T>
struct Reconstruct {
    template <KernelSet K>
    QSTORE_ALWAYS_INLINE static void run(const float* pred, const uint32_t* zs, uint64_t m, uint8_t* out) {
#if QSTORE_X86_KERNELS
        if constexpr (T == DType::f16 && K == KernelSet::avx512)
            reconstruct_f16_hw<f16_from_f32_avx512>(pred, zs, m, out);
        else if constexpr (T == DType::f16 && K == KernelSet::avx2)
            reconstruct_f16_hw<f16_from_f32_f16c>(pred, zs, m, out);
        else
#endif
            reconstruct_body<T>(pred, zs, m, out);
    }
};

// A block in the word-rANS layout (§7.6), after its marker u16 0.
template <DType T>
void decode_word_typed(ByteReader& r, const LowScheme& scheme, const LowTensorView& low, const Geometry& g,
                       uint64_t first, uint64_t n, uint8_t* high, ResidualScratch& scratch, const std::string& what) {
    using U = typename HighBits<T>::U;
    const int lanes_log2 = r.u8();
    if (lanes_log2 < 2 || lanes_log2 > 6) fail(Errc::corrupt, what + ": residual block of an unknown layout");
    const uint16_t used = r.u16();
    // The combined slot table lives in the first scratch table's storage (reused).
    const KernelSet isa = scratch.kernels;
    const WordRansTableView table = word_rans_read_table(isa, r, used, scratch.word_table, what);
    const uint64_t payload_size = r.varint();
    if (payload_size > r.remaining()) fail(Errc::corrupt, what + ": residual payload beyond its block");
    WordRansDecoder dec(r.take(payload_size), payload_size, 1 << lanes_log2, what);
    ExtraBitReader bits{r.position(), r.remaining(), 0};

    scratch.prediction.resize(kTile);
    scratch.context.resize(kTile + 64);
    scratch.z.resize(kTile + kTile / 4);
    float* const pred = scratch.prediction.data();
    uint8_t* const ctx = scratch.context.data();
    uint32_t* const zs = scratch.z.data();
    uint8_t* const tokens = reinterpret_cast<uint8_t*>(zs + kTile);
    for (uint64_t tile = 0; tile < n; tile += kTile) {
        const uint64_t m = std::min(kTile, n - tile);
        prefetch_for_write(high + tile * sizeof(U), m * sizeof(U));
        scheme.predict(isa, low, g, first + tile, m, pred, ctx);
        dec.decode(table, ctx, m, tokens, isa, scratch.lookup);
        tokens_to_z(tokens, m, 8 * sizeof(U), bits, zs, isa, what);
        run_kernel<Reconstruct<T>>(isa, pred, zs, m, high + tile * sizeof(U));
    }
    dec.finish();
    extra_bits_finish(bits, what);
}

// Reads the models of the context classes in `used` (§7.3) into the scratch's tables.
// A class without a model gets a one-slot table that always yields token 255, which
// no dtype allows: damaged data then fails the token range check of the tile decoder
// instead of costing a test per element.
void read_byte_layout_models(ByteReader& r, uint16_t used, ResidualScratch& scratch, RansTableView* views,
                             const std::string& what) {
    static const uint32_t kInvalidTokenSlot = 255;
    for (int c = 0; c < kContextClasses; ++c) {
        views[c] = RansTableView{&kInvalidTokenSlot, 0, 0};
        if (used & (1u << c)) {
            scratch.tables[c].read(r, what);
            views[c] = scratch.tables[c].view();
        }
    }
}

// Where the byte layout's decoding of a block stands between tiles: the rANS states
// and payload, and the extra bits (`fill` of them not yet used in `acc`).
struct ByteLayoutState {
    uint32_t x[kRansLanes];
    const uint8_t* p;
    const uint8_t* end;
    const uint8_t* bits;
    const uint8_t* bits_end;
    uint64_t acc = 0;
    int fill = 0;
};

// The z of a tile's m elements (§7.4, §7.5): each token by rANS with the model of the
// element's context, then its extra bits. The state is copied into locals for the
// loop (registers) and back.
template <class U>
void decode_byte_layout_tile(ByteLayoutState& st, const RansTableView* views, const uint8_t* ctx, uint64_t m,
                             uint32_t* zs, const std::string& what) {
    constexpr uint32_t kMaxToken = kDirectTokens + 4 * (sizeof(U) * 8 - 5) + 3;
    uint32_t x0 = st.x[0], x1 = st.x[1], x2 = st.x[2], x3 = st.x[3];
    const uint8_t* p = st.p;
    const uint8_t* const end = st.end;
    const uint8_t* bits = st.bits;
    const uint8_t* const bits_end = st.bits_end;
    uint64_t acc = st.acc;
    int fill = st.fill;
    // `checked` is false while the payload surely holds the group's renormalization bytes.
    auto token_of = [&](auto checked, uint32_t& x, uint64_t j) {
        const RansTableView& v = views[ctx[j]];
        uint32_t token;
        if constexpr (decltype(checked)::value) token = rans_decode_step(x, p, end, v, what);
        else token = rans_decode_step_unchecked(x, p, v);
        uint32_t z = token;
        if (token >= kDirectTokens) {
            if (token > kMaxToken) fail(Errc::corrupt, what + ": residual token out of range");
            const int nbits = 2 + static_cast<int>(token - kDirectTokens) / 4;  // e - 3
            if (fill < nbits) {
                if (bits_end - bits >= 8) {  // refill to 56..63 bits with one load
                    acc |= load_le64(bits) << fill;
                    bits += (63 - fill) >> 3;
                    fill |= 56;
                } else {
                    while (fill < nbits) {
                        if (bits == bits_end) fail(Errc::corrupt, what + ": residual extra bits run out");
                        acc |= static_cast<uint64_t>(*bits++) << fill;
                        fill += 8;
                    }
                }
            }
            const uint32_t low_bits = static_cast<uint32_t>(acc & ((uint64_t(1) << nbits) - 1));
            acc >>= nbits;
            fill -= nbits;
            z = ((4u | ((token - kDirectTokens) & 3u)) << nbits) | low_bits;
        }
        zs[j] = z;
    };
    const std::true_type checked;
    const std::false_type unchecked;
    uint64_t j = 0;
    for (; j + kRansLanes <= m; j += kRansLanes) {
        if (end - p >= kRansLanes * kRansMaxBytesPerStep) {
            token_of(unchecked, x0, j);
            token_of(unchecked, x1, j + 1);
            token_of(unchecked, x2, j + 2);
            token_of(unchecked, x3, j + 3);
        } else {
            token_of(checked, x0, j);
            token_of(checked, x1, j + 1);
            token_of(checked, x2, j + 2);
            token_of(checked, x3, j + 3);
        }
    }
    uint32_t* lanes[kRansLanes] = {&x0, &x1, &x2, &x3};
    for (; j < m; ++j) token_of(checked, *lanes[j % kRansLanes], j);
    st = ByteLayoutState{{x0, x1, x2, x3}, p, end, bits, bits_end, acc, fill};
}

template <DType T>
void decode_typed(const uint8_t* blob, size_t blob_size, const LowScheme& scheme, const LowTensorView& low,
                  const Geometry& g, uint64_t first, uint64_t n, uint8_t* high,
                  ResidualScratch& scratch, const std::string& what) {
    using U = typename HighBits<T>::U;
    ByteReader r(blob, blob_size, what, ": residual header");
    const uint16_t used = r.u16();
    // A 4-lane block with elements always has a class bit set, and one without any
    // element continues with payload_size >= 16: u16 0 then a byte < 16 is the
    // word-rANS layout.
    if (used == 0 && r.remaining() > 0 && *r.position() < 16)
        return decode_word_typed<T>(r, scheme, low, g, first, n, high, scratch, what);
    RansTableView views[kContextClasses];
    read_byte_layout_models(r, used, scratch, views, what);
    const uint64_t payload_size = r.varint();
    if (payload_size > r.remaining()) fail(Errc::corrupt, what + ": residual payload beyond its block");
    RansDecoder dec(r.take(payload_size), payload_size, what);
    ByteLayoutState st{{dec.x[0], dec.x[1], dec.x[2], dec.x[3]}, dec.p, dec.end, r.position(),
                       r.position() + r.remaining()};

    const KernelSet isa = scratch.kernels;
    scratch.prediction.resize(kTile);
    scratch.context.resize(kTile);
    scratch.z.resize(kTile);
    float* const pred = scratch.prediction.data();
    uint8_t* const ctx = scratch.context.data();
    uint32_t* const zs = scratch.z.data();
    for (uint64_t tile = 0; tile < n; tile += kTile) {
        const uint64_t m = std::min(kTile, n - tile);
        prefetch_for_write(high + tile * sizeof(U), m * sizeof(U));
        scheme.predict(isa, low, g, first + tile, m, pred, ctx);
        decode_byte_layout_tile<U>(st, views, ctx, m, zs, what);
        // Pass 2, element-wise and branch-free (vectorizable): prediction + residual.
        run_kernel<Reconstruct<T>>(isa, pred, zs, m, high + tile * sizeof(U));
    }
    dec.finish(st.x[0], st.x[1], st.x[2], st.x[3], st.p);
    if (st.bits != st.bits_end || st.fill >= 8) fail(Errc::corrupt, what + ": trailing residual extra bits");
}

}  // namespace

void encode_residual_block(const uint8_t* high, DType t, const float* prediction, const uint8_t* context, uint64_t n,
                           ResidualEncodeScratch& scratch, ByteVector& out) {
    const FloatEnvironmentGuard float_env;
    switch (t) {
        case DType::f32: return encode_typed<DType::f32>(high, prediction, context, n, scratch, out);
        case DType::bf16: return encode_typed<DType::bf16>(high, prediction, context, n, scratch, out);
        case DType::f16: return encode_typed<DType::f16>(high, prediction, context, n, scratch, out);
        default: fail(Errc::internal, "residual of a non-float dtype");
    }
}

void decode_residual_block(const uint8_t* blob, size_t blob_size, DType t, const LowScheme& scheme,
                           const LowTensorView& low, const Geometry& g, uint64_t first, uint64_t n, uint8_t* high,
                           ResidualScratch& scratch, const std::string& what) {
    const FloatEnvironmentGuard float_env;
    switch (t) {
        case DType::f32:
            return decode_typed<DType::f32>(blob, blob_size, scheme, low, g, first, n, high, scratch, what);
        case DType::bf16:
            return decode_typed<DType::bf16>(blob, blob_size, scheme, low, g, first, n, high, scratch, what);
        case DType::f16:
            return decode_typed<DType::f16>(blob, blob_size, scheme, low, g, first, n, high, scratch, what);
        default: fail(Errc::corrupt, what + ": residual of a non-float dtype");
    }
}

}  // namespace qstore
