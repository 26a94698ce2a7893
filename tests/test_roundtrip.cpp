// Round trip, bit for bit: safetensors -> qstore::pack -> C API loads.
//   - qs_load_high returns the input bytes exactly (all float dtypes, every awkward value);
//   - qs_load_low returns the codes and scales of an independent reference quantizer;
//   - tensors that are not quantized (1-D, integer, excluded, empty, scalar) come back
//     identical from both loads with QS_LOW_PASSTHROUGH;
//   - raw (--low-raw) and coded low codes, tiny and default coding blocks;
//   - safetensors __metadata__ survives `qstore unpack`; packing is deterministic, also
//     when the caller runs in another floating-point mode (rounding, FTZ/DAZ).
#include <catch2/catch.hpp>

#include <cfenv>
#include <set>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "qs_util.hpp"
#include "read/reader.hpp"

using namespace qs_test;
using qstore::DType;

namespace {

bool is_float(DType t) { return t == DType::f32 || t == DType::f16 || t == DType::bf16; }

bool expect_quantized(const Tensor& t, const std::set<std::string>& excluded) {
    return is_float(t.dtype) && t.shape.size() >= 2 && t.elements() > 0 && !excluded.count(t.name);
}

std::vector<uint8_t> low_codes_bytes(const LowRef& r) { return as_bytes(r.codes); }

// Checks every tensor of a packed file against the model it was packed from.
// `given` (optional): the low codes/scales the file must hold instead of the reference quantizer's.
void check_packed_file(const std::string& qs_path, const std::vector<Tensor>& model,
                       const std::set<std::string>& excluded, bool low_raw,
                       const std::map<std::string, LowRef>* given = nullptr) {
    qs_status st;
    FilePtr f = open_qs(qs_path, &st, 2);
    INFO(qs_path << ": " << qs_last_error_message());
    REQUIRE(st == QS_OK);
    REQUIRE(f);
    REQUIRE(qs_tensor_count(f.get()) == model.size());

    std::set<size_t> seen;
    size_t last_nonempty = SIZE_MAX;
    for (size_t k = 0; k < model.size(); ++k) {
        const Tensor& t = model[k];
        INFO("tensor " << k << ": " << tensor_context(t));
        const bool quantized = expect_quantized(t, excluded);

        // File order is the order of the tensors' data in the safetensors file; tensors
        // with the same offset (empty ones) may come in any order, so look up by name.
        size_t i = SIZE_MAX;
        REQUIRE(qs_find_tensor(f.get(), t.name.c_str(), &i) == QS_OK);
        REQUIRE(i < model.size());
        CHECK(seen.insert(i).second);
        if (!t.bytes.empty()) {
            CHECK((last_nonempty == SIZE_MAX || i > last_nonempty));
            last_nonempty = i;
        }

        qs_tensor_info info = tensor_info(f.get(), i, &st);
        REQUIRE(st == QS_OK);
        CHECK(std::string(info.name) == t.name);
        REQUIRE(info.ndim == t.shape.size());
        for (size_t d = 0; d < t.shape.size(); ++d) CHECK(info.shape[d] == t.shape[d]);
        CHECK(info.num_elements == t.elements());
        CHECK(info.high_dtype == static_cast<qs_dtype>(t.dtype));
        CHECK(info.high_bytes == t.bytes.size());

        std::vector<uint8_t> high;
        st = load_high(f.get(), i, high);
        INFO(qs_last_error_message());
        REQUIRE(st == QS_OK);
        CHECK(first_mismatch(high, t.bytes) == -1);

        LowData low;
        st = load_low(f.get(), i, low);
        INFO(qs_last_error_message());
        REQUIRE(st == QS_OK);

        if (!quantized) {
            CHECK(info.low_scheme == QS_LOW_PASSTHROUGH);
            CHECK(info.low_dtype == info.high_dtype);
            CHECK(info.low_code_bytes == t.bytes.size());
            CHECK(info.low_scale_bytes == 0);
            CHECK(info.stored_residual_bytes == 0);
            CHECK(first_mismatch(low.codes, t.bytes) == -1);
            // scales may be NULL with size 0 for passthrough tensors
            std::vector<uint8_t> codes(t.bytes.size() + 1, 0xAB);
            REQUIRE(qs_load_low(f.get(), i, codes.data(), codes.size(), nullptr, 0) == QS_OK);
            CHECK(first_mismatch(codes.data(), t.bytes.size(), t.bytes.data(), t.bytes.size()) == -1);
            CHECK(codes.back() == 0xAB);  // nothing written past the tensor
            continue;
        }

        CHECK(info.low_scheme == QS_LOW_INT8_ROW);
        CHECK(info.low_dtype == QS_DTYPE_I8);
        CHECK(info.low_code_bytes == t.elements());
        CHECK(info.low_scale_bytes == 4 * t.rows());
        CHECK(info.low_codes_are_raw == (low_raw ? 1 : 0));
        CHECK(info.stored_residual_bytes > 0);

        LowRef expected;
        if (given && given->count(t.name)) expected = given->at(t.name);
        else expected = ref_quantize(t);
        const long long code_mismatch = first_mismatch(low.codes, low_codes_bytes(expected));
        if (code_mismatch >= 0 && static_cast<size_t>(code_mismatch) < low.codes.size()) {
            const size_t e = static_cast<size_t>(code_mismatch);
            const size_t row = e / t.cols();
            UNSCOPED_INFO("first code mismatch at element " << e << " (row " << row << "): got "
                                                            << int(int8_t(low.codes[e])) << ", expected "
                                                            << int(expected.codes[e]) << ", value "
                                                            << element_as_f32(t.bytes.data(), t.dtype, e)
                                                            << ", row scale " << expected.scales[row]);
        }
        CHECK(code_mismatch == -1);
        CHECK(first_mismatch(low.scales, as_bytes(expected.scales)) == -1);
    }
    st = qs_verify(f.get());
    INFO(qs_last_error_message());
    CHECK(st == QS_OK);
}

std::vector<uint64_t> random_shape(Gen& g) {
    const int ndim = static_cast<int>(g.uniform(2, 4));
    std::vector<uint64_t> s;
    for (int d = 0; d < ndim; ++d) {
        uint64_t v = g.chance(0.15) ? 1 : g.uniform(1, ndim == 2 ? 97 : 11);
        s.push_back(v);
    }
    return s;
}

}  // namespace

