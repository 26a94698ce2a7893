// libFuzzer target: a sharded Hugging Face model (model.safetensors.index.json + shards)
// through SafetensorsReader, opened as a folder. See README.md.
//
// Input: the index JSON, then up to 4 shards, each after the separator "\n#SHARD#\n":
// shard k (1..4) is written as s<k>.safetensors next to the index, so an index names
// them "s1.safetensors" ... (other names are missing files). Inputs whose index holds
// '/' or '\' are skipped: a path out of the temp folder could reach any file (a FIFO,
// /dev/...), which is not what this target is about.
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string sep = "\n#SHARD#\n";
    std::vector<std::pair<const uint8_t*, size_t>> parts;
    const uint8_t* p = data;
    const uint8_t* end = data + size;
    while (parts.size() < 5) {
        const uint8_t* s = std::search(p, end, sep.begin(), sep.end());
        parts.emplace_back(p, static_cast<size_t>(s - p));
        if (s == end) break;
        p = s + sep.size();
    }
    const auto& index = parts[0];
    if (std::find(index.first, index.first + index.second, '/') != index.first + index.second ||
        std::find(index.first, index.first + index.second, '\\') != index.first + index.second)
        return 0;
    static const std::string dir = [] {
        const std::string d = qs_fuzz::temp_dir() + "/model";
        std::filesystem::create_directories(d);
        return d;
    }();
    qs_fuzz::write_file("model/model.safetensors.index.json", index.first, index.second);
    for (size_t k = 1; k <= 4; ++k) {
        const std::string name = "model/s" + std::to_string(k) + ".safetensors";
        if (k < parts.size())
            qs_fuzz::write_file(name, parts[k].first, parts[k].second);
        else
            unlink((qs_fuzz::temp_dir() + "/" + name).c_str());
    }
    qs_fuzz::guarded([&] {
        qstore::SafetensorsReader r(dir);
        qs_fuzz::exercise(r);
    });
    return 0;
}
