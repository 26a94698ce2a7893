// GGUF in and out (io/gguf.hpp): writer -> reader round trips with exact bytes, a
// hand-assembled file parsed to known answers, alignment and padding, ne reversal,
// every truncation and many corruptions of a file give qstore::Error (never a crash),
// and end to end: pack q8_0 / q4_0, unpack the low precision as GGUF, re-pack with the
// GGUF as the given low precision: both precisions come back bit-exact.
#include <catch2/catch.hpp>

#include <cstring>

#include "base/error.hpp"
#include "io/gguf.hpp"
#include "schemes/registry.hpp"
#include "qs_util.hpp"

using namespace qs_test;
using qstore::DType;
using qstore::GgmlType;

namespace {

// A GGUF byte string assembled by hand (independent of GgufWriter).
struct Bytes {
    std::vector<uint8_t> b;
    Bytes& u32(uint32_t v) {
        for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
        return *this;
    }
    Bytes& u64(uint64_t v) {
        for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
        return *this;
    }
    Bytes& str(const std::string& s) {
        u64(s.size());
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
    Bytes& raw(const std::vector<uint8_t>& v) {
        b.insert(b.end(), v.begin(), v.end());
        return *this;
    }
    Bytes& pad(size_t a) {
        while (b.size() % a) b.push_back(0);
        return *this;
    }
};

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 37 + (i >> 8));
    return v;
}

qstore::Errc error_of(const std::string& path) {
    return thrown_code([&] { qstore::GgufReader r(path); });
}

// header + "general.name" = "tiny" + one Q8_0 tensor "blk.w" ne [32, 2] at offset 0.
std::vector<uint8_t> known_file(const std::vector<uint8_t>& blocks) {
    Bytes f;
    f.raw({'G', 'G', 'U', 'F'}).u32(3).u64(1).u64(1);
    f.str("general.name").u32(8).str("tiny");
    f.str("blk.w").u32(2).u64(32).u64(2).u32(8).u64(0);
    f.pad(32).raw(blocks);
    return f.b;
}

struct WrittenFile {
    std::vector<qstore::GgufWriter::Entry> entries;
    std::vector<std::vector<uint8_t>> data;
};

WrittenFile write_sample(const std::string& path) {
    WrittenFile w;
    w.entries = {{"a.q8", GgmlType::q8_0, {64, 3}, 3 * 2 * 34},
                 {"b.f32", GgmlType::f32, {5}, 20},
                 {"c.bf16", GgmlType::bf16, {4, 3, 2}, 48},
                 {"d.q4", GgmlType::q4_0, {32, 2, 2}, 4 * 18},
                 {"e.i64", GgmlType::i64, {1}, 8}};
    for (size_t i = 0; i < w.entries.size(); ++i) w.data.push_back(pattern(w.entries[i].size, static_cast<uint8_t>(i * 11)));
    qstore::GgufWriter writer(path, w.entries, {{"general.name", "sample"}, {"x.y", "z"}});
    for (const auto& d : w.data) writer.write_next(d.data(), d.size());
    writer.finish();
    return w;
}

}  // namespace

