#include "read/reader.hpp"

#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <list>
#include <optional>

#include "base/byte_io.hpp"
#include "base/checksum.hpp"
#include "base/error.hpp"
#include "container/metadata_json.hpp"
#include "io/gguf_metadata.hpp"
#include "residual/code_residual.hpp"
#include "base/float_bits.hpp"
#include "residual/high_residual.hpp"
#include "entropy/stream_set.hpp"

namespace qstore {

namespace {
// Messages raised while a tensor is read start without naming it: the public entry
// points prefix "file: tensor 'name': " (tensor_context) when an error leaves them, and
// block loops their block's number. Built for every load, those strings would be a
// sizeable part of the time of loading a small tensor.
const std::string kInTensor;
}  // namespace

struct Reader::DecodeScratch {
    DecodeScratch(KernelSet kernels, TableLookup lookup) : streams(kernels, lookup), residual(kernels, lookup) {}
    StreamDecoder streams;
    ResidualScratch residual;
};

// Memory for the file bytes of one load at a time, reused by later loads. Small parts
// are served from read-ahead windows, one per precision level: loads usually walk the
// tensors in file order, and one pread of a window then serves the next tensors too (a
// system call per small tensor would cost more than its bytes). Larger runs of parts
// are read into `data` of their level. Neither is zero-filled.
struct Reader::StagingBuffer {
    // Level windows hold up to kWindow bytes (ReadAhead: 64 KiB doubling while loads go
    // forward); runs up to kWindowRun bytes go through them.
    static constexpr size_t kWindow = 512u << 10;
    static constexpr size_t kWindowRun = kWindow / 4;
    // Reused memory is kept between loads up to this size; more (a huge tensor) is freed.
    static constexpr size_t kKeep = 64u << 20;
    static constexpr size_t kSlack = ReusableBytes::kSlack;

    std::vector<ReadAhead> windows;    // by level
    // Level k's window is kWindow bytes at k * kWindow of one mapping, reserved for every
    // level a file can have but touched only where used: the windows of a pair share
    // one 2 MiB huge page, so a handle's first loads zero one instead of one per level.
    static constexpr size_t kMaxLevels = kMaxLowLevels + 1;
    ReusableBytes window_memory;
    std::vector<ReusableBytes> data;   // by level
    // Room for n bytes of level's large runs.
    uint8_t* level_data(size_t level, size_t n) {
        if (data.size() <= level) data.resize(level + 1);
        return data[level].reserve(n);
    }
    // Bytes [begin, end) of the file (end - begin <= kWindowRun), from level's window.
    // The window reads nothing past `limit`, the end of the level's section.
    const uint8_t* windowed(const ByteSource& file, size_t level, uint64_t begin, uint64_t end, uint64_t limit) {
        if (level >= kMaxLevels) fail(Errc::internal, "more precision levels than the format allows");
        if (windows.size() <= level) windows.resize(level + 1);
        uint8_t* const bytes = window_memory.reserve(kMaxLevels * kWindow) + level * kWindow;
        return windows[level].get(file, begin, end, bytes, kWindow, limit);
    }
};

// The stored bytes of one tensor, read from the file one precision level at a time on
// first use: a load reads just the levels it decodes, and checks every part's checksum
// while its bytes are in cache. Reading instead of touching the mapping avoids a page
// fault per 16 pages and TLB misses, and keeps file pages out of the process (RSS stays
// at the staged bytes). Staging happens on the loading thread; workers only read.
class Reader::TensorParts {
public:
    // `piecewise`: read each part when it is asked for, and of block containers only the
    // blocks asked for (row-range loads without checksums, which need whole parts).
    TensorParts(const Reader& reader, const TensorRecord& tensor, bool piecewise = false)
        : t(tensor), reader_(reader), lease_(reader.staging_->acquire()), levels_(tensor.levels.size()),
          piecewise_(piecewise) {
        for (size_t level = 0; level < levels_.size(); ++level) {
            Level& l = levels_[level];
            const auto& parts = t.levels[level];
            std::vector<size_t> order(parts.size());
            for (size_t k = 0; k < order.size(); ++k) order[k] = k;
            std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return parts[a].offset < parts[b].offset; });
            l.run_of.resize(parts.size());
            for (size_t k : order) {
                const PartRef& p = parts[k];
                // Parts of one tensor are written back to back (64-byte alignment at most
                // between them): a gap up to kMaxGap is read along rather than skipped.
                constexpr uint64_t kMaxGap = 4096;
                if (l.runs.empty() || p.offset > l.runs.back().end + kMaxGap) l.runs.push_back({p.offset, p.offset});
                Run& r = l.runs.back();
                r.end = std::max(r.end, p.offset + p.size);
                l.run_of[k] = l.runs.size() - 1;
            }
        }
    }
    ~TensorParts() {
        for (ReusableBytes& d : lease_->data) d.trim(StagingBuffer::kKeep);
    }
    TensorParts(const TensorParts&) = delete;
    TensorParts& operator=(const TensorParts&) = delete;

    // Part p (an element of t.levels[level]) in memory: truncated if the file ends
    // before its level's parts, corrupt on a checksum mismatch.
    const uint8_t* bytes(size_t level, const PartRef& p, const std::string& what) {
        Level& l = levels_.at(level);
        const auto& parts = t.levels[level];
        if (&p < parts.data() || &p >= parts.data() + parts.size())
            fail(Errc::internal, what + "part does not belong to the tensor");
        if (piecewise_ && !l.staged) {
            const uint8_t*& alone = alone_of_[&p];
            if (!alone) alone = read_alone(level, p.offset, p.size, p, what);
            return alone;
        }
        if (!l.staged) stage(level, what);
        const Run& r = l.runs[l.run_of[static_cast<size_t>(&p - parts.data())]];
        return r.bytes + (p.offset - r.begin);
    }

    // Blocks `span` of block-container part p, which must hold `count` blocks; the blocks
    // outside the span are empty (null data) when read piecewise.
    // Messages: `name` the blocks' part, `count_error` a wrong count (both after `what`).
    std::vector<BlockRef> blocks(size_t level, const PartRef& p, size_t count, BlockSpan span, const std::string& what,
                                 const char* name, const char* count_error) {
        if (!piecewise_ || levels_.at(level).staged) {
            auto all = parse_block_container(bytes(level, p, what), p.size, what + name);
            if (all.size() != count) fail(Errc::corrupt, what + count_error);
            return all;
        }
        const uint64_t head = std::min<uint64_t>(p.size, kMaxBlockTableBytesPerBlock * (count + 1));
        const BlockTable table = parse_block_table(read_alone(level, p.offset, head, p, what), head, p.size, what + name);
        if (table.sizes.size() != count) fail(Errc::corrupt, what + count_error);
        span = span.within(count);
        uint64_t begin = table.table_bytes, end;
        for (size_t b = 0; b < span.begin; ++b) begin += table.sizes[b];
        end = begin;
        for (size_t b = span.begin; b < span.end; ++b) end += table.sizes[b];
        const uint8_t* q = read_alone(level, p.offset + begin, end - begin, p, what);
        std::vector<BlockRef> out(count, BlockRef{nullptr, 0});
        for (size_t b = span.begin; b < span.end; ++b) {
            out[b] = {q, static_cast<size_t>(table.sizes[b])};
            q += table.sizes[b];
        }
        return out;
    }

    const TensorRecord& t;

