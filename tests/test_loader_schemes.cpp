// The schemes loaders read as they are (gptq-int4, int8-row-ct) and INT8 codes of tiny
// scales, at the level of the scheme objects: known answers from the documented
// formulas (docs/FORMAT.md §7.2.1, §7.2.9, §7.2.10), the GPTQ native layout word by
// word, and the chain rule of files before format 1.5. tests/test_loader_layouts.py
// checks the same schemes end to end against a rewrite of AutoGPTQ's packer.
#include <catch2/catch.hpp>

#include <cfloat>
#include <cmath>
#include <cstring>

#include "base/error.hpp"
#include "base/float_bits.hpp"
#include "fixtures.hpp"
#include "pack/packer.hpp"
#include "qs_util.hpp"
#include "schemes/layout.hpp"
#include "schemes/registry.hpp"
#include "schemes/scheme.hpp"

using namespace qs_test;
using qstore::DType;
using qstore::Geometry;
using qstore::SchemeId;

namespace {

struct Level {
    std::vector<uint8_t> codes;
    std::vector<float> scales;
    std::vector<uint8_t> zero_points;
    qstore::LowTensorData data() { return {codes.data(), scales.data(), zero_points.empty() ? nullptr : zero_points.data()}; }
};

Level quantize(const qstore::LowScheme& s, const std::vector<float>& values, uint64_t rows) {
    const Geometry g{rows, values.size() / rows};
    Level l;
    l.codes.resize(g.elements());
    l.scales.resize(s.scale_count(g));
    l.zero_points.resize(s.has_zero_points() ? l.scales.size() : 0);
    std::vector<uint8_t> bytes(values.size() * 4);
    std::memcpy(bytes.data(), values.data(), bytes.size());
    s.prepare(qstore::kernel_set_detected(), bytes.data(), DType::f32, g, l.data());
    s.quantize(qstore::kernel_set_detected(), bytes.data(), DType::f32, g, 0, rows, l.data());
    return l;
}

int8_t code(const Level& l, size_t i) { return static_cast<int8_t>(l.codes[i]); }

uint32_t word_at(const std::vector<uint8_t>& b, size_t k) {
    uint32_t w;
    std::memcpy(&w, b.data() + 4 * k, 4);
    return w;
}

}  // namespace

TEST_CASE("int8-row: a subnormal absmax gives the nearest codes, not +-127", "[schemes][tiny]") {
    const float s = 3.67e-40f;  // subnormal: 127 / s overflows float32
    const std::vector<float> v = {s, -0.25f * s, -0.5f * s, 0.75f * s, 0.0f, -s, 0.1f * s, 0.3f * s};
    const qstore::LowScheme& row = *qstore::low_scheme(SchemeId::int8_row);
    const Level l = quantize(row, v, 1);
    REQUIRE(l.scales[0] == s);
    for (size_t i = 0; i < v.size(); ++i) {
        INFO(i);
        CHECK(code(l, i) == static_cast<int8_t>(std::nearbyint(127.0 * static_cast<double>(v[i]) / s)));
    }
    CHECK(code(l, 1) == -32);
    CHECK(code(l, 2) == -64);
    // The same row in int8-tensor, and the smallest subnormal absmax.
    CHECK(quantize(*qstore::low_scheme(SchemeId::int8_tensor), v, 2).codes == l.codes);
    const float d = std::ldexp(1.0f, -149);
    const Level m = quantize(row, {d, 0.0f, -d, d}, 1);
    CHECK((code(m, 0) == 127 && code(m, 1) == 0 && code(m, 2) == -127));
}

