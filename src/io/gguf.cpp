#include "io/gguf.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <set>

#include "base/byte_io.hpp"
#include "base/error.hpp"
#include "io/file_sink.hpp"
#include "base/input_checks.hpp"

namespace qstore {

namespace {

constexpr uint32_t kGgufMagic = 0x46554747u;  // "GGUF" read as a little-endian u32
constexpr int kMaxArrayDepth = 4;

// GGUF value types.
enum : uint32_t {
    kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
    kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};

const char* value_type_name(uint32_t t) {
    static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                  "string", "array", "u64", "i64", "f64"};
    return t <= kF64 ? names[t] : "?";
}

// Fixed size of a scalar value type; 0 for string / array / unknown.
uint64_t scalar_size(uint32_t t) {
    switch (t) {
        case kU8: case kI8: case kBool: return 1;
        case kU16: case kI16: return 2;
        case kU32: case kI32: case kF32: return 4;
        case kU64: case kI64: case kF64: return 8;
        default: return 0;
    }
}

// Bounds-checked little-endian cursor over a file. The bytes are read with pread into
// a buffer that doubles as the cursor moves on (each byte read once), never through
// the mapping: a file that shrinks while it is parsed is reported as truncated.
class Cursor {
public:
    Cursor(const MappedFile& file, const std::string& path) : file_(file), size_(file.size()), path_(path) {}
    uint64_t pos() const { return pos_; }
    uint64_t left() const { return size_ - pos_; }
    // n bytes at the cursor, valid until the next take.
    const uint8_t* take(uint64_t n, const char* what) {
        if (n > left()) fail(Errc::corrupt, path_ + ": GGUF file ends inside " + what);
        fill_to(pos_ + n);
        const uint8_t* p = buffer_.data() + pos_;
        pos_ += n;
        return p;
    }
    // A little-endian value among the bytes already taken.
    uint64_t u_at(uint64_t offset, int bytes) const { return load_le(buffer_.data() + offset, bytes); }
    uint64_t u(int bytes, const char* what) { return load_le(take(static_cast<uint64_t>(bytes), what), bytes); }
    std::string str(const char* what) {
        const uint64_t n = u(8, what);
        if (n > left()) fail(Errc::corrupt, path_ + ": GGUF " + what + " length " + std::to_string(n) + " beyond end of file");
        const uint8_t* p = take(n, what);
        return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    }

private:
    void fill_to(uint64_t end) {
        if (end <= buffer_.size()) return;
        constexpr uint64_t kFirstRead = uint64_t{64} << 10;
        const uint64_t want = std::min(size_, std::max({end, 2 * uint64_t{buffer_.size()}, kFirstRead}));
        const size_t have = buffer_.size();
        buffer_.resize(static_cast<size_t>(want));
        file_.read_at(have, buffer_.data() + have, static_cast<size_t>(want - have));
    }

    const MappedFile& file_;
    uint64_t size_;
    uint64_t pos_ = 0;
    const std::string& path_;
    std::vector<uint8_t> buffer_;  // the file's first bytes, up to at least pos_
};

std::string scalar_text(uint32_t t, const uint8_t* p) {
    const uint64_t v = load_le(p, static_cast<int>(scalar_size(t)));
    char buf[64];
    switch (t) {
        case kU8: case kU16: case kU32: case kU64: return std::to_string(v);
        case kI8: return std::to_string(static_cast<int8_t>(v));
        case kI16: return std::to_string(static_cast<int16_t>(v));
        case kI32: return std::to_string(static_cast<int32_t>(v));
        case kI64: return std::to_string(static_cast<int64_t>(v));
        case kBool: return v ? "true" : "false";
        case kF32: {
            float f;
            uint32_t b = static_cast<uint32_t>(v);
            std::memcpy(&f, &b, 4);
            std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(f));
            return buf;
        }
        case kF64: {
            double d;
            std::memcpy(&d, &v, 8);
            std::snprintf(buf, sizeof buf, "%.17g", d);
            return buf;
        }
    }
    return "";
}

