// Element types of tensors, with their safetensors names and sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace qstore {

// Values equal the C API's qs_dtype and the on-disk dtype byte (docs/FORMAT.md).
enum class DType : uint8_t {
    unknown = 0,
    f32 = 1,
    f16 = 2,
    bf16 = 3,
    f64 = 4,
    i8 = 5,
    u8 = 6,
    i16 = 7,
    u16 = 8,
    i32 = 9,
    u32 = 10,
    i64 = 11,
    u64 = 12,
    boolean = 13,
    f8_e4m3 = 14,
    f8_e5m2 = 15,
};
constexpr int kDTypeCount = 16;

size_t dtype_size(DType t);
// Safetensors' name: "F32", "BF16", ...
const char* dtype_name(DType t);
// DType::unknown for names qstore does not know.
DType dtype_from_name(const std::string& name);
// The floating-point types that can carry a low precision + residual.
inline bool dtype_is_quantizable(DType t) { return t == DType::f32 || t == DType::f16 || t == DType::bf16; }
inline bool dtype_is_valid(uint8_t v) { return v > 0 && v < kDTypeCount; }

}  // namespace qstore
