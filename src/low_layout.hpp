// How a low precision is laid out as safetensors (what `qstore unpack --precision low`
// writes and `qstore pack --low FILE` reads):
//   int8-row / int8-tensor: bitsandbytes' layout: "X.weight" int8 codes (the high
//     tensor's shape) and "X.SCB" float32 absmax ([rows] or [1]);
//   fp8-*: vLLM / llm-compressor's layout: "X.weight" F8_E4M3 or F8_E5M2 codes and
//     "X.weight_scale" float32 ([rows, 1] per row, [1] per tensor).
// For names that do not end in ".weight" (TF/ONNX names), the scale tensor is
// "<name>.SCB" or "<name>.weight_scale".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "low_scheme.hpp"

namespace qstore {

inline std::string low_scale_name(const LowScheme& scheme, const std::string& weight_name) {
    const bool int8 = scheme.code_dtype() == DType::i8;
    const std::string suffix = ".weight";
    if (weight_name.size() > suffix.size() &&
        weight_name.compare(weight_name.size() - suffix.size(), suffix.size(), suffix) == 0)
        return weight_name.substr(0, weight_name.size() - suffix.size()) + (int8 ? ".SCB" : ".weight_scale");
    return weight_name + (int8 ? ".SCB" : ".weight_scale");
}

inline std::vector<uint64_t> low_scale_shape(const LowScheme& scheme, const Geometry& g) {
    const uint64_t n = scheme.scale_count(g);
    if (scheme.code_dtype() != DType::i8 && scheme.scales_per_row()) return {n, 1};
    return {n};
}

// The bitsandbytes scale name of an int8-row tensor (kept for readers of that layout).
inline std::string bnb_scale_name(const std::string& weight_name) {
    return low_scale_name(*low_scheme(SchemeId::int8_row), weight_name);
}

}  // namespace qstore