// Reads (and checks) one value of type t; returns its text form (arrays: a summary).
std::string read_value(Cursor& c, uint32_t t, int depth, const std::string& path, const std::string& key) {
    const std::string what = "value of key '" + key + "'";
    if (const uint64_t n = scalar_size(t)) {
        const uint8_t* p = c.take(n, "a key/value pair");
        if (t == kBool && *p > 1) fail(Errc::corrupt, path + ": GGUF " + what + ": bool is neither 0 nor 1");
        return scalar_text(t, p);
    }
    if (t == kString) return c.str("a string value");
    if (t != kArray) fail(Errc::corrupt, path + ": GGUF " + what + ": unknown value type " + std::to_string(t));
    if (depth >= kMaxArrayDepth) fail(Errc::unsupported, path + ": GGUF " + what + ": arrays nested too deep");
    const uint32_t et = static_cast<uint32_t>(c.u(4, "an array type"));
    const uint64_t count = c.u(8, "an array length");
    if (const uint64_t n = scalar_size(et)) {
        if (count > c.left() / n)
            fail(Errc::corrupt, path + ": GGUF " + what + ": array of " + std::to_string(count) + " beyond end of file");
        c.take(count * n, "an array");
    } else if (et == kString || et == kArray) {
        // Every element takes at least 8 (string) or 12 (array) bytes: the loop is
        // bounded by the file size, whatever `count` claims.
        const uint64_t min_size = et == kString ? 8 : 12;
        if (count > c.left() / min_size)
            fail(Errc::corrupt, path + ": GGUF " + what + ": array of " + std::to_string(count) + " beyond end of file");
        for (uint64_t i = 0; i < count; ++i) read_value(c, et, depth + 1, path, key);
    } else {
        fail(Errc::corrupt, path + ": GGUF " + what + ": unknown array element type " + std::to_string(et));
    }
    return "[" + std::to_string(count) + " x " + value_type_name(et) + "]";
}

bool plain_dtype(uint32_t type, DType& out) {
    switch (static_cast<GgmlType>(type)) {
        case GgmlType::f32: out = DType::f32; return true;
        case GgmlType::f16: out = DType::f16; return true;
        case GgmlType::bf16: out = DType::bf16; return true;
        case GgmlType::f64: out = DType::f64; return true;
        case GgmlType::i8: out = DType::i8; return true;
        case GgmlType::i16: out = DType::i16; return true;
        case GgmlType::i32: out = DType::i32; return true;
        case GgmlType::i64: out = DType::i64; return true;
        default: return false;
    }
}

uint64_t block_bytes(uint32_t type) {
    if (type == static_cast<uint32_t>(GgmlType::q8_0)) return 34;
    if (type == static_cast<uint32_t>(GgmlType::q4_0)) return 18;
    return 0;
}


uint64_t pad_to(uint64_t n, uint64_t a) { return (a - n % a) % a; }

}  // namespace

std::string ggml_type_name(uint32_t type) {
    static const char* names[] = {"F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
                                  "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS",
                                  "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64",
                                  "IQ1_M", "BF16"};
    if (type < sizeof(names) / sizeof(names[0])) return names[type];
    return "type " + std::to_string(type);
}

bool ggml_type_of(DType t, GgmlType& out) {
    switch (t) {
        case DType::f32: out = GgmlType::f32; return true;
        case DType::f16: out = GgmlType::f16; return true;
        case DType::bf16: out = GgmlType::bf16; return true;
        case DType::f64: out = GgmlType::f64; return true;
        case DType::i8: out = GgmlType::i8; return true;
        case DType::i16: out = GgmlType::i16; return true;
        case DType::i32: out = GgmlType::i32; return true;
        case DType::i64: out = GgmlType::i64; return true;
        default: return false;
    }
}

