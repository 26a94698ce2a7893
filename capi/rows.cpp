// Loads of a range of rows (dimension 0) of a tensor, at any level, and their sizes.
#include <cstddef>

#include "file_handle.hpp"

using qstore_capi::guarded;
using qstore_capi::report;
using qstore_capi::valid_tensor;

namespace {

// Rows [first, first + count), or an invalid span when the sum overflows (refused later).
qstore::RowSpan span_of(uint64_t first, uint64_t count) {
    return {first, count > UINT64_MAX - first ? UINT64_MAX : first + count};
}

}  // namespace

extern "C" {

qs_status qs_load_high_rows_e(qs_file* file, size_t index, uint64_t first_row, uint64_t row_count, void* out,
                              size_t out_size, qs_error* err) {
    if (!valid_tensor(file, index))
        return report(err, QS_ERR_INVALID_ARGUMENT, "qs_load_high_rows_e: NULL file or index out of range");
    return guarded(err, [&] { file->reader.load_high_rows(index, span_of(first_row, row_count), out, out_size); });
}

qs_status qs_rows_level_info_get_e(const qs_file* file, size_t index, uint32_t level, uint64_t first_row,
                                   uint64_t row_count, qs_level_info* info, qs_error* err) {
    if (!valid_tensor(file, index) || !info)
        return report(err, QS_ERR_INVALID_ARGUMENT, "qs_rows_level_info_get_e: NULL argument or index out of range");
    qs_status status = QS_OK;
    if (!qstore_capi::check_level_info_size(info, "qs_rows_level_info_get_e", err, &status)) return status;
    const qstore::Reader& r = file->reader;
    const qstore::TensorRecord& t = r.tensor(index);
    if (level >= t.levels.size()) return report(err, QS_ERR_INVALID_ARGUMENT, qstore_capi::missing_level(r, t, level));
    return guarded(err, [&] {
        const qstore::Reader::LevelSizes z = r.level_row_sizes(t, level, span_of(first_row, row_count));
        qs_level_info out = qstore_capi::level_info_of(r, t, level);
        out.code_bytes = z.code_bytes;
        out.scale_bytes = z.scale_bytes;
        out.zero_point_bytes = z.zero_point_bytes;
        qstore_capi::copy_level_info(out, info);
    });
}

qs_status qs_load_level_rows_e(qs_file* file, size_t index, uint32_t level, uint64_t first_row, uint64_t row_count,
                               void* codes, size_t codes_size, void* scales, size_t scales_size, void* zero_points,
                               size_t zero_points_size, qs_error* err) {
    if (!valid_tensor(file, index))
        return report(err, QS_ERR_INVALID_ARGUMENT, "qs_load_level_rows_e: NULL file or index out of range");
    const qstore::TensorRecord& t = file->reader.tensor(index);
    if (level >= t.levels.size())
        return report(err, QS_ERR_INVALID_ARGUMENT, qstore_capi::missing_level(file->reader, t, level));
    const qstore::RowSpan rows = span_of(first_row, row_count);
    return guarded(err, [&] {
        if (level == t.levels.size() - 1) file->reader.load_high_rows(index, rows, codes, codes_size);
        else
            file->reader.load_level_rows(index, level, rows, codes, codes_size, scales, scales_size, zero_points,
                                         zero_points_size);
    });
}

}  // extern "C"
