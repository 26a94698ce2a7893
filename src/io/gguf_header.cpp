#include "io/gguf_header.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>

#include "base/byte_io.hpp"
#include "base/error.hpp"
#include "base/input_checks.hpp"

namespace qstore {

namespace {

constexpr int kMaxArrayDepth = 4;

const char* value_type_name(uint32_t t) {
    static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                  "string", "array", "u64", "i64", "f64"};
    return t <= kGgufF64 ? names[t] : "?";
}

// Bounds-checked little-endian cursor over a source. The bytes are fetched into a
// buffer that doubles as the cursor moves on (each byte read once): a file that
// shrinks while it is parsed is reported as truncated by the fetch.
class Cursor {
public:
    Cursor(uint64_t size, const GgufFetch& fetch, const std::string& path) : fetch_(fetch), size_(size), path_(path) {}
    uint64_t pos() const { return pos_; }
    uint64_t left() const { return size_ - pos_; }
    const std::string& path() const { return path_; }
    // n bytes at the cursor, valid until the next take.
    const uint8_t* take(uint64_t n, const char* what) {
        if (n > left()) fail(Errc::corrupt, path_ + ": GGUF file ends inside " + what);
        fill_to(pos_ + n);
        const uint8_t* p = buffer_.data() + pos_;
        pos_ += n;
        return p;
    }
    uint64_t u(int bytes, const char* what) { return load_le(take(static_cast<uint64_t>(bytes), what), bytes); }
    std::string str(const std::string& what) {
        const uint64_t n = u(8, what.c_str());
        if (n > left()) fail(Errc::corrupt, path_ + ": GGUF " + what + " length " + std::to_string(n) + " beyond end of file");
        const uint8_t* p = take(n, what.c_str());
        return std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    }

private:
    void fill_to(uint64_t end) {
        if (end <= buffer_.size()) return;
        constexpr uint64_t kFirstRead = uint64_t{64} << 10;
        const uint64_t want = std::min(size_, std::max({end, 2 * uint64_t{buffer_.size()}, kFirstRead}));
        const size_t have = buffer_.size();
        buffer_.resize(static_cast<size_t>(want));
        fetch_(have, buffer_.data() + have, static_cast<size_t>(want - have));
    }

    const GgufFetch& fetch_;
    uint64_t size_;
    uint64_t pos_ = 0;
    const std::string& path_;
    std::vector<uint8_t> buffer_;  // the source's first bytes, up to at least pos_
};

std::string scalar_text(uint32_t t, const uint8_t* p) {
    const uint64_t v = load_le(p, static_cast<int>(gguf_scalar_size(t)));
    char buf[64];
    switch (t) {
        case kGgufU8: case kGgufU16: case kGgufU32: case kGgufU64: return std::to_string(v);
        case kGgufI8: return std::to_string(static_cast<int8_t>(v));
        case kGgufI16: return std::to_string(static_cast<int16_t>(v));
        case kGgufI32: return std::to_string(static_cast<int32_t>(v));
        case kGgufI64: return std::to_string(static_cast<int64_t>(v));
        case kGgufBool: return v ? "true" : "false";
        case kGgufF32: {
            float f;
            const uint32_t b = static_cast<uint32_t>(v);
            std::memcpy(&f, &b, 4);
            std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(f));
            return buf;
        }
        case kGgufF64: {
            double d;
            std::memcpy(&d, &v, 8);
            std::snprintf(buf, sizeof buf, "%.17g", d);
            return buf;
        }
    }
    return "";
}

std::string key_context(const std::string& key) { return "value of key '" + key + "'"; }

// An array's elements after its type and count: into kv (when kv is not null, the
// outermost array) or only checked (nested arrays).
void read_elements(Cursor& c, uint32_t et, uint64_t count, int depth, const std::string& key, GgufKV* kv);

// Reads (and checks) one value of type t; its text form into `text`, and, when kv is
// not null, its typed form.
void read_value(Cursor& c, uint32_t t, int depth, const std::string& key, GgufKV* kv, std::string* text) {
    const std::string& path = c.path();
    if (const uint64_t n = gguf_scalar_size(t)) {
        const uint8_t* p = c.take(n, "a key/value pair");
        if (t == kGgufBool && *p > 1) fail(Errc::corrupt, path + ": GGUF " + key_context(key) + ": bool is neither 0 nor 1");
        if (kv) kv->values.insert(kv->values.end(), p, p + n);
        if (text) *text = scalar_text(t, p);
        return;
    }
    if (t == kGgufString) {
        std::string s = c.str("string " + key_context(key));
        if (text) *text = s;
        if (kv) kv->strings.push_back(std::move(s));
        return;
    }
    if (t != kGgufArray) fail(Errc::corrupt, path + ": GGUF " + key_context(key) + ": unknown value type " + std::to_string(t));
    if (depth >= kMaxArrayDepth) fail(Errc::unsupported, path + ": GGUF " + key_context(key) + ": arrays nested too deep");
    const uint32_t et = static_cast<uint32_t>(c.u(4, "an array type"));
    const uint64_t count = c.u(8, "an array length");
    read_elements(c, et, count, depth, key, depth == 0 ? kv : nullptr);
    if (kv && depth == 0) {
        kv->element_type = et;
        kv->count = count;
    }
    if (text) *text = "[" + std::to_string(count) + " x " + value_type_name(et) + "]";
}

