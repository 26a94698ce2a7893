// Chains of precisions (PackOptions.low with 2-3 schemes, lowest first): every low level
// equals what packing that scheme alone gives, the top level is the high input, level
// infos are right, the file is a prefix per level (a file cut after level k serves
// levels 0..k bit-exactly and reports QS_ERR_TRUNCATED above), byte flips in level
// data give QS_ERR_CORRUPT (never wrong data), and qs_verify passes on intact files.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstring>

#include "fixtures.hpp"
#include "container/format.hpp"
#include "schemes/registry.hpp"
#include "schemes/scheme.hpp"
#include "pack/packer.hpp"
#include "qs_util.hpp"
#include "read/reader.hpp"

using namespace qs_test;
using qstore::DType;
using qstore::SchemeId;
using qstore::SchemeSpec;

namespace {

bool same(const LevelBytes& a, const LevelBytes& b) {
    return a.codes == b.codes && a.scales == b.scales && a.zero_points == b.zero_points;
}

std::string chain_name(const std::vector<SchemeSpec>& chain) {
    std::string s = "high";
    for (size_t k = chain.size(); k-- > 0;) s += " > " + qstore::low_scheme(chain[k])->name();
    return s;
}

const std::vector<std::vector<SchemeSpec>>& chains() {
    static const std::vector<std::vector<SchemeSpec>> c = {
        {{SchemeId::q4_0, 0}, {SchemeId::int8_row, 0}},
        {{SchemeId::int4_asym_group, 64}, {SchemeId::int8_row, 0}},
        {{SchemeId::q4_0, 0}, {SchemeId::q8_0, 0}},
        {{SchemeId::q4_0, 0}, {SchemeId::int8_group, 32}, {SchemeId::fp8_e4m3_row, 0}},
        {{SchemeId::uint8_asym_tensor, 0}, {SchemeId::fp8_e4m3_block, 0}},
        {{SchemeId::gptq_int4, 64}, {SchemeId::int8_row_ct, 0}, {SchemeId::int8_row, 0}},
    };
    return c;
}

std::vector<Tensor> chain_model(uint64_t seed) {
    Gen gen(seed);
    return {gen.float_tensor("a.weight", DType::bf16, {64, 128}),
            gen.float_tensor("b.weight", DType::f16, {8, 4, 4, 8}),
            gen.float_tensor("c.weight", DType::f32, {33, 96}),
            gen.float_tensor("d.weight", DType::bf16, {130, 160}),
            gen.float_tensor("odd.weight", DType::f32, {37, 29}),  // no GGUF/int4 scheme accepts it
            gen.float_tensor("norm.weight", DType::f32, {64}),
            gen.random_tensor("ids", DType::i32, {4, 8})};
}

// level_prefix_end[k] as `qstore info --json` reports it.
std::vector<uint64_t> level_prefix_ends(const std::string& path) {
    qstore::ReaderOptions ro;
    ro.threads = 1;
    qstore::Reader r(path, ro);
    size_t levels = 0;
    for (const auto& s : r.sections())
        if (static_cast<qstore::SectionKind>(s.kind) == qstore::SectionKind::level_data)
            levels = std::max<size_t>(levels, s.level + 1);
    std::vector<uint64_t> ends;
    for (size_t k = 0; k < levels; ++k) ends.push_back(r.level_prefix_end(k));
    return ends;
}

struct Packed {
    std::string path;
    std::vector<Tensor> model;
    // want[i][k]: tensor i's level k (top level: the high bytes in .codes).
    std::vector<std::vector<LevelBytes>> want;
};

// Packs `model` with the chain, and each scheme alone, and records the expected levels.
Packed pack_chain(const TempDir& dir, const std::vector<SchemeSpec>& chain, const std::vector<Tensor>& model,
                  bool raw) {
    Packed p;
    p.model = model;
    p.path = dir.file("chain.qs");
    qstore::PackOptions o;
    o.low = chain;
    o.low_raw = raw;
    o.threads = 2;
    o.block_elements = 1024;
    pack_model(dir, model, "chain.qs", o);
    p.want.resize(model.size());
    for (size_t k = 0; k < chain.size(); ++k) {
        qstore::PackOptions so = o;
        so.low = {chain[k]};
        const std::string name = "single" + std::to_string(k) + ".qs";
        pack_model(dir, model, name, so);
        auto f = open_qs(dir.file(name));
        REQUIRE(f);
        for (size_t i = 0; i < model.size(); ++i) {
            LevelBytes l;
            REQUIRE(load_level_bytes(f.get(), i, 0, l) == QS_OK);
            // qs_load_low gives the same codes and scales.
            LowData ld;
            REQUIRE(load_low(f.get(), i, ld) == QS_OK);
            CHECK(ld.codes == l.codes);
            CHECK(ld.scales == l.scales);
            p.want[i].push_back(l);
        }
    }
    for (size_t i = 0; i < model.size(); ++i) {
        LevelBytes top;
        top.codes = model[i].bytes;
        p.want[i].push_back(top);
    }
    return p;
}

bool chain_accepts(const std::vector<SchemeSpec>& chain, const Tensor& t) {
    if (t.shape.size() < 2) return false;
    if (t.dtype != DType::f32 && t.dtype != DType::f16 && t.dtype != DType::bf16) return false;
    for (const auto& s : chain)
        if (!qstore::low_scheme(s)->accepts({t.rows(), t.cols()})) return false;
    return true;
}

}  // namespace

