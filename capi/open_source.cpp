// Opening from memory (qs_open_memory_e) and from a read-at callback (qs_open_source_e).
#include <memory>
#include <string>

#include "callback_source.hpp"
#include "file_handle.hpp"

using qstore_capi::guarded;
using qstore_capi::report;

namespace {

// The callback source of `source`; calls source.release itself when the source cannot be made.
std::unique_ptr<qstore_capi::CallbackSource> make_callback_source(const qs_source& source) {
    try {
        return std::make_unique<qstore_capi::CallbackSource>(source, source.name ? source.name : "<source>");
    } catch (...) {
        if (source.release) source.release(source.user_data);
        throw;
    }
}

}  // namespace

extern "C" {

qs_status qs_open_source_e(const qs_source* source, const qs_open_options* options, qs_file** out, qs_error* err) {
    if (out) *out = nullptr;
    if (!source) return report(err, QS_ERR_INVALID_ARGUMENT, "qs_open_source_e: source must not be NULL");
    if (source->struct_size < sizeof(qs_source))
        return report(err, QS_ERR_INVALID_ARGUMENT, "qs_open_source_e: source.struct_size must be sizeof(qs_source)");
    qs_source s = *source;
    auto release_now = [&](qs_status status) {
        if (s.release) s.release(s.user_data);
        return status;
    };
    if (!out || !s.read_at)
        return release_now(report(err, QS_ERR_INVALID_ARGUMENT, "qs_open_source_e: out and read_at must not be NULL"));
    qstore::ReaderOptions ro;
    qs_status status = QS_OK;
    if (!qstore_capi::reader_options(options, "qs_open_source_e", err, &ro, &status)) return release_now(status);
    return guarded(err, [&] { *out = new qs_file(std::unique_ptr<qstore::ByteSource>(make_callback_source(s)), ro); });
}

qs_status qs_open_memory_e(const void* data, size_t size, const qs_open_options* options, qs_file** out,
                           qs_error* err) {
    if (out) *out = nullptr;
    if ((!data && size) || !out)
        return report(err, QS_ERR_INVALID_ARGUMENT, "qs_open_memory_e: data and out must not be NULL");
    qstore::ReaderOptions ro;
    qs_status status = QS_OK;
    if (!qstore_capi::reader_options(options, "qs_open_memory_e", err, &ro, &status)) return status;
    return guarded(err, [&] {
        *out = new qs_file(std::unique_ptr<qstore::ByteSource>(std::make_unique<qstore::MemorySource>(data, size, "<memory>")), ro);
    });
}

}  // extern "C"
