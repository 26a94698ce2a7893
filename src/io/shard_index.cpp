#include "io/shard_index.hpp"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/error.hpp"
#include "base/input_checks.hpp"
#include "io/mapped_file.hpp"
#include "io/safetensors.hpp"

namespace qstore {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Fails unless `name` is a plain file name (see io/shard_index.hpp).
void check_shard_name(const std::string& name, const std::string& index_path) {
    const std::string what = index_path + ": weight_map: shard '" + printable_name(name) + "'";
    if (!name_problem(name).empty()) fail(Errc::corrupt, what + ": " + name_problem(name));
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
        fail(Errc::corrupt, what + ": not a plain file name in the index's folder (shards must lie next to the "
                                   "index: no directory part, no '..', not absolute)");
}

json parse_index_json(const std::string& path) {
    MappedFile file(path);
    std::vector<uint8_t> text(file.size());
    file.read_at(0, text.data(), text.size());  // pread: a file that shrinks is truncated, not SIGBUS
    try {
        return json::parse(text.begin(), text.end());
    } catch (const std::exception& e) {
        fail(Errc::corrupt, path + ": invalid JSON: " + e.what());
    }
}

}  // namespace

ShardIndex read_shard_index(const std::string& index_path) {
    ShardIndex idx;
    idx.path = index_path;
    const json j = parse_index_json(index_path);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        fail(Errc::corrupt, index_path + ": no weight_map object");
    std::map<std::string, std::string> shard_of;  // tensor -> shard name
    for (const auto& [name, file] : j["weight_map"].items()) {
        if (!file.is_string())
            fail(Errc::corrupt, index_path + ": weight_map: tensor '" + printable_name(name) + "': not a string");
        check_name(name, index_path + ": weight_map: ", "tensor");
        const std::string f = file.get<std::string>();
        check_shard_name(f, index_path);
        shard_of[name] = f;
        idx.shard_names.push_back(f);
    }
    std::sort(idx.shard_names.begin(), idx.shard_names.end());
    idx.shard_names.erase(std::unique(idx.shard_names.begin(), idx.shard_names.end()), idx.shard_names.end());
    const fs::path folder = fs::path(index_path).parent_path();
    for (const std::string& name : idx.shard_names) {
        const fs::path p = folder / name;
        std::error_code ec;
        if (!fs::is_regular_file(p, ec))  // follows a symlink; a missing file fails here too
            fail(Errc::corrupt, index_path + ": weight_map: shard '" + name + "' is not a regular file in " +
                                    (folder.empty() ? std::string(".") : folder.string()));
        idx.shard_paths.push_back(p.string());
    }
    for (const auto& [tensor, shard] : shard_of)
        idx.weight_map[tensor] = static_cast<size_t>(
            std::lower_bound(idx.shard_names.begin(), idx.shard_names.end(), shard) - idx.shard_names.begin());
    if (j.contains("metadata") && j["metadata"].is_object())
        for (const auto& [k, v] : j["metadata"].items()) idx.metadata[k] = v.is_string() ? v.get<std::string>() : v.dump();
    return idx;
}

void check_weight_map(const ShardIndex& index, const std::vector<SafetensorsTensor>& tensors) {
    std::map<std::string, size_t> found;  // tensor -> shard holding it
    for (const SafetensorsTensor& t : tensors) {
        const auto it = index.weight_map.find(t.name);
        if (it == index.weight_map.end())
            fail(Errc::corrupt, index.path + ": tensor '" + printable_name(t.name) + "' of shard '" +
                                    index.shard_names.at(t.file_index) + "' is not in weight_map");
        if (it->second != t.file_index)
            fail(Errc::corrupt, index.path + ": weight_map puts tensor '" + printable_name(t.name) + "' in shard '" +
                                    index.shard_names.at(it->second) + "' but it is in shard '" +
                                    index.shard_names.at(t.file_index) + "'");
        found[t.name] = t.file_index;
    }
    for (const auto& [name, shard] : index.weight_map)
        if (!found.count(name))
            fail(Errc::corrupt, index.path + ": weight_map names tensor '" + printable_name(name) + "' in shard '" +
                                    index.shard_names.at(shard) + "', which does not hold it");
}

}  // namespace qstore
