// Where the C API reports the outcome of a call: into the caller's qs_error when one is
// given (the 1.4 `_e` functions), else into the calling thread's message that
// qs_last_error_message() returns (the 1.0-1.3 functions and `_e` calls with err NULL).
// Every exception of the C++ core is caught here and becomes a status and a message.
#pragma once

#include <new>
#include <string>

#include "base/error.hpp"
#include "qstore/qstore.h"

struct qs_error {
    qs_status status = QS_OK;
    std::string message;
};

namespace qstore_capi {

// Records the failure `status` with `message` (err, or the thread's message) and returns it.
qs_status report(qs_error* err, qs_status status, const std::string& message);
// Records a success (status QS_OK, empty message) and returns QS_OK.
qs_status report_ok(qs_error* err);
const char* thread_message();

// Runs body(); reports QS_OK, or the status and message of the exception that left it.
template <class F>
qs_status guarded(qs_error* err, F&& body) {
    try {
        body();
        return report_ok(err);
    } catch (const qstore::Error& e) {
        return report(err, static_cast<qs_status>(e.code()), e.what());
    } catch (const std::bad_alloc&) {
        return report(err, QS_ERR_OUT_OF_MEMORY, "out of memory");
    } catch (const std::exception& e) {
        return report(err, QS_ERR_INTERNAL, std::string("internal error: ") + e.what());
    } catch (...) {
        return report(err, QS_ERR_INTERNAL, "internal error: unknown exception");
    }
}

}  // namespace qstore_capi
