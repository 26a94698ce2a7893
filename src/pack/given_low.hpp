// Matching a given low precision (`qstore pack --low FILE`) to the high model, before
// anything is written: which of the file's tensors (schemes/layout.hpp) are each high
// tensor's codes, scales and zero points, which of the file's tensors go unused, and
// which quantizable high tensors the file has no usable codes for (those are stored as
// they are, losslessly, but not with the low precision the user asked for).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "schemes/scheme.hpp"
#include "io/safetensors.hpp"
#include "io/tensor_source.hpp"

namespace qstore {

struct GivenLowTensors {
    const SafetensorsTensor* codes = nullptr;  // nullptr: the file does not quantize this tensor
    const SafetensorsTensor* scales = nullptr;
    const SafetensorsTensor* zero_points = nullptr;
    const SafetensorsTensor* group_index = nullptr;  // GPTQ's g_idx, checked, if the file has it
};

struct GivenLowMatch {
    std::vector<GivenLowTensors> of;  // one per high tensor, in the high model's order
    std::vector<std::string> unused;  // the low file's tensors no high tensor takes, sorted
    std::vector<std::string> missing; // quantizable high tensors without usable codes, in model order
};

// `quantizable(t)`: whether the pack would quantize high tensor t (dtype, shape, --exclude).
// A tensor of the low file is used if it is a quantized tensor's codes, scales, zero
// points or (GPTQ) g_idx, or if it is a high tensor stored as it is, under the same name, dtype and shape
// (a low file written by `qstore unpack` holds those too). Codes, scales or zero points
// of the wrong dtype or size are an error (Errc::invalid_argument naming the tensor).
GivenLowMatch match_given_low(const std::vector<SafetensorsTensor>& high, const TensorSource& low,
                              const LowScheme& scheme,
                              const std::function<bool(const SafetensorsTensor&)>& quantizable);

// "a, b, c" for a message, at most `max` names, then "and N more".
std::string name_list(const std::vector<std::string>& names, size_t max);

}  // namespace qstore