TEST_CASE("GGUF: writer -> reader round trip, exact bytes, alignment, ne reversal", "[gguf]") {
    TempDir dir;
    const std::string path = dir.file("sample.gguf");
    const WrittenFile w = write_sample(path);
    const std::vector<uint8_t> file = read_file(path);
    qstore::GgufReader r(path);
    CHECK(r.version() == 3);
    CHECK(r.alignment() == 32);
    REQUIRE(r.metadata().size() == 3);
    CHECK(r.metadata()[0].key == "general.alignment");
    CHECK(r.metadata()[0].type == 4);
    CHECK(r.metadata()[0].text == "32");
    REQUIRE(r.kv("general.name"));
    CHECK(r.kv("general.name")->text == "sample");
    CHECK(r.kv("x.y")->text == "z");
    CHECK(r.data_offset() % 32 == 0);
    REQUIRE(r.infos().size() == 5);
    REQUIRE(r.tensors().size() == 5);
    const std::vector<std::vector<uint64_t>> shapes = {{3, 68}, {5}, {2, 3, 4}, {4, 18}, {1}};
    const std::vector<DType> dtypes = {DType::u8, DType::f32, DType::bf16, DType::u8, DType::i64};
    uint64_t offset = 0;
    for (size_t i = 0; i < w.entries.size(); ++i) {
        INFO(w.entries[i].name);
        const auto& info = r.infos()[i];
        CHECK(info.name == w.entries[i].name);
        CHECK(info.ne == w.entries[i].ne);
        CHECK(info.type == static_cast<uint32_t>(w.entries[i].type));
        CHECK(info.offset == offset);  // contiguous, each tensor padded to 32 (as ggml requires)
        CHECK(info.offset % 32 == 0);
        const qstore::SafetensorsTensor* t = r.find(w.entries[i].name);
        REQUIRE(t);
        CHECK(t->dtype == dtypes[i]);
        CHECK(t->shape == shapes[i]);
        REQUIRE(t->size == w.data[i].size());
        CHECK(std::memcmp(t->data, w.data[i].data(), t->size) == 0);
        CHECK(static_cast<uint64_t>(t->data - r.tensors()[0].data) == offset);
        // Padding after the tensor is zero bytes.
        const uint64_t end = r.data_offset() + offset + t->size;
        offset += (t->size + 31) / 32 * 32;
        for (uint64_t k = end; k < r.data_offset() + offset; ++k) CHECK(file[k] == 0);
    }
    CHECK(file.size() == r.data_offset() + offset);
    CHECK(r.find("nope") == nullptr);
}

TEST_CASE("GGUF: a hand-assembled file parses to known answers", "[gguf]") {
    TempDir dir;
    const std::vector<uint8_t> blocks = pattern(68, 5);
    const std::vector<uint8_t> bytes = known_file(blocks);
    // 24 header + (8+12 + 4 + 8+4) KV + (8+5 + 4 + 2*8 + 4 + 8) tensor info = 105 -> data at 128.
    REQUIRE(bytes.size() == 128 + 68);
    const std::string path = dir.file("known.gguf");
    write_file(path, bytes);
    CHECK(qstore::is_gguf_file(path));
    qstore::GgufReader r(path);
    CHECK(r.version() == 3);
    CHECK(r.alignment() == 32);  // the default: no general.alignment key
    CHECK(r.data_offset() == 128);
    REQUIRE(r.metadata().size() == 1);
    CHECK(r.metadata()[0].key == "general.name");
    CHECK(r.metadata()[0].type == 8);
    CHECK(r.metadata()[0].text == "tiny");
    REQUIRE(r.infos().size() == 1);
    CHECK(r.infos()[0].ne == std::vector<uint64_t>{32, 2});
    CHECK(r.infos()[0].type == 8);
    const qstore::SafetensorsTensor* t = r.find("blk.w");
    REQUIRE(t);
    CHECK(t->dtype == DType::u8);
    CHECK(t->dtype_name == "Q8_0");
    CHECK(t->shape == std::vector<uint64_t>{2, 34});
    CHECK(t->size == 68);
    CHECK(std::memcmp(t->data, blocks.data(), 68) == 0);
    CHECK(!qstore::is_gguf_file(dir.file("missing.gguf")));
}

