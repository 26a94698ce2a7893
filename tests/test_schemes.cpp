// Low-precision schemes: known answers computed by hand from the documented formulas
// (scheme_int8.hpp, scheme_fp8.hpp, fp8.hpp), and bit-exact round trips of both
// precisions for every scheme over awkward tensors (NaN payloads, +-0, +-Inf,
// subnormals, outlier rows), with codes the scheme's own quantizer made and codes
// given from a file that are NOT the quantizer's.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "fixtures.hpp"
#include "fp8.hpp"
#include "low_layout.hpp"
#include "low_scheme.hpp"
#include "packer.hpp"
#include "qs_util.hpp"

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
    s.prepare(bytes.data(), DType::f32, g, low);
    s.quantize(bytes.data(), DType::f32, g, 0, rows, low);
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
                    scheme.prepare(t.bytes.data(), t.dtype, g, own);
                    scheme.quantize(t.bytes.data(), t.dtype, g, 0, g.rows, own);
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
