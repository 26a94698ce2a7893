// GGUF in and out (ggml's model file, versions 2 and 3, little-endian): a reader that
// hands out the tensors in the safetensors form the packer consumes (TensorSource),
// and a streaming writer.
//
// File layout: "GGUF", u32 version, u64 tensor_count, u64 kv_count, the key/value pairs
// (key: u64 length + bytes; u32 value type; value), the tensor infos (name string,
// u32 n_dims, n_dims x u64 ne, u32 ggml_type, u64 offset into the data section), zero
// padding to the alignment ("general.alignment", u32, default 32), then the data.
// ne[0] is the innermost (contiguous) dimension: a row-major shape is ne reversed.
//
// How the reader maps GGUF tensors (docs/FORMAT.md §7.8):
//   Q8_0 / Q4_0   U8 [rows, cols/32 * 34 or 18], rows = ne[1] * ne[2] * ..., cols = ne[0]:
//                 ggml's block bytes, i.e. qstore's native q8_0/q4_0 layout (schemes/layout.hpp)
//   F32 F16 BF16 F64 I8 I16 I32 I64   that dtype, shape = ne reversed
//   any other ggml type   not available: find() returns nullptr (infos() still lists it)
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/atomic_file.hpp"
#include "base/dtype.hpp"
#include "io/mapped_file.hpp"
#include "io/safetensors.hpp"
#include "io/tensor_source.hpp"

namespace qstore {

// ggml_type values used here (ggml.h).
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
constexpr uint32_t kGgufDefaultAlignment = 32;
constexpr uint32_t kGgufMaxDims = 4;  // GGML_MAX_DIMS

// "Q8_0", "F32", ... ("type 12" for types qstore does not know by name).
std::string ggml_type_name(uint32_t type);
// The ggml type of a plain dtype; false for dtypes GGUF has no type for (U8, U16, U32,
// U64, BOOL, F8_*).
bool ggml_type_of(DType t, GgmlType& out);
// Bytes of a tensor of a type qstore reads (ggml_type_of's types, Q8_0, Q4_0) with
// dimensions ne; fails with Errc::corrupt on overflow or a Q row not a multiple of 32,
// Errc::unsupported on other types.
uint64_t ggml_tensor_bytes(uint32_t type, const std::vector<uint64_t>& ne);
// True if the file starts with the GGUF magic.
bool is_gguf_file(const std::string& path);

struct GgufKV {
    std::string key;
    uint32_t type = 0;  // GGUF value type (0 u8 ... 12 f64)
    std::string text;   // strings as they are, numbers in decimal, bools true/false,
                        // arrays "[N x TYPE]"
};

struct GgufTensorInfo {
    std::string name;
    uint32_t type = 0;        // ggml_type
    std::vector<uint64_t> ne; // innermost first
    uint64_t offset = 0;      // into the data section
    bool available = false;   // a type qstore reads (see above)
};

class GgufReader final : public TensorSource {
public:
    explicit GgufReader(const std::string& path);  // Error(corrupt / unsupported / io)

    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    uint64_t data_offset() const { return data_offset_; }  // file offset of the data section
    const std::vector<GgufKV>& metadata() const { return kvs_; }
    const GgufKV* kv(const std::string& key) const;
    // Every tensor info, in file order.
    const std::vector<GgufTensorInfo>& infos() const { return infos_; }
    // The available tensors in the safetensors form, by ascending data offset.
    const std::vector<SafetensorsTensor>& tensors() const override { return tensors_; }
    const SafetensorsTensor* find(const std::string& name) const override;
    void read(const SafetensorsTensor& t, uint8_t* dst) const override;
    std::vector<std::string> tensor_names() const override;  // infos(), available or not

private:
    void add_tensors(const std::string& path);
    void check_no_overlap(const std::string& path) const;  // Errc::corrupt if two tensors share bytes
    std::unique_ptr<MappedFile> file_;
    uint32_t version_ = 0;
    uint32_t alignment_ = kGgufDefaultAlignment;
    uint64_t data_offset_ = 0;
    std::vector<GgufKV> kvs_;
    std::vector<GgufTensorInfo> infos_;
    std::vector<SafetensorsTensor> tensors_;
    std::map<std::string, size_t> by_name_;
};

// Writes a GGUF v3 file whose tensor infos are known up front; tensor data is then
// appended one tensor at a time, in declaration order, each padded to 32 bytes.
// Writes "general.alignment" = 32 first, then `metadata` as string values.
class GgufWriter {
public:
    struct Entry {
        std::string name;
        GgmlType type;
        std::vector<uint64_t> ne;  // innermost first, 1..4 dimensions
        uint64_t size;             // bytes (must equal ggml_tensor_bytes(type, ne))
    };
    GgufWriter(const std::string& path, std::vector<Entry> entries,
               const std::vector<std::pair<std::string, std::string>>& metadata);
    ~GgufWriter();
    GgufWriter(const GgufWriter&) = delete;
    GgufWriter& operator=(const GgufWriter&) = delete;
    void write_next(const void* data, uint64_t size);
    void finish();

private:
    std::string path_;
    std::vector<Entry> entries_;
    size_t next_ = 0;
    std::unique_ptr<AtomicFile> file_;  // written atomically: see io/atomic_file.hpp
};

}  // namespace qstore
