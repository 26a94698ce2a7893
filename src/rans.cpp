#include "rans.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "byte_io.hpp"
#include "error.hpp"

namespace qstore {

namespace {

constexpr uint32_t kLow = 1u << 23;  // states live in [kLow, 256 * kLow)
constexpr int kMaxScaleBits = 12;
constexpr int kStates = 4;

int bit_length(uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }

// Scales counts to frequencies summing to 2^scale_bits, every used symbol >= 1.
void normalize(const std::array<uint64_t, 256>& count, uint64_t n, int scale_bits, std::array<uint32_t, 256>& freq) {
    const uint32_t total = 1u << scale_bits;
    int64_t sum = 0;
    for (int s = 0; s < 256; ++s) {
        freq[s] = 0;
        if (!count[s]) continue;
        uint64_t f = (count[s] * total + n / 2) / n;
        freq[s] = static_cast<uint32_t>(std::max<uint64_t>(1, f));
        sum += freq[s];
    }
    // Fix rounding: take from / give to the most frequent symbols, where a unit of
    // frequency costs the least.
    while (sum != total) {
        int best = -1;
        for (int s = 0; s < 256; ++s) {
            if (!freq[s] || (sum > total && freq[s] == 1)) continue;
            if (best < 0 || freq[s] > freq[best]) best = s;
        }
        if (sum > total) {
            --freq[best];
            --sum;
        } else {
            ++freq[best];
            ++sum;
        }
    }
}

// Table: varint (max symbol + 1), then per symbol a varint frequency; a zero is
// followed by a varint count of further zeros.
void write_table(const std::array<uint32_t, 256>& freq, std::vector<uint8_t>& out) {
    int end = 256;
    while (end > 0 && !freq[end - 1]) --end;
    put_varint(out, end);
    for (int s = 0; s < end;) {
        put_varint(out, freq[s]);
        if (freq[s]) {
            ++s;
            continue;
        }
        int run = 0;
        while (s + 1 + run < end && !freq[s + 1 + run]) ++run;
        put_varint(out, run);
        s += 1 + run;
    }
}

}  // namespace

void rans_encode(const uint8_t* data, size_t n, std::vector<uint8_t>& out) {
    std::array<uint64_t, 256> count{};
    for (size_t i = 0; i < n; ++i) ++count[data[i]];
    int distinct = 0;
    for (uint64_t c : count) distinct += c != 0;
    // Fewer slots for short streams: the decoder builds a table of 2^scale_bits.
    const int scale_bits = std::clamp(bit_length(n), std::max(bit_length(distinct) + 1, 4), kMaxScaleBits);
    std::array<uint32_t, 256> freq, start;
    normalize(count, n, scale_bits, freq);
    uint32_t acc = 0;
    for (int s = 0; s < 256; ++s) {
        start[s] = acc;
        acc += freq[s];
    }
    put_u8(out, static_cast<uint8_t>(scale_bits));
    write_table(freq, out);

    // Encode backwards into a byte stack; the decoder reads it forwards. With
    // scale_bits <= 12 a symbol emits at most 2 bytes, so 2n + 16 bytes suffice.
    std::vector<uint8_t> stack(2 * n + 16);
    uint8_t* const end = stack.data() + stack.size();
    uint8_t* p = end;
    uint32_t state[kStates];
    for (auto& x : state) x = kLow;
    for (size_t i = n; i-- > 0;) {
        uint32_t& x = state[i % kStates];
        const uint8_t s = data[i];
        const uint32_t f = freq[s];
        const uint32_t x_max = ((kLow >> scale_bits) << 8) * f;
        while (x >= x_max) {
            *--p = static_cast<uint8_t>(x);
            x >>= 8;
        }
        x = ((x / f) << scale_bits) + (x % f) + start[s];
    }
    // Final states, state 0 first, each little-endian.
    for (int k = kStates; k-- > 0;)
        for (int b = 3; b >= 0; --b) *--p = static_cast<uint8_t>(state[k] >> (8 * b));
    out.insert(out.end(), p, end);
}

void rans_decode(const uint8_t* stored, size_t stored_size, uint8_t* dst, size_t n, const std::string& what) {
    ByteReader r(stored, stored_size, what + ": rANS header");
    const int scale_bits = r.u8();
    if (scale_bits < 1 || scale_bits > kMaxScaleBits) fail(Errc::corrupt, what + ": bad rANS scale");
    const uint32_t total = 1u << scale_bits;
    const uint64_t symbols = r.varint();
    if (symbols > 256) fail(Errc::corrupt, what + ": bad rANS table");
    struct Slot {
        uint16_t freq;
        uint16_t bias;  // slot - start of its symbol
        uint8_t symbol;
    };
    Slot slots[1u << kMaxScaleBits];
    uint32_t filled = 0;
    for (uint64_t s = 0; s < symbols;) {
        const uint64_t f = r.varint();
        if (f == 0) {
            const uint64_t run = r.varint();
            if (run > symbols - s - 1) fail(Errc::corrupt, what + ": bad rANS table");
            s += 1 + run;
            continue;
        }
        if (f > total - filled) fail(Errc::corrupt, what + ": rANS frequencies exceed the total");
        for (uint32_t k = 0; k < f; ++k)
            slots[filled + k] = Slot{static_cast<uint16_t>(f), static_cast<uint16_t>(k), static_cast<uint8_t>(s)};
        filled += static_cast<uint32_t>(f);
        ++s;
    }
    if (filled != total) fail(Errc::corrupt, what + ": rANS frequencies do not sum to the total");
    const uint8_t* p = r.position();
    const uint8_t* const end = stored + stored_size;
    if (end - p < 4 * kStates) fail(Errc::corrupt, what + ": rANS payload too short");
    uint32_t state[kStates];
    for (auto& x : state) {
        x = static_cast<uint32_t>(load_le(p, 4));
        p += 4;
        if (x < kLow) fail(Errc::corrupt, what + ": bad rANS state");
    }
    const uint32_t mask = total - 1;
    auto step = [&](uint32_t& x) -> uint8_t {
        const Slot& e = slots[x & mask];
        x = e.freq * (x >> scale_bits) + e.bias;
        while (x < kLow) {
            if (p == end) fail(Errc::corrupt, what + ": rANS payload ends early");
            x = (x << 8) | *p++;
        }
        return e.symbol;
    };
    size_t i = 0;
    for (; i + kStates <= n; i += kStates) {
        dst[i] = step(state[0]);
        dst[i + 1] = step(state[1]);
        dst[i + 2] = step(state[2]);
        dst[i + 3] = step(state[3]);
    }
    for (; i < n; ++i) dst[i] = step(state[i % kStates]);
    // The encoder started every state at kLow and used every byte: anything else
    // means the stream was damaged.
    for (uint32_t x : state)
        if (x != kLow) fail(Errc::corrupt, what + ": rANS stream does not end in its initial state");
    if (p != end) fail(Errc::corrupt, what + ": trailing bytes after the rANS payload");
}

}  // namespace qstore
