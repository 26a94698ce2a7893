// The byte lengths of the file's prefixes that serve opening and each precision level.
#include <algorithm>

#include "file_handle.hpp"

using qstore_capi::guarded;
using qstore_capi::report;

extern "C" {

qs_status qs_prefix_bytes_e(const qs_file* file, int which, uint64_t* bytes, qs_error* err) {
    if (!file || !bytes) return report(err, QS_ERR_INVALID_ARGUMENT, "qs_prefix_bytes_e: NULL argument");
    if (which != QS_PREFIX_INDEX && which != QS_PREFIX_BEFORE_INDEX)
        return report(err, QS_ERR_INVALID_ARGUMENT,
                      "qs_prefix_bytes_e: unknown prefix " + std::to_string(which) +
                          " (QS_PREFIX_INDEX or QS_PREFIX_BEFORE_INDEX)");
    return guarded(err, [&] {
        *bytes = which == QS_PREFIX_INDEX ? file->reader.index_end() : file->reader.index_begin();
    });
}

uint32_t qs_level_count(const qs_file* file) {
    if (!file) return 0;
    size_t levels = 1;
    const qstore::Reader& r = file->reader;
    for (size_t i = 0; i < r.tensor_count(); ++i) levels = std::max(levels, r.tensor(i).levels.size());
    return static_cast<uint32_t>(levels);
}

qs_status qs_level_prefix_bytes_e(const qs_file* file, uint32_t level, uint64_t* bytes, qs_error* err) {
    if (!file || !bytes) return report(err, QS_ERR_INVALID_ARGUMENT, "qs_level_prefix_bytes_e: NULL argument");
    const uint32_t count = qs_level_count(file);
    if (level >= count)
        return report(err, QS_ERR_INVALID_ARGUMENT,
                      file->reader.path() + ": level " + std::to_string(level) + " does not exist (the file has " +
                          std::to_string(count) + ")");
    return guarded(err, [&] { *bytes = file->reader.level_prefix_end(level); });
}

}  // extern "C"