TEST_CASE("Chains: every level equals the scheme packed alone, top level is the high input", "[chains]") {
    for (const auto& chain : chains()) {
        for (bool raw : {false, true}) {
            DYNAMIC_SECTION(chain_name(chain) << (raw ? " raw" : " coded")) {
                TempDir dir;
                const Packed p = pack_chain(dir, chain, chain_model(300 + chain.size() * 10 + raw), raw);
                auto f = open_qs(p.path, nullptr, 3);  // blocks decoded on 3 threads
                REQUIRE(f);
                REQUIRE(qs_tensor_count(f.get()) == p.model.size());
                for (size_t i = 0; i < p.model.size(); ++i) {
                    const Tensor& t = p.model[i];
                    INFO(tensor_context(t));
                    const qs_tensor_info info = tensor_info(f.get(), i);
                    std::vector<uint8_t> high;
                    REQUIRE(load_high(f.get(), i, high) == QS_OK);
                    CHECK(first_mismatch(high, t.bytes) == -1);
                    if (!chain_accepts(chain, t)) {
                        CHECK(info.low_scheme == QS_LOW_PASSTHROUGH);
                        CHECK(info.num_levels == 1);
                        LevelBytes l;
                        REQUIRE(load_level_bytes(f.get(), i, 0, l) == QS_OK);
                        CHECK(first_mismatch(l.codes, t.bytes) == -1);
                        qs_status s;
                        level_info(f.get(), i, 1, &s);
                        CHECK(s == QS_ERR_INVALID_ARGUMENT);
                        continue;
                    }
                    REQUIRE(info.num_levels == chain.size() + 1);
                    CHECK(info.low_scheme == static_cast<qs_low_scheme>(chain[0].id));
                    CHECK(info.low_group_size == chain[0].group);
                    for (uint32_t k = 0; k <= chain.size(); ++k) {
                        INFO("level " << k);
                        LevelBytes l;
                        REQUIRE(load_level_bytes(f.get(), i, k, l) == QS_OK);
                        CHECK(first_mismatch(l.codes, p.want[i][k].codes) == -1);
                        CHECK(first_mismatch(l.scales, p.want[i][k].scales) == -1);
                        CHECK(first_mismatch(l.zero_points, p.want[i][k].zero_points) == -1);
                        const qs_level_info li = level_info(f.get(), i, k);
                        if (k < chain.size()) {
                            const qstore::LowScheme& s = *qstore::low_scheme(chain[k]);
                            const qstore::Geometry g{t.rows(), t.cols()};
                            CHECK(li.scheme == static_cast<qs_low_scheme>(chain[k].id));
                            CHECK(li.group_size == chain[k].group);
                            CHECK(li.code_dtype == static_cast<qs_dtype>(s.code_dtype()));
                            CHECK(li.scale_dtype == static_cast<qs_dtype>(s.scale_dtype()));
                            CHECK(li.code_bytes == s.code_bytes(g));
                            CHECK(li.scale_bytes == s.scale_bytes(g));
                            CHECK(li.zero_point_bytes == s.zero_point_bytes(g));
                            CHECK(li.stored_bytes > 0);
                        } else {
                            CHECK(li.scheme == QS_LOW_PASSTHROUGH);
                            CHECK(li.code_dtype == info.high_dtype);
                            CHECK(li.scale_dtype == QS_DTYPE_UNKNOWN);
                            CHECK(li.code_bytes == t.bytes.size());
                            CHECK(li.scale_bytes == 0);
                            CHECK(li.zero_point_bytes == 0);
                        }
                    }
                    // Buffers one byte too small: QS_ERR_BUFFER_TOO_SMALL and nothing written.
                    for (uint32_t k = 0; k < chain.size(); ++k) {
                        const qs_level_info li = level_info(f.get(), i, k);
                        for (int part = 0; part < 3; ++part) {
                            const uint64_t sz[3] = {li.code_bytes, li.scale_bytes, li.zero_point_bytes};
                            if (sz[part] == 0) continue;
                            INFO("level " << k << " part " << part << " one byte short");
                            std::vector<uint8_t> c(li.code_bytes + 1, 0xAB), sc(li.scale_bytes + 1, 0xAB),
                                zp(li.zero_point_bytes + 1, 0xAB);
                            const qs_status st = qs_load_level(
                                f.get(), i, k, c.data(), li.code_bytes - (part == 0), sc.data(),
                                li.scale_bytes - (part == 1), zp.data(), li.zero_point_bytes - (part == 2));
                            CHECK(st == QS_ERR_BUFFER_TOO_SMALL);
                            const auto untouched = [](const std::vector<uint8_t>& v) {
                                for (uint8_t b : v)
                                    if (b != 0xAB) return false;
                                return true;
                            };
                            CHECK(untouched(c));
                            CHECK(untouched(sc));
                            CHECK(untouched(zp));
                        }
                    }
                    qs_status s;
                    level_info(f.get(), i, static_cast<uint32_t>(chain.size() + 1), &s);
                    CHECK(s == QS_ERR_INVALID_ARGUMENT);
                    std::vector<uint8_t> dummy(16);
                    CHECK(qs_load_level(f.get(), i, static_cast<uint32_t>(chain.size() + 1), dummy.data(), dummy.size(),
                                        nullptr, 0, nullptr, 0) == QS_ERR_INVALID_ARGUMENT);
                }
                CHECK(qs_verify(f.get()) == QS_OK);
            }
        }
    }
}

