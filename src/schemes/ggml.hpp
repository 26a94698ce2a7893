// GGUF's Q8_0 and Q4_0 (blocks of 32 consecutive elements of a row, one float16 scale
// d per block), bit-identical to ggml's reference quantizers quantize_row_q8_0_ref and
// quantize_row_q4_0_ref for finite inputs:
//   Q8_0: d = absmax / 127; id = d ? 1/d : 0; code = roundf(x * id)   (half away from 0)
//         prediction = float(code) * float(f16(d))
//   Q4_0: m = the first value of largest |x|; d = m / -8; id = d ? 1/d : 0;
//         code = min(15, trunc(x * id + 8.5))          (a 4-bit code, value code - 8)
//         prediction = float(code - 8) * float(f16(d))
// Codes are computed with the float32 d, as ggml does; the stored scale is f16(d).
// Native layout (qs_load_low): ggml's blocks, row after row: Q8_0 = 34 bytes
// (f16 d, 32 int8 codes); Q4_0 = 18 bytes (f16 d, then byte j = code[j] | code[j+16] << 4).
// Rows must be a multiple of 32 long (as in ggml); other tensors stay passthrough.
#pragma once

#include "schemes/grid.hpp"

namespace qstore {

class GgmlScheme final : public GridScheme {
public:
    explicit GgmlScheme(bool q4) : GridScheme(false), q4_(q4) { init_tables(); }
    SchemeSpec spec() const override { return {q4_ ? SchemeId::q4_0 : SchemeId::q8_0, 0}; }
    std::string name() const override { return q4_ ? "q4_0" : "q8_0"; }
    bool accepts(const Geometry& g) const override { return g.elements() > 0 && g.cols % 32 == 0; }
    DType scale_dtype() const override { return DType::f16; }
    DType code_dtype() const override { return DType::u8; }
    uint64_t code_bytes(const Geometry& g) const override { return g.elements() / 32 * block_bytes(); }
    uint64_t scale_bytes(const Geometry&) const override { return 0; }  // inside the blocks
    bool native_is_internal() const override { return false; }
    void to_native(const LowTensorView& low, const Geometry& g, uint8_t* codes, uint8_t* scales,
                   uint8_t* zero_points) const override;
    void from_native(const uint8_t* codes, const uint8_t* scales, const uint8_t* zero_points, const Geometry& g,
                     const LowTensorData& low) const override;
    uint8_t code_key(uint8_t code) const override { return q4_ ? code : code ^ 0x80; }
    uint8_t code_from_key(uint8_t key) const override { return q4_ ? key : key ^ 0x80; }

private:
    uint64_t block_bytes() const { return q4_ ? 18 : 34; }
    ScaleGrid grid(const Geometry&) const override { return {1, 32}; }
    BlockScale scale_of_block(const BlockStats& s) const override;
    void quantize_segment(KernelSet kernels, const float* x, uint64_t n, float d, uint8_t zero_point,
                          uint8_t* codes) const override;
    float value_of_code(uint8_t code) const override {
        return q4_ ? static_cast<float>(static_cast<int>(code) - 8) : static_cast<float>(static_cast<int8_t>(code));
    }
    bool q4_;
};

}  // namespace qstore