TEST_CASE("round trip of float tensors: every shape, dtype, awkward value and block size", "[roundtrip]") {
    const DType dtype = GENERATE(DType::f32, DType::f16, DType::bf16);
    const bool low_raw = GENERATE(false, true);
    const uint64_t block_elements = GENERATE(uint64_t(64), uint64_t(1) << 18);
    CAPTURE(qstore::dtype_name(dtype), low_raw, block_elements);

    Gen g(1000 + static_cast<uint64_t>(dtype) * 10 + (low_raw ? 1 : 0));
    std::vector<Tensor> model;
    const std::vector<std::vector<uint64_t>> fixed_shapes = {
        {1, 1},  {1, 37}, {37, 1}, {7, 13}, {64, 65}, {130, 70}, {200, 3}, {3, 5, 7},
        {2, 1, 9}, {1, 4, 1}, {4, 3, 2, 5}, {1, 1, 1, 1}, {5, 1, 1, 3}, {33, 2, 1, 1}};
    int n = 0;
    for (const auto& s : fixed_shapes) model.push_back(g.float_tensor("fixed." + std::to_string(n++) + ".weight", dtype, s));
    for (int k = 0; k < 8; ++k) model.push_back(g.float_tensor("random." + std::to_string(k) + ".weight", dtype, random_shape(g)));
    // One row of every kind, in one tensor.
    {
        Tensor t;
        t.name = "every_row_kind";
        t.dtype = dtype;
        const uint64_t cols = 41;
        t.shape = {static_cast<uint64_t>(RowKind::kCount), cols};
        for (int k = 0; k < static_cast<int>(RowKind::kCount); ++k) g.fill_row(t.bytes, dtype, cols, static_cast<RowKind>(k));
        model.push_back(t);
    }
    // Every special value in every column position of a small tensor.
    {
        Tensor t;
        t.name = "specials.weight";
        t.dtype = dtype;
        const auto& sp = special_bits(dtype);
        t.shape = {sp.size(), sp.size()};
        for (size_t r = 0; r < sp.size(); ++r)
            for (size_t c = 0; c < sp.size(); ++c) Gen::put_bits(t.bytes, dtype, sp[(r + c) % sp.size()]);
        model.push_back(t);
    }
    if (block_elements != 64) model.push_back(g.float_tensor("big.weight", dtype, {600, 500}, false));  // 2 default blocks

    qstore::PackOptions o;
    o.low_raw = low_raw;
    o.block_elements = block_elements;
    o.threads = 2;
    TempDir dir;
    qstore::PackStats stats = pack_model(dir, model, "model.qs", o);
    CHECK(stats.tensors == model.size());
    CHECK(stats.quantized_tensors == model.size());
    check_packed_file(dir.file("model.qs"), model, {}, low_raw);

    // The coding blocks really are what the options asked for (many blocks per tensor).
    qstore::ReaderOptions ro;
    ro.threads = 1;
    qstore::Reader r(dir.file("model.qs"), ro);
    for (size_t i = 0; i < model.size(); ++i) {
        const auto& rec = r.tensor(i);
        INFO(rec.name);
        const uint64_t cols = model[i].cols();
        CHECK(rec.rows_per_block == std::max<uint64_t>(1, block_elements / cols));
    }
    const size_t big = r.find(block_elements == 64 ? "fixed.5.weight" : "big.weight");
    REQUIRE(big != SIZE_MAX);
    CHECK((r.tensor(big).geometry().rows + r.tensor(big).rows_per_block - 1) / r.tensor(big).rows_per_block > 1);
}

