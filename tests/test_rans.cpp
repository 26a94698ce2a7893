// Tests of the interleaved word-rANS token coder (src/rans_word.*), the token -> z
// kernels (src/rans_tokens.*) and both residual block layouts (docs/FORMAT.md §7.6):
//   - round trips for every lane count (4, 8, 16, 32, 64) and every tail length, random
//     symbol distributions, contexts and model scales, decoded in pieces;
//   - the scalar, AVX2 and AVX-512 kernels (those this CPU runs) give the same bytes,
//     on valid and on damaged input (the same symbols, or all throw);
//   - 4-lane byte-rANS blocks of format 1.0 (built here from the spec by an independent
//     encoder) still decode, at every size;
//   - truncated or damaged payloads, tables and blocks throw qstore::Error with
//     Errc::corrupt, never crash.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "base/byte_io.hpp"
#include "fixtures.hpp"
#include "base/error.hpp"
#include "base/float_bits.hpp"
#include "base/float_env.hpp"
#include "schemes/registry.hpp"
#include "schemes/scheme.hpp"
#include "entropy/rans.hpp"
#include "entropy/rans_tokens.hpp"
#include "entropy/rans_word.hpp"
#include "residual/high_residual.hpp"

using qstore::DType;
using qstore::Errc;
using qstore::KernelSet;
using qs_test::Decoding;
using qs_test::decoding_name;
using qs_test::decodings;
using qs_test::kernel_sets;
using qs_test::thrown_code;

namespace {


// A random model at scale `scale` over `alphabet` symbols (some possibly unused), with
// frequencies drawn from a random shape.
qstore::RansModel random_model(std::mt19937_64& rng, int scale, int alphabet, int shape) {
    std::array<uint64_t, 256> w{};
    const int offset = static_cast<int>(rng() % static_cast<uint64_t>(257 - alphabet));
    for (int k = 0; k < alphabet; ++k) {
        uint64_t v = 0;
        switch (shape) {
            case 0: v = 1; break;                                         // uniform
            case 1: v = uint64_t(1) << std::max(0, 20 - k); break;        // geometric
            case 2: v = (rng() % 3 == 0) ? 0 : 1 + rng() % 1000; break;   // random, holes
            default: v = k == 0 ? 1000000 : 1; break;                     // one dominant symbol
        }
        w[offset + k] = v;
    }
    if (std::all_of(w.begin(), w.end(), [](uint64_t v) { return v == 0; })) w[offset] = 1;
    // Scale the weights to 2^scale with every used symbol >= 1 (as rans_model does).
    qstore::RansModel m;
    m.scale_bits = scale;
    const uint64_t total = uint64_t(1) << scale;
    int used = 0;
    for (uint64_t v : w) used += v != 0;
    if (used > static_cast<int>(total)) {  // too many symbols for the scale: keep the first `total`
        int kept = 0;
        for (auto& v : w)
            if (v && ++kept > static_cast<int>(total)) v = 0;
    }
    uint64_t sum = 0;
    for (uint64_t v : w) sum += v;
    uint64_t acc = 0;
    int last = -1;
    for (int s = 0; s < 256; ++s) {
        if (!w[s]) continue;
        m.freq[s] = static_cast<uint32_t>(std::max<uint64_t>(1, w[s] * total / sum));
        acc += m.freq[s];
        last = s;
    }
    // Fix the sum on the largest frequencies.
    while (acc != total) {
        int best = last;
        for (int s = 0; s < 256; ++s)
            if (m.freq[s] > m.freq[best]) best = s;
        if (acc < total) {
            m.freq[best] += static_cast<uint32_t>(total - acc);
            acc = total;
        } else {
            const uint64_t cut = std::min<uint64_t>(acc - total, m.freq[best] - 1);
            m.freq[best] -= static_cast<uint32_t>(cut);
            acc -= cut;
        }
    }
    uint32_t st = 0;
    for (int s = 0; s < 256; ++s) {
        m.start[s] = st;
        st += m.freq[s];
    }
    return m;
}

// Symbols drawn from a model.
uint8_t draw(std::mt19937_64& rng, const qstore::RansModel& m) {
    const uint32_t r = static_cast<uint32_t>(rng() & ((1u << m.scale_bits) - 1));
    for (int s = 0; s < 256; ++s)
        if (r >= m.start[s] && r < m.start[s] + m.freq[s]) return static_cast<uint8_t>(s);
    return 0;
}

struct Case {
    std::vector<qstore::RansModel> models = std::vector<qstore::RansModel>(16);
    uint16_t used = 0;
    int scale = 0;
    std::vector<uint8_t> ctx, sym;
    qstore::ByteVector payload, table_bytes;
};

Case make_case(std::mt19937_64& rng, size_t n, int lanes) {
    Case c;
    const int contexts = 1 + static_cast<int>(rng() % 16);
    for (int k = 0; k < contexts; ++k) {
        const int ctx = static_cast<int>(rng() % 16);
        if (c.used & (1u << ctx)) continue;
        c.used |= static_cast<uint16_t>(1u << ctx);
        const int scale = 1 + static_cast<int>(rng() % 12);
        const int alphabet = 1 + static_cast<int>(rng() % 256);
        c.models[ctx] = random_model(rng, scale, alphabet, static_cast<int>(rng() % 4));
        c.scale = std::max(c.scale, scale);
    }
    std::vector<int> live;
    for (int k = 0; k < 16; ++k)
        if (c.used & (1u << k)) live.push_back(k);
    c.ctx.resize(n);
    c.sym.resize(n);
    // Contexts in runs (as rows of codes give them) or shuffled.
    const bool runs = rng() % 2;
    int cur = live[0];
    for (size_t i = 0; i < n; ++i) {
        if (!runs || rng() % 37 == 0) cur = live[rng() % live.size()];
        c.ctx[i] = static_cast<uint8_t>(cur);
        c.sym[i] = draw(rng, c.models[cur]);
    }
    qstore::WordRansEncodeScratch scratch;
    qstore::word_rans_encode(qstore::kernel_set_detected(), c.sym.data(), c.ctx.data(), n, lanes, c.models.data(),
                             c.scale, scratch, c.payload);
    for (int k = 0; k < 16; ++k)
        if (c.used & (1u << k)) qstore::rans_write_model(c.models[k], c.table_bytes);
    return c;
}

// Decodes a payload with one kernel set, in pieces of `piece` symbols (a multiple of
// lanes); returns the symbols (throws on damage).
template <class Bytes>
std::vector<uint8_t> decode_with(const Case& c, const Bytes& payload, size_t n, int lanes, Decoding how,
                                 size_t piece) {
    static const std::string what = "test";
    qstore::WordRansTableStorage storage;
    qstore::ByteReader r(c.table_bytes.data(), c.table_bytes.size(), what);
    const auto table = qstore::word_rans_read_table(how.isa, r, c.used, storage, what);
    qstore::WordRansDecoder dec(payload.data(), payload.size(), lanes, what);
    std::vector<uint8_t> out(n + 64, 0xEE);
    for (size_t at = 0; at < n; at += piece) {
        const size_t m = std::min(piece, n - at);
        dec.decode(table, c.ctx.data() + at, m, out.data() + at, how.isa, how.lookup);
    }
    dec.finish();
    out.resize(n);
    return out;
}

}  // namespace

