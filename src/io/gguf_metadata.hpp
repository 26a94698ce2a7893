// A GGUF file's key/value pairs as the model metadata the C API hands out
// (base/metadata.hpp, qs_metadata_*): each pair in file order with its type, arrays of
// numbers, bools and strings as arrays. GGUF's arrays of arrays, which no
// qs_value_type holds, become a string entry with their summary ("[N x array]").
#pragma once

#include <vector>

#include "base/metadata.hpp"
#include "io/gguf_header.hpp"

namespace qstore {

Metadata metadata_of_gguf(const std::vector<GgufKV>& kvs);

}  // namespace qstore