TEST_CASE("round trip of random models with mixed dtypes", "[roundtrip]") {
    const bool low_raw = GENERATE(false, true);
    for (uint64_t seed = 1; seed <= 12; ++seed) {
        CAPTURE(seed, low_raw);
        Gen g(seed * 7919);
        std::vector<Tensor> model;
        const int count = static_cast<int>(g.uniform(1, 9));
        for (int k = 0; k < count; ++k) {
            const DType dt = std::vector<DType>{DType::f32, DType::f16, DType::bf16}[g.uniform(0, 2)];
            model.push_back(g.float_tensor("t" + std::to_string(k), dt, random_shape(g)));
        }
        qstore::PackOptions o;
        o.low_raw = low_raw;
        o.block_elements = g.uniform(1, 300);
        o.threads = static_cast<unsigned>(g.uniform(1, 3));
        o.zstd_level = static_cast<int>(g.uniform(1, 5));
        CAPTURE(o.block_elements, o.threads, o.zstd_level);
        TempDir dir;
        pack_model(dir, model, "m.qs", o);
        check_packed_file(dir.file("m.qs"), model, {}, low_raw);
    }
}

TEST_CASE("tensors that are not quantized come back identical from both loads", "[roundtrip][passthrough]") {
    const bool low_raw = GENERATE(false, true);
    CAPTURE(low_raw);
    Gen g(77);
    std::vector<Tensor> model;
    // 1-D float tensors (norms, biases)
    model.push_back(g.float_tensor("norm.weight", DType::f32, {33}));
    model.push_back(g.float_tensor("bias16", DType::f16, {7}));
    model.push_back(g.float_tensor("biasbf", DType::bf16, {1}));
    // every non-float dtype
    const std::vector<DType> others = {DType::i8,  DType::u8,  DType::i16,     DType::u16,     DType::i32,
                                       DType::u32, DType::i64, DType::u64,     DType::boolean, DType::f64,
                                       DType::f8_e4m3, DType::f8_e5m2};
    for (DType t : others) model.push_back(g.random_tensor(std::string("int.") + qstore::dtype_name(t), t, {3, 5}));
    model.push_back(g.random_tensor("int.i64.3d", DType::i64, {2, 3, 4}));
    // excluded by glob
    model.push_back(g.float_tensor("model.embed_tokens.weight", DType::f32, {10, 8}));
    model.push_back(g.float_tensor("lm_head.weight", DType::bf16, {6, 9}));
    model.push_back(g.float_tensor("lm_head.weight.extra", DType::f16, {6, 9}));  // not matched: quantized
    // scalar and empty tensors
    model.push_back(g.float_tensor("scalar", DType::f32, {}));
    model.push_back(g.float_tensor("empty.rows", DType::f32, {0, 5}));
    model.push_back(g.float_tensor("empty.cols", DType::bf16, {4, 0}));
    // and one ordinary quantized tensor among them
    model.push_back(g.float_tensor("proj.weight", DType::f16, {12, 10}));

    qstore::PackOptions o;
    o.low_raw = low_raw;
    o.block_elements = 64;
    o.threads = 1;
    o.exclude = {"*embed_tokens*", "lm_head.weight"};
    TempDir dir;
    qstore::PackStats stats = pack_model(dir, model, "p.qs", o);
    const std::set<std::string> excluded = {"model.embed_tokens.weight", "lm_head.weight"};
    size_t quantized = 0;
    for (const auto& t : model) quantized += expect_quantized(t, excluded);
    CHECK(stats.quantized_tensors == quantized);
    CHECK(quantized == 2);
    check_packed_file(dir.file("p.qs"), model, excluded, low_raw);
}