namespace {
bool same_model(const qstore::RansModel& a, const qstore::RansModel& b) {
    if (a.scale_bits != b.scale_bits || a.freq != b.freq) return false;
    int last = 0;
    for (int s = 0; s < 256; ++s)
        if (a.freq[s]) last = s + 1;
    if (b.symbols != last) return false;
    for (int s = 0; s < 256; ++s)
        if (a.freq[s] && a.start[s] != b.start[s]) return false;
    return true;
}
template <class Bytes = std::vector<uint8_t>>
qstore::RansModel read_model(const Bytes& bytes, size_t* used = nullptr) {
    qstore::ByteReader r(bytes.data(), bytes.size(), "model");
    const qstore::RansModel m = qstore::rans_read_model(r, "model");
    if (used) *used = bytes.size() - r.remaining();
    return m;
}
}  // namespace

TEST_CASE("rANS models: both syntaxes round trip at every scale and alphabet, and syntax 2 is smaller", "[rans]") {
    std::mt19937_64 rng(7);
    size_t bytes1 = 0, bytes2 = 0;
    for (int scale = 1; scale <= 12; ++scale)
        for (int alphabet : {1, 2, 3, 17, 100, 255, 256})
            for (int shape = 0; shape < 4; ++shape) {
                CAPTURE(scale, alphabet, shape);
                qstore::RansModel m = random_model(rng, scale, alphabet, shape);
                qstore::ByteVector v1, v2;
                qstore::rans_write_model_v1(m, v1);
                qstore::rans_write_model(m, v2);
                REQUIRE(v2[0] == (0x80 | scale));
                CHECK(same_model(m, read_model(v2)));  // ending at the buffer's end
                v2.push_back(0xEE);  // what follows the model is not read
                size_t used = 0;
                CHECK(same_model(m, read_model(v1)));
                CHECK(same_model(m, read_model(v2, &used)));
                CHECK(used == v2.size() - 1);
                bytes1 += v1.size();
                bytes2 += v2.size() - 1;
            }
    CHECK(bytes2 < bytes1 * 3 / 4);
}

TEST_CASE("rANS models: each frequency is the rounded share, the most frequent symbol absorbs the rounding",
          "[rans]") {
    // The definition, in 128-bit integers: freq = max(1, floor((count * total + n / 2) / n)),
    // then the difference to the total goes to the first most frequent symbol (and, while
    // it cannot take all of it without dropping below 1, to the next).
    auto reference = [](const std::array<uint64_t, 256>& count, int scale) {
        __extension__ unsigned __int128 n = 0;
        for (uint64_t c : count) n += c;
        const uint64_t total = uint64_t{1} << scale;
        std::array<uint32_t, 256> f{};
        int64_t sum = 0;
        for (int s = 0; s < 256; ++s)
            if (count[s]) {
                const auto q = static_cast<uint64_t>((count[s] * static_cast<decltype(n)>(total) + n / 2) / n);
                f[s] = static_cast<uint32_t>(std::max<uint64_t>(1, q));
                sum += f[s];
            }
        while (sum != static_cast<int64_t>(total)) {
            int best = -1;
            for (int s = 0; s < 256; ++s)
                if (f[s] > 1 || (sum < static_cast<int64_t>(total) && f[s]))
                    if (best < 0 || f[s] > f[best]) best = s;
            const int64_t change = std::max<int64_t>(static_cast<int64_t>(total) - sum, 1 - int64_t{f[best]});
            f[best] = static_cast<uint32_t>(f[best] + change);
            sum += change;
        }
        return f;
    };
    std::mt19937_64 rng(11);
    // Random histograms below and above 2^32 symbols in all (the models take different
    // division paths), many symbols rounded up to 1 (the most frequent then gives up
    // several units), ties for the most frequent.
    for (int trial = 0; trial < 3000; ++trial) {
        std::array<uint64_t, 256> count{};
        const int alphabet = 1 + static_cast<int>(rng() % 256);
        const int shift = trial % 3 == 0 ? 0 : trial % 3 == 1 ? static_cast<int>(rng() % 14) : 24 + static_cast<int>(rng() % 16);
        for (int k = 0; k < alphabet; ++k) {
            const int s = static_cast<int>(rng() % 256);
            count[s] = (rng() % 4 == 0) ? 1 : 1 + rng() % (uint64_t{1000} << shift);
        }
        if (trial % 7 == 0) count[3] = count[200] = 1000000;  // a tie
        // Room for every symbol present (the callers' scales always have it).
        const int min_scale = 64 - __builtin_clzll(static_cast<uint64_t>(alphabet)) + 1;
        const int max_scale = min_scale + static_cast<int>(rng() % static_cast<uint64_t>(13 - min_scale));
        CAPTURE(trial, alphabet, shift, max_scale);
        const qstore::RansModel m = qstore::rans_model(count, max_scale);
        REQUIRE(m.freq == reference(count, m.scale_bits));
        uint32_t start = 0;
        int last = 0;
        for (int s = 0; s < 256; ++s) {
            if (m.freq[s]) REQUIRE(m.start[s] == start);  // set for the symbols present
            start += m.freq[s];
            if (m.freq[s]) last = s + 1;
        }
        REQUIRE(start == (1u << m.scale_bits));
        REQUIRE(m.symbols == last);
    }
}

