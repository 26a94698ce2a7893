// Row ranges (qs_rows_level_info_get_e, qs_load_level_rows_e, qs_load_high_rows_e):
// property test over random tensors, every scheme and some chains, raw and coded, and
// random ranges (empty, single rows, across coding blocks and 128-row tiles, the last
// rows): each range load equals the slice of the whole load, byte for byte, at every
// level; the slice's scales are the rows' own (a tile scheme's: the touched tile rows;
// a per-tensor scheme's: its one scale), with and without checksums (without, only the
// blocks of the rows are read). Bad ranges and small buffers are refused.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>

#include "fixtures.hpp"
#include "pack/packer.hpp"
#include "qs_util.hpp"
#include "schemes/registry.hpp"

using namespace qs_test;
using qstore::DType;
using qstore::SchemeId;
using qstore::SchemeSpec;

namespace {

const std::vector<std::vector<SchemeSpec>>& low_sets() {
    static const std::vector<std::vector<SchemeSpec>> s = {
        {{SchemeId::int8_row, 0}},          {{SchemeId::int8_tensor, 0}},
        {{SchemeId::fp8_e4m3_row, 0}},      {{SchemeId::fp8_e4m3_tensor, 0}},
        {{SchemeId::fp8_e5m2_tensor, 0}},   {{SchemeId::int8_group, 32}},
        {{SchemeId::q8_0, 0}},              {{SchemeId::q4_0, 0}},
        {{SchemeId::fp8_e4m3_block, 0}},    {{SchemeId::int4_asym_group, 64}},
        {{SchemeId::uint8_asym_tensor, 0}}, {{SchemeId::q4_0, 0}, {SchemeId::int8_row, 0}},
        {{SchemeId::uint8_asym_tensor, 0}, {SchemeId::fp8_e4m3_block, 0}},
        {{SchemeId::q4_0, 0}, {SchemeId::int8_group, 32}, {SchemeId::fp8_e4m3_row, 0}},
        {{SchemeId::int8_row_ct, 0}},
    };
    return s;
}

// Rows of one unit of scales: a tile scheme's 128, a per-tensor scheme's all (0 here).
uint64_t scale_unit_rows(qs_low_scheme s) {
    switch (s) {
        case QS_LOW_FP8_E4M3_BLOCK128: return 128;
        case QS_LOW_INT8_TENSOR:
        case QS_LOW_FP8_E4M3_TENSOR:
        case QS_LOW_FP8_E5M2_TENSOR:
        case QS_LOW_UINT8_ASYM_TENSOR: return 0;
        default: return 1;
    }
}

// Bytes [unit_begin, unit_end) of `all`, which holds `units` equal units.
std::vector<uint8_t> units_of(const std::vector<uint8_t>& all, uint64_t units, uint64_t unit_begin, uint64_t unit_end) {
    if (units == 0 || all.empty()) return {};
    const uint64_t each = all.size() / units;
    return std::vector<uint8_t>(all.begin() + static_cast<std::ptrdiff_t>(unit_begin * each),
                                all.begin() + static_cast<std::ptrdiff_t>(unit_end * each));
}

// The rows [r0, r1) of level `level` as the whole load gives them.
LevelBytes expected_rows(const LevelBytes& whole, const qs_level_info& li, uint64_t rows, uint64_t r0, uint64_t r1) {
    LevelBytes e;
    e.codes = units_of(whole.codes, rows, r0, r1);
    if (r1 == r0) return e;
    const uint64_t u = scale_unit_rows(li.scheme);
    if (li.scheme == QS_LOW_PASSTHROUGH) return e;
    if (u == 0) {
        e.scales = whole.scales;
        e.zero_points = whole.zero_points;
        return e;
    }
    const uint64_t units = (rows + u - 1) / u, b = r0 / u, end = (r1 + u - 1) / u;
    e.scales = units_of(whole.scales, units, b, end);
    e.zero_points = units_of(whole.zero_points, units, b, end);
    return e;
}

qs_status load_rows(qs_file* f, size_t i, uint32_t level, uint64_t r0, uint64_t n, LevelBytes& out, qs_error* err) {
    qs_level_info li{};
    li.struct_size = sizeof li;
    const qs_status s = qs_rows_level_info_get_e(f, i, level, r0, n, &li, err);
    if (s != QS_OK) return s;
    out.codes.assign(li.code_bytes, 0xCD);
    out.scales.assign(li.scale_bytes, 0xCD);
    out.zero_points.assign(li.zero_point_bytes, 0xCD);
    return qs_load_level_rows_e(f, i, level, r0, n, out.codes.empty() ? nullptr : out.codes.data(), out.codes.size(),
                                out.scales.empty() ? nullptr : out.scales.data(), out.scales.size(),
                                out.zero_points.empty() ? nullptr : out.zero_points.data(), out.zero_points.size(),
                                err);
}

std::vector<Tensor> random_model(std::mt19937_64& rng, uint64_t seed) {
    Gen gen(seed);
    auto pick = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };
    const DType dtypes[3] = {DType::f32, DType::f16, DType::bf16};
    const uint64_t cols[4] = {64, 96, 128, 192};
    std::vector<Tensor> m;
    m.push_back(gen.float_tensor("a.weight", dtypes[pick(0, 2)], {pick(1, 300), cols[pick(0, 3)]}));
    m.push_back(gen.float_tensor("b.weight", dtypes[pick(0, 2)], {pick(129, 400), 4, 16}));
    m.push_back(gen.float_tensor("odd.weight", dtypes[pick(0, 2)], {pick(1, 50), 37}));  // passthrough for some schemes
    m.push_back(gen.float_tensor("norm.weight", DType::f32, {pick(1, 40)}));
    m.push_back(gen.random_tensor("ids", DType::i32, {pick(1, 9), 3}));
    return m;
}

}  // namespace