uint64_t ggml_tensor_bytes(uint32_t type, const std::vector<uint64_t>& ne) {
    uint64_t elements = 1;
    for (uint64_t d : ne) {
        if (d != 0 && elements > UINT64_MAX / d) fail(Errc::corrupt, "GGUF tensor dimensions overflow");
        elements *= d;
    }
    DType dt;
    if (plain_dtype(type, dt)) {
        if (elements > UINT64_MAX / dtype_size(dt)) fail(Errc::corrupt, "GGUF tensor size overflows");
        return elements * dtype_size(dt);
    }
    if (const uint64_t bb = block_bytes(type)) {
        if (ne.empty() || ne[0] % 32 != 0)
            fail(Errc::corrupt, "GGUF " + ggml_type_name(type) + " tensor rows must be a multiple of 32 long");
        return elements / 32 * bb;  // elements / 32 * 34 < elements * 2: no overflow
    }
    fail(Errc::unsupported, "GGUF tensor type " + ggml_type_name(type) + " is not supported");
}

bool is_gguf_file(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    uint8_t m[4] = {0, 0, 0, 0};
    const bool ok = std::fread(m, 1, 4, f) == 4 && load_le(m, 4) == kGgufMagic;
    std::fclose(f);
    return ok;
}

// ---------------------------------------------------------------------------

namespace {

// The key/value pairs; general.alignment, if present, into `alignment`.
std::vector<GgufKV> read_key_values(Cursor& c, uint64_t count, const std::string& path, uint32_t& alignment) {
    std::vector<GgufKV> kvs;
    std::set<std::string> keys;
    for (uint64_t i = 0; i < count; ++i) {
        GgufKV kv;
        kv.key = c.str("a key");
        check_name(kv.key, path + ": GGUF ", "key");
        kv.type = static_cast<uint32_t>(c.u(4, "a key/value pair"));
        if (!keys.insert(kv.key).second) fail(Errc::corrupt, path + ": GGUF key '" + kv.key + "' appears twice");
        const uint64_t at = c.pos();
        kv.text = read_value(c, kv.type, 0, path, kv.key);
        if (kv.key == "general.alignment") {
            if (kv.type != kU32) fail(Errc::corrupt, path + ": GGUF general.alignment is not a u32");
            alignment = static_cast<uint32_t>(c.u_at(at, 4));
            if (alignment == 0 || (alignment & (alignment - 1)) != 0)
                fail(Errc::corrupt, path + ": GGUF general.alignment " + std::to_string(alignment) +
                                        " is not a power of two");
        }
        kvs.push_back(std::move(kv));
    }
    return kvs;
}

std::vector<GgufTensorInfo> read_tensor_infos(Cursor& c, uint64_t count, uint32_t alignment, const std::string& path) {
    std::vector<GgufTensorInfo> infos;
    std::set<std::string> names;
    for (uint64_t i = 0; i < count; ++i) {
        GgufTensorInfo t;
        t.name = c.str("a tensor name");
        check_name(t.name, path + ": GGUF ", "tensor name");
        const uint32_t n_dims = static_cast<uint32_t>(c.u(4, "a tensor info"));
        if (n_dims > kGgufMaxDims)
            fail(Errc::corrupt, path + ": GGUF tensor '" + t.name + "' has " + std::to_string(n_dims) +
                                    " dimensions (at most 4)");
        for (uint32_t d = 0; d < n_dims; ++d) {
            const uint64_t n = c.u(8, "a tensor info");
            if (n > static_cast<uint64_t>(INT64_MAX))
                fail(Errc::corrupt, path + ": GGUF tensor '" + t.name + "': dimension out of range");
            t.ne.push_back(n);
        }
        t.type = static_cast<uint32_t>(c.u(4, "a tensor info"));
        t.offset = c.u(8, "a tensor info");
        if (t.offset % alignment != 0)
            fail(Errc::corrupt, path + ": GGUF tensor '" + t.name + "': offset " + std::to_string(t.offset) +
                                    " is not a multiple of the alignment " + std::to_string(alignment));
        if (!names.insert(t.name).second) fail(Errc::corrupt, path + ": GGUF tensor '" + t.name + "' appears twice");
        DType dt;
        t.available = plain_dtype(t.type, dt) || block_bytes(t.type) != 0;
        infos.push_back(std::move(t));
    }
    return infos;
}

}  // namespace

