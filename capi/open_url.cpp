// Opening a .qs file over HTTP (qs_open_url_e): the Reader reads a net::HttpSource.
#include <memory>
#include <string>

#include "file_handle.hpp"
#if QSTORE_WITH_HTTP
#include "net/http_source.hpp"
#include "net/url.hpp"
#endif

using qstore_capi::guarded;
using qstore_capi::report;

extern "C" {

qs_status qs_open_url_e(const char* url, const qs_open_options* options, qs_file** out, qs_error* err) {
    if (out) *out = nullptr;
    if (!url || !out) return report(err, QS_ERR_INVALID_ARGUMENT, "qs_open_url_e: url and out must not be NULL");
    qstore::ReaderOptions ro;
    qs_status status = QS_OK;
    if (!qstore_capi::reader_options(options, "qs_open_url_e", err, &ro, &status)) return status;
#if QSTORE_WITH_HTTP
    const std::string u = url;
    if (!qstore::net::is_http_url(u))
        return report(err, QS_ERR_UNSUPPORTED,
                      "qs_open_url_e: " + qstore::net::redact_url(u) + ": not an http:// or https:// URL");
    return guarded(err, [&] {
        auto source = std::make_unique<qstore::net::HttpSource>(u, qstore::net::HttpOptions::from_environment(),
                                                                qstore::net::HttpSource::kFirstChunk);
        *out = new qs_file(std::unique_ptr<qstore::ByteSource>(std::move(source)), ro);
    });
#else
    return report(err, QS_ERR_UNSUPPORTED,
                  "qs_open_url_e: this libqstore was built without HTTP support (QSTORE_WITH_HTTP=OFF)");
#endif
}

}  // extern "C"
