// Static order-0 rANS (range asymmetric numeral systems) over bytes: the entropy
// coder of qstore's token and code streams. zstd's Huffman literals lose 0.3-0.5 bits
// per symbol on the small, skewed alphabets of residual tokens (docs/BENCHMARKS.md);
// rANS codes within ~0.01 bit of the empirical entropy plus a small table.
//
// Stream layout (docs/FORMAT.md §6.1): u8 scale_bits, the normalized frequency table,
// then the rANS payload: four interleaved 32-bit states (symbol i uses state i % 4),
// byte-wise renormalization, states stored first, little-endian.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace qstore {

// Appends the encoding of data[0..n) to out. n must be >= 1.
void rans_encode(const uint8_t* data, size_t n, std::vector<uint8_t>& out);

// Decodes exactly n symbols from the stored stream; throws Errc::corrupt on any
// inconsistency (bad table, payload too short or too long).
void rans_decode(const uint8_t* stored, size_t stored_size, uint8_t* dst, size_t n, const std::string& what);

}  // namespace qstore
