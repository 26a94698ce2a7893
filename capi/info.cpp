// Questions about a file's tensors: count, description, levels, lookup by name.
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "file_handle.hpp"

using qstore_capi::guarded;
using qstore_capi::report;

namespace {

static_assert(static_cast<int>(qstore::DType::f8_e5m2) == QS_DTYPE_F8_E5M2, "dtype codes must match");
static_assert(static_cast<int>(qstore::SchemeId::int8_row) == QS_LOW_INT8_ROW, "scheme codes must match");
static_assert(static_cast<int>(qstore::SchemeId::fp8_e5m2_tensor) == QS_LOW_FP8_E5M2_TENSOR, "scheme codes must match");
static_assert(static_cast<int>(qstore::SchemeId::gptq_int4) == QS_LOW_GPTQ_INT4, "scheme codes must match");
static_assert(static_cast<int>(qstore::SchemeId::int8_row_ct) == QS_LOW_INT8_ROW_CT, "scheme codes must match");

void fill_tensor_info(const qs_file* file, size_t index, qs_tensor_info* info) {
    const qstore::Reader& r = file->reader;
    const qstore::TensorRecord& t = r.tensor(index);
    info->name = t.name.c_str();
    info->ndim = static_cast<uint32_t>(t.shape.size());
    for (size_t d = 0; d < QS_MAX_DIMS; ++d) info->shape[d] = d < t.shape.size() ? t.shape[d] : 0;
    info->num_elements = t.elements();
    info->high_dtype = static_cast<qs_dtype>(t.high_dtype);
    info->low_scheme = t.quantized() ? static_cast<qs_low_scheme>(t.low[0].id) : QS_LOW_PASSTHROUGH;
    info->low_dtype =
        t.quantized() ? static_cast<qs_dtype>(t.scheme(0).code_dtype()) : static_cast<qs_dtype>(t.high_dtype);
    info->high_bytes = r.high_bytes(t);
    info->low_code_bytes = r.low_code_bytes(t);
    info->low_scale_bytes = r.low_scale_bytes(t);
    info->stored_low_bytes = r.stored_bytes(t, 0);
    info->stored_residual_bytes = t.quantized() ? r.stored_bytes(t, t.top_level()) : 0;
    info->low_codes_are_raw = r.low_codes_raw(t) && r.has_memory_view() ? 1 : 0;
    auto fits = [&](size_t end) { return info->struct_size >= end; };
    if (fits(offsetof(qs_tensor_info, num_levels) + sizeof(uint32_t)))
        info->num_levels = static_cast<uint32_t>(t.levels.size());
    if (fits(offsetof(qs_tensor_info, low_group_size) + sizeof(uint32_t)))
        info->low_group_size = t.quantized() ? t.low[0].group : 0;
    if (fits(offsetof(qs_tensor_info, low_scale_dtype) + sizeof(qs_dtype)))
        info->low_scale_dtype = t.quantized() ? static_cast<qs_dtype>(t.scheme(0).scale_dtype()) : QS_DTYPE_UNKNOWN;
    if (fits(offsetof(qs_tensor_info, low_zero_point_bytes) + sizeof(uint64_t)))
        info->low_zero_point_bytes = r.level_zero_point_bytes(t, 0);
}

}  // namespace

