// The GGUF header (ggml's model file, versions 2 and 3, little-endian), parsed from
// any byte source: the ggml types qstore knows the size of, the key/value pairs typed,
// and the tensor infos. io/gguf.hpp reads files with it; io/gguf_layout.hpp reads the
// header a .qs file keeps of a GGUF-packed model.
//
// Layout: "GGUF", u32 version, u64 tensor_count, u64 kv_count, the key/value pairs
// (key: u64 length + bytes; u32 value type; value), the tensor infos (name string,
// u32 n_dims, n_dims x u64 ne, u32 ggml_type, u64 offset into the data section), zero
// padding to the alignment ("general.alignment", u32, default 32), then the data.
// ne[0] is the innermost (contiguous) dimension: a row-major shape is ne reversed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/dtype.hpp"

namespace qstore {

// ggml_type values named in the code (ggml.h); ggml_type_block() knows every type.
enum class GgmlType : uint32_t {
    f32 = 0,
    f16 = 1,
    q4_0 = 2,
    q8_0 = 8,
    i8 = 24,
    i16 = 25,
    i32 = 26,
    i64 = 27,
    f64 = 28,
    bf16 = 30,
};
constexpr uint32_t kGgufMagic = 0x46554747u;  // "GGUF" read as a little-endian u32
constexpr uint32_t kGgufDefaultAlignment = 32;
constexpr uint32_t kGgufMaxDims = 4;  // GGML_MAX_DIMS

// GGUF value types.
enum GgufValueType : uint32_t {
    kGgufU8 = 0, kGgufI8 = 1, kGgufU16 = 2, kGgufI16 = 3, kGgufU32 = 4, kGgufI32 = 5, kGgufF32 = 6,
    kGgufBool = 7, kGgufString = 8, kGgufArray = 9, kGgufU64 = 10, kGgufI64 = 11, kGgufF64 = 12,
};
// Bytes of one value of a scalar type; 0 for string, array and unknown types.
uint64_t gguf_scalar_size(uint32_t type);

// "Q8_0", "F32", ... ("type 12" for types qstore does not know by name).
std::string ggml_type_name(uint32_t type);
// Elements per block and bytes per block of a ggml type (ggml's type traits); false for
// a type qstore does not know (including the removed ones, 4, 5, 31-33, 36-38).
bool ggml_type_block(uint32_t type, uint64_t& block_elements, uint64_t& block_bytes);
// The ggml type of a plain dtype; false for dtypes GGUF has no type for (U8, U16, U32,
// U64, BOOL, F8_*).
bool ggml_type_of(DType t, GgmlType& out);
// The dtype of a plain ggml type (F32 F16 BF16 F64 I8 I16 I32 I64); false for others.
bool ggml_plain_dtype(uint32_t type, DType& out);
// Bytes of a tensor of type `type` with dimensions ne; fails with Errc::corrupt on
// overflow or a row (ne[0]) not a multiple of the type's block, Errc::unsupported for
// a type qstore does not know.
uint64_t ggml_tensor_bytes(uint32_t type, const std::vector<uint64_t>& ne);

// One key/value pair, typed. Numbers and bools are kept as their little-endian bytes,
// strings as they are; an array holds `count` elements of `element_type`.
struct GgufKV {
    std::string key;
    uint32_t type = 0;          // GGUF value type of the value (kGgufArray for arrays)
    uint32_t element_type = 0;  // the value's type, or the type of each element of an array
    uint64_t count = 1;         // elements of an array; 1 for a single value
    std::vector<uint8_t> values;       // numbers and bools: count x gguf_scalar_size(element_type) bytes
    std::vector<std::string> strings;  // a string value, or each element of an array of strings
    std::string text;  // for messages: strings as they are, numbers in decimal, bools true/false,
                       // arrays "[N x TYPE]" (arrays of arrays keep only this)
    uint64_t begin = 0, end = 0;  // the pair's bytes in the header
    bool is_array() const { return type == kGgufArray; }
};

struct GgufTensorInfo {
    std::string name;
    uint32_t type = 0;         // ggml_type
    std::vector<uint64_t> ne;  // innermost first
    uint64_t offset = 0;       // into the data section
    bool known = false;        // a type whose size qstore knows (ggml_type_block)
    uint64_t size = 0;         // bytes, if known
};

struct GgufHeader {
    uint32_t version = 0;
    uint32_t alignment = kGgufDefaultAlignment;
    uint64_t infos_begin = 0;  // offset of the first tensor info (end of the key/value pairs)
    uint64_t data_offset = 0;  // file offset of the data section
    std::vector<GgufKV> kvs;
    std::vector<GgufTensorInfo> infos;
};

// Reads [offset, offset + n) of the source into dst (offset + n <= the source's size).
using GgufFetch = std::function<void(uint64_t offset, uint8_t* dst, size_t n)>;

// Parses the header of a source of `size` bytes; every error (Errc::corrupt or
// Errc::unsupported) names `path` and the field. Checks: magic, version 2 or 3, counts
// and lengths within the source, value types, general.alignment (a u32 power of two),
// unique keys and names, at most 4 dimensions, offsets multiples of the alignment, and
// the size of every tensor of a known type (not that it lies inside the source).
GgufHeader parse_gguf_header(uint64_t size, const GgufFetch& fetch, const std::string& path);

}  // namespace qstore