TEST_CASE("Chains: a file cut at level_prefix_end[k] serves levels 0..k, truncated above", "[chains][prefix]") {
    for (const auto& chain : chains()) {
        for (bool raw : {false, true}) {
            DYNAMIC_SECTION(chain_name(chain) << (raw ? " raw" : " coded")) {
                TempDir dir;
                const Packed p = pack_chain(dir, chain, chain_model(700 + chain.size() + raw), raw);
                const std::vector<uint8_t> bytes = read_file(p.path);
                const std::vector<uint64_t> ends = level_prefix_ends(p.path);
                REQUIRE(ends.size() == chain.size() + 1);
                for (size_t k = 0; k + 1 < ends.size(); ++k) CHECK(ends[k] <= ends[k + 1]);
                CHECK(ends.back() <= bytes.size());
                for (size_t k = 0; k < ends.size(); ++k) {
                    INFO("cut at level_prefix_end[" << k << "] = " << ends[k] << " of " << bytes.size());
                    const std::string cut = dir.file("cut" + std::to_string(k) + ".qs");
                    write_file(cut, bytes.data(), ends[k]);
                    qs_status st;
                    auto f = open_qs(cut, &st);
                    REQUIRE(st == QS_OK);
                    for (size_t i = 0; i < p.model.size(); ++i) {
                        INFO(tensor_context(p.model[i]));
                        const uint32_t levels = tensor_info(f.get(), i).num_levels;
                        for (uint32_t lv = 0; lv < levels; ++lv) {
                            INFO("level " << lv);
                            LevelBytes l;
                            const qs_status s = load_level_bytes(f.get(), i, lv, l);
                            // A passthrough tensor has one level (its bytes in level 0's data).
                            const size_t want_level = levels == 1 ? 0 : lv;
                            if (want_level <= k) {
                                REQUIRE(s == QS_OK);
                                const LevelBytes& w = levels == 1 ? LevelBytes{p.model[i].bytes, {}, {}} : p.want[i][lv];
                                CHECK(first_mismatch(l.codes, w.codes) == -1);
                                CHECK(l.scales == w.scales);
                                CHECK(l.zero_points == w.zero_points);
                            } else {
                                CHECK(s == QS_ERR_TRUNCATED);
                                // "...: tensor 'x': scales: truncated: ...": words and prefix apart.
                                const std::string msg = qs_last_error_message();
                                CHECK(msg.find(": truncated: ") != std::string::npos);
                                CHECK(msg.find("struncated") == std::string::npos);
                            }
                        }
                        std::vector<uint8_t> h;
                        const qs_status hs = load_high(f.get(), i, h);
                        if (levels == 1 || k + 1 == ends.size()) {
                            CHECK(hs == QS_OK);
                            CHECK(h == p.model[i].bytes);
                        } else {
                            CHECK(hs == QS_ERR_TRUNCATED);
                        }
                    }
                }
                // One byte less than level_prefix_end[k] must not serve level k: the
                // prefix is the smallest (for level 0 the file may then not even open).
                for (size_t k = 0; k < ends.size(); ++k) {
                    if (k > 0 && ends[k] == ends[k - 1]) continue;
                    INFO("cut at level_prefix_end[" << k << "] - 1");
                    const std::string cut = dir.file("short" + std::to_string(k) + ".qs");
                    write_file(cut, bytes.data(), ends[k] - 1);
                    qs_status open_status;
                    auto f = open_qs(cut, &open_status);
                    if (k == 0 && open_status == QS_ERR_TRUNCATED) continue;
                    REQUIRE(f);
                    bool truncated_seen = false;
                    for (size_t i = 0; i < p.model.size(); ++i) {
                        if (k > 0 && tensor_info(f.get(), i).num_levels <= k) continue;
                        LevelBytes l;
                        const qs_status s = load_level_bytes(f.get(), i, static_cast<uint32_t>(k), l);
                        const bool whole = k >= chain.size() || tensor_info(f.get(), i).num_levels == 1;
                        if (s == QS_OK) CHECK(same(l, whole ? LevelBytes{p.model[i].bytes, {}, {}} : p.want[i][k]));
                        else CHECK(s == QS_ERR_TRUNCATED);
                        truncated_seen = truncated_seen || s == QS_ERR_TRUNCATED;
                    }
                    CHECK(truncated_seen);
                }
            }
        }
    }
}

