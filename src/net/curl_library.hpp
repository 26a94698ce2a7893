// libcurl, loaded when the first URL is opened (dlopen) instead of linked: a process
// that never opens a URL (a pack, a local load) then does not load and relocate
// libcurl and the ~30 libraries it pulls in at start-up. The functions qstore calls,
// resolved once; curl_global_init has run when curl() returns.
#pragma once

#include <curl/curl.h>

namespace qstore::net {

struct CurlLibrary {
    decltype(&::curl_easy_strerror) easy_strerror;
    decltype(&::curl_easy_init) easy_init;
    decltype(&::curl_easy_setopt) easy_setopt;
    decltype(&::curl_easy_getinfo) easy_getinfo;
    decltype(&::curl_easy_cleanup) easy_cleanup;
    decltype(&::curl_slist_append) slist_append;
    decltype(&::curl_slist_free_all) slist_free_all;
    decltype(&::curl_multi_init) multi_init;
    decltype(&::curl_multi_add_handle) multi_add_handle;
    decltype(&::curl_multi_remove_handle) multi_remove_handle;
    decltype(&::curl_multi_perform) multi_perform;
    decltype(&::curl_multi_info_read) multi_info_read;
    decltype(&::curl_multi_poll) multi_poll;
    decltype(&::curl_multi_cleanup) multi_cleanup;
    decltype(&::curl_share_init) share_init;
    decltype(&::curl_share_setopt) share_setopt;
    decltype(&::curl_share_cleanup) share_cleanup;
};

// The library, loaded and initialised on the first call (thread-safe); Errc::io naming
// the reason if libcurl cannot be loaded or initialised (every call then fails alike).
const CurlLibrary& curl();

}  // namespace qstore::net
