// Foreign low codes: the low precision comes from a bitsandbytes-layout file
// (X.weight int8, same shape + X.SCB float32 [rows]) that qstore did not compute.
// Whatever the codes and scales are (perturbed by one, fully random, NaN/Inf/0/negative
// scales), both precisions must round-trip exactly: low = the given codes and scales,
// high = the original bytes.
#include <catch2/catch.hpp>

#include <cfloat>
#include <limits>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "schemes/layout.hpp"
#include "base/error.hpp"
#include "qs_util.hpp"
#include "read/reader.hpp"
#include "schemes/registry.hpp"

using namespace qs_test;
using qstore::DType;

namespace {

enum class CodesMode { reference, plus_minus_one, random, extremes };
enum class ScalesMode { reference, perturbed, random, special };

const char* name_of(CodesMode m) {
    switch (m) {
        case CodesMode::reference: return "reference";
        case CodesMode::plus_minus_one: return "plus_minus_one";
        case CodesMode::random: return "random";
        case CodesMode::extremes: return "extremes";
    }
    return "?";
}
const char* name_of(ScalesMode m) {
    switch (m) {
        case ScalesMode::reference: return "reference";
        case ScalesMode::perturbed: return "perturbed";
        case ScalesMode::random: return "random";
        case ScalesMode::special: return "special";
    }
    return "?";
}

LowRef make_low(const Tensor& t, CodesMode cm, ScalesMode sm, Gen& g) {
    LowRef low = ref_quantize(t);
    for (auto& c : low.codes) {
        switch (cm) {
            case CodesMode::reference: break;
            case CodesMode::plus_minus_one: {
                int v = c + (g.chance(0.5) ? 1 : -1);
                if (g.chance(0.3)) v = c;  // some untouched
                c = static_cast<int8_t>(std::max(-128, std::min(127, v)));
                break;
            }
            case CodesMode::random: c = static_cast<int8_t>(static_cast<uint8_t>(g.rng()())); break;
            case CodesMode::extremes: {
                static const int8_t ex[] = {-128, -127, 127, 0, -1, 1};
                c = ex[g.uniform(0, 5)];
                break;
            }
        }
    }
    const std::vector<uint32_t> special = {
        0x7FC00000u,  // NaN
        0xFFC00001u,  // -NaN with payload
        0x7F800001u,  // signalling NaN
        0x7F800000u,  // +Inf
        0xFF800000u,  // -Inf
        0x00000000u,  // 0
        0x80000000u,  // -0
        0xBF800000u,  // -1
        0x00000001u,  // smallest subnormal
        0x7F7FFFFFu,  // FLT_MAX
        0x3C23D70Au,  // 0.01
    };
    for (size_t r = 0; r < low.scales.size(); ++r) {
        float& s = low.scales[r];
        switch (sm) {
            case ScalesMode::reference: break;
            case ScalesMode::perturbed:
                s = g.chance(0.5) ? std::nextafter(s, INFINITY) : std::nextafter(s, -INFINITY);
                if (g.chance(0.3)) s *= 1.01f;
                break;
            case ScalesMode::random: s = float_of(static_cast<uint32_t>(g.rng()())); break;
            case ScalesMode::special: s = float_of(special[r % special.size()]); break;
        }
    }
    return low;
}

Tensor codes_tensor(const Tensor& high, const LowRef& low) {
    Tensor c;
    c.name = high.name;
    c.dtype = DType::i8;
    c.shape = high.shape;
    c.bytes = as_bytes(low.codes);
    return c;
}
Tensor scales_tensor(const Tensor& high, const LowRef& low) {
    Tensor s;
    s.name = qstore::low_tensor_names(*qstore::low_scheme(qstore::SchemeId::int8_row), high.name).scales;
    s.dtype = DType::f32;
    s.shape = {high.rows()};
    s.bytes = as_bytes(low.scales);
    return s;
}

std::vector<Tensor> foreign_model(Gen& g) {
    std::vector<Tensor> m;
    m.push_back(g.float_tensor("a.weight", DType::f32, {17, 30}));
    m.push_back(g.float_tensor("b.weight", DType::bf16, {11, 5, 3}));
    m.push_back(g.float_tensor("c_kernel", DType::f16, {12, 70}));  // not ".weight": scales are "c_kernel.SCB"
    m.push_back(g.float_tensor("d.weight", DType::f32, {1, 100}));
    m.push_back(g.float_tensor("e.weight", DType::bf16, {40, 1}));
    m.push_back(g.float_tensor("f.weight", DType::f16, {3, 2, 2, 2}));
    m.push_back(g.float_tensor("norm.weight", DType::f32, {30}));  // 1-D: passthrough, no low entry
    return m;
}

void check_foreign(const std::string& path, const std::vector<Tensor>& model, const std::map<std::string, LowRef>& lows,
                   bool low_raw) {
    qs_status st;
    FilePtr f = open_qs(path, &st, 2);
    INFO(qs_last_error_message());
    REQUIRE(st == QS_OK);
    REQUIRE(qs_tensor_count(f.get()) == model.size());
    for (const auto& t : model) {
        INFO(tensor_context(t));
        size_t i;
        REQUIRE(qs_find_tensor(f.get(), t.name.c_str(), &i) == QS_OK);
        qs_tensor_info info = tensor_info(f.get(), i);
        std::vector<uint8_t> high;
        REQUIRE(load_high(f.get(), i, high) == QS_OK);
        CHECK(first_mismatch(high, t.bytes) == -1);
        LowData low;
        REQUIRE(load_low(f.get(), i, low) == QS_OK);
        auto it = lows.find(t.name);
        if (it == lows.end()) {
            CHECK(info.low_scheme == QS_LOW_PASSTHROUGH);
            CHECK(first_mismatch(low.codes, t.bytes) == -1);
            continue;
        }
        CHECK(info.low_scheme == QS_LOW_INT8_ROW);
        CHECK(info.low_codes_are_raw == (low_raw ? 1 : 0));
        CHECK(first_mismatch(low.codes, as_bytes(it->second.codes)) == -1);
        CHECK(first_mismatch(low.scales, as_bytes(it->second.scales)) == -1);  // bitwise, NaN payloads included
        if (low_raw) {
            const void* vc = nullptr;
            const void* vs = nullptr;
            REQUIRE(qs_view_low(f.get(), i, &vc, &vs) == QS_OK);
            CHECK(first_mismatch(vc, low.codes.size(), low.codes.data(), low.codes.size()) == -1);
            CHECK(first_mismatch(vs, low.scales.size(), low.scales.data(), low.scales.size()) == -1);
        }
    }
    st = qs_verify(f.get());
    INFO(qs_last_error_message());
    CHECK(st == QS_OK);
}

}  // namespace

