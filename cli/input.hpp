// The .qs file a command reads: a local path or, built with QSTORE_WITH_HTTP, an
// http(s):// URL read by range requests (net/http_source.hpp).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "read/fetch_plan.hpp"
#include "read/reader.hpp"

class Input {
public:
    Input(const std::string& name, const qstore::ReaderOptions& options);
    qstore::Reader& reader() { return *reader_; }

    // Runs body(i) for each i of `tensors`, in order, where body loads tensor i at
    // `level` (qstore::kHighLevel: the high precision), with a remote file's bytes
    // fetched ahead (qstore::for_each_fetched): with whole_levels, every level section
    // up to `level` at once (the low model: one request of the low prefix); otherwise
    // the tensors' own parts, in batches.
    void for_each(const std::vector<size_t>& tensors, size_t level, bool whole_levels,
                  const std::function<void(size_t)>& body);

private:
    std::unique_ptr<qstore::Reader> reader_;
};
