// The common shape of every qstore scheme: the tensor is cut into a grid of blocks
// (a block is `block_rows x block_cols` elements: the whole tensor, one row, a group of
// G along a row, a 128x128 tile, GGUF's 32), each block has one scale (and, for
// asymmetric schemes, one zero point) chosen from statistics of its finite values, and
// each element has a one-byte code. A concrete scheme says how a block's scale follows
// from its statistics, how a segment of a row is quantized with it, what value each
// code stands for, and which context class each code belongs to:
//   symmetric:  prediction = value(code) * step(scale)
//   asymmetric: prediction = float(code - zero_point) * step(scale)
// (float32, no FMA; any NaN result -> kCanonicalNaN).
#pragma once

#include "schemes/scheme.hpp"

namespace qstore {

struct ScaleGrid {
    uint64_t block_rows;
    uint64_t block_cols;
};

// Statistics of a block's finite values (all 0 when there is none).
struct BlockStats {
    float absmax = 0.0f;
    float signed_absmax = 0.0f;  // the first value with the largest |x| (GGUF Q4_0)
    float min = 0.0f;
    float max = 0.0f;
    void add(KernelSet kernels, const float* x, uint64_t n);
};

// What a block's statistics give: the scale the codes are computed with, the scale
// that is stored (the same, or its float16 rounding), and the zero point.
struct BlockScale {
    float quantize_with = 0.0f;
    float stored = 0.0f;
    uint8_t zero_point = 0;
};

class GridScheme : public LowScheme {
public:
    uint64_t scale_count(const Geometry& g) const override;
    bool has_zero_points() const override { return asymmetric_; }
    void prepare(KernelSet kernels, const uint8_t* high, DType t, const Geometry& g,
                 const LowTensorData& low) const override;
    void quantize(KernelSet kernels, const uint8_t* high, DType t, const Geometry& g, uint64_t row_begin,
                  uint64_t row_end, const LowTensorData& low) const override;
    void predict(KernelSet kernels, const LowTensorView& low, const Geometry& g, uint64_t first, uint64_t n,
                 float* prediction, uint8_t* context) const override;
    void quantize_with_scales(KernelSet kernels, const float* values, const LowTensorView& low, const Geometry& g,
                              uint64_t first, uint64_t n, uint8_t* codes) const override;

protected:
    explicit GridScheme(bool asymmetric) : asymmetric_(asymmetric) {}
    // Fills the per-code tables; called once by the concrete constructor.
    void init_tables();
    virtual ScaleGrid grid(const Geometry& g) const = 0;
    virtual BlockScale scale_of_block(const BlockStats& s) const = 0;
    // Codes of n values of one block (zero_point 0 for symmetric schemes).
    virtual void quantize_segment(KernelSet kernels, const float* x, uint64_t n, float scale, uint8_t zero_point,
                                  uint8_t* codes) const = 0;
    // Symmetric: the value a code stands for. Asymmetric schemes use the code itself.
    virtual float value_of_code(uint8_t code) const { return static_cast<float>(code); }
    virtual float step_of_scale(float scale) const { return scale; }
    // Symmetric: the context class of a code. Asymmetric: classes come from |code - zero point|.
    virtual uint8_t context_of_code(uint8_t code) const;
    // Index of the block of element (r, c) and the number of blocks per grid row.
    static uint64_t blocks_across(const ScaleGrid& b, const Geometry& g) { return (g.cols + b.block_cols - 1) / b.block_cols; }
    bool asymmetric_;

private:
    float value_[256] = {};
    uint8_t context_[256] = {};
    bool values_finite_ = true;    // no code stands for NaN or Inf (INT8)
    bool values_are_int8_ = true;  // value(code) == (float)(int8_t)code (INT8)
    // context_ as two 16-entry tables, by |int8 code| below 16 and by its octet above
    // (predict_run_avx2), and whether that form gives context_ for every code.
    uint8_t context_split_[32] = {};
    bool context_split_ok_ = false;
};

// Context class of a code distance a = |q| (INT8) or |code - zero point|: classes
// 0..15 for a = 0,1,2,3,4,5,6-7,8-11,12-15,16-23,24-31,32-47,48-63,64-95,96-127,128+
// (finer where the residual's spread changes fastest).
uint8_t magnitude_class(int a);

}  // namespace qstore