TEST_CASE("Row ranges equal the slices of whole loads at every level", "[rows]") {
    std::mt19937_64 rng(2026);
    qs_error* err = qs_error_new();
    REQUIRE(err);
    for (size_t set = 0; set < low_sets().size(); ++set) {
        for (bool raw : {false, true}) {
            DYNAMIC_SECTION("low set " << set << (raw ? " raw" : " coded")) {
                TempDir dir;
                const std::vector<Tensor> model = random_model(rng, 500 + set * 2 + raw);
                qstore::PackOptions o;
                o.low = low_sets()[set];
                o.low_raw = raw;
                o.threads = 2;
                o.block_elements = std::uniform_int_distribution<uint64_t>(200, 3000)(rng);  // many blocks
                pack_model(dir, model, "m.qs", o);
                // With checksums a range reads whole parts; without, only its blocks.
                for (int verify : {1, 0}) {
                INFO("verify_checksums " << verify);
                auto f = open_qs(dir.file("m.qs"), nullptr, 2, verify);
                REQUIRE(f);
                for (size_t i = 0; i < model.size(); ++i) {
                    const qs_tensor_info info = tensor_info(f.get(), i);
                    const uint64_t rows = info.ndim ? info.shape[0] : 1;
                    INFO(info.name << " rows " << rows << " levels " << info.num_levels);
                    std::vector<std::pair<uint64_t, uint64_t>> ranges = {{0, rows}, {0, 0}, {rows, rows},
                                                                         {rows - 1, rows}, {0, 1}};
                    for (int k = 0; k < 6; ++k) {
                        const uint64_t a = std::uniform_int_distribution<uint64_t>(0, rows)(rng);
                        const uint64_t b = std::uniform_int_distribution<uint64_t>(0, rows)(rng);
                        ranges.push_back({std::min(a, b), std::max(a, b)});
                    }
                    for (uint32_t level = 0; level < info.num_levels; ++level) {
                        LevelBytes whole;
                        REQUIRE(load_level_bytes(f.get(), i, level, whole) == QS_OK);
                        const qs_level_info li = level_info(f.get(), i, level);
                        for (const auto& [r0, r1] : ranges) {
                            INFO("level " << level << " rows [" << r0 << ", " << r1 << ")");
                            LevelBytes got;
                            REQUIRE(load_rows(f.get(), i, level, r0, r1 - r0, got, err) == QS_OK);
                            const LevelBytes want = expected_rows(whole, li, rows, r0, r1);
                            CHECK(first_mismatch(got.codes, want.codes) == -1);
                            CHECK(first_mismatch(got.scales, want.scales) == -1);
                            CHECK(first_mismatch(got.zero_points, want.zero_points) == -1);
                        }
                    }
                    // The high precision's own function gives the same rows.
                    LevelBytes whole;
                    REQUIRE(load_level_bytes(f.get(), i, info.num_levels - 1, whole) == QS_OK);
                    for (const auto& [r0, r1] : ranges) {
                        std::vector<uint8_t> got((r1 - r0) * (rows ? info.high_bytes / rows : 0), 0xCD);
                        REQUIRE(qs_load_high_rows_e(f.get(), i, r0, r1 - r0, got.empty() ? nullptr : got.data(),
                                                    got.size(), err) == QS_OK);
                        CHECK(first_mismatch(got, units_of(whole.codes, rows, r0, r1)) == -1);
                    }
                }
                }
            }
        }
    }
    qs_error_free(err);
}

