#include "net/http_options.hpp"

#include <cstdlib>
#include <string>

namespace qstore::net {

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

}  // namespace

HttpOptions HttpOptions::from_environment() {
    HttpOptions o;
    o.token = env("QSTORE_HTTP_TOKEN");
    if (o.token.empty()) o.token = env("HF_TOKEN");
    o.cache_dir = env("QSTORE_HTTP_CACHE");
    const std::string timeout = env("QSTORE_HTTP_TIMEOUT");
    if (!timeout.empty() && timeout.find_first_not_of("0123456789") == std::string::npos && timeout.size() < 6) {
        const unsigned long s = std::stoul(timeout);
        if (s > 0) o.stall_timeout_s = static_cast<unsigned>(s);
    }
    return o;
}

}  // namespace qstore::net
