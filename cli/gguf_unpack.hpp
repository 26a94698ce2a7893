// Unpacking a .qs file packed from a GGUF model (one with a gguf_layout section) to
// GGUF: the high precision as the original file, byte for byte; a low level as the
// file llama-quantize would write (io/gguf_retype.hpp): the original metadata, Q8_0 /
// Q4_0 tensors where the level holds those codes, every other tensor as it was.
#pragma once

#include <cstddef>
#include <string>

#include "read/reader.hpp"

void unpack_gguf_high(const qstore::Reader& r, const std::string& output);
// `level` < the top level of every quantized tensor (checked by the caller).
void unpack_gguf_low(const qstore::Reader& r, size_t level, const std::string& output);
