// Loads of whole tensors (one, several, any level), the zero-copy view, and qs_verify.
#include <cstddef>
#include <vector>

#include "file_handle.hpp"
#include "read/fetch_plan.hpp"

using qstore_capi::guarded;
using qstore_capi::report;
using qstore_capi::valid_tensor;

extern "C" {

qs_status qs_load_level(qs_file* file, size_t index, uint32_t level, void* codes, size_t codes_size, void* scales,
                        size_t scales_size, void* zero_points, size_t zero_points_size) {
    return qs_load_level_e(file, index, level, codes, codes_size, scales, scales_size, zero_points,
                           zero_points_size, nullptr);
}

qs_status qs_load_level_e(qs_file* file, size_t index, uint32_t level, void* codes, size_t codes_size,
                          void* scales, size_t scales_size, void* zero_points, size_t zero_points_size,
                          qs_error* err) {
    if (!valid_tensor(file, index))
        return report(err, QS_ERR_INVALID_ARGUMENT, "qs_load_level: NULL file or index out of range");
    const qstore::TensorRecord& t = file->reader.tensor(index);
    if (level >= t.levels.size())
        return report(err, QS_ERR_INVALID_ARGUMENT, qstore_capi::missing_level(file->reader, t, level));
    return guarded(err, [&] {
        if (level == t.levels.size() - 1) file->reader.load_high(index, codes, codes_size);
        else file->reader.load_level(index, level, codes, codes_size, scales, scales_size, zero_points, zero_points_size);
    });
}

qs_status qs_load_low(qs_file* file, size_t index, void* codes, size_t codes_size, void* scales, size_t scales_size) {
    return qs_load_low_e(file, index, codes, codes_size, scales, scales_size, nullptr);
}

qs_status qs_load_low_e(qs_file* file, size_t index, void* codes, size_t codes_size, void* scales,
                        size_t scales_size, qs_error* err) {
    if (!valid_tensor(file, index))
        return report(err, QS_ERR_INVALID_ARGUMENT, "qs_load_low: NULL file or index out of range");
    return guarded(err, [&] { file->reader.load_low(index, codes, codes_size, scales, scales_size); });
}

qs_status qs_view_low(qs_file* file, size_t index, const void** codes, const void** scales) {
    return qs_view_low_e(file, index, codes, scales, nullptr);
}

qs_status qs_view_low_e(qs_file* file, size_t index, const void** codes, const void** scales, qs_error* err) {
    if (!valid_tensor(file, index) || !codes)
        return report(err, QS_ERR_INVALID_ARGUMENT, "qs_view_low: NULL argument or index out of range");
    return guarded(err, [&] { file->reader.view_low(index, codes, scales); });
}

qs_status qs_load_high(qs_file* file, size_t index, void* out, size_t out_size) {
    return qs_load_high_e(file, index, out, out_size, nullptr);
}

qs_status qs_load_high_e(qs_file* file, size_t index, void* out, size_t out_size, qs_error* err) {
    if (!valid_tensor(file, index))
        return report(err, QS_ERR_INVALID_ARGUMENT, "qs_load_high: NULL file or index out of range");
    return guarded(err, [&] { file->reader.load_high(index, out, out_size); });
}

qs_status qs_load_high_many(qs_file* file, size_t count, const size_t* indices, void* const* outs,
                            const size_t* out_sizes) {
    return qs_load_high_many_e(file, count, indices, outs, out_sizes, nullptr);
}

qs_status qs_load_high_many_e(qs_file* file, size_t count, const size_t* indices, void* const* outs,
                              const size_t* out_sizes, qs_error* err) {
    if (!file || (count && (!indices || !outs || !out_sizes)))
        return report(err, QS_ERR_INVALID_ARGUMENT, "qs_load_high_many: NULL argument");
    for (size_t k = 0; k < count; ++k)
        if (indices[k] >= file->reader.tensor_count())
            return report(err, QS_ERR_INVALID_ARGUMENT, "qs_load_high_many: index out of range");
    return guarded(err, [&] {
        const qstore::Reader& r = file->reader;
        // A remote file's bytes are fetched ahead in batches (read/fetch_plan.hpp).
        const std::vector<size_t> order(indices, indices + count);
        qstore::for_each_fetched(r, order, qstore::kHighLevel, false, [&](size_t begin, size_t end) {
            r.for_each_parallel(
                end - begin, [&](size_t k) { return r.high_bytes(r.tensor(indices[begin + k])); },
                [&](size_t k) { r.load_high(indices[begin + k], outs[begin + k], out_sizes[begin + k]); });
        });
    });
}

qs_status qs_load_low_many(qs_file* file, size_t count, const size_t* indices, void* const* codes,
                           const size_t* codes_sizes, void* const* scales, const size_t* scales_sizes) {
    return qs_load_low_many_e(file, count, indices, codes, codes_sizes, scales, scales_sizes, nullptr);
}

qs_status qs_load_low_many_e(qs_file* file, size_t count, const size_t* indices, void* const* codes,
                             const size_t* codes_sizes, void* const* scales, const size_t* scales_sizes,
                             qs_error* err) {
    if (!file || (count && (!indices || !codes || !codes_sizes || !scales || !scales_sizes)))
        return report(err, QS_ERR_INVALID_ARGUMENT, "qs_load_low_many: NULL argument");
    for (size_t k = 0; k < count; ++k)
        if (indices[k] >= file->reader.tensor_count())
            return report(err, QS_ERR_INVALID_ARGUMENT, "qs_load_low_many: index out of range");
    return guarded(err, [&] {
        const qstore::Reader& r = file->reader;
        const std::vector<size_t> order(indices, indices + count);
        qstore::for_each_fetched(r, order, 0, false, [&](size_t begin, size_t end) {
            r.for_each_parallel(
                end - begin,
                [&](size_t k) {
                    const qstore::TensorRecord& t = r.tensor(indices[begin + k]);
                    return r.low_code_bytes(t) + r.low_scale_bytes(t);
                },
                [&](size_t k) {
                    const size_t j = begin + k;
                    r.load_low(indices[j], codes[j], codes_sizes[j], scales[j], scales_sizes[j]);
                });
        });
    });
}

qs_status qs_verify(qs_file* file) { return qs_verify_e(file, nullptr); }

qs_status qs_verify_e(qs_file* file, qs_error* err) {
    if (!file) return report(err, QS_ERR_INVALID_ARGUMENT, "qs_verify: NULL file");
    return guarded(err, [&] { file->reader.verify(); });
}

}  // extern "C"
