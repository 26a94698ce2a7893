// The registry of low-precision schemes: one instance of each fixed scheme, grouped
// schemes made on first use per group size, and their names.
#include "schemes/registry.hpp"

#include <map>
#include <mutex>

#include "schemes/asym.hpp"
#include "schemes/fp8.hpp"
#include "schemes/ggml.hpp"
#include "schemes/gptq.hpp"
#include "schemes/int8.hpp"

namespace qstore {

namespace {

constexpr uint32_t kMaxGroupSize = 1u << 20;

const LowScheme* fixed_scheme(SchemeId id) {
    static const Int8Scheme int8_row(Int8Scheme::Granularity::row, 0);
    static const Int8Scheme int8_tensor(Int8Scheme::Granularity::tensor, 0);
    static const Fp8Scheme fp8_e4m3_row(SchemeId::fp8_e4m3_row, "fp8-e4m3-row", kE4M3, Fp8Scheme::Granularity::row);
    static const Fp8Scheme fp8_e4m3_tensor(SchemeId::fp8_e4m3_tensor, "fp8-e4m3-tensor", kE4M3,
                                           Fp8Scheme::Granularity::tensor);
    static const Fp8Scheme fp8_e5m2_tensor(SchemeId::fp8_e5m2_tensor, "fp8-e5m2-tensor", kE5M2,
                                           Fp8Scheme::Granularity::tensor);
    static const Fp8Scheme fp8_e4m3_block(SchemeId::fp8_e4m3_block, "fp8-e4m3-block128", kE4M3,
                                          Fp8Scheme::Granularity::tile128);
    static const GgmlScheme q8_0(false), q4_0(true);
    static const AsymScheme uint8_asym_tensor(0);
    static const Int8Scheme int8_row_ct(Int8Scheme::Granularity::row_ct, 0);
    switch (id) {
        case SchemeId::int8_row: return &int8_row;
        case SchemeId::int8_tensor: return &int8_tensor;
        case SchemeId::fp8_e4m3_row: return &fp8_e4m3_row;
        case SchemeId::fp8_e4m3_tensor: return &fp8_e4m3_tensor;
        case SchemeId::fp8_e5m2_tensor: return &fp8_e5m2_tensor;
        case SchemeId::fp8_e4m3_block: return &fp8_e4m3_block;
        case SchemeId::q8_0: return &q8_0;
        case SchemeId::q4_0: return &q4_0;
        case SchemeId::uint8_asym_tensor: return &uint8_asym_tensor;
        case SchemeId::int8_row_ct: return &int8_row_ct;
        default: return nullptr;
    }
}

// Grouped schemes: one instance per (scheme, group size), made on first use and kept.
const LowScheme* grouped_scheme(const SchemeSpec& spec) {
    static std::mutex mutex;
    static std::map<std::pair<int, uint32_t>, std::unique_ptr<LowScheme>> made;
    const std::lock_guard<std::mutex> lock(mutex);
    auto& slot = made[{static_cast<int>(spec.id), spec.group}];
    if (!slot) {
        if (spec.id == SchemeId::int8_group) slot = std::make_unique<Int8Scheme>(Int8Scheme::Granularity::group, spec.group);
        else if (spec.id == SchemeId::gptq_int4) slot = std::make_unique<GptqScheme>(spec.group);
        else slot = std::make_unique<AsymScheme>(spec.group);
    }
    return slot.get();
}

const char* const kBaseNames[kSchemeCount] = {
    nullptr,         "int8-row", "int8-tensor", "fp8-e4m3-row",      "fp8-e4m3-tensor", "fp8-e5m2-tensor",
    "int8-group",    "q8_0",     "q4_0",        "fp8-e4m3-block128", "int4-asym-group", "uint8-asym-tensor",
    "gptq-int4",     "int8-row-ct"};

}  // namespace

const LowScheme* low_scheme(const SchemeSpec& spec) {
    const auto i = static_cast<unsigned>(spec.id);
    if (i == 0 || i >= kSchemeCount) return nullptr;
    if (!scheme_has_group(spec.id)) return spec.group == 0 ? fixed_scheme(spec.id) : nullptr;
    if (spec.group == 0 || spec.group > kMaxGroupSize) return nullptr;
    return grouped_scheme(spec);
}

const LowScheme* low_scheme_by_name(const std::string& full) {
    const size_t colon = full.find(':');
    const std::string base = full.substr(0, colon);
    for (int i = 1; i < kSchemeCount; ++i) {
        if (base != kBaseNames[i]) continue;
        const auto id = static_cast<SchemeId>(i);
        if (colon == std::string::npos) return low_scheme(id);
        if (!scheme_has_group(id)) return nullptr;
        const std::string digits = full.substr(colon + 1);
        if (digits.empty() || digits.size() > 7 || digits.find_first_not_of("0123456789") != std::string::npos)
            return nullptr;
        return low_scheme(SchemeSpec{id, static_cast<uint32_t>(std::stoul(digits))});
    }
    return nullptr;
}

const LowScheme& chain_code_rule(const SchemeSpec& spec, uint16_t format_minor) {
    static const Int8Scheme int8_row_1_4(Int8Scheme::Granularity::row, 0, false);
    static const Int8Scheme int8_tensor_1_4(Int8Scheme::Granularity::tensor, 0, false);
    if (format_minor < 5 && spec.id == SchemeId::int8_row) return int8_row_1_4;
    if (format_minor < 5 && spec.id == SchemeId::int8_tensor) return int8_tensor_1_4;
    return *low_scheme(spec);
}

std::string low_scheme_names() {
    std::string s;
    for (int i = 1; i < kSchemeCount; ++i)
        s += std::string(i > 1 ? ", " : "") + kBaseNames[i] + (scheme_has_group(static_cast<SchemeId>(i)) ? "[:G]" : "");
    return s;
}

}  // namespace qstore