private:
    struct Run {
        uint64_t begin, end;            // offsets in the level's section
        const uint8_t* bytes = nullptr; // the run in memory, once staged
    };
    struct Level {
        bool staged = false;
        std::vector<Run> runs;
        std::vector<size_t> run_of;  // run holding each part (index in t.levels[level])
    };

    void stage(size_t level, const std::string& what) {
        Level& l = levels_[level];
        const auto& parts = t.levels[level];
        // Sizes are checked against the file before any memory is reserved for them.
        for (const auto& p : parts) reader_.check_part_in_file(t, level, p, what);
        const SectionEntry& entry = *reader_.level_sections_.at(static_cast<uint32_t>(level));
        const uint64_t section = entry.offset;
        uint64_t large = 0;  // bytes of the runs too large for a window
        for (const Run& r : l.runs)
            if (r.end - r.begin > StagingBuffer::kWindowRun) large += r.end - r.begin;
        uint8_t* data = large ? lease_->level_data(level, large) : nullptr;
        for (Run& r : l.runs) {
            if (r.end - r.begin <= StagingBuffer::kWindowRun) {
                r.bytes = lease_->windowed(reader_.file_, level, section + r.begin, section + r.end,
                                           section + entry.stored_size);
            } else {
                reader_.file_.read_at(section + r.begin, data, r.end - r.begin);
                r.bytes = data;
                data += r.end - r.begin;
            }
        }
        if (reader_.options_.verify_checksums)
            for (size_t k = 0; k < parts.size(); ++k) {
                const Run& r = l.runs[l.run_of[k]];
                if (checksum(r.bytes + (parts[k].offset - r.begin), parts[k].size) != parts[k].checksum)
                    fail(Errc::corrupt, what + "checksum mismatch in level " + std::to_string(level) + " data");
            }
        l.staged = true;
    }

    // Bytes [offset, offset + n) of level's section, which lie in part p, read on their own.
    const uint8_t* read_alone(size_t level, uint64_t offset, uint64_t n, const PartRef& p, const std::string& what) {
        reader_.check_part_in_file(t, level, p, what);
        const uint64_t section = reader_.level_sections_.at(static_cast<uint32_t>(level))->offset;
        alone_.emplace_back(static_cast<size_t>(n));
        reader_.file_.read_at(section + offset, alone_.back().data(), alone_.back().size());
        return alone_.back().data();
    }

    const Reader& reader_;
    ResourcePool<StagingBuffer>::Lease lease_;
    std::vector<Level> levels_;
    bool piecewise_;
    std::list<std::vector<uint8_t>> alone_;  // what read_alone read
    std::map<const PartRef*, const uint8_t*> alone_of_;  // whole parts read alone
};

namespace {

std::vector<uint8_t> decompress_section(const uint8_t* p, const SectionEntry& e, const std::string& what) {
    if (!(e.flags & kSectionZstd)) return std::vector<uint8_t>(p, p + e.stored_size);
    // The frame states its content size (the writer uses ZSTD_compress); it must agree,
    // and be plausible for JSON and index records, before anything is allocated.
    const unsigned long long content = ZSTD_getFrameContentSize(p, e.stored_size);
    if (content != e.raw_size) fail(Errc::corrupt, what + ": section size disagrees with its zstd frame");
    if (e.raw_size > e.stored_size * 1024 + (1u << 20)) fail(Errc::corrupt, what + ": implausible section size");
    std::vector<uint8_t> raw(e.raw_size);
    size_t n = ZSTD_decompress(raw.data(), raw.size(), p, e.stored_size);
    if (ZSTD_isError(n) || n != raw.size()) fail(Errc::corrupt, what + ": section does not decompress");
    return raw;
}

}  // namespace

// Everything the constructor reads goes through pread (MappedFile::read_at): a file
// that shrinks while it is being opened is reported as truncated, never as SIGBUS.
Reader::Reader(const std::string& path, const ReaderOptions& options)
    : Reader(std::make_unique<MappedFile>(path), options) {}

Reader::Reader(std::unique_ptr<ByteSource> source, const ReaderOptions& options)
    : source_(std::move(source)), file_(*source_), options_(options) {
    options_.kernel_set = kernel_set_capped(options.kernel_set);
    const std::string& path = file_.name();
    read_header_and_directory();
    const auto [meta, index] = classify_sections();
    for (const SectionEntry* s : {meta, index}) {
        if (!s) continue;
        auto raw = read_small_section(*s, path + (s == index ? ": tensor index" : ": metadata"));
        if (s == meta) metadata_json_.assign(raw.begin(), raw.end());
        else tensors_ = parse_index(raw.data(), raw.size(), path);
    }
    if (gguf_section_) {
        const auto raw = read_small_section(*gguf_section_, path + ": gguf_layout");
        gguf_layout_ = std::make_unique<GgufLayout>(parse_gguf_layout(raw.data(), raw.size(), path));
    }
    try {
        metadata_ = gguf_layout_ ? metadata_of_gguf(gguf_layout_->header.kvs) : metadata_from_json(metadata_json_, path);
    } catch (const Error& e) {
        metadata_error_ = e.what();  // reported when the metadata is asked for
    }
    for (size_t i = 0; i < tensors_.size(); ++i) {
        const TensorRecord& t = tensors_[i];
        with_lazy_context([&] { return tensor_context(t); }, [&] {
            if (!by_name_.emplace(t.name, i).second) fail(Errc::corrupt, kInTensor + "appears twice in the index");
            check_record(t, kInTensor);
        });
    }
    pool_ = std::make_unique<ThreadPool>(options_.threads);
    scratch_ = std::make_unique<ResourcePool<DecodeScratch>>(
        [kernels = options_.kernel_set, lookup = options_.table_lookup] {
            return std::make_unique<DecodeScratch>(kernels, lookup);
        });
    staging_ = std::make_unique<ResourcePool<StagingBuffer>>([] { return std::make_unique<StagingBuffer>(); });
    code_buffers_ = std::make_unique<ResourcePool<ReusableBytes>>([] { return std::make_unique<ReusableBytes>(); });
    std::vector<uint8_t>().swap(open_bytes_);
}

// Reads [begin, end) of the file ahead for read_bytes, unless it holds them already. Only
// for sources without memory, read by calls that may each cost a round trip (a
// network): a file or a buffer is read section by section, as much as each needs.
void Reader::fetch_for_open(uint64_t begin, uint64_t end) {
    if (file_.contiguous()) return;
    if (begin >= open_begin_ && end <= open_begin_ + open_bytes_.size()) return;
    open_bytes_.resize(static_cast<size_t>(end - begin));
    open_begin_ = begin;
    file_.read_at(begin, open_bytes_.data(), open_bytes_.size());
}

