// The writer (qs_writer_*, pack/writer.hpp): a file written tensor by tensor through
// the C API is byte for byte what `qstore pack` writes from the same model (pairs,
// chains, --low-raw, --exclude, given low codes, 1 and 4 threads); an aborted or
// failed writer leaves no file and no temporary; bad calls are refused with
// QS_ERR_INVALID_ARGUMENT and a message, and leave the writer usable; memory stays
// bounded by the queue whatever the model's size.
#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fixtures.hpp"
#include "pack/writer.hpp"
#include "qs_util.hpp"
#include "qstore/qstore.h"

using namespace qs_test;
namespace fs = std::filesystem;

namespace {

struct ErrorFree {
    void operator()(qs_error* e) const { qs_error_free(e); }
};
using ErrorPtr = std::unique_ptr<qs_error, ErrorFree>;
struct WriterFree {
    void operator()(qs_writer* w) const { qs_writer_free(w); }
};
using WriterPtr = std::unique_ptr<qs_writer, WriterFree>;

// Small tensors (runs encoded side by side), multi-block ones (blocks in parallel),
// passthrough ones, interleaved; columns multiple of 32 where Q4_0 should take them.
std::vector<Tensor> mixed_model(uint64_t seed) {
    Gen g(seed);
    std::vector<Tensor> m = small_model(seed);
    for (int i = 0; i < 12; ++i) {
        const std::string layer = "blocks." + std::to_string(i);
        m.push_back(g.float_tensor(layer + ".attn.weight", i % 2 ? DType::bf16 : DType::f32, {16, 64}));
        m.push_back(g.float_tensor(layer + ".bias", DType::f32, {64}));
        m.push_back(g.float_tensor(layer + ".mlp.weight", DType::f16, {8, 96}, false));
        if (i % 5 == 0) m.push_back(g.float_tensor(layer + ".big.weight", DType::bf16, {700, 512}, false));
    }
    m.push_back(g.random_tensor("tokens", DType::i64, {40, 3}));
    return m;
}

struct Given {  // one tensor's given low precision, as qs_load_level returns it
    bool present = false;
    qs_low_scheme scheme = QS_LOW_PASSTHROUGH;
    uint32_t group = 0;
    LevelBytes bytes;
};

// Writes `model` through the C API into `path`; QS_OK or the first failure's status.
qs_status write_with_writer(const std::string& path, const std::vector<Tensor>& model, const qs_writer_options& o,
                            const std::map<std::string, std::string>& metadata = {},
                            const std::vector<Given>* given = nullptr) {
    ErrorPtr err(qs_error_new());
    qs_writer* raw = nullptr;
    qs_status s = qs_writer_create_e(path.c_str(), &o, &raw, err.get());
    INFO(qs_error_message(err.get()));
    if (s != QS_OK) return s;
    WriterPtr w(raw);
    for (const auto& [k, v] : metadata)
        if ((s = qs_writer_set_metadata_e(w.get(), k.c_str(), v.c_str(), err.get())) != QS_OK) return s;
    for (size_t i = 0; i < model.size(); ++i) {
        const Tensor& t = model[i];
        qs_given_low low{};
        low.struct_size = sizeof low;
        const bool has_low = given && (*given)[i].present;
        if (has_low) {
            const Given& g = (*given)[i];
            low.scheme = g.scheme;
            low.group_size = g.group;
            low.codes = g.bytes.codes.data();
            low.codes_size = g.bytes.codes.size();
            low.scales = g.bytes.scales.data();
            low.scales_size = g.bytes.scales.size();
            low.zero_points = g.bytes.zero_points.empty() ? nullptr : g.bytes.zero_points.data();
            low.zero_points_size = g.bytes.zero_points.size();
        }
        s = qs_writer_add_tensor_e(w.get(), t.name.c_str(), static_cast<qs_dtype>(t.dtype),
                                   static_cast<uint32_t>(t.shape.size()), t.shape.data(), t.bytes.data(),
                                   t.bytes.size(), has_low ? &low : nullptr, err.get());
        if (s != QS_OK) return s;
    }
    s = qs_writer_finish_e(w.get(), err.get());
    CHECK(qs_error_status(err.get()) == s);
    return s;
}

std::string cli_pack(const std::string& st, const std::string& out, const std::string& args) {
    const std::string cmd = shell_quote(cli_path()) + " pack " + shell_quote(st) + " -o " + shell_quote(out) + " " +
                            args + " >/dev/null 2>&1";
    return run_command(cmd) == 0 ? out : "";
}

void check_same_file(const std::string& a, const std::string& b) {
    REQUIRE(fs::exists(a));
    REQUIRE(fs::exists(b));
    CHECK(first_mismatch(read_file(a), read_file(b)) == -1);
}

// Everything in `dir` but the names listed.
std::vector<std::string> other_files(const std::string& dir, const std::vector<std::string>& expected) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        const std::string name = e.path().filename().string();
        if (std::find(expected.begin(), expected.end(), name) == expected.end()) out.push_back(name);
    }
    return out;
}

}  // namespace

