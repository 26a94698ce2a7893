#include "pack/container_writer.hpp"

#include <zstd.h>

#include "base/checksum.hpp"
#include "base/error.hpp"

namespace qstore {

namespace {

// The metadata and the index are compressed once per file: a level beyond 3 costs far
// more time than the bytes it saves on an index of thousands of tensors.
constexpr int kIndexZstdLevel = 3;

std::vector<uint8_t> zstd_frame(const std::vector<uint8_t>& raw) {
    std::vector<uint8_t> out(ZSTD_compressBound(raw.size()));
    size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), kIndexZstdLevel);
    if (ZSTD_isError(n)) fail(Errc::internal, "zstd compression of the index failed");
    out.resize(n);
    return out;
}

SectionEntry level_section(uint32_t level, uint64_t offset, uint64_t size, uint64_t sum) {
    SectionEntry e;
    e.kind = static_cast<uint32_t>(SectionKind::level_data);
    e.flags = kSectionRequired;
    e.level = level;
    e.offset = offset;
    e.stored_size = e.raw_size = size;
    e.checksum = sum;
    return e;
}

}  // namespace

ContainerWriter::ContainerWriter(const std::string& path, size_t levels, ContainerPlan plan)
    : path_(path), plan_(std::move(plan)), out_(path, false) {
    for (size_t k = 1; k < levels; ++k) upper_.push_back(std::make_unique<FileSink>(path, true));
    if (plan_.kind != ContainerKind::qs) {
        out_.write(plan_.prefix.data(), plan_.prefix.size());  // a safetensors one is patched by finish()
    } else {
        const std::vector<uint8_t> zero_header(kHeaderSize, 0);
        out_.write(zero_header.data(), zero_header.size());  // patched by finish()
    }
    levels_.push_back(Level{&out_, out_.position()});
    out_.restart_checksum();
    for (auto& sink : upper_) levels_.push_back(Level{sink.get(), 0});
}

PartRef ContainerWriter::write_part(size_t level, const PendingPart& part) {
    FileSink& sink = *levels_.at(level).sink;
    sink.pad_to(level == 0 && plan_.kind != ContainerKind::qs ? plan_.part_alignment : part.align);
    PartRef p;
    p.role = part.role;
    p.encoding = part.encoding;
    p.offset = sink.position() - levels_[level].start;
    if (part.borrowed.empty()) {
        p.checksum = checksum(part.owned.data(), part.owned.size());
    } else {
        Checksummer sum;  // the XXH3 of the owned and the borrowed bytes back to back
        sum.update(part.owned.data(), part.owned.size());
        for (const BlockRef& b : part.borrowed) sum.update(b.data, b.size);
        p.checksum = sum.digest();
    }
    sink.write(part.owned.data(), part.owned.size());
    p.size = part.owned.size();
    for (const BlockRef& b : part.borrowed) {
        sink.write(b.data, b.size);
        p.size += b.size;
    }
    return p;
}

SectionEntry ContainerWriter::level_zero_section() {
    if (plan_.kind != ContainerKind::qs) {
        // The data section ends padded (GGUF: each tensor's room is padded); the qstore
        // header follows at once (safetensors: the trailing tensor starts there).
        out_.write(plan_.derived_data.data(), plan_.derived_data.size());
        out_.pad_to(plan_.part_alignment);
        if (out_.position() != plan_.qstore_offset())
            fail(Errc::internal, path_ + ": the container's data section is not where its header says");
    }
    return level_section(0, levels_[0].start, out_.position() - levels_[0].start, out_.checksum());
}

SectionEntry ContainerWriter::write_small_section(SectionKind kind, const std::vector<uint8_t>& raw) {
    std::vector<uint8_t> stored = zstd_frame(raw);
    const bool compressed = stored.size() < raw.size();
    if (!compressed) stored = raw;
    out_.pad_to(kAlignment);
    SectionEntry e;
    e.kind = static_cast<uint32_t>(kind);
    e.flags = kSectionRequired | (compressed ? kSectionZstd : 0);
    e.offset = out_.position();
    e.stored_size = stored.size();
    e.raw_size = raw.size();
    e.checksum = checksum(stored.data(), stored.size());
    out_.write(stored.data(), stored.size());
    return e;
}

FileHeader ContainerWriter::finish(const std::string& metadata, const std::vector<uint8_t>& index, uint16_t minor,
                                   const std::vector<uint8_t>& gguf_layout) {
    std::vector<SectionEntry> sections;
    sections.push_back(level_zero_section());
    if (plan_.kind != ContainerKind::qs) {
        header_offset_ = out_.position();
        const std::vector<uint8_t> zero_header(kHeaderSize, 0);
        out_.write(zero_header.data(), zero_header.size());  // patched below
    }
    sections.push_back(write_small_section(SectionKind::metadata, std::vector<uint8_t>(metadata.begin(), metadata.end())));
    sections.push_back(write_small_section(SectionKind::tensor_index, index));
    if (!gguf_layout.empty()) sections.push_back(write_small_section(SectionKind::gguf_layout, gguf_layout));

    // The directory lists the upper levels too: where each will start is known once the
    // directory's own offset is.
    out_.pad_to(kAlignment);
    FileHeader h;
    h.minor = minor;
    h.directory_offset = out_.position();
    h.directory_count = static_cast<uint32_t>(sections.size() + upper_.size());
    uint64_t next = align_up(h.directory_offset + directory_size(h.directory_count), kAlignment);
    h.low_prefix_end = next;
    for (size_t k = 1; k <= upper_.size(); ++k) {
        const FileSink& sink = *upper_[k - 1];
        sections.push_back(level_section(static_cast<uint32_t>(k), next, sink.position(), sink.checksum()));
        next = align_up(next + sink.position(), kAlignment);
    }
    const auto directory = serialize_directory(sections);
    out_.write(directory.data(), directory.size());
    for (size_t k = 1; k <= upper_.size(); ++k) {
        out_.pad_to(kAlignment);
        if (out_.position() != sections[sections.size() - upper_.size() + k - 1].offset)
            fail(Errc::internal, path_ + ": section offset mismatch");
        out_.append_from(*upper_[k - 1]);
    }
    h.file_size = out_.position();
    const auto header = serialize_header(h);
    out_.write_at(header_offset_, header.data(), header.size());
    if (plan_.kind != ContainerKind::qs) {
        const std::vector<uint8_t> prefix = plan_.final_prefix(h.file_size);
        out_.write_at(0, prefix.data(), prefix.size());
    }
    out_.close();
    return h;
}

}  // namespace qstore
