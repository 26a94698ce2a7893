// Unit tests of the pieces in src/:
//   base/float_bits.hpp  - F32->BF16 / F32->F16 round-to-nearest-even against a slow reference,
//                     F16->F32, float_key/float_from_key (bijective, order preserving), zigzag;
//   stream_set      - round trip of every codec (empty, raw, constant, zstd, rANS, word rANS), corrupted
//                     tables throw qstore::Error;
//   format          - header, directory, tensor index and block container: serialize/parse
//                     round trips and rejection of damaged bytes;
//   memory, files   - ReusableBytes growth, ReadAhead windows (bytes equal the file's
//                     over forward walks, jumps and file switches), FileSink::append_from;
//   safetensors     - header entries, skipped keys and metadata as written; malformed
//                     headers corrupt, naming the tensor;
//   byte_io, dtype  - varints, names and sizes.
#include <catch2/catch.hpp>
#include <zstd.h>

#include <algorithm>
#include <cfloat>
#include <fstream>
#include <set>

#include "base/byte_io.hpp"
#include "base/checksum.hpp"
#include "base/dtype.hpp"
#include "base/error.hpp"
#include "fixtures.hpp"
#include "base/float_bits.hpp"
#include "io/file_sink.hpp"
#include "container/format.hpp"
#include "io/mapped_file.hpp"
#include "entropy/rans.hpp"
#include "entropy/rans_word.hpp"
#include "base/reusable_bytes.hpp"
#include "io/safetensors.hpp"
#include "read/reader.hpp"
#include "entropy/stream_set.hpp"

using namespace qs_test;
using qstore::Errc;
using qstore::KernelSet;

namespace {


// A spread of float32 test inputs: every exponent, boundary mantissas, random bits.
std::vector<uint32_t> f32_inputs(uint64_t random_count) {
    std::vector<uint32_t> v;
    for (uint32_t sign : {0u, 0x80000000u})
        for (uint32_t e = 0; e < 256; ++e)
            for (uint32_t m : {0u, 1u, 2u, 0x0FFFu, 0x1000u, 0x1001u, 0x7FFFu, 0x8000u, 0x8001u, 0x17FFFu, 0x18000u,
                               0x18001u, 0x3FFFFFu, 0x400000u, 0x7FFFFEu, 0x7FFFFFu})
                v.push_back(sign | (e << 23) | m);
    std::mt19937_64 rng(12345);
    for (uint64_t i = 0; i < random_count; ++i) v.push_back(static_cast<uint32_t>(rng()));
    return v;
}

}  // namespace

// ------------------------------------------------------------ float_bits ----

TEST_CASE("the default table lookup: gathers only where Linux reports the CPU unaffected by GDS", "[unit][cpu]") {
    std::ifstream report("/sys/devices/system/cpu/vulnerabilities/gather_data_sampling");
    std::string status;
    std::getline(report, status);
    CAPTURE(status);
    CHECK(qstore::table_lookup_detected() ==
          (status == "Not affected" ? qstore::TableLookup::gather : qstore::TableLookup::loads));
    CHECK(qstore::ReaderOptions{}.table_lookup == qstore::table_lookup_detected());
    CHECK(std::string(qstore::table_lookup_name(qstore::TableLookup::gather)) == "gather");
    CHECK(std::string(qstore::table_lookup_name(qstore::TableLookup::loads)) == "loads");
}

TEST_CASE("bf16_from_f32 rounds to nearest even (ties, subnormals, overflow, NaN)", "[unit][float_bits]") {
    std::vector<uint32_t> inputs = f32_inputs(2'000'000);
    // Every bf16 value, the exact midpoints between neighbours (ties) and their float neighbours.
    for (uint32_t h = 0; h < 0x10000u; ++h) {
        const uint32_t base = h << 16;
        for (uint32_t low : {0x0000u, 0x7FFFu, 0x8000u, 0x8001u, 0xFFFFu}) inputs.push_back(base | low);
    }
    size_t bad = 0;
    for (uint32_t u : inputs) {
        const float f = float_of(u);
        const uint16_t got = qstore::bf16_from_f32(f);
        const uint16_t want = ref_f32_to_bf16(f);
        if (got != want && bad++ < 10) {
            UNSCOPED_INFO("f32 bits 0x" << std::hex << u << ": bf16 0x" << got << ", reference 0x" << want);
        }
    }
    CHECK(bad == 0);
    // Spot checks written out by hand.
    CHECK(qstore::bf16_from_f32(1.0f) == 0x3F80);
    CHECK(qstore::bf16_from_f32(float_of(0x3F808000u)) == 0x3F80);  // tie -> even (down)
    CHECK(qstore::bf16_from_f32(float_of(0x3F818000u)) == 0x3F82);  // tie -> even (up)
    CHECK(qstore::bf16_from_f32(float_of(0x3F808001u)) == 0x3F81);  // above the tie
    CHECK(qstore::bf16_from_f32(FLT_MAX) == 0x7F80);                // overflow rounds to Inf
    CHECK(qstore::bf16_from_f32(float_of(0x7F7F7FFFu)) == 0x7F7F);  // largest that stays finite
    CHECK(qstore::bf16_from_f32(-INFINITY) == 0xFF80);
    CHECK(qstore::bf16_from_f32(float_of(0x00008000u)) == 0x0000);  // subnormal tie -> even (0)
    CHECK(qstore::bf16_from_f32(float_of(0x00018000u)) == 0x0002);
    CHECK(qstore::bf16_from_f32(float_of(0x7F800001u)) == 0x7FC0);  // sNaN -> quiet, sign kept
    CHECK(qstore::bf16_from_f32(float_of(0xFF810000u)) == 0xFFC1);
    // Every bf16 converts to f32 and back unchanged (NaNs: quieted).
    for (uint32_t h = 0; h < 0x10000u; ++h) {
        const float f = qstore::f32_from_bf16(static_cast<uint16_t>(h));
        const bool nan = (h & 0x7FFFu) > 0x7F80u;
        if (qstore::bf16_from_f32(f) != (nan ? (h | 0x40u) : h)) {
            FAIL_CHECK("bf16 0x" << std::hex << h << " does not survive f32 and back");
            break;
        }
    }
}

TEST_CASE("f16_from_f32 rounds to nearest even (ties, subnormals, overflow, NaN)", "[unit][float_bits]") {
    std::vector<uint32_t> inputs = f32_inputs(2'000'000);
    // Every half value, the midpoints between neighbours (exact in f32) and their neighbours.
    for (uint32_t h = 0; h < 0x7C00u; ++h) {
        for (uint32_t sign : {0u, 0x8000u}) {
            const float a = ref_f16_to_f32(static_cast<uint16_t>(sign | h));
            const float b = ref_f16_to_f32(static_cast<uint16_t>(sign | (h + 1)));  // h+1 may be Inf
            inputs.push_back(bits_of(a));
            const double mid = (static_cast<double>(a) + (std::isinf(b) ? (sign ? -65520.0 : 65520.0) : b)) / 2;
            const float m = static_cast<float>(mid);
            REQUIRE(static_cast<double>(m) == mid);  // midpoints are exact in float32
            inputs.push_back(bits_of(m));
            inputs.push_back(bits_of(m) + 1);
            inputs.push_back(bits_of(m) - 1);
        }
    }
    size_t bad = 0;
    for (uint32_t u : inputs) {
        const float f = float_of(u);
        const uint16_t got = qstore::f16_from_f32(f);
        const uint16_t want = ref_f32_to_f16(f);
        if (got != want && bad++ < 10) {
            UNSCOPED_INFO("f32 bits 0x" << std::hex << u << " (" << f << "): f16 0x" << got << ", reference 0x" << want);
        }
    }
    CHECK(bad == 0);
    CHECK(qstore::f16_from_f32(1.0f) == 0x3C00);
    CHECK(qstore::f16_from_f32(65504.0f) == 0x7BFF);
    CHECK(qstore::f16_from_f32(65519.996f) == 0x7BFF);
    CHECK(qstore::f16_from_f32(65520.0f) == 0x7C00);  // tie at the top rounds to Inf
    CHECK(qstore::f16_from_f32(-1e30f) == 0xFC00);
    CHECK(qstore::f16_from_f32(std::ldexp(1.0f, -24)) == 0x0001);
    CHECK(qstore::f16_from_f32(std::ldexp(1.0f, -25)) == 0x0000);          // tie -> even (0)
    CHECK(qstore::f16_from_f32(std::ldexp(3.0f, -25)) == 0x0002);          // tie -> even (2)
    CHECK(qstore::f16_from_f32(-std::ldexp(1.0f, -26)) == 0x8000);         // underflow keeps the sign
    CHECK(qstore::f16_from_f32(std::ldexp(1023.5f, -24)) == 0x0400);       // rounds up into the normals
    CHECK(qstore::f16_from_f32(float_of(0x7F800001u)) == 0x7E00);
    CHECK(qstore::f16_from_f32(float_of(0xFFC12345u)) == 0xFE00);
}

