#include "container/metadata_json.hpp"

#include <nlohmann/json.hpp>

#include <vector>

#include "base/error.hpp"

namespace qstore {

namespace {

using Json = nlohmann::ordered_json;

// The type of a number or bool, or string for anything else.
ValueType scalar_type(const Json& v) {
    if (v.is_boolean()) return ValueType::boolean;
    if (v.is_number_unsigned()) return ValueType::u64;
    if (v.is_number_integer()) return ValueType::i64;
    if (v.is_number_float()) return ValueType::f64;
    return ValueType::string;
}

// The type all elements of `a` share (integers widened to i64 or f64), or string when
// they are strings or cannot share one; `plain` is false for the latter.
ValueType array_type(const Json& a, bool& plain) {
    plain = true;
    bool all_strings = true, all_bools = true, any_float = false, any_negative = false;
    for (const Json& v : a) {
        all_strings = all_strings && v.is_string();
        all_bools = all_bools && v.is_boolean();
        any_float = any_float || v.is_number_float();
        any_negative = any_negative || (v.is_number_integer() && !v.is_number_unsigned());
        if (!v.is_string() && !v.is_boolean() && !v.is_number()) plain = false;
    }
    if (all_strings) return ValueType::string;
    if (all_bools) return ValueType::boolean;
    if (!plain) return ValueType::string;
    for (const Json& v : a)
        if (!v.is_number()) plain = false;  // strings or bools mixed with numbers
    return any_float ? ValueType::f64 : any_negative ? ValueType::i64 : ValueType::u64;
}

template <class T>
MetadataEntry number_array(const std::string& key, ValueType type, const Json& a) {
    std::vector<T> values;
    for (const Json& v : a) values.push_back(v.get<T>());
    return MetadataEntry::numbers(key, type, values.data(), values.size(), true);
}

MetadataEntry entry_of(const std::string& key, const Json& v) {
    if (v.is_string()) return MetadataEntry::string(key, v.get_ref<const std::string&>());
    const ValueType t = scalar_type(v);
    if (t == ValueType::boolean) {
        const uint8_t b = v.get<bool>() ? 1 : 0;
        return MetadataEntry::numbers(key, t, &b, 1, false);
    }
    if (t == ValueType::u64) return MetadataEntry::numbers(key, t, &v.get_ref<const uint64_t&>(), 1, false);
    if (t == ValueType::i64) return MetadataEntry::numbers(key, t, &v.get_ref<const int64_t&>(), 1, false);
    if (t == ValueType::f64) return MetadataEntry::numbers(key, t, &v.get_ref<const double&>(), 1, false);
    if (v.is_array()) {
        bool plain = false;
        const ValueType at = array_type(v, plain);
        if (plain && at == ValueType::string) {
            std::vector<std::string> values;
            for (const Json& s : v) values.push_back(s.get<std::string>());
            return MetadataEntry::strings(key, values);
        }
        if (plain && at == ValueType::boolean) {
            std::vector<uint8_t> values;
            for (const Json& b : v) values.push_back(b.get<bool>() ? 1 : 0);
            return MetadataEntry::numbers(key, at, values.data(), values.size(), true);
        }
        if (plain && at == ValueType::u64) return number_array<uint64_t>(key, at, v);
        if (plain && at == ValueType::i64) return number_array<int64_t>(key, at, v);
        if (plain && at == ValueType::f64) return number_array<double>(key, at, v);
    }
    return MetadataEntry::string(key, v.dump());
}

}  // namespace

Metadata metadata_from_json(const std::string& text, const std::string& what) {
    Metadata m;
    if (text.empty()) return m;
    const Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) fail(Errc::corrupt, what + ": metadata is not a JSON object");
    const auto it = doc.find("safetensors_metadata");
    if (it == doc.end()) return m;
    if (!it->is_object()) fail(Errc::corrupt, what + ": safetensors_metadata is not a JSON object");
    for (const auto& [key, value] : it->items()) m.add(entry_of(key, value));
    return m;
}

}  // namespace qstore
