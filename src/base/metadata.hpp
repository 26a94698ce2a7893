// A model's metadata: keys in order, each with a typed value or an array of values (the
// value types of GGUF's key/value pairs, qs_value_type). Filled from a .qs file's
// metadata section (safetensors' __metadata__ string pairs: container/metadata_json.hpp)
// and from GGUF's typed key/values; read through the C API (qs_metadata_*).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qstore {

// The numbering of qs_value_type.
enum class ValueType : uint8_t {
    string = 0,
    u8 = 1,
    i8 = 2,
    u16 = 3,
    i16 = 4,
    u32 = 5,
    i32 = 6,
    u64 = 7,
    i64 = 8,
    f32 = 9,
    f64 = 10,
    boolean = 11,  // one byte, 0 or 1
};
constexpr uint8_t kValueTypeCount = 12;

// Bytes of one number or bool of `type` (0 for strings).
size_t value_width(ValueType type);

struct MetadataEntry {
    std::string key;
    ValueType type = ValueType::string;
    bool is_array = false;
    uint64_t count = 1;  // elements (1 for a single value)
    // Numbers and bools: `count` values of value_width(type) bytes, packed, host order.
    // Strings: each element's bytes followed by a NUL, element k starting at
    // string_begin[k] (its length up to the next element's start minus one).
    std::vector<uint8_t> bytes;
    std::vector<uint64_t> string_begin;

    // Element k of a string entry (k < count); the view is followed by a NUL in memory.
    std::string_view string_at(uint64_t k) const;

    static MetadataEntry string(std::string key, std::string_view value);
    static MetadataEntry strings(std::string key, const std::vector<std::string>& values);
    // `count` numbers or bools of `type` (not string) from `values` (host order); an array
    // when is_array, else count must be 1.
    static MetadataEntry numbers(std::string key, ValueType type, const void* values, uint64_t count, bool is_array);
};

class Metadata {
public:
    size_t size() const { return entries_.size(); }
    const MetadataEntry& at(size_t i) const { return entries_.at(i); }
    // Index of the first entry with this key, or SIZE_MAX.
    size_t find(std::string_view key) const;
    // Appends an entry (keys stay in the order they are added).
    void add(MetadataEntry entry) { entries_.push_back(std::move(entry)); }

private:
    std::vector<MetadataEntry> entries_;
};

}  // namespace qstore
