// Input strictness (issue 19): tensor names must be UTF-8 without NUL in safetensors
// headers and in a .qs file's index; safetensors data_offsets must tile the data
// buffer as the reference reader requires; a sharded index may name only files next to
// it, and its weight_map must match the shards; `qstore pack --low FILE` names the
// tensors it could not use, and --strict makes that an error. The bad files are made
// here from a few bytes.
#include <catch2/catch.hpp>
#include <zstd.h>

#include <algorithm>

#include "base/byte_io.hpp"
#include "base/checksum.hpp"
#include "container/format.hpp"
#include "qs_util.hpp"

using namespace qs_test;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// One tensor entry of a safetensors JSON header (name as JSON string text, escapes allowed).
std::string entry(const std::string& json_name, const std::string& dtype, const std::string& shape, uint64_t begin,
                  uint64_t end) {
    return "\"" + json_name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
           std::to_string(begin) + "," + std::to_string(end) + "]}";
}

// A safetensors file from header entries and `data_bytes` bytes of data.
void write_raw_safetensors(const std::string& path, const std::vector<std::string>& entries, size_t data_bytes) {
    std::string header = "{";
    for (size_t i = 0; i < entries.size(); ++i) header += (i ? "," : "") + entries[i];
    header += "}";
    std::vector<uint8_t> f(8);
    qstore::store_le(f.data(), header.size(), 8);
    f.insert(f.end(), header.begin(), header.end());
    for (size_t i = 0; i < data_bytes; ++i) f.push_back(static_cast<uint8_t>(i * 7 + 1));
    write_file(path, f);
}

// The error (code and message) of opening `path` as safetensors; Errc::ok if it opens.
std::pair<qstore::Errc, std::string> open_error(const std::string& path) {
    try {
        qstore::SafetensorsReader r(path);
    } catch (const qstore::Error& e) {
        return {e.code(), e.what()};
    }
    return {qstore::Errc::ok, ""};
}