TEST_CASE("rANS models in syntax 2: truncation, padding and impossible values are corrupt", "[rans]") {
    std::mt19937_64 rng(8);
    const qstore::RansModel m = random_model(rng, 10, 60, 2);
    qstore::ByteVector v2;
    qstore::rans_write_model(m, v2);
    for (size_t cut = 0; cut < v2.size(); ++cut) {
        CAPTURE(cut);
        const std::vector<uint8_t> part(v2.begin(), v2.begin() + static_cast<std::ptrdiff_t>(cut));
        CHECK(thrown_code([&] { read_model(part); }) == Errc::corrupt);
    }
    // Every single-bit change is corrupt or another valid model; never anything else.
    for (size_t bit = 0; bit < 8 * v2.size(); ++bit) {
        std::vector<uint8_t> bad(v2.begin(), v2.end());
        bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
        const Errc e = thrown_code([&] { read_model(bad); });
        CHECK((e == Errc::corrupt || e == Errc::ok));
    }
    // The example of docs/FORMAT.md §6.4: S = 3, f[2] = f[3] = 4.
    {
        qstore::RansModel ex;
        ex.scale_bits = 3;
        ex.freq[2] = ex.freq[3] = 4;
        ex.start[3] = 4;
        qstore::ByteVector bytes;
        qstore::rans_write_model(ex, bytes);
        CHECK(std::vector<uint8_t>(bytes.begin(), bytes.end()) == std::vector<uint8_t>{0x83, 0xF2, 0x18});
        CHECK(same_model(ex, read_model(bytes)));
        CHECK(same_model(ex, read_model({0x03, 0x04, 0x00, 0x01, 0x04, 0x04})));  // its syntax-1 example
    }
    // Hand-made: scale 0 and 13 with the syntax-2 flag.
    CHECK(thrown_code([&] { read_model({0x80, 0x01}); }) == Errc::corrupt);
    CHECK(thrown_code([&] { read_model({0x8D, 0x01}); }) == Errc::corrupt);
    // Scale 1 (total 2), bits LSB-first: gamma(1) = "1", gamma(gap 1) = "1", k = 0 "000";
    // padding zero: 0b00011 -> one symbol 0 with frequency 2.
    const qstore::RansModel one = read_model({0x81, 0x03});
    CHECK(one.freq[0] == 2);
    CHECK(one.symbols == 1);
    CHECK(thrown_code([&] { read_model({0x81, 0x83}); }) == Errc::corrupt);  // a padding bit set
    // Three symbols in a total of 2: gamma(3) = "011" ("0" then "1" then bit "1").
    CHECK(thrown_code([&] { read_model({0x81, 0x06, 0xFF}); }) == Errc::corrupt);
    // Symbol 0 then a gap of 256: beyond 255.
    {
        std::vector<uint8_t> out;
        out.push_back(0x8C);  // scale 12
        // gamma(2) = "010" (zero, one, low bit 0), gamma(1) = "1", gamma(256) = 8 zeros, one, 8 zero bits.
        const std::string bits = std::string("010") + "1" + "00000000" + "1" + "00000000" + "000" + "0";
        uint8_t acc = 0;
        int fill = 0;
        for (char c : bits) {
            acc |= static_cast<uint8_t>((c == '1') << fill);
            if (++fill == 8) {
                out.push_back(acc);
                acc = 0;
                fill = 0;
            }
        }
        if (fill) out.push_back(acc);
        CHECK(thrown_code([&] { read_model(out); }) == Errc::corrupt);
    }
}

TEST_CASE("word rANS round trip: every lane count, every tail, random distributions", "[rans]") {
    std::mt19937_64 rng(42);
    std::vector<qstore::WordRansEncodeScratch> reused(3);  // by kernel set
    for (int lanes : {4, 8, 16, 32, 64}) {
        std::vector<size_t> sizes;
        for (size_t k = 0; k < 3 * static_cast<size_t>(lanes) + 1; ++k) sizes.push_back(k);  // every tail, small
        for (size_t tail = 0; tail < static_cast<size_t>(lanes); ++tail) sizes.push_back(4096 + tail);
        sizes.push_back(70001);
        for (size_t n : sizes) {
            const Case c = make_case(rng, n, lanes);
            CAPTURE(lanes, n, c.scale, c.used);
            REQUIRE(c.payload.size() >= 4u * lanes);
            const size_t piece = static_cast<size_t>(lanes) * (1 + rng() % 40);
            for (const Decoding& how : decodings()) {
                CAPTURE(decoding_name(how));
                const auto out = decode_with(c, c.payload, n, lanes, how, piece);
                REQUIRE(out == c.sym);
            }
            // The decoders take a context mod 16 (the kernels look up 4 bits), on every
            // kernel set alike.
            if (n % 7 == 0) {
                Case high = c;
                for (uint8_t& x : high.ctx) x = static_cast<uint8_t>(x | (rng() % 16) << 4);
                for (const Decoding& how : decodings()) {
                    CAPTURE(decoding_name(how));
                    REQUIRE(decode_with(high, high.payload, n, lanes, how, piece) == c.sym);
                }
            }
            // Encoding is deterministic: the same bytes from every kernel set (the
            // AVX-512 encoder takes the whole groups, the scalar loop the rest), with
            // working memory reused from case to case.
            for (KernelSet isa : kernel_sets()) {
                CAPTURE(qstore::kernel_set_name(isa));
                qstore::ByteVector again;
                qstore::word_rans_encode(isa, c.sym.data(), c.ctx.data(), n, lanes, c.models.data(), c.scale,
                                         reused[static_cast<size_t>(isa)], again);
                REQUIRE(again == c.payload);
            }
            // A null context is context 0 for every symbol.
            if (c.used == 1) {
                qstore::ByteVector no_ctx;
                qstore::word_rans_encode(qstore::kernel_set_detected(), c.sym.data(), nullptr, n, lanes,
                                         c.models.data(), c.scale, reused[0], no_ctx);
                REQUIRE(no_ctx == c.payload);
            }
        }
    }
}