void read_elements(Cursor& c, uint32_t et, uint64_t count, int depth, const std::string& key, GgufKV* kv) {
    const std::string& path = c.path();
    const std::string beyond = path + ": GGUF " + key_context(key) + ": array of " + std::to_string(count) + " beyond end of file";
    if (const uint64_t n = gguf_scalar_size(et)) {
        if (count > c.left() / n) fail(Errc::corrupt, beyond);
        const uint8_t* p = c.take(count * n, "an array");
        if (et == kGgufBool)
            for (uint64_t i = 0; i < count; ++i)
                if (p[i] > 1) fail(Errc::corrupt, path + ": GGUF " + key_context(key) + ": bool is neither 0 nor 1");
        if (kv) kv->values.assign(p, p + count * n);
    } else if (et == kGgufString || et == kGgufArray) {
        // Every element takes at least 8 (string) or 12 (array) bytes: the loop is
        // bounded by the file size, whatever `count` claims.
        const uint64_t min_size = et == kGgufString ? 8 : 12;
        if (count > c.left() / min_size) fail(Errc::corrupt, beyond);
        if (kv && et == kGgufString) kv->strings.reserve(static_cast<size_t>(count));
        for (uint64_t i = 0; i < count; ++i) read_value(c, et, depth + 1, key, et == kGgufString ? kv : nullptr, nullptr);
    } else {
        fail(Errc::corrupt, path + ": GGUF " + key_context(key) + ": unknown array element type " + std::to_string(et));
    }
}

uint64_t pad_to(uint64_t n, uint64_t a) { return (a - n % a) % a; }

// The key/value pairs; general.alignment, if present, into `alignment`.
std::vector<GgufKV> read_key_values(Cursor& c, uint64_t count, uint32_t& alignment) {
    const std::string& path = c.path();
    std::vector<GgufKV> kvs;
    std::set<std::string> keys;
    for (uint64_t i = 0; i < count; ++i) {
        GgufKV kv;
        kv.begin = c.pos();
        kv.key = c.str("a key");
        check_name(kv.key, path + ": GGUF ", "key");
        kv.type = static_cast<uint32_t>(c.u(4, "a key/value pair"));
        kv.element_type = kv.type;
        if (!keys.insert(kv.key).second) fail(Errc::corrupt, path + ": GGUF key '" + kv.key + "' appears twice");
        read_value(c, kv.type, 0, kv.key, &kv, &kv.text);
        kv.end = c.pos();
        if (kv.key == "general.alignment") {
            if (kv.type != kGgufU32) fail(Errc::corrupt, path + ": GGUF general.alignment is not a u32");
            alignment = static_cast<uint32_t>(load_le(kv.values.data(), 4));
            if (alignment == 0 || (alignment & (alignment - 1)) != 0)
                fail(Errc::corrupt, path + ": GGUF general.alignment " + std::to_string(alignment) +
                                        " is not a power of two");
        }
        kvs.push_back(std::move(kv));
    }
    return kvs;
}

GgufTensorInfo read_tensor_info(Cursor& c, uint32_t alignment) {
    const std::string& path = c.path();
    GgufTensorInfo t;
    t.name = c.str("a tensor name");
    check_name(t.name, path + ": GGUF ", "tensor name");
    const std::string what = path + ": GGUF tensor '" + t.name + "'";
    const uint32_t n_dims = static_cast<uint32_t>(c.u(4, "a tensor info"));
    if (n_dims > kGgufMaxDims)
        fail(Errc::corrupt, what + " has " + std::to_string(n_dims) + " dimensions (at most 4)");
    for (uint32_t d = 0; d < n_dims; ++d) {
        const uint64_t n = c.u(8, "a tensor info");
        if (n > static_cast<uint64_t>(INT64_MAX)) fail(Errc::corrupt, what + ": dimension out of range");
        t.ne.push_back(n);
    }
    t.type = static_cast<uint32_t>(c.u(4, "a tensor info"));
    t.offset = c.u(8, "a tensor info");
    if (t.offset % alignment != 0)
        fail(Errc::corrupt, what + ": offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                                std::to_string(alignment));
    uint64_t be = 0, bb = 0;
    t.known = ggml_type_block(t.type, be, bb);
    if (t.known) t.size = with_context(what + ": ", [&] { return ggml_tensor_bytes(t.type, t.ne); });
    return t;
}

}  // namespace

