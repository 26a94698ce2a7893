#include "residual_codec.hpp"

#include <array>
#include <cstring>

#include "error.hpp"
#include "float_bits.hpp"
#include "low_scheme.hpp"

namespace qstore {

namespace {

constexpr int kDirectTokens = 16;

inline int bit_length(uint32_t v) { return v ? 32 - __builtin_clz(v) : 0; }

// Hybrid integer code of z: the token and how many extra bits follow.
inline void tokenize(uint32_t z, uint8_t& token, int& extra_bits) {
    if (z < kDirectTokens) {
        token = static_cast<uint8_t>(z);
        extra_bits = 0;
        return;
    }
    const int e = bit_length(z);
    token = static_cast<uint8_t>(kDirectTokens + 4 * (e - 5) + ((z >> (e - 3)) & 3));
    extra_bits = e - 3;
}

// Appends bits LSB-first.
class BitWriter {
public:
    explicit BitWriter(std::vector<uint8_t>& out) : out_(out) {}
    void put(uint64_t v, int n) {
        acc_ |= v << fill_;
        fill_ += n;
        while (fill_ >= 8) {
            out_.push_back(static_cast<uint8_t>(acc_));
            acc_ >>= 8;
            fill_ -= 8;
        }
    }
    void flush() {
        if (fill_ > 0) out_.push_back(static_cast<uint8_t>(acc_));
        acc_ = 0;
        fill_ = 0;
    }

private:
    std::vector<uint8_t>& out_;
    uint64_t acc_ = 0;
    int fill_ = 0;
};

class BitReader {
public:
    BitReader(const uint8_t* p, size_t n, const std::string& what) : p_(p), end_(p + n), what_(what) {}
    uint32_t get(int n) {  // n <= 32
        while (fill_ < n) {
            if (p_ == end_) fail(Errc::corrupt, what_ + ": residual extra bits run out");
            acc_ |= static_cast<uint64_t>(*p_++) << fill_;
            fill_ += 8;
        }
        uint32_t v = static_cast<uint32_t>(acc_ & ((uint64_t(1) << n) - 1));
        acc_ >>= n;
        fill_ -= n;
        return v;
    }

private:
    const uint8_t* p_;
    const uint8_t* end_;
    std::string what_;
    uint64_t acc_ = 0;
    int fill_ = 0;
};

template <class U>
U prediction_bits(float p, DType t) {
    if constexpr (sizeof(U) == 4) {
        (void)t;
        return f32_bits(p);
    } else {
        return t == DType::bf16 ? bf16_from_f32(p) : f16_from_f32(p);
    }
}

struct ClassLayout {
    std::array<uint64_t, kContextClasses> count{};
    std::array<uint64_t, kContextClasses> start{};
    ClassLayout(const uint8_t* ctx, uint64_t n) {
        for (uint64_t i = 0; i < n; ++i) ++count[ctx[i]];
        for (int c = 1; c < kContextClasses; ++c) start[c] = start[c - 1] + count[c - 1];
    }
};

template <class U>
void encode_typed(const uint8_t* high, DType t, const float* pred, const uint8_t* ctx, uint64_t n,
                  StreamEncoder& encoder, std::vector<uint8_t>& out) {
    const ClassLayout layout(ctx, n);
    std::vector<uint8_t> tokens(n);  // grouped by class
    std::vector<uint8_t> bits;
    BitWriter extra(bits);
    auto cursor = layout.start;
    for (uint64_t i = 0; i < n; ++i) {
        U h;
        std::memcpy(&h, high + i * sizeof(U), sizeof(U));
        const U z = zigzag<U>(static_cast<U>(float_key<U>(h) - float_key<U>(prediction_bits<U>(pred[i], t))));
        uint8_t token;
        int nbits;
        tokenize(z, token, nbits);
        tokens[cursor[ctx[i]]++] = token;
        if (nbits) extra.put(z & ((uint64_t(1) << nbits) - 1), nbits);
    }
    extra.flush();
    std::vector<std::pair<const uint8_t*, size_t>> streams;
    for (int c = 0; c < kContextClasses; ++c) streams.emplace_back(tokens.data() + layout.start[c], layout.count[c]);
    streams.emplace_back(bits.data(), bits.size());
    encoder.encode(streams, out);
}

template <class U>
void decode_typed(const std::vector<StreamRef>& refs, DType t, const float* pred, const uint8_t* ctx, uint64_t n,
                  uint8_t* high, ZSTD_DCtx* dctx, ResidualScratch& scratch, const std::string& what) {
    const ClassLayout layout(ctx, n);
    scratch.tokens.resize(n);
    for (int c = 0; c < kContextClasses; ++c)
        decode_stream(refs[c], scratch.tokens.data() + layout.start[c], layout.count[c], dctx, what);
    const StreamRef& bit_ref = refs[kContextClasses];
    scratch.bits.resize(bit_ref.raw_size);
    decode_stream(bit_ref, scratch.bits.data(), scratch.bits.size(), dctx, what);
    BitReader extra(scratch.bits.data(), scratch.bits.size(), what);
    constexpr int kMaxToken = kDirectTokens + 4 * (int(sizeof(U)) * 8 - 5) + 3;
    const uint8_t* tokens = scratch.tokens.data();
    auto cursor = layout.start;
    for (uint64_t i = 0; i < n; ++i) {
        const uint32_t token = tokens[cursor[ctx[i]]++];
        U z;
        if (token < kDirectTokens) {
            z = static_cast<U>(token);
        } else {
            if (token > kMaxToken) fail(Errc::corrupt, what + ": residual token out of range");
            const int e = 5 + static_cast<int>(token - kDirectTokens) / 4;
            const uint32_t top = 4u | ((token - kDirectTokens) & 3u);
            z = static_cast<U>((static_cast<uint64_t>(top) << (e - 3)) | extra.get(e - 3));
        }
        const U h = float_from_key<U>(static_cast<U>(float_key<U>(prediction_bits<U>(pred[i], t)) + unzigzag<U>(z)));
        std::memcpy(high + i * sizeof(U), &h, sizeof(U));
    }
}

}  // namespace

void encode_residual_block(const uint8_t* high, DType t, const float* prediction, const uint8_t* context, uint64_t n,
                           StreamEncoder& encoder, std::vector<uint8_t>& out) {
    if (dtype_size(t) == 4) encode_typed<uint32_t>(high, t, prediction, context, n, encoder, out);
    else encode_typed<uint16_t>(high, t, prediction, context, n, encoder, out);
}

void decode_residual_block(const uint8_t* blob, size_t blob_size, DType t, const float* prediction,
                           const uint8_t* context, uint64_t n, uint8_t* high, ZSTD_DCtx* dctx,
                           ResidualScratch& scratch, const std::string& what) {
    auto refs = parse_stream_set(blob, blob_size, what);
    if (refs.size() != kContextClasses + 1) fail(Errc::corrupt, what + ": wrong number of residual streams");
    if (dtype_size(t) == 4) decode_typed<uint32_t>(refs, t, prediction, context, n, high, dctx, scratch, what);
    else decode_typed<uint16_t>(refs, t, prediction, context, n, high, dctx, scratch, what);
}

}  // namespace qstore
