// The residual: what the high precision adds to a low one. For each element,
//   r = key(high) - key(to_high_dtype(prediction))   (mod 2^bits, zigzagged)
// where key() is the order-preserving integer map of float bit patterns
// (float_bits.hpp). Close predictions give small r; any value at all (NaN payloads,
// codes from a foreign quantizer) is still represented exactly. The bytes of r are
// split into kContextClasses x (bytes per element) streams, by context class and byte
// plane, so each stream holds bytes of one distribution; each is compressed alone.
// Stream order inside a block: class-major, then plane (least significant first).
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
    std::vector<uint8_t> planes;
};

// Decodes one block (a stream set of kContextClasses * dtype_size(t) streams) into `high`.
void decode_residual_block(const uint8_t* blob, size_t blob_size, DType t, const float* prediction,
                           const uint8_t* context, uint64_t n, uint8_t* high, ZSTD_DCtx* dctx,
                           ResidualScratch& scratch, const std::string& what);

}  // namespace qstore
