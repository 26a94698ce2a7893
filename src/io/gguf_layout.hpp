// What a .qs file keeps of a GGUF model it was packed from, beyond the tensors, so
// that the GGUF file can be written back byte for byte (the `gguf_layout` section,
// docs/FORMAT.md §4.4): the file's bytes before the data section (header, key/value
// pairs, tensor infos, padding), the size of the data section, and every byte of the
// data section that no tensor covers (padding, trailing bytes), in file order.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "io/gguf.hpp"
#include "io/gguf_header.hpp"

namespace qstore {

struct GgufLayout {
    std::vector<uint8_t> header_bytes;  // file bytes [0, data_offset)
    uint64_t data_size = 0;             // bytes of the data section (to the end of the file)
    std::vector<uint8_t> gap_bytes;     // data-section bytes outside every tensor, in file order
    GgufHeader header;                  // header_bytes parsed
};

// The section's bytes for a model read with GgufUse::model.
std::vector<uint8_t> serialize_gguf_layout(const GgufReader& model);
// Parses a section; Errc::corrupt naming `what` if it is not one.
GgufLayout parse_gguf_layout(const uint8_t* p, size_t size, const std::string& what);

// The tensor infos by ascending offset, each with the gap bytes before it, then the
// gap after the last one: calls gap(bytes, n) and tensor(info) in file order.
// Errc::corrupt naming `what` if the tensors overlap, leave the data section, or the
// gaps do not add up.
void walk_gguf_data(const GgufLayout& layout, const std::string& what,
                    const std::function<void(const uint8_t*, size_t)>& gap,
                    const std::function<void(const GgufTensorInfo&)>& tensor);

}  // namespace qstore
