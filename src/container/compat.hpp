// Containers (docs/FORMAT.md §11): a .qs file inside a GGUF or safetensors file whose
// tensors are the low precision, so that runtimes load the low model as it is. The
// foreign header and the level-0 section (the tensor data) come first; the qstore
// header, metadata, index, directory and upper levels follow, found through the keys
// below. Every offset stays absolute (from the start of the file).
#pragma once

#include <cstdint>

namespace qstore {

enum class ContainerKind : uint8_t {
    qs = 0,           // a plain .qs file: the qstore header at offset 0
    gguf = 1,         // a GGUF file of the low model
    safetensors = 2,  // a safetensors file of the low model
};

// GGUF: a u64 key/value pair; safetensors: a `__metadata__` string in decimal. The
// absolute offset of the qstore header.
constexpr const char* kContainerOffsetKey = "qstore.offset";
// Informative: the scheme of level 0 (a GGUF string, a safetensors `__metadata__` string).
constexpr const char* kContainerSchemeKey = "qstore.low_scheme";
// Safetensors: the U8 tensor that spans the qstore part, from the qstore header to the
// end of the file (safetensors readers want the last tensor to end there). A model
// tensor of this name cannot be put in a container.
constexpr const char* kContainerTensor = "__qstore__";

inline const char* container_name(ContainerKind k) {
    return k == ContainerKind::gguf ? "gguf" : k == ContainerKind::safetensors ? "safetensors" : "qs";
}

}  // namespace qstore
