// The model's metadata: entries in order, typed values (qs_metadata_*).
#include <cstddef>
#include <cstring>

#include "file_handle.hpp"

using qstore_capi::guarded;
using qstore_capi::report;

namespace {

static_assert(static_cast<int>(qstore::ValueType::string) == QS_VALUE_STRING, "value types must match");
static_assert(static_cast<int>(qstore::ValueType::f64) == QS_VALUE_F64, "value types must match");
static_assert(static_cast<int>(qstore::ValueType::boolean) == QS_VALUE_BOOL, "value types must match");

// Entry `index` of the file's metadata, or Error(invalid_argument) naming `fn`.
const qstore::MetadataEntry& entry_at(const qs_file* file, size_t index, const char* fn) {
    const qstore::Metadata& m = file->reader.metadata();
    if (index >= m.size())
        qstore::fail(qstore::Errc::invalid_argument, file->reader.path() + ": " + fn + ": metadata entry " +
                                                         std::to_string(index) + " does not exist (there are " +
                                                         std::to_string(m.size()) + ")");
    return m.at(index);
}

}  // namespace

extern "C" {

size_t qs_metadata_count(const qs_file* file) {
    if (!file) return 0;
    try {
        return file->reader.metadata().size();
    } catch (...) {
        return 0;  // a metadata section that is not valid: the _e functions report it
    }
}

qs_status qs_metadata_get_e(const qs_file* file, size_t index, qs_metadata_entry* entry, qs_error* err) {
    if (!file || !entry) return report(err, QS_ERR_INVALID_ARGUMENT, "qs_metadata_get_e: NULL argument");
    if (entry->struct_size < sizeof(qs_metadata_entry))
        return report(err, QS_ERR_INVALID_ARGUMENT,
                      "qs_metadata_get_e: entry.struct_size must be sizeof(qs_metadata_entry)");
    return guarded(err, [&] {
        const qstore::MetadataEntry& e = entry_at(file, index, "qs_metadata_get_e");
        qs_metadata_entry out;
        std::memset(&out, 0, sizeof out);
        out.struct_size = entry->struct_size;
        out.key = e.key.c_str();
        out.type = static_cast<qs_value_type>(e.type);
        out.is_array = e.is_array ? 1 : 0;
        out.count = e.count;
        if (e.type == qstore::ValueType::string) {
            if (!e.is_array) {
                const std::string_view s = e.string_at(0);
                out.string = s.data();
                out.string_bytes = s.size();
            }
        } else {
            out.values = e.bytes.empty() ? nullptr : e.bytes.data();
        }
        std::memcpy(entry, &out, sizeof out);
    });
}

qs_status qs_find_metadata_e(const qs_file* file, const char* key, size_t* index, qs_error* err) {
    if (!file || !key || !index) return report(err, QS_ERR_INVALID_ARGUMENT, "qs_find_metadata_e: NULL argument");
    return guarded(err, [&] {
        const size_t i = file->reader.metadata().find(key);
        if (i == SIZE_MAX)
            qstore::fail(qstore::Errc::not_found, file->reader.path() + ": no metadata key '" + key + "'");
        *index = i;
    });
}

qs_status qs_metadata_string_at_e(const qs_file* file, size_t index, uint64_t element, const char** string,
                                  uint64_t* string_bytes, qs_error* err) {
    if (!file || !string || !string_bytes)
        return report(err, QS_ERR_INVALID_ARGUMENT, "qs_metadata_string_at_e: NULL argument");
    return guarded(err, [&] {
        const qstore::MetadataEntry& e = entry_at(file, index, "qs_metadata_string_at_e");
        if (e.type != qstore::ValueType::string || element >= e.count)
            qstore::fail(qstore::Errc::invalid_argument,
                         file->reader.path() + ": metadata '" + e.key + "' has no string element " +
                             std::to_string(element) + " (it holds " + std::to_string(e.count) +
                             (e.type == qstore::ValueType::string ? " strings)" : " numbers)"));
        const std::string_view s = e.string_at(element);
        *string = s.data();
        *string_bytes = s.size();
    });
}

}  // extern "C"
