// Where `pack()` takes a given low precision from: anything that can hand out tensors
// by name in the safetensors form (dtype, row-major shape, bytes). SafetensorsReader
// (io/safetensors.hpp) and GgufReader (io/gguf.hpp) implement it.
#pragma once

#include <string>
#include <vector>

namespace qstore {

struct SafetensorsTensor;

class TensorSource {
public:
    virtual ~TensorSource() = default;
    // nullptr if the source holds no usable tensor of that name.
    virtual const SafetensorsTensor* find(const std::string& name) const = 0;
    // Copies the tensor's t.size bytes into dst with pread: a file that shrank since it
    // was opened is reported as truncated (reading through t.data would raise SIGBUS).
    virtual void read(const SafetensorsTensor& t, uint8_t* dst) const = 0;
    // Every tensor of the source, usable or not (what a pack reports as unused).
    virtual std::vector<std::string> tensor_names() const = 0;
};

}  // namespace qstore
