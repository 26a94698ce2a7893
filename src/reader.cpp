#include "reader.hpp"

#include <zstd.h>

#include <algorithm>
#include <cstring>

#include "byte_io.hpp"
#include "checksum.hpp"
#include "error.hpp"
#include "residual_codec.hpp"
#include "stream_set.hpp"

namespace qstore {

struct Reader::DecodeScratch {
    DecodeScratch() : dctx(ZSTD_createDCtx()) {
        if (!dctx) fail(Errc::out_of_memory, "cannot create a zstd context");
    }
    ~DecodeScratch() { ZSTD_freeDCtx(dctx); }
    ZSTD_DCtx* dctx;
    ResidualScratch residual;
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

Reader::Reader(const std::string& path, const ReaderOptions& options) : file_(path), options_(options) {
    const uint8_t* base = file_.data();
    const uint64_t size = file_.size();
    if (size < kHeaderSize) {
        if (size >= 8 && std::memcmp(base, kMagic, 8) == 0)
            fail(Errc::truncated, path + ": truncated: the file ends inside its header");
        fail(Errc::not_qstore, path + ": not a qstore file (too small)");
    }
    header_ = parse_header(base, path);
    if (header_.directory_count > (1u << 16)) fail(Errc::corrupt, path + ": implausible section count");
    if (header_.directory_offset > header_.file_size ||
        directory_size(header_.directory_count) > header_.file_size - header_.directory_offset)
        fail(Errc::corrupt, path + ": section directory lies outside the file");
    if (header_.directory_offset + directory_size(header_.directory_count) > size)
        fail(Errc::truncated, path + ": truncated: the file ends before its section directory (" +
                                  std::to_string(size) + " of " + std::to_string(header_.file_size) + " bytes)");
    sections_ = parse_directory(base + header_.directory_offset, header_.directory_count, path);

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
            default:
                if (s.flags & kSectionRequired)
                    fail(Errc::unsupported, path + ": required section of unknown kind " + std::to_string(s.kind) +
                                                " (written by a newer qstore?)");
                break;  // optional and unknown: skipped
        }
    }
    if (!index) fail(Errc::corrupt, path + ": no tensor index section");
    for (const SectionEntry* s : {meta, index}) {
        if (!s) continue;
        const std::string what = path + (s == index ? ": tensor index" : ": metadata");
        if (s->offset + s->stored_size > size) fail(Errc::truncated, what + ": truncated: section beyond end of file");
        if (checksum(base + s->offset, s->stored_size) != s->checksum) fail(Errc::corrupt, what + ": checksum mismatch");
        auto raw = decompress_section(base + s->offset, *s, what);
        if (s == meta) metadata_json_.assign(raw.begin(), raw.end());
        else tensors_ = parse_index(raw.data(), raw.size(), path);
    }

    for (size_t i = 0; i < tensors_.size(); ++i) {
        const TensorRecord& t = tensors_[i];
        const std::string what = tensor_context(t);
        if (!by_name_.emplace(t.name, i).second) fail(Errc::corrupt, what + "appears twice in the index");
        if (t.high_dtype == DType::unknown) fail(Errc::corrupt, what + "unknown dtype");
        const size_t expected_levels = t.scheme == SchemeId::passthrough ? 1 : 2;
        if (t.levels.size() != expected_levels) fail(Errc::corrupt, what + "wrong number of precision levels");
        if (t.scheme != SchemeId::passthrough) {
            if (!dtype_is_quantizable(t.high_dtype) || t.shape.size() < 2 || t.elements() == 0)
                fail(Errc::corrupt, what + "quantized tensor with a non-float dtype or an empty shape");
            if (t.rows_per_block == 0) fail(Errc::corrupt, what + "zero rows per block");
            require_part(t, 0, PartRole::codes, what);
            require_part(t, 0, PartRole::scales, what);
            require_part(t, 1, PartRole::residual, what);
        } else {
            require_part(t, 0, PartRole::data, what);
        }
        for (size_t level = 0; level < t.levels.size(); ++level) {
            auto it = level_sections_.find(static_cast<uint32_t>(level));
            if (it == level_sections_.end()) fail(Errc::corrupt, what + "no section for level " + std::to_string(level));
            for (const auto& p : t.levels[level]) {
                if (p.offset > it->second->stored_size || p.size > it->second->stored_size - p.offset)
                    fail(Errc::corrupt, what + "a part lies outside its section");
                // Each role allows exactly the encodings the decoder implements.
                const bool ok = (p.role == PartRole::data && p.encoding == PartEncoding::raw) ||
                                (p.role == PartRole::codes && p.encoding != PartEncoding::byte_planes) ||
                                (p.role == PartRole::scales && p.encoding != PartEncoding::blocks) ||
                                (p.role == PartRole::residual && p.encoding == PartEncoding::blocks);
                if (!ok) fail(Errc::corrupt, what + "part of unknown role or with a wrong encoding");
            }
        }
    }
    pool_ = std::make_unique<ThreadPool>(options_.threads);
    scratch_ = std::make_unique<ResourcePool<DecodeScratch>>([] { return std::make_unique<DecodeScratch>(); });
}