#if defined(__x86_64__)
// Every float32 bit pattern except the NaNs other than the canonical one (the only NaN a
// prediction can be): 2^32 - 2 * (2^23 - 1) + 1 inputs, in chunks, through a hardware
// conversion; counts its results that differ from f16_from_f32.
template <class Convert>
void check_hardware_f16(Convert convert) {
    constexpr size_t kChunk = size_t(1) << 20;
    std::vector<float> in(kChunk);
    std::vector<uint16_t> hw(kChunk);
    uint64_t mismatches = 0, checked = 0;
    for (uint64_t base = 0; base < (uint64_t(1) << 32); base += kChunk) {
        size_t n = 0;
        for (uint64_t u = base; u < base + kChunk; ++u) {
            const uint32_t bits = static_cast<uint32_t>(u);
            if ((bits & 0x7FFFFFFFu) > 0x7F800000u && bits != 0x7FC00000u) continue;
            in[n++] = float_of(bits);
        }
        convert(in.data(), n, hw.data());
        for (size_t k = 0; k < n; ++k) mismatches += hw[k] != qstore::f16_from_f32(in[k]);
        checked += n;
    }
    CHECK(checked == (uint64_t(1) << 32) - 2 * ((uint64_t(1) << 23) - 1) + 1);
    CHECK(mismatches == 0);
}

TEST_CASE("f16_from_f32_f16c (AVX2's hardware rounding) equals f16_from_f32 on every prediction value",
          "[unit][float_bits]") {
    if (qstore::kernel_set_detected() < qstore::KernelSet::avx2) {
        WARN("this CPU has no AVX2: the hardware conversion is not used here, nothing to compare");
        return;
    }
    check_hardware_f16(qstore::f16_from_f32_f16c);
}

TEST_CASE("f16_from_f32_avx512 (hardware rounding) equals f16_from_f32 on every prediction value",
          "[unit][float_bits]") {
    if (qstore::kernel_set_detected() < qstore::KernelSet::avx512) {
        WARN("this CPU has no AVX-512: the hardware conversion is not used here, nothing to compare");
        return;
    }
    check_hardware_f16(qstore::f16_from_f32_avx512);
}

namespace {
// A hardware binary16 -> float32 widening against f32_from_f16 on every half value.
void check_hardware_widening(void (*widen)(const uint8_t*, size_t, float*)) {
    // Every pattern, then the same at an odd byte offset and with a tail of 7 (the scalar rest).
    std::vector<uint8_t> in(2 * 0x10000 + 1 + 14);
    for (uint32_t h = 0; h < 0x10000u; ++h) {
        in[2 * h] = static_cast<uint8_t>(h);
        in[2 * h + 1] = static_cast<uint8_t>(h >> 8);
    }
    for (size_t offset : {size_t{0}, size_t{1}}) {
        std::vector<uint8_t> src(in.size());
        std::memcpy(src.data() + offset, in.data(), 2 * 0x10000);
        for (size_t i = 0; i < 7; ++i) std::memcpy(src.data() + offset + 2 * (0x10000 + i), in.data() + 2 * (0x7C01 + 97 * i), 2);
        const size_t n = 0x10000 + 7;
        std::vector<float> out(n);
        widen(src.data() + offset, n, out.data());
        size_t mismatches = 0;
        for (size_t k = 0; k < n; ++k) {
            uint16_t h;
            std::memcpy(&h, src.data() + offset + 2 * k, 2);
            if (bits_of(out[k]) != bits_of(qstore::f32_from_f16(h))) ++mismatches;
        }
        CAPTURE(offset);
        CHECK(mismatches == 0);
    }
}
}  // namespace

TEST_CASE("f32_from_f16_f16c (AVX2's hardware widening) equals f32_from_f16 on every half value, NaNs included",
          "[unit][float_bits]") {
    if (qstore::kernel_set_detected() < qstore::KernelSet::avx2) {
        WARN("this CPU has no AVX2: the hardware conversion is not used here, nothing to compare");
        return;
    }
    check_hardware_widening(qstore::f32_from_f16_f16c);
}

TEST_CASE("f32_from_f16_avx512 (hardware widening) equals f32_from_f16 on every half value, NaNs included",
          "[unit][float_bits]") {
    if (qstore::kernel_set_detected() < qstore::KernelSet::avx512) {
        WARN("this CPU has no AVX-512: the hardware conversion is not used here, nothing to compare");
        return;
    }
    check_hardware_widening(qstore::f32_from_f16_avx512);
}
#endif

TEST_CASE("f32_from_f16 is exact for every half value", "[unit][float_bits]") {
    for (uint32_t h = 0; h < 0x10000u; ++h) {
        const float got = qstore::f32_from_f16(static_cast<uint16_t>(h));
        const float want = ref_f16_to_f32(static_cast<uint16_t>(h));
        if (bits_of(got) != bits_of(want)) {
            FAIL_CHECK("f16 0x" << std::hex << h << ": 0x" << bits_of(got) << " vs 0x" << bits_of(want));
            break;
        }
        // and back (non-NaN)
        if ((h & 0x7FFFu) <= 0x7C00u && qstore::f16_from_f32(got) != h) {
            FAIL_CHECK("f16 0x" << std::hex << h << " does not survive f32 and back");
            break;
        }
    }
}

TEST_CASE("float_key is a bijection that preserves the order of non-NaN values", "[unit][float_bits]") {
    // 16-bit: exhaustive.
    std::vector<uint16_t> keys(0x10000);
    std::set<uint16_t> distinct;
    for (uint32_t b = 0; b < 0x10000u; ++b) {
        const uint16_t k = qstore::float_key<uint16_t>(static_cast<uint16_t>(b));
        keys[b] = k;
        distinct.insert(k);
        REQUIRE(qstore::float_from_key<uint16_t>(k) == b);
    }
    CHECK(distinct.size() == 0x10000u);
    // Order: sort every non-NaN half by value; keys must increase (strictly, -0 just below +0).
    std::vector<uint16_t> halves;
    for (uint32_t b = 0; b < 0x10000u; ++b)
        if ((b & 0x7FFFu) <= 0x7C00u) halves.push_back(static_cast<uint16_t>(b));
    std::stable_sort(halves.begin(), halves.end(), [](uint16_t a, uint16_t b) {
        const float fa = ref_f16_to_f32(a), fb = ref_f16_to_f32(b);
        if (fa != fb) return fa < fb;
        return std::signbit(fa) && !std::signbit(fb);  // -0 before +0
    });
    for (size_t i = 1; i < halves.size(); ++i) {
        if (!(keys[halves[i - 1]] < keys[halves[i]])) {
            FAIL_CHECK("order broken between f16 0x" << std::hex << halves[i - 1] << " and 0x" << halves[i]);
            break;
        }
    }
    CHECK(static_cast<uint16_t>(keys[0x8000] + 1) == keys[0x0000]);  // -0 and +0 adjacent
    // Same for bf16 patterns ordered by value.
    CHECK(qstore::float_key<uint16_t>(0xFF80) < qstore::float_key<uint16_t>(0xBF80));  // -Inf < -1
    CHECK(qstore::float_key<uint16_t>(0x3F80) < qstore::float_key<uint16_t>(0x7F80));  // 1 < Inf

    // 32-bit: inverse on many patterns, order on random pairs.
    std::mt19937_64 rng(99);
    for (uint32_t u : f32_inputs(1'000'000)) {
        if (qstore::float_from_key<uint32_t>(qstore::float_key<uint32_t>(u)) != u ||
            qstore::float_key<uint32_t>(qstore::float_from_key<uint32_t>(u)) != u) {
            FAIL_CHECK("float_key<uint32_t> not inverted at 0x" << std::hex << u);
            break;
        }
    }
    size_t bad = 0;
    for (int i = 0; i < 1'000'000; ++i) {
        const uint32_t a = static_cast<uint32_t>(rng()), b = static_cast<uint32_t>(rng());
        const float fa = float_of(a), fb = float_of(b);
        if (std::isnan(fa) || std::isnan(fb)) continue;
        const uint32_t ka = qstore::float_key<uint32_t>(a), kb = qstore::float_key<uint32_t>(b);
        if ((fa < fb && !(ka < kb)) || (fa > fb && !(ka > kb))) ++bad;
    }
    CHECK(bad == 0);
    CHECK(qstore::float_key<uint32_t>(0x80000000u) + 1 == qstore::float_key<uint32_t>(0x00000000u));
    CHECK(qstore::float_key<uint32_t>(0xFF800000u) < qstore::float_key<uint32_t>(0xFF7FFFFFu));  // -Inf < -max
    CHECK(qstore::float_key<uint32_t>(0x7F7FFFFFu) < qstore::float_key<uint32_t>(0x7F800000u));  // max < Inf
}

