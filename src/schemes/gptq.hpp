// gptq-int4:G: AutoGPTQ's checkpoint layout (format v1: asymmetric, no act-order), the
// one GPTQ loaders read. A high tensor [out, in] (a PyTorch Linear weight; rows = out,
// cols = in) has groups of G consecutive elements of a row, each with a scale and a
// zero point found as AutoGPTQ's Quantizer.find_params does, and codes as its
// QuantLinear.pack() gives them (docs/FORMAT.md §7.2.9):
//   lo = min(0, min x), hi = max(0, max x) over the group's finite values;
//   if lo == 0 and hi == 0: lo = -1, hi = 1
//   s  = (hi - lo) / 15 (float32);  z = round_half_even(-lo / s), then clamped to 1..15
//        (v1 stores z - 1, so it cannot hold 0)
//   sh = float16(s), the stored scale
//   code = clamp(round_half_even((x + z * s) / sh), 0, 15); NaN -> z
//   prediction = float(code - z) * sh;  context = bucket of |code - z|
// Internally a zero point is the loaders' value (stored nibble + 1, 1..16).
// Native layout (to_native / from_native):
//   qweight I32 [cols/8, rows]: word (k, r) holds codes of elements (r, 8k .. 8k+7),
//           code j in bits 4j..4j+3
//   scales  F16 [groups, rows]
//   qzeros  I32 [groups, ceil(rows/8)]: word (g, k) holds the zero points of rows
//           8k .. 8k+7 minus one, nibble j in bits 4j..4j+3 (missing rows: 0)
// Rows and columns must be multiples of 8.
#pragma once

#include "schemes/grid.hpp"

namespace qstore {

class GptqScheme final : public GridScheme {
public:
    explicit GptqScheme(uint32_t group) : GridScheme(true), group_(group) { init_tables(); }
    SchemeSpec spec() const override { return {SchemeId::gptq_int4, group_}; }
    std::string name() const override { return "gptq-int4:" + std::to_string(group_); }
    bool accepts(const Geometry& g) const override { return g.elements() > 0 && g.rows % 8 == 0 && g.cols % 8 == 0; }
    DType scale_dtype() const override { return DType::f16; }
    DType code_dtype() const override { return DType::i32; }
    uint64_t code_bytes(const Geometry& g) const override { return g.elements() / 2; }
    uint64_t zero_point_bytes(const Geometry& g) const override;
    DType zero_point_dtype() const override { return DType::i32; }
    bool native_is_internal() const override { return false; }
    void to_native(const LowTensorView& low, const Geometry& g, uint8_t* codes, uint8_t* scales,
                   uint8_t* zero_points) const override;
    void from_native(const uint8_t* codes, const uint8_t* scales, const uint8_t* zero_points, const Geometry& g,
                     const LowTensorData& low) const override;
    uint8_t code_key(uint8_t code) const override { return code; }
    uint8_t code_from_key(uint8_t key) const override { return key; }
    uint32_t group() const { return group_; }

private:
    uint64_t groups(const Geometry& g) const { return (g.cols + group_ - 1) / group_; }
    ScaleGrid grid(const Geometry&) const override { return {1, group_}; }
    BlockScale scale_of_block(const BlockStats& s) const override;
    void quantize_segment(KernelSet kernels, const float* x, uint64_t n, float scale, uint8_t zero_point,
                          uint8_t* codes) const override;
    uint32_t group_;
};

}  // namespace qstore