void write_text(const std::string& path, const std::string& text) {
    write_file(path, reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

}  // namespace

TEST_CASE("safetensors: tensor names with NUL or invalid UTF-8 are refused", "[input]") {
    TempDir dir;
    const std::string path = dir.file("names.safetensors");
    // "a\0x" and "a\0y" would both reach C callers as "a".
    write_raw_safetensors(path, {entry("a\\u0000x", "F32", "[1]", 0, 4), entry("a\\u0000y", "F32", "[1]", 4, 8)}, 8);
    auto [code, msg] = open_error(path);
    CHECK(code == qstore::Errc::corrupt);
    CHECK(contains(msg, path));
    CHECK(contains(msg, "a\\x00x"));  // every byte of the name shown
    CHECK(contains(msg, "NUL"));

    write_raw_safetensors(path, {entry("\\u0000", "F32", "[1]", 0, 4)}, 4);
    CHECK(open_error(path).first == qstore::Errc::corrupt);

    // Any other UTF-8 name is fine, "é" and "𝄞" included.
    write_raw_safetensors(path, {entry("\\u00e9", "F32", "[1]", 0, 4), entry("\\ud834\\udd1e", "F32", "[1]", 4, 8)}, 8);
    CHECK(open_error(path).first == qstore::Errc::ok);
}

TEST_CASE("safetensors: data_offsets must tile the data buffer exactly", "[input]") {
    TempDir dir;
    const std::string path = dir.file("offsets.safetensors");
    auto error_of = [&](const std::vector<std::string>& entries, size_t data_bytes) {
        write_raw_safetensors(path, entries, data_bytes);
        const auto [code, msg] = open_error(path);
        INFO(msg);
        if (code != qstore::Errc::ok) CHECK(contains(msg, path));
        return code;
    };
    const auto ok = qstore::Errc::ok, corrupt = qstore::Errc::corrupt;
    // Tiling in any header order, zero-byte tensors anywhere.
    CHECK(error_of({entry("b", "F32", "[2]", 8, 16), entry("a", "F32", "[2]", 0, 8)}, 16) == ok);
    CHECK(error_of({entry("z", "F32", "[0]", 8, 8), entry("a", "F32", "[2]", 0, 8), entry("y", "F32", "[0,3]", 0, 0)}, 8) == ok);
    CHECK(error_of({}, 0) == ok);
    // Overlap, gap, a first tensor not at 0, bytes after the last tensor, nothing but bytes.
    CHECK(error_of({entry("a", "F32", "[2]", 0, 8), entry("b", "F32", "[2]", 4, 12)}, 12) == corrupt);
    CHECK(error_of({entry("a", "F32", "[2]", 0, 8), entry("b", "F32", "[2]", 0, 8)}, 8) == corrupt);
    CHECK(error_of({entry("a", "F32", "[2]", 0, 8), entry("b", "F32", "[2]", 12, 20)}, 20) == corrupt);
    CHECK(error_of({entry("a", "F32", "[2]", 4, 12)}, 12) == corrupt);
    CHECK(error_of({entry("a", "F32", "[2]", 0, 8)}, 12) == corrupt);
    CHECK(error_of({}, 4) == corrupt);
    // begin > end, sizes not matching dtype x shape, a shape whose product overflows.
    CHECK(error_of({entry("a", "F32", "[0]", 8, 0)}, 8) == corrupt);
    CHECK(error_of({entry("a", "F32", "[3]", 0, 8)}, 8) == corrupt);
    CHECK(error_of({entry("a", "F32", "[4294967296,4294967296]", 0, 8)}, 8) == corrupt);
    CHECK(error_of({entry("a", "F64", "[2305843009213693952]", 0, 8)}, 8) == corrupt);
}

TEST_CASE("sharded index: shards must be plain file names next to the index", "[input]") {
    TempDir dir;
    const std::string model = dir.file("model");
    fs::create_directories(model + "/sub");
    const std::vector<Tensor> t = {{"w", DType::f32, {2}, std::vector<uint8_t>(8, 1)}};
    write_safetensors(dir.file("outside.safetensors"), t);  // next to the folder, not in it
    write_safetensors(model + "/sub/x.safetensors", t);
    write_safetensors(model + "/in.safetensors", t);
    const std::string index = model + "/model.safetensors.index.json";
    auto error_of = [&](const std::string& shard) {
        write_text(index, "{\"metadata\":{},\"weight_map\":{\"w\":\"" + shard + "\"}}");
        const auto [code, msg] = open_error(index);
        INFO(shard << ": " << msg);
        if (code != qstore::Errc::ok) CHECK(contains(msg, index));
        return code;
    };
    CHECK(error_of("in.safetensors") == qstore::Errc::ok);
    CHECK(error_of("../outside.safetensors") == qstore::Errc::corrupt);
    CHECK(error_of(dir.file("outside.safetensors")) == qstore::Errc::corrupt);  // absolute
    CHECK(error_of("sub/x.safetensors") == qstore::Errc::corrupt);
    CHECK(error_of("sub/../in.safetensors") == qstore::Errc::corrupt);
    CHECK(error_of("..") == qstore::Errc::corrupt);
    CHECK(error_of("") == qstore::Errc::corrupt);
    CHECK(error_of("sub") == qstore::Errc::corrupt);  // a folder, not a file
    CHECK(error_of("in.safetensors\\u0000.txt") == qstore::Errc::corrupt);
    // A shard that is a symlink in the folder is the folder owner's choice (the Hugging
    // Face cache links snapshot files to its blobs): followed.
    fs::create_symlink(dir.file("outside.safetensors"), model + "/linked.safetensors");
    CHECK(error_of("linked.safetensors") == qstore::Errc::ok);
}

TEST_CASE("sharded index: weight_map must match the shards' tensors", "[input]") {
    TempDir dir;
    auto tensor = [](const std::string& name) { return Tensor{name, DType::f32, {2}, std::vector<uint8_t>(8, 3)}; };
    write_safetensors(dir.file("s1.safetensors"), {tensor("a"), tensor("b")});
    write_safetensors(dir.file("s2.safetensors"), {tensor("c")});
    write_safetensors(dir.file("s3.safetensors"), {tensor("c")});
    const std::string index = dir.file("model.safetensors.index.json");
    auto error_of = [&](const std::string& weight_map) {
        write_text(index, "{\"weight_map\":{" + weight_map + "}}");
        const auto [code, msg] = open_error(index);
        INFO(weight_map << ": " << msg);
        return std::make_pair(code, msg);
    };
    CHECK(error_of(R"("a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors")").first == qstore::Errc::ok);
    // c is in s2, not s1.
    auto wrong = error_of(R"("a":"s1.safetensors","b":"s1.safetensors","c":"s1.safetensors","x":"s2.safetensors")");
    CHECK(wrong.first == qstore::Errc::corrupt);
    CHECK(contains(wrong.second, "'c'"));
    // b is in s1 but not in weight_map.
    auto unnamed = error_of(R"("a":"s1.safetensors","c":"s2.safetensors")");
    CHECK(unnamed.first == qstore::Errc::corrupt);
    CHECK(contains(unnamed.second, "'b'"));
    // weight_map names d, which no shard holds.
    auto absent = error_of(R"("a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors","d":"s2.safetensors")");
    CHECK(absent.first == qstore::Errc::corrupt);
    CHECK(contains(absent.second, "'d'"));
    // c in two shards.
    auto twice = error_of(R"("a":"s1.safetensors","b":"s1.safetensors","c":"s2.safetensors","x":"s3.safetensors")");
    CHECK(twice.first == qstore::Errc::corrupt);
    CHECK(contains(twice.second, "'c'"));
    CHECK(contains(twice.second, "s2.safetensors"));
    CHECK(contains(twice.second, "s3.safetensors"));
}

namespace {

// Rewrites the tensor index of .qs file `path`, every `from` in its bytes replaced by
// `to` (same length): the new index is appended uncompressed, then a new directory,
// and the header points to them, every checksum recomputed. A damaged file that a
// writer could have made, so that only the name rules can refuse it.
void rewrite_index_names(const std::string& path, const std::string& from, const std::string& to) {
    std::vector<uint8_t> b = read_file(path);
    qstore::FileHeader h = qstore::parse_header(b.data(), path);
    auto dir = qstore::parse_directory(b.data() + h.directory_offset, h.directory_count, path);
    auto it = std::find_if(dir.begin(), dir.end(), [](const qstore::SectionEntry& e) {
        return e.kind == static_cast<uint32_t>(qstore::SectionKind::tensor_index);
    });
    REQUIRE(it != dir.end());
    std::vector<uint8_t> raw(it->raw_size);
    if (it->flags & qstore::kSectionZstd)
        REQUIRE(ZSTD_decompress(raw.data(), raw.size(), b.data() + it->offset, it->stored_size) == raw.size());
    else
        std::copy_n(b.data() + it->offset, raw.size(), raw.begin());
    std::string text(raw.begin(), raw.end());
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
        text.replace(at, from.size(), to);
    b.resize(qstore::align_up(b.size(), qstore::kAlignment), 0);
    it->offset = b.size();
    it->stored_size = it->raw_size = text.size();
    it->flags &= ~qstore::kSectionZstd;
    it->checksum = qstore::checksum(text.data(), text.size());
    b.insert(b.end(), text.begin(), text.end());
    b.resize(qstore::align_up(b.size(), qstore::kAlignment), 0);
    h.directory_offset = b.size();
    const auto d = qstore::serialize_directory(dir);
    b.insert(b.end(), d.begin(), d.end());
    h.file_size = b.size();
    const auto header = qstore::serialize_header(h);
    std::copy(header.begin(), header.end(), b.begin());
    write_file(path, b);
}

}  // namespace

TEST_CASE(".qs index: tensor names with NUL or invalid UTF-8 make the file corrupt", "[input]") {
    TempDir dir;
    Gen g(19);
    const std::vector<Tensor> model = {g.float_tensor("aXx", DType::f32, {4, 8}), g.float_tensor("aYx", DType::f32, {3})};
    qstore::PackOptions o;
    pack_model(dir, model, "f.qs", o);
    const std::string path = dir.file("f.qs");
    {
        rewrite_index_names(path, "aYx", "aYx");  // the rewrite alone keeps the file good
        qs_status st;
        FilePtr f = open_qs(path, &st);
        INFO(qs_last_error_message());
        REQUIRE(st == QS_OK);
        size_t i;
        CHECK(qs_find_tensor(f.get(), "aYx", &i) == QS_OK);
    }
    for (const std::string& bad : {std::string("a\0x", 3), std::string("a\xC0x", 3)}) {
        pack_model(dir, model, "f.qs", o);
        rewrite_index_names(path, "aXx", bad);
        qs_file* f = nullptr;
        CHECK(qs_open(path.c_str(), &f) == QS_ERR_CORRUPT);
        CHECK(f == nullptr);
        const std::string msg = qs_last_error_message();
        CHECK(contains(msg, path));
        CHECK(contains(msg, "tensor name"));
        if (f) qs_close(f);
    }
}

namespace {

// `qstore pack high --low low [--strict]`: exit status and stderr.
std::pair<int, std::string> pack_with_low(const TempDir& dir, bool strict) {
    const std::string err = dir.file("stderr.txt");
    const std::string cmd = shell_quote(cli_path()) + " pack " + shell_quote(dir.file("high.safetensors")) +
                            " --low " + shell_quote(dir.file("low.safetensors")) + (strict ? " --strict" : "") +
                            " -o " + shell_quote(dir.file("f.qs")) + " > /dev/null 2> " + shell_quote(err);
    const int status = run_command(cmd);
    const std::vector<uint8_t> text = read_file(err);
    return {status, std::string(text.begin(), text.end())};
}

}  // namespace

TEST_CASE("`qstore pack --low FILE` names what it could not use, --strict refuses", "[input][cli]") {
    if (cli_path().empty() || !fs::exists(cli_path())) {
        WARN("qstore CLI not built; skipping");
        return;
    }
    TempDir dir;
    Gen g(20);
    const std::vector<Tensor> model = {g.float_tensor("a.weight", DType::f32, {4, 32}),
                                       g.float_tensor("b.weight", DType::f32, {4, 32}),
                                       g.float_tensor("norm.weight", DType::f32, {32})};
    write_safetensors(dir.file("high.safetensors"), model);
    auto codes = [](const Tensor& t) { return Tensor{t.name, DType::i8, t.shape, std::vector<uint8_t>(t.elements(), 1)}; };
    auto scales = [](const Tensor& t, const std::string& name) {
        return Tensor{name, DType::f32, {t.rows()}, std::vector<uint8_t>(4 * t.rows(), 0)};
    };
    // a: complete; b: its codes without scales; a stray tensor; norm: the passthrough copy.
    write_safetensors(dir.file("low.safetensors"),
                      {codes(model[0]), scales(model[0], "a.SCB"), codes(model[1]), model[2],
                       Tensor{"stray", DType::f32, {1}, std::vector<uint8_t>(4, 0)}});

    auto [status, err] = pack_with_low(dir, false);
    INFO(err);
    CHECK(status == 0);
    CHECK(contains(err, "warning"));
    CHECK(contains(err, "  stray\n"));
    CHECK(contains(err, "  b.weight\n"));  // unused codes, and left unquantized
    CHECK(!contains(err, "  a.weight\n"));
    CHECK(!contains(err, "  a.SCB\n"));
    CHECK(!contains(err, "  norm.weight\n"));
    CHECK(fs::exists(dir.file("f.qs")));
    fs::remove(dir.file("f.qs"));

    auto [strict_status, strict_err] = pack_with_low(dir, true);
    INFO(strict_err);
    CHECK(strict_status == 1);
    CHECK(contains(strict_err, "error"));
    CHECK(contains(strict_err, "stray"));
    CHECK(contains(strict_err, "b.weight"));
    CHECK(!fs::exists(dir.file("f.qs")));
    CHECK(!fs::exists(dir.file("f.qs.partial")));
}