TEST_CASE("GGUF: general.alignment, offsets, unknown types, values of every type", "[gguf]") {
    TempDir dir;
    const std::string path = dir.file("x.gguf");
    auto build = [](uint32_t align_type, uint32_t alignment, uint64_t offset, uint32_t ggml_type) {
        Bytes f;
        f.raw({'G', 'G', 'U', 'F'}).u32(3).u64(2).u64(3);
        f.str("general.alignment").u32(align_type).u32(alignment);
        // An array of strings and an array of arrays, skipped correctly.
        f.str("tok").u32(9).u32(8).u64(2).str("a").str("bc");
        f.str("nest").u32(9).u32(9).u64(1).u32(5).u64(2).u32(7).u32(9);
        f.str("f").u32(2).u64(8).u64(1).u32(0).u64(0);
        f.str("g").u32(2).u64(64).u64(1).u32(ggml_type).u64(offset);
        f.pad(alignment ? alignment : 1);
        f.raw(pattern(offset + 64 * 4, 1));
        return f.b;
    };
    write_file(path, build(4, 64, 64, 0));
    {
        qstore::GgufReader r(path);
        CHECK(r.alignment() == 64);
        CHECK(r.data_offset() % 64 == 0);
        CHECK(r.kv("tok")->text == "[2 x string]");
        CHECK(r.kv("nest")->text == "[1 x array]");
        REQUIRE(r.find("g"));
        CHECK(r.find("g")->shape == std::vector<uint64_t>{1, 64});
        CHECK(r.find("g")->data == r.find("f")->data + 64);
    }
    write_file(path, build(4, 64, 32, 0));  // offset not a multiple of the alignment
    CHECK(error_of(path) == qstore::Errc::corrupt);
    write_file(path, build(4, 48, 48, 0));  // alignment not a power of two
    CHECK(error_of(path) == qstore::Errc::corrupt);
    write_file(path, build(4, 0, 0, 0));
    CHECK(error_of(path) == qstore::Errc::corrupt);
    write_file(path, build(5, 64, 64, 0));  // general.alignment not a u32
    CHECK(error_of(path) == qstore::Errc::corrupt);
    write_file(path, build(4, 64, 64, 99));  // an unknown type: listed, not available
    {
        qstore::GgufReader r(path);
        REQUIRE(r.infos().size() == 2);
        CHECK(!r.available(r.infos()[1]));
        CHECK(qstore::ggml_type_name(r.infos()[1].type) == "type 99");
        CHECK(r.find("g") == nullptr);
        CHECK(r.find("f") != nullptr);
        CHECK(r.tensors().size() == 1);
    }
}

