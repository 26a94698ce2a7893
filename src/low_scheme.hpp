// A low-precision scheme turns high-precision rows into codes + float32 scales, and
// back into a float32 prediction of each high value plus a context class (0..15) that
// selects the residual streams the element's correction is coded in. The residual
// codec (residual_codec.hpp) is the same for every scheme.
#pragma once

#include <cstdint>
#include <memory>

#include "dtype.hpp"

namespace qstore {

// Values are the on-disk scheme byte and the C API's qs_low_scheme.
enum class SchemeId : uint8_t { passthrough = 0, int8_row = 1 };
constexpr int kContextClasses = 16;

// A tensor seen as a matrix: dimension 0 = rows, product of the others = columns.
struct Geometry {
    uint64_t rows = 0;
    uint64_t cols = 0;
    uint64_t elements() const { return rows * cols; }
};

class LowScheme {
public:
    virtual ~LowScheme() = default;
    virtual SchemeId id() const = 0;
    virtual DType code_dtype() const = 0;
    virtual uint64_t code_bytes(const Geometry& g) const = 0;
    virtual uint64_t scale_count(const Geometry& g) const = 0;
    // Quantizes rows [row_begin, row_end) of `high` (whole tensor, dtype `t`, may be
    // unaligned) into the matching slices of `codes` and `scales` (whole-tensor arrays).
    virtual void quantize(const uint8_t* high, DType t, const Geometry& g, uint64_t row_begin, uint64_t row_end,
                          uint8_t* codes, float* scales) const = 0;
    // Prediction and context (0..kContextClasses-1) of elements [first, first+n) from the whole tensor's
    // codes and scales.
    virtual void predict(const uint8_t* codes, const float* scales, const Geometry& g, uint64_t first, uint64_t n,
                         float* prediction, uint8_t* context) const = 0;
};

// nullptr for passthrough or unknown ids.
const LowScheme* low_scheme(SchemeId id);

}  // namespace qstore
