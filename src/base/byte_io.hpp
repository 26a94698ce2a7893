// Little-endian encoding helpers and a bounds-checked reader for parsing untrusted
// bytes (file headers, the tensor index, stream tables). Every read past the end
// throws Errc::corrupt instead of touching memory it does not own.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace qstore {

// Appending to a byte vector: std::vector<uint8_t> or ByteVector (base/reusable_bytes.hpp).
template <class Bytes>
inline void put_u8(Bytes& out, uint8_t v) {
    out.push_back(v);
}
template <class Bytes>
inline void put_le(Bytes& out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
template <class Bytes>
inline void put_u16(Bytes& out, uint16_t v) {
    put_le(out, v, 2);
}
template <class Bytes>
inline void put_u32(Bytes& out, uint32_t v) {
    put_le(out, v, 4);
}
template <class Bytes>
inline void put_u64(Bytes& out, uint64_t v) {
    put_le(out, v, 8);
}
// LEB128: 7 bits per byte, low bits first, high bit = more bytes follow.
template <class Bytes>
inline void put_varint(Bytes& out, uint64_t v) {
    while (v >= 0x80) {
        out.push_back(static_cast<uint8_t>(v) | 0x80);
        v >>= 7;
    }
    out.push_back(static_cast<uint8_t>(v));
}
// Room for `more` bytes after the end of `out` without a reallocation. When it must
// grow, the capacity at least doubles: encoders append to buffers that are cleared and
// reused from block to block, and std::vector grows a cleared vector to exactly the
// size asked for, so every larger block would move the buffer to fresh memory, whose
// pages fault in again on first touch (microseconds per 4 KiB page).
template <class Bytes>
inline void reserve_more(Bytes& out, size_t more) {
    const size_t need = out.size() + more;
    if (need > out.capacity()) out.reserve(std::max(need, 2 * out.capacity()));
}
template <class Bytes>
inline void put_bytes(Bytes& out, const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    reserve_more(out, n);
    out.insert(out.end(), b, b + n);
}

inline uint64_t load_le(const uint8_t* p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
}
inline void store_le(uint8_t* p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

// Reads little-endian values and varints from a byte range; running past its end is
// Errc::corrupt, with a message naming what was read.
class ByteReader {
public:
    ByteReader(const uint8_t* data, size_t size, std::string what)
        : p_(data), end_(data + size), what_(std::move(what)) {}
    // The name is `context` + `part`, joined only if a read fails (decoders create a
    // reader per stream; most names would otherwise cost an allocation each time).
    // `context` must outlive the reader.
    ByteReader(const uint8_t* data, size_t size, const std::string& context, const char* part)
        : p_(data), end_(data + size), context_(&context), part_(part) {}

    size_t remaining() const { return static_cast<size_t>(end_ - p_); }
    bool at_end() const { return p_ == end_; }
    const uint8_t* position() const { return p_; }

    const uint8_t* take(size_t n) {
        if (n > remaining()) fail(Errc::corrupt, what() + " ends early");
        const uint8_t* at = p_;
        p_ += n;
        return at;
    }
    uint64_t le(int bytes) { return load_le(take(bytes), bytes); }
    uint8_t u8() { return *take(1); }
    uint16_t u16() { return static_cast<uint16_t>(le(2)); }
    uint32_t u32() { return static_cast<uint32_t>(le(4)); }
    uint64_t u64() { return le(8); }
    uint64_t varint() {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            uint8_t b = u8();
            v |= static_cast<uint64_t>(b & 0x7F) << shift;
            if (!(b & 0x80)) {
                if (shift == 63 && b > 1) break;
                return v;
            }
        }
        fail(Errc::corrupt, what() + ": malformed varint");
    }
    std::string string(size_t n) {
        const uint8_t* s = take(n);
        return std::string(reinterpret_cast<const char*>(s), n);
    }

private:
    std::string what() const { return context_ ? *context_ + part_ : what_; }
    const uint8_t* p_;
    const uint8_t* end_;
    std::string what_;
    const std::string* context_ = nullptr;
    const char* part_ = "";
};

}  // namespace qstore
