// Writing the .qs container, in the order docs/FORMAT.md §1 lays it out and
// container/format.hpp parses it: a header (written last), the section of level 0, the
// metadata and tensor index sections, the section directory, then the sections of
// levels 1..L. Parts of levels above 0 go to unnamed temporary files while tensors are
// written, and are appended after the directory in level order, so that every level's
// data, with all below it, is a prefix of the file.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/reusable_bytes.hpp"
#include "container/format.hpp"
#include "io/file_sink.hpp"
#include "pack/container_plan.hpp"

namespace qstore {

// One part of an encoded tensor, not yet written: bytes it owns (the whole part, or a
// block container's table), then the bytes it points to (the blocks in its tensor's
// arena), valid until the part is written.
struct PendingPart {
    PartRole role;
    PartEncoding encoding;
    ByteVector owned;
    std::vector<BlockRef> borrowed;
    uint64_t align = 1;

    static PendingPart owning(PartRole r, PartEncoding e, ByteVector bytes, uint64_t align) {
        return PendingPart{r, e, std::move(bytes), {}, align};
    }
    static PendingPart of_blocks(PartRole r, std::vector<BlockRef> blocks) {
        const std::vector<uint8_t> table = block_container_table(blocks);
        return PendingPart{r, PartEncoding::blocks, ByteVector(table.begin(), table.end()), std::move(blocks), 1};
    }
};

class ContainerWriter {
public:
    // A new file at `path` (atomically replaced at finish(), io/atomic_file.hpp) with
    // level sections 0..levels-1. A container (plan.kind not qs, pack/container_plan.hpp)
    // starts with the plan's prefix; its level-0 section is the data section, with every
    // part at a multiple of plan.part_alignment, and its qstore header follows it.
    ContainerWriter(const std::string& path, size_t levels, ContainerPlan plan = {});

    // Appends a part to its level's section; the part's record (offset in the section).
    PartRef write_part(size_t level, const PendingPart& part);
    const ContainerPlan& plan() const { return plan_; }

    // Writes the metadata (JSON text), the tensor index (serialize_index) and, if not
    // empty, the gguf_layout section (io/gguf_layout.hpp), the directory, the upper
    // levels and the header stamped with format 1.`minor`; then closes the file.
    // Returns the header as written.
    FileHeader finish(const std::string& metadata, const std::vector<uint8_t>& index, uint16_t minor,
                      const std::vector<uint8_t>& gguf_layout = {});

private:
    struct Level {
        FileSink* sink;
        uint64_t start;  // the section's offset in its sink
    };
    SectionEntry level_zero_section();
    SectionEntry write_small_section(SectionKind kind, const std::vector<uint8_t>& raw);

    std::string path_;
    ContainerPlan plan_;
    uint64_t header_offset_ = 0;  // where the qstore header goes
    FileSink out_;
    std::vector<std::unique_ptr<FileSink>> upper_;  // levels 1..L, unnamed temporary files
    std::vector<Level> levels_;
};

}  // namespace qstore
