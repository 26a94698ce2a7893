// The residual: what the high precision adds to a low one. For each element,
//   z = zigzag(key(high) - key(to_high_dtype(prediction)))   (mod 2^bits)
// where key() is the order-preserving integer map of float bit patterns
// (float_bits.hpp). Close predictions give small z; any value at all (NaN payloads,
// codes from a foreign quantizer) is still represented exactly.
//
// z is written as a token (one byte) plus extra bits (hybrid integer code): z < 16 is
// its own token; otherwise, with e = bit length of z, token = 16 + 4*(e-5) + the two
// bits below the leading one, and the e-3 lowest bits follow as extra bits. Tokens go
// to one stream per context class, so each stream holds one distribution and zstd's
// order-0 coder sees it alone; the extra bits (nearly uniform) go to one bit stream.
// Block layout: a stream set of kContextClasses token streams, then the bit stream
// (docs/FORMAT.md §7).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dtype.hpp"
#include "stream_set.hpp"

namespace qstore {

// Encodes one block of n elements. `high` points at the block's first element.
void encode_residual_block(const uint8_t* high, DType t, const float* prediction, const uint8_t* context, uint64_t n,
                           StreamEncoder& encoder, std::vector<uint8_t>& out);

// Reusable scratch for decoding.
struct ResidualScratch {
    std::vector<uint8_t> tokens;
    std::vector<uint8_t> bits;
};

// Decodes one block into `high` (n elements of dtype t).
void decode_residual_block(const uint8_t* blob, size_t blob_size, DType t, const float* prediction,
                           const uint8_t* context, uint64_t n, uint8_t* high, ZSTD_DCtx* dctx,
                           ResidualScratch& scratch, const std::string& what);

}  // namespace qstore