TEST_CASE("int8-row: the rule of files before 1.5 decodes their chains", "[schemes][tiny]") {
    const qstore::SchemeSpec spec{SchemeId::int8_row, 0};
    const float s = 3.67e-40f;
    const std::vector<float> p = {0.5f * s, -0.25f * s, 0.0f};
    std::vector<float> scales = {s};
    std::vector<uint8_t> codes_1_4(3), codes_1_5(3), codes(3);
    const qstore::LowTensorView view{codes.data(), scales.data(), nullptr};
    const Geometry g{1, 3};
    qstore::chain_code_rule(spec, 4).quantize_with_scales(qstore::kernel_set_detected(), p.data(), view, g, 0, 3,
                                                           codes_1_4.data());
    qstore::chain_code_rule(spec, 5).quantize_with_scales(qstore::kernel_set_detected(), p.data(), view, g, 0, 3,
                                                           codes_1_5.data());
    CHECK(codes_1_4 == std::vector<uint8_t>{127, 0x81, 0});       // +-127: 127 / s is infinite
    CHECK(codes_1_5 == std::vector<uint8_t>{64, 0xE0, 0});        // 63.5 -> 64, -31.75 -> -32
    CHECK(&qstore::chain_code_rule(spec, 5) == qstore::low_scheme(spec));
    const qstore::SchemeSpec group{SchemeId::int8_group, 16};
    CHECK(&qstore::chain_code_rule(group, 4) == qstore::low_scheme(group));  // x / s: no overflow to fix
}

TEST_CASE("int8-row-ct: compressed-tensors' scale and codes", "[schemes][ct]") {
    const qstore::LowScheme& ct = *qstore::low_scheme_by_name("int8-row-ct");
    REQUIRE(ct.id() == SchemeId::int8_row_ct);
    CHECK(ct.code_dtype() == DType::i8);
    CHECK(ct.scale_dtype() == DType::f32);
    // absmax 2.55 -> scale 0.02; -2.55 -> -127.5 -> -128 (even); 2.55 -> 127.5 -> 127 (clamped)
    const std::vector<float> v = {2.55f, -2.55f, 1.0f, NAN, 0.01f, -INFINITY, 0.0f, 0.03f};
    const Level l = quantize(ct, v, 1);
    const float scale = 2.55f / 127.5f;
    REQUIRE(l.scales[0] == scale);
    CHECK(code(l, 0) == 127);
    CHECK(code(l, 1) == -128);
    CHECK(code(l, 2) == static_cast<int8_t>(std::nearbyint(1.0f / scale)));
    CHECK(code(l, 3) == 0);
    CHECK(code(l, 4) == static_cast<int8_t>(std::nearbyint(0.01f / scale)));
    CHECK(code(l, 5) == -128);
    // Rows of zeros or tiny values: the scale is FLT_EPSILON.
    const Level z = quantize(ct, {0.0f, 0.0f, 1e-40f, -3e-6f}, 2);
    CHECK(z.scales == std::vector<float>{FLT_EPSILON, FLT_EPSILON});
    CHECK((code(z, 2) == 0 && code(z, 3) == static_cast<int8_t>(std::nearbyint(-3e-6f / FLT_EPSILON))));
    const Geometry g{4, 16};
    CHECK(qstore::low_scale_shape(ct, g) == std::vector<uint64_t>{4, 1});
    CHECK(qstore::low_tensor_names(ct, "m.weight").scales == "m.weight_scale");
}

TEST_CASE("gptq-int4: find_params's all-zero and degenerate groups", "[schemes][gptq]") {
    const qstore::LowScheme& gq = *qstore::low_scheme_by_name("gptq-int4:8");
    REQUIRE(gq.id() == SchemeId::gptq_int4);
    std::vector<float> v(16, 0.0f);  // group 0: zeros; group 1: all positive (find_params's zero 0)
    for (int i = 0; i < 8; ++i) v[8 + static_cast<size_t>(i)] = 0.5f + 0.25f * static_cast<float>(i);
    const Level l = quantize(gq, v, 1);
    // -1..1: scale = 2/15 (float32), zero = round(1 / 0.13333334f) = round(7.4999995) = 7.
    CHECK(l.scales[0] == qstore::f32_from_f16(qstore::f16_from_f32(2.0f / 15.0f)));
    CHECK(l.zero_points[0] == 7);
    for (int i = 0; i < 8; ++i) CHECK(l.codes[static_cast<size_t>(i)] == 7);
    // 0..2.25: zero round(0) = 0, which v1 cannot store: 1; codes round((x + s) / f16(s)), clamped.
    const float s = 2.25f / 15.0f, h = qstore::f32_from_f16(qstore::f16_from_f32(s));
    CHECK(l.zero_points[1] == 1);
    for (int i = 0; i < 8; ++i) {
        const float want = std::fmin(15.0f, std::nearbyint((v[8 + static_cast<size_t>(i)] + s) / h));
        CHECK(l.codes[8 + static_cast<size_t>(i)] == static_cast<uint8_t>(want));
    }
    CHECK(l.codes[15] == 15);  // 2.25 -> 16 before the clamp
}

