// An LSB-first bit stream: the bit order of the residual's extra bits (docs/FORMAT.md
// §7.5) and of rANS models (§6.4). Bits gather in a 64-bit accumulator that is stored
// whole at every step, with no branch, into memory the caller provides: kSlack bytes
// beyond the last byte of the stream may be written (and are then not part of it).
#pragma once

#include <cstdint>
#include <cstring>

namespace qstore {

class BitWriter {
public:
    static constexpr size_t kSlack = 8;
    explicit BitWriter(uint8_t* out) : p_(out) {}

    // Appends the `width` low bits of `value`, whose higher bits must be 0. The bits
    // not yet in whole bytes are fewer than 8, so width <= 56.
    void put(uint64_t value, int width) {
        acc_ |= value << fill_;
        fill_ += width;
        std::memcpy(p_, &acc_, 8);  // little-endian hosts only (docs/FORMAT.md §2)
        const int whole = fill_ >> 3;
        p_ += whole;
        acc_ >>= 8 * whole;
        fill_ &= 7;
    }
    // Ends the stream with zero bits up to a byte boundary; returns the end of its bytes.
    uint8_t* finish() {
        if (fill_ > 0) *p_++ = static_cast<uint8_t>(acc_);
        acc_ = 0;
        fill_ = 0;
        return p_;
    }

private:
    uint8_t* p_;
    uint64_t acc_ = 0;  // the bits not yet in whole bytes: fill_ (< 8) of them
    int fill_ = 0;
};

}  // namespace qstore
