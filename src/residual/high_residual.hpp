// The residual: what the high precision adds to a low one. For each element,
//   z = zigzag(key(high) - key(to_high_dtype(prediction)))   (mod 2^bits)
// where key() is the order-preserving integer map of float bit patterns
// (base/float_bits.hpp). Close predictions give small z; any value at all (NaN payloads,
// codes from a foreign quantizer) is still represented exactly.
//
// z is written as a token (one byte) plus extra bits (a hybrid integer code): z < 16
// is its own token; otherwise, with e = bit length of z, token = 16 + 4*(e-5) + the
// two bits below the leading one, and the e-3 lowest bits of z follow as extra bits.
// Tokens are rANS-coded with one frequency model per context class (the class comes
// from the element's low code, so the decoder knows it); the extra bits, nearly
// uniform, are stored as they are. Block layout: docs/FORMAT.md §7.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "base/dtype.hpp"
#include "base/reusable_bytes.hpp"
#include "schemes/scheme.hpp"
#include "entropy/rans.hpp"
#include "entropy/rans_word.hpp"

namespace qstore {

// Encodes one block of n elements. `high` points at the block's first element;
// prediction and context hold the scheme's values for those elements.
// True if encode_residual_block writes a block of n elements in the word-rANS layout
// (format 1.1; a 1.0 reader cannot decode it).
bool residual_block_is_word_layout(uint64_t n);

// The encoder's working memory, kept from block to block (fresh buffers would be
// zero-filled and, being large, page-faulted in again for every block), and the kernel
// set its blocks are coded with (every set writes the same bytes). One per thread: the
// pack's per-thread scratch owns it.
struct ResidualEncodeScratch {
    explicit ResidualEncodeScratch(KernelSet kernel_set) : kernels(kernel_set) {}
    KernelSet kernels;
    ReusableBytes tokens;
    ReusableBytes extra_bits;
    ByteVector header;
    ByteVector payload;
    // Token counts per context class, zero between blocks: a block clears the rows it
    // used (not all 32 KB: blocks of small tensors are a few elements).
    std::array<std::array<uint64_t, 256>, kContextClasses> count{};
    // The counts of elements 1, 2 and 3 mod 4 of large 16-bit blocks
    // (encode_residual_block), zero between blocks.
    std::array<std::array<std::array<uint32_t, 256>, kContextClasses>, 3> count_more{};
    // A class without a model has scale 0, which the rANS encoders skip.
    std::array<RansModel, kContextClasses> models;
    RansEncodeScratch rans;
    WordRansEncodeScratch word_rans;
};

void encode_residual_block(const uint8_t* high, DType t, const float* prediction, const uint8_t* context, uint64_t n,
                           ResidualEncodeScratch& scratch, ByteVector& out);

// Reusable decoding scratch (one per thread), and the kernel set its blocks are decoded
// with (the scheme's predictions included) and how its rANS kernels look up tables.
struct ResidualScratch {
    ResidualScratch(KernelSet kernel_set, TableLookup table_lookup) : kernels(kernel_set), lookup(table_lookup) {}
    KernelSet kernels;
    TableLookup lookup;
    std::vector<float> prediction;
    std::vector<uint8_t> context;
    std::vector<uint32_t> z;
    RansTable tables[kContextClasses];  // reused: no allocation per block
    WordRansTableStorage word_table;
};

// Decodes the block of n elements starting at element `first` of a tensor whose
// whole low precision is `low`, writing n elements of dtype t to `high`.
void decode_residual_block(const uint8_t* blob, size_t blob_size, DType t, const LowScheme& scheme,
                           const LowTensorView& low, const Geometry& g, uint64_t first, uint64_t n, uint8_t* high,
                           ResidualScratch& scratch, const std::string& what);

}  // namespace qstore
