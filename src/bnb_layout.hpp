// bitsandbytes' saved INT8 layout: "X.weight" holds the int8 codes (same shape as the
// high tensor) and "X.SCB" the float32 absmax of each row. For names that do not end
// in ".weight" (TF/ONNX names), the scales are "<name>.SCB".
#pragma once

#include <string>

namespace qstore {

inline std::string bnb_scale_name(const std::string& weight_name) {
    const std::string suffix = ".weight";
    if (weight_name.size() > suffix.size() &&
        weight_name.compare(weight_name.size() - suffix.size(), suffix.size(), suffix) == 0)
        return weight_name.substr(0, weight_name.size() - suffix.size()) + ".SCB";
    return weight_name + ".SCB";
}

}  // namespace qstore
