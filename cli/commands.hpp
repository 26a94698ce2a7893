// The qstore subcommands; each returns the process exit status.
#pragma once

#include <string>
#include <vector>

#include "pack/packer.hpp"

int cmd_pack(const std::string& input, const std::string& low_file, const std::string& output,
             const qstore::PackOptions& options, bool llama_mix = false);
// gguf: write a GGUF file instead of safetensors (docs/FORMAT.md §7.8); llama_mix: see
// export_gguf_low (read/gguf_export.hpp); tensor_globs: only the tensors matching one of
// them (all if empty). INPUT may be an http(s) URL.
int cmd_unpack(const std::string& input, const std::string& precision, const std::string& output, unsigned threads,
               bool gguf, bool llama_mix, const std::vector<std::string>& tensor_globs);
int cmd_info(const std::string& input, bool json);
int cmd_verify(const std::string& input, unsigned threads, const std::string& against);
