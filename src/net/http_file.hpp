// A file on a web server, read by byte ranges (HTTP Range requests over libcurl).
// Opening makes one request for the first bytes of the file, which pins what later
// requests rely on: the file's size, its validators (ETag / Last-Modified, sent with
// every later request so that a file replaced on the server fails instead of mixing
// versions) and the URL after redirects (later requests go there directly). Each
// request is retried with exponential backoff after a server error (5xx, 429), a
// timeout or a dropped connection; a response that is not exactly the bytes asked for
// is an error, never partial data. Thread-safe: many threads may read at once.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "net/curl_library.hpp"
#include "net/http_options.hpp"
#include "net/range_transfer.hpp"

namespace qstore::net {

// Bytes [begin, end) of the file, to be written to dst.
struct RangeRead {
    uint64_t begin = 0, end = 0;
    uint8_t* dst = nullptr;
};

// Requests made and body bytes received, retries included.
struct HttpStats {
    uint64_t requests = 0;
    uint64_t bytes = 0;
};

class HttpFile {
public:
    // Opens `url` with one request for its first `first_bytes` bytes (fewer if the file
    // is shorter), which are kept: first_chunk(). Errc::io naming the URL (without its
    // credentials) when the server refuses or does not serve ranges.
    HttpFile(const std::string& url, const HttpOptions& options, uint64_t first_bytes);
    HttpFile(const HttpFile&) = delete;
    HttpFile& operator=(const HttpFile&) = delete;

    uint64_t size() const { return setup_.size; }
    // The URL without credentials, for messages.
    const std::string& name() const { return setup_.name; }
    const Validators& validators() const { return setup_.pinned; }
    const std::vector<uint8_t>& first_chunk() const { return first_; }
    // The opening request after its redirects (later requests go there).
    const std::string& final_url() const { return setup_.url; }
    const HttpOptions& options() const { return options_; }

    // One request for [offset, offset + n); the range must lie inside size().
    void read_at(uint64_t offset, uint8_t* dst, size_t n);
    // One request per range, up to options().connections at once.
    void read_ranges(const std::vector<RangeRead>& ranges);

    HttpStats stats() const { return {requests_.load(), bytes_.load()}; }

private:
    struct Job;
    void run(std::vector<Job>& jobs, bool opening);
    void check_range(uint64_t begin, uint64_t end) const;

    HttpOptions options_;
    TransferSetup setup_;
    std::string origin_;  // of the URL the user gave: the token goes only there
    struct ShareDeleter {
        void operator()(CURLSH* s) const { curl().share_cleanup(s); }
    };
    // The locks outlive the share (declared first): freed even when opening throws.
    std::mutex share_locks_[CURL_LOCK_DATA_LAST];
    std::unique_ptr<CURLSH, ShareDeleter> share_;
    std::vector<uint8_t> first_;
    std::atomic<uint64_t> requests_{0}, bytes_{0};
};

}  // namespace qstore::net
