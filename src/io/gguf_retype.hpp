// A GGUF header for the same model with other tensor types, as llama-quantize writes
// one: every key/value pair of the original in its order and bytes, except
// general.quantization_version and general.file_type, which come last as u32 (the
// order llama.cpp's gguf_set_val_u32 leaves them in); version 3; the tensor infos in
// the original order with their new types; each tensor's data at the next multiple of
// the alignment after the one before it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/gguf_layout.hpp"

namespace qstore {

constexpr uint32_t kGgmlQuantizationVersion = 2;  // GGML_QNT_VERSION

// llama_ftype values (llama.h) of the files qstore writes.
enum class LlamaFileType : uint32_t { all_f32 = 0, mostly_f16 = 1, mostly_q4_0 = 2, mostly_q8_0 = 7, mostly_bf16 = 32 };

struct RetypedGguf {
    std::vector<uint8_t> header;    // up to the data section, padding included
    std::vector<uint64_t> offsets;  // each tensor's offset in the data section, in info order
    std::vector<uint64_t> sizes;    // each tensor's bytes
    uint32_t alignment = kGgufDefaultAlignment;
};

// Key/value pairs added after general.file_type (a container's qstore.* keys):
// `count` pairs, serialized back to back in `bytes`.
struct GgufExtraKeys {
    std::vector<uint8_t> bytes;
    uint64_t count = 0;
    void add_u64(const std::string& key, uint64_t value);
    void add_string(const std::string& key, const std::string& value);
};

// `types`: the new ggml type of each tensor info, in info order (sizes from
// ggml_tensor_bytes: Errc::unsupported or corrupt, naming `what` and the tensor, if a
// type cannot hold its shape).
RetypedGguf retype_gguf(const GgufLayout& layout, const std::vector<uint32_t>& types, LlamaFileType file_type,
                        const std::string& what, const GgufExtraKeys& extra = {});

// llama-quantize's file type for new types `types` (in info order): mostly Q4_0 if
// most changed tensors became Q4_0, else mostly Q8_0.
LlamaFileType llama_file_type(const GgufLayout& layout, const std::vector<uint32_t>& types);

}  // namespace qstore
