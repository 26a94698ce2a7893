// How a low precision is laid out as safetensors (what `qstore unpack --precision low`
// writes and `qstore pack --low FILE` reads), for a high tensor "P.weight" (P = the
// name without ".weight"; names without that suffix use the whole name as P and as
// the code tensor's name):
//   int8-row / int8-tensor   P.weight I8 (high shape), P.SCB F32 [rows] / [1]      (bitsandbytes)
//   int8-group:G             P.weight I8, P.weight_scale F32 [rows, ceil(cols/G)] (compressed-tensors)
//   fp8-e4m3-row             P.weight F8_E4M3, P.weight_scale F32 [rows, 1]       (vLLM / llm-compressor)
//   fp8-e4m3-tensor / -e5m2  P.weight F8_*, P.weight_scale F32 [1]
//   fp8-e4m3-block128        P.weight F8_E4M3, P.weight_scale_inv F32 [ceil(rows/128), ceil(cols/128)] (DeepSeek-V3)
//   q8_0 / q4_0              P.weight U8 [rows, cols/32 * 34 or 18]: ggml's block bytes
//   int4-asym-group:G        P.qweight I32 [rows, cols/8], P.scales F16 [rows, ceil(cols/G)],
//                            P.qzeros U8 [rows, ceil(cols/G)] (qstore's own, row-major)
//   uint8-asym-tensor        W_quantized U8 (high shape), W_scale F32 [], W_zero_point U8 []
//                            (W = the full high name; ONNX QuantizeLinear initializer names)
//   gptq-int4:G              P.qweight I32 [cols/8, rows], P.qzeros I32 [groups, rows/8],
//                            P.scales F16 [groups, rows], P.g_idx I32 [cols] = c / G
//                            (AutoGPTQ's checkpoint, format v1)
//   int8-row-ct              P.weight I8 (high shape), P.weight_scale F32 [rows, 1] (compressed-tensors)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "schemes/scheme.hpp"

namespace qstore {

struct LowTensorNames {
    std::string codes, scales, zero_points;  // empty: the scheme has no such tensor
    std::string group_index;                 // GPTQ's g_idx (derived: column / G), else empty
};

inline LowTensorNames low_tensor_names(const LowScheme& scheme, const std::string& weight_name) {
    const std::string suffix = ".weight";
    const bool has_suffix = weight_name.size() > suffix.size() &&
                            weight_name.compare(weight_name.size() - suffix.size(), suffix.size(), suffix) == 0;
    const std::string prefix = has_suffix ? weight_name.substr(0, weight_name.size() - suffix.size()) : weight_name;
    switch (scheme.id()) {
        case SchemeId::int8_row:
        case SchemeId::int8_tensor: return {weight_name, prefix + ".SCB", "", ""};
        case SchemeId::fp8_e4m3_block: return {weight_name, prefix + ".weight_scale_inv", "", ""};
        case SchemeId::q8_0:
        case SchemeId::q4_0: return {weight_name, "", "", ""};
        case SchemeId::int4_asym_group: return {prefix + ".qweight", prefix + ".scales", prefix + ".qzeros", ""};
        case SchemeId::gptq_int4:
            return {prefix + ".qweight", prefix + ".scales", prefix + ".qzeros", prefix + ".g_idx"};
        case SchemeId::uint8_asym_tensor:
            return {weight_name + "_quantized", weight_name + "_scale", weight_name + "_zero_point", ""};
        default: return {weight_name, prefix + ".weight_scale", "", ""};
    }
}

inline std::vector<uint64_t> low_code_shape(const LowScheme& scheme, const Geometry& g,
                                            const std::vector<uint64_t>& high_shape) {
    switch (scheme.id()) {
        case SchemeId::q8_0:
        case SchemeId::q4_0:
        case SchemeId::int4_asym_group: return {g.rows, scheme.code_bytes(g) / g.rows / dtype_size(scheme.code_dtype())};
        case SchemeId::gptq_int4: return {g.cols / 8, g.rows};
        default: return high_shape;
    }
}

// Shape of the scales (and of the zero points) tensor.
inline std::vector<uint64_t> low_scale_shape(const LowScheme& scheme, const Geometry& g) {
    const uint64_t n = scheme.scale_count(g);
    switch (scheme.id()) {
        case SchemeId::int8_row:
        case SchemeId::int8_tensor:
        case SchemeId::fp8_e4m3_tensor:
        case SchemeId::fp8_e5m2_tensor: return {n};
        case SchemeId::fp8_e4m3_row:
        case SchemeId::int8_row_ct: return {n, 1};
        case SchemeId::gptq_int4: return {n / g.rows, g.rows};  // [groups, out]
        case SchemeId::uint8_asym_tensor: return {};
        case SchemeId::fp8_e4m3_block: return {(g.rows + 127) / 128, n / ((g.rows + 127) / 128)};
        default: return {g.rows, n / g.rows};  // groups and GGUF blocks along the row
    }
}

// Shape of the zero points tensor (packed int32 words for GPTQ).
inline std::vector<uint64_t> low_zero_point_shape(const LowScheme& scheme, const Geometry& g) {
    if (scheme.id() == SchemeId::gptq_int4) return {scheme.scale_count(g) / g.rows, (g.rows + 7) / 8};
    return low_scale_shape(scheme, g);
}

// One safetensors tensor of a tensor's low precision: what `unpack --precision low`
// writes and a safetensors container declares. An empty name: a part the layout has no
// tensor for (the empty scales of q8_0 / q4_0).
struct LowTensorSpec {
    std::string name;
    DType dtype = DType::u8;
    std::vector<uint64_t> shape;
    uint64_t bytes = 0;
};

// The low tensors of high tensor `weight_name`: its level-0 parts in part order (codes,
// scales, zero points if the scheme has them; their bytes are the native layout's,
// §6.1), then in `derived` the tensors made from the shape alone (GPTQ's g_idx).
struct LowTensorSpecs {
    std::vector<LowTensorSpec> parts, derived;
};

inline LowTensorSpecs low_tensor_specs(const LowScheme& scheme, const std::string& weight_name, const Geometry& g,
                                       const std::vector<uint64_t>& high_shape) {
    const LowTensorNames names = low_tensor_names(scheme, weight_name);
    LowTensorSpecs out;
    out.parts.push_back(
        {names.codes, scheme.code_dtype(), low_code_shape(scheme, g, high_shape), scheme.code_bytes(g)});
    out.parts.push_back({names.scales, scheme.scale_dtype(), low_scale_shape(scheme, g), scheme.scale_bytes(g)});
    if (scheme.has_zero_points())
        out.parts.push_back({names.zero_points, scheme.zero_point_dtype(), low_zero_point_shape(scheme, g),
                             scheme.zero_point_bytes(g)});
    if (!names.group_index.empty()) out.derived.push_back({names.group_index, DType::i32, {g.cols}, g.cols * 4});
    return out;
}

// GPTQ's g_idx of a tensor with `cols` columns and groups of `group`: int32 c / group,
// little-endian.
inline std::vector<uint8_t> group_index_bytes(uint64_t cols, uint32_t group) {
    std::vector<uint8_t> out(cols * 4);
    for (uint64_t c = 0; c < cols; ++c) {
        const auto v = static_cast<uint32_t>(c / group);
        for (int b = 0; b < 4; ++b) out[4 * c + static_cast<uint64_t>(b)] = static_cast<uint8_t>(v >> (8 * b));
    }
    return out;
}

}  // namespace qstore