TEST_CASE("zigzag maps small signed distances to small unsigned values, invertibly", "[unit][float_bits]") {
    CHECK(qstore::zigzag<uint32_t>(0) == 0);
    CHECK(qstore::zigzag<uint32_t>(static_cast<uint32_t>(-1)) == 1);
    CHECK(qstore::zigzag<uint32_t>(1) == 2);
    CHECK(qstore::zigzag<uint32_t>(static_cast<uint32_t>(-2)) == 3);
    CHECK(qstore::zigzag<uint32_t>(0x7FFFFFFFu) == 0xFFFFFFFEu);
    CHECK(qstore::zigzag<uint32_t>(0x80000000u) == 0xFFFFFFFFu);
    CHECK(qstore::zigzag<uint16_t>(static_cast<uint16_t>(-3)) == 5);
    for (uint32_t v = 0; v < 0x10000u; ++v) {
        const int16_t s = static_cast<int16_t>(v);
        const uint16_t z = qstore::zigzag<uint16_t>(static_cast<uint16_t>(v));
        const uint32_t want = s >= 0 ? 2u * static_cast<uint32_t>(s) : 2u * static_cast<uint32_t>(-(s + 1)) + 1u;
        if (z != want || qstore::unzigzag<uint16_t>(z) != v) {
            FAIL_CHECK("zigzag16 wrong at " << s);
            break;
        }
    }
    std::mt19937_64 rng(7);
    for (int i = 0; i < 100000; ++i) {
        const uint32_t v = static_cast<uint32_t>(rng());
        const int32_t s = static_cast<int32_t>(v);
        const uint32_t z = qstore::zigzag<uint32_t>(v);
        const uint64_t want = s >= 0 ? 2ull * static_cast<uint64_t>(s) : 2ull * static_cast<uint64_t>(-(static_cast<int64_t>(s) + 1)) + 1;
        REQUIRE(z == want);
        REQUIRE(qstore::unzigzag<uint32_t>(z) == v);
    }
}

// ------------------------------------------------------------ stream_set ----

namespace {

struct StreamCase {
    std::string label;
    std::vector<uint8_t> data;
};

std::vector<StreamCase> stream_cases() {
    std::mt19937_64 rng(3);
    std::vector<StreamCase> c;
    c.push_back({"empty", {}});
    c.push_back({"one byte", {42}});
    c.push_back({"constant 1000", std::vector<uint8_t>(1000, 7)});
    c.push_back({"constant 100000 zeros", std::vector<uint8_t>(100000, 0)});
    c.push_back({"two bytes", {1, 2}});
    {
        std::vector<uint8_t> v(15);
        for (auto& b : v) b = static_cast<uint8_t>(rng());
        c.push_back({"15 random", v});
    }
    {
        std::vector<uint8_t> v(5000);
        for (auto& b : v) b = static_cast<uint8_t>(rng());
        c.push_back({"5000 uniform random (incompressible)", v});
    }
    {
        std::vector<uint8_t> v(20000);
        for (size_t i = 0; i < v.size(); ++i) v[i] = "the quick brown fox jumps over the lazy dog. "[i % 45];
        c.push_back({"repetitive text", v});
    }
    {
        std::vector<uint8_t> v(30000);
        std::geometric_distribution<int> geo(0.3);
        for (auto& b : v) b = static_cast<uint8_t>(std::min(255, geo(rng)));
        c.push_back({"skewed i.i.d.", v});
    }
    {
        std::vector<uint8_t> v(100);
        for (auto& b : v) b = static_cast<uint8_t>(rng() % 3);
        c.push_back({"short skewed", v});
    }
    {
        std::vector<uint8_t> v(4096, 0);
        v[4095] = 1;
        c.push_back({"all but one equal", v});
    }
    {
        std::vector<uint8_t> v(70000);
        for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(i & 0xFF);
        c.push_back({"all 256 symbols", v});
    }
    return c;
}

std::vector<uint8_t> encode_set(const std::vector<StreamCase>& cases, int level) {
    qstore::StreamEncoder enc(level, qstore::kernel_set_detected());
    std::vector<std::pair<const uint8_t*, size_t>> streams;
    for (const auto& c : cases) streams.emplace_back(c.data.data(), c.data.size());
    qstore::ByteVector blob;
    enc.encode(streams, blob);
    return {blob.begin(), blob.end()};
}

// Decodes a whole stream set; throws on any error.
std::vector<std::vector<uint8_t>> decode_set(const uint8_t* blob, size_t size) {
    qstore::StreamDecoder decoder(qstore::kernel_set_detected(), qstore::table_lookup_detected());
    std::vector<std::vector<uint8_t>> out;
    auto refs = qstore::parse_stream_set(blob, size, "test");
    for (const auto& r : refs) {
        if (r.raw_size > (1u << 24)) qstore::fail(Errc::corrupt, "test: implausible size");
        out.emplace_back(r.raw_size);
        decoder.decode(r, out.back().data(), out.back().size(), "test");
    }
    return out;
}

// A stream set written by hand from the documented table layout:
// varint count; per stream u8 codec + sizes; then the payloads back to back.
std::vector<uint8_t> handmade_set(const std::vector<std::pair<qstore::StreamCodec, std::vector<uint8_t>>>& streams,
                                  const std::vector<uint64_t>& raw_sizes, const std::vector<uint8_t>& fills) {
    std::vector<uint8_t> table, payload;
    qstore::put_varint(table, streams.size());
    for (size_t i = 0; i < streams.size(); ++i) {
        const auto& [codec, bytes] = streams[i];
        qstore::put_u8(table, static_cast<uint8_t>(codec));
        switch (codec) {
            case qstore::StreamCodec::empty: break;
            case qstore::StreamCodec::raw:
                qstore::put_varint(table, bytes.size());
                payload.insert(payload.end(), bytes.begin(), bytes.end());
                break;
            case qstore::StreamCodec::constant:
                qstore::put_varint(table, raw_sizes[i]);
                qstore::put_u8(table, fills[i]);
                break;
            default:  // zstd, rans, word_rans
                qstore::put_varint(table, raw_sizes[i]);
                qstore::put_varint(table, bytes.size());
                payload.insert(payload.end(), bytes.begin(), bytes.end());
                break;
        }
    }
    table.insert(table.end(), payload.begin(), payload.end());
    return table;
}

}  // namespace

TEST_CASE("stream sets round-trip every kind of stream at several zstd levels", "[unit][stream_set]") {
    const int level = GENERATE(1, 3, 19, -5);
    CAPTURE(level);
    const auto cases = stream_cases();
    const auto blob = encode_set(cases, level);
    const auto refs = qstore::parse_stream_set(blob.data(), blob.size(), "test");
    REQUIRE(refs.size() == cases.size());
    std::set<qstore::StreamCodec> codecs;
    for (size_t i = 0; i < cases.size(); ++i) {
        INFO(cases[i].label);
        codecs.insert(refs[i].codec);
        CHECK(refs[i].raw_size == cases[i].data.size());
        CHECK(refs[i].stored_size <= cases[i].data.size());  // never larger than raw
    }
    CHECK(refs[0].codec == qstore::StreamCodec::empty);
    CHECK(refs[2].codec == qstore::StreamCodec::constant);
    CHECK(refs[3].codec == qstore::StreamCodec::constant);
    CHECK(refs[6].codec == qstore::StreamCodec::raw);  // uniform random: nothing to gain
    CHECK(refs[7].codec != qstore::StreamCodec::raw);  // repetitive text compresses
    CHECK(refs[8].codec != qstore::StreamCodec::raw);  // skewed bytes compress
    const auto decoded = decode_set(blob.data(), blob.size());
    REQUIRE(decoded.size() == cases.size());
    for (size_t i = 0; i < cases.size(); ++i) {
        INFO(cases[i].label);
        CHECK(first_mismatch(decoded[i], cases[i].data) == -1);
    }
    // The cases exercise the empty, constant, raw and at least one entropy codec.
    CHECK(codecs.count(qstore::StreamCodec::empty));
    CHECK(codecs.count(qstore::StreamCodec::constant));
    CHECK(codecs.count(qstore::StreamCodec::raw));
    CHECK((codecs.count(qstore::StreamCodec::zstd) || codecs.count(qstore::StreamCodec::rans)));
}

