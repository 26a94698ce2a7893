// Codes of a middle level of a chain (e.g. the INT8 codes of BF16 > INT8 > Q4_0), coded
// on the level below: the lower level's prediction of each high value is quantized with
// this level's stored scales (LowScheme::quantize_with_scales), and only the difference
//   z = zigzag8(key(code) - key(predicted code))   (mod 256; key = LowScheme::code_key)
// is stored, rANS-coded with one model per context class of the lower level's code.
// Block layout: u16 mask of the context classes used, one rANS model per set bit
// (ascending), then the rANS payload of the block's z values to the end of the block
// (docs/FORMAT.md §7.7).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "schemes/scheme.hpp"
#include "entropy/rans.hpp"

namespace qstore {

// `scratch`: the rANS encoder's memory (per thread).
void encode_code_residual_block(const uint8_t* codes, const uint8_t* predicted, const uint8_t* context, uint64_t n,
                                const LowScheme& scheme, RansEncodeScratch& scratch, ByteVector& out);

// Writes n codes; `tables` is per-thread scratch of kContextClasses tables.
void decode_code_residual_block(const uint8_t* blob, size_t size, const uint8_t* predicted, const uint8_t* context,
                                uint64_t n, const LowScheme& scheme, uint8_t* codes, RansTable* tables,
                                const std::string& what);

}  // namespace qstore