const std::vector<GgufKV>& Reader::gguf_metadata() const {
    static const std::vector<GgufKV> none;
    return gguf_layout_ ? gguf_layout_->header.kvs : none;
}

std::vector<uint8_t> Reader::read_bytes(uint64_t offset, uint64_t n) const {
    if (offset >= open_begin_ && offset - open_begin_ <= open_bytes_.size() &&
        n <= open_bytes_.size() - (offset - open_begin_)) {
        const uint8_t* p = open_bytes_.data() + (offset - open_begin_);
        return std::vector<uint8_t>(p, p + n);
    }
    std::vector<uint8_t> v(static_cast<size_t>(n));
    file_.read_at(offset, v.data(), v.size());
    return v;
}

void Reader::read_header_and_directory() {
    const std::string& path = file_.name();
    const uint64_t size = file_.size();
    // First read: the header (of a .qs file; a container's first bytes say where it is).
    fetch_for_open(0, std::min(size, kHeaderSize));
    location_ = locate_qstore_header(file_, read_bytes(0, std::min<uint64_t>(size, 9)).data());
    const uint64_t base = location_.header_offset;
    if (base != 0) fetch_for_open(base, base + kHeaderSize);
    if (size - base < kHeaderSize) {
        if (size >= 8 && std::memcmp(read_bytes(0, 8).data(), kMagic, 8) == 0)
            fail(Errc::truncated, path + ": truncated: the file ends inside its header");
        fail(Errc::not_qstore, path + ": not a qstore file (too small)");
    }
    const std::vector<uint8_t> header = read_bytes(base, kHeaderSize);
    if (base != 0 && std::memcmp(header.data(), kMagic, 8) != 0) container_magic_error(path, location_);
    header_ = parse_header(header.data(), path);
    if (header_.directory_count > (1u << 16)) fail(Errc::corrupt, path + ": implausible section count");
    if (header_.directory_offset > header_.file_size ||
        directory_size(header_.directory_count) > header_.file_size - header_.directory_offset)
        fail(Errc::corrupt, path + ": section directory lies outside the file");
    if (header_.directory_offset + directory_size(header_.directory_count) > size)
        fail(Errc::truncated, path + ": truncated: the file ends before its section directory (" +
                                  std::to_string(size) + " of " + std::to_string(header_.file_size) + " bytes)");
    // Second read: the directory and up to kOpenWindow bytes before it, where the writer
    // puts the metadata and the tensor index (docs/FORMAT.md §4).
    const uint64_t directory_end = header_.directory_offset + directory_size(header_.directory_count);
    fetch_for_open(std::min(header_.directory_offset, directory_end > kOpenWindow ? directory_end - kOpenWindow : 0),
                   directory_end);
    sections_ = parse_directory(read_bytes(header_.directory_offset, directory_size(header_.directory_count)).data(),
                                header_.directory_count, path);
}

// Sorts the directory's sections by kind: the level sections into level_sections_;
// returns the metadata (may be null) and tensor index sections.
std::pair<const SectionEntry*, const SectionEntry*> Reader::classify_sections() {
    const std::string& path = file_.name();
    const SectionEntry* index = nullptr;
    const SectionEntry* meta = nullptr;
    for (const auto& s : sections_) {
        if (s.offset > header_.file_size || s.stored_size > header_.file_size - s.offset)
            fail(Errc::corrupt, path + ": a section lies outside the file");
        switch (static_cast<SectionKind>(s.kind)) {
            case SectionKind::metadata:
                if (meta) fail(Errc::corrupt, path + ": two metadata sections");
                meta = &s;
                break;
            case SectionKind::tensor_index:
                if (index) fail(Errc::corrupt, path + ": two tensor index sections");
                index = &s;
                break;
            case SectionKind::level_data:
                if (s.flags & kSectionZstd) fail(Errc::unsupported, path + ": compressed level sections are not supported");
                if (level_sections_.count(s.level)) fail(Errc::corrupt, path + ": two sections for one level");
                level_sections_[s.level] = &s;
                break;
            case SectionKind::gguf_layout:
                if (gguf_section_) fail(Errc::corrupt, path + ": two gguf_layout sections");
                gguf_section_ = &s;
                break;
            default:
                if (s.flags & kSectionRequired)
                    fail(Errc::unsupported, path + ": required section of unknown kind " + std::to_string(s.kind) +
                                                " (written by a newer qstore?)");
                break;  // optional and unknown: skipped
        }
    }
    if (!index) fail(Errc::corrupt, path + ": no tensor index section");
    return {meta, index};
}

// A metadata or index section: read, checksum checked, decompressed.
std::vector<uint8_t> Reader::read_small_section(const SectionEntry& s, const std::string& what) const {
    if (s.offset + s.stored_size > file_.size()) fail(Errc::truncated, what + ": truncated: section beyond end of file");
    const std::vector<uint8_t> stored = read_bytes(s.offset, s.stored_size);
    if (checksum(stored.data(), stored.size()) != s.checksum) fail(Errc::corrupt, what + ": checksum mismatch");
    return decompress_section(stored.data(), s, what);
}

// A tensor's record makes sense: dtype, levels, and every part with the role, encoding
// and place its scheme needs (the data itself is checked when loaded).
void Reader::check_record(const TensorRecord& t, const std::string& what) const {
    if (t.high_dtype == DType::unknown) fail(Errc::corrupt, what + "unknown dtype");
    if (t.levels.size() != t.low.size() + 1) fail(Errc::corrupt, what + "wrong number of precision levels");
    if (t.quantized()) {
        if (!dtype_is_quantizable(t.high_dtype) || t.shape.size() < 2 || t.elements() == 0)
            fail(Errc::corrupt, what + "quantized tensor with a non-float dtype or an empty shape");
        if (t.rows_per_block == 0) fail(Errc::corrupt, what + "zero rows per block");
        for (size_t k = 0; k < t.low.size(); ++k) {
            const LowScheme& s = t.scheme(k);
            if (!s.accepts(t.geometry())) fail(Errc::corrupt, what + "shape not allowed by scheme " + s.name());
            require_part(t, k, k == 0 ? PartRole::codes : PartRole::code_residual, what);
            require_part(t, k, PartRole::scales, what);
            if (s.has_zero_points()) require_part(t, k, PartRole::zero_points, what);
        }
        require_part(t, t.top_level(), PartRole::residual, what);
    } else {
        require_part(t, 0, PartRole::data, what);
    }
    for (size_t level = 0; level < t.levels.size(); ++level) {
        auto it = level_sections_.find(static_cast<uint32_t>(level));
        if (it == level_sections_.end()) fail(Errc::corrupt, what + "no section for level " + std::to_string(level));
        for (const auto& p : t.levels[level]) {
            if (p.offset > it->second->stored_size || p.size > it->second->stored_size - p.offset)
                fail(Errc::corrupt, what + "a part lies outside its section");
            if (!part_allowed(t, level, p)) fail(Errc::corrupt, what + "part of unknown role or with a wrong encoding");
        }
    }
}

