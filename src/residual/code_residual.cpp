#include "residual/code_residual.hpp"

#include <array>

#include "base/byte_io.hpp"
#include "base/error.hpp"

namespace qstore {

namespace {
inline uint8_t zigzag8(uint8_t d) { return static_cast<uint8_t>((d << 1) ^ (static_cast<int8_t>(d) >> 7)); }
inline uint8_t unzigzag8(uint8_t z) { return static_cast<uint8_t>((z >> 1) ^ (0u - (z & 1u))); }

// The scheme's key maps as tables (no virtual call per element).
struct KeyTables {
    explicit KeyTables(const LowScheme& scheme) {
        for (int c = 0; c < 256; ++c) {
            key[c] = scheme.code_key(static_cast<uint8_t>(c));
            code[c] = scheme.code_from_key(static_cast<uint8_t>(c));
        }
    }
    uint8_t key[256];
    uint8_t code[256];
};
}  // namespace

void encode_code_residual_block(const uint8_t* codes, const uint8_t* predicted, const uint8_t* context, uint64_t n,
                                const LowScheme& scheme, RansEncodeScratch& scratch, ByteVector& out) {
    const KeyTables k(scheme);
    std::vector<uint8_t> z(n);
    std::array<std::array<uint64_t, 256>, kContextClasses> count{};
    for (uint64_t i = 0; i < n; ++i) {
        z[i] = zigzag8(static_cast<uint8_t>(k.key[codes[i]] - k.key[predicted[i]]));
        ++count[context[i]][z[i]];
    }
    uint16_t used = 0;
    std::array<RansModel, kContextClasses> models;
    for (int c = 0; c < kContextClasses; ++c) {
        uint64_t m = 0;
        for (uint64_t symbol_count : count[c]) m += symbol_count;
        if (m) used |= static_cast<uint16_t>(1u << c);
    }
    put_u16(out, used);
    for (int c = 0; c < kContextClasses; ++c)
        if (used & (1u << c)) {
            models[c] = rans_model(count[c]);
            rans_write_model(models[c], out);
        }
    rans_encode_payload(z.data(), context, n, models.data(), scratch, out);
}

void decode_code_residual_block(const uint8_t* blob, size_t size, const uint8_t* predicted, const uint8_t* context,
                                uint64_t n, const LowScheme& scheme, uint8_t* codes, RansTable* tables,
                                const std::string& what) {
    ByteReader r(blob, size, what, ": code residual header");
    const uint16_t used = r.u16();
    RansTableView views[kContextClasses];
    for (int c = 0; c < kContextClasses; ++c)
        if (used & (1u << c)) {
            tables[c].read(r, what);
            views[c] = tables[c].view();
        }
    // Every context class that occurs needs a model (one pass, before decoding).
    uint32_t present = 0;
    for (uint64_t i = 0; i < n; ++i) present |= 1u << (context[i] & 31);
    if (present & ~static_cast<uint32_t>(used)) fail(Errc::corrupt, what + ": code residual context without a model");
    const KeyTables k(scheme);
    const size_t payload = r.remaining();
    RansDecoder dec(r.take(payload), payload, what);
    uint32_t x[kRansLanes] = {dec.x[0], dec.x[1], dec.x[2], dec.x[3]};
    const uint8_t* p = dec.p;
    auto put = [&](uint64_t i, uint8_t z) {
        codes[i] = k.code[static_cast<uint8_t>(k.key[predicted[i]] + unzigzag8(z))];
    };
    uint64_t i = 0;
    // Groups of 4 (one symbol per lane) without the end check while the payload surely
    // holds their renormalization bytes.
    for (; i + kRansLanes <= n && dec.end - p >= kRansLanes * kRansMaxBytesPerStep; i += kRansLanes)
        for (int l = 0; l < kRansLanes; ++l)
            put(i + l, rans_decode_step_unchecked(x[l], p, views[context[i + l]]));
    for (; i < n; ++i) put(i, rans_decode_step(x[i % kRansLanes], p, dec.end, views[context[i]], what));
    dec.finish(x[0], x[1], x[2], x[3], p);
}

}  // namespace qstore