TEST_CASE("the writer writes what qstore pack writes, byte for byte", "[writer][cli]") {
    if (cli_path().empty() || !fs::exists(cli_path())) {
        WARN("qstore CLI not built; skipping");
        return;
    }
    TempDir dir;
    const std::vector<Tensor> model = mixed_model(7);
    const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "w\xc3\xa9ights \"q\""}};
    const std::string st = dir.file("model.safetensors");
    write_safetensors(st, model, metadata);
    struct Case {
        const char* name;
        const char* low_schemes;  // qs_writer_options.low_schemes
        int low_raw;
        std::vector<const char*> exclude;
        std::string cli_args;
    };
    const std::vector<Case> cases = {
        {"pair", nullptr, 0, {}, ""},
        {"chain", "int8-row,q4_0", 0, {}, "--low int8-row --low q4_0"},
        {"raw", "q4_0", 1, {}, "--low q4_0 --low-raw"},
        {"exclude", "int4-asym-group:32", 0, {"*.mlp.*", "conv*"}, "--low int4-asym-group:32 --exclude '*.mlp.*' --exclude 'conv*'"},
    };
    for (const Case& c : cases)
        for (uint32_t threads : {1u, 4u}) {
            DYNAMIC_SECTION(c.name << ", " << threads << " threads") {
                const std::string expected = cli_pack(st, dir.file("cli.qs"), c.cli_args + " -j " + std::to_string(threads));
                REQUIRE(!expected.empty());
                qs_writer_options o = qs_writer_options_default();
                o.low_schemes = c.low_schemes;
                o.low_raw = c.low_raw;
                o.exclude = c.exclude.data();
                o.exclude_count = c.exclude.size();
                o.num_threads = threads;
                REQUIRE(write_with_writer(dir.file("writer.qs"), model, o, metadata) == QS_OK);
                check_same_file(dir.file("writer.qs"), expected);
                auto f = open_qs(dir.file("writer.qs"));
                REQUIRE(f);
                CHECK(qs_verify(f.get()) == QS_OK);
            }
        }
}

TEST_CASE("the writer with given low codes writes what qstore pack --low FILE writes", "[writer][cli]") {
    if (cli_path().empty() || !fs::exists(cli_path())) {
        WARN("qstore CLI not built; skipping");
        return;
    }
    TempDir dir;
    const std::vector<Tensor> model = mixed_model(11);
    const std::string st = dir.file("model.safetensors");
    write_safetensors(st, model);
    for (const char* scheme : {"int8-row", "q4_0", "int4-asym-group:64"}) {
        DYNAMIC_SECTION(scheme) {
            // The low precision made once by qstore: as a file, and level 0 of each tensor.
            REQUIRE(!cli_pack(st, dir.file("made.qs"), std::string("--low ") + scheme).empty());
            REQUIRE(run_command(shell_quote(cli_path()) + " unpack " + shell_quote(dir.file("made.qs")) +
                                " --precision low -o " + shell_quote(dir.file("low.safetensors")) + " >/dev/null") == 0);
            auto made = open_qs(dir.file("made.qs"));
            REQUIRE(made);
            std::vector<Given> given(model.size());
            for (size_t i = 0; i < model.size(); ++i) {
                const qs_tensor_info info = tensor_info(made.get(), i);
                if (info.low_scheme == QS_LOW_PASSTHROUGH) continue;
                given[i].present = true;
                given[i].scheme = info.low_scheme;
                given[i].group = info.low_group_size;
                REQUIRE(load_level_bytes(made.get(), i, 0, given[i].bytes) == QS_OK);
            }
            for (bool strict : {false, true}) {
                const std::string expected = cli_pack(st, dir.file("cli.qs"), std::string("--low ") +
                                                          shell_quote(dir.file("low.safetensors")) + " --low-scheme " +
                                                          scheme + (strict ? " --strict" : "") + " -j 4");
                REQUIRE(!expected.empty());
                qs_writer_options o = qs_writer_options_default();
                o.low_schemes = scheme;
                o.num_threads = 4;
                o.strict_given_low = strict;
                REQUIRE(write_with_writer(dir.file("writer.qs"), model, o, {}, &given) == QS_OK);
                check_same_file(dir.file("writer.qs"), expected);
            }
        }
    }
}

