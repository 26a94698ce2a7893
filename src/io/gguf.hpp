// GGUF in and out (ggml's model file, versions 2 and 3, little-endian): a reader that
// hands out the tensors in the safetensors form the packer consumes (TensorSource),
// and a streaming writer. The header itself: io/gguf_header.hpp.
//
// How the reader maps GGUF tensors (docs/FORMAT.md §7.8), as a given low precision
// (GgufUse::low_source):
//   Q8_0 / Q4_0   U8 [rows, cols/32 * 34 or 18], rows = ne[1] * ne[2] * ..., cols = ne[0]:
//                 ggml's block bytes, i.e. qstore's native q8_0/q4_0 layout (schemes/layout.hpp)
//   F32 F16 BF16 F64 I8 I16 I32 I64   that dtype, shape = ne reversed
//   any other ggml type   not available: find() returns nullptr (infos() still lists it)
// As a model to pack (GgufUse::model), every tensor is available: the plain types as
// above, every other known type as U8 [rows, ne[0] / block elements * block bytes];
// a tensor of a type qstore does not know is an error.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/atomic_file.hpp"
#include "base/dtype.hpp"
#include "io/gguf_header.hpp"
#include "io/mapped_file.hpp"
#include "io/safetensors.hpp"
#include "io/tensor_source.hpp"

namespace qstore {

// True if the file starts with the GGUF magic.
bool is_gguf_file(const std::string& path);

enum class GgufUse { low_source, model };

class GgufReader final : public TensorSource {
public:
    // Error(corrupt / unsupported / io), naming the file and the field.
    explicit GgufReader(const std::string& path, GgufUse use = GgufUse::low_source);

    uint32_t version() const { return header_.version; }
    uint32_t alignment() const { return header_.alignment; }
    uint64_t data_offset() const { return header_.data_offset; }  // file offset of the data section
    uint64_t file_size() const { return file_->size(); }
    const std::string& path() const { return file_->path(); }
    const GgufHeader& header() const { return header_; }
    const std::vector<GgufKV>& metadata() const { return header_.kvs; }
    const GgufKV* kv(const std::string& key) const;
    // Every tensor info, in file order.
    const std::vector<GgufTensorInfo>& infos() const { return header_.infos; }
    // Whether find() serves the tensor of this info.
    bool available(const GgufTensorInfo& info) const;
    // Copies [offset, offset + n) of the file (pread).
    void read_file(uint64_t offset, uint8_t* dst, size_t n) const { file_->read_at(offset, dst, n); }
    // The available tensors in the safetensors form, by ascending data offset.
    const std::vector<SafetensorsTensor>& tensors() const override { return tensors_; }
    const SafetensorsTensor* find(const std::string& name) const override;
    void read(const SafetensorsTensor& t, uint8_t* dst) const override;
    std::vector<std::string> tensor_names() const override;  // infos(), available or not

private:
    void add_tensors(const std::string& path);
    void check_no_overlap(const std::string& path) const;  // Errc::corrupt if two tensors share bytes
    std::unique_ptr<MappedFile> file_;
    GgufUse use_;
    GgufHeader header_;
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
