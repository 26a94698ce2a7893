#include "base/dtype.hpp"

namespace qstore {

namespace {
struct DTypeRow {
    DType type;
    const char* name;
    size_t size;
};
constexpr DTypeRow kRows[] = {
    {DType::unknown, "?", 0}, {DType::f32, "F32", 4},  {DType::f16, "F16", 2},
    {DType::bf16, "BF16", 2}, {DType::f64, "F64", 8},  {DType::i8, "I8", 1},
    {DType::u8, "U8", 1},     {DType::i16, "I16", 2},  {DType::u16, "U16", 2},
    {DType::i32, "I32", 4},   {DType::u32, "U32", 4},  {DType::i64, "I64", 8},
    {DType::u64, "U64", 8},   {DType::boolean, "BOOL", 1}, {DType::f8_e4m3, "F8_E4M3", 1},
    {DType::f8_e5m2, "F8_E5M2", 1},
};
static_assert(sizeof(kRows) / sizeof(kRows[0]) == kDTypeCount);
}  // namespace

size_t dtype_size(DType t) { return kRows[static_cast<int>(t) < kDTypeCount ? static_cast<int>(t) : 0].size; }
const char* dtype_name(DType t) { return kRows[static_cast<int>(t) < kDTypeCount ? static_cast<int>(t) : 0].name; }
DType dtype_from_name(const std::string& name) {
    for (const auto& r : kRows)
        if (r.type != DType::unknown && name == r.name) return r.type;
    return DType::unknown;
}

}  // namespace qstore