// Each role allows exactly the encodings the decoder implements, at its levels.
bool Reader::part_allowed(const TensorRecord& t, size_t level, const PartRef& p) {
    const bool top = level == t.top_level();
    return (p.role == PartRole::data && p.encoding == PartEncoding::raw && !t.quantized()) ||
           (p.role == PartRole::codes && p.encoding != PartEncoding::byte_planes && level == 0 && !top) ||
           ((p.role == PartRole::scales || p.role == PartRole::zero_points) && !top &&
            (p.encoding == PartEncoding::byte_planes || (p.encoding == PartEncoding::raw && level == 0))) ||
           (p.role == PartRole::code_residual && p.encoding == PartEncoding::blocks && level > 0 && !top) ||
           (p.role == PartRole::residual && p.encoding == PartEncoding::blocks && top && t.quantized());
}

Reader::~Reader() = default;

const Metadata& Reader::metadata() const {
    if (!metadata_error_.empty()) fail(Errc::corrupt, metadata_error_);
    return metadata_;
}

size_t Reader::find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? SIZE_MAX : it->second;
}

std::string Reader::tensor_context(const TensorRecord& t) const { return path() + ": tensor '" + t.name + "': "; }

const PartRef& Reader::require_part(const TensorRecord& t, size_t level, PartRole role, const std::string& what) const {
    const PartRef* p = t.part(level, role);
    if (!p) fail(Errc::corrupt, what + "a part is missing from the index");
    return *p;
}

uint64_t Reader::high_bytes(const TensorRecord& t) const { return t.elements() * dtype_size(t.high_dtype); }
uint64_t Reader::level_code_bytes(const TensorRecord& t, size_t level) const {
    return t.quantized() ? t.scheme(level).code_bytes(t.geometry()) : high_bytes(t);
}
uint64_t Reader::level_scale_bytes(const TensorRecord& t, size_t level) const {
    return t.quantized() ? t.scheme(level).scale_bytes(t.geometry()) : 0;
}
uint64_t Reader::level_zero_point_bytes(const TensorRecord& t, size_t level) const {
    return t.quantized() ? t.scheme(level).zero_point_bytes(t.geometry()) : 0;
}
uint64_t Reader::stored_bytes(const TensorRecord& t, size_t level) const {
    uint64_t n = 0;
    if (level < t.levels.size())
        for (const auto& p : t.levels[level]) n += p.size;
    return n;
}
bool Reader::low_codes_raw(const TensorRecord& t) const {
    // Zero-copy needs raw bytes at a 64-byte aligned file offset (the mmap is page aligned).
    auto raw_aligned = [&](const PartRef* p) {
        return p && p->encoding == PartEncoding::raw &&
               (level_sections_.at(0)->offset + p->offset) % kAlignment == 0;
    };
    if (!t.quantized()) return raw_aligned(t.part(0, PartRole::data));
    return raw_aligned(t.part(0, PartRole::codes)) && raw_aligned(t.part(0, PartRole::scales)) &&
           (!t.scheme(0).has_zero_points() || raw_aligned(t.part(0, PartRole::zero_points)));
}

uint64_t Reader::level_prefix_end(size_t level) const {
    uint64_t end = header_.directory_offset + directory_size(header_.directory_count);
    for (const auto& s : sections_)
        if (static_cast<SectionKind>(s.kind) != SectionKind::level_data || s.level <= level)
            end = std::max(end, s.offset + s.stored_size);
    return end;
}

uint64_t Reader::index_begin() const {
    uint64_t begin = header_.directory_offset;
    for (const auto& s : sections_)
        if (static_cast<SectionKind>(s.kind) != SectionKind::level_data) begin = std::min(begin, s.offset);
    return begin;
}

uint64_t Reader::index_end() const {
    uint64_t end = header_.directory_offset + directory_size(header_.directory_count);
    for (const auto& s : sections_)
        if (static_cast<SectionKind>(s.kind) != SectionKind::level_data) end = std::max(end, s.offset + s.stored_size);
    return end;
}

void Reader::check_part_in_file(const TensorRecord& t, size_t level, const PartRef& p, const std::string& what) const {
    const uint64_t begin = level_sections_.at(static_cast<uint32_t>(level))->offset + p.offset;
    if (begin + p.size > file_.size())
        fail(Errc::truncated, what + "truncated: " +
                                  (level == 0 ? std::string("low precision")
                                   : level == t.top_level() ? std::string("residual for the high precision")
                                                            : "precision level " + std::to_string(level)) +
                                  " needs bytes up to " + std::to_string(begin + p.size) + " but the file has " +
                                  std::to_string(file_.size()));
}

const uint8_t* Reader::mapped_part(const TensorRecord& t, size_t level, const PartRef& p, const std::string& what) const {
    check_part_in_file(t, level, p, what);
    const uint64_t offset = level_sections_.at(static_cast<uint32_t>(level))->offset + p.offset;
    if (!file_.contiguous())
        fail(Errc::not_available, what + "zero-copy views need a file or a memory buffer, not a read-at callback");
    const uint8_t* data = file_.contiguous() + offset;
    if (options_.verify_checksums && file_.checksum_at(offset, p.size) != p.checksum)
        fail(Errc::corrupt, what + "checksum mismatch in level " + std::to_string(level) + " data");
    return data;
}

void Reader::decode_planes(TensorParts& parts, size_t level, const PartRef& p, uint64_t n, size_t width,
                           uint8_t* bytes, const std::string& what) const {
    // A stream set of `width` planes of n bytes; element k's byte b is plane b's byte k.
    const uint8_t* data = parts.bytes(level, p, what + ": ");  // its messages follow a "...: " prefix
    auto refs = parse_stream_set(data, p.size, what);
    if (refs.size() != width) fail(Errc::corrupt, what + ": wrong number of byte planes");
    std::vector<uint8_t> planes(n * width);
    auto s = scratch_->acquire();
    for (size_t b = 0; b < width; ++b) s->streams.decode(refs[b], planes.data() + b * n, n, what);
    for (uint64_t k = 0; k < n; ++k)
        for (size_t b = 0; b < width; ++b) bytes[k * width + b] = planes[b * n + k];
}

// A quantized tensor's low level in internal form (schemes/scheme.hpp).
struct Reader::InternalLevel {
    // Decoded codes live in memory leased from the reader (reused by later loads).
    std::optional<ResourcePool<ReusableBytes>::Lease> codes_store;
    const uint8_t* codes = nullptr;  // *codes_store, or raw bytes in the staged file bytes
    ~InternalLevel() {
        if (codes_store) (*codes_store)->trim(StagingBuffer::kKeep);
    }
    // Room for n codes (codes points there).
    uint8_t* own_codes(ResourcePool<ReusableBytes>& pool, uint64_t n) {
        codes_store.emplace(pool.acquire());
        uint8_t* p = (*codes_store)->reserve(n);
        codes = p;
        return p;
    }
    std::vector<float> scales;
    std::vector<uint8_t> zero_points;
    LowTensorView view() const { return {codes, scales.data(), zero_points.empty() ? nullptr : zero_points.data()}; }
};