GgufReader::GgufReader(const std::string& path) : file_(std::make_unique<MappedFile>(path)) {
    Cursor c(*file_, path);
    if (file_->size() < 4 || c.u(4, "the header") != kGgufMagic)
        fail(Errc::corrupt, path + ": not a GGUF file (no GGUF magic)");
    version_ = static_cast<uint32_t>(c.u(4, "the header"));
    if (version_ != 2 && version_ != 3)
        fail(Errc::unsupported, path + ": GGUF version " + std::to_string(version_) +
                                    " (qstore reads versions 2 and 3, little-endian)");
    const uint64_t tensor_count = c.u(8, "the header");
    const uint64_t kv_count = c.u(8, "the header");
    // A key/value pair takes at least 8 + 4 + 1 bytes, a tensor info 8 + 4 + 4 + 8.
    if (kv_count > c.left() / 13) fail(Errc::corrupt, path + ": GGUF key/value count " + std::to_string(kv_count) + " beyond end of file");
    if (tensor_count > c.left() / 24) fail(Errc::corrupt, path + ": GGUF tensor count " + std::to_string(tensor_count) + " beyond end of file");
    kvs_ = read_key_values(c, kv_count, path, alignment_);
    infos_ = read_tensor_infos(c, tensor_count, alignment_, path);
    data_offset_ = c.pos() + pad_to(c.pos(), alignment_);
    add_tensors(path);
    check_no_overlap(path);
    for (size_t i = 0; i < tensors_.size(); ++i) by_name_[tensors_[i].name] = i;
}

// The available tensors in the safetensors form (block types as U8 rows of blocks),
// by ascending data offset.
void GgufReader::add_tensors(const std::string& path) {
    const uint64_t fsize = file_->size();
    const uint64_t data_size = data_offset_ < fsize ? fsize - data_offset_ : 0;
    for (const auto& info : infos_) {
        if (!info.available) continue;
        const std::string what = path + ": GGUF tensor '" + info.name + "'";
        const uint64_t size = with_context(what + ": ", [&] { return ggml_tensor_bytes(info.type, info.ne); });
        if (info.offset > data_size || size > data_size - info.offset)
            fail(Errc::corrupt, what + ": data (offset " + std::to_string(info.offset) + ", " + std::to_string(size) +
                                    " bytes) beyond end of file");
        SafetensorsTensor t;
        t.name = info.name;
        t.dtype_name = ggml_type_name(info.type);
        if (plain_dtype(info.type, t.dtype)) {
            t.shape.assign(info.ne.rbegin(), info.ne.rend());
        } else {
            t.dtype = DType::u8;
            uint64_t rows = 1;
            for (size_t d = 1; d < info.ne.size(); ++d) rows *= info.ne[d];  // <= elements: no overflow
            const uint64_t cols = info.ne.empty() ? 1 : info.ne[0];
            t.shape = {rows, cols / 32 * block_bytes(info.type)};
        }
        t.data = file_->data() + data_offset_ + info.offset;
        t.size = size;
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
    auto offset = [&](const SafetensorsTensor& t) { return std::to_string(t.data - file_->data() - data_offset_); };
    for (const SafetensorsTensor& t : tensors_) {
        if (last && t.size != 0 && t.data < last->data + last->size)
            fail(Errc::corrupt, path + ": GGUF tensor '" + t.name + "': data at offset " + offset(t) +
                                    " overlaps tensor '" + last->name + "' (offset " + offset(*last) + ", " +
                                    std::to_string(last->size) + " bytes)");
        if (!last || t.data + t.size > last->data + last->size) last = &t;
    }
}

const GgufKV* GgufReader::kv(const std::string& key) const {
    for (const auto& kv : kvs_)
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
    for (const GgufTensorInfo& t : infos_) names.push_back(t.name);
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
    put_u32(h, kU32);
    put_u32(h, kGgufDefaultAlignment);
    for (const auto& [k, v] : metadata) {
        if (k == "general.alignment") fail(Errc::internal, path + ": general.alignment is written by the GGUF writer");
        put_string(k);
        put_u32(h, kString);
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
