// Rules that input files must follow beyond their syntax, shared by the readers of
// safetensors, GGUF and .qs files: names that the C API can hand out whole (a name
// with a NUL in it would reach C callers cut short, and two such names would look
// alike), and safetensors' data layout as its reference reader (the Rust crate
// `safetensors`) requires it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qstore {

// "" if `name` is usable as a tensor name or key: valid UTF-8 (shortest forms, no
// surrogates, at most U+10FFFF) holding no NUL. Otherwise what is wrong with it.
std::string name_problem(const std::string& name);

// `name` for an error message: NUL, other control bytes and bytes that are not valid
// UTF-8 written as \xNN, so that the message shows every byte of it.
std::string printable_name(const std::string& name);

// Fails with Errc::corrupt "<context><field> '<printable name>': <problem>" if the
// name is not usable (name_problem).
void check_name(const std::string& name, const std::string& context, const char* field);

// One tensor's bytes in a safetensors data buffer, [begin, end).
struct DataRange {
    uint64_t begin = 0, end = 0;
    std::string name;
};

// The safetensors rule: sorted by (begin, end), the ranges tile the data buffer
// exactly, the first starting at 0, each where the one before ends, the last ending
// at data_size (no gap, no overlap, no trailing bytes). Fails with Errc::corrupt
// naming the file and the first tensor that breaks it.
void check_safetensors_tiling(std::vector<DataRange> ranges, uint64_t data_size, const std::string& file);

}  // namespace qstore
