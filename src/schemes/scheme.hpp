// A low-precision scheme turns high-precision rows into codes + scales (+ zero points),
// and back into a float32 prediction of each high value plus a context class (0..15)
// that selects the rANS model the element's correction is coded with. The residual
// codec (residual/high_residual.hpp) is the same for every scheme; each scheme is one small
// unit (schemes/int8.*, fp8.hpp, ggml.*, asym.*, gptq.*) listed in schemes/registry.cpp.
//
// Every scheme has two forms of its low precision:
//   internal: one byte per element (a 4-bit code in the low nibble for 4-bit schemes),
//     scales widened to float32, one zero-point byte per scale for asymmetric schemes.
//     This is what the coder stores and predictions are made from.
//   native: the layout runtimes consume (qs_load_low, `--low FILE`, `unpack`), e.g.
//     GGUF's 34-byte Q8_0 blocks or eight 4-bit codes per int32. to_native/from_native
//     convert; for most schemes the two forms are the same bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/cpu.hpp"
#include "base/dtype.hpp"

namespace qstore {

// Values are the on-disk scheme byte and the C API's qs_low_scheme.
enum class SchemeId : uint8_t {
    passthrough = 0,
    int8_row = 1,           // INT8 symmetric, float32 absmax per row (bitsandbytes LLM.int8())
    int8_tensor = 2,        // INT8 symmetric, one float32 absmax for the tensor
    fp8_e4m3_row = 3,       // OCP FP8 E4M3, float32 scale = absmax/448 per row
    fp8_e4m3_tensor = 4,    // OCP FP8 E4M3, one float32 scale = absmax/448
    fp8_e5m2_tensor = 5,    // OCP FP8 E5M2, one float32 scale = absmax/57344
    int8_group = 6,         // INT8 symmetric, float32 scale = absmax/127 per group of G along the row
    q8_0 = 7,               // GGUF Q8_0: blocks of 32, float16 d = absmax/127
    q4_0 = 8,               // GGUF Q4_0: blocks of 32, float16 d = max/-8, 4-bit codes
    fp8_e4m3_block = 9,     // OCP FP8 E4M3, float32 scale per 128x128 tile (DeepSeek-V3)
    int4_asym_group = 10,   // INT4 asymmetric per group of G: float16 scale + zero point
    uint8_asym_tensor = 11, // UINT8 asymmetric per tensor (ONNX QuantizeLinear): scale + zero point
    gptq_int4 = 12,         // INT4 asymmetric per group of G: AutoGPTQ's v1 checkpoint layout
    int8_row_ct = 13,       // INT8 symmetric per row, compressed-tensors' scale = absmax/127.5
};
constexpr int kSchemeCount = 14;
constexpr int kContextClasses = 16;
constexpr uint32_t kDefaultGroupSize = 128;
// The one NaN a prediction may be (positive quiet NaN, no payload): schemes map every
// NaN result to it so predictions are the same on every CPU.
constexpr uint32_t kCanonicalNaN = 0x7FC00000u;

// Schemes with a group size parameter (stored in the tensor index after the scheme byte).
inline bool scheme_has_group(SchemeId id) {
    return id == SchemeId::int8_group || id == SchemeId::int4_asym_group || id == SchemeId::gptq_int4;
}

// A scheme and its parameter: what the tensor index stores per precision level.
struct SchemeSpec {
    SchemeId id = SchemeId::passthrough;
    uint32_t group = 0;  // group size for scheme_has_group(id), else 0
    bool operator==(const SchemeSpec& o) const { return id == o.id && group == o.group; }
};

// A tensor seen as a matrix: dimension 0 = rows, product of the others = columns.
struct Geometry {
    uint64_t rows = 0;
    uint64_t cols = 0;
    uint64_t elements() const { return rows * cols; }
};

// A tensor's whole low precision in internal form (see above).
struct LowTensorView {
    const uint8_t* codes = nullptr;
    const float* scales = nullptr;
    const uint8_t* zero_points = nullptr;  // nullptr for symmetric schemes
};
struct LowTensorData {
    uint8_t* codes = nullptr;
    float* scales = nullptr;
    uint8_t* zero_points = nullptr;
    LowTensorView view() const { return {codes, scales, zero_points}; }
};

class LowScheme {
public:
    virtual ~LowScheme() = default;
    virtual SchemeSpec spec() const = 0;
    SchemeId id() const { return spec().id; }
    // "int8-row", "int8-group:128", ... (CLI, metadata and `qstore info`)
    virtual std::string name() const = 0;
    // Shapes the scheme can quantize (e.g. Q8_0 needs cols % 32 == 0); others are
    // stored as passthrough.
    virtual bool accepts(const Geometry& g) const { return g.elements() > 0; }

