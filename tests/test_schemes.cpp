// Low-precision schemes: known answers computed by hand from the documented formulas
// (schemes/int8.hpp, schemes/fp8.hpp, base/fp8.hpp), and bit-exact round trips of both
// precisions for every scheme over awkward tensors (NaN payloads, +-0, +-Inf,
// subnormals, outlier rows), with codes the scheme's own quantizer made and codes
// given from a file that are NOT the quantizer's.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>

#include "fixtures.hpp"
#include "base/fp8.hpp"
#include "schemes/layout.hpp"
#include "schemes/registry.hpp"
#include "schemes/scheme.hpp"
#include "pack/packer.hpp"
#include "qs_util.hpp"
#include "entropy/rans_word.hpp"  // kernel sets

using namespace qs_test;
using qstore::DType;
using qstore::SchemeId;

namespace {

std::vector<uint8_t> f32_bytes(const std::vector<float>& v) {
    std::vector<uint8_t> out(v.size() * 4);
    std::memcpy(out.data(), v.data(), out.size());
    return out;
}

struct Quantized {
    std::vector<uint8_t> codes;
    std::vector<float> scales;
};

Quantized quantize(SchemeId id, const std::vector<float>& values, uint64_t rows) {
    const qstore::LowScheme& s = *qstore::low_scheme(id);
    qstore::Geometry g{rows, values.size() / rows};
    Quantized q;
    q.codes.resize(s.code_bytes(g));
    q.scales.resize(s.scale_count(g));
    const auto bytes = f32_bytes(values);
    const qstore::LowTensorData low{q.codes.data(), q.scales.data(), nullptr};
    s.prepare(qstore::kernel_set_detected(), bytes.data(), DType::f32, g, low);
    s.quantize(qstore::kernel_set_detected(), bytes.data(), DType::f32, g, 0, rows, low);
    return q;
}

}  // namespace

TEST_CASE("FP8 E4M3 conversion: known answers", "[fp8]") {
    using qstore::fp8_from_f32;
    using qstore::kE4M3;
    CHECK(fp8_from_f32(1.0f, kE4M3) == 0x38);        // exponent 7 (bias 7), mantissa 0
    CHECK(fp8_from_f32(-1.0f, kE4M3) == 0xB8);
    CHECK(fp8_from_f32(448.0f, kE4M3) == 0x7E);      // largest finite
    CHECK(fp8_from_f32(1000.0f, kE4M3) == 0x7E);     // saturates
    CHECK(fp8_from_f32(-INFINITY, kE4M3) == 0xFE);   // saturates, no Inf in E4M3
    CHECK(fp8_from_f32(NAN, kE4M3) == 0x7F);
    CHECK(fp8_from_f32(0.0f, kE4M3) == 0x00);
    CHECK(fp8_from_f32(-0.0f, kE4M3) == 0x80);
    CHECK(fp8_from_f32(std::ldexp(1.0f, -6), kE4M3) == 0x08);   // smallest normal
    CHECK(fp8_from_f32(std::ldexp(1.0f, -9), kE4M3) == 0x01);   // smallest subnormal
    CHECK(fp8_from_f32(std::ldexp(1.0f, -10), kE4M3) == 0x00);  // tie 0 / 2^-9 -> even (0)
    CHECK(fp8_from_f32(std::ldexp(3.0f, -10), kE4M3) == 0x02);  // tie 1 / 2 (x 2^-9) -> even (2)
    CHECK(fp8_from_f32(1.0625f, kE4M3) == 0x38);     // tie 1.0 / 1.125 -> even mantissa 0
    CHECK(fp8_from_f32(1.1875f, kE4M3) == 0x3A);     // tie 1.125 / 1.25 -> even mantissa 2
    CHECK(fp8_from_f32(1.95f, kE4M3) == 0x40);       // rounds up into the next binade: 2.0
    CHECK(fp8_from_f32(0.5f, kE4M3) == 0x30);
}

TEST_CASE("FP8 E5M2 conversion: known answers", "[fp8]") {
    using qstore::fp8_from_f32;
    using qstore::kE5M2;
    CHECK(fp8_from_f32(1.0f, kE5M2) == 0x3C);        // exponent 15 (bias 15)
    CHECK(fp8_from_f32(57344.0f, kE5M2) == 0x7B);    // largest finite
    CHECK(fp8_from_f32(1e6f, kE5M2) == 0x7B);        // saturates
    CHECK(fp8_from_f32(INFINITY, kE5M2) == 0x7B);
    CHECK(fp8_from_f32(-NAN, kE5M2) == 0xFF);
    CHECK(fp8_from_f32(std::ldexp(1.0f, -16), kE5M2) == 0x01);
    CHECK(fp8_from_f32(1.125f, kE5M2) == 0x3C);      // tie 1.0 / 1.25 -> even
    CHECK(fp8_from_f32(1.375f, kE5M2) == 0x3E);      // tie 1.25 / 1.5 -> even mantissa 2
}

TEST_CASE("FP8 decode inverts encode for every finite code", "[fp8]") {
    for (const auto* f : {&qstore::kE4M3, &qstore::kE5M2}) {
        for (int c = 0; c < 256; ++c) {
            const float v = qstore::f32_from_fp8(static_cast<uint8_t>(c), *f);
            if (!std::isfinite(v)) continue;
            INFO("code " << c << " value " << v);
            CHECK(qstore::fp8_from_f32(v, *f) == c);
        }
    }
    CHECK(qstore::f32_from_fp8(0x7E, qstore::kE4M3) == 448.0f);
    CHECK(std::isnan(qstore::f32_from_fp8(0xFF, qstore::kE4M3)));
    CHECK(std::isinf(qstore::f32_from_fp8(0x7C, qstore::kE5M2)));
    CHECK(qstore::f32_from_fp8(0x01, qstore::kE4M3) == std::ldexp(1.0f, -9));
}

TEST_CASE("int8-tensor: known answers", "[schemes]") {
    // absmax 4 -> scale 4, 127/4 = 31.75: 1 -> 31.75 -> 32; -2 -> -63.5 -> -64 (even);
    // 0.5 -> 15.875 -> 16; 4 -> 127; NaN -> 0; -Inf -> -127.
    const auto q = quantize(SchemeId::int8_tensor, {1.0f, -2.0f, 0.5f, 4.0f, NAN, -INFINITY}, 2);
    REQUIRE(q.scales.size() == 1);
    CHECK(q.scales[0] == 4.0f);
    const std::vector<int8_t> want = {32, -64, 16, 127, 0, -127};
    CHECK(std::memcmp(q.codes.data(), want.data(), want.size()) == 0);
}