TEST_CASE("word rANS streams of one model: the same bytes on every kernel set, every symbol value, every tail",
          "[rans]") {
    // The AVX-512 encoder looks a one-model stream's entries up by permutes over the
    // symbol's bits (no contexts): symbols of every value, narrow and wide spreads.
    std::mt19937_64 rng(4242);
    std::vector<qstore::WordRansEncodeScratch> reused(3);  // by kernel set
    std::vector<size_t> sizes;
    for (size_t base : {size_t{4096}, qstore::kWordStream32Lanes, qstore::kWordStream64Lanes})
        for (size_t tail : {size_t{0}, size_t{1}, size_t{15}, size_t{17}, size_t{63}}) sizes.push_back(base + tail);
    for (size_t n : sizes) {
        for (int spread : {0, 2, 16, 256}) {
            std::vector<uint8_t> data(n);
            for (size_t i = 0; i < n; ++i)
                data[i] = static_cast<uint8_t>(spread == 0 ? 5 + (i % 2) : 200 + rng() % static_cast<uint64_t>(spread));
            if (spread == 256)
                for (int v = 0; v < 256; ++v) data[static_cast<size_t>(v) * 13 % n] = static_cast<uint8_t>(v);
            CAPTURE(n, spread);
            std::vector<qstore::ByteVector> outs;
            for (KernelSet isa : kernel_sets()) {
                CAPTURE(qstore::kernel_set_name(isa));
                outs.emplace_back();
                qstore::word_rans_encode_stream(isa, data.data(), n, reused[static_cast<size_t>(isa)], outs.back());
                REQUIRE(outs.back() == outs.front());
            }
            for (const Decoding& how : decodings()) {
                CAPTURE(decoding_name(how));
                std::vector<uint8_t> back(n);
                qstore::WordRansTableStorage storage;
                qstore::word_rans_decode_stream(how.isa, how.lookup, outs.front().data(), outs.front().size(),
                                                back.data(), n, storage, "test");
                REQUIRE(back == data);
            }
        }
    }
    // A symbol without frequency in a one-model stream is refused by every kernel set.
    std::array<qstore::RansModel, 16> models{};
    models[0].scale_bits = 4;
    models[0].freq[7] = 10;
    models[0].freq[200] = 6;
    models[0].start[200] = 10;
    models[0].symbols = 201;
    for (KernelSet isa : kernel_sets()) {
        CAPTURE(qstore::kernel_set_name(isa));
        qstore::WordRansEncodeScratch scratch;
        for (size_t bad_at : {size_t{0}, size_t{4095}}) {
            std::vector<uint8_t> sym(4096, 7);
            sym[200] = 200;
            sym[bad_at] = 199;  // frequency 0
            qstore::ByteVector out;
            CHECK(thrown_code([&] {
                      qstore::word_rans_encode(isa, sym.data(), nullptr, sym.size(), 16, models.data(), 4, scratch, out);
                  }) == Errc::internal);
        }
    }
}

TEST_CASE("word rANS encoder refuses a symbol without frequency and a context out of range, on every kernel set",
          "[rans]") {
    std::array<qstore::RansModel, 16> models{};
    models[0].scale_bits = 4;
    models[0].freq[7] = 10;
    models[0].freq[9] = 6;
    models[0].start[9] = 10;
    for (KernelSet isa : kernel_sets()) {
        CAPTURE(qstore::kernel_set_name(isa));
        qstore::WordRansEncodeScratch scratch;
        for (size_t n : {size_t{5}, size_t{4096}}) {  // the scalar loop only; the vector kernel too
            for (size_t bad_at : {size_t{0}, n - 1}) {
                CAPTURE(n, bad_at);
                std::vector<uint8_t> sym(n, 7), ctx(n, 0);
                qstore::ByteVector out;
                sym[bad_at] = 8;  // frequency 0
                CHECK(thrown_code([&] {
                          qstore::word_rans_encode(isa, sym.data(), ctx.data(), n, 16, models.data(), 4, scratch, out);
                      }) ==
                      Errc::internal);
                CHECK(thrown_code([&] {
                          qstore::word_rans_encode(isa, sym.data(), nullptr, n, 16, models.data(), 4, scratch, out);
                      }) ==
                      Errc::internal);
                sym[bad_at] = 9;
                ctx[bad_at] = 16;
                CHECK(thrown_code([&] {
                          qstore::word_rans_encode(isa, sym.data(), ctx.data(), n, 16, models.data(), 4, scratch, out);
                      }) ==
                      Errc::internal);
                ctx[bad_at] = 0;
                out.clear();
                qstore::word_rans_encode(isa, sym.data(), ctx.data(), n, 16, models.data(), 4, scratch, out);  // now valid
                CHECK(out.size() >= 64);
            }
        }
    }
}

