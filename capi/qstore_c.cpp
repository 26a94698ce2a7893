// The C ABI: a thin layer that converts between C types and the C++ core (src/),
// catches every exception at the boundary, and records the failure message in a
// thread-local buffer for qs_last_error_message().
#include <cstddef>
#include <cstring>
#include <new>
#include <string>

#include "base/error.hpp"
#include "qstore/qstore.h"
#include "read/reader.hpp"
#include "base/version.hpp"

struct qs_file {
    explicit qs_file(const std::string& path, const qstore::ReaderOptions& o) : reader(path, o) {}
    qstore::Reader reader;
};

namespace qstore_capi {
std::string& thread_message_buffer();  // capi/errors.cpp: shared with the 1.4 calls
}  // namespace qstore_capi

namespace {

thread_local std::string& g_last_error = qstore_capi::thread_message_buffer();  // per thread, like errno

qs_status set_error(qs_status s, const std::string& message) {
    g_last_error = message;
    return s;
}

template <class F>
qs_status guarded(F&& body) {
    try {
        body();
        g_last_error.clear();
        return QS_OK;
    } catch (const qstore::Error& e) {
        return set_error(static_cast<qs_status>(e.code()), e.what());
    } catch (const std::bad_alloc&) {
        return set_error(QS_ERR_OUT_OF_MEMORY, "out of memory");
    } catch (const std::exception& e) {
        return set_error(QS_ERR_INTERNAL, std::string("internal error: ") + e.what());
    } catch (...) {
        return set_error(QS_ERR_INTERNAL, "internal error: unknown exception");
    }
}

static_assert(static_cast<int>(qstore::Errc::internal) == QS_ERR_INTERNAL, "status codes must match");
static_assert(static_cast<int>(qstore::Errc::truncated) == QS_ERR_TRUNCATED, "status codes must match");
static_assert(static_cast<int>(qstore::DType::f8_e5m2) == QS_DTYPE_F8_E5M2, "dtype codes must match");
static_assert(static_cast<int>(qstore::SchemeId::int8_row) == QS_LOW_INT8_ROW, "scheme codes must match");
static_assert(static_cast<int>(qstore::SchemeId::fp8_e5m2_tensor) == QS_LOW_FP8_E5M2_TENSOR, "scheme codes must match");

bool valid_tensor(const qs_file* f, size_t index) { return f && index < f->reader.tensor_count(); }

}  // namespace

