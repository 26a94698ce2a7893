#include "io/byte_source.hpp"

#include <algorithm>
#include <cstring>

#include "base/checksum.hpp"
#include "base/error.hpp"
#include "base/reusable_bytes.hpp"

namespace qstore {

void ByteSource::check_range(uint64_t offset, uint64_t n) const {
    if (offset > size() || n > size() - offset) fail(Errc::internal, name() + ": read beyond the end of the file");
}

uint64_t ByteSource::checksum_at(uint64_t offset, uint64_t n) const {
    check_range(offset, n);
    constexpr size_t kPiece = size_t{1} << 20;
    ReusableBytes buffer;
    uint8_t* const piece = buffer.reserve(static_cast<size_t>(std::min<uint64_t>(n, kPiece)));
    Checksummer sum;
    while (n > 0) {
        const size_t k = static_cast<size_t>(std::min<uint64_t>(n, kPiece));
        read_at(offset, piece, k);
        sum.update(piece, k);
        offset += k;
        n -= k;
    }
    return sum.digest();
}

void MemorySource::read_at(uint64_t offset, uint8_t* dst, size_t n) const {
    check_range(offset, n);
    if (n) std::memcpy(dst, data_ + offset, n);
}

uint64_t MemorySource::checksum_at(uint64_t offset, uint64_t n) const {
    check_range(offset, n);
    return checksum(data_ + offset, static_cast<size_t>(n));
}

}  // namespace qstore
