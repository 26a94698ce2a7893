// The .qs file a command reads: a local path or, built with QSTORE_WITH_HTTP, an
// http(s):// URL read by range requests (net/http_source.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "read/fetch_plan.hpp"
#include "read/reader.hpp"

namespace qstore::net {
class HttpSource;
}

class Input {
public:
    // Bytes of a remote file fetched ahead at once while loading tensors.
    static constexpr uint64_t kBatchBytes = uint64_t{64} << 20;

    Input(const std::string& name, const qstore::ReaderOptions& options);
    ~Input();
    qstore::Reader& reader() { return *reader_; }
    bool remote() const { return http_ != nullptr; }

    // Runs body(i) for each i of `tensors`, in order, where body loads tensor i at
    // `level` (qstore::kHighLevel: the high precision). A remote file's bytes are fetched
    // ahead: with whole_levels, every level section up to `level` at once (the low model:
    // one request of the low prefix); otherwise the tensors' own parts, in batches of at
    // most kBatchBytes over parallel connections.
    void for_each(const std::vector<size_t>& tensors, size_t level, bool whole_levels,
                  const std::function<void(size_t)>& body);

private:
    std::unique_ptr<qstore::Reader> reader_;
    qstore::net::HttpSource* http_ = nullptr;  // the reader's source when remote
};