TEST_CASE("packing is deterministic: thread count does not change a byte", "[roundtrip]") {
    // Runs of one-block tensors (encoded side by side, one per thread) broken by
    // multi-block ones (encoded alone, blocks in parallel), and a one-row tensor larger
    // than a block (still one block: blocks are whole rows).
    std::vector<Tensor> model = small_model(5);
    Gen g(6);
    model.push_back(g.float_tensor("large.weight", DType::bf16, {300, 40}));
    for (int k = 0; k < 24; ++k)
        model.push_back(g.float_tensor("small." + std::to_string(k), k % 3 ? DType::bf16 : DType::f16,
                                       {static_cast<uint64_t>(1 + k % 5), static_cast<uint64_t>(3 + 7 * k)}));
    model.push_back(g.float_tensor("one_row.weight", DType::f32, {1, 700}));
    model.push_back(g.float_tensor("tail.weight", DType::bf16, {40, 30}));
    TempDir dir;
    write_safetensors(dir.file("in.safetensors"), model);
    qstore::SafetensorsReader high(dir.file("in.safetensors"));
    for (bool raw : {false, true}) {
        CAPTURE(raw);
        qstore::PackOptions o;
        o.low_raw = raw;
        o.block_elements = 100;
        std::vector<std::string> order;  // tensors as the progress callback reports them
        o.progress = [&](size_t done, size_t total, const std::string& name) {
            CHECK(done == order.size() + 1);
            CHECK(total == model.size());
            order.push_back(name);
        };
        o.threads = 1;
        qstore::pack(high, nullptr, o, dir.file("a.qs"));
        const std::vector<std::string> order1 = order;
        order.clear();
        o.threads = 3;
        qstore::pack(high, nullptr, o, dir.file("b.qs"));
        CHECK(order == order1);
        CHECK(order.size() == model.size());
        const auto a = read_file(dir.file("a.qs"));
        const auto b = read_file(dir.file("b.qs"));
        CHECK(a.size() > 64);
        CHECK(first_mismatch(a, b) == -1);
        check_packed_file(dir.file("b.qs"), model, {}, raw);
    }
}