TEST_CASE("a writer freed unfinished leaves no file and no temporary", "[writer]") {
    TempDir dir;
    const std::vector<Tensor> model = mixed_model(3);
    for (uint32_t threads : {1u, 4u}) {
        qs_writer_options o = qs_writer_options_default();
        o.num_threads = threads;
        qs_writer* w = nullptr;
        REQUIRE(qs_writer_create_e(dir.file("out.qs").c_str(), &o, &w, nullptr) == QS_OK);
        for (size_t i = 0; i < model.size() / 2; ++i)
            REQUIRE(qs_writer_add_tensor_e(w, model[i].name.c_str(), static_cast<qs_dtype>(model[i].dtype),
                                           static_cast<uint32_t>(model[i].shape.size()), model[i].shape.data(),
                                           model[i].bytes.data(), model[i].bytes.size(), nullptr, nullptr) == QS_OK);
        qs_writer_free(w);
        CHECK(other_files(dir.path(), {}).empty());
    }
    qs_writer_free(nullptr);
}

TEST_CASE("an output refused at create or failing at finish leaves no file", "[writer]") {
    TempDir dir;
    ErrorPtr err(qs_error_new());
    qs_writer* w = nullptr;
    fs::create_directory(dir.file("folder"));
    CHECK(qs_writer_create_e(dir.file("folder").c_str(), nullptr, &w, err.get()) != QS_OK);
    CHECK(w == nullptr);
    CHECK(std::string(qs_error_message(err.get())).find("folder") != std::string::npos);
    CHECK(qs_writer_create_e(dir.file("missing/out.qs").c_str(), nullptr, &w, err.get()) != QS_OK);
    CHECK(w == nullptr);

    // The target becomes a folder before finish: the rename fails, the temporary goes.
    const std::vector<Tensor> model = small_model(5);
    REQUIRE(qs_writer_create_e(dir.file("late.qs").c_str(), nullptr, &w, err.get()) == QS_OK);
    WriterPtr owned(w);
    for (const Tensor& t : model)
        REQUIRE(qs_writer_add_tensor_e(w, t.name.c_str(), static_cast<qs_dtype>(t.dtype),
                                       static_cast<uint32_t>(t.shape.size()), t.shape.data(), t.bytes.data(),
                                       t.bytes.size(), nullptr, err.get()) == QS_OK);
    fs::create_directory(dir.file("late.qs"));
    CHECK(qs_writer_finish_e(w, err.get()) == QS_ERR_IO);
    CHECK(std::string(qs_error_message(err.get())).find("late.qs") != std::string::npos);
    CHECK(fs::is_directory(dir.file("late.qs")));
    CHECK(other_files(dir.path(), {"folder", "late.qs"}).empty());
    CHECK(qs_writer_finish_e(w, err.get()) == QS_ERR_INVALID_ARGUMENT);
}