TEST_CASE("foreign low codes and scales round-trip exactly in both precisions", "[foreign_low]") {
    const CodesMode cm = GENERATE(CodesMode::reference, CodesMode::plus_minus_one, CodesMode::random, CodesMode::extremes);
    const ScalesMode sm = GENERATE(ScalesMode::reference, ScalesMode::perturbed, ScalesMode::random, ScalesMode::special);
    const bool low_raw = GENERATE(false, true);
    CAPTURE(name_of(cm), name_of(sm), low_raw);

    Gen g(31 + static_cast<int>(cm) * 8 + static_cast<int>(sm) * 2 + (low_raw ? 1 : 0));
    std::vector<Tensor> model = foreign_model(g);
    std::vector<Tensor> low_file;
    std::map<std::string, LowRef> lows;
    for (const auto& t : model) {
        if (t.shape.size() < 2) continue;
        LowRef l = make_low(t, cm, sm, g);
        low_file.push_back(codes_tensor(t, l));
        low_file.push_back(scales_tensor(t, l));
        lows[t.name] = l;
    }
    qstore::PackOptions o;
    o.low_raw = low_raw;
    o.block_elements = 64;
    o.threads = 2;
    TempDir dir;
    qstore::PackStats stats = pack_model(dir, model, "f.qs", o, &low_file);
    CHECK(stats.quantized_tensors == lows.size());
    check_foreign(dir.file("f.qs"), model, lows, low_raw);

    qstore::ReaderOptions ro;
    ro.threads = 1;
    qstore::Reader r(dir.file("f.qs"), ro);
    CHECK(nlohmann::json::parse(r.metadata_json()).at("low_source") == "given");
}

TEST_CASE("a low file without an entry for a tensor leaves that tensor unquantized", "[foreign_low]") {
    Gen g(4);
    std::vector<Tensor> model = foreign_model(g);
    std::vector<Tensor> low_file;
    std::map<std::string, LowRef> lows;
    for (const auto& t : model) {
        if (t.shape.size() < 2 || t.name == "b.weight") continue;  // b.weight: no low entry at all
        LowRef l = make_low(t, CodesMode::random, ScalesMode::random, g);
        if (t.name == "d.weight") {  // codes present, scales missing
            low_file.push_back(codes_tensor(t, l));
            continue;
        }
        low_file.push_back(codes_tensor(t, l));
        low_file.push_back(scales_tensor(t, l));
        lows[t.name] = l;
    }
    qstore::PackOptions o;
    o.block_elements = 64;
    TempDir dir;
    const qstore::PackStats stats = pack_model(dir, model, "f.qs", o, &low_file);
    check_foreign(dir.file("f.qs"), model, lows, false);
    // Both are reported: d's codes went unused, b and d were left unquantized.
    CHECK(stats.given_low_unused == std::vector<std::string>{"d.weight"});
    CHECK(stats.given_low_missing == (std::vector<std::string>{"b.weight", "d.weight"}));

    o.strict_given_low = true;  // the same is then an error, and no file is written
    try {
        pack_model(dir, model, "strict.qs", o, &low_file);
        FAIL("a strict pack accepted a low file missing tensors");
    } catch (const qstore::Error& e) {
        CHECK(e.code() == qstore::Errc::invalid_argument);
        CHECK_THAT(e.what(), Catch::Contains("b.weight") && Catch::Contains("d.weight"));
    }
    CHECK(!fs::exists(dir.file("strict.qs")));
}