void Reader::read_level_params(TensorParts& parts, size_t level, InternalLevel& out) const {
    const TensorRecord& t = parts.t;
    // Coded scales and zero points (byte planes of the stored dtype). Raw ones are the
    // native layout and are read by decode_internal together with the codes.
    const std::string& what = kInTensor;
    const LowScheme& scheme = t.scheme(level);
    const Geometry g = t.geometry();
    const uint64_t n = scheme.scale_count(g);
    out.scales.resize(n);
    out.zero_points.resize(scheme.has_zero_points() ? n : 0);
    const PartRef& sp = require_part(t, level, PartRole::scales, what);
    const PartRef* zp = t.part(level, PartRole::zero_points);
    // Coded codes come with coded scales and zero points (raw ones only with raw codes).
    if (sp.encoding != PartEncoding::byte_planes || (zp && zp->encoding != PartEncoding::byte_planes))
        fail(Errc::corrupt, what + "scales or zero points are raw next to coded codes");
    const size_t width = dtype_size(scheme.scale_dtype());
    std::vector<uint8_t> bytes(n * width);
    decode_planes(parts, level, sp, n, width, bytes.data(), what + "scales");
    for (uint64_t k = 0; k < n; ++k) {
        if (width == 4) {
            std::memcpy(&out.scales[k], &bytes[4 * k], 4);
        } else {
            uint16_t h;
            std::memcpy(&h, &bytes[2 * k], 2);
            out.scales[k] = f32_from_f16(h);
        }
    }
    if (scheme.has_zero_points())
        decode_planes(parts, level, require_part(t, level, PartRole::zero_points, what), n, 1, out.zero_points.data(),
                      what + "zero points");
}

// The codes part of level 0: either raw (native layout), or one stream set per block.
struct Reader::CodeBlocks {
    const uint8_t* raw = nullptr;  // whole tensor's native codes when stored raw
    std::vector<BlockRef> blocks;  // otherwise
};

Reader::CodeBlocks Reader::code_blocks(TensorParts& parts, const std::string& what, BlockSpan span) const {
    const TensorRecord& t = parts.t;
    const PartRef& p = require_part(t, 0, PartRole::codes, what);
    CodeBlocks cb;
    if (p.encoding == PartEncoding::raw) {
        const uint8_t* data = parts.bytes(0, p, what);
        if (p.size != low_code_bytes(t)) fail(Errc::corrupt, what + "raw codes have the wrong size");
        cb.raw = data;
        return cb;
    }
    if (p.encoding != PartEncoding::blocks) fail(Errc::corrupt, what + "codes have an unknown encoding");
    const Geometry g = t.geometry();
    cb.blocks = parts.blocks(0, p, static_cast<size_t>((g.rows + t.rows_per_block - 1) / t.rows_per_block), span, what,
                             "codes", "wrong number of code blocks");
    return cb;
}

void Reader::decode_code_block(const TensorRecord& t, const CodeBlocks& cb, size_t b, uint8_t* codes,
                               DecodeScratch& s, const std::string& what) const {
    const Geometry g = t.geometry();
    const uint64_t r0 = b * t.rows_per_block, r1 = std::min(g.rows, r0 + t.rows_per_block);
    auto refs = parse_stream_set(cb.blocks[b].data, cb.blocks[b].size, what + "codes");
    if (refs.size() != 1) fail(Errc::corrupt, what + "code block must hold one stream");
    s.streams.decode(refs[0], codes + r0 * g.cols, (r1 - r0) * g.cols, what + "codes");
}

void Reader::decode_internal(TensorParts& parts, size_t level, InternalLevel& out, CodeBlocks* deferred,
                             BlockSpan span) const {
    const TensorRecord& t = parts.t;
    const std::string& what = kInTensor;
    const LowScheme& scheme = t.scheme(level);
    const Geometry g = t.geometry();
    if (level == 0) {
        const CodeBlocks cb = code_blocks(parts, what, span);
        if (cb.raw) {  // native layout: raw scales and zero points too
            const PartRef& sp = require_part(t, 0, PartRole::scales, what);
            if (sp.encoding != PartEncoding::raw || sp.size != scheme.scale_bytes(g))
                fail(Errc::corrupt, what + "raw scales have the wrong size");
            const uint8_t* zps = nullptr;
            if (scheme.has_zero_points()) {
                const PartRef& zp = require_part(t, 0, PartRole::zero_points, what);
                if (zp.encoding != PartEncoding::raw || zp.size != scheme.zero_point_bytes(g))
                    fail(Errc::corrupt, what + "raw zero points have the wrong size");
                zps = parts.bytes(0, zp, what);
            }
            out.scales.resize(scheme.scale_count(g));
            out.zero_points.resize(scheme.has_zero_points() ? out.scales.size() : 0);
            const uint8_t* scales = parts.bytes(0, sp, what);
            if (scheme.native_is_internal()) {
                out.codes = cb.raw;  // in place
                if (sp.size) std::memcpy(out.scales.data(), scales, sp.size);
                if (zps) std::memcpy(out.zero_points.data(), zps, out.zero_points.size());
            } else {
                uint8_t* codes = out.own_codes(*code_buffers_, g.elements());
                scheme.from_native(cb.raw, scales, zps, g,
                                   {codes, out.scales.data(),
                                    out.zero_points.empty() ? nullptr : out.zero_points.data()});
            }
            return;
        }
        read_level_params(parts, 0, out);
        if (deferred) {
            *deferred = cb;
            return;
        }
        uint8_t* codes = out.own_codes(*code_buffers_, g.elements());
        span = span.within(cb.blocks.size());
        pool_->parallel_for(span.size(), [&](size_t k) {
            auto s = scratch_->acquire();
            decode_code_block(t, cb, span.begin + k, codes, *s, what);
        });
        return;
    }
    // A middle level of a chain: the level below predicts every code; the stored
    // residual corrects it (residual/code_residual.hpp).
    InternalLevel lower;
    decode_internal(parts, level - 1, lower, nullptr, span);
    read_level_params(parts, level, out);
    const PartRef& cp = require_part(t, level, PartRole::code_residual, what);
    const uint64_t rpb = t.rows_per_block;
    auto blocks = parts.blocks(level, cp, static_cast<size_t>((g.rows + rpb - 1) / rpb), span, what, "code residual",
                               "wrong number of code residual blocks");
    uint8_t* codes = out.own_codes(*code_buffers_, g.elements());
    const LowScheme& below = t.scheme(level - 1);
    const LowScheme& code_rule = chain_code_rule(t.low[level], header_.minor);  // as the file was written
    span = span.within(blocks.size());
    pool_->parallel_for(span.size(), [&](size_t k) {
        const size_t b = span.begin + k;
        const uint64_t r0 = b * rpb, r1 = std::min(g.rows, r0 + rpb);
        const uint64_t first = r0 * g.cols, n = (r1 - r0) * g.cols;
        std::vector<float> prediction(n);
        std::vector<uint8_t> context(n), predicted(n);
        below.predict(options_.kernel_set, lower.view(), g, first, n, prediction.data(), context.data());
        code_rule.quantize_with_scales(options_.kernel_set, prediction.data(), out.view(), g, first, n,
                                       predicted.data());
        auto s = scratch_->acquire();
        with_lazy_context([&] { return "code residual block " + std::to_string(b); }, [&] {
            decode_code_residual_block(blocks[b].data, blocks[b].size, predicted.data(), context.data(), n, scheme,
                                       codes + first, s->residual.tables, kInTensor);
        });
    });
}