TEST_CASE("stream sets decode every codec written by hand (zstd and rANS payloads included)", "[unit][stream_set]") {
    std::mt19937_64 rng(11);
    std::vector<uint8_t> text(3000);
    for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<uint8_t>("abcabcabd"[i % 9] + (rng() % 7 == 0));
    std::vector<uint8_t> frame(ZSTD_compressBound(text.size()));
    frame.resize(ZSTD_compress(frame.data(), frame.size(), text.data(), text.size(), 5));
    qstore::ByteVector rans, word;
    qstore::RansEncodeScratch rans_scratch;
    qstore::WordRansEncodeScratch word_scratch;
    qstore::rans_encode(text.data(), text.size(), qstore::byte_histogram(text.data(), text.size()), rans_scratch, rans);
    qstore::word_rans_encode_stream(qstore::kernel_set_detected(), text.data(), text.size(), word_scratch, word);
    const std::vector<uint8_t> raw = {9, 8, 7, 6, 5};

    const auto blob = handmade_set({{qstore::StreamCodec::empty, {}},
                                    {qstore::StreamCodec::raw, raw},
                                    {qstore::StreamCodec::constant, {}},
                                    {qstore::StreamCodec::zstd, frame},
                                    {qstore::StreamCodec::rans, {rans.begin(), rans.end()}},
                                    {qstore::StreamCodec::word_rans, {word.begin(), word.end()}}},
                                   {0, 5, 77, text.size(), text.size(), text.size()}, {0, 0, 0xEE, 0, 0, 0});
    const auto d = decode_set(blob.data(), blob.size());
    REQUIRE(d.size() == 6);
    CHECK(d[0].empty());
    CHECK(d[1] == raw);
    CHECK(d[2] == std::vector<uint8_t>(77, 0xEE));
    CHECK(first_mismatch(d[3], text) == -1);
    CHECK(first_mismatch(d[4], text) == -1);
    CHECK(first_mismatch(d[5], text) == -1);
}

TEST_CASE("the stream encoder picks word rANS for large order-0 streams and says which format reads them",
          "[unit][stream_set]") {
    // i.i.d. bytes of a skewed distribution: nothing for zstd's matches, rANS codes
    // closer to the entropy than zstd's Huffman literals.
    std::mt19937_64 rng(23);
    std::vector<uint8_t> v(50000);
    std::normal_distribution<double> nd(0, 20);
    for (auto& b : v) b = static_cast<uint8_t>(static_cast<int8_t>(std::clamp(std::lround(nd(rng)), -127L, 127L)));
    qstore::StreamEncoder enc(3, qstore::kernel_set_detected());
    CHECK_FALSE(enc.wrote_rans_model());
    qstore::ByteVector small_blob;
    qstore::ByteVector raw_blob;
    enc.encode({{v.data(), 10}}, raw_blob);  // too short for a coder: raw, any format reads it
    CHECK(qstore::parse_stream_set(raw_blob.data(), raw_blob.size(), "test")[0].codec == qstore::StreamCodec::raw);
    CHECK_FALSE(enc.wrote_rans_model());
    enc.encode({{v.data(), 4000}}, small_blob);  // below the word threshold: byte rANS
    CHECK(qstore::parse_stream_set(small_blob.data(), small_blob.size(), "test")[0].codec == qstore::StreamCodec::rans);
    CHECK(enc.wrote_rans_model());
    qstore::ByteVector blob;
    enc.encode({{v.data(), v.size()}}, blob);
    CHECK(qstore::parse_stream_set(blob.data(), blob.size(), "test")[0].codec == qstore::StreamCodec::word_rans);
    CHECK(enc.wrote_rans_model());
    const auto d = decode_set(blob.data(), blob.size());
    CHECK(first_mismatch(d.at(0), v) == -1);
}

TEST_CASE("long streams: zstd is tried when a sample has matches, and wins them", "[unit][stream_set]") {
    // Streams of >= 64K bytes get a zstd trial only if zstd beats the order-0 cost on
    // their first 16 KB. Both streams here have the same skewed byte distribution;
    // one repeats a 3000-byte stretch (matches from the start), the other does not.
    std::mt19937_64 rng(37);
    std::normal_distribution<double> nd(0, 12);
    auto byte = [&] { return static_cast<uint8_t>(static_cast<int8_t>(std::clamp(std::lround(nd(rng)), -127L, 127L))); };
    for (size_t n : {size_t(65536), size_t(200000)}) {
        CAPTURE(n);
        std::vector<uint8_t> iid(n), repeats(n);
        for (auto& b : iid) b = byte();
        for (size_t i = 0; i < n; ++i) repeats[i] = i < 3000 ? byte() : repeats[i - 3000];
        qstore::StreamEncoder enc(1, qstore::kernel_set_detected());
        qstore::ByteVector a, b;
        enc.encode({{iid.data(), n}}, a);
        enc.encode({{repeats.data(), n}}, b);
        CHECK(qstore::parse_stream_set(a.data(), a.size(), "t")[0].codec == qstore::StreamCodec::word_rans);
        const auto ref = qstore::parse_stream_set(b.data(), b.size(), "t")[0];
        CHECK(ref.codec == qstore::StreamCodec::zstd);
        CHECK(ref.stored_size < n / 10);  // the repeats coded as matches
        CHECK(first_mismatch(decode_set(b.data(), b.size()).at(0), repeats) == -1);
    }
}

TEST_CASE("word rANS streams round-trip every size and alphabet, damage is corrupt", "[unit][stream_set]") {
    std::mt19937_64 rng(29);
    qstore::WordRansEncodeScratch scratch;  // reused from stream to stream, as a pack's threads do
    qstore::WordRansTableStorage table;
    for (size_t n : {size_t(0), size_t(1), size_t(15), size_t(4095), size_t(4096), size_t(4097), size_t(16384),
                     size_t(65536 + 33)}) {
        for (int alphabet : {1, 2, 200, 256}) {
            CAPTURE(n, alphabet);
            std::vector<uint8_t> v(n);
            for (auto& b : v) b = static_cast<uint8_t>(255 - rng() % static_cast<uint64_t>(alphabet));
            qstore::ByteVector enc;
            qstore::word_rans_encode_stream(KernelSet::scalar, v.data(), v.size(), scratch, enc);
            // Every kernel set writes the same bytes; every kernel set and table lookup
            // decodes them.
            for (KernelSet isa : kernel_sets()) {
                CAPTURE(qstore::kernel_set_name(isa));
                qstore::ByteVector again;
                qstore::word_rans_encode_stream(isa, v.data(), v.size(), scratch, again);
                REQUIRE(again == enc);
            }
            for (const qs_test::Decoding& how : qs_test::decodings()) {
                CAPTURE(qs_test::decoding_name(how));
                const KernelSet isa = how.isa;
                const qstore::TableLookup lookup = how.lookup;
                std::vector<uint8_t> dec(n, 0xAA);
                qstore::word_rans_decode_stream(isa, lookup, enc.data(), enc.size(), dec.data(), dec.size(), table,
                                                "test");
                REQUIRE(first_mismatch(dec, v) == -1);
                // Truncated, or one byte more: corrupt.
                std::vector<uint8_t> cut(enc.begin(), enc.end() - 1), longer(enc.begin(), enc.end());
                longer.push_back(0);
                CHECK(thrown_code([&] {
                          qstore::word_rans_decode_stream(isa, lookup, cut.data(), cut.size(), dec.data(), n, table,
                                                          "t");
                      }) == Errc::corrupt);
                CHECK(thrown_code([&] {
                          qstore::word_rans_decode_stream(isa, lookup, longer.data(), longer.size(), dec.data(), n,
                                                          table, "t");
                      }) == Errc::corrupt);
            }
        }
    }
    // A lane count outside 4..64.
    std::vector<uint8_t> v(5000, 3);
    qstore::ByteVector enc;
    v[7] = 4;
    qstore::word_rans_encode_stream(qstore::kernel_set_detected(), v.data(), v.size(), scratch, enc);
    for (uint8_t k : {uint8_t(0), uint8_t(1), uint8_t(7), uint8_t(255)}) {
        enc[0] = k;
        std::vector<uint8_t> dec(v.size());
        CHECK(thrown_code([&] {
                  qstore::word_rans_decode_stream(qstore::kernel_set_detected(), qstore::table_lookup_detected(),
                                                  enc.data(), enc.size(), dec.data(), dec.size(), table, "t");
              }) == Errc::corrupt);
    }
}