TEST_CASE("Rows longer than the quantizer's widening chunk: statistics of the whole row", "[schemes]") {
    // The quantizer widens rows to float32 in chunks of 4096 values (schemes/grid.cpp): a
    // row's largest |x|, a tensor's minimum and maximum count wherever they lie, at a
    // chunk's first or last value or in the row's last, partial chunk.
    const uint64_t cols = 3 * 4096 + 77;
    std::vector<float> v(2 * cols);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(static_cast<int>(i * 7919 % 2001) - 1000) / 1000.0f;
    v[100] = NAN;
    v[4096] = INFINITY;
    v[8191] = -3.0f;             // row 0: absmax at the end of its second chunk
    v[cols + 3 * 4096 + 76] = 2.5f;  // row 1: its last value
    const auto row = quantize(SchemeId::int8_row, v, 2);
    REQUIRE(row.scales == std::vector<float>{3.0f, 2.5f});
    for (uint64_t r = 0; r < 2; ++r)
        for (uint64_t c = 0; c < cols; ++c) {
            const float x = v[r * cols + c], inv = 127.0f / row.scales[r];
            const double want = std::isnan(x) ? 0 : std::fmax(-127.0, std::fmin(127.0, round_half_even(x * inv)));
            REQUIRE(static_cast<int8_t>(row.codes[r * cols + c]) == static_cast<int>(want));
        }
    v[cols + 4096] = -4.0f;  // the tensor's absmax: row 1, first value of its second chunk
    CHECK(quantize(SchemeId::int8_tensor, v, 2).scales == std::vector<float>{4.0f});
    // uint8-asym-tensor: minimum and maximum in different rows and chunks -> scale 1, zp 51.
    std::fill(v.begin(), v.end(), 0.0f);
    v[4095] = -51.0f;
    v[cols + 2 * 4096] = 204.0f;
    const qstore::LowScheme& asym = *qstore::low_scheme(SchemeId::uint8_asym_tensor);
    const qstore::Geometry g{2, cols};
    std::vector<uint8_t> codes(g.elements()), zp(1);
    std::vector<float> scale(1);
    const auto bytes = f32_bytes(v);
    const qstore::LowTensorData low{codes.data(), scale.data(), zp.data()};
    asym.prepare(qstore::kernel_set_detected(), bytes.data(), DType::f32, g, low);
    asym.quantize(qstore::kernel_set_detected(), bytes.data(), DType::f32, g, 0, 2, low);
    CHECK(scale[0] == 1.0f);
    CHECK(zp[0] == 51);
    CHECK(codes[4095] == 0);
    CHECK(codes[cols + 2 * 4096] == 255);
    CHECK(codes[cols - 1] == 51);
}

TEST_CASE("fp8-e4m3-row and -tensor: known answers", "[schemes]") {
    // Row 0: absmax 896 -> scale 2; 896/2 = 448 -> 0x7E, -2/2 = -1 -> 0xB8, 1/2 -> 0x30, 0 -> 0.
    // Row 1: absmax 8 -> scale 8/448; 8 -> 0x7E; -8 -> 0xFE; 4 -> 224 = 1.75*2^7 -> 0x76; 0 -> 0.
    const auto r = quantize(SchemeId::fp8_e4m3_row, {896.0f, -2.0f, 1.0f, 0.0f, 8.0f, -8.0f, 4.0f, 0.0f}, 2);
    REQUIRE(r.scales.size() == 2);
    CHECK(r.scales[0] == 2.0f);
    CHECK(r.scales[1] == 8.0f / 448.0f);
    const std::vector<uint8_t> want = {0x7E, 0xB8, 0x30, 0x00, 0x7E, 0xFE, 0x76, 0x00};
    CHECK(r.codes == want);
    // Per tensor: absmax 896 -> one scale 2 for both rows; 8/2 = 4 -> 0x48, 4/2 = 2 -> 0x40.
    const auto t = quantize(SchemeId::fp8_e4m3_tensor, {896.0f, -2.0f, 1.0f, 0.0f, 8.0f, -8.0f, 4.0f, 0.0f}, 2);
    REQUIRE(t.scales.size() == 1);
    CHECK(t.scales[0] == 2.0f);
    const std::vector<uint8_t> want_t = {0x7E, 0xB8, 0x30, 0x00, 0x48, 0xC8, 0x40, 0x00};
    CHECK(t.codes == want_t);
}

TEST_CASE("fp8-e5m2-tensor: known answers", "[schemes]") {
    // absmax 57344 -> scale 1: values map to themselves.
    const auto q = quantize(SchemeId::fp8_e5m2_tensor, {57344.0f, 1.0f, -1.0f, 0.0f}, 1);
    CHECK(q.scales[0] == 1.0f);
    const std::vector<uint8_t> want = {0x7B, 0x3C, 0xBC, 0x00};
    CHECK(q.codes == want);
}

TEST_CASE("Every scheme round-trips both precisions bit for bit", "[schemes]") {
    const SchemeId schemes[] = {SchemeId::int8_row, SchemeId::int8_tensor, SchemeId::fp8_e4m3_row,
                                SchemeId::fp8_e4m3_tensor, SchemeId::fp8_e5m2_tensor};
    for (SchemeId id : schemes) {
        const qstore::LowScheme& scheme = *qstore::low_scheme(id);
        for (bool raw : {false, true}) {
            DYNAMIC_SECTION(scheme.name() << (raw ? " raw" : " coded")) {
                TempDir dir;
                Gen gen(1000 + static_cast<int>(id) * 2 + raw);
                std::vector<Tensor> tensors;
                for (DType t : {DType::f32, DType::f16, DType::bf16}) {
                    tensors.push_back(gen.float_tensor(std::string("a.") + qstore::dtype_name(t), t, {37, 29}));
                    tensors.push_back(gen.float_tensor(std::string("b.") + qstore::dtype_name(t), t, {3, 4, 5, 6}));
                }
                const std::string in = dir.path() + "/in.safetensors", out = dir.path() + "/out.qs";
                write_safetensors(in, tensors);
                qstore::SafetensorsReader reader(in);
                qstore::PackOptions o;
                o.low = {qstore::low_scheme(id)->spec()};
                o.low_raw = raw;
                o.threads = 2;
                o.block_elements = 256;  // many blocks per tensor
                qstore::pack(reader, nullptr, o, out);
                auto f = open_qs(out);
                REQUIRE(f);
                REQUIRE(qs_tensor_count(f.get()) == tensors.size());
                for (size_t i = 0; i < tensors.size(); ++i) {
                    const Tensor& t = tensors[i];
                    INFO(t.name);
                    const qs_tensor_info info = tensor_info(f.get(), i);
                    CHECK(info.low_scheme == static_cast<qs_low_scheme>(id));
                    CHECK(info.low_dtype == static_cast<qs_dtype>(scheme.code_dtype()));
                    std::vector<uint8_t> high;
                    REQUIRE(load_high(f.get(), i, high) == QS_OK);
                    CHECK(first_mismatch(high, t.bytes) == -1);
                    // The low precision is exactly what the scheme's quantizer makes.
                    const qstore::Geometry g{t.rows(), t.cols()};
                    std::vector<uint8_t> codes(scheme.code_bytes(g));
                    std::vector<float> scales(scheme.scale_count(g));
                    const qstore::LowTensorData own{codes.data(), scales.data(), nullptr};
                    scheme.prepare(qstore::kernel_set_detected(), t.bytes.data(), t.dtype, g, own);
                    scheme.quantize(qstore::kernel_set_detected(), t.bytes.data(), t.dtype, g, 0, g.rows, own);
                    LowData low;
                    REQUIRE(load_low(f.get(), i, low) == QS_OK);
                    CHECK(low.codes == codes);
                    CHECK(first_mismatch(low.scales.data(), low.scales.size(), scales.data(), scales.size() * 4) == -1);
                }
            }
        }
    }
}

