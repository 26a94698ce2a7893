// Safetensors in and out: a reader over one file or a sharded Hugging Face folder
// (model.safetensors.index.json), and a streaming writer. Format: 8-byte LE header
// length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {..}},
// then the raw little-endian tensor bytes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/atomic_file.hpp"
#include "base/dtype.hpp"
#include "io/mapped_file.hpp"
#include "io/tensor_source.hpp"

namespace qstore {

struct SafetensorsTensor {
    std::string name;
    DType dtype = DType::unknown;
    std::string dtype_name;  // as written in the file (kept for error messages)
    std::vector<uint64_t> shape;
    const uint8_t* data = nullptr;  // into the mmap; may be unaligned
    uint64_t size = 0;              // bytes
    std::string source;             // path of the file holding it
    size_t file_index = 0;          // which mapped shard holds it
    uint64_t num_elements() const;
};

class SafetensorsReader final : public TensorSource {
public:
    // `path` is a .safetensors file, a sharded index .json, or a folder holding either
    // model.safetensors.index.json or exactly one .safetensors file.
    explicit SafetensorsReader(const std::string& path);

    // Tensors in a stable order: shard by shard, each by ascending data offset.
    const std::vector<SafetensorsTensor>& tensors() const override { return tensors_; }
    const SafetensorsTensor* find(const std::string& name) const override;
    std::vector<std::string> tensor_names() const override;
    // Copies a tensor's bytes (t.size) to dst with pread, without touching the mapping:
    // for a consumer that reads them more than once (a mapping's first touch costs a
    // page fault per 16 pages and TLB misses on 4 KiB pages).
    void read(const SafetensorsTensor& t, uint8_t* dst) const override;
    // The same through a read-ahead window (t.size <= max_window; `memory` as
    // ReadAhead::get wants it): a pass over small tensors in order costs a system call
    // per window, not per tensor. The bytes stay valid until the window's next use.
    const uint8_t* read(const SafetensorsTensor& t, ReadAhead& ahead, uint8_t* memory, size_t max_window) const;
    // "__metadata__" string map of the (first) file; empty if absent.
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    const std::map<std::string, std::string>& string_metadata() const override { return metadata_; }
    uint64_t header_bytes() const { return header_bytes_; }  // sum over shards, incl. 8-byte prefix
    uint64_t file_bytes() const { return file_bytes_; }

private:
    void add_file(const std::string& file);
    std::vector<std::unique_ptr<MappedFile>> files_;
    std::vector<SafetensorsTensor> tensors_;
    std::map<std::string, size_t> by_name_;
    std::map<std::string, std::string> metadata_;
    uint64_t header_bytes_ = 0;
    uint64_t file_bytes_ = 0;
};

// Writes a safetensors file whose header is known up front; tensor data is then
// appended one tensor at a time, in declaration order (no whole-model buffer).
class SafetensorsWriter {
public:
    struct Entry {
        std::string name;
        DType dtype;
        std::vector<uint64_t> shape;
        uint64_t size;  // bytes
    };
    SafetensorsWriter(const std::string& path, std::vector<Entry> entries,
                      const std::map<std::string, std::string>& metadata);
    ~SafetensorsWriter();
    // Appends the next tensor's bytes (exactly entries[i].size).
    void write_next(const void* data, uint64_t size);
    void finish();

private:
    std::string path_;
    std::vector<Entry> entries_;
    size_t next_ = 0;
    std::unique_ptr<AtomicFile> file_;  // written atomically: see io/atomic_file.hpp
};

}  // namespace qstore