TEST_CASE("word rANS streams: the size bound never exceeds the coded size", "[unit][stream_set]") {
    // The stream encoder skips the rANS trial when this bound exceeds zstd's size, so a
    // bound above a real coded size would change which coder a file gets.
    std::mt19937_64 rng(31);
    qstore::WordRansEncodeScratch scratch;
    for (int trial = 0; trial < 300; ++trial) {
        const size_t n = 4096 + rng() % 100000;
        std::vector<uint8_t> v(n);
        // Skewed alphabets of every spread, from near-constant to uniform bytes.
        const double spread = 0.05 + static_cast<double>(rng() % 1000) / 20.0;
        std::normal_distribution<double> dist(128.0, spread);
        for (auto& b : v) b = static_cast<uint8_t>(std::clamp(std::lround(dist(rng)), 0L, 255L));
        const auto count = qstore::byte_histogram(v.data(), n);
        qstore::ByteVector full;
        REQUIRE(qstore::word_rans_encode_stream(qstore::kernel_set_detected(), v.data(), n, count, scratch, full));
        CAPTURE(n, spread, full.size());
        // A limit equal to the coded size is always coded, to the same bytes.
        qstore::ByteVector at;
        REQUIRE(
            qstore::word_rans_encode_stream(qstore::kernel_set_detected(), v.data(), n, count, scratch, at, full.size()));
        CHECK(at == full);
        // Far below it (the model alone would not fit), it gives up.
        qstore::ByteVector below;
        CHECK_FALSE(qstore::word_rans_encode_stream(qstore::kernel_set_detected(), v.data(), n, count, scratch, below,
                                                   full.size() / 2));
    }
}

TEST_CASE("rANS round-trips byte streams of every shape", "[unit][stream_set]") {
    std::mt19937_64 rng(17);
    qstore::RansEncodeScratch scratch;  // reused from stream to stream
    qstore::RansTable table;
    for (size_t n : {size_t(1), size_t(2), size_t(3), size_t(4), size_t(5), size_t(17), size_t(1000), size_t(65537)}) {
        for (int alphabet : {1, 2, 3, 17, 256}) {
            CAPTURE(n, alphabet);
            std::vector<uint8_t> v(n);
            for (auto& b : v) b = static_cast<uint8_t>(rng() % static_cast<uint64_t>(alphabet));
            qstore::ByteVector enc;
            qstore::rans_encode(v.data(), v.size(), qstore::byte_histogram(v.data(), v.size()), scratch, enc);
            std::vector<uint8_t> dec(n, 0xAA);
            qstore::rans_decode(enc.data(), enc.size(), dec.data(), dec.size(), table, "test");
            REQUIRE(first_mismatch(dec, v) == -1);
            // Asking for one symbol more is detected (unless the stream holds a single
            // symbol value: its only state never changes, and the stream-set table's size
            // is what fixes the count; the encoder uses "constant" for such streams anyway).
            std::vector<uint8_t> more(n + 1);
            if (std::set<uint8_t>(v.begin(), v.end()).size() > 1)
                CHECK(thrown_code([&] {
                          qstore::rans_decode(enc.data(), enc.size(), more.data(), more.size(), table, "test");
                      }) == Errc::corrupt);
        }
    }
}

TEST_CASE("damaged stream sets throw qstore::Error instead of misbehaving", "[unit][stream_set]") {
    const auto cases = stream_cases();
    const auto blob = encode_set(cases, 3);

    SECTION("every strict prefix is refused") {
        for (size_t len = 0; len < blob.size(); len += (len < 200 ? 1 : 97)) {
            std::vector<uint8_t> cut(blob.begin(), blob.begin() + static_cast<long>(len));
            CAPTURE(len);
            CHECK(thrown_code([&] { decode_set(cut.data(), cut.size()); }) == Errc::corrupt);
        }
    }
    SECTION("a trailing byte is refused") {
        std::vector<uint8_t> longer = blob;
        longer.push_back(0);
        CHECK(thrown_code([&] { decode_set(longer.data(), longer.size()); }) == Errc::corrupt);
    }
    SECTION("an unknown codec byte is refused") {
        for (uint8_t codec : {uint8_t(6), uint8_t(0x7F), uint8_t(0xFF)}) {
            auto bad = handmade_set({{qstore::StreamCodec::raw, {1, 2, 3}}}, {3}, {0});
            bad[1] = codec;  // table: [count=1][codec]...
            CHECK(thrown_code([&] { decode_set(bad.data(), bad.size()); }) == Errc::corrupt);
        }
    }
    SECTION("an absurd stream count is refused") {
        std::vector<uint8_t> bad;
        qstore::put_varint(bad, uint64_t(1) << 40);
        bad.push_back(0);
        CHECK(thrown_code([&] { decode_set(bad.data(), bad.size()); }) == Errc::corrupt);
        std::vector<uint8_t> varint_overflow(11, 0xFF);
        CHECK(thrown_code([&] { decode_set(varint_overflow.data(), varint_overflow.size()); }) == Errc::corrupt);
    }
    SECTION("sizes that do not add up are refused") {
        // raw stream claims 10 bytes, 3 present
        std::vector<uint8_t> bad = {1, static_cast<uint8_t>(qstore::StreamCodec::raw), 10, 1, 2, 3};
        CHECK(thrown_code([&] { decode_set(bad.data(), bad.size()); }) == Errc::corrupt);
        // zstd stream whose stored size exceeds the blob
        std::vector<uint8_t> bad2 = {1, static_cast<uint8_t>(qstore::StreamCodec::zstd), 10, 100, 1, 2, 3};
        CHECK(thrown_code([&] { decode_set(bad2.data(), bad2.size()); }) == Errc::corrupt);
    }
    SECTION("a decoded size other than the one asked for is refused") {
        auto refs = qstore::parse_stream_set(blob.data(), blob.size(), "test");
        qstore::StreamDecoder decoder(qstore::kernel_set_detected(), qstore::table_lookup_detected());
        for (const auto& r : refs) {
            std::vector<uint8_t> dst(r.raw_size + 1);
            CHECK(thrown_code([&] { decoder.decode(r, dst.data(), dst.size(), "test"); }) == Errc::corrupt);
        }
    }
    SECTION("garbage in place of a zstd frame or a rANS stream is refused") {
        std::vector<uint8_t> junk(64, 0xFF);
        auto z = handmade_set({{qstore::StreamCodec::zstd, junk}}, {100}, {0});
        CHECK(thrown_code([&] { decode_set(z.data(), z.size()); }) == Errc::corrupt);
        auto r = handmade_set({{qstore::StreamCodec::rans, junk}}, {100}, {0});
        CHECK(thrown_code([&] { decode_set(r.data(), r.size()); }) == Errc::corrupt);
        std::vector<uint8_t> nothing;
        auto r0 = handmade_set({{qstore::StreamCodec::rans, nothing}}, {100}, {0});
        CHECK(thrown_code([&] { decode_set(r0.data(), r0.size()); }) == Errc::corrupt);
    }
    SECTION("single-byte damage in a rANS stream never goes unnoticed or crashes") {
        std::vector<uint8_t> text(2000);
        std::mt19937_64 rng(5);
        std::geometric_distribution<int> geo(0.2);
        for (auto& b : text) b = static_cast<uint8_t>(std::min(255, geo(rng)));
        qstore::ByteVector enc;
        qstore::RansEncodeScratch scratch;
        qstore::RansTable table;
        qstore::rans_encode(text.data(), text.size(), qstore::byte_histogram(text.data(), text.size()), scratch, enc);
        size_t detected = 0, silent = 0;
        for (size_t i = 0; i < enc.size(); ++i) {
            std::vector<uint8_t> bad(enc.begin(), enc.end());
            bad[i] ^= 0x5A;
            std::vector<uint8_t> dec(text.size());
            const Errc e =
                thrown_code([&] { qstore::rans_decode(bad.data(), bad.size(), dec.data(), dec.size(), table, "t"); });
            if (e == Errc::corrupt) ++detected;
            else if (e == Errc::ok && dec != text) ++silent;  // possible in principle: no checksum at this level
            else CHECK((e == Errc::ok || e == Errc::corrupt));
        }
        // The rANS end-state check catches nearly every damaged payload byte.
        CHECK(detected > enc.size() * 9 / 10);
        (void)silent;
    }
}

// ---------------------------------------------------------------- format ----

TEST_CASE("file header: serialize/parse round trip and damage detection", "[unit][format]") {
    qstore::FileHeader h;
    h.flags = 0;
    h.file_size = 123456789012ull;
    h.directory_offset = 4096;
    h.directory_count = 4;
    h.low_prefix_end = 8192;
    const auto bytes = qstore::serialize_header(h);
    REQUIRE(bytes.size() == qstore::kHeaderSize);
    CHECK(std::memcmp(bytes.data(), qstore::kMagic, 8) == 0);
    CHECK(qstore::load_le(bytes.data() + 56, 8) == XXH3_64bits(bytes.data(), 56));
    const auto p = qstore::parse_header(bytes.data(), "h");
    CHECK(p.major == qstore::kFormatMajor);
    CHECK(p.minor == qstore::kFormatMinor);
    CHECK(p.file_size == h.file_size);
    CHECK(p.directory_offset == h.directory_offset);
    CHECK(p.directory_count == h.directory_count);
    CHECK(p.low_prefix_end == h.low_prefix_end);

    for (size_t i = 0; i < bytes.size(); ++i) {
        for (uint8_t mask : {uint8_t(0x01), uint8_t(0x80)}) {
            auto bad = bytes;
            bad[i] ^= mask;
            CAPTURE(i, int(mask));
            const Errc e = thrown_code([&] { qstore::parse_header(bad.data(), "h"); });
            if (i < 8) CHECK(e == Errc::not_qstore);
            // The checksum is checked before the major version (docs/FORMAT.md §3), so a
            // damaged major byte is CORRUPT; a re-checksummed other major is UNSUPPORTED.
            else CHECK(e == Errc::corrupt);
        }
    }
    // A newer major version with a valid checksum is "unsupported", not "corrupt".
    qstore::FileHeader v2 = h;
    v2.major = 2;
    CHECK(thrown_code([&] { qstore::parse_header(qstore::serialize_header(v2).data(), "h"); }) == Errc::unsupported);
}