namespace qstore_capi {

// Level `level` of tensor `t` as qs_level_info describes it (level < t.levels.size()).
qs_level_info level_info_of(const qstore::Reader& r, const qstore::TensorRecord& t, uint32_t level) {
    const bool low = t.quantized() && level < t.top_level();
    qs_level_info out{};
    out.scheme = low ? static_cast<qs_low_scheme>(t.low[level].id) : QS_LOW_PASSTHROUGH;
    out.group_size = low ? t.low[level].group : 0;
    out.code_dtype = low ? static_cast<qs_dtype>(t.scheme(level).code_dtype()) : static_cast<qs_dtype>(t.high_dtype);
    out.scale_dtype = low ? static_cast<qs_dtype>(t.scheme(level).scale_dtype()) : QS_DTYPE_UNKNOWN;
    out.code_bytes = low ? r.level_code_bytes(t, level) : r.high_bytes(t);
    out.scale_bytes = low ? r.level_scale_bytes(t, level) : 0;
    out.zero_point_bytes = low ? r.level_zero_point_bytes(t, level) : 0;
    out.stored_bytes = r.stored_bytes(t, level);
    return out;
}

// Copies `out` into the caller's struct: every size from 1.1's on (later 1.x versions only
// append fields; a caller gets those its struct_size covers).
void copy_level_info(qs_level_info out, qs_level_info* info) {
    out.struct_size = info->struct_size;
    std::memcpy(info, &out, std::min(info->struct_size, sizeof out));
}

bool check_level_info_size(const qs_level_info* info, const char* fn, qs_error* err, qs_status* status) {
    const size_t size_1_1 = offsetof(qs_level_info, stored_bytes) + sizeof(uint64_t);
    if (info->struct_size >= size_1_1) return true;
    *status = report(err, QS_ERR_INVALID_ARGUMENT,
                     std::string(fn) + ": info.struct_size must be at least the 1.1 sizeof(qs_level_info)");
    return false;
}

}  // namespace qstore_capi

extern "C" {

size_t qs_tensor_count(const qs_file* file) { return file ? file->reader.tensor_count() : 0; }

qs_status qs_tensor_info_get(const qs_file* file, size_t index, qs_tensor_info* info) {
    return qs_tensor_info_get_e(file, index, info, nullptr);
}

qs_status qs_tensor_info_get_e(const qs_file* file, size_t index, qs_tensor_info* info, qs_error* err) {
    if (!qstore_capi::valid_tensor(file, index) || !info)
        return report(err, QS_ERR_INVALID_ARGUMENT, "qs_tensor_info_get: NULL argument or index out of range");
    // Callers built against 1.0 pass the 1.0 struct (up to low_codes_are_raw); the
    // fields added since are filled only when they fit.
    const size_t size_1_0 = offsetof(qs_tensor_info, low_codes_are_raw) + sizeof(int);
    if (info->struct_size < size_1_0)
        return report(err, QS_ERR_INVALID_ARGUMENT,
                      "qs_tensor_info_get: info.struct_size must be sizeof(qs_tensor_info)");
    return guarded(err, [&] { fill_tensor_info(file, index, info); });
}

qs_status qs_level_info_get(const qs_file* file, size_t index, uint32_t level, qs_level_info* info) {
    return qs_level_info_get_e(file, index, level, info, nullptr);
}

qs_status qs_level_info_get_e(const qs_file* file, size_t index, uint32_t level, qs_level_info* info,
                              qs_error* err) {
    if (!qstore_capi::valid_tensor(file, index) || !info)
        return report(err, QS_ERR_INVALID_ARGUMENT, "qs_level_info_get: NULL argument or index out of range");
    qs_status status = QS_OK;
    if (!qstore_capi::check_level_info_size(info, "qs_level_info_get", err, &status)) return status;
    const qstore::Reader& r = file->reader;
    const qstore::TensorRecord& t = r.tensor(index);
    if (level >= t.levels.size()) return report(err, QS_ERR_INVALID_ARGUMENT, qstore_capi::missing_level(r, t, level));
    return guarded(err, [&] { qstore_capi::copy_level_info(qstore_capi::level_info_of(r, t, level), info); });
}

qs_status qs_find_tensor(const qs_file* file, const char* name, size_t* index) {
    return qs_find_tensor_e(file, name, index, nullptr);
}

qs_status qs_find_tensor_e(const qs_file* file, const char* name, size_t* index, qs_error* err) {
    if (!file || !name || !index) return report(err, QS_ERR_INVALID_ARGUMENT, "qs_find_tensor: NULL argument");
    return guarded(err, [&] {
        const size_t i = file->reader.find(name);
        if (i == SIZE_MAX) qstore::fail(qstore::Errc::not_found, file->reader.path() + ": no tensor named '" + name + "'");
        *index = i;
    });
}

}  // extern "C"