Reader::~Reader() = default;

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
uint64_t Reader::low_code_bytes(const TensorRecord& t) const {
    return t.scheme == SchemeId::passthrough ? high_bytes(t) : low_scheme(t.scheme)->code_bytes(t.geometry());
}
uint64_t Reader::low_scale_bytes(const TensorRecord& t) const {
    return t.scheme == SchemeId::passthrough ? 0 : low_scheme(t.scheme)->scale_count(t.geometry()) * 4;
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
    if (t.scheme == SchemeId::passthrough) return raw_aligned(t.part(0, PartRole::data));
    return raw_aligned(t.part(0, PartRole::codes)) && raw_aligned(t.part(0, PartRole::scales));
}

const uint8_t* Reader::part_bytes(const TensorRecord& t, size_t level, const PartRef& p, const std::string& what) const {
    const SectionEntry* s = level_sections_.at(static_cast<uint32_t>(level));
    const uint64_t begin = s->offset + p.offset;
    if (begin + p.size > file_.size())
        fail(Errc::truncated, what + "truncated: " + (level == 0 ? "low precision" : "residual for the high precision") +
                                  " needs bytes up to " + std::to_string(begin + p.size) + " but the file has " +
                                  std::to_string(file_.size()));
    const uint8_t* data = file_.data() + begin;
    if (options_.verify_checksums && checksum(data, p.size) != p.checksum)
        fail(Errc::corrupt, what + "checksum mismatch in level " + std::to_string(level) + " data");
    (void)t;
    return data;
}

void Reader::release_parts(const TensorRecord& t) const {
    // A full load touches the whole mapping; dropping a tensor's pages once it is
    // decoded keeps RSS near one tensor's working set (pages come back from the page
    // cache if touched again, so this is safe while other threads read them).
    for (size_t level = 0; level < t.levels.size(); ++level) {
        auto it = level_sections_.find(static_cast<uint32_t>(level));
        if (it == level_sections_.end()) continue;
        for (const auto& p : t.levels[level]) {
            const uint64_t begin = it->second->offset + p.offset;
            if (begin + p.size <= file_.size()) file_.release(file_.data() + begin, p.size);
        }
    }
}

void Reader::read_scales(const TensorRecord& t, float* scales) const {
    const std::string what = tensor_context(t);
    const PartRef& p = require_part(t, 0, PartRole::scales, what);
    const uint64_t n = low_scale_bytes(t) / 4;
    const uint8_t* data = part_bytes(t, 0, p, what);
    if (p.encoding == PartEncoding::raw) {
        if (p.size != n * 4) fail(Errc::corrupt, what + "scales have the wrong size");
        std::memcpy(scales, data, p.size);
        return;
    }
    if (p.encoding != PartEncoding::byte_planes) fail(Errc::corrupt, what + "scales have an unknown encoding");
    auto refs = parse_stream_set(data, p.size, what + "scales");
    if (refs.size() != 4) fail(Errc::corrupt, what + "scales must have 4 byte planes");
    std::vector<uint8_t> planes(n * 4);
    auto s = scratch_->acquire();
    for (int b = 0; b < 4; ++b) decode_stream(refs[b], planes.data() + b * n, n, s->dctx, what + "scales");
    for (uint64_t k = 0; k < n; ++k) {
        uint32_t u = 0;
        for (int b = 0; b < 4; ++b) u |= static_cast<uint32_t>(planes[b * n + k]) << (8 * b);
        std::memcpy(scales + k, &u, 4);
    }
}

// The codes part of a quantized tensor: either raw bytes, or one stream set per block.
struct Reader::CodeBlocks {
    const uint8_t* raw = nullptr;  // whole tensor's codes when stored raw
    std::vector<BlockRef> blocks;  // otherwise
};

