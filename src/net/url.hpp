// URLs as qstore handles them: telling a URL from a path, and naming a URL in
// messages without its credentials.
#pragma once

#include <string>

namespace qstore::net {

// True for "http://..." and "https://..." (case-insensitive scheme).
bool is_http_url(const std::string& s);

// The URL as messages show it: no user:password@ and no query string (signed URLs
// carry their tokens there), e.g. "https://host/org/model.qs".
std::string redact_url(const std::string& url);

// "scheme://host[:port]" in lower case, userinfo removed: requests carry the bearer
// token only to the origin the user named.
std::string url_origin(const std::string& url);

}  // namespace qstore::net