TEST_CASE("every kernel set packs the same bytes and every reader's kernel set and lookup load the same values",
          "[roundtrip][kernels]") {
    // The kernel set is chosen per pack (PackOptions) and per reader (ReaderOptions):
    // packs with each set give one file, and readers with each set and table lookup
    // (gathers or scalar loads), side by side in one process, give the same levels.
    // Blocks large enough for the word-rANS layouts.
    Gen g(61);
    const std::vector<Tensor> model = {g.float_tensor("a.weight", DType::bf16, {256, 320}),
                                       g.float_tensor("b.weight", DType::f16, {96, 256}),
                                       g.float_tensor("c.weight", DType::f32, {70, 160}),
                                       g.float_tensor("odd.weight", DType::f32, {37, 29}),
                                       g.float_tensor("norm.weight", DType::f32, {64})};
    using qstore::SchemeId;
    const std::vector<std::vector<qstore::SchemeSpec>> lows = {
        {{SchemeId::int8_row, 0}},
        {{SchemeId::q4_0, 0}, {SchemeId::q8_0, 0}},
        {{SchemeId::uint8_asym_tensor, 0}, {SchemeId::fp8_e4m3_block, 0}},
        {{SchemeId::int4_asym_group, 32}}};
    TempDir dir;
    write_safetensors(dir.file("in.safetensors"), model);
    qstore::SafetensorsReader high(dir.file("in.safetensors"));
    for (const auto& low : lows) {
        qstore::PackOptions o;
        o.low = low;
        o.threads = 2;
        std::vector<std::string> paths;
        for (qstore::KernelSet isa : kernel_sets()) {
            o.kernel_set = isa;
            paths.push_back(dir.file(std::string("k") + qstore::kernel_set_name(isa) + ".qs"));
            qstore::pack(high, nullptr, o, paths.back());
            CAPTURE(low.size(), qstore::kernel_set_name(isa));
            CHECK(first_mismatch(read_file(paths.back()), read_file(paths[0])) == -1);
        }
        std::vector<std::unique_ptr<qstore::Reader>> readers;
        for (const qs_test::Decoding& how : qs_test::decodings()) {
            qstore::ReaderOptions ro;
            ro.kernel_set = how.isa;
            ro.table_lookup = how.lookup;
            readers.push_back(std::make_unique<qstore::Reader>(paths[0], ro));
        }
        const qstore::Reader& first = *readers[0];
        for (size_t i = 0; i < first.tensor_count(); ++i) {
            const qstore::TensorRecord& t = first.tensor(i);
            std::vector<std::vector<uint8_t>> highs;
            for (const auto& r : readers) {
                highs.emplace_back(r->high_bytes(t));
                r->load_high(i, highs.back().data(), highs.back().size());
            }
            CAPTURE(low.size(), t.name);
            const auto in = std::find_if(model.begin(), model.end(), [&](const Tensor& m) { return m.name == t.name; });
            REQUIRE(in != model.end());
            for (const auto& h : highs) CHECK(first_mismatch(h, in->bytes) == -1);
            if (!t.quantized()) continue;
            for (size_t level = 0; level < t.top_level(); ++level) {
                std::vector<std::vector<uint8_t>> levels;
                for (const auto& r : readers) {
                    const uint64_t nc = r->level_code_bytes(t, level), ns = r->level_scale_bytes(t, level),
                                   nz = r->level_zero_point_bytes(t, level);
                    levels.emplace_back(nc + ns + nz);
                    uint8_t* b = levels.back().data();
                    r->load_level(i, level, b, nc, b + nc, ns, b + nc + ns, nz);
                }
                for (const auto& l : levels) CHECK(l == levels[0]);
            }
        }
    }
}

TEST_CASE("the caller's floating-point mode changes neither the file nor the loads", "[roundtrip]") {
    // A host may run with another rounding direction or with flush-to-zero and
    // denormals-are-zero (code built with -ffast-math): predictions must still be the
    // encoder's. New threads inherit the creating thread's mode, so the pack's and the
    // handle's workers run in it too.
    std::vector<Tensor> model = small_model(9);
    Gen g(31);
    model.push_back(g.float_tensor("multi.block", DType::bf16, {64, 96}));
    model.push_back(g.float_tensor("f16.block", DType::f16, {40, 50}));
    TempDir dir;
    write_safetensors(dir.file("in.safetensors"), model);
    qstore::SafetensorsReader high(dir.file("in.safetensors"));
    qstore::PackOptions o;
    o.block_elements = 1000;
    o.threads = 2;
    qstore::pack(high, nullptr, o, dir.file("plain.qs"));
    const int round = std::fegetround();
#if defined(__x86_64__)
    const unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | (1u << 15) | (1u << 6));  // flush-to-zero, denormals-are-zero
#endif
    std::fesetround(FE_DOWNWARD);  // SSE rounding too
    REQUIRE(std::fegetround() == FE_DOWNWARD);
#if defined(__x86_64__)
    const unsigned odd_csr = _mm_getcsr();
#endif
    qstore::pack(high, nullptr, o, dir.file("odd.qs"));
    // Every tensor of the file in both precisions, loaded in the mode in force.
    auto load_all = [&] {
        std::vector<std::vector<uint8_t>> out;
        qs_open_options oo = qs_open_options_default();
        oo.num_threads = 2;
        qs_file* f = nullptr;
        REQUIRE(qs_open_ex(dir.file("plain.qs").c_str(), &oo, &f) == QS_OK);
        for (size_t i = 0; i < qs_tensor_count(f); ++i) {
            LowData low;
            std::vector<uint8_t> h;
            REQUIRE(load_low(f, i, low) == QS_OK);
            REQUIRE(load_high(f, i, h) == QS_OK);
            out.push_back(low.codes);
            out.push_back(low.scales);
            out.push_back(h);
        }
        qs_close(f);
        return out;
    };
    const auto loaded_odd = load_all();
    const bool still_downward = std::fegetround() == FE_DOWNWARD;
