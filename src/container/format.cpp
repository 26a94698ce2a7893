#include "container/format.hpp"

#include <cstring>

#include "base/byte_io.hpp"
#include "base/checksum.hpp"
#include "base/error.hpp"
#include "base/input_checks.hpp"
#include "schemes/registry.hpp"

namespace qstore {

uint64_t TensorRecord::elements() const {
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    return n;
}

Geometry TensorRecord::geometry() const {
    Geometry g;
    g.rows = shape.empty() ? 1 : shape[0];
    g.cols = g.rows == 0 ? 0 : elements() / g.rows;
    return g;
}

const PartRef* TensorRecord::part(size_t level, PartRole role) const {
    if (level >= levels.size()) return nullptr;
    for (const auto& p : levels[level])
        if (p.role == role) return &p;
    return nullptr;
}

FormatFeatures& FormatFeatures::operator|=(const FormatFeatures& o) {
    chain = chain || o.chain;
    scheme_since_1_1 = scheme_since_1_1 || o.scheme_since_1_1;
    word_layout_block = word_layout_block || o.word_layout_block;
    rans_model = rans_model || o.rans_model;
    gguf_layout = gguf_layout || o.gguf_layout;
    container = container || o.container;
    scheme_since_1_5 = scheme_since_1_5 || o.scheme_since_1_5;
    int8_tiny_scale_chain = int8_tiny_scale_chain || o.int8_tiny_scale_chain;
    return *this;
}

uint16_t format_minor_needed(const FormatFeatures& f) {
    if (f.container || f.scheme_since_1_5 || f.int8_tiny_scale_chain) return 5;
    if (f.gguf_layout) return 4;
    if (f.rans_model) return 3;
    if (f.chain || f.scheme_since_1_1 || f.word_layout_block) return 1;
    return 0;
}

std::vector<uint8_t> serialize_header(const FileHeader& h) {
    std::vector<uint8_t> out;
    put_bytes(out, kMagic, 8);
    put_u16(out, h.major);
    put_u16(out, h.minor);
    put_u32(out, h.flags);
    put_u64(out, h.file_size);
    put_u64(out, h.directory_offset);
    put_u32(out, h.directory_count);
    put_u32(out, 0);
    put_u64(out, h.low_prefix_end);
    put_u64(out, 0);
    put_u64(out, checksum(out.data(), out.size()));
    return out;
}

FileHeader parse_header(const uint8_t* p, const std::string& what) {
    if (std::memcmp(p, kMagic, 8) != 0) fail(Errc::not_qstore, what + ": not a qstore file (bad magic)");
    ByteReader r(p + 8, kHeaderSize - 8, what, ": header");
    if (checksum(p, kHeaderSize - 8) != load_le(p + kHeaderSize - 8, 8))
        fail(Errc::corrupt, what + ": header checksum mismatch");
    FileHeader h;
    h.major = r.u16();
    h.minor = r.u16();
    if (h.major != kFormatMajor)
        fail(Errc::unsupported, what + ": format version " + std::to_string(h.major) + "." + std::to_string(h.minor) +
                                    " is not supported (this library reads " + std::to_string(kFormatMajor) + ".x)");
    // Writers stamp the lowest version that reads the file, so a higher minor version
    // means features this library does not know.
    if (h.minor > kFormatMinor)
        fail(Errc::unsupported, what + ": format version " + std::to_string(h.major) + "." + std::to_string(h.minor) +
                                    " is newer than this library's " + std::to_string(kFormatMajor) + "." +
                                    std::to_string(kFormatMinor) + " (written by a newer qstore?)");
    h.flags = r.u32();
    h.file_size = r.u64();
    h.directory_offset = r.u64();
    h.directory_count = r.u32();
    r.u32();
    h.low_prefix_end = r.u64();
    return h;
}

std::vector<uint8_t> serialize_directory(const std::vector<SectionEntry>& entries) {
    std::vector<uint8_t> out;
    for (const auto& e : entries) {
        put_u32(out, e.kind);
        put_u32(out, e.flags);
        put_u32(out, e.level);
        put_u32(out, 0);
        put_u64(out, e.offset);
        put_u64(out, e.stored_size);
        put_u64(out, e.raw_size);
        put_u64(out, e.checksum);
    }
    put_u64(out, checksum(out.data(), out.size()));
    return out;
}

std::vector<SectionEntry> parse_directory(const uint8_t* p, size_t count, const std::string& what) {
    const size_t body = count * kDirectoryEntrySize;
    if (checksum(p, body) != load_le(p + body, 8)) fail(Errc::corrupt, what + ": section directory checksum mismatch");
    ByteReader r(p, body, what, ": section directory");
    std::vector<SectionEntry> entries(count);
    for (auto& e : entries) {
        e.kind = r.u32();
        e.flags = r.u32();
        e.level = r.u32();
        r.u32();
        e.offset = r.u64();
        e.stored_size = r.u64();
        e.raw_size = r.u64();
        e.checksum = r.u64();
    }
    return entries;
}

std::vector<uint8_t> serialize_index(const std::vector<TensorRecord>& tensors) {
    std::vector<uint8_t> out;
    put_varint(out, tensors.size());
    for (const auto& t : tensors) {
        put_varint(out, t.name.size());
        put_bytes(out, t.name.data(), t.name.size());
        put_u8(out, static_cast<uint8_t>(t.high_dtype));
        put_u8(out, static_cast<uint8_t>(t.shape.size()));
        for (uint64_t d : t.shape) put_varint(out, d);
        auto put_spec = [&](const SchemeSpec& s) {
            put_u8(out, static_cast<uint8_t>(s.id));
            if (scheme_has_group(s.id)) put_varint(out, s.group);
        };
        if (t.low.empty()) {
            put_u8(out, static_cast<uint8_t>(SchemeId::passthrough));
        } else if (t.low.size() == 1) {
            put_spec(t.low[0]);
        } else {
            put_u8(out, kSchemeChain);
            put_u8(out, static_cast<uint8_t>(t.low.size()));
            for (const auto& s : t.low) put_spec(s);
        }
        put_varint(out, t.rows_per_block);
        put_u8(out, static_cast<uint8_t>(t.levels.size()));
        for (const auto& level : t.levels) {
            put_u8(out, static_cast<uint8_t>(level.size()));
            for (const auto& part : level) {
                put_u8(out, static_cast<uint8_t>(part.role));
                put_u8(out, static_cast<uint8_t>(part.encoding));
                put_varint(out, part.offset);
                put_varint(out, part.size);
                put_u64(out, part.checksum);
            }
        }
    }
    return out;
}

std::vector<TensorRecord> parse_index(const uint8_t* p, size_t size, const std::string& what) {
    ByteReader r(p, size, what, ": tensor index");
    uint64_t count = r.varint();
    if (count > size) fail(Errc::corrupt, what + ": implausible tensor count");
    std::vector<TensorRecord> tensors(count);
    for (auto& t : tensors) {
        t.name = r.string(r.varint());
        check_name(t.name, what + ": tensor index: ", "tensor name");  // the C API hands names out as C strings
        uint8_t dt = r.u8();
        if (!dtype_is_valid(dt)) fail(Errc::unsupported, what + ": tensor '" + t.name + "': unknown dtype");
        t.high_dtype = static_cast<DType>(dt);
        uint8_t ndim = r.u8();
        if (ndim > 8) fail(Errc::corrupt, what + ": tensor '" + t.name + "': more than 8 dimensions");
        uint64_t n = 1;
        for (int i = 0; i < ndim; ++i) {
            uint64_t d = r.varint();
            if (d != 0 && n > (UINT64_MAX / 16) / d) fail(Errc::corrupt, what + ": tensor '" + t.name + "': shape overflows");
            n *= d;
            t.shape.push_back(d);
        }
        auto read_spec = [&](uint8_t id) {
            SchemeSpec s;
            s.id = static_cast<SchemeId>(id);
            if (scheme_has_group(s.id)) {
                const uint64_t g = r.varint();
                if (g == 0 || g > UINT32_MAX) fail(Errc::corrupt, what + ": tensor '" + t.name + "': bad group size");
                s.group = static_cast<uint32_t>(g);
            }
            if (!low_scheme(s))
                fail(Errc::unsupported, what + ": tensor '" + t.name + "': unknown low-precision scheme " +
                                            std::to_string(id));
            t.low.push_back(s);
        };
        const uint8_t scheme = r.u8();
        if (scheme == kSchemeChain) {
            const uint8_t chain_length = r.u8();
            if (chain_length < 2 || chain_length > kMaxLowLevels)
                fail(Errc::corrupt, what + ": tensor '" + t.name + "': bad chain length");
            for (int k = 0; k < chain_length; ++k) {
                const uint8_t id = r.u8();
                if (id == 0 || id == kSchemeChain) fail(Errc::corrupt, what + ": tensor '" + t.name + "': bad chain");
                read_spec(id);
            }
        } else if (scheme != 0) {
            read_spec(scheme);
        }
        t.rows_per_block = r.varint();
        uint8_t levels = r.u8();
        t.levels.resize(levels);
        for (auto& level : t.levels) {
            uint8_t parts = r.u8();
            for (int i = 0; i < parts; ++i) {
                PartRef part;
                part.role = static_cast<PartRole>(r.u8());
                part.encoding = static_cast<PartEncoding>(r.u8());
                if (static_cast<uint8_t>(part.encoding) > static_cast<uint8_t>(PartEncoding::byte_planes))
                    fail(Errc::unsupported, what + ": tensor '" + t.name + "': unknown part encoding");
                part.offset = r.varint();
                part.size = r.varint();
                part.checksum = r.u64();
                level.push_back(part);
            }
        }
    }
    if (!r.at_end()) fail(Errc::corrupt, what + ": trailing bytes after the tensor index");
    return tensors;
}

std::vector<uint8_t> block_container_table(const std::vector<BlockRef>& blocks) {
    std::vector<uint8_t> table;
    put_varint(table, blocks.size());
    for (const BlockRef& b : blocks) put_varint(table, b.size);
    return table;
}

std::vector<BlockRef> parse_block_container(const uint8_t* p, size_t size, const std::string& what) {
    ByteReader r(p, size, what, ": block table");
    uint64_t count = r.varint();
    if (count > size) fail(Errc::corrupt, what + ": implausible block count");
    std::vector<BlockRef> blocks(count);
    uint64_t total = 0;
    for (auto& b : blocks) {
        b.size = r.varint();
        if (b.size > size) fail(Errc::corrupt, what + ": block larger than its part");
        total += b.size;
    }
    if (total != r.remaining()) fail(Errc::corrupt, what + ": block sizes do not add up to the part");
    const uint8_t* q = r.position();
    for (auto& b : blocks) {
        b.data = q;
        q += b.size;
    }
    return blocks;
}

BlockTable parse_block_table(const uint8_t* p, size_t available, uint64_t size, const std::string& what) {
    ByteReader r(p, available, what, ": block table");
    BlockTable t;
    const uint64_t count = r.varint();
    if (count > size) fail(Errc::corrupt, what + ": implausible block count");
    t.sizes.resize(count);
    uint64_t total = 0;
    for (auto& b : t.sizes) {
        b = r.varint();
        if (b > size) fail(Errc::corrupt, what + ": block larger than its part");
        total += b;
    }
    t.table_bytes = available - r.remaining();
    if (total != size - t.table_bytes) fail(Errc::corrupt, what + ": block sizes do not add up to the part");
    return t;
}

}  // namespace qstore
