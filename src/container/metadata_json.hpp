// The model's metadata (base/metadata.hpp) from a .qs metadata section (docs/FORMAT.md
// §4.3): the pairs of its "safetensors_metadata" object, in the section's order.
#pragma once

#include <string>

#include "base/metadata.hpp"

namespace qstore {

// Strings stay strings; a number or bool, or an array of strings, of numbers or of bools,
// becomes that type (integers u64, or i64 when one is negative; any fraction: f64);
// anything else (null, objects, mixed arrays) is kept as a string of its JSON text.
// Error(corrupt), naming `what`, if the text is not a JSON object.
Metadata metadata_from_json(const std::string& text, const std::string& what);

}  // namespace qstore