void Reader::load_level(size_t i, size_t level, void* codes, size_t codes_size, void* scales, size_t scales_size,
                        void* zero_points, size_t zero_points_size) const {
    const TensorRecord& t = tensors_.at(i);
    with_lazy_context([&] { return tensor_context(t); },
                      [&] { load_level_of(t, level, codes, codes_size, scales, scales_size, zero_points, zero_points_size); });
}

void Reader::load_level_of(const TensorRecord& t, size_t level, void* codes, size_t codes_size, void* scales,
                           size_t scales_size, void* zero_points, size_t zero_points_size) const {
    const std::string& what = kInTensor;
    if (level >= t.top_level() && t.quantized())
        fail(Errc::invalid_argument, what + "level " + std::to_string(level) + " is not a low precision");
    if (!t.quantized() && level != 0) fail(Errc::invalid_argument, what + "a passthrough tensor has only level 0");
    const uint64_t code_bytes = level_code_bytes(t, level), scale_bytes = level_scale_bytes(t, level);
    const uint64_t zp_bytes = zero_points ? level_zero_point_bytes(t, level) : 0;
    if (codes_size < code_bytes || scales_size < scale_bytes || zero_points_size < zp_bytes)
        fail(Errc::buffer_too_small, what + "buffer too small for precision level " + std::to_string(level) + " (need " +
                                         std::to_string(code_bytes) + " bytes of codes, " +
                                         std::to_string(scale_bytes) + " of scales" +
                                         (zero_points ? " and " + std::to_string(zp_bytes) + " of zero points" : "") +
                                         ")");
    if ((!codes && code_bytes) || (!scales && scale_bytes)) fail(Errc::invalid_argument, what + "NULL buffer");
    auto* out_codes = static_cast<uint8_t*>(codes);
    TensorParts parts(*this, t);
    if (!t.quantized()) {
        const PartRef& p = require_part(t, 0, PartRole::data, what);
        if (p.size != high_bytes(t)) fail(Errc::corrupt, what + "stored size does not match shape");
        const uint8_t* data = parts.bytes(0, p, what);
        if (p.size) std::memcpy(out_codes, data, p.size);  // codes may be NULL for an empty tensor
        return;
    }
    const LowScheme& scheme = t.scheme(level);
    const Geometry g = t.geometry();
    std::vector<uint8_t> zp_scratch;
    auto* out_zps = static_cast<uint8_t*>(zero_points);
    if (!out_zps && scheme.has_zero_points()) {
        zp_scratch.resize(scheme.zero_point_bytes(g));
        out_zps = zp_scratch.data();
    }
    if (level == 0 && scheme.native_is_internal()) {
        // Decode straight into the caller's buffers.
        InternalLevel l;
        CodeBlocks cb;
        decode_internal(parts, 0, l, &cb);
        if (scale_bytes) std::memcpy(scales, l.scales.data(), scale_bytes);
        if (zero_points && zp_bytes) std::memcpy(zero_points, l.zero_points.data(), zp_bytes);
        if (l.codes) {
            std::memcpy(out_codes, l.codes, code_bytes);
        } else {
            pool_->parallel_for(cb.blocks.size(), [&](size_t b) {
                auto s = scratch_->acquire();
                decode_code_block(t, cb, b, out_codes, *s, what);
            });
        }
        return;
    }
    InternalLevel l;
    decode_internal(parts, level, l, nullptr);
    std::vector<uint8_t> scale_scratch(scales ? 0 : scheme.scale_bytes(g));
    scheme.to_native(l.view(), g, out_codes, scales ? static_cast<uint8_t*>(scales) : scale_scratch.data(), out_zps);
}

void Reader::view_low(size_t i, const void** codes, const void** scales) const {
    const TensorRecord& t = tensors_.at(i);
    with_lazy_context([&] { return tensor_context(t); }, [&] { view_low_of(t, codes, scales); });
}

void Reader::view_low_of(const TensorRecord& t, const void** codes, const void** scales) const {
    const std::string& what = kInTensor;
    if (!low_codes_raw(t))
        fail(Errc::not_available, what + "low precision is not stored raw and aligned; use qs_load_low");
    const PartRole role = t.quantized() ? PartRole::codes : PartRole::data;
    const PartRef& cp = require_part(t, 0, role, what);
    if (cp.size != low_code_bytes(t)) fail(Errc::corrupt, what + "raw codes have the wrong size");
    *codes = mapped_part(t, 0, cp, what);
    if (scales) {
        *scales = nullptr;
        if (t.quantized() && low_scale_bytes(t)) {
            const PartRef& sp = require_part(t, 0, PartRole::scales, what);
            if (sp.size != low_scale_bytes(t)) fail(Errc::corrupt, what + "scales have the wrong size");
            *scales = mapped_part(t, 0, sp, what);
        }
    }
}

void Reader::load_high(size_t i, void* out, size_t out_size) const {
    const TensorRecord& t = tensors_.at(i);
    with_lazy_context([&] { return tensor_context(t); }, [&] { load_high_of(t, out, out_size); });
}