TEST_CASE("Given low codes that are not the quantizer's round-trip for every scheme", "[schemes]") {
    const SchemeId schemes[] = {SchemeId::int8_tensor, SchemeId::fp8_e4m3_row, SchemeId::fp8_e5m2_tensor};
    for (SchemeId id : schemes) {
        const qstore::LowScheme& scheme = *qstore::low_scheme(id);
        DYNAMIC_SECTION(scheme.name()) {
            TempDir dir;
            Gen gen(77 + static_cast<int>(id));
            std::vector<Tensor> high = {gen.float_tensor("w.weight", DType::bf16, {16, 24}),
                                        gen.float_tensor("conv", DType::f16, {4, 3, 3, 2})};
            std::vector<Tensor> low;
            for (const Tensor& t : high) {
                const qstore::Geometry g{t.rows(), t.cols()};
                Tensor codes{t.name, scheme.code_dtype(), t.shape, std::vector<uint8_t>(t.elements())};
                for (auto& b : codes.bytes) b = static_cast<uint8_t>(gen.uniform(0, 255));  // any byte, NaN codes too
                std::vector<float> scales(scheme.scale_count(g));
                for (auto& s : scales) s = static_cast<float>(gen.normal(3.0));
                scales[0] = NAN;
                Tensor sc{qstore::low_tensor_names(scheme, t.name).scales, DType::f32, qstore::low_scale_shape(scheme, g),
                          f32_bytes(scales)};
                low.push_back(codes);
                low.push_back(sc);
            }
            const std::string hp = dir.path() + "/high.safetensors", lp = dir.path() + "/low.safetensors";
            write_safetensors(hp, high);
            write_safetensors(lp, low);
            qstore::SafetensorsReader hr(hp), lr(lp);
            qstore::PackOptions o;
            o.low = {qstore::low_scheme(id)->spec()};
            qstore::pack(hr, &lr, o, dir.path() + "/out.qs");
            auto f = open_qs(dir.path() + "/out.qs");
            REQUIRE(f);
            for (size_t i = 0; i < high.size(); ++i) {
                std::vector<uint8_t> h;
                REQUIRE(load_high(f.get(), i, h) == QS_OK);
                CHECK(first_mismatch(h, high[i].bytes) == -1);
                LowData l;
                REQUIRE(load_low(f.get(), i, l) == QS_OK);
                CHECK(l.codes == low[2 * i].bytes);
                CHECK(l.scales == low[2 * i + 1].bytes);
            }
        }
    }
}

// ===================================================================================
// Schemes 6..11 (int8-group, q8_0, q4_0, fp8-e4m3-block128, int4-asym-group,
// uint8-asym-tensor): known answers in the NATIVE layout from the C API, computed by
// hand from the formulas in schemes/int8.hpp / schemes/ggml.hpp / schemes/fp8.hpp /
// schemes/asym.hpp; round trips of every scheme; foreign (given) low precision.
// ===================================================================================

namespace {

Tensor f32_tensor(const std::string& name, std::vector<uint64_t> shape, const std::vector<float>& v) {
    Tensor t{name, DType::f32, std::move(shape), f32_bytes(v)};
    if (t.elements() != v.size()) throw std::runtime_error("f32_tensor: wrong element count");
    return t;
}

// Packs one F32 tensor with `spec` (qstore's quantizer), checks the high precision comes
// back, and returns level 0 in native layout.
LevelBytes pack_and_load_low(const Tensor& t, qstore::SchemeSpec spec, bool raw = false) {
    TempDir dir;
    qstore::PackOptions o;
    o.low = {spec};
    o.low_raw = raw;
    o.threads = 1;
    pack_model(dir, {t}, "ka.qs", o);
    auto f = open_qs(dir.file("ka.qs"));
    REQUIRE(f);
    const qs_tensor_info info = tensor_info(f.get(), 0);
    REQUIRE(info.low_scheme == static_cast<qs_low_scheme>(spec.id));
    std::vector<uint8_t> high;
    REQUIRE(load_high(f.get(), 0, high) == QS_OK);
    CHECK(high == t.bytes);
    LevelBytes l;
    REQUIRE(load_level_bytes(f.get(), 0, 0, l) == QS_OK);
    // qs_load_low gives the same codes and scales.
    LowData low;
    REQUIRE(load_low(f.get(), 0, low) == QS_OK);
    CHECK(low.codes == l.codes);
    CHECK(low.scales == l.scales);
    return l;
}

void put_f16(std::vector<uint8_t>& out, uint16_t h) {
    out.push_back(static_cast<uint8_t>(h & 0xFF));
    out.push_back(static_cast<uint8_t>(h >> 8));
}
std::vector<uint8_t> f16_bytes(const std::vector<uint16_t>& v) {
    std::vector<uint8_t> out;
    for (uint16_t h : v) put_f16(out, h);
    return out;
}

std::vector<uint8_t> q8_block(uint16_t d, const std::vector<int>& codes) {
    std::vector<uint8_t> b;
    put_f16(b, d);
    for (int c : codes) b.push_back(static_cast<uint8_t>(static_cast<int8_t>(c)));
    REQUIRE(b.size() == 34);
    return b;
}
std::vector<uint8_t> q4_block(uint16_t d, const std::vector<int>& q) {
    REQUIRE(q.size() == 32);
    std::vector<uint8_t> b;
    put_f16(b, d);
    for (int j = 0; j < 16; ++j) b.push_back(static_cast<uint8_t>(q[j] | (q[j + 16] << 4)));
    return b;
}

}  // namespace