TEST_CASE("gptq-int4: AutoGPTQ's v1 layout word by word, and back", "[schemes][gptq]") {
    const qstore::LowScheme& gq = *qstore::low_scheme_by_name("gptq-int4:16");
    const Geometry g{8, 32};  // out 8, in 32: qweight [4, 8], scales [2, 8], qzeros [2, 1]
    CHECK(qstore::low_code_shape(gq, g, {8, 32}) == std::vector<uint64_t>{4, 8});
    CHECK(qstore::low_scale_shape(gq, g) == std::vector<uint64_t>{2, 8});
    CHECK(qstore::low_zero_point_shape(gq, g) == std::vector<uint64_t>{2, 1});
    CHECK(gq.zero_point_dtype() == DType::i32);
    const qstore::LowTensorNames names = qstore::low_tensor_names(gq, "model.q_proj.weight");
    CHECK(names.codes == "model.q_proj.qweight");
    CHECK(names.zero_points == "model.q_proj.qzeros");
    CHECK(names.group_index == "model.q_proj.g_idx");
    Level l;
    l.codes.resize(g.elements());
    for (size_t i = 0; i < l.codes.size(); ++i) l.codes[i] = static_cast<uint8_t>((i * 7 + i / 32) % 16);
    l.scales.resize(16);
    l.zero_points.resize(16);
    for (size_t k = 0; k < 16; ++k) {
        l.scales[k] = 0.5f + static_cast<float>(k);
        l.zero_points[k] = static_cast<uint8_t>(1 + k);  // 1..16: nibbles 0..15
    }
    std::vector<uint8_t> codes(gq.code_bytes(g)), scales(gq.scale_bytes(g)), zps(gq.zero_point_bytes(g));
    gq.to_native(l.data().view(), g, codes.data(), scales.data(), zps.data());
    for (uint64_t k = 0; k < 4; ++k)
        for (uint64_t r = 0; r < 8; ++r) {
            uint32_t want = 0;
            for (uint64_t j = 0; j < 8; ++j) want |= static_cast<uint32_t>(l.codes[r * 32 + 8 * k + j]) << (4 * j);
            CHECK(word_at(codes, k * 8 + r) == want);  // qweight[k][r]: in 8k..8k+7 of output row r
        }
    for (uint64_t grp = 0; grp < 2; ++grp) {
        uint32_t want = 0;
        for (uint64_t r = 0; r < 8; ++r) want |= static_cast<uint32_t>(l.zero_points[r * 2 + grp] - 1) << (4 * r);
        CHECK(word_at(zps, grp) == want);  // qzeros[grp][0]: zero - 1 of rows 0..7
        for (uint64_t r = 0; r < 8; ++r) {
            uint16_t h;
            std::memcpy(&h, scales.data() + 2 * (grp * 8 + r), 2);
            CHECK(qstore::f32_from_f16(h) == l.scales[r * 2 + grp]);  // scales[grp][r]
        }
    }
    Level back;
    back.codes.resize(g.elements());
    back.scales.resize(16);
    back.zero_points.resize(16);
    gq.from_native(codes.data(), scales.data(), zps.data(), g, back.data());
    CHECK(back.codes == l.codes);
    CHECK(back.scales == l.scales);
    CHECK(back.zero_points == l.zero_points);
    // A zero point without a v1 form (0, or above 16) and a code above 15 are corrupt.
    l.zero_points[3] = 0;
    CHECK_THROWS_AS(gq.to_native(l.data().view(), g, codes.data(), scales.data(), zps.data()), qstore::Error);
    l.zero_points[3] = 4;
    l.codes[5] = 16;
    CHECK_THROWS_AS(gq.to_native(l.data().view(), g, codes.data(), scales.data(), zps.data()), qstore::Error);
    CHECK(qstore::group_index_bytes(5, 2) ==
          std::vector<uint8_t>{0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0});
}

TEST_CASE("gptq-int4 accepts rows and columns that are multiples of 8", "[schemes][gptq]") {
    const qstore::LowScheme& gq = *qstore::low_scheme_by_name("gptq-int4");
    CHECK(gq.spec().group == 128);
    CHECK(gq.accepts(Geometry{8, 8}));
    CHECK(gq.accepts(Geometry{64, 200}));  // a partial last group
    CHECK_FALSE(gq.accepts(Geometry{12, 64}));
    CHECK_FALSE(gq.accepts(Geometry{64, 12}));
    CHECK_FALSE(gq.accepts(Geometry{0, 64}));
}