TEST_CASE("bad writer calls are refused with a message and leave the writer usable", "[writer]") {
    if (cli_path().empty() || !fs::exists(cli_path())) {
        WARN("qstore CLI not built; skipping");
        return;
    }
    TempDir dir;
    const std::vector<Tensor> model = small_model(9);
    write_safetensors(dir.file("model.safetensors"), model);
    ErrorPtr err(qs_error_new());
    qs_writer_options o = qs_writer_options_default();
    o.num_threads = 2;
    qs_writer* w = nullptr;
    REQUIRE(qs_writer_create_e(dir.file("out.qs").c_str(), &o, &w, err.get()) == QS_OK);
    WriterPtr owned(w);
    const Tensor& t = model[0];  // F32 [9, 20], quantizable
    const uint32_t nd = static_cast<uint32_t>(t.shape.size());
    auto refused = [&](qs_status s, const std::string& needle) {
        CHECK(s == QS_ERR_INVALID_ARGUMENT);
        CHECK(qs_error_status(err.get()) == QS_ERR_INVALID_ARGUMENT);
        const std::string message = qs_error_message(err.get());
        INFO(message);
        CHECK(message.find(needle) != std::string::npos);
    };
    refused(qs_writer_add_tensor_e(w, "x", QS_DTYPE_UNKNOWN, nd, t.shape.data(), t.bytes.data(),
                                   t.bytes.size(), nullptr, err.get()),
            "unknown dtype");
    refused(qs_writer_add_tensor_e(w, "x", QS_DTYPE_F32, nd, t.shape.data(), t.bytes.data(), t.bytes.size() - 4,
                                   nullptr, err.get()),
            "bytes given");
    const uint64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    refused(qs_writer_add_tensor_e(w, "x", QS_DTYPE_F32, 9, nine, t.bytes.data(), 4, nullptr, err.get()),
            "more than 8 dimensions");
    const uint64_t huge[2] = {uint64_t(1) << 40, uint64_t(1) << 40};
    refused(qs_writer_add_tensor_e(w, "x", QS_DTYPE_F32, 2, huge, t.bytes.data(), 4, nullptr, err.get()),
            "overflows");
    refused(qs_writer_add_tensor_e(w, "bad\xff", QS_DTYPE_F32, nd, t.shape.data(), t.bytes.data(), t.bytes.size(),
                                   nullptr, err.get()),
            "bad\\xFF");
    refused(qs_writer_add_tensor_e(w, nullptr, QS_DTYPE_F32, nd, t.shape.data(), t.bytes.data(), t.bytes.size(),
                                   nullptr, err.get()),
            "NULL");
    std::vector<uint8_t> codes(180), scales(36);
    qs_given_low low = {sizeof(qs_given_low), QS_LOW_INT8_ROW, 0, codes.data(), codes.size() - 1, scales.data(),
                        scales.size(), nullptr, 0};
    refused(qs_writer_add_tensor_e(w, t.name.c_str(), QS_DTYPE_F32, nd, t.shape.data(), t.bytes.data(),
                                   t.bytes.size(), &low, err.get()),
            "codes/scales/zero points");
    low.codes_size = codes.size();
    low.scheme = QS_LOW_Q8_0;
    refused(qs_writer_add_tensor_e(w, t.name.c_str(), QS_DTYPE_F32, nd, t.shape.data(), t.bytes.data(),
                                   t.bytes.size(), &low, err.get()),
            "the writer's scheme is int8-row");
    refused(qs_writer_set_metadata_e(w, "key", "\xc3", err.get()), "metadata");

    // The model, with a duplicate refused on the way: the file is qstore pack's.
    for (size_t i = 0; i < model.size(); ++i) {
        const Tensor& m = model[i];
        REQUIRE(qs_writer_add_tensor_e(w, m.name.c_str(), static_cast<qs_dtype>(m.dtype),
                                       static_cast<uint32_t>(m.shape.size()), m.shape.data(), m.bytes.data(),
                                       m.bytes.size(), nullptr, err.get()) == QS_OK);
        CHECK(qs_error_status(err.get()) == QS_OK);
        if (i == 2)
            refused(qs_writer_add_tensor_e(w, t.name.c_str(), QS_DTYPE_F32, nd, t.shape.data(), t.bytes.data(),
                                           t.bytes.size(), nullptr, err.get()),
                    "already added");
    }
    REQUIRE(qs_writer_finish_e(w, err.get()) == QS_OK);
    const std::string expected = cli_pack(dir.file("model.safetensors"), dir.file("cli.qs"), "");
    REQUIRE(!expected.empty());
    check_same_file(dir.file("out.qs"), expected);

    refused(qs_writer_add_tensor_e(w, "late", QS_DTYPE_F32, nd, t.shape.data(), t.bytes.data(), t.bytes.size(),
                                   nullptr, err.get()),
            "finished");
    refused(qs_writer_set_metadata_e(w, "k", "v", err.get()), "finished");
    // Without an error object, the thread's message.
    CHECK(qs_writer_add_tensor_e(w, "late", QS_DTYPE_F32, nd, t.shape.data(), t.bytes.data(), t.bytes.size(),
                                 nullptr, nullptr) == QS_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qs_last_error_message()).find("finished") != std::string::npos);
}