TEST_CASE("section directory: serialize/parse round trip and damage detection", "[unit][format]") {
    std::vector<qstore::SectionEntry> entries(3);
    for (size_t i = 0; i < entries.size(); ++i) {
        entries[i].kind = static_cast<uint32_t>(i + 1);
        entries[i].flags = static_cast<uint32_t>(i * 3);
        entries[i].level = static_cast<uint32_t>(i);
        entries[i].offset = 64 * (i + 1);
        entries[i].stored_size = 1000 + i;
        entries[i].raw_size = 2000 + i;
        entries[i].checksum = 0xABCDEF0123456789ull ^ i;
    }
    const auto bytes = qstore::serialize_directory(entries);
    REQUIRE(bytes.size() == qstore::directory_size(entries.size()));
    const auto back = qstore::parse_directory(bytes.data(), entries.size(), "d");
    REQUIRE(back.size() == entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
        CHECK(back[i].kind == entries[i].kind);
        CHECK(back[i].flags == entries[i].flags);
        CHECK(back[i].level == entries[i].level);
        CHECK(back[i].offset == entries[i].offset);
        CHECK(back[i].stored_size == entries[i].stored_size);
        CHECK(back[i].raw_size == entries[i].raw_size);
        CHECK(back[i].checksum == entries[i].checksum);
    }
    for (size_t i = 0; i < bytes.size(); ++i) {
        auto bad = bytes;
        bad[i] ^= 0x10;
        CAPTURE(i);
        CHECK(thrown_code([&] { qstore::parse_directory(bad.data(), entries.size(), "d"); }) == Errc::corrupt);
    }
}

TEST_CASE("tensor index: serialize/parse round trip and damage detection", "[unit][format]") {
    std::mt19937_64 rng(23);
    std::vector<qstore::TensorRecord> recs;
    for (int i = 0; i < 40; ++i) {
        qstore::TensorRecord t;
        t.name = "tensor." + std::to_string(i) + (i % 5 == 0 ? ".\xC3\xBC\xE2\x9C\x93" : "") + std::string(rng() % 100, 'x');
        t.high_dtype = static_cast<qstore::DType>(1 + rng() % 15);
        const int ndim = static_cast<int>(rng() % 9);
        for (int d = 0; d < ndim; ++d) t.shape.push_back(d == 0 && rng() % 3 == 0 ? (rng() % 100000) : (rng() % 7));
        // Passthrough, pairs of every scheme (grouped ones with random group sizes), chains.
        const int low_levels = i % 3 == 0 ? 0 : i % 3 == 1 ? 1 : 2 + static_cast<int>(rng() % 3);
        for (int k = 0; k < low_levels; ++k) {
            const auto id = static_cast<qstore::SchemeId>(1 + rng() % (qstore::kSchemeCount - 1));
            t.low.push_back({id, qstore::scheme_has_group(id) ? static_cast<uint32_t>(1 + rng() % 4096) : 0});
        }
        const bool quantized = low_levels > 0;
        t.rows_per_block = quantized ? 1 + rng() % 100000 : 0;
        t.levels.resize(low_levels + 1);
        for (size_t l = 0; l < t.levels.size(); ++l) {
            const int parts = static_cast<int>(1 + rng() % 3);
            for (int k = 0; k < parts; ++k) {
                qstore::PartRef p;
                p.role = static_cast<qstore::PartRole>(1 + rng() % 6);
                p.encoding = static_cast<qstore::PartEncoding>(rng() % 2);
                p.offset = rng() >> (rng() % 64);
                p.size = rng() >> (rng() % 64);
                p.checksum = rng();
                t.levels[l].push_back(p);
            }
        }
        recs.push_back(t);
    }
    const auto bytes = qstore::serialize_index(recs);
    const auto back = qstore::parse_index(bytes.data(), bytes.size(), "idx");
    REQUIRE(back.size() == recs.size());
    for (size_t i = 0; i < recs.size(); ++i) {
        INFO(recs[i].name);
        CHECK(back[i].name == recs[i].name);
        CHECK(back[i].high_dtype == recs[i].high_dtype);
        CHECK(back[i].shape == recs[i].shape);
        CHECK(back[i].low == recs[i].low);
        CHECK(back[i].rows_per_block == recs[i].rows_per_block);
        REQUIRE(back[i].levels.size() == recs[i].levels.size());
        for (size_t l = 0; l < recs[i].levels.size(); ++l) {
            REQUIRE(back[i].levels[l].size() == recs[i].levels[l].size());
            for (size_t k = 0; k < recs[i].levels[l].size(); ++k) {
                const auto& a = back[i].levels[l][k];
                const auto& b = recs[i].levels[l][k];
                CHECK(a.role == b.role);
                CHECK(a.encoding == b.encoding);
                CHECK(a.offset == b.offset);
                CHECK(a.size == b.size);
                CHECK(a.checksum == b.checksum);
            }
        }
    }
    // Serialization is canonical: parse + serialize gives the same bytes.
    CHECK(qstore::serialize_index(back) == bytes);
    // Empty index.
    const auto empty = qstore::serialize_index({});
    CHECK(qstore::parse_index(empty.data(), empty.size(), "idx").empty());

    // Every strict prefix and a trailing byte are refused (never read out of bounds).
    for (size_t len = 0; len < bytes.size(); len += (len < 300 ? 1 : 31)) {
        CAPTURE(len);
        const Errc e = thrown_code([&] { qstore::parse_index(bytes.data(), len, "idx"); });
        CHECK((e == Errc::corrupt || e == Errc::unsupported));
    }
    auto longer = bytes;
    longer.push_back(0);
    CHECK(thrown_code([&] { qstore::parse_index(longer.data(), longer.size(), "idx"); }) == Errc::corrupt);
}

TEST_CASE("tensor index: unknown dtype, scheme or encoding is unsupported, 9 dimensions corrupt", "[unit][format]") {
    auto one = [](auto mutate) {
        qstore::TensorRecord t;
        t.name = "w";
        t.high_dtype = qstore::DType::f32;
        t.shape = {2, 3};
        t.levels.resize(1);
        t.levels[0].push_back(qstore::PartRef{});
        mutate(t);
        return qstore::serialize_index({t});
    };
    auto parse = [](const std::vector<uint8_t>& b) {
        return thrown_code([&] { qstore::parse_index(b.data(), b.size(), "idx"); });
    };
    CHECK(parse(one([](qstore::TensorRecord&) {})) == Errc::ok);
    CHECK(parse(one([](qstore::TensorRecord& t) { t.high_dtype = static_cast<qstore::DType>(16); })) == Errc::unsupported);
    CHECK(parse(one([](qstore::TensorRecord& t) { t.high_dtype = qstore::DType::unknown; })) == Errc::unsupported);
    CHECK(parse(one([](qstore::TensorRecord& t) { t.low = {{static_cast<qstore::SchemeId>(14), 0}}; })) ==
          Errc::unsupported);
    CHECK(parse(one([](qstore::TensorRecord& t) { t.low = {{static_cast<qstore::SchemeId>(254), 0}}; })) ==
          Errc::unsupported);
    // A group size of 0 and a chain containing passthrough are damage, not a newer writer.
    CHECK(parse(one([](qstore::TensorRecord& t) { t.low = {{qstore::SchemeId::int8_group, 0}}; })) == Errc::corrupt);
    CHECK(parse(one([](qstore::TensorRecord& t) {
              t.low = {{qstore::SchemeId::q4_0, 0}, {qstore::SchemeId::passthrough, 0}};
          })) == Errc::corrupt);
    CHECK(parse(one([](qstore::TensorRecord& t) {
              t.low = {{qstore::SchemeId::q4_0, 0}, {qstore::SchemeId::int8_group, 64}};
          })) == Errc::ok);
    CHECK(parse(one([](qstore::TensorRecord& t) { t.levels[0][0].encoding = static_cast<qstore::PartEncoding>(200); })) ==
          Errc::unsupported);
    CHECK(parse(one([](qstore::TensorRecord& t) { t.shape.assign(9, 1); })) == Errc::corrupt);
    CHECK(parse(one([](qstore::TensorRecord& t) { t.shape = {1ull << 40, 1ull << 40}; })) == Errc::corrupt);
}