#if defined(__x86_64__)
    constexpr unsigned kFlags = 0x3F;  // sticky exception flags: any operation may set them
    const bool csr_kept = (_mm_getcsr() & ~kFlags) == (odd_csr & ~kFlags);
    _mm_setcsr(csr);
#else
    const bool csr_kept = true;
#endif
    std::fesetround(round);
    CHECK(still_downward);  // the caller's mode is given back
    CHECK(csr_kept);
    check_packed_file(dir.file("plain.qs"), model, {}, false);
    const auto loaded = load_all();
    REQUIRE(loaded.size() == loaded_odd.size());
    for (size_t k = 0; k < loaded.size(); ++k) {
        CAPTURE(k);
        CHECK(first_mismatch(loaded[k], loaded_odd[k]) == -1);
    }
    const auto a = read_file(dir.file("plain.qs"));
    const auto b = read_file(dir.file("odd.qs"));
    CHECK(first_mismatch(a, b) == -1);
}

TEST_CASE("the low precision is a prefix of the file and --low-raw parts are 64-byte aligned", "[roundtrip]") {
    const bool low_raw = GENERATE(false, true);
    std::vector<Tensor> model = small_model(9);
    qstore::PackOptions o;
    o.low_raw = low_raw;
    o.block_elements = 64;
    TempDir dir;
    qstore::PackStats stats = pack_model(dir, model, "x.qs", o);
    qstore::ReaderOptions ro;
    ro.threads = 1;
    qstore::Reader r(dir.file("x.qs"), ro);
    CHECK(r.header().low_prefix_end == stats.low_prefix_end);
    CHECK(r.header().file_size == stats.file_size);
    CHECK(r.actual_size() == stats.file_size);
    CHECK(r.header().low_prefix_end % 64 == 0);
    for (const auto& s : r.sections()) {
        INFO("section kind " << s.kind << " level " << s.level);
        CHECK(s.offset % 64 == 0);
        if (s.kind == static_cast<uint32_t>(qstore::SectionKind::level_data) && s.level == 1)
            CHECK(s.offset >= r.header().low_prefix_end);
        else
            CHECK(s.offset + s.stored_size <= r.header().low_prefix_end);
    }
    if (low_raw) {
        FilePtr f = open_qs(dir.file("x.qs"));
        REQUIRE(f);
        for (size_t i = 0; i < qs_tensor_count(f.get()); ++i) {
            const void* codes = nullptr;
            const void* scales = nullptr;
            INFO(model[i].name);
            REQUIRE(qs_view_low(f.get(), i, &codes, &scales) == QS_OK);
            CHECK(reinterpret_cast<uintptr_t>(codes) % 64 == 0);
            if (scales) CHECK(reinterpret_cast<uintptr_t>(scales) % 64 == 0);
        }
    }
}

