// Static rANS (range asymmetric numeral systems) over byte symbols: the entropy coder
// of qstore's low codes and residual tokens. Huffman codes (zstd's literals) spend a
// whole number of bits per symbol, which loses a good part of a bit on the small,
// skewed alphabets of residual tokens; rANS codes close to the empirical entropy, plus
// a small table (docs/design/code-notes.md).
//
// One payload may switch between several frequency models (contexts) symbol by
// symbol; the decoder must know each symbol's context before decoding it. Four
// interleaved 32-bit states (symbol i uses state i % 4) give the CPU independent
// work. Byte-wise renormalization; layout in docs/FORMAT.md §6.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/byte_io.hpp"
#include "base/error.hpp"
#include "base/reusable_bytes.hpp"

namespace qstore {

constexpr int kRansMaxScaleBits = 12;
constexpr int kRansLanes = 4;
constexpr uint32_t kRansLow = 1u << 23;  // states live in [kRansLow, 256 * kRansLow)

// ceil(2^k / d) for k <= 52 and d >= 1 (the encoders' reciprocals), as a float64
// division: a non-integer 2^k / d is at least 1/d from an integer (2^k mod d >= 1), and
// the division rounds it by at most (2^k / d) * 2^-53 = 2^(k-53) / d < 1/d, so the
// ceiling is exact. A 64-bit integer division costs several times more, once per
// symbol of every model.
inline uint64_t ceil_pow2_div(int k, uint32_t d) {
    return static_cast<uint64_t>(std::ceil(static_cast<double>(uint64_t(1) << k) / static_cast<double>(d)));
}

// A normalized frequency model: freq sums to 2^scale_bits; every used symbol >= 1.
// start[s] (the sum of the frequencies below s) is set for the symbols present only.
struct RansModel {
    int scale_bits = 0;
    int symbols = 256;  // symbols >= this have frequency 0 (table builders stop there)
    std::array<uint32_t, 256> freq{};
    std::array<uint32_t, 256> start{};
    // Symbols a table builder must visit: none for a default-constructed model (scale 0,
    // a context without symbols: most of a small block's 16 contexts).
    int coded_symbols() const { return scale_bits ? symbols : 0; }
};

// Builds the model of a histogram (n = sum of counts, n >= 1), with at most
// 2^max_scale_bits slots (max_scale_bits in 1..kRansMaxScaleBits).
RansModel rans_model(const std::array<uint64_t, 256>& count, int max_scale_bits = kRansMaxScaleBits);
// Writes a model in syntax 2 (format 1.3, docs/FORMAT.md §6.4): u8 0x80 | scale_bits,
// then a bit stream of the symbols present (Elias-gamma count and gaps) and their
// frequencies (Rice-coded, the last one implied by the total), padded to a byte.
void rans_write_model(const RansModel& model, ByteVector& out);
// Writes a model in syntax 1 (formats 1.0-1.2): u8 scale_bits, varint (max symbol + 1),
// then per symbol a varint frequency, a zero followed by a varint count of further
// zeros. Kept for tests that build files of those versions.
void rans_write_model_v1(const RansModel& model, ByteVector& out);
// A model as the decoders read it: the symbols present, increasing, with their
// frequencies. Table builders need no more, and reading a model this way clears no
// 256-entry arrays (small blocks have models of a handful of symbols, read once per block).
struct RansModelSymbols {
    int scale_bits;
    int count;            // symbols present, 1..256
    uint8_t symbol[256];  // [0, count) used
    uint16_t freq[256];   // [0, count) used; sums to 2^scale_bits (<= 4096)
};
// Parses one model of either syntax (the first byte tells which; Errc::corrupt on any
// inconsistency).
void rans_read_model_symbols(ByteReader& r, const std::string& what, RansModelSymbols& out);
// The same as a full model (tests, tools).
RansModel rans_read_model(ByteReader& r, const std::string& what);
// A full model as the list of its symbols present (tables built from models in memory).
RansModelSymbols rans_model_symbols(const RansModel& m);
// Writes the decoding slots of a model scaled up by 2^up: 2^(scale_bits + up) entries
// symbol | bias << 8 | (freq - 1) << 20, symbol after symbol.
void rans_fill_slots(const RansModelSymbols& m, int up, uint32_t* slots);

// What one decoding step needs of a model; cheap to copy into a hot loop's locals.
struct RansTableView {
    const uint32_t* slots = nullptr;  // entry = symbol | bias << 8 | (freq - 1) << 20
    uint32_t mask = 0;
    int scale_bits = 0;
};

// Decoding table of one model.
class RansTable {
public:
    void read(ByteReader& r, const std::string& what);
    RansTableView view() const { return {slots.data(), mask, scale_bits}; }
    int scale_bits = 0;
    uint32_t mask = 0;
    std::vector<uint32_t> slots;
};

// Per-symbol encoder constants. x / freq is computed as a multiply by a 32-bit
// reciprocal and a shift (division by an invariant integer), which is exact for the
// state range used here (x < 2^31); freq == 1 uses the identity x/1 = x via the bias.
struct RansEncSymbol {
    uint32_t x_max;      // renormalize while x >= x_max
    uint32_t rcp_freq;   // ceil(2^(shift+31) / freq)
    uint32_t rcp_shift;  // shift - 1
    uint32_t bias;       // start (+ 2^scale_bits - 1 when freq == 1)
    uint32_t cmpl_freq;  // 2^scale_bits - freq
};

// The encoder's working memory, reused from call to call (one per thread; its owner
// is the pack's per-thread scratch): only the entries of used symbols are written,
// and the byte stack is never zeroed.
struct RansEncodeScratch {
    std::vector<RansEncSymbol> table;
    ReusableBytes stack;
};

// Encodes symbols[i] with models[context ? context[i] : 0] and appends the payload
// (the four final states, then the renormalization bytes).
void rans_encode_payload(const uint8_t* symbols, const uint8_t* context, size_t n, const RansModel* models,
                         RansEncodeScratch& scratch, ByteVector& out);

[[noreturn]] void rans_corrupt(const std::string& what, const char* why);

// Reads a payload symbol by symbol. Hot loops copy the states into locals (see
// residual/high_residual.cpp) through state()/set_state(); decode_step is the one step.
class RansDecoder {
public:
    RansDecoder(const uint8_t* payload, size_t size, const std::string& what);
    // Checks the payload was consumed exactly and every state is back at its start,
    // given the final lane states and position of a hot loop that worked on copies.
    void finish(uint32_t x0, uint32_t x1, uint32_t x2, uint32_t x3, const uint8_t* at) const;