TEST_CASE("block container: round trip and damage detection", "[unit][format]") {
    std::vector<std::vector<uint8_t>> blocks = {{}, {1}, std::vector<uint8_t>(300, 2), {3, 4, 5}};
    std::vector<uint8_t> out = {0xEE};  // parsed from an offset
    std::vector<qstore::BlockRef> given;
    for (const auto& b : blocks) given.push_back({b.data(), b.size()});
    const std::vector<uint8_t> table = qstore::block_container_table(given);
    out.insert(out.end(), table.begin(), table.end());
    for (const auto& b : blocks) out.insert(out.end(), b.begin(), b.end());
    const auto refs = qstore::parse_block_container(out.data() + 1, out.size() - 1, "b");
    REQUIRE(refs.size() == blocks.size());
    for (size_t i = 0; i < blocks.size(); ++i) {
        REQUIRE(refs[i].size == blocks[i].size());
        CHECK(first_mismatch(refs[i].data, refs[i].size, blocks[i].data(), blocks[i].size()) == -1);
    }
    for (size_t len = 0; len + 1 < out.size(); ++len)
        CHECK(thrown_code([&] { qstore::parse_block_container(out.data() + 1, len, "b"); }) == Errc::corrupt);
    auto longer = out;
    longer.push_back(9);
    CHECK(thrown_code([&] { qstore::parse_block_container(longer.data() + 1, longer.size() - 1, "b"); }) == Errc::corrupt);
}

TEST_CASE("reusable bytes: grow keeps the prefix asked for, across heap and mapped buffers", "[unit][memory]") {
    qstore::ReusableBytes b;
    std::vector<uint8_t> expect;
    // 1 KB (heap) -> 200 KB (heap) -> 3 MB (mapped, 2 MiB units) -> 9 MB (mapped): each
    // step writes a pattern over the whole size and then keeps a prefix of it.
    const size_t sizes[] = {1000, 200000, 3000000, 9000000};
    size_t have = 0;
    uint32_t x = 12345;
    for (size_t n : sizes) {
        const size_t keep = have / 2 + 1;
        uint8_t* p = b.grow(n, std::min(keep, have));
        REQUIRE(b.capacity() >= n + qstore::ReusableBytes::kSlack);
        CHECK(first_mismatch(p, std::min(keep, have), expect.data(), std::min(keep, have)) == -1);
        expect.resize(n);
        for (size_t i = 0; i < n; ++i) p[i] = expect[i] = static_cast<uint8_t>((x = x * 1103515245u + 12345u) >> 24);
        have = n;
        // Asking for no more than the capacity changes nothing.
        CHECK(b.grow(n / 2, 0) == p);
        CHECK(first_mismatch(p, n, expect.data(), n) == -1);
    }
}

TEST_CASE("reusable bytes: a grow that cannot allocate leaves the buffer as it was", "[unit][memory]") {
    // Several threads append to one arena: a failed grow must not free the bytes the
    // next one copies from (it did, and the next grow copied from a null pointer).
    for (size_t first : {size_t{1000}, size_t{3000000}}) {  // heap, mapped
        qstore::ReusableBytes b;
        uint8_t* p = b.reserve(first);
        for (size_t i = 0; i < first; ++i) p[i] = static_cast<uint8_t>(i * 7);
        const size_t capacity = b.capacity();
        CHECK_THROWS_AS(b.grow(size_t{1} << 50, first), std::bad_alloc);  // more than any machine maps
        REQUIRE(b.data() == p);
        CHECK(b.capacity() == capacity);
        size_t bad = 0;
        for (size_t i = 0; i < first; ++i) bad += p[i] != static_cast<uint8_t>(i * 7);
        CHECK(bad == 0);
    }
}

TEST_CASE("byte vectors grow at least twofold, keeping their bytes", "[unit][memory]") {
    // Encoder output buffers must reach their size in a few steps: each step is fresh
    // memory, first touched again (base/reusable_bytes.hpp, base/byte_io.hpp's reserve_more).
    // Appended in uneven pieces across the heap / 2 MiB-page boundary
    // (ReusableBytes::kMappedFrom) and several 2 MiB units, as std::vector would hold them.
    qstore::ByteVector v;
    std::vector<uint8_t> expect;
    uint32_t x = 99;
    size_t grew = 0, last_capacity = 0;
    while (expect.size() < 5000000) {
        std::vector<uint8_t> piece(1 + (x = x * 1103515245u + 12345u) % 150000);
        for (auto& c : piece) c = static_cast<uint8_t>((x = x * 1103515245u + 12345u) >> 24);
        qstore::put_bytes(v, piece.data(), piece.size());
        expect.insert(expect.end(), piece.begin(), piece.end());
        if (v.capacity() != last_capacity) {
            if (last_capacity) CHECK(v.capacity() >= 2 * last_capacity);
            last_capacity = v.capacity();
            ++grew;
        }
    }
    CHECK(grew <= 8);
    REQUIRE(v.size() == expect.size());
    CHECK(first_mismatch(v.data(), v.size(), expect.data(), expect.size()) == -1);
    qstore::ByteVector copy = v;  // allocated and freed through the allocator too
    CHECK(first_mismatch(copy.data(), copy.size(), expect.data(), expect.size()) == -1);
}

TEST_CASE("read-ahead windows serve every range with the file's bytes, across files and jumps", "[unit][memory]") {
    TempDir dir;
    std::vector<uint8_t> content[2];
    std::unique_ptr<qstore::MappedFile> files[2];
    uint32_t x = 777;
    for (int f = 0; f < 2; ++f) {
        content[f].resize(f == 0 ? 3000000 : 70000);  // larger and smaller than the windows
        for (auto& b : content[f]) b = static_cast<uint8_t>((x = x * 1103515245u + 12345u) >> 24);
        const std::string path = dir.file("f" + std::to_string(f) + ".bin");
        write_file(path, content[f]);
        files[f] = std::make_unique<qstore::MappedFile>(path);
    }
    constexpr size_t kMax = 256 << 10;
    std::vector<uint8_t> memory(kMax);
    qstore::ReadAhead ahead;
    std::mt19937_64 rng(99);
    uint64_t at[2] = {0, 0};
    for (int step = 0; step < 4000; ++step) {
        // Mostly forward walks over small ranges (the window grows), sometimes a jump
        // back or ahead, a switch of file, or a range of up to the whole window.
        const int f = rng() % 16 == 0 ? 1 : 0;
        const uint64_t size = content[f].size();
        if (rng() % 20 == 0) at[f] = rng() % size;
        const uint64_t len = rng() % 50 == 0 ? rng() % (kMax + 1) : rng() % 5000;
        const uint64_t begin = std::min(at[f], size), end = std::min(size, begin + len);
        const uint8_t* p = ahead.get(*files[f], begin, end, memory.data(), kMax);
        REQUIRE(p >= memory.data());
        REQUIRE(p + (end - begin) <= memory.data() + kMax);
        REQUIRE(first_mismatch(p, end - begin, content[f].data() + begin, end - begin) == -1);
        at[f] = end + rng() % 300;
        if (at[f] >= size) at[f] = 0;
    }
    CHECK(thrown_code([&] { ahead.get(*files[0], 0, kMax + 1, memory.data(), kMax); }) == Errc::internal);
}

TEST_CASE("file sinks: append_from copies a temporary sink between buffered writes", "[unit][memory]") {
    TempDir dir;
    // The temporary sink in the same folder (copied in the kernel) and, where there is
    // one, on a tmpfs (another file system: copy_file_range refuses, read and write copy).
    std::vector<std::string> temp_dirs = {dir.path()};
    if (fs::is_directory("/dev/shm")) temp_dirs.push_back("/dev/shm");
    const std::string temp_dir = GENERATE_COPY(from_range(temp_dirs));
    CAPTURE(temp_dir);
    const std::string path = dir.file("out.bin");
    std::vector<uint8_t> expect;
    uint32_t x = 4242;
    auto bytes = [&](size_t n) {
        std::vector<uint8_t> v(n);
        for (auto& b : v) b = static_cast<uint8_t>((x = x * 1103515245u + 12345u) >> 24);
        return v;
    };
    {
        qstore::FileSink out(path, false), temp(temp_dir + "/temp.bin", true);
        // Small (buffered) and large (direct) writes on both sides of the append.
        for (size_t n : {100, 70000, 3}) {
            auto v = bytes(n);
            out.write(v.data(), v.size());
            expect.insert(expect.end(), v.begin(), v.end());
        }
        std::vector<uint8_t> appended;
        for (size_t n : {5, 200000, 1 << 20, 17}) {
            auto v = bytes(n);
            temp.write(v.data(), v.size());
            appended.insert(appended.end(), v.begin(), v.end());
        }
        out.append_from(temp);
        expect.insert(expect.end(), appended.begin(), appended.end());
        CHECK(out.position() == expect.size());
        auto tail = bytes(1000);
        out.write(tail.data(), tail.size());
        expect.insert(expect.end(), tail.begin(), tail.end());
        out.close();
    }
    const std::vector<uint8_t> got = read_file(path);
    REQUIRE(got.size() == expect.size());
    CHECK(first_mismatch(got.data(), got.size(), expect.data(), expect.size()) == -1);
}

