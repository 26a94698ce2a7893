// Reading a .qs file: the one place that interprets the container (via container/format.hpp)
// and decodes tensors. Safe for concurrent loads from many threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <utility>
#include <mutex>
#include <memory>
#include <string>
#include <vector>

#include "base/cpu.hpp"
#include "container/format.hpp"
#include "io/gguf_layout.hpp"
#include "read/container_probe.hpp"
#include "io/byte_source.hpp"
#include "io/mapped_file.hpp"
#include "read/row_span.hpp"
#include "base/metadata.hpp"
#include "base/reusable_bytes.hpp"
#include "base/thread_pool.hpp"

namespace qstore {

struct ReaderOptions {
    unsigned threads = 0;  // 0 = one per CPU
    bool verify_checksums = true;
    // The SIMD kernels the handle decodes with, lowered to what the CPU runs (every set
    // decodes the same values).
    KernelSet kernel_set = kernel_set_detected();
    // How its vector rANS kernels look up their tables (same values either way).
    TableLookup table_lookup = table_lookup_detected();
};

class Reader {
public:
    // A local file (read with pread, zero-copy views from its mapping).
    Reader(const std::string& path, const ReaderOptions& options);
    // Any source. One without memory (a callback) is opened in two read_at calls (a third
    // only when its metadata, index and directory take more than kOpenWindow bytes).
    Reader(std::unique_ptr<ByteSource> source, const ReaderOptions& options);
    static constexpr uint64_t kOpenWindow = 256u << 10;
    ~Reader();

    const std::string& path() const { return file_.name(); }
    const FileHeader& header() const { return header_; }
    // A container (a GGUF or safetensors file of the low model, container/compat.hpp) or a
    // .qs file, and where its qstore header lies (0 in a .qs file).
    ContainerKind container_kind() const { return location_.kind; }
    uint64_t header_offset() const { return location_.header_offset; }
    const std::vector<SectionEntry>& sections() const { return sections_; }
    const std::string& metadata_json() const { return metadata_json_; }
    // A model packed from a GGUF file: what rebuilds that file, its header parsed (the
    // gguf_layout section); null for other files.
    const GgufLayout* gguf_layout() const { return gguf_layout_.get(); }
    // That GGUF file's key/value pairs, typed, in file order; empty for other files.
    const std::vector<GgufKV>& gguf_metadata() const;
    // The model's metadata (container/metadata_json.hpp); Error(corrupt) if the metadata
    // section is not valid (which does not keep the file from opening).
    const Metadata& metadata() const;
    uint64_t actual_size() const { return file_.size(); }
    // True when the source is memory (a mapped file, a buffer): zero-copy views work.
    bool has_memory_view() const { return file_.contiguous() != nullptr; }
    // What the reader reads (read/fetch_plan.hpp asks it to prefetch).
    const ByteSource& source() const { return file_; }
    // The smallest file size that serves every precision level <= level: the header, the
    // directory, every section that is not level data, and the level sections up to it.
    uint64_t level_prefix_end(size_t level) const;
    // What opening reads besides the header: [index_begin(), index_end()) holds the
    // metadata, the tensor index and the directory (every section that is not level data).
    uint64_t index_begin() const;
    uint64_t index_end() const;

    size_t tensor_count() const { return tensors_.size(); }
    const TensorRecord& tensor(size_t i) const { return tensors_.at(i); }
    // SIZE_MAX if absent.
    size_t find(const std::string& name) const;

    uint64_t high_bytes(const TensorRecord& t) const;
    // Native sizes of low level k (level 0 of a passthrough tensor: its bytes).
    uint64_t level_code_bytes(const TensorRecord& t, size_t level) const;
    uint64_t level_scale_bytes(const TensorRecord& t, size_t level) const;
    uint64_t level_zero_point_bytes(const TensorRecord& t, size_t level) const;
    uint64_t low_code_bytes(const TensorRecord& t) const { return level_code_bytes(t, 0); }
    uint64_t low_scale_bytes(const TensorRecord& t) const { return level_scale_bytes(t, 0); }
    // Stored bytes of level k's parts.
    uint64_t stored_bytes(const TensorRecord& t, size_t level) const;
    bool low_codes_raw(const TensorRecord& t) const;