    uint32_t x[kRansLanes];
    const uint8_t* p;
    const uint8_t* end;
    const std::string& what;
};

inline uint8_t rans_decode_step(uint32_t& x, const uint8_t*& p, const uint8_t* end, const RansTableView& t,
                                const std::string& what) {
    const uint32_t e = t.slots[x & t.mask];
    x = ((e >> 20) + 1) * (x >> t.scale_bits) + ((e >> 8) & 0xFFF);
    while (x < kRansLow) {
        if (p == end) rans_corrupt(what, "payload ends early");
        x = (x << 8) | *p++;
    }
    return static_cast<uint8_t>(e);
}

// The same step without the end-of-payload check, for callers that checked there are
// at least 2 bytes left per step they take (a step reads at most 2 renormalization
// bytes because scale_bits <= 12).
// Branch-free: the number of bytes to read (0, 1 or 2) is computed, and the two next
// bytes are always loaded (whether a state renormalizes is data-dependent and
// unpredictable; a branch on it mispredicts about half the time).
inline uint8_t rans_decode_step_unchecked(uint32_t& x, const uint8_t*& p, const RansTableView& t) {
    const uint32_t e = t.slots[x & t.mask];
    x = ((e >> 20) + 1) * (x >> t.scale_bits) + ((e >> 8) & 0xFFF);
    // x >= 2^11 here: one byte brings it to >= kRansLow unless x < 2^15, two always do.
    const uint32_t k = static_cast<uint32_t>(x < kRansLow) + static_cast<uint32_t>(x < (kRansLow >> 8));
    const uint32_t next2 = static_cast<uint32_t>(p[0]) << 8 | p[1];  // first byte more significant
    x = (x << (8 * k)) | (next2 >> (16 - 8 * k));
    p += k;
    return static_cast<uint8_t>(e);
}
constexpr ptrdiff_t kRansMaxBytesPerStep = 2;

// Counts of each byte value of data[0, n).
std::array<uint64_t, 256> byte_histogram(const uint8_t* data, size_t n);

// Bits to code the symbols counted in `of` with probabilities weight[s] / total (every
// symbol of `of` needs a weight): a stream's empirical entropy with weight = of and
// total = n, a model's cost of it with weight = freq and total = 2^scale_bits.
template <class W>
double order0_bits(const std::array<uint64_t, 256>& of, const std::array<W, 256>& weight, double total) {
    double bits = 0;
    for (int s = 0; s < 256; ++s)
        if (of[s]) bits += static_cast<double>(of[s]) * std::log2(total / static_cast<double>(weight[s]));
    return bits;
}

// Single-model convenience, used as a stream-set codec: model, then payload. `count`
// is byte_histogram(data, n). The decoder reads the model into `table` (its slots are
// reused from stream to stream).
void rans_encode(const uint8_t* data, size_t n, const std::array<uint64_t, 256>& count, RansEncodeScratch& scratch,
                 ByteVector& out);
void rans_decode(const uint8_t* stored, size_t stored_size, uint8_t* dst, size_t n, RansTable& table,
                 const std::string& what);

}  // namespace qstore
