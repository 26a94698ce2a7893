#include "net/url.hpp"

#include <algorithm>
#include <cctype>

namespace qstore::net {

namespace {

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// Offsets of the authority: after "://", up to the first '/', '?' or '#'.
struct Authority {
    size_t begin = std::string::npos, end = std::string::npos;
};

Authority authority_of(const std::string& url) {
    Authority a;
    const size_t scheme_end = url.find("://");
    if (scheme_end == std::string::npos) return a;
    a.begin = scheme_end + 3;
    a.end = url.find_first_of("/?#", a.begin);
    if (a.end == std::string::npos) a.end = url.size();
    return a;
}

}  // namespace

bool is_http_url(const std::string& s) {
    const std::string head = lower(s.substr(0, 8));
    return head.rfind("http://", 0) == 0 || head.rfind("https://", 0) == 0;
}

std::string redact_url(const std::string& url) {
    const Authority a = authority_of(url);
    if (a.begin == std::string::npos) return url.substr(0, url.find_first_of("?#"));
    std::string host = url.substr(a.begin, a.end - a.begin);
    const size_t at = host.rfind('@');
    if (at != std::string::npos) host = host.substr(at + 1);
    std::string rest = url.substr(a.end);
    rest = rest.substr(0, rest.find_first_of("?#"));
    return url.substr(0, a.begin) + host + rest;
}

std::string url_origin(const std::string& url) {
    const Authority a = authority_of(url);
    if (a.begin == std::string::npos) return "";
    std::string host = url.substr(a.begin, a.end - a.begin);
    const size_t at = host.rfind('@');
    if (at != std::string::npos) host = host.substr(at + 1);
    return lower(url.substr(0, a.begin) + host);
}

}  // namespace qstore::net