TEST_CASE("word rANS codes within 0.5% of byte rANS on a skewed source", "[rans]") {
    // The word coder's models are the byte coder's; its only costs are the larger lane
    // count (about 3 bytes per lane) and 16-bit renormalization.
    std::mt19937_64 rng(7);
    Case c = make_case(rng, 0, 4);
    const size_t n = 1 << 18;
    std::array<uint64_t, 256> count{};
    std::vector<uint8_t> sym(n), ctx(n, 0);
    for (auto& s : sym) {
        const double u = std::uniform_real_distribution<double>(0, 1)(rng);
        s = static_cast<uint8_t>(std::min(63.0, -std::log(1 - u) * 3));
        ++count[s];
    }
    std::vector<qstore::RansModel> models(16);
    models[0] = qstore::rans_model(count);
    qstore::ByteVector byte_payload, word_payload;
    qstore::RansEncodeScratch byte_scratch;
    qstore::WordRansEncodeScratch word_scratch;
    qstore::rans_encode_payload(sym.data(), ctx.data(), n, models.data(), byte_scratch, byte_payload);
    qstore::word_rans_encode(qstore::kernel_set_detected(), sym.data(), ctx.data(), n, 64, models.data(),
                             models[0].scale_bits, word_scratch, word_payload);
    CAPTURE(byte_payload.size(), word_payload.size());
    CHECK(double(word_payload.size()) < 1.005 * double(byte_payload.size()));
}

TEST_CASE("word rANS kernels agree on damaged payloads, damage gives Errc::corrupt", "[rans]") {
    std::mt19937_64 rng(99);
    int threw = 0;
    for (int lanes : {4, 8, 16, 32, 64}) {
        for (int round = 0; round < 40; ++round) {
            const size_t n = 200 + rng() % 3000;
            const Case c = make_case(rng, n, lanes);
            std::vector<uint8_t> bad(c.payload.begin(), c.payload.end());
            const int flips = 1 + static_cast<int>(rng() % 3);
            for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
            if (rng() % 3 == 0) bad.resize(rng() % bad.size());  // and truncated
            if (rng() % 5 == 0) bad.push_back(0);                  // or longer
            std::vector<std::vector<uint8_t>> outs;
            std::vector<Errc> codes;
            for (const Decoding& how : decodings()) {
                std::vector<uint8_t> out;
                codes.push_back(thrown_code([&] { out = decode_with(c, bad, n, lanes, how, 2048); }));
                outs.push_back(out);
            }
            CAPTURE(lanes, n, round);
            for (size_t k = 1; k < codes.size(); ++k) {
                CHECK(codes[k] == codes[0]);
                CHECK(outs[k] == outs[0]);
            }
            CHECK((codes[0] == Errc::ok || codes[0] == Errc::corrupt));
            threw += codes[0] == Errc::corrupt;
        }
    }
    CHECK(threw > 100);  // the end check catches nearly all damage
}

TEST_CASE("word rANS: every truncation of a payload is corrupt", "[rans]") {
    std::mt19937_64 rng(5);
    for (int lanes : {4, 8, 16, 32, 64}) {
        const size_t n = 1000 + static_cast<size_t>(lanes) / 2;
        const Case c = make_case(rng, n, lanes);
        for (size_t cut = 0; cut < c.payload.size(); ++cut) {
            const std::vector<uint8_t> part(c.payload.begin(), c.payload.begin() + static_cast<ptrdiff_t>(cut));
            for (const Decoding& how : decodings())
                REQUIRE(thrown_code([&] { decode_with(c, part, n, lanes, how, 256); }) == Errc::corrupt);
        }
    }
}

TEST_CASE("word rANS: bad lane counts, bad states, bad tables", "[rans]") {
    static const std::string what = "test";
    const std::vector<uint8_t> zeros(256, 0);
    for (int lanes : {0, 1, 2, 3, 5, 6, 7, 12, 48, 128})
        CHECK(thrown_code([&] { qstore::WordRansDecoder d(zeros.data(), zeros.size(), lanes, what); }) ==
              Errc::corrupt);
    // Initial states below 2^16.
    CHECK(thrown_code([&] { qstore::WordRansDecoder d(zeros.data(), zeros.size(), 8, what); }) == Errc::corrupt);
    // Damaged model bytes.
    const std::vector<std::vector<uint8_t>> bad_tables = {
        {},                      // missing
        {0},                     // scale 0
        {13, 1, 1},              // scale 13
        {3, 2, 4},               // sum 4 of 8
        {3, 2, 9},               // above the total
        {3, 1, 0, 1},            // zero run too long
        {3, 0xFF, 0xFF, 0x03},   // too many symbols
    };
    for (const auto& t : bad_tables) {
        qstore::WordRansTableStorage storage;
        qstore::ByteReader r(t.data(), t.size(), what);
        CHECK(thrown_code([&] { qstore::word_rans_read_table(qstore::kernel_set_detected(), r, 1, storage, what); }) ==
              Errc::corrupt);
    }
    // A symbol in a context without a model decodes to token 255 (rejected by callers).
    qstore::WordRansTableStorage storage;
    std::vector<qstore::RansModel> models(16);
    models[3].scale_bits = 2;
    models[3].freq[7] = 4;
    const auto view = qstore::word_rans_build_table(qstore::kernel_set_detected(), models.data(), 1u << 3, storage);
    std::vector<uint8_t> payload(4 * 4 + 64, 0);
    for (int k = 0; k < 4; ++k) payload[4 * k + 2] = 1;  // states 2^16
    for (const Decoding& how : decodings()) {
        qstore::WordRansDecoder d(payload.data(), payload.size(), 4, what);
        const uint8_t ctx[4] = {3, 5, 3, 0};
        uint8_t out[4];
        d.decode(view, ctx, 4, out, how.isa, how.lookup);
        CHECK(out[0] == 7);
        CHECK(out[1] == 255);
        CHECK(out[3] == 255);
    }
}