TEST_CASE("GGUF: damaged files give qstore::Error, never a crash or a huge allocation", "[gguf]") {
    TempDir dir;
    const std::string good = dir.file("good.gguf"), bad = dir.file("bad.gguf");
    write_sample(good);
    const std::vector<uint8_t> file = read_file(good);
    uint64_t data_offset;
    {
        qstore::GgufReader r(good);
        data_offset = r.data_offset();
    }
    SECTION("every truncation") {
        // The last tensor (8 bytes) is followed by 24 bytes of padding: cuts inside the
        // padding still hold every tensor.
        const size_t data_end = file.size() - 24;
        for (size_t n = 0; n < file.size(); ++n) {
            write_file(bad, file.data(), n);
            const qstore::Errc e = error_of(bad);
            INFO("length " << n);
            if (n < data_end) CHECK((e == qstore::Errc::corrupt || e == qstore::Errc::unsupported));
            else CHECK(e == qstore::Errc::ok);
        }
    }
    SECTION("every header byte set to 0xFF, 0x80 or 0x00") {
        for (size_t i = 0; i < data_offset; ++i)
            for (uint8_t v : {uint8_t(0xFF), uint8_t(0x80), uint8_t(0x00), uint8_t(file[i] ^ 1)}) {
                std::vector<uint8_t> f = file;
                f[i] = v;
                write_file(bad, f);
                const qstore::Errc e = error_of(bad);
                INFO("byte " << i << " = " << int(v));
                CHECK((e == qstore::Errc::ok || e == qstore::Errc::corrupt || e == qstore::Errc::unsupported));
            }
    }
    SECTION("huge counts and lengths") {
        auto with = [&](uint64_t tensors, uint64_t kvs, uint64_t key_len) {
            Bytes f;
            f.raw({'G', 'G', 'U', 'F'}).u32(3).u64(tensors).u64(kvs).u64(key_len).raw(pattern(64, 0));
            write_file(bad, f.b);
            return error_of(bad);
        };
        CHECK(with(UINT64_MAX, 0, 0) == qstore::Errc::corrupt);
        CHECK(with(0, UINT64_MAX / 2, 0) == qstore::Errc::corrupt);
        CHECK(with(0, 1, UINT64_MAX - 3) == qstore::Errc::corrupt);
        Bytes a;  // an array claiming 2^60 u64 elements
        a.raw({'G', 'G', 'U', 'F'}).u32(3).u64(0).u64(1).str("k").u32(9).u32(10).u64(1ull << 60).raw(pattern(64, 0));
        write_file(bad, a.b);
        CHECK(error_of(bad) == qstore::Errc::corrupt);
        Bytes s;  // 2^40 strings
        s.raw({'G', 'G', 'U', 'F'}).u32(3).u64(0).u64(1).str("k").u32(9).u32(8).u64(1ull << 40).raw(pattern(64, 0));
        write_file(bad, s.b);
        CHECK(error_of(bad) == qstore::Errc::corrupt);
        Bytes d;  // five dimensions
        d.raw({'G', 'G', 'U', 'F'}).u32(3).u64(1).u64(0).str("t").u32(5).u64(1).u64(1).u64(1).u64(1).u64(1).u32(0).u64(0);
        write_file(bad, d.pad(32).raw(pattern(64, 0)).b);
        CHECK(error_of(bad) == qstore::Errc::corrupt);
        Bytes o;  // dimensions whose product overflows
        o.raw({'G', 'G', 'U', 'F'}).u32(3).u64(1).u64(0).str("t").u32(2).u64(1ull << 40).u64(1ull << 40).u32(0).u64(0);
        write_file(bad, o.pad(32).raw(pattern(64, 0)).b);
        CHECK(error_of(bad) == qstore::Errc::corrupt);
        Bytes q;  // Q8_0 row not a multiple of 32
        q.raw({'G', 'G', 'U', 'F'}).u32(3).u64(1).u64(0).str("t").u32(1).u64(33).u32(8).u64(0);
        write_file(bad, q.pad(32).raw(pattern(64, 0)).b);
        CHECK(error_of(bad) == qstore::Errc::corrupt);
        Bytes v;  // version 4, and a big-endian file
        v.raw({'G', 'G', 'U', 'F'}).u32(4).u64(0).u64(0);
        write_file(bad, v.b);
        CHECK(error_of(bad) == qstore::Errc::unsupported);
        Bytes be;
        be.raw({'G', 'G', 'U', 'F'}).raw({0, 0, 0, 3}).u64(0).u64(0);
        write_file(bad, be.b);
        CHECK(error_of(bad) == qstore::Errc::unsupported);
        Bytes dup;  // one tensor name twice
        dup.raw({'G', 'G', 'U', 'F'}).u32(3).u64(2).u64(0);
        dup.str("t").u32(1).u64(4).u32(0).u64(0).str("t").u32(1).u64(4).u32(0).u64(32);
        write_file(bad, dup.pad(32).raw(pattern(64, 0)).b);
        CHECK(error_of(bad) == qstore::Errc::corrupt);
    }
}