TEST_CASE("safetensors __metadata__ and every tensor survive `qstore unpack`", "[roundtrip][cli]") {
    const std::string cli = cli_path();
    if (cli.empty() || !fs::exists(cli)) {
        WARN("qstore CLI not built; skipping");
        return;
    }
    const bool low_raw = GENERATE(false, true);
    CAPTURE(low_raw);
    std::vector<Tensor> model = small_model(21);
    const std::map<std::string, std::string> metadata = {
        {"format", "pt"}, {"note", "quotes \" and \\ backslashes, unicode \xC3\xBC\xE2\x9C\x93"}, {"empty", ""}};
    qstore::PackOptions o;
    o.low_raw = low_raw;
    o.block_elements = 64;
    TempDir dir;
    pack_model(dir, model, "m.qs", o, nullptr, metadata);
    const std::string q = shell_quote(dir.file("m.qs"));

    // high
    REQUIRE(run_command(shell_quote(cli) + " unpack --precision high " + q + " -o " + shell_quote(dir.file("high.safetensors")) +
                        " > /dev/null 2>&1") == 0);
    qstore::SafetensorsReader high(dir.file("high.safetensors"));
    CHECK(high.metadata() == metadata);
    REQUIRE(high.tensors().size() == model.size());
    for (const auto& t : model) {
        INFO(t.name);
        const auto* u = high.find(t.name);
        REQUIRE(u);
        CHECK(u->dtype == t.dtype);
        CHECK(u->shape == t.shape);
        CHECK(first_mismatch(u->data, u->size, t.bytes.data(), t.bytes.size()) == -1);
    }

    // low: bitsandbytes layout (X.weight int8 + X.SCB float32), passthrough tensors as they are
    REQUIRE(run_command(shell_quote(cli) + " unpack --precision low " + q + " -o " + shell_quote(dir.file("low.safetensors")) +
                        " > /dev/null 2>&1") == 0);
    qstore::SafetensorsReader low(dir.file("low.safetensors"));
    CHECK(low.metadata() == metadata);
    size_t expected_count = 0;
    for (const auto& t : model) {
        INFO(t.name);
        const auto* u = low.find(t.name);
        REQUIRE(u);
        CHECK(u->shape == t.shape);
        if (expect_quantized(t, {})) {
            expected_count += 2;
            LowRef ref = ref_quantize(t);
            CHECK(u->dtype == DType::i8);
            CHECK(first_mismatch(u->data, u->size, ref.codes.data(), ref.codes.size()) == -1);
            const std::string scb = t.name.substr(0, t.name.size() - std::string(".weight").size()) + ".SCB";
            const auto* s = low.find(t.name.size() > 7 && t.name.compare(t.name.size() - 7, 7, ".weight") == 0 ? scb
                                                                                                               : t.name + ".SCB");
            REQUIRE(s);
            CHECK(s->dtype == DType::f32);
            CHECK(s->shape == std::vector<uint64_t>{t.rows()});
            CHECK(first_mismatch(s->data, s->size, ref.scales.data(), ref.scales.size() * 4) == -1);
        } else {
            expected_count += 1;
            CHECK(u->dtype == t.dtype);
            CHECK(first_mismatch(u->data, u->size, t.bytes.data(), t.bytes.size()) == -1);
        }
    }
    CHECK(low.tensors().size() == expected_count);

    // The CLI's pack writes exactly what the core packer writes.
    REQUIRE(run_command(shell_quote(cli) + " pack " + shell_quote(dir.file("m.qs.high.safetensors")) + " -o " +
                        shell_quote(dir.file("cli.qs")) + (low_raw ? " --low-raw" : "") + " > /dev/null 2>&1") == 0);
    qstore::PackOptions d;
    d.low_raw = low_raw;
    qstore::SafetensorsReader in(dir.file("m.qs.high.safetensors"));
    qstore::pack(in, nullptr, d, dir.file("core.qs"));
    CHECK(first_mismatch(read_file(dir.file("cli.qs")), read_file(dir.file("core.qs"))) == -1);
}

TEST_CASE("a sharded Hugging Face folder packs and round-trips", "[roundtrip][sharded]") {
    Gen g(55);
    std::vector<Tensor> shard1 = {g.float_tensor("a.weight", DType::bf16, {30, 20}), g.float_tensor("a.bias", DType::bf16, {20})};
    std::vector<Tensor> shard2 = {g.float_tensor("b.weight", DType::f16, {7, 3, 5}), g.random_tensor("b.ids", DType::i32, {4})};
    TempDir dir;
    write_safetensors(dir.file("model-00001-of-00002.safetensors"), shard1, {{"format", "pt"}});
    write_safetensors(dir.file("model-00002-of-00002.safetensors"), shard2, {{"format", "pt"}});
    std::string index = R"({"metadata": {"total_size": 1234}, "weight_map": {)";
    bool first = true;
    for (const auto* shard : {&shard1, &shard2})
        for (const auto& t : *shard) {
            index += std::string(first ? "" : ", ") + "\"" + t.name + "\": \"model-0000" + (shard == &shard1 ? "1" : "2") +
                     "-of-00002.safetensors\"";
            first = false;
        }
    index += "}}";
    write_file(dir.file("model.safetensors.index.json"), reinterpret_cast<const uint8_t*>(index.data()), index.size());

    qstore::SafetensorsReader high(dir.path());  // the folder
    REQUIRE(high.tensors().size() == 4);
    qstore::PackOptions o;
    o.block_elements = 64;
    qstore::pack(high, nullptr, o, dir.file("sharded.qs"));
    std::vector<Tensor> all = shard1;
    all.insert(all.end(), shard2.begin(), shard2.end());
    check_packed_file(dir.file("sharded.qs"), all, {}, false);
}