namespace {

// Writes values LSB-first.
struct BitWriter {
    std::vector<uint8_t> bytes;
    uint64_t bits = 0;
    void put(uint32_t v, int n) {
        for (int k = 0; k < n; ++k, ++bits) {
            if (bits % 8 == 0) bytes.push_back(0);
            if ((v >> k) & 1) bytes.back() |= static_cast<uint8_t>(1u << (bits % 8));
        }
    }
};

// Token and extra bits of z (§7.5), straight from the spec.
void tokenize(uint32_t z, uint8_t& token, BitWriter& w) {
    if (z < 16) {
        token = static_cast<uint8_t>(z);
        return;
    }
    int e = 0;
    while ((uint64_t(1) << e) <= z) ++e;
    token = static_cast<uint8_t>(16 + 4 * (e - 5) + ((z >> (e - 3)) & 3));
    w.put(z & ((1u << (e - 3)) - 1), e - 3);
}

}  // namespace

TEST_CASE("word rANS tables: reused storage gives the table of fresh storage, on every kernel set", "[rans]") {
    // Storage is reused from block to block and section 0 (contexts without a model) is
    // refilled only where the previous table overwrote it: after tables of every scale
    // order, each table must equal one built in fresh storage, entry for entry.
    std::mt19937_64 rng(31);
    auto expected_entries = [](const qstore::WordRansTableView& v, uint16_t used, const qstore::RansModel* models) {
        // Context c's section (or section 0) as the format defines it (§7.6).
        std::vector<uint32_t> e;
        for (int c = 0; c < 16; ++c) {
            const uint32_t size = 1u << v.scale_bits;
            for (uint32_t slot = 0; slot < size; ++slot) {
                uint32_t entry = 255;  // symbol 255, bias 0, freq 1
                if (used & (1u << c)) {
                    const qstore::RansModel& m = models[c];
                    const int up = v.scale_bits - m.scale_bits;
                    int s = 0;
                    while (!((m.start[s] << up) <= slot && slot < ((m.start[s] + m.freq[s]) << up))) ++s;
                    entry = static_cast<uint32_t>(s) | (slot - (m.start[s] << up)) << 8 | ((m.freq[s] << up) - 1) << 20;
                }
                e.push_back(entry);
            }
        }
        return e;
    };
    auto actual_entries = [](const qstore::WordRansTableView& v) {
        std::vector<uint32_t> a;
        for (int c = 0; c < 16; ++c)
            for (uint32_t slot = 0; slot < (1u << v.scale_bits); ++slot) a.push_back(v.slots[v.base[c] + slot]);
        return a;
    };
    for (KernelSet isa : kernel_sets()) {
        qstore::WordRansTableStorage reused;
        for (int round = 0; round < 40; ++round) {
            const int scale = 2 + static_cast<int>(rng() % 11);  // 2..12, in random order
            std::vector<qstore::RansModel> models(16);
            uint16_t used = static_cast<uint16_t>(rng() | 1);
            for (int c = 0; c < 16; ++c)
                if (used & (1u << c))
                    models[c] = random_model(rng, 1 + static_cast<int>(rng() % scale), 1 + static_cast<int>(rng() % 200),
                                             static_cast<int>(rng() % 3));
            const auto view = qstore::word_rans_build_table(isa, models.data(), used, reused);
            qstore::WordRansTableStorage fresh;
            const auto fresh_view = qstore::word_rans_build_table(isa, models.data(), used, fresh);
            REQUIRE(view.scale_bits == fresh_view.scale_bits);
            // The AVX2 decoder looks a context's base up as k << S, k <= 16.
            for (int c = 0; c < 16; ++c) {
                CHECK(view.base[c] % (1u << view.scale_bits) == 0);
                CHECK(view.base[c] >> view.scale_bits <= 16);
            }
            const auto got = actual_entries(view);
            CHECK(got == actual_entries(fresh_view));
            CHECK(got == expected_entries(view, used, models.data()));
        }
    }
}

TEST_CASE("tokens to z: every ISA path agrees, every tail, both widths", "[rans]") {
    static const std::string what = "test";
    std::mt19937_64 rng(11);
    for (int bits : {16, 32}) {
        for (size_t m : {0, 1, 15, 16, 17, 31, 33, 100, 2047, 2048}) {
            for (int shape = 0; shape < 3; ++shape) {
                std::vector<uint32_t> z(m);
                for (auto& v : z) {
                    const int e = shape == 0 ? static_cast<int>(rng() % (bits + 1))
                                             : shape == 1 ? static_cast<int>(rng() % 6) : bits;
                    v = e == 0 ? 0 : static_cast<uint32_t>((uint64_t(1) << (e - 1)) | (rng() & ((uint64_t(1) << (e - 1)) - 1)));
                }
                std::vector<uint8_t> tokens(m);
                BitWriter w;
                for (size_t k = 0; k < m; ++k) tokenize(z[k], tokens[k], w);
                for (KernelSet isa : kernel_sets()) {
                    CAPTURE(bits, m, shape, qstore::kernel_set_name(isa));
                    // Decoded in two calls, as tiles are.
                    qstore::ExtraBitReader r{w.bytes.data(), w.bytes.size(), 0};
                    std::vector<uint32_t> got(m + 16, 0xDEADBEEF);
                    const size_t half = m / 2;
                    qstore::tokens_to_z(tokens.data(), half, bits, r, got.data(), isa, what);
                    qstore::tokens_to_z(tokens.data() + half, m - half, bits, r, got.data() + half, isa, what);
                    qstore::extra_bits_finish(r, what);
                    got.resize(m);
                    REQUIRE(got == z);
                    REQUIRE(r.pos == w.bits);
                    // Truncated streams: the bits run out or the end check fails.
                    if (!w.bytes.empty()) {
                        qstore::ExtraBitReader cut{w.bytes.data(), w.bytes.size() - 1, 0};
                        CHECK(thrown_code([&] {
                                  qstore::tokens_to_z(tokens.data(), m, bits, cut, got.data(), isa, what);
                                  qstore::extra_bits_finish(cut, what);
                              }) == Errc::corrupt);
                    }
                    // A byte more than used.
                    std::vector<uint8_t> longer = w.bytes;
                    longer.push_back(0);
                    qstore::ExtraBitReader more{longer.data(), longer.size(), 0};
                    CHECK(thrown_code([&] {
                              qstore::tokens_to_z(tokens.data(), m, bits, more, got.data(), isa, what);
                              qstore::extra_bits_finish(more, what);
                          }) == Errc::corrupt);
                    // A token above the dtype's largest.
                    if (m) {
                        std::vector<uint8_t> badtok = tokens;
                        badtok[rng() % m] = static_cast<uint8_t>(bits == 16 ? 64 + rng() % 192 : 128 + rng() % 128);
                        std::vector<uint8_t> pad = w.bytes;
                        pad.resize(pad.size() + 200, 0);
                        qstore::ExtraBitReader rb{pad.data(), pad.size(), 0};
                        CHECK(thrown_code([&] {
                                  qstore::tokens_to_z(badtok.data(), m, bits, rb, got.data(), isa, what);
                              }) == Errc::corrupt);
                    }
                }
            }
        }
    }
}

