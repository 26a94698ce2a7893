// The common shape of qstore's symmetric schemes (INT8, FP8): one byte per code and a
// float32 scale derived from max |w| over the finite values of each row (or of the
// whole tensor). A concrete scheme says how a scale follows from the absmax, how a
// row is quantized, what value each code stands for, how a scale turns that value
// into a prediction, and which context class each code belongs to:
//   prediction = value(code) * step(scale)        (float32, no FMA; any NaN -> kCanonicalNaN)
#pragma once

#include "low_scheme.hpp"

namespace qstore {

class AbsmaxScheme : public LowScheme {
public:
    uint64_t code_bytes(const Geometry& g) const override { return g.elements(); }
    uint64_t scale_count(const Geometry& g) const override { return per_tensor_ ? 1 : g.rows; }
    bool scales_per_row() const override { return !per_tensor_; }
    void prepare(const uint8_t* high, DType t, const Geometry& g, const LowTensorData& low) const override;
    void quantize(const uint8_t* high, DType t, const Geometry& g, uint64_t row_begin, uint64_t row_end,
                  const LowTensorData& low) const override;
    void predict(const LowTensorView& low, const Geometry& g, uint64_t first, uint64_t n, float* prediction,
                 uint8_t* context) const override;

protected:
    explicit AbsmaxScheme(bool per_tensor) : per_tensor_(per_tensor) {}
    // Fills the per-code tables; called once by the concrete constructor.
    void init_tables();
    virtual float scale_of_absmax(float absmax) const = 0;
    virtual void quantize_row(const float* row, uint64_t n, float scale, uint8_t* codes) const = 0;
    virtual float value_of_code(uint8_t code) const = 0;
    virtual float step_of_scale(float scale) const = 0;
    virtual uint8_t context_of_code(uint8_t code) const = 0;
    bool per_tensor_;

private:
    float value_[256] = {};
    uint8_t context_[256] = {};
    bool values_finite_ = true;    // no code stands for NaN or Inf (INT8)
    bool values_are_int8_ = true;  // value(code) == (float)(int8_t)code (INT8)
};

}  // namespace qstore
