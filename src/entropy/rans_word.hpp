// Interleaved word rANS: the token coder of residual blocks written since format 1.1
// (docs/FORMAT.md §6.4, §7.6). Same models as entropy/rans.hpp, but
//   - N = 4, 8, 16, 32 or 64 interleaved 32-bit states (symbol i uses lane i mod N),
//   - 16-bit (word) renormalization: states live in [2^16, 2^32) and a step reads at
//     most one little-endian u16,
//   - one scale S for all contexts of a payload (each model is scaled up to the largest
//     scale among them, which codes the same probabilities), so that one combined slot
//     table indexed by (context, slot) serves every symbol.
// The lanes of one group are independent, so the decoder runs them in SIMD registers
// (AVX2: 8 lanes per vector, AVX-512: 16), with a table lookup per vector (a gather or
// scalar loads: TableLookup) and the
// renormalization words spread over the lanes that need one. The scalar decoder is the
// reference; every kernel produces the same symbols and consumes the same bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/byte_io.hpp"
#include "base/cpu.hpp"
#include "entropy/rans.hpp"

namespace qstore {


constexpr uint32_t kWordRansLow = 1u << 16;  // states live in [kWordRansLow, 2^32)
constexpr int kWordRansMaxLanes = 64;
constexpr int kWordRansContexts = 16;  // contexts 0..15 (the residual's context classes)

inline bool word_rans_lanes_valid(int lanes) {
    return lanes == 4 || lanes == 8 || lanes == 16 || lanes == 32 || lanes == 64;
}


// x / freq as a 64-bit reciprocal multiply: q = (x * rcp) >> 44 with
// rcp = ceil(2^44 / freq) is exact for x < 2^32 and freq <= 2^12 (the error term
// x * (rcp - 2^44/freq) / 2^44 < 2^-12 <= 1/freq never carries into the integer part).
struct WordRansEncSymbol {
    uint64_t x_max;  // renormalize when x >= x_max = freq << (32 - S)
    uint64_t rcp;
    uint32_t bias;  // start
    uint32_t cmpl;  // 2^S - freq
};

// The encoder's working memory, reused from call to call (one per thread; its owner
// is the pack's per-thread scratch). The byte stack is never zeroed.
struct WordRansEncodeScratch {
    std::vector<WordRansEncSymbol> table;
    std::vector<uint32_t> packed;  // freq | start << 16 of the scaled models (the vector kernels')
    ReusableBytes stack;
};

// Encodes symbols[i] with models[context[i]] (context[i] < 16 and 16 models, those of
// contexts without symbols empty (all frequencies 0); or context 0 for every symbol and
// one model if `context` is null; every model's scale is <= scale_bits, the models are
// scaled up to scale_bits) on
// `lanes` interleaved states; appends the payload: the lane states (lane 0 first, u32
// little-endian), then the renormalization words (u16 little-endian). Every kernel set
// writes the same bytes.
void word_rans_encode(KernelSet kernels, const uint8_t* symbols, const uint8_t* context, size_t n, int lanes,
                      const RansModel* models, int scale_bits, WordRansEncodeScratch& scratch, ByteVector& out);

// The combined decoding table of up to 16 models at one scale S. Entry =
// symbol | bias << 8 | (freq - 1) << 20 (S <= 12, so bias and freq - 1 fit 12 bits).
// Context c's slots start at base[c]; a context without a model points at a section
// that yields symbol 255 (freq 1, bias 0), which callers reject as out of range.
// Sections are 2^S entries each: base[c] = k << S with k <= 16 (the AVX2 decoder looks
// k up by a byte shuffle); every base is 0 in a stream of one model without the section
// for contexts without a model (the decoders then need not read the contexts).
struct WordRansTableView {
    const uint32_t* slots = nullptr;
    std::array<uint32_t, kWordRansContexts> base{};
    int scale_bits = 0;
};

// Memory of combined tables, reused from block to block. Section 0 (the invalid entry
// for contexts without a model) is refilled only as far as the last table overwrote it.
struct WordRansTableStorage {
    std::vector<uint32_t> slots;
    uint32_t invalid_entries = 0;  // slots[0, invalid_entries) hold the invalid entry
};

// Reads the models of the contexts set in `used` (increasing c) and builds the table in
// `storage`. Returns the view.
WordRansTableView word_rans_read_table(KernelSet kernels, ByteReader& r, uint16_t used,
                                       WordRansTableStorage& storage, const std::string& what);
// The same from models in memory (tests, benchmarks).
WordRansTableView word_rans_build_table(KernelSet kernels, const RansModel* models, uint16_t used,
                                        WordRansTableStorage& storage);

// Decodes a payload in pieces: decode() may be called repeatedly, every piece but the
// last holding a multiple of `lanes` symbols; then finish() checks the end condition.
class WordRansDecoder {
public:
    WordRansDecoder(const uint8_t* payload, size_t size, int lanes, const std::string& what);
    // Decodes m symbols with the kernels of `isa`, their table lookups done as `lookup`
    // says; symbol k uses the model of context[k]. Contexts must be < 16.
    void decode(const WordRansTableView& t, const uint8_t* context, size_t m, uint8_t* symbols, KernelSet isa,
                TableLookup lookup);
    // Every state back at kWordRansLow and every payload byte read, else corrupt.
    void finish() const;

    int lanes() const { return lanes_; }
    const uint8_t* position() const { return p_; }

private:
    alignas(64) uint32_t x_[kWordRansMaxLanes];
    int lanes_;
    bool ended_ = false;  // a piece that was not a multiple of lanes was decoded
    const uint8_t* p_;
    const uint8_t* end_;
    const std::string& what_;
};

// A whole byte stream with one model (the stream-set codec `word_rans`, docs/FORMAT.md
// §6.3): u8 log2(lanes), the model (rans_write_model), the word rANS payload. The
// writer's lanes: 64 from kWordStream64Lanes symbols, 32 from kWordStream32Lanes, else 16.
constexpr size_t kWordStream32Lanes = 16384;
constexpr size_t kWordStream64Lanes = 65536;
void word_rans_encode_stream(KernelSet kernels, const uint8_t* data, size_t n, WordRansEncodeScratch& scratch,
                             ByteVector& out);
// The same with `count` = byte_histogram(data, n) (entropy/rans.hpp), for callers that have it,
// unless the stream's coded size would exceed `limit` bytes by the bound below: then it
// returns false without encoding (`out` then holds the start of the stream). The bound,
// taken before any symbol is coded: the lane byte, the model, the model's cost of the
// symbols (sum of count * log2(2^scale_bits / freq), bits / 8) and 2 bytes per lane
// (the final states take 4 bytes per lane; coded streams come out a few bytes per lane
// above the first three, so 2 keeps the bound below the coded size).
bool word_rans_encode_stream(KernelSet kernels, const uint8_t* data, size_t n, const std::array<uint64_t, 256>& count,
                             WordRansEncodeScratch& scratch, ByteVector& out, size_t limit = SIZE_MAX);
// Decodes exactly n symbols from stored[0, stored_size) (Errc::corrupt on any damage),
// building its table in `storage`.
void word_rans_decode_stream(KernelSet kernels, TableLookup lookup, const uint8_t* stored, size_t stored_size,
                             uint8_t* dst, size_t n, WordRansTableStorage& storage, const std::string& what);

}  // namespace qstore
