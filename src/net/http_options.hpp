// How qstore talks to a web server: connections, retries, timeouts, credentials and
// the local cache. Defaults suit a model hub; the environment can set the token, the
// cache folder and the stall timeout (from_environment).
#pragma once

#include <string>

namespace qstore::net {

struct HttpOptions {
    unsigned connections = 4;         // parallel connections of one batch of ranges
    unsigned max_attempts = 5;        // tries of one request: the first and the retries
    unsigned first_backoff_ms = 100;  // wait before the first retry, doubled after each
    unsigned max_backoff_ms = 4000;
    unsigned connect_timeout_s = 15;
    unsigned stall_timeout_s = 30;    // a transfer that receives nothing this long is retried
    std::string token;                // bearer token sent as Authorization; empty = none
    std::string cache_dir;            // folder of cached ranges; empty = no cache

    // Defaults, then: the token from QSTORE_HTTP_TOKEN, else HF_TOKEN; the cache folder
    // from QSTORE_HTTP_CACHE; the stall timeout (seconds) from QSTORE_HTTP_TIMEOUT.
    static HttpOptions from_environment();
};

}  // namespace qstore::net
