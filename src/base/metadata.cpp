#include "base/metadata.hpp"

#include <cstring>

#include "base/error.hpp"

namespace qstore {

size_t value_width(ValueType type) {
    switch (type) {
        case ValueType::string: return 0;
        case ValueType::u8:
        case ValueType::i8:
        case ValueType::boolean: return 1;
        case ValueType::u16:
        case ValueType::i16: return 2;
        case ValueType::u32:
        case ValueType::i32:
        case ValueType::f32: return 4;
        case ValueType::u64:
        case ValueType::i64:
        case ValueType::f64: return 8;
    }
    fail(Errc::internal, "unknown metadata value type " + std::to_string(static_cast<int>(type)));
}

std::string_view MetadataEntry::string_at(uint64_t k) const {
    if (type != ValueType::string || k >= count) fail(Errc::invalid_argument, key + ": no string element " + std::to_string(k));
    const uint64_t begin = string_begin[k];
    const uint64_t end = k + 1 < count ? string_begin[k + 1] : bytes.size();
    return {reinterpret_cast<const char*>(bytes.data() + begin), static_cast<size_t>(end - begin - 1)};
}

MetadataEntry MetadataEntry::strings(std::string key, const std::vector<std::string>& values) {
    MetadataEntry e;
    e.key = std::move(key);
    e.type = ValueType::string;
    e.is_array = true;
    e.count = values.size();
    for (const std::string& v : values) {
        e.string_begin.push_back(e.bytes.size());
        e.bytes.insert(e.bytes.end(), v.begin(), v.end());
        e.bytes.push_back(0);
    }
    return e;
}

MetadataEntry MetadataEntry::string(std::string key, std::string_view value) {
    MetadataEntry e = strings(std::move(key), {std::string(value)});
    e.is_array = false;
    return e;
}

MetadataEntry MetadataEntry::numbers(std::string key, ValueType type, const void* values, uint64_t count,
                                     bool is_array) {
    if (type == ValueType::string || static_cast<uint8_t>(type) >= kValueTypeCount)
        fail(Errc::internal, key + ": not a number type");
    if (!is_array && count != 1) fail(Errc::internal, key + ": a single value must have count 1");
    MetadataEntry e;
    e.key = std::move(key);
    e.type = type;
    e.is_array = is_array;
    e.count = count;
    e.bytes.resize(static_cast<size_t>(count * value_width(type)));
    if (!e.bytes.empty()) std::memcpy(e.bytes.data(), values, e.bytes.size());
    return e;
}

size_t Metadata::find(std::string_view key) const {
    for (size_t i = 0; i < entries_.size(); ++i)
        if (entries_[i].key == key) return i;
    return SIZE_MAX;
}

}  // namespace qstore