namespace {

// The error of opening `bytes` as a GGUF file at `path`: code and message.
std::pair<qstore::Errc, std::string> gguf_error(const std::string& path, const std::vector<uint8_t>& bytes) {
    write_file(path, bytes);
    try {
        qstore::GgufReader r(path);
    } catch (const qstore::Error& e) {
        return {e.code(), e.what()};
    }
    return {qstore::Errc::ok, ""};
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A v3 header with `tensors` tensor infos and `kvs` key/value pairs to follow.
Bytes header(uint64_t tensors, uint64_t kvs) {
    Bytes f;
    f.raw({'G', 'G', 'U', 'F'}).u32(3).u64(tensors).u64(kvs);
    return f;
}

}  // namespace

TEST_CASE("GGUF: keys and tensor names must be UTF-8 without NUL", "[gguf]") {
    TempDir dir;
    const std::string path = dir.file("names.gguf");
    Bytes k = header(0, 1);
    k.str(std::string("a\0b", 3)).u32(4).u32(1);
    auto [kc, km] = gguf_error(path, k.b);
    CHECK(kc == qstore::Errc::corrupt);
    CHECK(has(km, path));
    CHECK(has(km, "key 'a\\x00b'"));
    // Two names that would both reach C callers as "t".
    Bytes t = header(2, 0);
    t.str(std::string("t\0x", 3)).u32(1).u64(4).u32(0).u64(0).str(std::string("t\0y", 3)).u32(1).u64(4).u32(0).u64(32);
    auto [tc, tm] = gguf_error(path, t.pad(32).raw(pattern(64, 0)).b);
    CHECK(tc == qstore::Errc::corrupt);
    CHECK(has(tm, "tensor name 't\\x00x'"));
    Bytes u = header(1, 0);  // a lone continuation byte
    u.str("t\x80").u32(1).u64(4).u32(0).u64(0);
    CHECK(gguf_error(path, u.pad(32).raw(pattern(64, 0)).b).first == qstore::Errc::corrupt);
    Bytes ok = header(1, 0);  // "é"
    ok.str("t\xC3\xA9").u32(1).u64(4).u32(0).u64(0);
    CHECK(gguf_error(path, ok.pad(32).raw(pattern(64, 0)).b).first == qstore::Errc::ok);
}

TEST_CASE("GGUF: tensors whose data overlap are refused", "[gguf]") {
    TempDir dir;
    const std::string path = dir.file("overlap.gguf");
    // Two F32 tensors of 16 values (64 bytes); the second at `second`.
    auto two = [&](uint64_t second, uint64_t second_len) {
        Bytes f = header(2, 0);
        f.str("a").u32(1).u64(16).u32(0).u64(0).str("b").u32(1).u64(second_len).u32(0).u64(second);
        return gguf_error(path, f.pad(32).raw(pattern(256, 0)).b);
    };
    CHECK(two(64, 16).first == qstore::Errc::ok);
    CHECK(two(0, 0).first == qstore::Errc::ok);  // no bytes: shares none
    auto [c, m] = two(32, 16);
    CHECK(c == qstore::Errc::corrupt);
    CHECK(has(m, path));
    CHECK(has(m, "overlaps"));
    CHECK(two(0, 16).first == qstore::Errc::corrupt);  // the same bytes twice
    CHECK(two(32, 4).first == qstore::Errc::corrupt);  // inside the first
}

TEST_CASE("GGUF: header errors name the file and the field", "[gguf]") {
    TempDir dir;
    const std::string path = dir.file("bad.gguf");
    auto message = [&](const Bytes& f) {
        auto [code, msg] = gguf_error(path, f.b);
        INFO(msg);
        CHECK((code == qstore::Errc::corrupt || code == qstore::Errc::unsupported));
        CHECK(has(msg, path));
        return msg;
    };
    Bytes magic;
    magic.raw({'G', 'G', 'U', 'X'}).u32(3).u64(0).u64(0);
    CHECK(has(message(magic), "magic"));
    Bytes version;
    version.raw({'G', 'G', 'U', 'F'}).u32(1).u64(0).u64(0);
    CHECK(has(message(version), "version 1"));
    CHECK(has(message(header(0, 1ull << 40)), "key/value count"));
    CHECK(has(message(header(1ull << 40, 0)), "tensor count"));
    Bytes key = header(0, 1);
    key.u64(1ull << 40).raw(pattern(32, 0));
    CHECK(has(message(key), "a key length"));
    Bytes type = header(0, 1);
    type.str("k").u32(13).u32(0);
    const std::string t = message(type);
    CHECK(has(t, "unknown value type 13"));
    CHECK(has(t, "'k'"));
    Bytes elem = header(0, 1);
    elem.str("k").u32(9).u32(77).u64(1).u32(0);
    CHECK(has(message(elem), "unknown array element type 77"));
    Bytes align = header(1, 0);
    align.str("t").u32(1).u64(4).u32(0).u64(8);
    CHECK(has(message(align.pad(32).raw(pattern(64, 0))), "alignment"));
    Bytes beyond = header(1, 0);
    beyond.str("t").u32(1).u64(64).u32(0).u64(0);
    CHECK(has(message(beyond.pad(32).raw(pattern(64, 0))), "beyond end of file"));
}

TEST_CASE("GGUF: unpack low as GGUF, re-pack from it: both precisions bit-exact", "[gguf]") {
    const std::string cli = cli_path();
    if (cli.empty()) {
        WARN("SKIPPED: the qstore CLI was not built");
        return;
    }
    for (const char* scheme : {"q8_0", "q4_0"}) {
        DYNAMIC_SECTION(scheme) {
            TempDir dir;
            Gen gen(scheme[1] == '8' ? 801 : 401);
            std::vector<Tensor> model = {gen.float_tensor("layers.0.q.weight", DType::bf16, {48, 96}),
                                         gen.float_tensor("layers.0.conv.weight", DType::bf16, {6, 2, 4, 4}),
                                         gen.float_tensor("layers.0.odd.weight", DType::bf16, {5, 20}),  // not /32
                                         gen.float_tensor("norm.weight", DType::bf16, {96})};
            qstore::PackOptions o;
            o.low = {qstore::low_scheme_by_name(scheme)->spec()};
            pack_model(dir, model, "a.qs", o);
            const std::string gguf = dir.file("low.gguf");
            REQUIRE(run_command(shell_quote(cli) + " unpack " + shell_quote(dir.file("a.qs")) +
                                " --precision low -o " + shell_quote(gguf) + " >/dev/null") == 0);
            REQUIRE(qstore::is_gguf_file(gguf));
            qstore::GgufReader low(gguf);
            REQUIRE(low.infos().size() == model.size());
            CHECK(low.infos()[0].type == (scheme[1] == '8' ? 8u : 2u));
            CHECK(low.infos()[0].ne == std::vector<uint64_t>{96, 48});
            CHECK(low.infos()[1].ne == std::vector<uint64_t>{32, 6});  // [rows, cols] reversed
            CHECK(low.infos()[2].type == 30u);                          // BF16 passthrough
            CHECK(low.infos()[2].ne == std::vector<uint64_t>{20, 5});
            CHECK(low.infos()[3].ne == std::vector<uint64_t>{96});

            qstore::SafetensorsReader high(dir.file("a.qs.high.safetensors"));
            qstore::pack(high, &low, o, dir.file("b.qs"));
            auto a = open_qs(dir.file("a.qs")), b = open_qs(dir.file("b.qs"));
            REQUIRE(a);
            REQUIRE(b);
            for (size_t i = 0; i < model.size(); ++i) {
                INFO(model[i].name);
                LowData la, lb;
                REQUIRE(load_low(a.get(), i, la) == QS_OK);
                REQUIRE(load_low(b.get(), i, lb) == QS_OK);
                CHECK(first_mismatch(la.codes, lb.codes) == -1);
                CHECK(first_mismatch(la.scales, lb.scales) == -1);
                const qstore::SafetensorsTensor* t = low.find(model[i].name);
                REQUIRE(t);
                CHECK(first_mismatch(t->data, t->size, la.codes.data(), la.codes.size()) == -1);
                std::vector<uint8_t> h;
                REQUIRE(load_high(b.get(), i, h) == QS_OK);
                CHECK(first_mismatch(h, model[i].bytes) == -1);
                CHECK(tensor_info(b.get(), i).low_scheme == tensor_info(a.get(), i).low_scheme);
            }
            // The high precision as GGUF: every tensor's bytes as they are.
            const std::string hg = dir.file("high.gguf");
            REQUIRE(run_command(shell_quote(cli) + " unpack " + shell_quote(dir.file("b.qs")) + " -o " +
                                shell_quote(hg) + " >/dev/null") == 0);
            qstore::GgufReader hr(hg);
            for (const Tensor& t : model) {
                const qstore::SafetensorsTensor* x = hr.find(t.name);
                REQUIRE(x);
                CHECK(x->dtype == DType::bf16);
                CHECK(x->shape == t.shape);
                CHECK(first_mismatch(x->data, x->size, t.bytes.data(), t.bytes.size()) == -1);
            }
            // Schemes whose codes GGUF has no type for: a clear error, no file.
            pack_model(dir, model, "f.qs", [] {
                qstore::PackOptions p;
                p.low = {qstore::low_scheme_by_name("fp8-e4m3-row")->spec()};
                return p;
            }());
            CHECK(run_command(shell_quote(cli) + " unpack " + shell_quote(dir.file("f.qs")) +
                              " --precision low --format gguf -o " + shell_quote(dir.file("f.bin")) +
                              " 2>/dev/null") == 1);
            CHECK(!fs::exists(dir.file("f.bin")));
        }
    }
}
