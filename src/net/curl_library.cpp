#include "net/curl_library.hpp"

#include <dlfcn.h>

#include <string>

#include "base/error.hpp"

namespace qstore::net {

namespace {

// The soname of libcurl's ABI 4 (every libcurl since 7.16).
constexpr const char* kSoname = "libcurl.so.4";

template <class F>
void resolve(void* handle, const char* name, F& f, std::string& missing) {
    f = reinterpret_cast<F>(::dlsym(handle, name));
    if (!f) missing += std::string(missing.empty() ? "" : ", ") + name;
}

// The library, or the reason it cannot be used.
struct Loaded {
    CurlLibrary api{};
    std::string problem;
};

Loaded load() {
    Loaded l;
    void* handle = ::dlopen(kSoname, RTLD_NOW | RTLD_LOCAL);  // never closed: curl keeps global state
    if (!handle) {
        const char* why = ::dlerror();
        l.problem = std::string("cannot load ") + kSoname + " (HTTP needs libcurl): " + (why ? why : "unknown error");
        return l;
    }
    CurlLibrary& c = l.api;
    std::string missing;
    decltype(&::curl_global_init) global_init = nullptr;
    resolve(handle, "curl_global_init", global_init, missing);
    resolve(handle, "curl_easy_strerror", c.easy_strerror, missing);
    resolve(handle, "curl_easy_init", c.easy_init, missing);
    resolve(handle, "curl_easy_setopt", c.easy_setopt, missing);
    resolve(handle, "curl_easy_getinfo", c.easy_getinfo, missing);
    resolve(handle, "curl_easy_cleanup", c.easy_cleanup, missing);
    resolve(handle, "curl_slist_append", c.slist_append, missing);
    resolve(handle, "curl_slist_free_all", c.slist_free_all, missing);
    resolve(handle, "curl_multi_init", c.multi_init, missing);
    resolve(handle, "curl_multi_add_handle", c.multi_add_handle, missing);
    resolve(handle, "curl_multi_remove_handle", c.multi_remove_handle, missing);
    resolve(handle, "curl_multi_perform", c.multi_perform, missing);
    resolve(handle, "curl_multi_info_read", c.multi_info_read, missing);
    resolve(handle, "curl_multi_poll", c.multi_poll, missing);
    resolve(handle, "curl_multi_cleanup", c.multi_cleanup, missing);
    resolve(handle, "curl_share_init", c.share_init, missing);
    resolve(handle, "curl_share_setopt", c.share_setopt, missing);
    resolve(handle, "curl_share_cleanup", c.share_cleanup, missing);
    if (!missing.empty()) {
        l.problem = std::string(kSoname) + " lacks functions qstore needs (libcurl too old?): " + missing;
        return l;
    }
    const CURLcode code = global_init(CURL_GLOBAL_DEFAULT);
    if (code != CURLE_OK) l.problem = std::string("cannot initialise libcurl: ") + c.easy_strerror(code);
    return l;
}

}  // namespace

const CurlLibrary& curl() {
    static const Loaded loaded = load();
    if (!loaded.problem.empty()) fail(Errc::io, loaded.problem);
    return loaded.api;
}

}  // namespace qstore::net
