#include "scheme_int8.hpp"

#include <cmath>

namespace qstore {

void Int8Scheme::quantize_row(const float* row, uint64_t n, float scale, uint8_t* codes) const {
    const float inv = scale > 0.0f ? 127.0f / scale : 0.0f;
    for (uint64_t c = 0; c < n; ++c) {
        const float v = row[c] * inv;
        int q;
        if (std::isnan(v)) q = 0;
        else if (v >= 127.0f) q = 127;
        else if (v <= -127.0f) q = -127;
        else q = static_cast<int>(std::nearbyint(v));
        codes[c] = static_cast<uint8_t>(static_cast<int8_t>(q));
    }
}

uint8_t Int8Scheme::context_of_code(uint8_t code) const {
    // Lower bound of |code| for each class; see the header.
    static const int kLow[kContextClasses] = {0, 1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128};
    const int v = static_cast<int8_t>(code);
    const int a = v < 0 ? -v : v;
    int c = 0;
    while (c + 1 < kContextClasses && a >= kLow[c + 1]) ++c;
    return static_cast<uint8_t>(c);
}

}  // namespace qstore