Reader::CodeBlocks Reader::code_blocks(const TensorRecord& t, const std::string& what) const {
    const PartRef& p = require_part(t, 0, PartRole::codes, what);
    const uint8_t* data = part_bytes(t, 0, p, what);
    CodeBlocks cb;
    if (p.encoding == PartEncoding::raw) {
        if (p.size != low_code_bytes(t)) fail(Errc::corrupt, what + "raw codes have the wrong size");
        cb.raw = data;
        return cb;
    }
    if (p.encoding != PartEncoding::blocks) fail(Errc::corrupt, what + "codes have an unknown encoding");
    const Geometry g = t.geometry();
    cb.blocks = parse_block_container(data, p.size, what + "codes");
    if (cb.blocks.size() != (g.rows + t.rows_per_block - 1) / t.rows_per_block)
        fail(Errc::corrupt, what + "wrong number of code blocks");
    return cb;
}

void Reader::decode_code_block(const TensorRecord& t, const CodeBlocks& cb, size_t b, uint8_t* codes,
                               DecodeScratch& s, const std::string& what) const {
    const Geometry g = t.geometry();
    const uint64_t r0 = b * t.rows_per_block, r1 = std::min(g.rows, r0 + t.rows_per_block);
    auto refs = parse_stream_set(cb.blocks[b].data, cb.blocks[b].size, what + "codes");
    if (refs.size() != 1) fail(Errc::corrupt, what + "code block must hold one stream");
    decode_stream(refs[0], codes + r0 * g.cols, (r1 - r0) * g.cols, s.dctx, what + "codes");
}

void Reader::decode_low_codes(const TensorRecord& t, uint8_t* codes) const {
    const std::string what = tensor_context(t);
    const CodeBlocks cb = code_blocks(t, what);
    if (cb.raw) {
        std::memcpy(codes, cb.raw, low_code_bytes(t));
        return;
    }
    pool_->parallel_for(cb.blocks.size(), [&](size_t b) {
        auto s = scratch_->acquire();
        decode_code_block(t, cb, b, codes, *s, what);
    });
}

void Reader::load_low(size_t i, void* codes, size_t codes_size, void* scales, size_t scales_size) const {
    const TensorRecord& t = tensors_.at(i);
    const std::string what = tensor_context(t);
    if (codes_size < low_code_bytes(t) || scales_size < low_scale_bytes(t))
        fail(Errc::buffer_too_small, what + "buffer too small for the low precision (need " +
                                         std::to_string(low_code_bytes(t)) + " bytes of codes and " +
                                         std::to_string(low_scale_bytes(t)) + " bytes of scales)");
    if ((!codes && low_code_bytes(t)) || (!scales && low_scale_bytes(t)))
        fail(Errc::invalid_argument, what + "NULL buffer");
    if (t.scheme == SchemeId::passthrough) {
        const PartRef& p = require_part(t, 0, PartRole::data, what);
        if (p.size != high_bytes(t)) fail(Errc::corrupt, what + "stored size does not match shape");
        const uint8_t* data = part_bytes(t, 0, p, what);
        if (p.size) std::memcpy(codes, data, p.size);  // codes may be NULL for an empty tensor
        release_parts(t);
        return;
    }
    read_scales(t, static_cast<float*>(scales));
    decode_low_codes(t, static_cast<uint8_t*>(codes));
    release_parts(t);
}

void Reader::view_low(size_t i, const void** codes, const void** scales) const {
    const TensorRecord& t = tensors_.at(i);
    const std::string what = tensor_context(t);
    if (!low_codes_raw(t))
        fail(Errc::not_available, what + "low precision is not stored raw and aligned; use qs_load_low");
    const PartRole role = t.scheme == SchemeId::passthrough ? PartRole::data : PartRole::codes;
    const PartRef& cp = require_part(t, 0, role, what);
    if (cp.size != low_code_bytes(t)) fail(Errc::corrupt, what + "raw codes have the wrong size");
    *codes = part_bytes(t, 0, cp, what);
    if (scales) {
        *scales = nullptr;
        if (t.scheme != SchemeId::passthrough) {
            const PartRef& sp = require_part(t, 0, PartRole::scales, what);
            if (sp.size != low_scale_bytes(t)) fail(Errc::corrupt, what + "scales have the wrong size");
            *scales = part_bytes(t, 0, sp, what);
        }
    }
}

