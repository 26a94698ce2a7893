// Packing: a model in (safetensors, or any ordered TensorSource), one .qs file out,
// tensor by tensor through the Writer (pack/writer.hpp: peak memory is about one
// tensor per thread, never the model). Level 0 (low codes, scales, passthrough
// tensors) goes straight to the output; residuals go to an unnamed temporary file and
// are appended after the index, so the low precision is a prefix.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "container/compat.hpp"
#include "io/safetensors.hpp"
#include "io/tensor_source.hpp"
#include "schemes/scheme.hpp"

namespace qstore {

struct PackOptions {
    // The low precisions, LOWEST first: one scheme makes a pair (high + low), two or more
    // a chain (high > low[n-1] > ... > low[0]). qstore's own quantizers make each level
    // from the high weights.
    std::vector<SchemeSpec> low = {SchemeSpec{SchemeId::int8_row, 0}};
    bool low_raw = false;                // store the low codes raw and 64-byte aligned (zero-copy loads)
    // Level of every zstd stream. zstd competes with rANS on each stream and wins mostly
    // through its Huffman literals, the same at levels 1 and 3: level 1 writes files
    // almost as small as level 3 in much less time (docs/design/code-notes.md).
    int zstd_level = 1;
    std::vector<std::string> exclude;    // fnmatch(3) patterns of tensor names stored as they are
    // With a given low file: refuse to pack (Errc::invalid_argument) if any of its tensors
    // goes unused or a quantizable tensor has no usable codes in it (PackStats lists).
    bool strict_given_low = false;
    unsigned threads = 0;                // 0 = one per CPU
    // The SIMD kernels the pack runs, lowered to what the CPU runs (every set writes the
    // same bytes).
    KernelSet kernel_set = kernel_set_detected();
    uint64_t block_elements = 1u << 18;  // target elements per coding block (whole rows)
    // Called after each tensor is written: (tensors done, total, name just written); in
    // tensor order, one call at a time, from one of the pack's threads (a Writer's total:
    // as its constructor was told, 0 if not).
    std::function<void(size_t, size_t, const std::string&)> progress;
    // A model packed from a GGUF file: its gguf_layout section (io/gguf_layout.hpp), so
    // that the file can be rebuilt byte for byte; empty otherwise.
    std::vector<uint8_t> gguf_layout;
    // A GGUF or safetensors file of the low model with the .qs file inside
    // (container/compat.hpp; pack() only, which stores the low codes raw for it).
    ContainerKind container = ContainerKind::qs;
    // llama-quantize's type mix with --low q4_0 (a pair): this tensor (the model's output
    // tensor, llama_mix_tensor()) gets q8_0 codes instead, as llama-quantize gives it Q8_0.
    std::string llama_mix_tensor;
};

// The scheme the llama_mix_tensor gets (q8_0).
const LowScheme* llama_mix_scheme();
// The output tensor llama-quantize's mix quantizes to Q8_0 with Q4_0: "output.weight",
// else "token_embd.weight" (tied embeddings); empty if the model has neither.
std::string llama_mix_tensor(const std::vector<SafetensorsTensor>& tensors);

struct PackStats {
    uint64_t tensors = 0;
    uint64_t quantized_tensors = 0;
    uint64_t quantized_elements = 0;
    uint64_t high_bytes = 0;         // all tensor bytes of the high model
    uint64_t low_separate_bytes = 0; // tensor bytes of the separate low models (codes + scales + zero points
                                     // of every low level, + passthrough once)
    uint64_t file_size = 0;
    uint64_t low_prefix_end = 0;
    // With a given low file (pack/given_low.hpp): its tensors that no high tensor used, and
    // the quantizable high tensors it had no usable codes for (stored unquantized).
    std::vector<std::string> given_low_unused;
    std::vector<std::string> given_low_missing;
};

// `high` is the model, its tensors written in its order with its string metadata.
// `given_low`, if not null, supplies the low precision (schemes/layout.hpp) instead of
// qstore's own quantizer; options.low (one scheme) says which scheme it follows. It is a
// SafetensorsReader or a GgufReader (io/gguf.hpp). `out_path` is checked before any work
// (check_output_path against high's files) and replaced atomically (io/atomic_file.hpp).
PackStats pack(const TensorSource& high, const TensorSource* given_low, const PackOptions& options,
               const std::string& out_path);

}  // namespace qstore
