// A sharded safetensors model's index (model.safetensors.index.json): {"weight_map":
// {tensor name: shard file name}, "metadata": {..}}. The index usually comes with a
// download, so what it names is confined: a shard is a plain file name in the index's
// folder (no directory part, no "..", not absolute). The shard itself may be a symlink
// (the Hugging Face cache links snapshot files to its blobs folder): links in the
// folder are the doing of whoever made the folder, not of the index, and an index that
// names no directory cannot reach through a linked one.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

namespace qstore {

struct SafetensorsTensor;

struct ShardIndex {
    std::string path;                           // of the index file
    std::vector<std::string> shard_names;       // as written, sorted, each once
    std::vector<std::string> shard_paths;       // the index's folder / name, same order
    std::map<std::string, size_t> weight_map;   // tensor name -> position in shard_names
    std::map<std::string, std::string> metadata;  // strings as they are, other values as JSON
};

// Reads and checks an index (Errc::corrupt for bad JSON, a shard name that is not a
// plain file name in the folder or a shard that is not a regular file).
ShardIndex read_shard_index(const std::string& index_path);

// The shards' tensors against weight_map: every tensor it names is in the shard it
// names, and every tensor of a shard is named by it. A tensor's file_index is the
// position in shard_names of the shard holding it. Fails with Errc::corrupt.
void check_weight_map(const ShardIndex& index, const std::vector<SafetensorsTensor>& tensors);

}  // namespace qstore
