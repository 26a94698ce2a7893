// The .qs container, as written down in docs/FORMAT.md: constants, the fixed-size
// file header and section directory, and the tensor index records. This file and
// container/format.cpp are the only places that know the byte layout of those structures.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/dtype.hpp"
#include "schemes/registry.hpp"
#include "schemes/scheme.hpp"

namespace qstore {

constexpr uint8_t kMagic[8] = {0x89, 'Q', 'S', 'T', 'O', 'R', 'E', '\n'};
constexpr uint16_t kFormatMajor = 1;
constexpr uint16_t kFormatMinor = 5;  // 1.1: schemes 6-11, group sizes, chains, zero points; 1.2: word-rANS streams;
                                      // 1.3: rANS models in syntax 2; 1.4: the gguf_layout section;
                                      // 1.5: containers (container/compat.hpp), schemes 12-13,
                                      // INT8 codes of tiny scales in chains
constexpr uint64_t kHeaderSize = 64;
constexpr uint64_t kDirectoryEntrySize = 48;
constexpr uint64_t kAlignment = 64;  // sections, and parts of --low-raw files

enum class SectionKind : uint32_t {
    metadata = 1,      // JSON object (docs/FORMAT.md §4)
    tensor_index = 2,  // tensor records
    level_data = 3,    // the parts of precision level `level` of every tensor
    gguf_layout = 4,   // since 1.4: what rebuilds the GGUF file the model came from (io/gguf_layout.hpp)
};
constexpr uint32_t kSectionRequired = 1u << 0;  // a reader that does not know the kind must refuse
constexpr uint32_t kSectionZstd = 1u << 1;      // payload is one zstd frame of raw_size bytes

struct FileHeader {
    uint16_t major = kFormatMajor;
    uint16_t minor = kFormatMinor;
    uint32_t flags = 0;
    uint64_t file_size = 0;
    uint64_t directory_offset = 0;
    uint32_t directory_count = 0;
    uint64_t low_prefix_end = 0;  // first byte that level 0 (the low precision) does not need
};

// What a file uses that format 1.0 did not have (docs/FORMAT.md §1, `minor`).
struct FormatFeatures {
    bool chain = false;              // 1.1: a tensor with two or more low levels (scheme byte 255)
    bool scheme_since_1_1 = false;   // 1.1: a scheme byte 6..11
    bool word_layout_block = false;  // 1.1: a residual block in the word-rANS layout
    // 1.3: a rANS model in syntax 2 (every model qstore writes, so also every word_rans
    // stream, which 1.2 added).
    bool rans_model = false;
    bool gguf_layout = false;  // 1.4: a gguf_layout section (packed from a GGUF file)
    bool container = false;    // 1.5: a GGUF or safetensors container (the header not at offset 0)
    bool scheme_since_1_5 = false;  // 1.5: a scheme byte 12 or 13
    // 1.5: a middle level of a chain in int8-row / int8-tensor with a scale whose 127 / s
    // overflows: its codes follow the 1.5 rule (schemes/int8.hpp).
    bool int8_tiny_scale_chain = false;
    FormatFeatures& operator|=(const FormatFeatures& o);
};
// The lowest format minor version that reads a file using `f`: the one place where
// features map to versions (the header's `minor`).
uint16_t format_minor_needed(const FormatFeatures& f);

struct SectionEntry {
    uint32_t kind = 0;
    uint32_t flags = 0;
    uint32_t level = 0;  // level_data only
    uint64_t offset = 0;
    uint64_t stored_size = 0;
    uint64_t raw_size = 0;
    uint64_t checksum = 0;  // XXH3-64 of the stored bytes
};

enum class PartRole : uint8_t {
    data = 1,           // a passthrough tensor's bytes
    codes = 2,          // level 0 codes
    scales = 3,         // a low level's scales
    residual = 4,       // the top level: the residual that rebuilds the high precision
    zero_points = 5,    // a low level's zero points (asymmetric schemes)
    code_residual = 6,  // levels 1..L-1 of a chain: codes coded on the level below
};
constexpr uint8_t kSchemeChain = 255;  // index scheme byte of a tensor with several low levels
constexpr size_t kMaxLowLevels = 8;     // low precisions of one tensor (a chain holds 2 to 8)
enum class PartEncoding : uint8_t {
    raw = 0,     // the decoded bytes themselves
    blocks = 1,       // a block container of stream sets (docs/FORMAT.md §6)
    byte_planes = 2,  // one stream set; stream k holds byte k of every element (scales)
};

struct PartRef {
    PartRole role = PartRole::data;
    PartEncoding encoding = PartEncoding::raw;
    uint64_t offset = 0;  // relative to the start of its level's section
    uint64_t size = 0;    // stored bytes
    uint64_t checksum = 0;
};

struct TensorRecord {
    std::string name;
    DType high_dtype = DType::unknown;
    std::vector<uint64_t> shape;
    std::vector<SchemeSpec> low;               // low precisions, lowest first; empty = passthrough
    uint64_t rows_per_block = 0;               // quantized tensors: rows in each coding block
    // levels[k] for k < low.size(): low precision k; levels[low.size()]: residual to high.
    std::vector<std::vector<PartRef>> levels;

    bool quantized() const { return !low.empty(); }
    size_t top_level() const { return low.size(); }  // the high precision's level
    // The scheme of low level k (k < low.size()).
    const LowScheme& scheme(size_t k) const { return *low_scheme(low.at(k)); }

    uint64_t elements() const;
    Geometry geometry() const;  // rows = shape[0], cols = the rest
    const PartRef* part(size_t level, PartRole role) const;
};

std::vector<uint8_t> serialize_header(const FileHeader& h);
FileHeader parse_header(const uint8_t* p, const std::string& what);  // kHeaderSize bytes

std::vector<uint8_t> serialize_directory(const std::vector<SectionEntry>& entries);
std::vector<SectionEntry> parse_directory(const uint8_t* p, size_t count, const std::string& what);
inline uint64_t directory_size(size_t count) { return count * kDirectoryEntrySize + 8; }

std::vector<uint8_t> serialize_index(const std::vector<TensorRecord>& tensors);
std::vector<TensorRecord> parse_index(const uint8_t* p, size_t size, const std::string& what);

// Block container: varint block count, varint size of each block, then the blocks.
// The writer writes the table and then the blocks from where they lie (no copy to join them).
struct BlockRef {
    const uint8_t* data;
    size_t size;
};
std::vector<uint8_t> block_container_table(const std::vector<BlockRef>& blocks);
std::vector<BlockRef> parse_block_container(const uint8_t* p, size_t size, const std::string& what);
// The table alone, from the first `available` bytes of a container of `size` bytes (for
// a reader that fetches only some blocks): each block's size and the table's length. A
// table of n blocks takes at most kMaxBlockTableBytesPerBlock * (n + 1) bytes.
struct BlockTable {
    uint64_t table_bytes = 0;
    std::vector<uint64_t> sizes;
};
constexpr uint64_t kMaxBlockTableBytesPerBlock = 10;  // a varint of a u64
BlockTable parse_block_table(const uint8_t* p, size_t available, uint64_t size, const std::string& what);

inline uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace qstore
