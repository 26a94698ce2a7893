// XXH3-64 (Debian's libxxhash) is the checksum of every section and every part.
#pragma once

#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <new>

namespace qstore {

inline uint64_t checksum(const void* data, size_t size) { return XXH3_64bits(data, size); }

// Incremental form, for sections written as a stream.
class Checksummer {
public:
    // XXH3_createState mallocs and returns null when that fails.
    Checksummer() : state_(XXH3_createState()) {
        if (!state_) throw std::bad_alloc();
        XXH3_64bits_reset(state_);
    }
    ~Checksummer() { XXH3_freeState(state_); }
    Checksummer(const Checksummer&) = delete;
    Checksummer& operator=(const Checksummer&) = delete;
    void update(const void* data, size_t size) { XXH3_64bits_update(state_, data, size); }
    uint64_t digest() const { return XXH3_64bits_digest(state_); }

private:
    XXH3_state_t* state_;
};

}  // namespace qstore
