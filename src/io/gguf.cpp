#include "io/gguf.hpp"

#include <algorithm>
#include <cstdio>

#include "base/byte_io.hpp"
#include "base/error.hpp"
#include "io/file_sink.hpp"

namespace qstore {

namespace {

uint64_t pad_to(uint64_t n, uint64_t a) { return (a - n % a) % a; }

}  // namespace

bool is_gguf_file(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    uint8_t m[4] = {0, 0, 0, 0};
    const bool ok = std::fread(m, 1, 4, f) == 4 && load_le(m, 4) == kGgufMagic;
    std::fclose(f);
    return ok;
}

// ---------------------------------------------------------------------------

GgufReader::GgufReader(const std::string& path, GgufUse use)
    : file_(std::make_unique<MappedFile>(path)), use_(use) {
    header_ = parse_gguf_header(
        file_->size(), [&](uint64_t offset, uint8_t* dst, size_t n) { file_->read_at(offset, dst, n); }, path);
    add_tensors(path);
    check_no_overlap(path);
    for (size_t i = 0; i < tensors_.size(); ++i) by_name_[tensors_[i].name] = i;
}

bool GgufReader::available(const GgufTensorInfo& info) const {
    DType dt;
    if (use_ == GgufUse::model) return info.known;
    return ggml_plain_dtype(info.type, dt) || info.type == static_cast<uint32_t>(GgmlType::q8_0) ||
           info.type == static_cast<uint32_t>(GgmlType::q4_0);
}

// The available tensors in the safetensors form (block types as U8 rows of blocks),
// by ascending data offset.
void GgufReader::add_tensors(const std::string& path) {
    const uint64_t fsize = file_->size();
    const uint64_t data_size = header_.data_offset < fsize ? fsize - header_.data_offset : 0;
    for (const auto& info : header_.infos) {
        const std::string what = path + ": GGUF tensor '" + info.name + "'";
        if (use_ == GgufUse::model && !info.known)
            fail(Errc::unsupported, what + ": unknown ggml type " + std::to_string(info.type) +
                                        " (its size is not known, so the file cannot be kept byte for byte)");
        if (!available(info)) continue;
        if (info.offset > data_size || info.size > data_size - info.offset)
            fail(Errc::corrupt, what + ": data (offset " + std::to_string(info.offset) + ", " + std::to_string(info.size) +
                                    " bytes) beyond end of file");
        SafetensorsTensor t;
        t.name = info.name;
        t.dtype_name = ggml_type_name(info.type);
        if (ggml_plain_dtype(info.type, t.dtype)) {
            t.shape.assign(info.ne.rbegin(), info.ne.rend());
        } else {
            uint64_t be = 0, bb = 0;
            ggml_type_block(info.type, be, bb);
            t.dtype = DType::u8;
            uint64_t rows = 1;
            for (size_t d = 1; d < info.ne.size(); ++d) rows *= info.ne[d];  // <= elements: no overflow
            const uint64_t cols = info.ne.empty() ? 1 : info.ne[0];
            t.shape = {rows, cols / be * bb};
        }
        t.data = file_->data() + header_.data_offset + info.offset;
        t.size = info.size;
        t.source = path;
        t.file_index = 0;
        tensors_.push_back(std::move(t));
    }
    std::stable_sort(tensors_.begin(), tensors_.end(), [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
        return a.data != b.data ? a.data < b.data : a.size < b.size;
    });
}

void GgufReader::check_no_overlap(const std::string& path) const {
    // By offset, each tensor of some bytes must begin at or after the end of every one
    // before it (tensors of types qstore does not read have no known size: not checked).
    const SafetensorsTensor* last = nullptr;  // the one reaching furthest so far
    auto offset = [&](const SafetensorsTensor& t) { return std::to_string(t.data - file_->data() - header_.data_offset); };
    for (const SafetensorsTensor& t : tensors_) {
        if (last && t.size != 0 && t.data < last->data + last->size)
            fail(Errc::corrupt, path + ": GGUF tensor '" + t.name + "': data at offset " + offset(t) +
                                    " overlaps tensor '" + last->name + "' (offset " + offset(*last) + ", " +
                                    std::to_string(last->size) + " bytes)");
        if (!last || t.data + t.size > last->data + last->size) last = &t;
    }
}

const GgufKV* GgufReader::kv(const std::string& key) const {
    for (const auto& kv : header_.kvs)
        if (kv.key == key) return &kv;
    return nullptr;
}

const SafetensorsTensor* GgufReader::find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

void GgufReader::read(const SafetensorsTensor& t, uint8_t* dst) const {
    file_->read_at(static_cast<uint64_t>(t.data - file_->data()), dst, t.size);
}

std::vector<std::string> GgufReader::tensor_names() const {
    std::vector<std::string> names;
    for (const GgufTensorInfo& t : header_.infos) names.push_back(t.name);
    return names;
}

// ---------------------------------------------------------------------------

GgufWriter::GgufWriter(const std::string& path, std::vector<Entry> entries,
                       const std::vector<std::pair<std::string, std::string>>& metadata)
    : path_(path), entries_(std::move(entries)) {
    std::vector<uint8_t> h;
    put_u32(h, kGgufMagic);
    put_u32(h, 3);
    put_u64(h, entries_.size());
    put_u64(h, metadata.size() + 1);
    auto put_string = [&](const std::string& s) {
        put_u64(h, s.size());
        put_bytes(h, s.data(), s.size());
    };
    put_string("general.alignment");
    put_u32(h, kGgufU32);
    put_u32(h, kGgufDefaultAlignment);
    for (const auto& [k, v] : metadata) {
        if (k == "general.alignment") fail(Errc::internal, path + ": general.alignment is written by the GGUF writer");
        put_string(k);
        put_u32(h, kGgufString);
        put_string(v);
    }
    uint64_t offset = 0;
    for (const auto& e : entries_) {
        if (e.ne.empty() || e.ne.size() > kGgufMaxDims)
            fail(Errc::unsupported, path + ": tensor '" + e.name + "' has " + std::to_string(e.ne.size()) +
                                        " dimensions; GGUF holds 1 to 4");
        if (ggml_tensor_bytes(static_cast<uint32_t>(e.type), e.ne) != e.size)
            fail(Errc::internal, path + ": tensor '" + e.name + "': size does not match its GGUF type and dimensions");
        put_string(e.name);
        put_u32(h, static_cast<uint32_t>(e.ne.size()));
        for (uint64_t d : e.ne) put_u64(h, d);
        put_u32(h, static_cast<uint32_t>(e.type));
        put_u64(h, offset);
        offset += e.size + pad_to(e.size, kGgufDefaultAlignment);
    }
    h.resize(h.size() + pad_to(h.size(), kGgufDefaultAlignment), 0);
    file_ = std::make_unique<AtomicFile>(path);  // replaces `path` at finish(), not before
    const int fd = file_->fd();
    write_all(fd, h.data(), h.size(), path_);
}

GgufWriter::~GgufWriter() = default;  // unfinished: the old `path` stays

void GgufWriter::write_next(const void* data, uint64_t size) {
    if (next_ >= entries_.size() || entries_[next_].size != size)
        fail(Errc::internal, path_ + ": tensor written out of order or with the wrong size");
    write_all(file_->fd(), data, size, path_);
    static const uint8_t zeros[kGgufDefaultAlignment] = {};
    write_all(file_->fd(), zeros, pad_to(size, kGgufDefaultAlignment), path_);
    ++next_;
}

void GgufWriter::finish() {
    if (next_ != entries_.size()) fail(Errc::internal, path_ + ": not every tensor was written");
    file_->commit();
}

}  // namespace qstore
