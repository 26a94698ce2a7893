// One HTTP range GET on its own curl easy handle: bytes [begin, end) of the file into
// dst. The response is checked before its first byte is written: status 206, a
// Content-Range naming exactly the bytes asked for and the file's size, and the
// validators (ETag, Last-Modified) pinned when the file was opened. The body must be
// exactly that long. Anything else is a retry (a server error, a timeout, a dropped
// connection) or a failure with a message naming the URL without its credentials.
#pragma once

#include <curl/curl.h>

#include <cstdint>
#include <string>

#include "base/error.hpp"
#include "net/http_options.hpp"

namespace qstore::net {

// What identifies one version of the file on the server.
struct Validators {
    std::string etag;           // as sent, quotes included; empty if none
    std::string last_modified;  // HTTP date; empty if none
};

// What every request for one file shares.
struct TransferSetup {
    std::string url;          // requested: the URL after open's redirects
    std::string name;         // the URL as messages name it (redact_url)
    std::string auth_header;  // "Authorization: Bearer ..." or empty
    Validators pinned;        // empty for the opening request
    uint64_t size = 0;        // the file's size, learnt at open
    CURLSH* share = nullptr;  // connection cache shared by the file's requests
    const HttpOptions* options = nullptr;
};

enum class Outcome { done, retry, failed };

class RangeTransfer {
public:
    // opening: the first request of a file, which learns its size and validators; it
    // asks for [0, end) and accepts less when the file is shorter.
    RangeTransfer(const TransferSetup& setup, uint64_t begin, uint64_t end, uint8_t* dst, bool opening);
    ~RangeTransfer();
    RangeTransfer(const RangeTransfer&) = delete;
    RangeTransfer& operator=(const RangeTransfer&) = delete;

    CURL* easy() const { return easy_; }
    // After curl ended the transfer with `code`: done, worth a retry, or failed; message()
    // says why for the last two.
    Outcome finish(CURLcode code);
    const std::string& message() const { return message_; }

    uint64_t received() const { return received_; }
    // What the opening request learnt.
    uint64_t total_size() const { return total_; }
    const Validators& validators() const { return seen_; }
    std::string effective_url() const;

private:
    enum class Head { ok, not_partial, bad };
    static size_t on_header(char* data, size_t size, size_t count, void* self);
    static size_t on_body(char* data, size_t size, size_t count, void* self);
    void header_line(const std::string& line);
    Head check_head();
    bool check_content_range();
    bool validators_differ() const;
    Outcome fail_with(const std::string& why);
    Outcome outcome_of_status(CURLcode code);

    const TransferSetup& setup_;
    const uint64_t begin_, end_;
    uint8_t* const dst_;
    const bool opening_;
    CURL* easy_ = nullptr;
    curl_slist* headers_ = nullptr;
    long status_ = 0;
    std::string content_range_;
    Validators seen_;
    bool head_checked_ = false;
    bool failed_ = false;  // the body was refused for a reason in message_
    uint64_t expected_ = 0, received_ = 0, total_ = 0;
    std::string message_;
};

}  // namespace qstore::net