TEST_CASE("q8_0: known answers in ggml's 34-byte blocks", "[schemes][q8_0]") {
    // Four blocks in two rows of 64.
    std::vector<float> v(128, 0.0f);
    std::vector<int> c0(32, 0), c1(32, 0), c2(32, 0), c3(32, 0);
    // Block 0: absmax 127 -> d = 1, id = 1; roundf: half AWAY from zero (RNE would differ).
    const float b0[] = {127.0f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, -127.0f, 0.49f, 126.5f, -3.5f};
    const int k0[] = {127, 1, -1, 2, 3, -3, -127, 0, 127, -4};
    for (int i = 0; i < 10; ++i) v[i] = b0[i], c0[i] = k0[i];
    // Block 1: absmax 254 (negative) -> d = 2, id = 0.5: 3 -> 1.5 -> 2; 5 -> 2.5 -> 3; -1 -> -0.5 -> -1.
    const float b1[] = {3.0f, 5.0f, -1.0f, -254.0f, 100.0f};
    const int k1[] = {2, 3, -1, -127, 50};
    for (int i = 0; i < 5; ++i) v[32 + i] = b1[i], c1[i] = k1[i];
    // Block 2 (row 1): absmax 127*(1+3*2^-11) -> d = 1+3*2^-11 (float32, exact); f16(d) is a
    // tie between 0x3C01 and 0x3C02 -> even 0x3C02. Codes use the float32 d.
    const float d2 = 1.0f + 3.0f * std::ldexp(1.0f, -11);
    v[64] = 127.0f * d2;
    v[65] = 10.0f * d2;
    v[66] = -40.0f * d2;
    c2[0] = 127, c2[1] = 10, c2[2] = -40;
    // Block 3: all zeros -> d = 0, id = 0, codes 0.
    const LevelBytes l = pack_and_load_low(f32_tensor("w.weight", {2, 64}, v), {SchemeId::q8_0, 0});
    std::vector<uint8_t> want;
    for (auto& blk : {q8_block(0x3C00, c0), q8_block(0x4000, c1), q8_block(0x3C02, c2), q8_block(0x0000, c3)})
        want.insert(want.end(), blk.begin(), blk.end());
    CHECK(l.codes.size() == 4 * 34);
    CHECK(first_mismatch(l.codes, want) == -1);
    CHECK(l.scales.empty());
    CHECK(l.zero_points.empty());
}

TEST_CASE("q4_0: known answers in ggml's 18-byte blocks", "[schemes][q4_0]") {
    std::vector<float> v(64, 0.0f);
    std::vector<int> q0(32, 8), q1(32, 8);  // x = 0 -> trunc(0 * id + 8.5) = 8
    // Block 0: the FIRST value of largest |x| is -8 -> d = -8/-8 = 1, id = 1.
    //   -8 -> 0.5 -> 0; 8 -> 16.5 -> 16 -> min 15; 0.5 -> 9; -0.5 -> 8; 1.49 -> 9.99 -> 9;
    //   -3.2 -> 5.3 -> 5; 7.6 -> 16.1 -> 15; element 20 (high nibble of byte 4) = 3 -> 11.5 -> 11.
    const float b0[] = {-8.0f, 8.0f, 0.5f, -0.5f, 1.49f, -3.2f, 7.6f};
    const int k0[] = {0, 15, 9, 8, 9, 5, 15};
    for (int i = 0; i < 7; ++i) v[i] = b0[i], q0[i] = k0[i];
    v[20] = 3.0f, q0[20] = 11;
    v[31] = -7.0f, q0[31] = 1;  // -7 + 8.5 = 1.5 -> 1
    // Block 1: first largest |x| is +16 -> d = -2, id = -0.5.
    //   3 -> -1.5 + 8.5 = 7; 16 -> 0.5 -> 0; -16 -> 16.5 -> 15; -5 -> 11; 1 -> 8; 
    const float b1[] = {3.0f, 16.0f, -16.0f, -5.0f, 1.0f};
    const int k1[] = {7, 0, 15, 11, 8};
    for (int i = 0; i < 5; ++i) v[32 + i] = b1[i], q1[i] = k1[i];
    v[32 + 17] = 6.0f, q1[17] = 5;  // -3 + 8.5 = 5.5 -> 5
    const LevelBytes l = pack_and_load_low(f32_tensor("w.weight", {1, 64}, v), {SchemeId::q4_0, 0});
    std::vector<uint8_t> want = q4_block(0x3C00, q0);  // f16(1)
    const auto blk1 = q4_block(0xC000, q1);          // f16(-2)
    want.insert(want.end(), blk1.begin(), blk1.end());
    CHECK(l.codes.size() == 2 * 18);
    CHECK(first_mismatch(l.codes, want) == -1);
    CHECK(l.scales.empty());
}

TEST_CASE("int8-group: known answers (scale = group absmax / 127, code = rne(x / scale))", "[schemes][int8_group]") {
    // int8-group:4, one row of 10: groups [0,4), [4,8), [8,10) (partial).
    //   g0: absmax 127 -> scale 1: 2.5 -> 2, 3.5 -> 4, -0.5 -> 0 (rne), 127 -> 127
    //   g1: absmax 254 -> scale 2: 5 -> 2.5 -> 2; 7 -> 3.5 -> 4; NaN -> 0; -254 -> -127
    //   g2: absmax 63.5 -> scale 0.5: 0.75 -> 1.5 -> 2; 63.5 -> 127
    // Row 2 of 10: g0 all zeros -> scale 0, codes 0; g1: +Inf is not finite -> absmax 12.7?
    //   use 1.27 -> scale 0.01f: code of +Inf is clamped to 127, 1.27 -> 127; g2: -0 and 0.
    const std::vector<float> v = {2.5f, 3.5f, -0.5f, 127.0f, 5.0f, 7.0f, NAN, -254.0f, 0.75f, 63.5f,
                                  0.0f, 0.0f, -0.0f, 0.0f, INFINITY, 1.27f, -1.27f, 0.0f, -0.0f, 0.0f};
    const LevelBytes l = pack_and_load_low(f32_tensor("w.weight", {2, 10}, v), {SchemeId::int8_group, 4});
    volatile float s11 = 1.27f;
    s11 = s11 / 127.0f;
    const std::vector<float> want_scales = {1.0f, 2.0f, 0.5f, 0.0f, s11, 0.0f};
    CHECK(first_mismatch(l.scales, as_bytes(want_scales)) == -1);
    volatile float q = 1.27f;
    q = q / s11;  // 1.27 / (1.27/127) in float32
    const int c127 = static_cast<int>(round_half_even(q));
    const std::vector<int8_t> want = {2, 4, 0, 127, 2, 4, 0, -127, 2, 127,
                                      0, 0, 0, 0, 127, static_cast<int8_t>(c127), static_cast<int8_t>(-c127), 0, 0, 0};
    CHECK(c127 == 127);
    CHECK(first_mismatch(l.codes, as_bytes(want)) == -1);
}

