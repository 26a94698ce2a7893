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
// `level` < the top level of every quantized tensor (checked by the caller).
void export_gguf_low(const Reader& r, size_t level, const std::string& output,
                     const GgufExportProgress& progress = nullptr);

}  // namespace qstore