TEST_CASE("writer options and strict given low codes are checked", "[writer]") {
    TempDir dir;
    ErrorPtr err(qs_error_new());
    qs_writer* w = nullptr;
    qs_writer_options o = qs_writer_options_default();
    o.low_schemes = "int8-row,nope";
    CHECK(qs_writer_create_e(dir.file("a.qs").c_str(), &o, &w, err.get()) == QS_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qs_error_message(err.get())).find("'nope'") != std::string::npos);
    o = qs_writer_options_default();
    o.zstd_level = 23;
    CHECK(qs_writer_create_e(dir.file("a.qs").c_str(), &o, &w, err.get()) == QS_ERR_INVALID_ARGUMENT);
    o = qs_writer_options_default();
    o.reserved[3] = 1;
    CHECK(qs_writer_create_e(dir.file("a.qs").c_str(), &o, &w, err.get()) == QS_ERR_INVALID_ARGUMENT);
    o = qs_writer_options_default();
    o.struct_size = 8;
    CHECK(qs_writer_create_e(dir.file("a.qs").c_str(), &o, &w, err.get()) == QS_ERR_INVALID_ARGUMENT);
    CHECK(w == nullptr);
    CHECK(other_files(dir.path(), {}).empty());

    // Strict: a quantizable tensor without given codes after one with them.
    o = qs_writer_options_default();
    o.strict_given_low = 1;
    REQUIRE(qs_writer_create_e(dir.file("s.qs").c_str(), &o, &w, err.get()) == QS_OK);
    WriterPtr owned(w);
    Gen g(1);
    const Tensor a = g.float_tensor("a", DType::f32, {4, 8}), b = g.float_tensor("b", DType::f32, {4, 8});
    std::vector<uint8_t> codes(32), scales(16);
    const qs_given_low low = {sizeof(qs_given_low), QS_LOW_INT8_ROW, 0, codes.data(), codes.size(), scales.data(),
                              scales.size(), nullptr, 0};
    REQUIRE(qs_writer_add_tensor_e(w, "a", QS_DTYPE_F32, 2, a.shape.data(), a.bytes.data(), a.bytes.size(), &low,
                                   err.get()) == QS_OK);
    CHECK(qs_writer_add_tensor_e(w, "b", QS_DTYPE_F32, 2, b.shape.data(), b.bytes.data(), b.bytes.size(), nullptr,
                                 err.get()) == QS_ERR_INVALID_ARGUMENT);
    CHECK(std::string(qs_error_message(err.get())).find("strict") != std::string::npos);
    // A tensor stored as it is has no low precision to give: strict lets it pass.
    const uint64_t one_d[1] = {32};
    CHECK(qs_writer_add_tensor_e(w, "c", QS_DTYPE_F32, 1, one_d, b.bytes.data(), b.bytes.size(), nullptr,
                                 err.get()) == QS_OK);
    const uint64_t empty[2] = {0, 8};  // no bytes: data may be NULL
    CHECK(qs_writer_add_tensor_e(w, "empty", QS_DTYPE_BF16, 2, empty, nullptr, 0, nullptr, err.get()) == QS_OK);
    CHECK(qs_writer_finish_e(w, err.get()) == QS_OK);
    auto f = open_qs(dir.file("s.qs"));
    REQUIRE(f);
    CHECK(qs_tensor_count(f.get()) == 3);
    CHECK(qs_verify(f.get()) == QS_OK);
}

TEST_CASE("the writer holds about one tensor per thread, whatever the model's size", "[writer]") {
    TempDir dir;
    Gen g(21);
    const Tensor one_block = g.float_tensor("t", DType::f32, {128, 1024}, false);   // 512 KiB, one coding block
    const Tensor multi_block = g.float_tensor("m", DType::f32, {1024, 1024}, false);  // 4 MiB, four blocks
    for (unsigned threads : {1u, 2u, 4u}) {
        qstore::PackOptions o;
        o.threads = threads;
        qstore::Writer w(dir.file("big.qs"), o);
        uint64_t total = 0;
        for (int i = 0; i < 120; ++i) {
            const Tensor& t = i % 16 == 15 ? multi_block : one_block;
            qstore::SafetensorsTensor d;
            d.name = "layer." + std::to_string(i);
            d.dtype = t.dtype;
            d.shape = t.shape;
            d.size = t.bytes.size();
            w.add_tensor(d, [&](uint8_t* dst) { std::memcpy(dst, t.bytes.data(), t.bytes.size()); });
            total += t.bytes.size();
        }
        const qstore::PackStats s = w.finish();
        CHECK(s.tensors == 120);
        INFO(threads << " threads: peak " << w.peak_held_bytes() << " of " << total << " bytes");
        // One slot per thread and one for the caller, each the largest tensor (and its
        // job's few hundred bytes) or 1 MiB.
        CHECK(w.peak_held_bytes() <= (threads + 1) * (multi_block.bytes.size() + 4096));
        CHECK(w.peak_held_bytes() >= one_block.bytes.size());
    }
}
