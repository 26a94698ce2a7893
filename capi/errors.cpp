// qs_error and where a C API call reports its outcome (capi/errors.hpp). The thread's
// message is the one qs_last_error_message() returns (capi/qstore_c.cpp).
#include "errors.hpp"

#include <string>

namespace qstore_capi {

namespace {
thread_local std::string g_last_error;  // per thread, like errno; never shared
}  // namespace

std::string& thread_message_buffer() { return g_last_error; }

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

qs_error* qs_error_new(void) { return new (std::nothrow) qs_error(); }
void qs_error_free(qs_error* err) { delete err; }
qs_status qs_error_status(const qs_error* err) { return err ? err->status : QS_ERR_INVALID_ARGUMENT; }
const char* qs_error_message(const qs_error* err) { return err ? err->message.c_str() : ""; }

}  // extern "C"
