// Finding a low-precision scheme by its spec (as stored in files) or by its name (as
// the command line and the C API give it).
#pragma once

#include <cstdint>
#include <string>

#include "schemes/scheme.hpp"

namespace qstore {

// The scheme for a spec; nullptr for passthrough, unknown ids, or an invalid group size.
const LowScheme* low_scheme(const SchemeSpec& spec);
inline const LowScheme* low_scheme(SchemeId id) { return low_scheme(SchemeSpec{id, scheme_has_group(id) ? kDefaultGroupSize : 0}); }
// Parses "int8-row", "int8-group" (group 128), "int4-asym-group:64"; nullptr if unknown.
const LowScheme* low_scheme_by_name(const std::string& name);
// The scheme whose code rule (quantize_with_scales) decodes a middle level of a chain
// in a file of format minor version `format_minor`: before 1.5, int8-row and
// int8-tensor had no tiny-scale case (schemes/int8.hpp). `spec` must be valid.
const LowScheme& chain_code_rule(const SchemeSpec& spec, uint16_t format_minor);
// "int8-row, int8-tensor, ..." for help texts.
std::string low_scheme_names();

}  // namespace qstore