void Reader::load_high(size_t i, void* out_ptr, size_t out_size) const {
    const TensorRecord& t = tensors_.at(i);
    const std::string what = tensor_context(t);
    if (out_size < high_bytes(t))
        fail(Errc::buffer_too_small, what + "buffer too small for the high precision (need " +
                                         std::to_string(high_bytes(t)) + " bytes)");
    if (!out_ptr && high_bytes(t)) fail(Errc::invalid_argument, what + "NULL buffer");
    auto* out = static_cast<uint8_t*>(out_ptr);
    if (t.scheme == SchemeId::passthrough) {
        load_low(i, out, out_size, nullptr, 0);
        return;
    }
    const LowScheme& scheme = *low_scheme(t.scheme);
    const Geometry g = t.geometry();
    const PartRef& rp = require_part(t, 1, PartRole::residual, what);
    const uint8_t* residual = part_bytes(t, 1, rp, what);
    auto blocks = parse_block_container(residual, rp.size, what + "residual");
    const uint64_t rpb = t.rows_per_block;
    if (blocks.size() != (g.rows + rpb - 1) / rpb) fail(Errc::corrupt, what + "wrong number of residual blocks");

    std::vector<float> scales(scheme.scale_count(g));
    read_scales(t, scales.data());
    const CodeBlocks cb = code_blocks(t, what);
    std::vector<uint8_t> decoded_codes(cb.raw ? 0 : scheme.code_bytes(g));
    const uint8_t* codes = cb.raw ? cb.raw : decoded_codes.data();

    const size_t esize = dtype_size(t.high_dtype);
    pool_->parallel_for(blocks.size(), [&](size_t b) {
        const uint64_t r0 = b * rpb, r1 = std::min(g.rows, r0 + rpb);
        const uint64_t first = r0 * g.cols, n = (r1 - r0) * g.cols;
        auto s = scratch_->acquire();
        if (!cb.raw) decode_code_block(t, cb, b, decoded_codes.data(), *s, what);
        decode_residual_block(blocks[b].data, blocks[b].size, t.high_dtype, scheme, {codes, scales.data(), nullptr}, g, first, n,
                              out + first * esize, s->residual, what + "residual block " + std::to_string(b));
    });
    release_parts(t);
}

void Reader::check_declared_sizes(const TensorRecord& t) const {
    // The stored parts must declare exactly the sizes the shape implies: a damaged
    // shape is then reported as corruption instead of being allocated. Stream tables
    // are parsed, nothing is decoded.
    const std::string what = tensor_context(t);
    auto bytes_of = [&](size_t level, const PartRef& p) {
        const SectionEntry* s = level_sections_.at(static_cast<uint32_t>(level));
        if (s->offset + p.offset + p.size > file_.size()) fail(Errc::truncated, what + "truncated");
        return file_.data() + s->offset + p.offset;
    };
    if (t.scheme == SchemeId::passthrough) {
        if (require_part(t, 0, PartRole::data, what).size != high_bytes(t))
            fail(Errc::corrupt, what + "stored size does not match shape");
        return;
    }
    const Geometry g = t.geometry();
    const uint64_t rpb = t.rows_per_block, nblocks = (g.rows + rpb - 1) / rpb;
    const PartRef& cp = require_part(t, 0, PartRole::codes, what);
    if (cp.encoding == PartEncoding::raw) {
        if (cp.size != g.elements()) fail(Errc::corrupt, what + "raw codes have the wrong size");
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
    const PartRef& rp = require_part(t, 1, PartRole::residual, what);
    if (parse_block_container(bytes_of(1, rp), rp.size, what + "residual").size() != nblocks)
        fail(Errc::corrupt, what + "wrong number of residual blocks");
}

void Reader::verify(const std::function<void(size_t, size_t)>& progress) const {
    for (const auto& s : sections_) {
        const std::string what = path() + ": section of kind " + std::to_string(s.kind) + " (level " +
                                 std::to_string(s.level) + ")";
        if (s.offset + s.stored_size > file_.size()) fail(Errc::truncated, what + ": truncated");
        if (checksum(file_.data() + s.offset, s.stored_size) != s.checksum) fail(Errc::corrupt, what + ": checksum mismatch");
    }
    for (const auto& [level, s] : level_sections_)
        if (level == 1 && s->offset != header_.low_prefix_end)
            fail(Errc::corrupt, path() + ": low_prefix_end does not match the start of the residual section");
    if (file_.size() != header_.file_size)
        fail(Errc::corrupt, path() + ": file is " + std::to_string(file_.size()) + " bytes, header says " +
                                std::to_string(header_.file_size));
    std::vector<uint8_t> a, b;
    for (size_t i = 0; i < tensors_.size(); ++i) {
        const TensorRecord& t = tensors_[i];
        check_declared_sizes(t);  // before allocating what the shape claims
        a.resize(low_code_bytes(t) + low_scale_bytes(t));
        load_low(i, a.data(), low_code_bytes(t), a.data() + low_code_bytes(t), low_scale_bytes(t));
        b.resize(high_bytes(t));
        load_high(i, b.data(), b.size());
        if (progress) progress(i + 1, tensors_.size());
    }
}

}  // namespace qstore
