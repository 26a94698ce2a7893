// The layout of a container (container/compat.hpp, docs/FORMAT.md §11), planned before
// any tensor is written: the GGUF or safetensors header of the low model, and where each
// level-0 part (codes, scales, zero points, passthrough data) lands in its data section,
// so that each part is the tensor that header describes. The writer puts every level-0
// part where the plan says (pack/writer.hpp checks it) and the qstore part after them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "container/compat.hpp"
#include "pack/packer.hpp"

namespace qstore {

struct ContainerPlan {
    ContainerKind kind = ContainerKind::qs;
    std::vector<uint8_t> prefix;         // the foreign header; the data section (level 0) starts at its end
    uint64_t part_alignment = 1;         // level-0 parts start at file offsets that are multiples of this
    std::vector<uint64_t> part_offsets;  // each level-0 part's offset in the data section, in write order
    uint64_t data_size = 0;              // the data section, padded to part_alignment
    // Bytes after the last level-0 part, inside the level-0 section: the tensors of the
    // low model's layout that the .qs index does not reference (GPTQ's g_idx).
    std::vector<uint8_t> derived_data;
    // The absolute offset of the qstore header: right after the data section.
    uint64_t qstore_offset() const { return prefix.size() + data_size; }
    // The prefix once the file's size is known, of the same size: a safetensors header
    // then names the end of the trailing tensor (the end of the file).
    std::vector<uint8_t> final_prefix(uint64_t file_size) const;

    // Safetensors: the JSON header around the trailing tensor's end offset, and the
    // header's length (spaces pad it, as the format allows).
    std::string json_head, json_tail;
    uint64_t json_length = 0;
};

// `tensors` in the order they are added, quantized[i] whether tensor i is stored
// quantized (with schemes[0] as level 0), `metadata` the model's string metadata.
// Errc::invalid_argument naming `path` for what the container cannot hold: a GGUF
// container needs a model packed from GGUF (options.gguf_layout) with its tensors in
// data order and q8_0 / q4_0 at level 0; a safetensors container, a tensor name other
// than kContainerTensor and distinct low tensor names.
ContainerPlan plan_container(ContainerKind kind, const std::vector<SafetensorsTensor>& tensors,
                             const std::vector<bool>& quantized, const std::vector<const LowScheme*>& schemes,
                             const PackOptions& options, const std::map<std::string, std::string>& metadata,
                             const std::string& path);

}  // namespace qstore
