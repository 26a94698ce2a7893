#include "entropy/rans.hpp"

#include <algorithm>
#include <cstring>

#include "entropy/bit_writer.hpp"

namespace qstore {

namespace {

int bit_length(uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }

// Writes the symbols s < 256 with count[s] != 0 to `present`, increasing; returns how
// many. count[] has 256 entries, zero from `limit` on. Through a bit mask, 64 symbols
// per word, the words built in independent chains: a loop that appends each symbol as
// it goes waits on its own count from symbol to symbol (a model is built and written per
// context and block: tens of thousands in a model of small tensors).
template <class T>
int list_present(const T* count, int limit, int* present) {
    uint64_t mask[4] = {0, 0, 0, 0};
    const int words = (limit + 63) / 64;
    for (int s = 0; s < 64; ++s)
        for (int w = 0; w < words; ++w) mask[w] |= static_cast<uint64_t>(count[64 * w + s] != 0) << s;
    int distinct = 0;
    for (int w = 0; w < words; ++w)
        for (uint64_t m = mask[w]; m; m &= m - 1) present[distinct++] = 64 * w + __builtin_ctzll(m);
    return distinct;
}

}  // namespace

void rans_corrupt(const std::string& what, const char* why) { fail(Errc::corrupt, what + ": rANS " + why); }

RansModel rans_model(const std::array<uint64_t, 256>& count, int max_scale_bits) {
    // Models are built per context and block (tens of thousands in a model of small
    // tensors): the work is over the symbols present, found without branches.
    RansModel m;
    int present[256];
    const int distinct = list_present(count.data(), 256, present);
    uint64_t n = 0;
    for (int j = 0; j < distinct; ++j) n += count[present[j]];
    // About n/4 slots (at most 4096): the decoder builds a table of 2^scale_bits per
    // model, and finer tables cost more than they save.
    if (n == 0) fail(Errc::internal, "rANS model of no symbols");
    const int cap = std::clamp(max_scale_bits, 1, kRansMaxScaleBits);
    m.scale_bits = std::clamp(bit_length(n) - 2, std::min(std::max(bit_length(distinct) + 1, 2), cap), cap);
    const uint32_t total = 1u << m.scale_bits;
    // freq = max(1, round(count * total / n)). Below 2^32 symbols the quotient is a
    // float64 division of exact operands (< 2^45) whose rounding cannot cross an
    // integer (a non-integer quotient is >= 1/n >= 2^-32 from one, the rounding error
    // <= 2^12 * 2^-53), so its truncation is the integer division's.
    const bool exact_in_double = n < (uint64_t(1) << 32);
    const double dn = static_cast<double>(n);
    int64_t sum = 0;
    int best = present[0];  // the first most frequent symbol
    for (int j = 0; j < distinct; ++j) {
        const int s = present[j];
        const uint64_t a = count[s] * total + n / 2;
        const uint64_t q = exact_in_double ? static_cast<uint64_t>(static_cast<double>(a) / dn) : a / n;
        m.freq[s] = static_cast<uint32_t>(std::max<uint64_t>(1, q));
        sum += m.freq[s];
        best = m.freq[s] > m.freq[best] ? s : best;
    }
    // Fix rounding on the most frequent symbol, where a unit of frequency costs least;
    // if it cannot absorb all of it (it must keep >= 1), move on to the next largest.
    while (sum != total) {
        const int64_t change = std::max<int64_t>(int64_t(total) - sum, 1 - int64_t(m.freq[best]));
        m.freq[best] = static_cast<uint32_t>(int64_t(m.freq[best]) + change);
        sum += change;
        if (sum == total) break;
        best = -1;
        for (int j = 0; j < distinct; ++j) {
            const int s = present[j];
            if (m.freq[s] > 1 || (sum < total && m.freq[s]))
                if (best < 0 || m.freq[s] > m.freq[best]) best = s;
        }
    }
    uint32_t acc = 0;
    for (int j = 0; j < distinct; ++j) {
        m.start[present[j]] = acc;
        acc += m.freq[present[j]];
    }
    m.symbols = present[distinct - 1] + 1;
    return m;
}

namespace {

// The codes of syntax-2 models (§6.4), on the shared LSB-first BitWriter.
class ModelBits {
public:
    explicit ModelBits(uint8_t* out) : w_(out) {}
    void put(uint32_t v, int n) {  // the n (<= 32) low bits of v
        w_.put(v & static_cast<uint32_t>((uint64_t(1) << n) - 1), n);
    }
    void zeros(uint32_t n) {
        for (; n > 24; n -= 24) put(0, 24);
        put(0, static_cast<int>(n));
    }
    // Elias gamma of v >= 1: bit_length(v) - 1 zeros, a one, then the bits of v below
    // its leading one.
    void gamma(uint32_t v) {
        const int len = bit_length(v);
        zeros(static_cast<uint32_t>(len - 1));
        put(1, 1);
        put(v, len - 1);
    }
    static uint64_t gamma_bits(uint32_t v) { return 2 * static_cast<uint64_t>(bit_length(v)) - 1; }
    // Rice code of u with parameter k: u >> k zeros, a one, then the k low bits of u.
    void rice(uint32_t u, int k) {
        zeros(u >> k);
        put(1, 1);
        put(u, k);
    }
    uint8_t* finish() { return w_.finish(); }  // zero bits up to a byte boundary

private:
    BitWriter w_;
};

class BitReader {
public:
    BitReader(const uint8_t* data, size_t size, const std::string& what) : data_(data), size_(size), what_(what) {}
    uint32_t get(int n) {  // n <= 32
        if (pos_ + static_cast<size_t>(n) > 8 * size_) rans_corrupt(what_, "model ends early");
        const uint32_t v = static_cast<uint32_t>(window(pos_) & ((uint64_t(1) << n) - 1));
        pos_ += static_cast<size_t>(n);
        return v;
    }
    // Zeros before the next one bit (consumed); more than `limit` is corrupt.
    uint32_t zeros_then_one(uint32_t limit) {
        uint64_t z = 0;
        for (;;) {
            const uint64_t w = window(pos_ + z);  // >= 57 bits of the stream, zeros beyond its end
            if (w) {
                z += static_cast<uint64_t>(__builtin_ctzll(w));
                break;
            }
            z += 56;
            if (z > limit || pos_ + z >= 8 * size_) break;  // reported below
        }
        if (z > limit) rans_corrupt(what_, "model code too long");
        if (pos_ + z + 1 > 8 * size_) rans_corrupt(what_, "model ends early");
        pos_ += z + 1;
        return static_cast<uint32_t>(z);
    }
    uint32_t gamma(uint32_t max_len) {
        const uint32_t z = zeros_then_one(max_len - 1);
        return (1u << z) | get(static_cast<int>(z));
    }
    size_t bytes_used() const { return (pos_ + 7) / 8; }
    bool padding_is_zero() const { return pos_ % 8 == 0 || (data_[pos_ / 8] >> (pos_ % 8)) == 0; }

private:
    // The stream from bit `at` on (bit 0 = bit `at`), from little-endian bytes.
    uint64_t window(size_t at) const {
        const size_t byte = at / 8;
        uint64_t w = 0;
        if (byte + 8 <= size_) std::memcpy(&w, data_ + byte, 8);
        else if (byte < size_) std::memcpy(&w, data_ + byte, size_ - byte);
        return w >> (at % 8);
    }
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;  // in bits
    const std::string& what_;
};

constexpr uint8_t kModelSyntax2 = 0x80;  // flag in the first byte of a syntax-2 model
constexpr int kRiceParameterBits = 3;

}  // namespace

void rans_write_model(const RansModel& m, ByteVector& out) {
    put_u8(out, static_cast<uint8_t>(kModelSyntax2 | m.scale_bits));
    int present[256];
    const int k_count = list_present(m.freq.data(), m.symbols, present);  // residual tokens: < 64 or 128
    // The Rice parameter that codes the explicit frequencies (all but the last) shortest:
    // parameter k costs (f - 1) >> k + 1 + k bits per frequency.
    uint64_t high[1 << kRiceParameterBits] = {};
    for (int j = 0; j + 1 < k_count; ++j)
        for (int k = 0; k < (1 << kRiceParameterBits); ++k) high[k] += (m.freq[present[j]] - 1) >> k;
    int best_k = 0;
    uint64_t best_bits = UINT64_MAX;
    for (int k = 0; k < (1 << kRiceParameterBits); ++k) {
        const uint64_t bits = high[k] + static_cast<uint64_t>(k + 1) * static_cast<uint64_t>(std::max(k_count - 1, 0));
        if (bits < best_bits) {
            best_bits = bits;
            best_k = k;
        }
    }
    // The model's size in bits, so that its bytes are reserved once.
    uint64_t bits = ModelBits::gamma_bits(static_cast<uint32_t>(k_count)) + kRiceParameterBits + best_bits;
    for (int j = 0, prev = -1; j < k_count; prev = present[j++])
        bits += ModelBits::gamma_bits(static_cast<uint32_t>(present[j] - prev));
    const size_t at = out.size(), bytes = static_cast<size_t>((bits + 7) / 8);
    out.resize(at + bytes + BitWriter::kSlack);
    ModelBits w(out.data() + at);
    w.gamma(static_cast<uint32_t>(k_count));
    for (int j = 0, prev = -1; j < k_count; prev = present[j++]) w.gamma(static_cast<uint32_t>(present[j] - prev));
    w.put(static_cast<uint32_t>(best_k), kRiceParameterBits);
    for (int j = 0; j + 1 < k_count; ++j) w.rice(m.freq[present[j]] - 1, best_k);
    if (w.finish() != out.data() + at + bytes) fail(Errc::internal, "rANS model: size mismatch");
    out.resize(at + bytes);
}

void rans_write_model_v1(const RansModel& m, ByteVector& out) {
    put_u8(out, static_cast<uint8_t>(m.scale_bits));
    int end = 256;
    while (end > 0 && !m.freq[end - 1]) --end;
    put_varint(out, end);
    for (int s = 0; s < end;) {
        put_varint(out, m.freq[s]);
        if (m.freq[s]) {
            ++s;
            continue;
        }
        int run = 0;
        while (s + 1 + run < end && !m.freq[s + 1 + run]) ++run;
        put_varint(out, run);
        s += 1 + run;
    }
}

void rans_read_model_symbols(ByteReader& r, const std::string& what, RansModelSymbols& m) {
    const uint8_t first = r.u8();
    const bool syntax2 = first & kModelSyntax2;
    m.scale_bits = first & ~kModelSyntax2;
    if (m.scale_bits < 1 || m.scale_bits > kRansMaxScaleBits) rans_corrupt(what, "scale out of range");
    const uint32_t total = 1u << m.scale_bits;
    if (syntax2) {
        BitReader b(r.position(), r.remaining(), what);
        const uint32_t count = b.gamma(9);  // 1..256 symbols present (at most 9 bits)
        if (count > 256 || count > total) rans_corrupt(what, "model has too many symbols");
        int s = -1;
        for (uint32_t j = 0; j < count; ++j) {
            s += static_cast<int>(b.gamma(9));  // gaps of 1..256
            if (s > 255) rans_corrupt(what, "model symbol out of range");
            m.symbol[j] = static_cast<uint8_t>(s);
        }
        const int k = static_cast<int>(b.get(kRiceParameterBits));
        uint32_t filled = 0;
        for (uint32_t j = 0; j + 1 < count; ++j) {
            // f - 1 < total: at most total >> k zeros before the one.
            const uint32_t q = b.zeros_then_one(total >> k);
            const uint64_t f = (static_cast<uint64_t>(q) << k | b.get(k)) + 1;
            if (f >= total - filled) rans_corrupt(what, "frequencies exceed the total");  // the last needs >= 1
            m.freq[j] = static_cast<uint16_t>(f);
            filled += static_cast<uint32_t>(f);
        }
        m.freq[count - 1] = static_cast<uint16_t>(total - filled);
        m.count = static_cast<int>(count);
        if (!b.padding_is_zero()) rans_corrupt(what, "model padding is not zero");
        r.take(b.bytes_used());
        return;
    }
    const uint64_t symbols = r.varint();
    if (symbols > 256) rans_corrupt(what, "table has too many symbols");
    uint32_t filled = 0;
    m.count = 0;
    for (uint64_t s = 0; s < symbols;) {
        const uint64_t f = r.varint();
        if (f == 0) {
            const uint64_t run = r.varint();
            if (run >= symbols - s) rans_corrupt(what, "table zero run too long");
            s += 1 + run;
            continue;
        }
        if (f > total - filled) rans_corrupt(what, "frequencies exceed the total");
        m.symbol[m.count] = static_cast<uint8_t>(s);
        m.freq[m.count] = static_cast<uint16_t>(f);
        ++m.count;
        filled += static_cast<uint32_t>(f);
        ++s;
    }
    if (filled != total) rans_corrupt(what, "frequencies do not sum to the total");
}

RansModel rans_read_model(ByteReader& r, const std::string& what) {
    RansModelSymbols read;
    rans_read_model_symbols(r, what, read);
    RansModel m;
    m.scale_bits = read.scale_bits;
    for (int j = 0; j < read.count; ++j) m.freq[read.symbol[j]] = read.freq[j];
    m.symbols = read.symbol[read.count - 1] + 1;
    uint32_t acc = 0;
    for (int t = 0; t < m.symbols; ++t) {  // start[] of the symbols present
        m.start[t] = acc;
        acc += m.freq[t];
    }
    return m;
}

RansModelSymbols rans_model_symbols(const RansModel& m) {
    RansModelSymbols out;
    out.scale_bits = m.scale_bits;
    out.count = 0;
    for (int s = 0; s < m.symbols; ++s)
        if (m.freq[s]) {
            out.symbol[out.count] = static_cast<uint8_t>(s);
            out.freq[out.count++] = static_cast<uint16_t>(m.freq[s]);
        }
    return out;
}

void rans_fill_slots(const RansModelSymbols& m, int up, uint32_t* slots) {
    uint32_t start = 0;
    for (int j = 0; j < m.count; ++j) {
        const uint32_t f = static_cast<uint32_t>(m.freq[j]) << up;
        const uint32_t head = static_cast<uint32_t>(m.symbol[j]) | (f - 1) << 20;
        uint32_t* const dst = slots + start;
        for (uint32_t k = 0; k < f; ++k) dst[k] = head | k << 8;
        start += f;
    }
}

void RansTable::read(ByteReader& r, const std::string& what) {
    RansModelSymbols m;
    rans_read_model_symbols(r, what, m);
    scale_bits = m.scale_bits;
    mask = (1u << scale_bits) - 1;
    // Only ever grown: a shrinking resize followed by a growing one would zero-fill.
    if (slots.size() < (size_t(1) << scale_bits)) slots.resize(size_t(1) << scale_bits);
    rans_fill_slots(m, 0, slots.data());
}

namespace {

RansEncSymbol enc_symbol(uint32_t start, uint32_t freq, int scale_bits) {
    RansEncSymbol e{};
    e.x_max = ((kRansLow >> scale_bits) << 8) * freq;
    e.cmpl_freq = (1u << scale_bits) - freq;
    if (freq < 2) {
        e.rcp_freq = ~0u;
        e.rcp_shift = 0;
        e.bias = start + (1u << scale_bits) - 1;
    } else {
        uint32_t shift = 0;
        while (freq > (1u << shift)) ++shift;
        e.rcp_freq = static_cast<uint32_t>(ceil_pow2_div(static_cast<int>(shift) + 31, freq));
        e.rcp_shift = shift - 1;
        e.bias = start;
    }
    return e;
}

}  // namespace

void rans_encode_payload(const uint8_t* symbols, const uint8_t* context, size_t n, const RansModel* models,
                         RansEncodeScratch& scratch, ByteVector& out) {
    int contexts = 1;
    if (context)
        for (size_t i = 0; i < n; ++i) contexts = std::max(contexts, context[i] + 1);
    std::vector<RansEncSymbol>& table = scratch.table;
    if (table.size() < static_cast<size_t>(contexts) * 256) table.resize(static_cast<size_t>(contexts) * 256);
    for (int c = 0; c < contexts; ++c) {
        for (int s = 0; s < models[c].coded_symbols(); ++s)
            if (models[c].freq[s]) table[c * 256 + s] = enc_symbol(models[c].start[s], models[c].freq[s], models[c].scale_bits);
    }
    const RansEncSymbol* const tab = table.data();
    // Encode backwards into a byte stack; the decoder reads it forwards. With
    // scale_bits <= 12 a symbol emits at most 2 bytes.
    const size_t stack_size = 2 * n + 4 * kRansLanes;
    uint8_t* const end = scratch.stack.reserve(stack_size) + stack_size;
    uint8_t* p = end;
    auto put = [&](uint32_t& x, size_t i) {
        const RansEncSymbol& e = tab[(context ? context[i] * 256u : 0u) + symbols[i]];
        while (x >= e.x_max) {
            *--p = static_cast<uint8_t>(x);
            x >>= 8;
        }
        const uint32_t q = static_cast<uint32_t>((static_cast<uint64_t>(x) * e.rcp_freq) >> 32) >> e.rcp_shift;
        x = x + e.bias + q * e.cmpl_freq;
    };
    uint32_t state[kRansLanes] = {kRansLow, kRansLow, kRansLow, kRansLow};
    uint32_t x0 = kRansLow, x1 = kRansLow, x2 = kRansLow, x3 = kRansLow;
    size_t i = n;
    uint32_t* lanes[kRansLanes] = {&x0, &x1, &x2, &x3};
    while (i % kRansLanes != 0) {  // the tail first (encoding runs backwards)
        --i;
        put(*lanes[i % kRansLanes], i);
    }
    for (; i > 0; i -= kRansLanes) {
        put(x3, i - 1);
        put(x2, i - 2);
        put(x1, i - 3);
        put(x0, i - 4);
    }
    state[0] = x0;
    state[1] = x1;
    state[2] = x2;
    state[3] = x3;
    // Final states, lane 0 first, each little-endian.
    for (int k = kRansLanes; k-- > 0;)
        for (int b = 3; b >= 0; --b) *--p = static_cast<uint8_t>(state[k] >> (8 * b));
    put_bytes(out, p, static_cast<size_t>(end - p));
}

RansDecoder::RansDecoder(const uint8_t* payload, size_t size, const std::string& what_)
    : p(payload), end(payload + size), what(what_) {
    if (size < 4 * kRansLanes) rans_corrupt(what, "payload too short");
    for (auto& s : x) {
        s = static_cast<uint32_t>(load_le(p, 4));
        p += 4;
        if (s < kRansLow || s >= (kRansLow << 8)) rans_corrupt(what, "bad initial state");
    }
}

void RansDecoder::finish(uint32_t x0, uint32_t x1, uint32_t x2, uint32_t x3, const uint8_t* at) const {
    // The encoder started every state at kRansLow and used every byte: anything else
    // means the payload was damaged.
    for (uint32_t s : {x0, x1, x2, x3})
        if (s != kRansLow) rans_corrupt(what, "stream does not end in its initial state");
    if (at != end) rans_corrupt(what, "trailing bytes after the payload");
}

std::array<uint64_t, 256> byte_histogram(const uint8_t* data, size_t n) {
    // Four partial histograms: runs of one byte value (codes near zero) would otherwise
    // make every increment wait for the previous one's store.
    uint32_t part[4][256] = {};
    size_t i = 0;
    for (; i + 4 <= n && i < (size_t{1} << 32) - 4; i += 4) {
        ++part[0][data[i]];
        ++part[1][data[i + 1]];
        ++part[2][data[i + 2]];
        ++part[3][data[i + 3]];
    }
    std::array<uint64_t, 256> count{};
    for (; i < n; ++i) ++count[data[i]];
    for (int s = 0; s < 256; ++s)
        count[s] += uint64_t{part[0][s]} + part[1][s] + part[2][s] + part[3][s];
    return count;
}

void rans_encode(const uint8_t* data, size_t n, const std::array<uint64_t, 256>& count, RansEncodeScratch& scratch,
                 ByteVector& out) {
    const RansModel m = rans_model(count);
    rans_write_model(m, out);
    rans_encode_payload(data, nullptr, n, &m, scratch, out);
}

void rans_decode(const uint8_t* stored, size_t stored_size, uint8_t* dst, size_t n, RansTable& t,
                 const std::string& what) {
    ByteReader r(stored, stored_size, what, ": rANS table");
    t.read(r, what);
    RansDecoder d(r.position(), r.remaining(), what);
    const RansTableView view = t.view();
    uint32_t x0 = d.x[0], x1 = d.x[1], x2 = d.x[2], x3 = d.x[3];
    const uint8_t* p = d.p;
    const uint8_t* const end = d.end;
    size_t i = 0;
    // Unchecked groups while the payload surely holds their renormalization bytes.
    for (; i + kRansLanes <= n && end - p >= kRansLanes * kRansMaxBytesPerStep; i += kRansLanes) {
        dst[i] = rans_decode_step_unchecked(x0, p, view);
        dst[i + 1] = rans_decode_step_unchecked(x1, p, view);
        dst[i + 2] = rans_decode_step_unchecked(x2, p, view);
        dst[i + 3] = rans_decode_step_unchecked(x3, p, view);
    }
    for (; i + kRansLanes <= n; i += kRansLanes) {
        dst[i] = rans_decode_step(x0, p, end, view, what);
        dst[i + 1] = rans_decode_step(x1, p, end, view, what);
        dst[i + 2] = rans_decode_step(x2, p, end, view, what);
        dst[i + 3] = rans_decode_step(x3, p, end, view, what);
    }
    uint32_t* lanes[kRansLanes] = {&x0, &x1, &x2, &x3};
    for (; i < n; ++i) dst[i] = rans_decode_step(*lanes[i % kRansLanes], p, end, view, what);
    d.finish(x0, x1, x2, x3, p);
}

}  // namespace qstore
