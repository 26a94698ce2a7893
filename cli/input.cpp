#include "input.hpp"

#include "base/error.hpp"
#if QSTORE_WITH_HTTP
#include "net/http_source.hpp"
#include "net/url.hpp"
#endif

using namespace qstore;

Input::Input(const std::string& name, const ReaderOptions& options) {
#if QSTORE_WITH_HTTP
    if (net::is_http_url(name)) {
        reader_ = std::make_unique<Reader>(std::make_unique<net::HttpSource>(name, net::HttpOptions::from_environment(),
                                                                             net::HttpSource::kFirstChunk),
                                           options);
        return;
    }
#endif
    if (name.find("://") != std::string::npos)
        fail(Errc::unsupported, name.substr(0, name.find("://")) + " URLs are not supported" +
#if QSTORE_WITH_HTTP
                                    " (http:// and https:// are)"
#else
                                    " (this qstore was built without HTTP support: QSTORE_WITH_HTTP=OFF)"
#endif
        );
    reader_ = std::make_unique<Reader>(name, options);
}

void Input::for_each(const std::vector<size_t>& tensors, size_t level, bool whole_levels,
                     const std::function<void(size_t)>& body) {
    for_each_fetched(*reader_, tensors, level, whole_levels, [&](size_t begin, size_t end) {
        for (size_t k = begin; k < end; ++k) body(tensors[k]);
    });
}
