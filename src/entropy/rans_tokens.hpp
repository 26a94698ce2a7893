// Residual tokens to residuals z (docs/FORMAT.md §7.5): a token t < 16 is z itself; a
// larger one names the bit length and top bits of z, and its e - 3 low bits follow in
// the block's LSB-first extra-bit stream. The vector kernels (AVX-512: 16 tokens at a
// time, AVX2: 8) take a prefix sum of the extra-bit counts for every token's bit
// position, then read all fields at once. The scalar loop is the reference; every path
// gives the same z, consumes the same bits and rejects the same streams.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "entropy/rans_word.hpp"

namespace qstore {

// Position in an extra-bit stream of `size` bytes (pos counts bits).
struct ExtraBitReader {
    const uint8_t* data = nullptr;
    size_t size = 0;
    uint64_t pos = 0;
};

// z[k] of tokens[k], k < m, for a high dtype of `dtype_bits` bits (16 or 32). A token
// above the dtype's largest (63, 127) or extra bits beyond the stream are corrupt.
void tokens_to_z(const uint8_t* tokens, size_t m, int dtype_bits, ExtraBitReader& r, uint32_t* z, KernelSet isa,
                 const std::string& what);

// The stream must be used up: its size is exactly ceil(pos / 8) bytes (the unread
// bits of the last byte are padding). Else corrupt.
void extra_bits_finish(const ExtraBitReader& r, const std::string& what);

}  // namespace qstore