    // Low level `level` (< t.top_level()) in its native layout; zero_points may be null
    // (then not written). The top level is the high precision: load_high.
    void load_level(size_t i, size_t level, void* codes, size_t codes_size, void* scales, size_t scales_size,
                    void* zero_points, size_t zero_points_size) const;
    void load_low(size_t i, void* codes, size_t codes_size, void* scales, size_t scales_size) const {
        load_level(i, 0, codes, codes_size, scales, scales_size, nullptr, 0);
    }
    void view_low(size_t i, const void** codes, const void** scales) const;
    void load_high(size_t i, void* out, size_t out_size) const;
    // Rows `rows` of tensor i (rows.end <= geometry().rows, else Error(invalid_argument)):
    // each level in its native layout restricted to those rows (scales and zero points
    // of the rows; a tile scheme's of the tiles they touch; a per-tensor scheme's one),
    // the high precision's rows. Only the coding blocks holding the rows are decoded.
    struct LevelSizes {
        uint64_t code_bytes = 0, scale_bytes = 0, zero_point_bytes = 0;
    };
    LevelSizes level_row_sizes(const TensorRecord& t, size_t level, RowSpan rows) const;
    void load_level_rows(size_t i, size_t level, RowSpan rows, void* codes, size_t codes_size, void* scales,
                         size_t scales_size, void* zero_points, size_t zero_points_size) const;
    void load_high_rows(size_t i, RowSpan rows, void* out, size_t out_size) const;
    // Runs body(k) for k in [0, count) on the handle's threads (tensors decoded in
    // parallel; each load may itself use the pool for its blocks); bytes_of(k) is the
    // output of item k. Consecutive k go to one thread in runs of about equal output, so
    // that each thread reads the file forward through its own read-ahead windows when the
    // k follow the file's order. A thread takes part per kParallelBytesPerThread of
    // output: a thread's first loads fault in its buffers (a few 2 MiB pages), which
    // costs more than the thread saves on a small batch (docs/design/code-notes.md).
    static constexpr uint64_t kParallelBytesPerThread = 2u << 20;
    void for_each_parallel(size_t count, const std::function<uint64_t(size_t)>& bytes_of,
                           const std::function<void(size_t)>& body) const;
    // Every section checksum, then every tensor decoded in both precisions.
    void verify(const std::function<void(size_t, size_t)>& progress = nullptr) const;

private:
    // Blocks [begin, end) of a tensor (clamped to its block count): loads of a row range
    // decode only those.
    struct BlockSpan {
        size_t begin, end;
        BlockSpan within(size_t count) const { return {std::min(begin, count), std::min(end, count)}; }
        size_t size() const { return end - begin; }
    };
    struct DecodeScratch;
    struct StagingBuffer;
    class TensorParts;
    struct CodeBlocks;
    struct InternalLevel;
    // The loads of one tensor; errors leave them without the tensor's context, which the
    // public methods add.
    void load_level_of(const TensorRecord& t, size_t level, void* codes, size_t codes_size, void* scales,
                       size_t scales_size, void* zero_points, size_t zero_points_size) const;
    void view_low_of(const TensorRecord& t, const void** codes, const void** scales) const;
    void load_high_of(const TensorRecord& t, void* out, size_t out_size, RowSpan rows = {}) const;
    void load_level_rows_of(const TensorRecord& t, size_t level, RowSpan rows, void* codes, size_t codes_size,
                            void* scales, size_t scales_size, void* zero_points, size_t zero_points_size) const;
    void load_passthrough_rows(const TensorRecord& t, RowSpan rows, uint8_t* out) const;
    void check_rows(const TensorRecord& t, RowSpan rows) const;
    CodeBlocks code_blocks(TensorParts& parts, const std::string& what, BlockSpan span) const;
    void decode_code_block(const TensorRecord& t, const CodeBlocks& cb, size_t b, uint8_t* codes, DecodeScratch& s,
                           const std::string& what) const;
    // Level k of a quantized tensor in internal form. Raw level-0 codes in internal layout
    // stay in the staged file bytes (out.codes points there). With `deferred` (level 0
    // only), coded level-0 codes are not decoded: their blocks are handed to the caller,
    // which decodes them where it wants (out.codes is then null).
    void decode_internal(TensorParts& parts, size_t level, InternalLevel& out, CodeBlocks* deferred,
                         BlockSpan span = BlockSpan{0, SIZE_MAX}) const;
    void read_level_params(TensorParts& parts, size_t level, InternalLevel& out) const;
    // A part's bytes in the mapping, checksum checked (zero-copy views only; loads read
    // through TensorParts).
    const uint8_t* mapped_part(const TensorRecord& t, size_t level, const PartRef& p, const std::string& what) const;
    void check_part_in_file(const TensorRecord& t, size_t level, const PartRef& p, const std::string& what) const;
    const PartRef& require_part(const TensorRecord& t, size_t level, PartRole role, const std::string& what) const;
    std::string tensor_context(const TensorRecord& t) const;
    void check_declared_sizes(TensorParts& parts) const;
    void decode_planes(TensorParts& parts, size_t level, const PartRef& p, uint64_t n, size_t width, uint8_t* bytes,
                       const std::string& what) const;

    // Opening, in order: header and directory, the sections by kind, the metadata and
    // index sections, each tensor's record.
    std::vector<uint8_t> read_bytes(uint64_t offset, uint64_t n) const;
    void fetch_for_open(uint64_t begin, uint64_t end);
    void read_header_and_directory();
    std::pair<const SectionEntry*, const SectionEntry*> classify_sections();
    std::vector<uint8_t> read_small_section(const SectionEntry& s, const std::string& what) const;
    void check_record(const TensorRecord& t, const std::string& what) const;
    static bool part_allowed(const TensorRecord& t, size_t level, const PartRef& p);

    std::unique_ptr<ByteSource> source_;
    const ByteSource& file_;  // *source_
    // The bytes the constructor fetched ahead ([open_begin_, + open_bytes_.size())), so
    // that opening costs at most two reads; emptied when the constructor ends.
    uint64_t open_begin_ = 0;
    std::vector<uint8_t> open_bytes_;
    ReaderOptions options_;
    QstoreLocation location_;
    FileHeader header_;
    std::vector<SectionEntry> sections_;
    std::map<uint32_t, const SectionEntry*> level_sections_;
    std::string metadata_json_;
    const SectionEntry* gguf_section_ = nullptr;
    std::unique_ptr<GgufLayout> gguf_layout_;
    Metadata metadata_;
    std::string metadata_error_;  // why metadata_json_ gave no metadata_, if it did not
    std::vector<TensorRecord> tensors_;
    std::map<std::string, size_t> by_name_;
    std::unique_ptr<ThreadPool> pool_;
    std::unique_ptr<ResourcePool<DecodeScratch>> scratch_;
    std::unique_ptr<ResourcePool<StagingBuffer>> staging_;
    std::unique_ptr<ResourcePool<ReusableBytes>> code_buffers_;  // decoded codes of a level
};

}  // namespace qstore
