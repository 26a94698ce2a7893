#include "net/range_transfer.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "base/version.hpp"
#include "net/curl_library.hpp"

namespace qstore::net {

namespace {

std::string trim(const std::string& s) {
    size_t a = 0, b = s.size();
    while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
    while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
    return s.substr(a, b - a);
}

// The value of "Name: value" when the line's name is `name` (case-insensitive).
bool header_value(const std::string& line, const char* name, std::string& value) {
    const size_t n = std::strlen(name);
    if (line.size() <= n || line[n] != ':') return false;
    for (size_t i = 0; i < n; ++i)
        if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
    value = trim(line.substr(n + 1));
    return true;
}

bool parse_u64(const std::string& s, uint64_t& v) {
    if (s.empty() || s.size() > 19 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    v = std::stoull(s);
    return true;
}

// Failures of the connection rather than of the request: another try may succeed.
bool transient(CURLcode code) {
    switch (code) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_PARTIAL_FILE:
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_SSL_CONNECT_ERROR:
            return true;
        default:
            return false;
    }
}

}  // namespace

RangeTransfer::RangeTransfer(const TransferSetup& setup, uint64_t begin, uint64_t end, uint8_t* dst, bool opening)
    : setup_(setup), begin_(begin), end_(end), dst_(dst), opening_(opening), expected_(end - begin) {
    easy_ = curl().easy_init();
    if (!easy_) fail(Errc::out_of_memory, setup.name + ": cannot create a curl handle");
    const std::string range = std::to_string(begin) + "-" + std::to_string(end - 1);
    if (!setup.auth_header.empty()) headers_ = curl().slist_append(headers_, setup.auth_header.c_str());
    // A strong ETag is enforced with If-Match (412 when the file changed); a weak one
    // or a date with If-Range (200 with the whole file when it changed, refused below).
    const Validators& p = setup.pinned;
    if (!p.etag.empty() && p.etag.rfind("W/", 0) != 0)
        headers_ = curl().slist_append(headers_, ("If-Match: " + p.etag).c_str());
    else if (!p.etag.empty() || !p.last_modified.empty())
        headers_ = curl().slist_append(headers_, ("If-Range: " + (p.etag.empty() ? p.last_modified : p.etag)).c_str());
    const HttpOptions& o = *setup.options;
    const std::string agent = std::string("qstore/") + version_string();
    curl().easy_setopt(easy_, CURLOPT_URL, setup.url.c_str());
    curl().easy_setopt(easy_, CURLOPT_RANGE, range.c_str());
    curl().easy_setopt(easy_, CURLOPT_HTTPHEADER, headers_);
    curl().easy_setopt(easy_, CURLOPT_USERAGENT, agent.c_str());
    curl().easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl().easy_setopt(easy_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl().easy_setopt(easy_, CURLOPT_FOLLOWLOCATION, 1L);
    curl().easy_setopt(easy_, CURLOPT_MAXREDIRS, 10L);
    curl().easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
    curl().easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT, static_cast<long>(o.connect_timeout_s));
    curl().easy_setopt(easy_, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl().easy_setopt(easy_, CURLOPT_LOW_SPEED_TIME, static_cast<long>(o.stall_timeout_s));
    if (setup.share) curl().easy_setopt(easy_, CURLOPT_SHARE, setup.share);
    curl().easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &RangeTransfer::on_header);
    curl().easy_setopt(easy_, CURLOPT_HEADERDATA, this);
    curl().easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &RangeTransfer::on_body);
    curl().easy_setopt(easy_, CURLOPT_WRITEDATA, this);
}

RangeTransfer::~RangeTransfer() {
    curl().easy_cleanup(easy_);
    curl().slist_free_all(headers_);
}

std::string RangeTransfer::effective_url() const {
    char* url = nullptr;
    curl().easy_getinfo(easy_, CURLINFO_EFFECTIVE_URL, &url);
    return url ? url : setup_.url;
}

size_t RangeTransfer::on_header(char* data, size_t size, size_t count, void* self) {
    static_cast<RangeTransfer*>(self)->header_line(std::string(data, size * count));
    return size * count;
}

// Every response of a redirect chain starts with its status line: what the previous
// one said is forgotten there.
void RangeTransfer::header_line(const std::string& raw) {
    const std::string line = trim(raw);
    if (line.rfind("HTTP/", 0) == 0) {
        const size_t sp = line.find(' ');
        status_ = sp == std::string::npos ? 0 : std::atol(line.c_str() + sp + 1);
        content_range_.clear();
        seen_ = {};
        return;
    }
    std::string v;
    if (header_value(line, "content-range", v)) content_range_ = v;
    else if (header_value(line, "etag", v)) seen_.etag = v;
    else if (header_value(line, "last-modified", v)) seen_.last_modified = v;
}

