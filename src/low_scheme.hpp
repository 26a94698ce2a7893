// A low-precision scheme turns high-precision rows into one-byte codes + float32
// scales, and back into a float32 prediction of each high value plus a context class
// (0..15) that selects the rANS model the element's correction is coded with. The
// residual codec (residual_codec.hpp) is the same for every scheme; each scheme is one
// small unit (scheme_int8.*, scheme_fp8.*) registered in low_scheme.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dtype.hpp"

namespace qstore {

// Values are the on-disk scheme byte and the C API's qs_low_scheme.
enum class SchemeId : uint8_t {
    passthrough = 0,
    int8_row = 1,         // INT8 symmetric, float32 absmax per row (bitsandbytes LLM.int8())
    int8_tensor = 2,      // INT8 symmetric, one float32 absmax for the tensor
    fp8_e4m3_row = 3,     // OCP FP8 E4M3, float32 scale = absmax/448 per row
    fp8_e4m3_tensor = 4,  // OCP FP8 E4M3, one float32 scale = absmax/448
    fp8_e5m2_tensor = 5,  // OCP FP8 E5M2, one float32 scale = absmax/57344
};
constexpr int kSchemeCount = 6;
constexpr int kContextClasses = 16;
// The one NaN a prediction may be (positive quiet NaN, no payload): schemes map every
// NaN result to it so predictions are the same on every CPU.
constexpr uint32_t kCanonicalNaN = 0x7FC00000u;

// A tensor seen as a matrix: dimension 0 = rows, product of the others = columns.
struct Geometry {
    uint64_t rows = 0;
    uint64_t cols = 0;
    uint64_t elements() const { return rows * cols; }
};

// A tensor's whole low precision in qstore's internal form (what the coder stores and
// predictions are made from): one byte per element, scales widened to float32 (exact
// for float16 scales), and one zero point byte per scale for asymmetric schemes.
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
    virtual SchemeId id() const = 0;
    virtual const char* name() const = 0;  // "int8-row", ... (CLI and `qstore info`)
    virtual DType code_dtype() const = 0;
    virtual uint64_t code_bytes(const Geometry& g) const = 0;
    virtual uint64_t scale_count(const Geometry& g) const = 0;
    // True if there is one scale per row (false: one per tensor).
    virtual bool scales_per_row() const = 0;
    // Scales that depend on the whole tensor (per-tensor schemes) are computed here,
    // before rows are quantized in parallel. Row schemes do nothing.
    virtual void prepare(const uint8_t* high, DType t, const Geometry& g, const LowTensorData& low) const {
        (void)high, (void)t, (void)g, (void)low;
    }
    // Quantizes rows [row_begin, row_end) of `high` (whole tensor, dtype `t`, may be
    // unaligned) into the matching slices of `codes` and `scales` (whole-tensor arrays;
    // per-tensor schemes read the scale prepare() wrote).
    virtual void quantize(const uint8_t* high, DType t, const Geometry& g, uint64_t row_begin, uint64_t row_end,
                          const LowTensorData& low) const = 0;
    // Prediction and context (0..kContextClasses-1) of elements [first, first+n) from the whole tensor's
    // codes and scales.
    virtual void predict(const LowTensorView& low, const Geometry& g, uint64_t first, uint64_t n, float* prediction,
                         uint8_t* context) const = 0;
};

// nullptr for passthrough or unknown ids.
const LowScheme* low_scheme(SchemeId id);
// nullptr if no scheme has that name.
const LowScheme* low_scheme_by_name(const std::string& name);
// "int8-row, int8-tensor, ..." for help texts.
std::string low_scheme_names();

}  // namespace qstore