TEST_CASE("Chains: byte flips in level data give QS_ERR_CORRUPT, never wrong data", "[chains][corruption]") {
    for (const auto& chain : chains()) {
      for (bool raw : {false, true}) {
        DYNAMIC_SECTION(chain_name(chain) << (raw ? " raw" : " coded")) {
            TempDir dir;
            const Packed p = pack_chain(dir, chain, chain_model(900 + chain.size() + raw), raw);
            const std::vector<uint8_t> bytes = read_file(p.path);
            std::vector<qstore::SectionEntry> sections;
            {
                qstore::ReaderOptions ro;
                ro.threads = 1;
                qstore::Reader r(p.path, ro);
                for (const auto& s : r.sections())
                    if (static_cast<qstore::SectionKind>(s.kind) == qstore::SectionKind::level_data) sections.push_back(s);
            }
            REQUIRE(sections.size() == chain.size() + 1);
            Gen gen(4242 + chain.size());
            for (const auto& sec : sections) {
                if (sec.stored_size == 0) continue;
                for (int trial = 0; trial < 4; ++trial) {
                    const uint64_t at = sec.offset + gen.uniform(0, sec.stored_size - 1);
                    INFO("level " << sec.level << " section [" << sec.offset << ", " << sec.offset + sec.stored_size
                                  << "), flipped byte " << at);
                    std::vector<uint8_t> bad = bytes;
                    bad[at] ^= static_cast<uint8_t>(1u << gen.uniform(0, 7));
                    const std::string path = dir.file("flip.qs");
                    write_file(path, bad);
                    qs_status st;
                    auto f = open_qs(path, &st);
                    if (!f) {
                        CHECK(st == QS_ERR_CORRUPT);
                        continue;
                    }
                    int corrupt = 0;
                    for (size_t i = 0; i < p.model.size(); ++i) {
                        const uint32_t levels = tensor_info(f.get(), i).num_levels;
                        for (uint32_t lv = 0; lv < levels; ++lv) {
                            LevelBytes l;
                            const qs_status s = load_level_bytes(f.get(), i, lv, l);
                            if (s == QS_OK) {
                                const LevelBytes& w = levels == 1 ? LevelBytes{p.model[i].bytes, {}, {}} : p.want[i][lv];
                                INFO(p.model[i].name << " level " << lv << " loaded without error");
                                CHECK(same(l, w));
                            } else {
                                CHECK(s == QS_ERR_CORRUPT);
                                ++corrupt;
                            }
                        }
                    }
                    CHECK(corrupt > 0);
                    CHECK(qs_verify(f.get()) == QS_ERR_CORRUPT);
                }
            }
        }
      }
    }
}

