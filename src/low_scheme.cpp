// The registry of low-precision schemes: one stateless instance of each.
#include "low_scheme.hpp"

#include "scheme_fp8.hpp"
#include "scheme_int8.hpp"

namespace qstore {

namespace {
const LowScheme* const* registry() {
    static const Int8Scheme int8_row(false), int8_tensor(true);
    static const Fp8Scheme fp8_e4m3_row(SchemeId::fp8_e4m3_row, "fp8-e4m3-row", kE4M3, false);
    static const Fp8Scheme fp8_e4m3_tensor(SchemeId::fp8_e4m3_tensor, "fp8-e4m3-tensor", kE4M3, true);
    static const Fp8Scheme fp8_e5m2_tensor(SchemeId::fp8_e5m2_tensor, "fp8-e5m2-tensor", kE5M2, true);
    static const LowScheme* const all[kSchemeCount] = {nullptr,          &int8_row,        &int8_tensor,
                                                       &fp8_e4m3_row,    &fp8_e4m3_tensor, &fp8_e5m2_tensor};
    return all;
}
}  // namespace

const LowScheme* low_scheme(SchemeId id) {
    const auto i = static_cast<unsigned>(id);
    return i < kSchemeCount ? registry()[i] : nullptr;
}

const LowScheme* low_scheme_by_name(const std::string& name) {
    for (int i = 1; i < kSchemeCount; ++i)
        if (name == registry()[i]->name()) return registry()[i];
    return nullptr;
}

std::string low_scheme_names() {
    std::string s;
    for (int i = 1; i < kSchemeCount; ++i) s += std::string(i > 1 ? ", " : "") + registry()[i]->name();
    return s;
}

}  // namespace qstore
