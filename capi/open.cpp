// Opening and closing a qs_file, the open options, and the library version.
#include <cstddef>
#include <cstring>

#include "base/version.hpp"
#include "file_handle.hpp"

using qstore_capi::guarded;
using qstore_capi::report;

namespace {

static_assert(static_cast<int>(qstore::Errc::internal) == QS_ERR_INTERNAL, "status codes must match");
static_assert(static_cast<int>(qstore::Errc::truncated) == QS_ERR_TRUNCATED, "status codes must match");

}  // namespace

namespace qstore_capi {

// The reader options of `options` (NULL: the defaults); false after reporting a bad struct.
bool reader_options(const qs_open_options* options, const char* fn, qs_error* err, qstore::ReaderOptions* out,
                    qs_status* status) {
    qs_open_options o = qs_open_options_default();
    if (options) {
        if (options->struct_size < sizeof(size_t) + sizeof(uint32_t)) {
            *status = report(err, QS_ERR_INVALID_ARGUMENT, std::string(fn) + ": options.struct_size is not set");
            return false;
        }
        o.num_threads = options->num_threads;
        if (options->struct_size >= sizeof(qs_open_options))
            for (uint8_t b : options->reserved)
                if (b != 0) {
                    *status = report(err, QS_ERR_INVALID_ARGUMENT, std::string(fn) + ": options.reserved must be zero");
                    return false;
                }
        if (options->struct_size >= offsetof(qs_open_options, verify_checksums) + sizeof(int))
            o.verify_checksums = options->verify_checksums;
    }
    out->threads = o.num_threads;
    out->verify_checksums = o.verify_checksums != 0;
    return true;
}

}  // namespace qstore_capi

extern "C" {

unsigned qs_version_number(void) { return QS_VERSION_NUMBER; }
const char* qs_version_string(void) { return qstore::version_string(); }

qs_open_options qs_open_options_default(void) {
    qs_open_options o;
    std::memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.num_threads = 0;
    o.verify_checksums = 1;
    return o;
}

qs_status qs_open(const char* path, qs_file** out) { return qs_open_e(path, nullptr, out, nullptr); }

qs_status qs_open_ex(const char* path, const qs_open_options* options, qs_file** out) {
    return qs_open_e(path, options, out, nullptr);
}

qs_status qs_open_e(const char* path, const qs_open_options* options, qs_file** out, qs_error* err) {
    if (out) *out = nullptr;
    if (!path || !out) return report(err, QS_ERR_INVALID_ARGUMENT, "qs_open: path and out must not be NULL");
    qstore::ReaderOptions ro;
    qs_status status = QS_OK;
    if (!qstore_capi::reader_options(options, "qs_open_ex", err, &ro, &status)) return status;
    return guarded(err, [&] { *out = new qs_file(std::string(path), ro); });
}

void qs_close(qs_file* file) { delete file; }

}  // extern "C"
