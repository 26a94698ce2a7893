// libFuzzer target: one safetensors file (the input, as it is) through SafetensorsReader,
// then every tensor used as the packer uses it (qs_fuzz::exercise). See README.md.
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string path = qs_fuzz::write_file("in.safetensors", data, size);
    qs_fuzz::guarded([&] {
        qstore::SafetensorsReader r(path);
        qs_fuzz::exercise(r);
    });
    return 0;
}