TEST_CASE("Chains: a flip of any byte of a small chain file never yields wrong data", "[chains][corruption]") {
    const std::vector<SchemeSpec> chain = {{SchemeId::int4_asym_group, 32}, {SchemeId::q8_0, 0}, {SchemeId::int8_group, 64}};
    for (bool raw : {false, true}) {
        DYNAMIC_SECTION((raw ? "raw" : "coded")) {
            TempDir dir;
            Gen gen(31337 + raw);
            const std::vector<Tensor> model = {gen.float_tensor("a.weight", DType::bf16, {6, 64}),
                                               gen.float_tensor("b.weight", DType::f32, {3, 96}),
                                               gen.float_tensor("n.weight", DType::f16, {8})};
            const Packed p = pack_chain(dir, chain, model, raw);
            const std::vector<uint8_t> bytes = read_file(p.path);
            int opened = 0, loads_ok = 0;
            for (size_t at = 0; at < bytes.size(); ++at) {
                std::vector<uint8_t> bad = bytes;
                bad[at] ^= static_cast<uint8_t>(1u << (at % 8));
                const std::string path = dir.file("flip.qs");
                write_file(path, bad);
                qs_status st;
                auto f = open_qs(path, &st);
                if (!f) {
                    INFO("byte " << at << ": open failed with " << qs_status_string(st));
                    CHECK(st != QS_OK);
                    continue;
                }
                ++opened;
                if (qs_tensor_count(f.get()) != model.size()) continue;  // cannot happen silently: index checksum
                for (size_t i = 0; i < model.size(); ++i) {
                    const qs_tensor_info info = tensor_info(f.get(), i);
                    const uint32_t levels = info.num_levels;
                    for (uint32_t lv = 0; lv < levels && lv <= chain.size(); ++lv) {
                        LevelBytes l;
                        const qs_status s = load_level_bytes(f.get(), i, lv, l);
                        if (s != QS_OK) continue;
                        ++loads_ok;
                        const LevelBytes& w = levels == 1 ? LevelBytes{model[i].bytes, {}, {}} : p.want[i][lv];
                        INFO("byte " << at << " of " << bytes.size() << ": " << model[i].name << " level " << lv
                                     << " loaded without error");
                        CHECK(same(l, w));
                    }
                }
            }
            CHECK(opened > 0);
            CHECK(loads_ok > 0);
        }
    }
}

