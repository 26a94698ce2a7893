#include "input.hpp"

#include "base/error.hpp"
#if QSTORE_WITH_HTTP
#include "net/http_source.hpp"
#include "net/url.hpp"
#endif

using namespace qstore;

namespace {

bool looks_like_url(const std::string& name) { return name.find("://") != std::string::npos; }

#if QSTORE_WITH_HTTP
std::vector<net::ByteSpan> byte_spans(const std::vector<FileSpan>& spans) {
    std::vector<net::ByteSpan> out;
    for (const FileSpan& s : spans) out.push_back({s.begin, s.end});
    return out;
}
#endif

}  // namespace

Input::Input(const std::string& name, const ReaderOptions& options) {
#if QSTORE_WITH_HTTP
    if (net::is_http_url(name)) {
        auto source = std::make_unique<net::HttpSource>(name, net::HttpOptions::from_environment(),
                                                        net::HttpSource::kFirstChunk);
        http_ = source.get();
        reader_ = std::make_unique<Reader>(std::move(source), options);
        return;
    }
#endif
    if (looks_like_url(name))
        fail(Errc::unsupported, name.substr(0, name.find("://")) + " URLs are not supported" +
#if QSTORE_WITH_HTTP
                                    " (http:// and https:// are)"
#else
                                    " (this qstore was built without HTTP support: QSTORE_WITH_HTTP=OFF)"
#endif
        );
    reader_ = std::make_unique<Reader>(name, options);
}

Input::~Input() = default;

void Input::for_each(const std::vector<size_t>& tensors, size_t level, bool whole_levels,
                     const std::function<void(size_t)>& body) {
#if QSTORE_WITH_HTTP
    if (http_) {
        if (whole_levels) {
            http_->hold(byte_spans(level_spans(*reader_, level)), false);
            for (size_t i : tensors) body(i);
            http_->release();
            return;
        }
        for (const auto& batch : fetch_batches(*reader_, tensors, level, kBatchBytes)) {
            std::vector<FileSpan> spans;
            for (size_t i : batch)
                for (const FileSpan& s : tensor_spans(*reader_, i, level)) spans.push_back(s);
            http_->hold(byte_spans(spans), true);
            for (size_t i : batch) body(i);
            http_->release();
        }
        return;
    }
#endif
    (void)level;
    (void)whole_levels;
    for (size_t i : tensors) body(i);
}
