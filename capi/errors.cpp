// qs_error, the thread-local message, and the fixed status strings.
#include "errors.hpp"

#include <string>

namespace qstore_capi {

namespace {
thread_local std::string g_last_error;  // per thread, like errno; never shared
}  // namespace

qs_status report(qs_error* err, qs_status status, const std::string& message) {
    try {
        if (err) {
            err->status = status;
            err->message = message;
        } else {
            g_last_error = message;
        }
    } catch (const std::bad_alloc&) {
        // The status still says what happened; the message stays as it was.
        if (err) err->status = status;
    }
    return status;
}

qs_status report_ok(qs_error* err) {
    if (err) {
        err->status = QS_OK;
        err->message.clear();
    } else {
        g_last_error.clear();
    }
    return QS_OK;
}

const char* thread_message() { return g_last_error.c_str(); }

}  // namespace qstore_capi

extern "C" {

const char* qs_last_error_message(void) { return qstore_capi::thread_message(); }

qs_error* qs_error_new(void) { return new (std::nothrow) qs_error(); }
void qs_error_free(qs_error* err) { delete err; }
qs_status qs_error_status(const qs_error* err) { return err ? err->status : QS_ERR_INVALID_ARGUMENT; }
const char* qs_error_message(const qs_error* err) { return err ? err->message.c_str() : ""; }

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

}  // extern "C"