void Reader::load_high_of(const TensorRecord& t, void* out_ptr, size_t out_size, RowSpan rows) const {
    const std::string& what = kInTensor;
    const Geometry g = t.geometry();
    rows.end = std::min(rows.end, g.rows);
    const size_t esize = dtype_size(t.high_dtype);
    const uint64_t need = rows.size() * g.cols * esize;
    if (out_size < need)
        fail(Errc::buffer_too_small,
             what + "buffer too small for the high precision (need " + std::to_string(need) + " bytes)");
    if (!out_ptr && need) fail(Errc::invalid_argument, what + "NULL buffer");
    auto* out = static_cast<uint8_t*>(out_ptr);
    if (!t.quantized()) {
        load_passthrough_rows(t, rows, out);
        return;
    }
    if (rows.size() == 0) return;
    const size_t top = t.top_level();
    const LowScheme& scheme = t.scheme(top - 1);
    const PartRef& rp = require_part(t, top, PartRole::residual, what);
    // A range of rows without checksums reads only its blocks (checksums cover whole parts).
    TensorParts parts(*this, t, !options_.verify_checksums && rows.size() < g.rows);
    const uint64_t rpb = t.rows_per_block;
    const BlockSpan span{static_cast<size_t>(rows.begin / rpb), static_cast<size_t>((rows.end + rpb - 1) / rpb)};
    auto blocks = parts.blocks(top, rp, static_cast<size_t>((g.rows + rpb - 1) / rpb), span, what, "residual",
                               "wrong number of residual blocks");

    // The level below the high precision. For a pair with coded codes, each block's
    // codes are decoded right before its residual (they are then still in cache).
    InternalLevel low;
    CodeBlocks cb;
    decode_internal(parts, top - 1, low, top == 1 ? &cb : nullptr, span);
    const bool fused = !low.codes;
    uint8_t* const fused_codes = fused ? low.own_codes(*code_buffers_, g.elements()) : nullptr;
    pool_->parallel_for(span.size(), [&](size_t k) {
        const size_t b = span.begin + k;
        const uint64_t r0 = b * rpb, r1 = std::min(g.rows, r0 + rpb);
        const uint64_t first = r0 * g.cols, n = (r1 - r0) * g.cols;
        auto s = scratch_->acquire();
        if (fused) decode_code_block(t, cb, b, fused_codes, *s, what);
        // A block the rows cover whole is decoded in place; one they cut, beside it.
        const bool whole = r0 >= rows.begin && r1 <= rows.end;
        std::vector<uint8_t> cut(whole ? 0 : n * esize);
        uint8_t* dst = whole ? out + (first - rows.begin * g.cols) * esize : cut.data();
        with_lazy_context([&] { return "residual block " + std::to_string(b); }, [&] {
            decode_residual_block(blocks[b].data, blocks[b].size, t.high_dtype, scheme, low.view(), g, first, n, dst,
                                  s->residual, kInTensor);
        });
        if (!whole) {
            const uint64_t from = std::max(r0, rows.begin), to = std::min(r1, rows.end);
            std::memcpy(out + (from - rows.begin) * g.cols * esize, cut.data() + (from - r0) * g.cols * esize,
                        (to - from) * g.cols * esize);
        }
    });
}

void Reader::load_passthrough_rows(const TensorRecord& t, RowSpan rows, uint8_t* out) const {
    const std::string& what = kInTensor;
    const PartRef& p = require_part(t, 0, PartRole::data, what);
    if (p.size != high_bytes(t)) fail(Errc::corrupt, what + "stored size does not match shape");
    TensorParts parts(*this, t);
    const uint8_t* data = parts.bytes(0, p, what);
    const Geometry g = t.geometry();
    const uint64_t row_bytes = g.rows ? p.size / g.rows : 0;
    if (rows.size() && row_bytes) std::memcpy(out, data + rows.begin * row_bytes, rows.size() * row_bytes);
}

void Reader::check_rows(const TensorRecord& t, RowSpan rows) const {
    const uint64_t n = t.geometry().rows;
    if (rows.begin > n || rows.end > n || rows.end < rows.begin)
        fail(Errc::invalid_argument, tensor_context(t) + "rows [" + std::to_string(rows.begin) + ", " +
                                         std::to_string(rows.end) + ") are not within its " + std::to_string(n) +
                                         " rows");
}

Reader::LevelSizes Reader::level_row_sizes(const TensorRecord& t, size_t level, RowSpan rows) const {
    check_rows(t, rows);
    const Geometry g = t.geometry();
    LevelSizes z;
    if (!t.quantized() || level >= t.top_level()) {
        z.code_bytes = g.rows ? high_bytes(t) / g.rows * rows.size() : 0;
        return z;
    }
    if (rows.size() == 0) return z;
    const LowScheme& scheme = t.scheme(level);
    const RowSpan a = scale_aligned_rows(scheme, g, rows);
    const Geometry ag{a.size(), g.cols};
    z.code_bytes = scheme.code_bytes(Geometry{rows.size(), g.cols});
    z.scale_bytes = scheme.scale_bytes(ag);
    z.zero_point_bytes = scheme.zero_point_bytes(ag);
    return z;
}

void Reader::load_high_rows(size_t i, RowSpan rows, void* out, size_t out_size) const {
    const TensorRecord& t = tensors_.at(i);
    check_rows(t, rows);
    with_lazy_context([&] { return tensor_context(t); }, [&] { load_high_of(t, out, out_size, rows); });
}

void Reader::load_level_rows(size_t i, size_t level, RowSpan rows, void* codes, size_t codes_size, void* scales,
                             size_t scales_size, void* zero_points, size_t zero_points_size) const {
    const TensorRecord& t = tensors_.at(i);
    check_rows(t, rows);
    with_lazy_context([&] { return tensor_context(t); }, [&] {
        load_level_rows_of(t, level, rows, codes, codes_size, scales, scales_size, zero_points, zero_points_size);
    });
}

void Reader::load_level_rows_of(const TensorRecord& t, size_t level, RowSpan rows, void* codes, size_t codes_size,
                                void* scales, size_t scales_size, void* zero_points, size_t zero_points_size) const {
    const std::string& what = kInTensor;
    if (level >= t.top_level() && t.quantized())
        fail(Errc::invalid_argument, what + "level " + std::to_string(level) + " is not a low precision");
    if (!t.quantized() && level != 0) fail(Errc::invalid_argument, what + "a passthrough tensor has only level 0");
    const LevelSizes z = level_row_sizes(t, level, rows);
    const uint64_t zp_bytes = zero_points ? z.zero_point_bytes : 0;
    if (codes_size < z.code_bytes || scales_size < z.scale_bytes || zero_points_size < zp_bytes)
        fail(Errc::buffer_too_small, what + "buffer too small for rows of precision level " + std::to_string(level) +
                                         " (need " + std::to_string(z.code_bytes) + " bytes of codes, " +
                                         std::to_string(z.scale_bytes) + " of scales" +
                                         (zero_points ? " and " + std::to_string(zp_bytes) + " of zero points" : "") +
                                         ")");
    if ((!codes && z.code_bytes) || (!scales && z.scale_bytes)) fail(Errc::invalid_argument, what + "NULL buffer");
    auto* out_codes = static_cast<uint8_t*>(codes);
    if (!t.quantized()) {
        load_passthrough_rows(t, rows, out_codes);
        return;
    }
    if (rows.size() == 0) return;
    const LowScheme& scheme = t.scheme(level);
    const Geometry g = t.geometry();
    const uint64_t rpb = t.rows_per_block;
    // The native layout of the rows the scales tie together (a tile scheme's whole
    // tiles), from the internal form of the blocks that hold them.
    const RowSpan a = scale_aligned_rows(scheme, g, rows);
    TensorParts parts(*this, t, !options_.verify_checksums && rows.size() < g.rows);
    InternalLevel l;
    decode_internal(parts, level, l, nullptr,
                    BlockSpan{static_cast<size_t>(a.begin / rpb), static_cast<size_t>((a.end + rpb - 1) / rpb)});
    const Geometry ag{a.size(), g.cols};
    const uint64_t s0 = first_scale_of_row(scheme, g, a.begin);
    const LowTensorView v{l.codes + a.begin * g.cols, l.scales.data() + s0,
                          l.zero_points.empty() ? nullptr : l.zero_points.data() + s0};
    const bool exact = a.begin == rows.begin && a.end == rows.end;
    std::vector<uint8_t> code_scratch(exact ? 0 : scheme.code_bytes(ag));
    std::vector<uint8_t> scale_scratch(scales ? 0 : z.scale_bytes), zp_scratch(zero_points ? 0 : z.zero_point_bytes);
    scheme.to_native(v, ag, exact ? out_codes : code_scratch.data(),
                     scales ? static_cast<uint8_t*>(scales) : scale_scratch.data(),
                     zero_points ? static_cast<uint8_t*>(zero_points) : zp_scratch.data());
    if (!exact) {
        const uint64_t row_bytes = scheme.code_bytes(ag) / a.size();
        std::memcpy(out_codes, code_scratch.data() + (rows.begin - a.begin) * row_bytes, z.code_bytes);
    }
}