namespace {

const qstore::LowScheme& int8_row() { return *qstore::low_scheme(qstore::SchemeId::int8_row); }

uint32_t high_bits_of(float p, DType t) {
    switch (t) {
        case DType::f32: return qstore::f32_bits(p);
        case DType::bf16: return qstore::bf16_from_f32(p);
        default: return qstore::f16_from_f32(p);
    }
}

// The format 1.0 residual block (4-lane byte rANS), written from the spec (§7.5-7.6),
// with its models in syntax 1 (formats 1.0-1.2) or 2 (1.3, what the writer uses).
std::vector<uint8_t> encode_v10_block(const uint8_t* high, DType t, const float* pred, const uint8_t* ctx, uint64_t n,
                                      int model_syntax) {
    const qstore::FloatEnvironmentGuard env;
    const int B = t == DType::f32 ? 32 : 16;
    std::vector<uint8_t> tokens(n);
    BitWriter w;
    std::array<std::array<uint64_t, 256>, 16> count{};
    for (uint64_t i = 0; i < n; ++i) {
        uint32_t z;
        if (B == 32) {
            uint32_t h;
            std::memcpy(&h, high + 4 * i, 4);
            z = qstore::zigzag<uint32_t>(qstore::float_key<uint32_t>(h) -
                                         qstore::float_key<uint32_t>(high_bits_of(pred[i], t)));
        } else {
            uint16_t h;
            std::memcpy(&h, high + 2 * i, 2);
            z = qstore::zigzag<uint16_t>(static_cast<uint16_t>(
                qstore::float_key<uint16_t>(h) -
                qstore::float_key<uint16_t>(static_cast<uint16_t>(high_bits_of(pred[i], t)))));
        }
        tokenize(z, tokens[i], w);
        ++count[ctx[i]][tokens[i]];
    }
    qstore::ByteVector out;
    uint16_t used = 0;
    std::vector<qstore::RansModel> models(16);
    for (int c = 0; c < 16; ++c) {
        uint64_t m = 0;
        for (uint64_t k : count[c]) m += k;
        if (m) used |= static_cast<uint16_t>(1u << c);
    }
    qstore::put_u16(out, used);
    for (int c = 0; c < 16; ++c)
        if (used & (1u << c)) {
            models[c] = qstore::rans_model(count[c]);
            if (model_syntax == 1) qstore::rans_write_model_v1(models[c], out);
            else qstore::rans_write_model(models[c], out);
        }
    qstore::ByteVector payload;
    qstore::RansEncodeScratch scratch;
    qstore::rans_encode_payload(tokens.data(), ctx, n, models.data(), scratch, payload);
    qstore::put_varint(out, payload.size());
    out.insert(out.end(), payload.begin(), payload.end());
    out.insert(out.end(), w.bytes.begin(), w.bytes.end());
    return {out.begin(), out.end()};
}

struct BlockData {
    qstore::Geometry g;
    std::vector<uint8_t> high, codes;
    std::vector<float> scales, pred;
    std::vector<uint8_t> ctx;
};

BlockData make_block(std::mt19937_64& rng, DType t, uint64_t rows, uint64_t cols) {
    BlockData b;
    b.g.rows = rows;
    b.g.cols = cols;
    const uint64_t n = rows * cols;
    const size_t es = qstore::dtype_size(t);
    b.high.resize(n * es);
    std::student_t_distribution<float> dist(5);
    for (uint64_t i = 0; i < n; ++i) {
        float v = dist(rng) * 0.02f * float(1 + (i / cols) % 7);
        if (rng() % 1000 == 0) v = -v * 1e3f;  // outliers: long residuals
        uint32_t bits = high_bits_of(v, t);
        if (rng() % 5000 == 0) bits = static_cast<uint32_t>(rng());  // any pattern (NaN, Inf, ...)
        std::memcpy(b.high.data() + i * es, &bits, es);
    }
    b.codes.resize(int8_row().code_bytes(b.g));
    b.scales.resize(int8_row().scale_count(b.g));
    int8_row().quantize(qstore::kernel_set_detected(), b.high.data(), t, b.g, 0, rows,
                        {b.codes.data(), b.scales.data(), nullptr});
    b.pred.resize(n);
    b.ctx.resize(n);
    int8_row().predict(qstore::kernel_set_detected(), {b.codes.data(), b.scales.data(), nullptr}, b.g, 0, n,
                       b.pred.data(), b.ctx.data());
    return b;
}

template <class Bytes>
std::vector<uint8_t> decode_block(const Bytes& blob, DType t, const BlockData& b, Decoding how) {
    static const std::string what = "test";
    qstore::ResidualScratch scratch(how.isa, how.lookup);
    std::vector<uint8_t> out(b.high.size(), 0xAB);
    qstore::decode_residual_block(blob.data(), blob.size(), t, int8_row(), {b.codes.data(), b.scales.data(), nullptr},
                                  b.g, 0, b.g.elements(), out.data(), scratch, what);
    return out;
}

}  // namespace