// ----------------------------------------------------------- safetensors ----

namespace {
// A safetensors file of the given header text and 16 data bytes.
std::string safetensors_with_header(const TempDir& dir, const std::string& header) {
    std::vector<uint8_t> bytes(8);
    const uint64_t n = header.size();
    std::memcpy(bytes.data(), &n, 8);
    bytes.insert(bytes.end(), header.begin(), header.end());
    for (int i = 0; i < 16; ++i) bytes.push_back(static_cast<uint8_t>(i));
    const std::string path = dir.file("h.safetensors");
    write_file(path, bytes);
    return path;
}
}  // namespace

TEST_CASE("safetensors headers: entries, skipped keys and metadata are read as written", "[unit][safetensors]") {
    TempDir dir;
    const std::string path = safetensors_with_header(
        dir, R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16],"extra":{"x":[1,{"y":null}]}},)"
             R"("__metadata__":{"format":"pt","n":3,"o":{"k":[true,1.5]}},)"
             R"("a":{"shape":[2,2],"data_offsets":[0,8],"dtype":"BF16"},"z":{"dtype":"I8","shape":[0],"data_offsets":[8,8]}})");
    qstore::SafetensorsReader r(path);
    const auto& t = r.tensors();
    REQUIRE(t.size() == 3);
    // By data offset, then name.
    CHECK(t[0].name == "a");
    CHECK(t[1].name == "b");
    CHECK(t[2].name == "z");
    CHECK(t[0].dtype == qstore::DType::bf16);
    CHECK(t[0].shape == std::vector<uint64_t>{2, 2});
    CHECK(t[1].shape == std::vector<uint64_t>{2});
    CHECK(t[1].size == 8);
    CHECK(t[1].data[0] == 8);
    CHECK(t[2].size == 0);
    CHECK(r.find("b") == &t[1]);
    // Values other than strings are kept as their JSON text.
    const std::map<std::string, std::string> meta = {{"format", "pt"}, {"n", "3"}, {"o", R"({"k":[true,1.5]})"}};
    CHECK(r.metadata() == meta);
    // Metadata that is not an object is ignored.
    qstore::SafetensorsReader r2(safetensors_with_header(
        dir, R"({"__metadata__":"x","a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]}})"));
    CHECK(r2.metadata().empty());
    CHECK(r2.tensors().size() == 1);
}

TEST_CASE("safetensors headers: malformed ones are corrupt, naming the tensor", "[unit][safetensors]") {
    TempDir dir;
    const std::string ok = R"("dtype":"F32","shape":[2],"data_offsets":[0,8])";
    struct Case {
        std::string header;
        Errc code;
        std::string message;
    };
    const std::vector<Case> cases = {
        {R"([1,2])", Errc::corrupt, "header is not a JSON object"},
        {R"({"a":{)" + ok + "}", Errc::corrupt, "invalid JSON"},
        {R"({"a":{)" + ok + R"(},"b":[1])" + "}", Errc::corrupt, "tensor 'b': malformed entry: not an object"},
        {R"({"a":5})", Errc::corrupt, "tensor 'a': malformed entry: not an object"},
        {R"({"a":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", Errc::corrupt, "tensor 'a': malformed entry: dtype"},
        {R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", Errc::corrupt, "arrays"},
        {R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", Errc::corrupt, "unsigned integers"},
        {R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", Errc::corrupt, "unsigned integers"},
        {R"({"a":{"dtype":"F32","shape":[[2]],"data_offsets":[0,8]}})", Errc::corrupt, "unsigned integers"},
        {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,"8"]}})", Errc::corrupt, "unsigned integers"},
        {R"({"a":{"dtype":"F32","shape":[2]}})", Errc::corrupt, "tensor 'a': malformed entry: needs"},
        {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}})", Errc::corrupt, "data_offsets out of range"},
        {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,24]}})", Errc::corrupt, "data_offsets out of range"},
        {R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", Errc::corrupt, "does not match"},
        {R"({"a":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}})", Errc::unsupported, "unsupported dtype Q9"},
        {R"({"a":{)" + ok + R"(},"a":{)" + ok + "}}", Errc::corrupt, "tensor 'a' appears twice"},
    };
    for (const Case& c : cases) {
        CAPTURE(c.header);
        const std::string path = safetensors_with_header(dir, c.header);
        std::string message;
        Errc code = Errc::ok;
        try {
            qstore::SafetensorsReader r(path);
        } catch (const qstore::Error& e) {
            code = e.code();
            message = e.what();
        }
        CHECK(code == c.code);
        CHECK_THAT(message, Catch::Matchers::Contains(c.message));
    }
}

// ------------------------------------------------------- byte_io, dtype ----

TEST_CASE("varints round-trip at every length and malformed ones are refused", "[unit][byte_io]") {
    std::vector<uint64_t> values = {0, 1, 127, 128, 255, 16383, 16384, UINT32_MAX, (1ull << 56) - 1, 1ull << 63, UINT64_MAX};
    for (int s = 0; s < 64; ++s) values.push_back((1ull << s) - 1), values.push_back(1ull << s);
    std::vector<uint8_t> buf;
    for (uint64_t v : values) qstore::put_varint(buf, v);
    qstore::ByteReader r(buf.data(), buf.size(), "v");
    for (uint64_t v : values) REQUIRE(r.varint() == v);
    CHECK(r.at_end());
    CHECK(thrown_code([&] { r.varint(); }) == Errc::corrupt);  // past the end
    // Examples of docs/FORMAT.md §2, and non-minimal forms (accepted by the reader).
    std::vector<uint8_t> ex;
    qstore::put_varint(ex, 300);
    CHECK(ex == std::vector<uint8_t>{0xAC, 0x02});
    ex.clear();
    qstore::put_varint(ex, 65536);
    CHECK(ex == std::vector<uint8_t>{0x80, 0x80, 0x04});
    const std::vector<uint8_t> non_minimal = {0x80, 0x00, 0xAC, 0x82, 0x80, 0x00};
    qstore::ByteReader rn(non_minimal.data(), non_minimal.size(), "v");
    CHECK(rn.varint() == 0);
    CHECK(rn.varint() == 300);
    CHECK(rn.at_end());
    const std::vector<uint8_t> too_long(10, 0x80);
    qstore::ByteReader r2(too_long.data(), too_long.size(), "v");
    CHECK(thrown_code([&] { r2.varint(); }) == Errc::corrupt);
    const std::vector<uint8_t> overflow = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02};  // 2^64
    qstore::ByteReader r3(overflow.data(), overflow.size(), "v");
    CHECK(thrown_code([&] { r3.varint(); }) == Errc::corrupt);
}

TEST_CASE("dtype names and sizes match safetensors", "[unit][dtype]") {
    const std::vector<std::tuple<const char*, qstore::DType, size_t>> rows = {
        {"F32", qstore::DType::f32, 4},   {"F16", qstore::DType::f16, 2},         {"BF16", qstore::DType::bf16, 2},
        {"F64", qstore::DType::f64, 8},   {"I8", qstore::DType::i8, 1},           {"U8", qstore::DType::u8, 1},
        {"I16", qstore::DType::i16, 2},   {"U16", qstore::DType::u16, 2},         {"I32", qstore::DType::i32, 4},
        {"U32", qstore::DType::u32, 4},   {"I64", qstore::DType::i64, 8},         {"U64", qstore::DType::u64, 8},
        {"BOOL", qstore::DType::boolean, 1}, {"F8_E4M3", qstore::DType::f8_e4m3, 1}, {"F8_E5M2", qstore::DType::f8_e5m2, 1}};
    for (const auto& [name, t, size] : rows) {
        CAPTURE(name);
        CHECK(qstore::dtype_from_name(name) == t);
        CHECK(std::string(qstore::dtype_name(t)) == name);
        CHECK(qstore::dtype_size(t) == size);
        CHECK(qstore::dtype_is_quantizable(t) == (t == qstore::DType::f32 || t == qstore::DType::f16 || t == qstore::DType::bf16));
    }
    CHECK(qstore::dtype_from_name("f32") == qstore::DType::unknown);
    CHECK(qstore::dtype_from_name("") == qstore::DType::unknown);
    CHECK(qstore::dtype_from_name("?") == qstore::DType::unknown);
}