namespace {

// The GPTQ layout of rows [r0, r1) built from the whole tensor's: columns r0..r1 of
// qweight [in/8, out] and scales [groups, out], and the rows' zero-point nibbles
// repacked eight per word from word 0 (the last word's unused nibbles 0).
LevelBytes gptq_rows(const LevelBytes& whole, uint64_t rows, uint64_t cols, uint64_t groups, uint64_t r0,
                     uint64_t r1) {
    const uint64_t n = r1 - r0, words = (rows + 7) / 8, row_words = (n + 7) / 8;
    LevelBytes e;
    for (uint64_t k = 0; k < cols / 8; ++k)
        e.codes.insert(e.codes.end(), whole.codes.begin() + static_cast<std::ptrdiff_t>(4 * (k * rows + r0)),
                       whole.codes.begin() + static_cast<std::ptrdiff_t>(4 * (k * rows + r1)));
    e.zero_points.assign(groups * row_words * 4, 0);
    for (uint64_t g = 0; g < groups; ++g) {
        e.scales.insert(e.scales.end(), whole.scales.begin() + static_cast<std::ptrdiff_t>(2 * (g * rows + r0)),
                        whole.scales.begin() + static_cast<std::ptrdiff_t>(2 * (g * rows + r1)));
        for (uint64_t r = r0; r < r1; ++r) {
            const uint32_t nibble = (word_at(whole.zero_points, g * words + r / 8) >> (4 * (r % 8))) & 15u;
            const uint64_t at = 4 * (g * row_words + (r - r0) / 8);
            uint32_t w = word_at(e.zero_points, at / 4);
            w |= nibble << (4 * ((r - r0) % 8));
            std::memcpy(e.zero_points.data() + at, &w, 4);
        }
    }
    return e;
}

}  // namespace

TEST_CASE("gptq-int4: a row range is the layout of the sub-tensor its rows form", "[schemes][gptq][rows]") {
    TempDir dir;
    Gen gen(2112);
    const std::vector<Tensor> model = {gen.float_tensor("q.weight", DType::bf16, {40, 96}),
                                       gen.float_tensor("k.weight", DType::f16, {16, 200})};
    qstore::PackOptions o;
    o.low = {{SchemeId::gptq_int4, 64}};
    o.block_elements = 512;
    pack_model(dir, model, "rows.qs", o);
    auto f = open_qs(dir.file("rows.qs"));
    REQUIRE(f);
    qs_error* err = qs_error_new();
    for (size_t i = 0; i < model.size(); ++i) {
        const uint64_t rows = model[i].rows(), cols = model[i].cols(), groups = (cols + 63) / 64;
        LevelBytes whole;
        REQUIRE(load_level_bytes(f.get(), i, 0, whole) == QS_OK);
        for (const auto& range : std::vector<std::pair<uint64_t, uint64_t>>{{0, rows}, {3, 12}, {8, 16}, {rows - 1, rows}}) {
            const uint64_t r0 = range.first, r1 = range.second;
            INFO(model[i].name << " rows " << r0 << ".." << r1);
            qs_level_info li{};
            li.struct_size = sizeof li;
            REQUIRE(qs_rows_level_info_get_e(f.get(), i, 0, r0, r1 - r0, &li, err) == QS_OK);
            LevelBytes got;
            got.codes.assign(li.code_bytes, 0xCD);
            got.scales.assign(li.scale_bytes, 0xCD);
            got.zero_points.assign(li.zero_point_bytes, 0xCD);
            REQUIRE(qs_load_level_rows_e(f.get(), i, 0, r0, r1 - r0, got.codes.data(), got.codes.size(),
                                         got.scales.data(), got.scales.size(), got.zero_points.data(),
                                         got.zero_points.size(), err) == QS_OK);
            const LevelBytes want = gptq_rows(whole, rows, cols, groups, r0, r1);
            CHECK(got.codes == want.codes);
            CHECK(got.scales == want.scales);
            CHECK(got.zero_points == want.zero_points);
        }
    }
    qs_error_free(err);
}