uint64_t gguf_scalar_size(uint32_t t) {
    switch (t) {
        case kGgufU8: case kGgufI8: case kGgufBool: return 1;
        case kGgufU16: case kGgufI16: return 2;
        case kGgufU32: case kGgufI32: case kGgufF32: return 4;
        case kGgufU64: case kGgufI64: case kGgufF64: return 8;
        default: return 0;
    }
}

std::string ggml_type_name(uint32_t type) {
    static const char* names[] = {"F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
                                  "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS",
                                  "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64",
                                  "IQ1_M", "BF16", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0",
                                  "IQ4_NL_4_4", "IQ4_NL_4_8", "IQ4_NL_8_8", "MXFP4"};
    if (type < sizeof(names) / sizeof(names[0])) return names[type];
    return "type " + std::to_string(type);
}

bool ggml_type_block(uint32_t type, uint64_t& block_elements, uint64_t& block_bytes) {
    // {elements per block, bytes per block} of ggml's type traits; {0, 0}: no such type.
    static const uint16_t traits[][2] = {
        {1, 4},     {1, 2},     {32, 18},   {32, 20},  {0, 0},    {0, 0},    {32, 22},   {32, 24},
        {32, 34},   {32, 36},   {256, 84},  {256, 110}, {256, 144}, {256, 176}, {256, 210}, {256, 292},
        {256, 66},  {256, 74},  {256, 98},  {256, 50}, {32, 18},  {256, 110}, {256, 82}, {256, 136},
        {1, 1},     {1, 2},     {1, 4},     {1, 8},    {1, 8},    {256, 56}, {1, 2},     {0, 0},
        {0, 0},     {0, 0},     {256, 54},  {256, 66}, {0, 0},    {0, 0},    {0, 0},     {32, 17},
    };
    if (type >= sizeof(traits) / sizeof(traits[0]) || traits[type][0] == 0) return false;
    block_elements = traits[type][0];
    block_bytes = traits[type][1];
    return true;
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

bool ggml_plain_dtype(uint32_t type, DType& out) {
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

uint64_t ggml_tensor_bytes(uint32_t type, const std::vector<uint64_t>& ne) {
    uint64_t be = 0, bb = 0;
    if (!ggml_type_block(type, be, bb)) fail(Errc::unsupported, "GGUF tensor type " + ggml_type_name(type) + " is not supported");
    uint64_t elements = 1;
    for (uint64_t d : ne) {
        if (d != 0 && elements > UINT64_MAX / d) fail(Errc::corrupt, "GGUF tensor dimensions overflow");
        elements *= d;
    }
    if (be > 1 && (ne.empty() || ne[0] % be != 0))
        fail(Errc::corrupt, "GGUF " + ggml_type_name(type) + " tensor rows must be a multiple of " + std::to_string(be) +
                                " long");
    if (elements / be > UINT64_MAX / bb) fail(Errc::corrupt, "GGUF tensor size overflows");
    return elements / be * bb;
}

GgufHeader parse_gguf_header(uint64_t size, const GgufFetch& fetch, const std::string& path) {
    Cursor c(size, fetch, path);
    GgufHeader h;
    if (size < 4 || c.u(4, "the header") != kGgufMagic) fail(Errc::corrupt, path + ": not a GGUF file (no GGUF magic)");
    h.version = static_cast<uint32_t>(c.u(4, "the header"));
    if (h.version != 2 && h.version != 3)
        fail(Errc::unsupported, path + ": GGUF version " + std::to_string(h.version) +
                                    " (qstore reads versions 2 and 3, little-endian)");
    const uint64_t tensor_count = c.u(8, "the header");
    const uint64_t kv_count = c.u(8, "the header");
    // A key/value pair takes at least 8 + 4 + 1 bytes, a tensor info 8 + 4 + 4 + 8.
    if (kv_count > c.left() / 13)
        fail(Errc::corrupt, path + ": GGUF key/value count " + std::to_string(kv_count) + " beyond end of file");
    if (tensor_count > c.left() / 24)
        fail(Errc::corrupt, path + ": GGUF tensor count " + std::to_string(tensor_count) + " beyond end of file");
    h.kvs = read_key_values(c, kv_count, h.alignment);
    h.infos_begin = c.pos();
    std::set<std::string> names;
    for (uint64_t i = 0; i < tensor_count; ++i) {
        h.infos.push_back(read_tensor_info(c, h.alignment));
        if (!names.insert(h.infos.back().name).second)
            fail(Errc::corrupt, path + ": GGUF tensor '" + h.infos.back().name + "' appears twice");
    }
    h.data_offset = c.pos() + pad_to(c.pos(), h.alignment);
    return h;
}

}  // namespace qstore
