// Asymmetric schemes: a scale and a zero point per block, codes unsigned:
//   lo = min(0, min x), hi = max(0, max x) over the block's finite values
//   scale = (hi - lo) / qmax; if scale == 0: scale = 1 (and the zero point is 0)
//   zero_point = clamp(round_half_even(0 - lo / scale), 0, qmax)
//   code = clamp(round_half_even(x / scale) + zero_point, 0, qmax); NaN -> zero_point
//   prediction = float(code - zero_point) * stored scale;  context = bucket of |code - zero_point|
//
//   uint8-asym-tensor: qmax 255, one float32 scale and one zero point for the tensor:
//     ONNX QuantizeLinear as ONNX Runtime's dynamic quantizer computes it for weights.
//   int4-asym-group:G: qmax 15, per group of G along a row (round-to-nearest min/max);
//     the scale is stored as float16 (codes are computed with the float32 scale).
//     Native layout, qstore's own (GPTQ loaders do not read it; gptq.hpp is AutoGPTQ's):
//     codes packed eight per little-endian int32 along the row (code k of a word in
//     bits 4k..4k+3), [rows, cols/8]; scales float16 [rows, groups]; zero points uint8
//     [rows, groups] (unpacked, no offset). Rows must be a multiple of 8 long.
#pragma once

#include "schemes/grid.hpp"

namespace qstore {

class AsymScheme final : public GridScheme {
public:
    // group == 0: uint8-asym-tensor; else int4-asym-group with that group size.
    explicit AsymScheme(uint32_t group) : GridScheme(true), group_(group) { init_tables(); }
    SchemeSpec spec() const override;
    std::string name() const override;
    bool accepts(const Geometry& g) const override { return g.elements() > 0 && (!int4() || g.cols % 8 == 0); }
    DType scale_dtype() const override { return int4() ? DType::f16 : DType::f32; }
    DType code_dtype() const override { return int4() ? DType::i32 : DType::u8; }
    uint64_t code_bytes(const Geometry& g) const override { return int4() ? g.elements() / 2 : g.elements(); }
    bool native_is_internal() const override { return !int4(); }
    void to_native(const LowTensorView& low, const Geometry& g, uint8_t* codes, uint8_t* scales,
                   uint8_t* zero_points) const override;
    void from_native(const uint8_t* codes, const uint8_t* scales, const uint8_t* zero_points, const Geometry& g,
                     const LowTensorData& low) const override;
    uint8_t code_key(uint8_t code) const override { return code; }
    uint8_t code_from_key(uint8_t key) const override { return key; }

private:
    bool int4() const { return group_ != 0; }
    int qmax() const { return int4() ? 15 : 255; }
    ScaleGrid grid(const Geometry& g) const override { return int4() ? ScaleGrid{1, group_} : ScaleGrid{g.rows, g.cols}; }
    BlockScale scale_of_block(const BlockStats& s) const override;
    void quantize_segment(KernelSet kernels, const float* x, uint64_t n, float scale, uint8_t zero_point,
                          uint8_t* codes) const override;
    uint32_t group_;
};

}  // namespace qstore
