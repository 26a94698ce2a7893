// Finding a low-precision scheme by its spec (as stored in files) or by its name (as
// the command line and the C API give it).
#pragma once

#include <string>

#include "schemes/scheme.hpp"

namespace qstore {

// The scheme for a spec; nullptr for passthrough, unknown ids, or an invalid group size.
const LowScheme* low_scheme(const SchemeSpec& spec);
inline const LowScheme* low_scheme(SchemeId id) { return low_scheme(SchemeSpec{id, scheme_has_group(id) ? kDefaultGroupSize : 0}); }
// Parses "int8-row", "int8-group" (group 128), "int4-asym-group:64"; nullptr if unknown.
const LowScheme* low_scheme_by_name(const std::string& name);
// "int8-row, int8-tensor, ..." for help texts.
std::string low_scheme_names();

}  // namespace qstore