TEST_CASE("Row ranges outside the tensor, and buffers too small, are refused", "[rows]") {
    TempDir dir;
    Gen gen(77);
    const std::vector<Tensor> model = {gen.float_tensor("w", DType::bf16, {40, 64})};
    qstore::PackOptions o;
    o.block_elements = 256;
    pack_model(dir, model, "m.qs", o);
    auto f = open_qs(dir.file("m.qs"));
    REQUIRE(f);
    qs_error* err = qs_error_new();
    std::vector<uint8_t> buf(40 * 64 * 2);
    qs_level_info li{};
    li.struct_size = sizeof li;
    const std::pair<uint64_t, uint64_t> bad[] = {{0, 41}, {40, 1}, {41, 0}, {1, UINT64_MAX}, {UINT64_MAX, 2}};
    for (const auto& [first, count] : bad) {
        INFO(first << " + " << count);
        CHECK(qs_load_high_rows_e(f.get(), 0, first, count, buf.data(), buf.size(), err) == QS_ERR_INVALID_ARGUMENT);
        CHECK(std::string(qs_error_message(err)).find("rows") != std::string::npos);
        CHECK(qs_load_level_rows_e(f.get(), 0, 0, first, count, buf.data(), buf.size(), buf.data(), buf.size(),
                                   nullptr, 0, err) == QS_ERR_INVALID_ARGUMENT);
        CHECK(qs_rows_level_info_get_e(f.get(), 0, 0, first, count, &li, err) == QS_ERR_INVALID_ARGUMENT);
    }
    CHECK(qs_load_high_rows_e(f.get(), 0, 3, 5, buf.data(), 5 * 64 * 2 - 1, err) == QS_ERR_BUFFER_TOO_SMALL);
    CHECK(qs_load_level_rows_e(f.get(), 0, 0, 3, 5, buf.data(), 5 * 64 - 1, buf.data(), 20, nullptr, 0, err) ==
          QS_ERR_BUFFER_TOO_SMALL);
    CHECK(qs_load_level_rows_e(f.get(), 0, 0, 3, 5, buf.data(), 5 * 64, buf.data(), 19, nullptr, 0, err) ==
          QS_ERR_BUFFER_TOO_SMALL);
    CHECK(qs_load_level_rows_e(f.get(), 0, 2, 0, 1, buf.data(), buf.size(), nullptr, 0, nullptr, 0, err) ==
          QS_ERR_INVALID_ARGUMENT);  // no level 2
    CHECK(qs_rows_level_info_get_e(f.get(), 0, 0, 3, 5, &li, err) == QS_OK);
    CHECK((li.code_bytes == 5 * 64 && li.scale_bytes == 5 * 4 && li.zero_point_bytes == 0));
    qs_error_free(err);
}
