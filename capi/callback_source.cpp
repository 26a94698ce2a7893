#include "callback_source.hpp"

#include "base/error.hpp"

namespace qstore_capi {

CallbackSource::~CallbackSource() {
    if (source_.release) source_.release(source_.user_data);
}

void CallbackSource::read_at(uint64_t offset, uint8_t* dst, size_t n) const {
    check_range(offset, n);
    if (n == 0) return;
    if (source_.read_at(source_.user_data, offset, dst, n) != 0)
        qstore::fail(qstore::Errc::io, name_ + ": cannot read " + std::to_string(n) + " bytes at offset " +
                                           std::to_string(offset) + " (read_at failed)");
}

}  // namespace qstore_capi
