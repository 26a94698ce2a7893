// Where `pack()` takes a model or a given low precision from: anything that can hand
// out tensors in order and by name in the safetensors form (dtype, row-major shape,
// bytes). SafetensorsReader (io/safetensors.hpp) and GgufReader (io/gguf.hpp)
// implement it.
#pragma once

#include <cstdint>
#include <map>
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
    // The usable tensors in the source's order (a pack of it writes them in this order).
    virtual const std::vector<SafetensorsTensor>& tensors() const = 0;
    // String metadata a pack of it keeps (safetensors' "__metadata__"); none by default.
    virtual const std::map<std::string, std::string>& string_metadata() const {
        static const std::map<std::string, std::string> none;
        return none;
    }
};

}  // namespace qstore