TEST_CASE("fp8-e4m3-block128: one scale per 128x128 tile, partial tiles included", "[schemes][fp8_block]") {
    // 130 x 300: tiles rows [0,128),[128,130) x cols [0,128),[128,256),[256,300) -> 2 x 3 scales.
    // Tile (i, j) has absmax 448 * 2^k (k = 3i + j) -> scale 2^k; its other elements are
    // 2^k (code 1.0 = 0x38) and -2^(k-1) (code -0.5 = 0xB0).
    const uint64_t rows = 130, cols = 300;
    std::vector<float> v(rows * cols);
    std::vector<uint8_t> want(rows * cols);
    for (uint64_t r = 0; r < rows; ++r)
        for (uint64_t c = 0; c < cols; ++c) {
            const int k = static_cast<int>(3 * (r / 128) + c / 128);
            const bool neg = (r + c) % 3 == 0;
            v[r * cols + c] = neg ? -std::ldexp(1.0f, k - 1) : std::ldexp(1.0f, k);
            want[r * cols + c] = neg ? 0xB0 : 0x38;
        }
    // One element per tile at +-448*2^k: the last row / column of each tile (partial edges included).
    const uint64_t tile_r[] = {127, 129}, tile_c[] = {127, 255, 299};
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j) {
            const uint64_t at = tile_r[i] * cols + tile_c[j];
            const bool neg = (i + j) % 2 == 1;
            v[at] = (neg ? -448.0f : 448.0f) * std::ldexp(1.0f, 3 * i + j);
            want[at] = neg ? 0xFE : 0x7E;
        }
    const LevelBytes l = pack_and_load_low(f32_tensor("w.weight", {rows, cols}, v), {SchemeId::fp8_e4m3_block, 0});
    std::vector<float> want_scales;
    for (int k = 0; k < 6; ++k) want_scales.push_back(std::ldexp(1.0f, k));
    CHECK(first_mismatch(l.scales, as_bytes(want_scales)) == -1);
    CHECK(first_mismatch(l.codes, want) == -1);
}

