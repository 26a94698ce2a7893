#include "residual_codec.hpp"

#include <array>
#include <cstring>

#include "error.hpp"
#include "float_bits.hpp"
#include "low_scheme.hpp"

namespace qstore {

namespace {

template <class U>
U prediction_bits(float p, DType t) {
    if constexpr (sizeof(U) == 4) {
        (void)t;
        return f32_bits(p);
    } else {
        return t == DType::bf16 ? bf16_from_f32(p) : f16_from_f32(p);
    }
}

template <class U>
void encode_typed(const uint8_t* high, DType t, const float* pred, const uint8_t* ctx, uint64_t n,
                  StreamEncoder& encoder, std::vector<uint8_t>& out) {
    constexpr int P = sizeof(U);
    std::array<uint64_t, kContextClasses> count{};
    for (uint64_t i = 0; i < n; ++i) ++count[ctx[i]];
    std::array<uint64_t, kContextClasses> start{};
    for (int c = 1; c < kContextClasses; ++c) start[c] = start[c - 1] + count[c - 1];
    // planes[p * n + start[c] + k] = byte p of the k-th residual of class c
    std::vector<uint8_t> planes(n * P);
    auto cursor = start;
    for (uint64_t i = 0; i < n; ++i) {
        U h;
        std::memcpy(&h, high + i * P, P);
        const U z = zigzag<U>(static_cast<U>(float_key<U>(h) - float_key<U>(prediction_bits<U>(pred[i], t))));
        const uint64_t k = cursor[ctx[i]]++;
        for (int p = 0; p < P; ++p) planes[p * n + k] = static_cast<uint8_t>(z >> (8 * p));
    }
    std::vector<std::pair<const uint8_t*, size_t>> streams;
    for (int c = 0; c < kContextClasses; ++c)
        for (int p = 0; p < P; ++p) streams.emplace_back(planes.data() + p * n + start[c], count[c]);
    encoder.encode(streams, out);
}

template <class U>
void decode_typed(const std::vector<StreamRef>& refs, DType t, const float* pred, const uint8_t* ctx, uint64_t n,
                  uint8_t* high, ZSTD_DCtx* dctx, ResidualScratch& scratch, const std::string& what) {
    constexpr int P = sizeof(U);
    std::array<uint64_t, kContextClasses> count{};
    for (uint64_t i = 0; i < n; ++i) ++count[ctx[i]];
    std::array<uint64_t, kContextClasses> start{};
    for (int c = 1; c < kContextClasses; ++c) start[c] = start[c - 1] + count[c - 1];
    scratch.planes.resize(n * P);
    uint8_t* planes = scratch.planes.data();
    for (int c = 0; c < kContextClasses; ++c)
        for (int p = 0; p < P; ++p)
            decode_stream(refs[c * P + p], planes + p * n + start[c], count[c], dctx, what);
    auto cursor = start;
    for (uint64_t i = 0; i < n; ++i) {
        const uint64_t k = cursor[ctx[i]]++;
        U z = 0;
        for (int p = 0; p < P; ++p) z |= static_cast<U>(static_cast<U>(planes[p * n + k]) << (8 * p));
        const U key = static_cast<U>(float_key<U>(prediction_bits<U>(pred[i], t)) + unzigzag<U>(z));
        const U h = float_from_key<U>(key);
        std::memcpy(high + i * P, &h, P);
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
    const size_t P = dtype_size(t);
    if (refs.size() != kContextClasses * P) fail(Errc::corrupt, what + ": wrong number of residual streams");
    if (P == 4) decode_typed<uint32_t>(refs, t, prediction, context, n, high, dctx, scratch, what);
    else decode_typed<uint16_t>(refs, t, prediction, context, n, high, dctx, scratch, what);
}

}  // namespace qstore
