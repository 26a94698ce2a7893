// The ByteSource of qs_open_source_e: reads through the caller's read_at callback and
// calls its release callback exactly once, when the source is destroyed.
#pragma once

#include <string>
#include <utility>

#include "io/byte_source.hpp"
#include "qstore/qstore.h"

namespace qstore_capi {

class CallbackSource final : public qstore::ByteSource {
public:
    // Takes over `source` (release is called by the destructor from now on).
    explicit CallbackSource(const qs_source& source, std::string name) : source_(source), name_(std::move(name)) {}
    ~CallbackSource() override;
    CallbackSource(const CallbackSource&) = delete;
    CallbackSource& operator=(const CallbackSource&) = delete;

    uint64_t size() const override { return source_.size; }
    const std::string& name() const override { return name_; }
    // Error(io) naming the source when read_at returns non-zero.
    void read_at(uint64_t offset, uint8_t* dst, size_t n) const override;

private:
    qs_source source_;
    std::string name_;
};

}  // namespace qstore_capi