TEST_CASE("Chains: struct_size limits what qs_tensor_info_get and qs_level_info_get write", "[chains][abi]") {
    TempDir dir;
    const std::vector<SchemeSpec> chain = {{SchemeId::int4_asym_group, 32}, {SchemeId::int8_row, 0}};
    const Packed p = pack_chain(dir, chain, chain_model(55), false);
    auto f = open_qs(p.path);
    REQUIRE(f);
    // A 1.0 caller: qs_tensor_info without the 1.1 fields.
    qs_tensor_info info;
    std::memset(&info, 0xAB, sizeof info);
    info.struct_size = offsetof(qs_tensor_info, num_levels);
    REQUIRE(qs_tensor_info_get(f.get(), 0, &info) == QS_OK);
    CHECK(info.low_scheme == QS_LOW_INT4_ASYM_GROUP);
    const auto* tail = reinterpret_cast<const uint8_t*>(&info) + offsetof(qs_tensor_info, num_levels);
    for (size_t k = 0; k < sizeof info - offsetof(qs_tensor_info, num_levels); ++k) CHECK(tail[k] == 0xAB);
    // The full struct: 1.1 fields filled.
    const qs_tensor_info full = tensor_info(f.get(), 0);
    CHECK(full.num_levels == 3);
    CHECK(full.low_group_size == 32);
    CHECK(full.low_scale_dtype == QS_DTYPE_F16);
    CHECK(full.low_zero_point_bytes == 64 * (128 / 32));
    // qs_level_info (new in 1.1) must be given its full size (qstore.h: "set to
    // sizeof(qs_level_info)"); a smaller one is refused and nothing is written.
    qs_level_info li;
    std::memset(&li, 0xAB, sizeof li);
    li.struct_size = offsetof(qs_level_info, scale_dtype);
    CHECK(qs_level_info_get(f.get(), 0, 1, &li) == QS_ERR_INVALID_ARGUMENT);
    const auto* lb = reinterpret_cast<const uint8_t*>(&li) + sizeof(size_t);
    for (size_t k = 0; k < sizeof li - sizeof(size_t); ++k) CHECK(lb[k] == 0xAB);
    li.struct_size = sizeof li;
    REQUIRE(qs_level_info_get(f.get(), 0, 1, &li) == QS_OK);
    CHECK(li.scheme == QS_LOW_INT8_ROW);
    CHECK(li.code_dtype == QS_DTYPE_I8);
    CHECK(li.scale_dtype == QS_DTYPE_F32);
    CHECK(li.code_bytes == 64 * 128);
    CHECK(li.scale_bytes == 64 * 4);
    CHECK(li.zero_point_bytes == 0);
    // A caller built against a later 1.x header (a larger struct): the fields this
    // library knows are filled, the bytes after them are left as they were.
    struct {
        qs_level_info known;
        uint8_t later[24];
    } newer;
    std::memset(&newer, 0xCD, sizeof newer);
    newer.known.struct_size = sizeof newer;
    REQUIRE(qs_level_info_get(f.get(), 0, 1, &newer.known) == QS_OK);
    CHECK(newer.known.struct_size == sizeof newer);
    CHECK(newer.known.code_bytes == 64 * 128);
    CHECK(newer.known.stored_bytes == li.stored_bytes);
    for (uint8_t b : newer.later) CHECK(b == 0xCD);
    // Bad arguments.
    CHECK(qs_level_info_get(nullptr, 0, 0, &li) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_level_info_get(f.get(), 0, 0, nullptr) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_level_info_get(f.get(), p.model.size(), 0, &li) == QS_ERR_INVALID_ARGUMENT);
    uint8_t buf[8];
    CHECK(qs_load_level(f.get(), p.model.size(), 0, buf, sizeof buf, nullptr, 0, nullptr, 0) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_load_level(nullptr, 0, 0, buf, sizeof buf, nullptr, 0, nullptr, 0) == QS_ERR_INVALID_ARGUMENT);
}