TEST_CASE("residual blocks: both layouts decode bit-exactly on every kernel set", "[rans]") {
    std::mt19937_64 rng(2024);
    // Encoders reused from block to block, as a pack's threads use theirs.
    qstore::ResidualEncodeScratch encoder(qstore::kernel_set_detected());
    std::vector<std::unique_ptr<qstore::ResidualEncodeScratch>> encoders;
    for (KernelSet isa : kernel_sets()) encoders.push_back(std::make_unique<qstore::ResidualEncodeScratch>(isa));
    // Sizes around the layout thresholds, odd sizes and several tiles.
    const std::vector<std::pair<uint64_t, uint64_t>> shapes = {
        {1, 1}, {3, 5}, {4095, 1}, {64, 64}, {1, 4097}, {127, 129}, {16383, 1}, {128, 128}, {33, 1001}, {7, 9999}, {255, 257}, {256, 256}, {300, 301}};
    for (DType t : {DType::bf16, DType::f16, DType::f32}) {
        for (const auto& [rows, cols] : shapes) {
            const BlockData b = make_block(rng, t, rows, cols);
            const uint64_t n = rows * cols;
            qstore::ByteVector blob;
            qstore::encode_residual_block(b.high.data(), t, b.pred.data(), b.ctx.data(), n, encoder, blob);
            const bool word = blob.size() >= 3 && blob[0] == 0 && blob[1] == 0 && blob[2] < 16;
            CHECK(word == (n >= 4096));  // the writer's choice (residual/high_residual.cpp)
            const std::vector<uint8_t> v10 = encode_v10_block(b.high.data(), t, b.pred.data(), b.ctx.data(), n, 1);
            CHECK(!(v10[0] == 0 && v10[1] == 0));
            // Small blocks keep the 1.0 layout byte for byte, with syntax-2 models.
            if (!word) CHECK(std::vector<uint8_t>(blob.begin(), blob.end()) == encode_v10_block(b.high.data(), t, b.pred.data(), b.ctx.data(), n, 2));
            // Size: within 0.5% (+ the lane states) of the 1.0 layout.
            CAPTURE(qstore::dtype_name(t), rows, cols, blob.size(), v10.size());
            CHECK(double(blob.size()) <= 1.005 * double(v10.size()) + 100);
            for (const Decoding& how : decodings()) {
                CAPTURE(decoding_name(how));
                REQUIRE(decode_block(blob, t, b, how) == b.high);
                REQUIRE(decode_block(v10, t, b, how) == b.high);
            }
            for (KernelSet isa : kernel_sets()) {
                CAPTURE(qstore::kernel_set_name(isa));
                // The encoder's kernels (tokenization) give the same bytes on every set.
                qstore::ByteVector again;
                qstore::encode_residual_block(b.high.data(), t, b.pred.data(), b.ctx.data(), n,
                                              *encoders[static_cast<size_t>(isa)], again);
                CHECK(again == blob);
            }
        }
    }
}

TEST_CASE("residual blocks: an empty 1.0 block decodes, damaged blocks are corrupt on every kernel set", "[rans]") {
    std::mt19937_64 rng(77);
    static const std::string what = "test";
    {  // n = 0, format 1.0: used = 0, payload_size = 16, four states 2^23
        const std::vector<uint8_t> blob = {0, 0, 16, 0, 0, 0x80, 0, 0, 0, 0x80, 0,
                                           0, 0, 0x80, 0, 0, 0, 0x80, 0};
        qstore::ResidualScratch scratch(qstore::kernel_set_detected(), qstore::table_lookup_detected());
        const qstore::Geometry g{0, 4};
        CHECK(thrown_code([&] {
                  qstore::decode_residual_block(blob.data(), blob.size(), DType::bf16, int8_row(), {}, g, 0, 0,
                                                nullptr, scratch, what);
              }) == Errc::ok);
    }
    for (DType t : {DType::bf16, DType::f32}) {
        const BlockData b = make_block(rng, t, 40, 700);
        qstore::ByteVector blob;
        qstore::ResidualEncodeScratch encoder(qstore::kernel_set_detected());
        qstore::encode_residual_block(b.high.data(), t, b.pred.data(), b.ctx.data(), b.g.elements(), encoder, blob);
        REQUIRE(blob[2] == 5);  // 32 lanes
        // Unknown layout bytes.
        for (uint8_t layout : {uint8_t{0}, uint8_t{1}, uint8_t{7}, uint8_t{8}, uint8_t{15}}) {
            std::vector<uint8_t> bad(blob.begin(), blob.end());
            bad[2] = layout;
            for (const Decoding& how : decodings()) {
                CHECK(thrown_code([&] { decode_block(bad, t, b, how); }) == Errc::corrupt);
            }
        }
        // Truncations (every byte of the header, then a stride through the rest).
        for (size_t cut = 0; cut < blob.size(); cut += cut < 600 ? 1 : 97) {
            const std::vector<uint8_t> part(blob.begin(), blob.begin() + static_cast<ptrdiff_t>(cut));
            for (const Decoding& how : decodings()) {
                REQUIRE(thrown_code([&] { decode_block(part, t, b, how); }) == Errc::corrupt);
            }
        }
        // Random damage: every kernel set gives the same result, and damage is corrupt
        // or (rarely) a different but well-formed decode.
        for (int round = 0; round < 60; ++round) {
            std::vector<uint8_t> bad(blob.begin(), blob.end());
            bad[rng() % bad.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
            std::vector<std::vector<uint8_t>> outs;
            std::vector<Errc> codes;
            for (const Decoding& how : decodings()) {
                std::vector<uint8_t> out;
                codes.push_back(thrown_code([&] { out = decode_block(bad, t, b, how); }));
                outs.push_back(out);
            }
            for (size_t k = 1; k < codes.size(); ++k) {
                CHECK(codes[k] == codes[0]);
                CHECK(outs[k] == outs[0]);
            }
            CHECK((codes[0] == Errc::ok || codes[0] == Errc::corrupt));
        }
    }
}
