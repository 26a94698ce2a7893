// Unpacking a .qs file packed from a GGUF model (one with a gguf_layout section) to
// GGUF: the high precision as the original file, byte for byte; a low level as the
// file llama-quantize would write (io/gguf_retype.hpp): the original metadata, Q8_0 /
// Q4_0 tensors where the level holds those codes, every other tensor as it was.
// Both write `output` atomically (io/file_sink.hpp) and call progress(done, total,
// tensor name) after each tensor, if set.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "read/reader.hpp"

namespace qstore {

using GgufExportProgress = std::function<void(size_t, size_t, const std::string&)>;

// r.gguf_layout() must not be null.
void export_gguf_high(const Reader& r, const std::string& output, const GgufExportProgress& progress = nullptr);
// `level` < the top level of every quantized tensor (checked by the caller). With
// llama_mix, llama-quantize's type mix: where the level is q4_0, the output tensor
// ("output.weight", or "token_embd.weight" in a model without one) comes from the
// first q8_0 level above it (llama-quantize gives it Q6_K, or Q8_0 when its rows are not
// a multiple of 256), Errc::invalid_argument if there is none: for a file packed with
// --low q8_0 --low q4_0, level 0 is then llama-quantize's Q4_0 file; and an F32 matrix
// left unquantized because its rows are not a multiple of 32 is written F16 (rounded
// to nearest even, NaN as 0x7E00), as llama-quantize falls back to F16 for it.
void export_gguf_low(const Reader& r, size_t level, const std::string& output,
                     const GgufExportProgress& progress = nullptr, bool llama_mix = false);

}  // namespace qstore