TEST_CASE("a complete low file reports nothing unused or missing, strict or not", "[foreign_low]") {
    Gen g(6);
    std::vector<Tensor> model = foreign_model(g);
    std::vector<Tensor> low_file;
    for (const auto& t : model) {
        if (t.shape.size() < 2) {
            low_file.push_back(t);  // stored as it is: the low file holds the same tensor
            continue;
        }
        LowRef l = make_low(t, CodesMode::random, ScalesMode::random, g);
        low_file.push_back(codes_tensor(t, l));
        low_file.push_back(scales_tensor(t, l));
    }
    qstore::PackOptions o;
    o.strict_given_low = true;
    TempDir dir;
    const qstore::PackStats stats = pack_model(dir, model, "f.qs", o, &low_file);
    CHECK(stats.given_low_unused.empty());
    CHECK(stats.given_low_missing.empty());
    CHECK(stats.quantized_tensors == model.size() - 1);
}

TEST_CASE("inconsistent foreign low files are refused with a message naming the tensor", "[foreign_low]") {
    Gen g(5);
    std::vector<Tensor> model = {g.float_tensor("w.weight", DType::f32, {6, 10})};
    LowRef l = ref_quantize(model[0]);
    Tensor codes = codes_tensor(model[0], l);
    Tensor scales = scales_tensor(model[0], l);

    std::vector<Tensor> bad;
    SECTION("codes of another shape") {
        codes.shape = {10, 6};
        bad = {codes, scales};
    }
    SECTION("one scale too few") {
        scales.shape = {5};
        scales.bytes.resize(20);
        bad = {codes, scales};
    }
    SECTION("scales that are not F32") {
        Tensor s16 = scales;
        s16.dtype = DType::f16;
        s16.bytes.resize(12);
        bad = {codes, s16};
    }
    qstore::PackOptions o;
    TempDir dir;
    try {
        pack_model(dir, model, "bad.qs", o, &bad);
        FAIL("pack accepted an inconsistent low file");
    } catch (const qstore::Error& e) {
        CHECK(e.code() == qstore::Errc::invalid_argument);
        CHECK_THAT(e.what(), Catch::Contains("w.weight"));
    }
}

TEST_CASE("`qstore pack --low` uses the given low file", "[foreign_low][cli]") {
    const std::string cli = cli_path();
    if (cli.empty() || !fs::exists(cli)) {
        WARN("qstore CLI not built; skipping");
        return;
    }
    const bool low_raw = GENERATE(false, true);
    Gen g(8);
    std::vector<Tensor> model = foreign_model(g);
    std::vector<Tensor> low_file;
    std::map<std::string, LowRef> lows;
    for (const auto& t : model) {
        if (t.shape.size() < 2) continue;
        LowRef l = make_low(t, CodesMode::plus_minus_one, ScalesMode::special, g);
        low_file.push_back(codes_tensor(t, l));
        low_file.push_back(scales_tensor(t, l));
        lows[t.name] = l;
    }
    TempDir dir;
    write_safetensors(dir.file("high.safetensors"), model);
    write_safetensors(dir.file("low.safetensors"), low_file);
    const std::string cmd = shell_quote(cli) + " pack " + shell_quote(dir.file("high.safetensors")) + " --low " +
                            shell_quote(dir.file("low.safetensors")) + " -o " + shell_quote(dir.file("f.qs")) +
                            (low_raw ? " --low-raw" : "") + " > /dev/null 2>&1";
    REQUIRE(run_command(cmd) == 0);
    check_foreign(dir.file("f.qs"), model, lows, low_raw);
}

// The low file shrinks after it was opened (another process truncates it): the pack
// fails with a truncation error instead of dying of SIGBUS in the mapping.
TEST_CASE("a low file truncated during the pack is an error, not SIGBUS", "[foreign_low][shrink]") {
    Gen g(77);
    std::vector<Tensor> model = foreign_model(g);
    std::vector<Tensor> low_file;
    for (const auto& t : model) {
        if (t.shape.size() < 2) continue;
        LowRef l = make_low(t, CodesMode::reference, ScalesMode::reference, g);
        low_file.push_back(codes_tensor(t, l));
        low_file.push_back(scales_tensor(t, l));
    }
    TempDir dir;
    write_safetensors(dir.file("high.safetensors"), model);
    write_safetensors(dir.file("low.safetensors"), low_file);
    qstore::SafetensorsReader high(dir.file("high.safetensors"));
    qstore::SafetensorsReader low(dir.file("low.safetensors"));
    REQUIRE(::truncate(dir.file("low.safetensors").c_str(), 64) == 0);
    qstore::PackOptions o;
    o.threads = 1;
    try {
        qstore::pack(high, &low, o, dir.file("out.qs"));
        FAIL("pack succeeded from a truncated low file");
    } catch (const qstore::Error& e) {
        CHECK(e.code() == qstore::Errc::truncated);
    }
    CHECK_FALSE(fs::exists(dir.file("out.qs")));
}
