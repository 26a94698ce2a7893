#include "io/gguf_metadata.hpp"

#include "base/error.hpp"

namespace qstore {

namespace {

// The qs_value_type of a GGUF scalar or string type; false for arrays and unknown types.
bool value_type_of(uint32_t gguf_type, ValueType& out) {
    switch (gguf_type) {
        case kGgufU8: out = ValueType::u8; return true;
        case kGgufI8: out = ValueType::i8; return true;
        case kGgufU16: out = ValueType::u16; return true;
        case kGgufI16: out = ValueType::i16; return true;
        case kGgufU32: out = ValueType::u32; return true;
        case kGgufI32: out = ValueType::i32; return true;
        case kGgufU64: out = ValueType::u64; return true;
        case kGgufI64: out = ValueType::i64; return true;
        case kGgufF32: out = ValueType::f32; return true;
        case kGgufF64: out = ValueType::f64; return true;
        case kGgufBool: out = ValueType::boolean; return true;
        case kGgufString: out = ValueType::string; return true;
        default: return false;
    }
}

}  // namespace

Metadata metadata_of_gguf(const std::vector<GgufKV>& kvs) {
    Metadata m;
    for (const GgufKV& kv : kvs) {
        ValueType type;
        if (!value_type_of(kv.element_type, type)) {  // an array of arrays
            m.add(MetadataEntry::string(kv.key, kv.text));
        } else if (type == ValueType::string) {
            MetadataEntry e = MetadataEntry::strings(kv.key, kv.strings);
            e.is_array = kv.is_array();
            m.add(std::move(e));
        } else {
            // GGUF is little-endian, as every host libqstore supports: the bytes are host order.
            m.add(MetadataEntry::numbers(kv.key, type, kv.values.data(), kv.count, kv.is_array()));
        }
    }
    return m;
}

}  // namespace qstore