TEST_CASE("int4-asym-group: known answers, GPTQ packing, f16 scales, zero points", "[schemes][int4]") {
    // int4-asym-group:8, 2 rows x 16 -> 2 groups per row.
    //   r0 g0: lo -1, hi 14 -> scale 1, zp rne(1) = 1: -1->0, 14->15, 2.5->2+1=3, 3.5->4+1=5, 0->1,
    //          -0.4->0+1=1, NaN -> zp 1, 7->8
    //   r0 g1: lo 0, hi 7.5 -> scale 0.5, zp 0: 7.5->15, 1.25->2.5->2, 0.75->1.5->2, 3->6, 0->0,
    //          -0 -> 0, 0.25 -> 0.5 -> 0, 5->10
    //   r1 g0: lo -2.5, hi 12.5 -> scale 1, zp rne(2.5) = 2 (tie to even): -2.5 -> -2+2 = 0,
    //          12.5 -> 12+2 = 14, -2 -> 0, 1 -> 3, 0 -> 2, 4.5 -> 4+2 = 6, 5.5 -> 6+2 = 8, 10 -> 12
    //   r1 g1: all zeros -> scale 0 -> 1, zp 0, codes 0
    const std::vector<float> v = {-1.0f, 14.0f, 2.5f, 3.5f, 0.0f, -0.4f, NAN, 7.0f,
                                  7.5f, 1.25f, 0.75f, 3.0f, 0.0f, -0.0f, 0.25f, 5.0f,
                                  -2.5f, 12.5f, -2.0f, 1.0f, 0.0f, 4.5f, 5.5f, 10.0f,
                                  0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    const int codes[] = {0, 15, 3, 5, 1, 1, 1, 8, 15, 2, 2, 6, 0, 0, 0, 10,
                         0, 14, 0, 3, 2, 6, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0};
    for (bool raw : {false, true}) {
        INFO((raw ? "raw" : "coded"));
        const LevelBytes l = pack_and_load_low(f32_tensor("w.weight", {2, 16}, v), {SchemeId::int4_asym_group, 8}, raw);
        std::vector<uint8_t> want;
        for (int w = 0; w < 4; ++w) {
            uint32_t word = 0;
            for (int k = 0; k < 8; ++k) word |= static_cast<uint32_t>(codes[8 * w + k]) << (4 * k);
            for (int b = 0; b < 4; ++b) want.push_back(static_cast<uint8_t>(word >> (8 * b)));  // little-endian
        }
        CHECK(first_mismatch(l.codes, want) == -1);
        CHECK(first_mismatch(l.scales, f16_bytes({0x3C00, 0x3800, 0x3C00, 0x3C00})) == -1);
        const std::vector<uint8_t> want_zp = {1, 0, 2, 0};
        CHECK(l.zero_points == want_zp);
    }
}

TEST_CASE("uint8-asym-tensor: ONNX QuantizeLinear known answers", "[schemes][uint8_asym]") {
    // lo = -51, hi = 204 -> scale 255/255 = 1, zp = rne(51) = 51; code = clamp(rne(x) + 51, 0, 255).
    const std::vector<float> v = {-51.0f, 204.0f, 2.5f, 3.5f, NAN, 0.0f, -0.5f, 1.5f,
                                  100.0f, -50.5f, INFINITY, -INFINITY, 203.5f, -0.0f, 7.0f, -7.0f};
    const std::vector<uint8_t> want = {0, 255, 53, 55, 51, 51, 51, 53, 151, 1, 255, 0, 255, 51, 58, 44};
    const LevelBytes l = pack_and_load_low(f32_tensor("w.weight", {2, 8}, v), {SchemeId::uint8_asym_tensor, 0});
    CHECK(first_mismatch(l.codes, want) == -1);
    CHECK(first_mismatch(l.scales, as_bytes(std::vector<float>{1.0f})) == -1);
    CHECK(l.zero_points == std::vector<uint8_t>{51});
    // All positive: lo = 0 -> zp 0; hi 2.55 -> scale = f32(2.55f / 255).
    const std::vector<float> p = {2.55f, 0.01f, 1.0f, 0.0f};
    const LevelBytes m = pack_and_load_low(f32_tensor("p.weight", {2, 2}, p), {SchemeId::uint8_asym_tensor, 0});
    volatile float s = 2.55f;
    s = s / 255.0f;
    CHECK(first_mismatch(m.scales, as_bytes(std::vector<float>{s})) == -1);
    CHECK(m.zero_points == std::vector<uint8_t>{0});
    std::vector<uint8_t> want_p;
    for (float x : p) {
        volatile float q = x;
        q = q / s;
        want_p.push_back(static_cast<uint8_t>(std::min(255.0, round_half_even(q))));
    }
    CHECK(m.codes == want_p);
}

namespace {

// Every scheme spec of the library, grouped schemes with a few group sizes.
std::vector<qstore::SchemeSpec> all_specs() {
    std::vector<qstore::SchemeSpec> out;
    for (int i = 1; i < qstore::kSchemeCount; ++i) {
        const auto id = static_cast<SchemeId>(i);
        if (qstore::scheme_has_group(id)) {
            for (uint32_t g : {16u, 128u, 24u}) out.push_back({id, g});
        } else {
            out.push_back({id, 0});
        }
    }
    return out;
}

// The scheme's own quantizer (internal form) -> native layout.
LevelBytes own_native(const qstore::LowScheme& s, const Tensor& t) {
    const qstore::Geometry g{t.rows(), t.cols()};
    std::vector<uint8_t> codes(g.elements());
    std::vector<float> scales(s.scale_count(g));
    std::vector<uint8_t> zps(s.has_zero_points() ? s.scale_count(g) : 0);
    const qstore::LowTensorData low{codes.data(), scales.data(), zps.empty() ? nullptr : zps.data()};
    s.prepare(qstore::kernel_set_detected(), t.bytes.data(), t.dtype, g, low);
    s.quantize(qstore::kernel_set_detected(), t.bytes.data(), t.dtype, g, 0, g.rows, low);
    LevelBytes n;
    n.codes.resize(s.code_bytes(g));
    n.scales.resize(s.scale_bytes(g));
    n.zero_points.resize(s.zero_point_bytes(g));
    s.to_native(low.view(), g, n.codes.data(), n.scales.data(), n.zero_points.data());
    return n;
}

}  // namespace

TEST_CASE("Every scheme quantizes to the same codes, scales and zero points on every kernel set", "[schemes][all]") {
    // Widening, block statistics and the INT8 quantizer run as scalar, AVX2 and AVX-512
    // builds of one source; awkward rows (NaN payloads, +-Inf, +-0, subnormals, random
    // bits) and row lengths that leave every vector tail.
    const std::vector<qstore::KernelSet> isas = kernel_sets();
    Gen gen(77);
    for (const qstore::SchemeSpec& spec : all_specs()) {
        const qstore::LowScheme& scheme = *qstore::low_scheme(spec);
        for (DType t : {DType::f32, DType::f16, DType::bf16})
            for (const std::vector<uint64_t>& shape :
                 std::vector<std::vector<uint64_t>>{{7, 33}, {3, 4, 5, 6}, {130, 160}, {2, 1000}, {9, 64}}) {
                const Tensor x = gen.float_tensor("t", t, shape);
                const qstore::Geometry g{x.rows(), x.cols()};
                if (!scheme.accepts(g)) continue;
                CAPTURE(scheme.name(), qstore::dtype_name(t), g.rows, g.cols);
                std::vector<std::vector<uint8_t>> codes, zero_points;
                std::vector<std::vector<float>> scales;
                for (qstore::KernelSet isa : isas) {
                    codes.emplace_back(g.elements());
                    scales.emplace_back(scheme.scale_count(g));
                    zero_points.emplace_back(scheme.has_zero_points() ? scheme.scale_count(g) : 0);
                    const qstore::LowTensorData low{codes.back().data(), scales.back().data(),
                                                    scheme.has_zero_points() ? zero_points.back().data() : nullptr};
                    scheme.prepare(isa, x.bytes.data(), t, g, low);
                    scheme.quantize(isa, x.bytes.data(), t, g, 0, g.rows, low);
                }
                for (size_t k = 1; k < isas.size(); ++k) {
                    CAPTURE(qstore::kernel_set_name(isas[k]));
                    REQUIRE(codes[k] == codes[0]);
                    REQUIRE(zero_points[k] == zero_points[0]);
                    REQUIRE(std::memcmp(scales[k].data(), scales[0].data(), scales[0].size() * 4) == 0);
                }
            }
    }
}

TEST_CASE("Every scheme predicts the same values and contexts on every kernel set, from any code", "[schemes][all]") {
    // Predictions and contexts feed both the encoder and the decoder: a kernel set that
    // disagreed with the scalar one would write files that other CPUs cannot read. Codes
    // are random bytes (a foreign quantizer's INT8 codes include -128), scales awkward.
    const std::vector<qstore::KernelSet> isas = kernel_sets();
    std::mt19937_64 rng(78);
    for (const qstore::SchemeSpec& spec : all_specs()) {
        const qstore::LowScheme& scheme = *qstore::low_scheme(spec);
        for (const qstore::Geometry g : {qstore::Geometry{7, 33}, qstore::Geometry{130, 160}, qstore::Geometry{2, 1000},
                                         qstore::Geometry{9, 64}}) {
            if (!scheme.accepts(g)) continue;
            CAPTURE(scheme.name(), g.rows, g.cols);
            // One code per element, as a view holds them (INT4's too).
            std::vector<uint8_t> codes(g.elements()), zero_points(scheme.has_zero_points() ? scheme.scale_count(g) : 0);
            std::vector<float> scales(scheme.scale_count(g));
            for (auto& c : codes) c = static_cast<uint8_t>(rng());
            for (auto& z : zero_points) z = static_cast<uint8_t>(rng());
            const float awkward[] = {0.0f, -0.0f, 1e-3f, 0.75f, 3e-41f, 1e30f};
            for (size_t k = 0; k < scales.size(); ++k)
                scales[k] = k < 6 ? awkward[k] : std::ldexp(static_cast<float>(rng() % 1000 + 1), -static_cast<int>(rng() % 20));
            const qstore::LowTensorView low{codes.data(), scales.data(),
                                            scheme.has_zero_points() ? zero_points.data() : nullptr};
            std::vector<std::vector<uint32_t>> preds;
            std::vector<std::vector<uint8_t>> contexts;
            for (qstore::KernelSet isa : isas) {
                std::vector<float> pred(g.elements());
                contexts.emplace_back(g.elements());
                // In two calls, the second from an odd element, as blocks are predicted.
                const uint64_t half = g.elements() / 2 + 1;
                scheme.predict(isa, low, g, 0, half, pred.data(), contexts.back().data());
                scheme.predict(isa, low, g, half, g.elements() - half, pred.data() + half,
                               contexts.back().data() + half);
                preds.emplace_back(pred.size());
                std::memcpy(preds.back().data(), pred.data(), pred.size() * 4);
            }
            for (size_t k = 1; k < isas.size(); ++k) {
                CAPTURE(qstore::kernel_set_name(isas[k]));
                REQUIRE(contexts[k] == contexts[0]);
                REQUIRE(preds[k] == preds[0]);
            }
        }
    }
}

TEST_CASE("Every scheme (all kSchemeCount ids) round-trips both precisions, raw and coded", "[schemes][all]") {
    REQUIRE(qstore::kSchemeCount == 14);
    for (const qstore::SchemeSpec& spec : all_specs()) {
        const qstore::LowScheme* sp = qstore::low_scheme(spec);
        REQUIRE(sp);
        const qstore::LowScheme& scheme = *sp;
        for (bool raw : {false, true}) {
            DYNAMIC_SECTION(scheme.name() << (raw ? " raw" : " coded")) {
                TempDir dir;
                Gen gen(5000 + static_cast<int>(spec.id) * 7 + spec.group + raw);
                std::vector<Tensor> tensors;
                // {37,29}: no scheme with a cols constraint accepts it; {3,4,5,6} = 3x120: int4 yes, GGUF no;
                // {5,64}, {130,160}: everyone (partial 128-tiles, partial groups).
                const std::vector<std::vector<uint64_t>> shapes = {{37, 29}, {3, 4, 5, 6}, {5, 64}, {130, 160}};
                for (DType t : {DType::f32, DType::f16, DType::bf16})
                    for (size_t k = 0; k < shapes.size(); ++k)
                        tensors.push_back(gen.float_tensor("t" + std::to_string(k) + "." + qstore::dtype_name(t), t,
                                                           shapes[k]));
                qstore::PackOptions o;
                o.low = {spec};
                o.low_raw = raw;
                o.threads = 2;
                o.block_elements = 256;
                pack_model(dir, tensors, "out.qs", o);
                auto f = open_qs(dir.file("out.qs"));
                REQUIRE(f);
                REQUIRE(qs_tensor_count(f.get()) == tensors.size());
                for (size_t i = 0; i < tensors.size(); ++i) {
                    const Tensor& t = tensors[i];
                    INFO(tensor_context(t));
                    const qstore::Geometry g{t.rows(), t.cols()};
                    const bool accepted = scheme.accepts(g);
                    const qs_tensor_info info = tensor_info(f.get(), i);
                    std::vector<uint8_t> high;
                    REQUIRE(load_high(f.get(), i, high) == QS_OK);
                    CHECK(first_mismatch(high, t.bytes) == -1);
                    LevelBytes l;
                    REQUIRE(load_level_bytes(f.get(), i, 0, l) == QS_OK);
                    if (!accepted) {
                        CHECK(info.low_scheme == QS_LOW_PASSTHROUGH);
                        CHECK(info.num_levels == 1);
                        CHECK(first_mismatch(l.codes, t.bytes) == -1);
                        CHECK(l.scales.empty());
                        continue;
                    }
                    CHECK(info.low_scheme == static_cast<qs_low_scheme>(spec.id));
                    CHECK(info.low_dtype == static_cast<qs_dtype>(scheme.code_dtype()));
                    CHECK(info.low_scale_dtype == static_cast<qs_dtype>(scheme.scale_dtype()));
                    CHECK(info.low_group_size == spec.group);
                    CHECK(info.num_levels == 2);
                    CHECK(info.low_codes_are_raw == (raw ? 1 : 0));
                    const LevelBytes want = own_native(scheme, t);
                    CHECK(info.low_code_bytes == want.codes.size());
                    CHECK(info.low_scale_bytes == want.scales.size());
                    CHECK(info.low_zero_point_bytes == want.zero_points.size());
                    CHECK(first_mismatch(l.codes, want.codes) == -1);
                    CHECK(first_mismatch(l.scales, want.scales) == -1);
                    CHECK(first_mismatch(l.zero_points, want.zero_points) == -1);
                    // The top level through qs_load_level is the high precision.
                    const qs_level_info top = level_info(f.get(), i, 1);
                    CHECK(top.scheme == QS_LOW_PASSTHROUGH);
                    CHECK(top.code_bytes == t.bytes.size());
                    std::vector<uint8_t> h2(t.bytes.size(), 0xCD);
                    REQUIRE(qs_load_level(f.get(), i, 1, h2.data(), h2.size(), nullptr, 0, nullptr, 0) == QS_OK);
                    CHECK(first_mismatch(h2, t.bytes) == -1);
                    const void* vc = nullptr;
                    const void* vs = nullptr;
                    if (raw) {
                        REQUIRE(qs_view_low(f.get(), i, &vc, &vs) == QS_OK);
                        REQUIRE(vc);
                        CHECK(reinterpret_cast<uintptr_t>(vc) % 64 == 0);
                        CHECK(first_mismatch(vc, want.codes.size(), want.codes.data(), want.codes.size()) == -1);
                        if (!want.scales.empty()) {
                            REQUIRE(vs);
                            CHECK(first_mismatch(vs, want.scales.size(), want.scales.data(), want.scales.size()) == -1);
                        }
                    } else {
                        CHECK(qs_view_low(f.get(), i, &vc, &vs) == QS_ERR_NOT_AVAILABLE);
                    }
                }
                CHECK(qs_verify(f.get()) == QS_OK);
            }
        }
    }
}

TEST_CASE("Foreign low precision in each scheme's native layout round-trips", "[schemes][foreign]") {
    for (const qstore::SchemeSpec& spec : all_specs()) {
        if (spec.group == 24) continue;
        const qstore::LowScheme& scheme = *qstore::low_scheme(spec);
        for (bool raw : {false, true}) {
            DYNAMIC_SECTION(scheme.name() << (raw ? " raw" : " coded")) {
                TempDir dir;
                Gen gen(9000 + static_cast<int>(spec.id) * 3 + spec.group + raw);
                // Rows a multiple of 8 (gptq-int4), a partial 128-row tile (fp8-e4m3-block128).
                const std::vector<Tensor> high = {gen.float_tensor("w.weight", DType::bf16, {16, 64}),
                                                  gen.float_tensor("conv", DType::f16, {8, 2, 2, 8}),
                                                  gen.float_tensor("big.weight", DType::f32, {136, 192})};
                std::vector<Tensor> low;
                std::vector<LevelBytes> given;
                for (const Tensor& t : high) {
                    const qstore::Geometry g{t.rows(), t.cols()};
                    REQUIRE(scheme.accepts(g));
                    const qstore::LowTensorNames names = qstore::low_tensor_names(scheme, t.name);
                    LevelBytes lb;
                    lb.codes.resize(scheme.code_bytes(g));
                    for (auto& b : lb.codes) b = static_cast<uint8_t>(gen.uniform(0, 255));
                    const uint64_t ns = scheme.scale_count(g);
                    if (spec.id == SchemeId::q8_0 || spec.id == SchemeId::q4_0) {
                        // d inside the blocks: random f16 incl. Inf and NaN.
                        const uint64_t bb = spec.id == SchemeId::q8_0 ? 34 : 18;
                        const uint16_t special[] = {0x7C00, 0xFC00, 0x7E01, 0xFFFF, 0x0000, 0x8000, 0x0001};
                        for (uint64_t k = 0; k < lb.codes.size() / bb; ++k) {
                            const uint16_t d = k < 7 ? special[k] : static_cast<uint16_t>(gen.uniform(0, 0xFFFF));
                            lb.codes[k * bb] = static_cast<uint8_t>(d), lb.codes[k * bb + 1] = static_cast<uint8_t>(d >> 8);
                        }
                    } else if (scheme.scale_dtype() == DType::f16) {
                        std::vector<uint16_t> s(ns);
                        for (auto& h : s) h = static_cast<uint16_t>(gen.uniform(0, 0xFFFF));
                        s[0] = 0x7E00;  // NaN
                        if (ns > 2) s[1] = 0xFC00, s[2] = 0x0000;  // -Inf, 0
                        lb.scales = f16_bytes(s);
                    } else {
                        std::vector<float> s(ns);
                        for (auto& x : s) x = static_cast<float>(gen.normal(3.0));
                        s[0] = float_of(0x7FA5A5A5u);  // NaN with payload
                        if (ns > 2) s[1] = -INFINITY, s[2] = 0.0f;
                        lb.scales = f32_bytes(s);
                    }
                    if (scheme.has_zero_points()) {
                        // Any byte: unpacked zero points (int4-asym-group too), or GPTQ's packed words.
                        lb.zero_points.resize(scheme.zero_point_bytes(g));
                        for (auto& z : lb.zero_points) z = static_cast<uint8_t>(gen.uniform(0, 255));
                    }
                    Tensor c{names.codes, scheme.code_dtype(), qstore::low_code_shape(scheme, g, t.shape), lb.codes};
                    low.push_back(c);
                    if (!names.scales.empty() && !lb.scales.empty())
                        low.push_back({names.scales, scheme.scale_dtype(), qstore::low_scale_shape(scheme, g), lb.scales});
                    if (!names.zero_points.empty())
                        low.push_back({names.zero_points, scheme.zero_point_dtype(),
                                       qstore::low_zero_point_shape(scheme, g), lb.zero_points});
                    given.push_back(lb);
                }
                qstore::PackOptions o;
                o.low = {spec};
                o.low_raw = raw;
                o.threads = 2;
                o.block_elements = 512;
                pack_model(dir, high, "out.qs", o, &low);
                auto f = open_qs(dir.file("out.qs"));
                REQUIRE(f);
                for (size_t i = 0; i < high.size(); ++i) {
                    INFO(tensor_context(high[i]));
                    const qs_tensor_info info = tensor_info(f.get(), i);
                    CHECK(info.low_scheme == static_cast<qs_low_scheme>(spec.id));
                    std::vector<uint8_t> h;
                    REQUIRE(load_high(f.get(), i, h) == QS_OK);
                    CHECK(first_mismatch(h, high[i].bytes) == -1);
                    LevelBytes l;
                    REQUIRE(load_level_bytes(f.get(), i, 0, l) == QS_OK);
                    CHECK(first_mismatch(l.codes, given[i].codes) == -1);
                    CHECK(first_mismatch(l.scales, given[i].scales) == -1);
                    CHECK(first_mismatch(l.zero_points, given[i].zero_points) == -1);
                    LowData ll;
                    REQUIRE(load_low(f.get(), i, ll) == QS_OK);
                    CHECK(ll.codes == given[i].codes);
                    CHECK(ll.scales == given[i].scales);
                }
                CHECK(qs_verify(f.get()) == QS_OK);
            }
        }
    }
}

TEST_CASE("Every scheme on empty, one-row, one-column and tile-edge shapes", "[schemes][all][edges]") {
    const std::vector<std::vector<uint64_t>> shapes = {{0, 64}, {64, 0}, {1, 32}, {1, 8}, {129, 1},
                                                       {128, 128}, {256, 8}, {2, 1, 32}};
    for (const qstore::SchemeSpec& spec : all_specs()) {
        const qstore::LowScheme& scheme = *qstore::low_scheme(spec);
        for (bool raw : {false, true}) {
            DYNAMIC_SECTION(scheme.name() << (raw ? " raw" : " coded")) {
                TempDir dir;
                Gen gen(6000 + static_cast<int>(spec.id) * 5 + spec.group + raw);
                std::vector<Tensor> tensors;
                for (size_t k = 0; k < shapes.size(); ++k)
                    tensors.push_back(gen.float_tensor("e" + std::to_string(k) + ".weight",
                                                       k % 3 == 0 ? DType::f32 : k % 3 == 1 ? DType::bf16 : DType::f16,
                                                       shapes[k]));
                qstore::PackOptions o;
                o.low = {spec};
                o.low_raw = raw;
                o.threads = 2;
                o.block_elements = 64;
                pack_model(dir, tensors, "edges.qs", o);
                auto f = open_qs(dir.file("edges.qs"));
                REQUIRE(f);
                for (size_t i = 0; i < tensors.size(); ++i) {
                    const Tensor& t = tensors[i];
                    INFO(tensor_context(t));
                    const qstore::Geometry g{t.rows(), t.cols()};
                    const qs_tensor_info info = tensor_info(f.get(), i);
                    std::vector<uint8_t> high;
                    REQUIRE(load_high(f.get(), i, high) == QS_OK);
                    CHECK(high == t.bytes);
                    LevelBytes l;
                    REQUIRE(load_level_bytes(f.get(), i, 0, l) == QS_OK);
                    if (!scheme.accepts(g)) {
                        CHECK(info.low_scheme == QS_LOW_PASSTHROUGH);
                        CHECK(l.codes == t.bytes);
                        continue;
                    }
                    CHECK(info.low_scheme == static_cast<qs_low_scheme>(spec.id));
                    const LevelBytes want = own_native(scheme, t);
                    CHECK(first_mismatch(l.codes, want.codes) == -1);
                    CHECK(first_mismatch(l.scales, want.scales) == -1);
                    CHECK(first_mismatch(l.zero_points, want.zero_points) == -1);
                }
                CHECK(qs_verify(f.get()) == QS_OK);
            }
        }
    }
}