extern "C" {

unsigned qs_version_number(void) { return QS_VERSION_NUMBER; }
const char* qs_version_string(void) { return qstore::version_string(); }

const char* qs_status_string(qs_status status) {
    switch (status) {
        case QS_OK: return "ok";
        case QS_ERR_INVALID_ARGUMENT: return "invalid argument";
        case QS_ERR_IO: return "input/output error";
        case QS_ERR_NOT_QSTORE: return "not a qstore file";
        case QS_ERR_UNSUPPORTED: return "unsupported format version or feature";
        case QS_ERR_CORRUPT: return "corrupt file";
        case QS_ERR_TRUNCATED: return "truncated file";
        case QS_ERR_NOT_FOUND: return "tensor not found";
        case QS_ERR_BUFFER_TOO_SMALL: return "buffer too small";
        case QS_ERR_OUT_OF_MEMORY: return "out of memory";
        case QS_ERR_NOT_AVAILABLE: return "not available for this tensor";
        case QS_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char* qs_last_error_message(void) { return g_last_error.c_str(); }

qs_open_options qs_open_options_default(void) {
    qs_open_options o;
    std::memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.num_threads = 0;
    o.verify_checksums = 1;
    return o;
}

qs_status qs_open(const char* path, qs_file** out) { return qs_open_ex(path, nullptr, out); }

qs_status qs_open_ex(const char* path, const qs_open_options* options, qs_file** out) {
    if (out) *out = nullptr;
    if (!path || !out) return set_error(QS_ERR_INVALID_ARGUMENT, "qs_open: path and out must not be NULL");
    qs_open_options o = qs_open_options_default();
    if (options) {
        if (options->struct_size < sizeof(size_t) + sizeof(uint32_t))
            return set_error(QS_ERR_INVALID_ARGUMENT, "qs_open_ex: options.struct_size is not set");
        o.num_threads = options->num_threads;
        if (options->struct_size >= sizeof(qs_open_options))
            for (uint8_t b : options->reserved)
                if (b != 0) return set_error(QS_ERR_INVALID_ARGUMENT, "qs_open_ex: options.reserved must be zero");
        if (options->struct_size >= offsetof(qs_open_options, verify_checksums) + sizeof(int))
            o.verify_checksums = options->verify_checksums;
    }
    return guarded([&] {
        qstore::ReaderOptions ro;
        ro.threads = o.num_threads;
        ro.verify_checksums = o.verify_checksums != 0;
        *out = new qs_file(path, ro);
    });
}

void qs_close(qs_file* file) { delete file; }

size_t qs_tensor_count(const qs_file* file) { return file ? file->reader.tensor_count() : 0; }

qs_status qs_tensor_info_get(const qs_file* file, size_t index, qs_tensor_info* info) {
    if (!valid_tensor(file, index) || !info)
        return set_error(QS_ERR_INVALID_ARGUMENT, "qs_tensor_info_get: NULL argument or index out of range");
    // Callers built against 1.0 pass the 1.0 struct (up to low_codes_are_raw); the
    // fields added since are filled only when they fit.
    const size_t size_1_0 = offsetof(qs_tensor_info, low_codes_are_raw) + sizeof(int);
    if (info->struct_size < size_1_0)
        return set_error(QS_ERR_INVALID_ARGUMENT, "qs_tensor_info_get: info.struct_size must be sizeof(qs_tensor_info)");
    return guarded([&] {
        const qstore::Reader& r = file->reader;
        const qstore::TensorRecord& t = r.tensor(index);
        info->name = t.name.c_str();
        info->ndim = static_cast<uint32_t>(t.shape.size());
        for (size_t d = 0; d < QS_MAX_DIMS; ++d) info->shape[d] = d < t.shape.size() ? t.shape[d] : 0;
        info->num_elements = t.elements();
        info->high_dtype = static_cast<qs_dtype>(t.high_dtype);
        info->low_scheme = t.quantized() ? static_cast<qs_low_scheme>(t.low[0].id) : QS_LOW_PASSTHROUGH;
        info->low_dtype = t.quantized() ? static_cast<qs_dtype>(t.scheme(0).code_dtype())
                                        : static_cast<qs_dtype>(t.high_dtype);
        info->high_bytes = r.high_bytes(t);
        info->low_code_bytes = r.low_code_bytes(t);
        info->low_scale_bytes = r.low_scale_bytes(t);
        info->stored_low_bytes = r.stored_bytes(t, 0);
        info->stored_residual_bytes = t.quantized() ? r.stored_bytes(t, t.top_level()) : 0;
        info->low_codes_are_raw = r.low_codes_raw(t) ? 1 : 0;
        auto fits = [&](size_t end) { return info->struct_size >= end; };
        if (fits(offsetof(qs_tensor_info, num_levels) + sizeof(uint32_t)))
            info->num_levels = static_cast<uint32_t>(t.levels.size());
        if (fits(offsetof(qs_tensor_info, low_group_size) + sizeof(uint32_t)))
            info->low_group_size = t.quantized() ? t.low[0].group : 0;
        if (fits(offsetof(qs_tensor_info, low_scale_dtype) + sizeof(qs_dtype)))
            info->low_scale_dtype =
                t.quantized() ? static_cast<qs_dtype>(t.scheme(0).scale_dtype()) : QS_DTYPE_UNKNOWN;
        if (fits(offsetof(qs_tensor_info, low_zero_point_bytes) + sizeof(uint64_t)))
            info->low_zero_point_bytes = r.level_zero_point_bytes(t, 0);
    });
}

qs_status qs_level_info_get(const qs_file* file, size_t index, uint32_t level, qs_level_info* info) {
    if (!valid_tensor(file, index) || !info)
        return set_error(QS_ERR_INVALID_ARGUMENT, "qs_level_info_get: NULL argument or index out of range");
    // Every size from 1.1's on: later 1.x versions only append fields, and a caller gets
    // those its struct_size covers (a newer caller's extra fields are left as they are).
    const size_t size_1_1 = offsetof(qs_level_info, stored_bytes) + sizeof(uint64_t);
    if (info->struct_size < size_1_1)
        return set_error(QS_ERR_INVALID_ARGUMENT,
                         "qs_level_info_get: info.struct_size must be at least the 1.1 sizeof(qs_level_info)");
    const qstore::Reader& r = file->reader;
    const qstore::TensorRecord& t = r.tensor(index);
    if (level >= t.levels.size())
        return set_error(QS_ERR_INVALID_ARGUMENT, r.path() + ": tensor '" + t.name + "': level " +
                                                      std::to_string(level) + " does not exist (it has " +
                                                      std::to_string(t.levels.size()) + ")");
    return guarded([&] {
        const bool low = t.quantized() && level < t.top_level();
        qs_level_info out{};
        out.struct_size = info->struct_size;
        out.scheme = low ? static_cast<qs_low_scheme>(t.low[level].id) : QS_LOW_PASSTHROUGH;
        out.group_size = low ? t.low[level].group : 0;
        out.code_dtype = low ? static_cast<qs_dtype>(t.scheme(level).code_dtype()) : static_cast<qs_dtype>(t.high_dtype);
        out.scale_dtype = low ? static_cast<qs_dtype>(t.scheme(level).scale_dtype()) : QS_DTYPE_UNKNOWN;
        out.code_bytes = low ? r.level_code_bytes(t, level) : r.high_bytes(t);
        out.scale_bytes = low ? r.level_scale_bytes(t, level) : 0;
        out.zero_point_bytes = low ? r.level_zero_point_bytes(t, level) : 0;
        out.stored_bytes = r.stored_bytes(t, level);
        std::memcpy(info, &out, std::min(info->struct_size, sizeof out));
    });
}

qs_status qs_load_level(qs_file* file, size_t index, uint32_t level, void* codes, size_t codes_size, void* scales,
                        size_t scales_size, void* zero_points, size_t zero_points_size) {
    if (!valid_tensor(file, index)) return set_error(QS_ERR_INVALID_ARGUMENT, "qs_load_level: NULL file or index out of range");
    const qstore::TensorRecord& t = file->reader.tensor(index);
    if (level >= t.levels.size())
        return set_error(QS_ERR_INVALID_ARGUMENT, file->reader.path() + ": tensor '" + t.name + "': level " +
                                                      std::to_string(level) + " does not exist (it has " +
                                                      std::to_string(t.levels.size()) + ")");
    return guarded([&] {
        if (level == t.levels.size() - 1) file->reader.load_high(index, codes, codes_size);
        else file->reader.load_level(index, level, codes, codes_size, scales, scales_size, zero_points, zero_points_size);
    });
}

qs_status qs_find_tensor(const qs_file* file, const char* name, size_t* index) {
    if (!file || !name || !index) return set_error(QS_ERR_INVALID_ARGUMENT, "qs_find_tensor: NULL argument");
    size_t i = file->reader.find(name);
    if (i == SIZE_MAX) return set_error(QS_ERR_NOT_FOUND, file->reader.path() + ": no tensor named '" + name + "'");
    *index = i;
    g_last_error.clear();
    return QS_OK;
}

qs_status qs_load_low(qs_file* file, size_t index, void* codes, size_t codes_size, void* scales, size_t scales_size) {
    if (!valid_tensor(file, index)) return set_error(QS_ERR_INVALID_ARGUMENT, "qs_load_low: NULL file or index out of range");
    return guarded([&] { file->reader.load_low(index, codes, codes_size, scales, scales_size); });
}

qs_status qs_view_low(qs_file* file, size_t index, const void** codes, const void** scales) {
    if (!valid_tensor(file, index) || !codes)
        return set_error(QS_ERR_INVALID_ARGUMENT, "qs_view_low: NULL argument or index out of range");
    return guarded([&] { file->reader.view_low(index, codes, scales); });
}

qs_status qs_load_high(qs_file* file, size_t index, void* out, size_t out_size) {
    if (!valid_tensor(file, index)) return set_error(QS_ERR_INVALID_ARGUMENT, "qs_load_high: NULL file or index out of range");
    return guarded([&] { file->reader.load_high(index, out, out_size); });
}

qs_status qs_load_high_many(qs_file* file, size_t count, const size_t* indices, void* const* outs,
                            const size_t* out_sizes) {
    if (!file || (count && (!indices || !outs || !out_sizes)))
        return set_error(QS_ERR_INVALID_ARGUMENT, "qs_load_high_many: NULL argument");
    for (size_t k = 0; k < count; ++k)
        if (indices[k] >= file->reader.tensor_count())
            return set_error(QS_ERR_INVALID_ARGUMENT, "qs_load_high_many: index out of range");
    return guarded([&] {
        const qstore::Reader& r = file->reader;
        r.for_each_parallel(
            count, [&](size_t k) { return r.high_bytes(r.tensor(indices[k])); },
            [&](size_t k) { r.load_high(indices[k], outs[k], out_sizes[k]); });
    });
}

qs_status qs_load_low_many(qs_file* file, size_t count, const size_t* indices, void* const* codes,
                           const size_t* codes_sizes, void* const* scales, const size_t* scales_sizes) {
    if (!file || (count && (!indices || !codes || !codes_sizes || !scales || !scales_sizes)))
        return set_error(QS_ERR_INVALID_ARGUMENT, "qs_load_low_many: NULL argument");
    for (size_t k = 0; k < count; ++k)
        if (indices[k] >= file->reader.tensor_count())
            return set_error(QS_ERR_INVALID_ARGUMENT, "qs_load_low_many: index out of range");
    return guarded([&] {
        const qstore::Reader& r = file->reader;
        r.for_each_parallel(
            count,
            [&](size_t k) {
                const qstore::TensorRecord& t = r.tensor(indices[k]);
                return r.low_code_bytes(t) + r.low_scale_bytes(t);
            },
            [&](size_t k) { r.load_low(indices[k], codes[k], codes_sizes[k], scales[k], scales_sizes[k]); });
    });
}

qs_status qs_verify(qs_file* file) {
    if (!file) return set_error(QS_ERR_INVALID_ARGUMENT, "qs_verify: NULL file");
    return guarded([&] { file->reader.verify(); });
}

}  // extern "C"