size_t RangeTransfer::on_body(char* data, size_t size, size_t count, void* self_ptr) {
    auto* self = static_cast<RangeTransfer*>(self_ptr);
    const size_t n = size * count;
    if (!self->head_checked_) {
        if (self->check_head() != Head::ok) return 0;  // ends the transfer; finish() says why
        self->head_checked_ = true;
    }
    if (n > self->expected_ - self->received_) {
        self->fail_with("the server sent more bytes than its Content-Range announced");
        return 0;
    }
    std::memcpy(self->dst_ + self->received_, data, n);
    self->received_ += n;
    return n;
}

RangeTransfer::Head RangeTransfer::check_head() {
    if (status_ != 206) return Head::not_partial;
    if (validators_differ()) {
        fail_with("the file changed on the server since it was opened (its ETag or Last-Modified differs)");
        return Head::bad;
    }
    if (!check_content_range()) return Head::bad;
    return Head::ok;
}

// "bytes A-B/T" must name the bytes asked for and the size pinned at open (at open:
// from 0 up to the end asked for or the end of the file).
bool RangeTransfer::check_content_range() {
    const std::string& cr = content_range_;
    uint64_t a = 0, b = 0, t = 0;
    const size_t dash = cr.find('-'), slash = cr.find('/');
    const bool parsed = cr.rfind("bytes ", 0) == 0 && dash != std::string::npos && slash != std::string::npos &&
                        dash < slash && parse_u64(trim(cr.substr(6, dash - 6)), a) &&
                        parse_u64(cr.substr(dash + 1, slash - dash - 1), b) && parse_u64(cr.substr(slash + 1), t);
    const std::string asked = "bytes " + std::to_string(begin_) + "-" + std::to_string(end_ - 1);
    if (!parsed || b < a || b >= t) {
        fail_with("wrong Content-Range '" + cr + "' for a request of " + asked);
        return false;
    }
    if (opening_) {
        if (a != 0 || b + 1 != std::min(end_, t)) {
            fail_with("wrong Content-Range '" + cr + "' for a request of " + asked);
            return false;
        }
        total_ = t;
        expected_ = b + 1;
        return true;
    }
    if (t != setup_.size) {
        fail_with("the file changed on the server since it was opened (it is now " + std::to_string(t) +
                  " bytes, was " + std::to_string(setup_.size) + ")");
        return false;
    }
    if (a != begin_ || b + 1 != end_) {
        fail_with("wrong Content-Range '" + cr + "' for a request of " + asked);
        return false;
    }
    return true;
}

bool RangeTransfer::validators_differ() const {
    const Validators& p = setup_.pinned;
    return (!p.etag.empty() && !seen_.etag.empty() && p.etag != seen_.etag) ||
           (!p.last_modified.empty() && !seen_.last_modified.empty() && p.last_modified != seen_.last_modified);
}

Outcome RangeTransfer::fail_with(const std::string& why) {
    if (!failed_) message_ = why;
    failed_ = true;
    return Outcome::failed;
}

Outcome RangeTransfer::finish(CURLcode code) {
    if (failed_) return Outcome::failed;
    if (status_ == 0 || (status_ == 206 && code != CURLE_OK)) {
        if (code == CURLE_OK) return fail_with("no HTTP response");
        message_ = curl().easy_strerror(code);
        return transient(code) ? Outcome::retry : fail_with(message_);
    }
    return outcome_of_status(code);
}

Outcome RangeTransfer::outcome_of_status(CURLcode code) {
    const std::string http = "HTTP " + std::to_string(status_);
    if (status_ == 206) {
        if (!head_checked_ && check_head() != Head::ok) return Outcome::failed;  // an empty body
        if (received_ != expected_)
            return fail_with("truncated body: received " + std::to_string(received_) + " of " +
                             std::to_string(expected_) + " bytes");
        return Outcome::done;
    }
    if (status_ == 200) {
        if (validators_differ())
            return fail_with("the file changed on the server since it was opened (its ETag or Last-Modified differs)");
        return fail_with("the server ignored the Range header (it answered 200 with the whole file); qstore "
                         "reads files over HTTP only from servers that serve byte ranges");
    }
    if (status_ == 412 || (status_ == 416 && !opening_))
        return fail_with(http + ": the file changed on the server since it was opened");
    if (status_ == 416) return fail_with(http + ": the file is empty");
    if (status_ == 401 || status_ == 403)
        return fail_with(http + ": access denied (a token is read from QSTORE_HTTP_TOKEN or HF_TOKEN)");
    if (status_ == 404 || status_ == 410) return fail_with(http + ": not found");
    if (status_ == 408 || status_ == 429 || status_ >= 500) {
        message_ = http;
        return Outcome::retry;
    }
    if (status_ >= 300 && status_ < 400)
        return fail_with(http + (code == CURLE_TOO_MANY_REDIRECTS ? ": too many redirects" : ": a redirect without a target"));
    return fail_with(http);
}

}  // namespace qstore::net