    // ---- Internal form
    virtual uint64_t scale_count(const Geometry& g) const = 0;
    virtual bool has_zero_points() const { return false; }
    // How scales are stored: DType::f32 or DType::f16 (byte planes, raw parts).
    virtual DType scale_dtype() const { return DType::f32; }

    // ---- Native form (qs_load_low, --low FILE, unpack)
    // Element type of the native codes: i8, u8, F8 types, or i32 (packed 4-bit codes).
    // Q8_0/Q4_0 report u8: their native codes are GGUF block bytes.
    virtual DType code_dtype() const = 0;
    virtual uint64_t code_bytes(const Geometry& g) const { return g.elements(); }
    virtual uint64_t scale_bytes(const Geometry& g) const { return scale_count(g) * dtype_size(scale_dtype()); }
    virtual uint64_t zero_point_bytes(const Geometry& g) const { return has_zero_points() ? scale_count(g) : 0; }
    // Element type of the native zero points: u8, or i32 (packed 4-bit zero points).
    virtual DType zero_point_dtype() const { return DType::u8; }
    // True if the native codes are the internal codes byte for byte (and the native
    // scales/zero points the stored ones): loads can then decode in place.
    virtual bool native_is_internal() const { return scale_dtype() == DType::f32; }
    // Internal -> native. Fails with Errc::corrupt on codes the native layout cannot
    // hold (a 4-bit code above 15).
    virtual void to_native(const LowTensorView& low, const Geometry& g, uint8_t* codes, uint8_t* scales,
                           uint8_t* zero_points) const;
    // Native -> internal.
    virtual void from_native(const uint8_t* codes, const uint8_t* scales, const uint8_t* zero_points,
                             const Geometry& g, const LowTensorData& low) const;

    // ---- Quantizer and predictor
    // Each takes the kernel set of the pack or reader that calls it (base/cpu.hpp); every
    // set gives the same codes, scales, predictions and contexts.
    // Scales that depend on more than one row (per-tensor and tile schemes) are computed
    // here, before rows are quantized in parallel. Row-local schemes do nothing.
    virtual void prepare(KernelSet kernels, const uint8_t* high, DType t, const Geometry& g,
                         const LowTensorData& low) const {
        (void)kernels, (void)high, (void)t, (void)g, (void)low;
    }
    // Quantizes rows [row_begin, row_end) of `high` (whole tensor, dtype `t`, may be
    // unaligned) into the matching slices of `low` (whole-tensor arrays; per-tensor and
    // tile schemes read the scales prepare() wrote).
    virtual void quantize(KernelSet kernels, const uint8_t* high, DType t, const Geometry& g, uint64_t row_begin,
                          uint64_t row_end, const LowTensorData& low) const = 0;
    // Prediction and context (0..kContextClasses-1) of elements [first, first+n) from the
    // whole tensor's low precision.
    virtual void predict(KernelSet kernels, const LowTensorView& low, const Geometry& g, uint64_t first, uint64_t n,
                         float* prediction, uint8_t* context) const = 0;

    // ---- Chains (a higher low precision coded on a lower one)
    // Codes of elements [first, first+n) for float32 `values`, with the scales and zero
    // points already in `low` (the quantizer's rule applied to the stored scales).
    virtual void quantize_with_scales(KernelSet kernels, const float* values, const LowTensorView& low,
                                      const Geometry& g, uint64_t first, uint64_t n, uint8_t* codes) const = 0;
    // An order-preserving map of internal codes to 0..255 (larger value, larger key),
    // so that close codes have close keys.
    virtual uint8_t code_key(uint8_t code) const = 0;
    virtual uint8_t code_from_key(uint8_t key) const = 0;
};

}  // namespace qstore