void Reader::for_each_parallel(size_t count, const std::function<uint64_t(size_t)>& bytes_of,
                               const std::function<void(size_t)>& body) const {
    std::vector<uint64_t> end(count);  // output of items [0, k]
    uint64_t total = 0;
    for (size_t k = 0; k < count; ++k) end[k] = total += bytes_of(k);
    const unsigned threads =
        static_cast<unsigned>(std::clamp<uint64_t>(total / kParallelBytesPerThread, 1, pool_->size()));
    if (threads == 1) {
        for (size_t k = 0; k < count; ++k) body(k);
        return;
    }
    // Run r holds the items whose output ends in (total * r / runs, total * (r + 1) / runs].
    const size_t runs = std::min<size_t>(count, size_t(threads) * 8);
    auto first_of = [&](size_t r) {
        const uint64_t edge = static_cast<uint64_t>(static_cast<double>(total) * double(r) / double(runs));
        return r == 0 ? size_t(0) : static_cast<size_t>(std::upper_bound(end.begin(), end.end(), edge) - end.begin());
    };
    pool_->parallel_for(
        runs,
        [&](size_t r) {
            const size_t last = r + 1 == runs ? count : first_of(r + 1);
            for (size_t k = first_of(r); k < last; ++k) body(k);
        },
        threads);
}

void Reader::check_declared_sizes(TensorParts& parts) const {
    const TensorRecord& t = parts.t;
    // The stored parts must declare exactly the sizes the shape implies: a damaged
    // shape is then reported as corruption instead of being allocated. Stream tables
    // are parsed, nothing is decoded.
    const std::string& what = kInTensor;
    auto bytes_of = [&](size_t level, const PartRef& p) { return parts.bytes(level, p, what); };
    if (!t.quantized()) {
        if (require_part(t, 0, PartRole::data, what).size != high_bytes(t))
            fail(Errc::corrupt, what + "stored size does not match shape");
        return;
    }
    const Geometry g = t.geometry();
    const uint64_t rpb = t.rows_per_block, nblocks = (g.rows + rpb - 1) / rpb;
    auto check_planes = [&](size_t level, PartRole role, uint64_t n, size_t width, uint64_t raw_bytes) {
        const PartRef* p = t.part(level, role);
        if (!p) return;
        if (p->encoding == PartEncoding::raw) {
            if (p->size != raw_bytes) fail(Errc::corrupt, what + "raw scales or zero points have the wrong size");
            return;
        }
        auto refs = parse_stream_set(bytes_of(level, *p), p->size, what + "scales");
        if (refs.size() != width) fail(Errc::corrupt, what + "wrong number of byte planes");
        for (const auto& r : refs)
            if (r.raw_size != n) fail(Errc::corrupt, what + "byte plane size does not match shape");
    };
    auto check_blocks = [&](size_t level, PartRole role) {
        const PartRef& p = require_part(t, level, role, what);
        if (parse_block_container(bytes_of(level, p), p.size, what + "blocks").size() != nblocks)
            fail(Errc::corrupt, what + "wrong number of blocks");
    };
    for (size_t k = 0; k < t.low.size(); ++k) {
        const LowScheme& s = t.scheme(k);
        const uint64_t n = s.scale_count(g);
        check_planes(k, PartRole::scales, n, dtype_size(s.scale_dtype()), s.scale_bytes(g));
        check_planes(k, PartRole::zero_points, n, 1, s.zero_point_bytes(g));
        if (k > 0) check_blocks(k, PartRole::code_residual);
    }
    const PartRef& cp = require_part(t, 0, PartRole::codes, what);
    if (cp.encoding == PartEncoding::raw) {
        if (cp.size != low_code_bytes(t)) fail(Errc::corrupt, what + "raw codes have the wrong size");
    } else {
        auto blocks = parse_block_container(bytes_of(0, cp), cp.size, what + "codes");
        if (blocks.size() != nblocks) fail(Errc::corrupt, what + "wrong number of code blocks");
        for (size_t b = 0; b < blocks.size(); ++b) {
            auto refs = parse_stream_set(blocks[b].data, blocks[b].size, what + "codes");
            const uint64_t rows = std::min(g.rows, (b + 1) * rpb) - b * rpb;
            if (refs.size() != 1 || refs[0].raw_size != rows * g.cols)
                fail(Errc::corrupt, what + "code block size does not match shape");
        }
    }
    check_blocks(t.top_level(), PartRole::residual);
}

void Reader::verify(const std::function<void(size_t, size_t)>& progress) const {
    for (const auto& s : sections_) {
        const std::string what = path() + ": section of kind " + std::to_string(s.kind) + " (level " +
                                 std::to_string(s.level) + ")";
        if (s.offset + s.stored_size > file_.size()) fail(Errc::truncated, what + ": truncated");
        if (file_.checksum_at(s.offset, s.stored_size) != s.checksum) fail(Errc::corrupt, what + ": checksum mismatch");
    }
    for (const auto& [level, s] : level_sections_)
        if (level == 1 && s->offset != header_.low_prefix_end)
            fail(Errc::corrupt, path() + ": low_prefix_end does not match the start of the level 1 section");
    if (file_.size() != header_.file_size)
        fail(Errc::corrupt, path() + ": file is " + std::to_string(file_.size()) + " bytes, header says " +
                                std::to_string(header_.file_size));
    std::vector<uint8_t> a, b;
    for (size_t i = 0; i < tensors_.size(); ++i) {
        const TensorRecord& t = tensors_[i];
        with_lazy_context([&] { return tensor_context(t); }, [&] {
            TensorParts parts(*this, t);
            check_declared_sizes(parts);  // before allocating what the shape claims
        });
        for (size_t level = 0; level < std::max<size_t>(1, t.top_level()); ++level) {
            const uint64_t c = level_code_bytes(t, level), s = level_scale_bytes(t, level),
                           z = level_zero_point_bytes(t, level);
            a.resize(c + s + z);
            load_level(i, level, a.data(), c, a.data() + c, s, a.data() + c + s, z);
        }
        b.resize(high_bytes(t));
        load_high(i, b.data(), b.size());
        if (progress) progress(i + 1, tensors_.size());
    }
}

}  // namespace qstore
