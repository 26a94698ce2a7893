#include "code_residual.hpp"

#include <array>

#include "byte_io.hpp"
#include "error.hpp"

namespace qstore {

namespace {
inline uint8_t zigzag8(uint8_t d) { return static_cast<uint8_t>((d << 1) ^ (static_cast<int8_t>(d) >> 7)); }
inline uint8_t unzigzag8(uint8_t z) { return static_cast<uint8_t>((z >> 1) ^ (0u - (z & 1u))); }
}  // namespace

void encode_code_residual_block(const uint8_t* codes, const uint8_t* predicted, const uint8_t* context, uint64_t n,
                                const LowScheme& scheme, std::vector<uint8_t>& out) {
    std::vector<uint8_t> z(n);
    std::array<std::array<uint64_t, 256>, kContextClasses> count{};
    for (uint64_t i = 0; i < n; ++i) {
        z[i] = zigzag8(static_cast<uint8_t>(scheme.code_key(codes[i]) - scheme.code_key(predicted[i])));
        ++count[context[i]][z[i]];
    }
    uint16_t used = 0;
    std::array<RansModel, kContextClasses> models;
    for (int c = 0; c < kContextClasses; ++c) {
        uint64_t m = 0;
        for (uint64_t k : count[c]) m += k;
        if (m) used |= static_cast<uint16_t>(1u << c);
    }
    put_u16(out, used);
    for (int c = 0; c < kContextClasses; ++c)
        if (used & (1u << c)) {
            models[c] = rans_model(count[c]);
            rans_write_model(models[c], out);
        }
    rans_encode_payload(z.data(), context, n, models.data(), out);
}

void decode_code_residual_block(const uint8_t* blob, size_t size, const uint8_t* predicted, const uint8_t* context,
                                uint64_t n, const LowScheme& scheme, uint8_t* codes, RansTable* tables,
                                const std::string& what) {
    ByteReader r(blob, size, what + ": code residual header");
    const uint16_t used = r.u16();
    RansTableView views[kContextClasses];
    for (int c = 0; c < kContextClasses; ++c)
        if (used & (1u << c)) {
            tables[c].read(r, what);
            views[c] = tables[c].view();
        }
    const size_t payload = r.remaining();
    RansDecoder dec(r.take(payload), payload, what);
    uint32_t x[kRansLanes] = {dec.x[0], dec.x[1], dec.x[2], dec.x[3]};
    const uint8_t* p = dec.p;
    for (uint64_t i = 0; i < n; ++i) {
        if (!(used & (1u << context[i]))) fail(Errc::corrupt, what + ": code residual context without a model");
        const uint8_t z = rans_decode_step(x[i % kRansLanes], p, dec.end, views[context[i]], what);
        codes[i] = scheme.code_from_key(static_cast<uint8_t>(scheme.code_key(predicted[i]) + unzigzag8(z)));
    }
    dec.finish(x[0], x[1], x[2], x[3], p);
}

}  // namespace qstore
