// GGUF as the model to pack (GgufUse::model, io/gguf_layout.hpp, read/gguf_export.hpp):
// hand-assembled GGUF files (versions 2 and 3, key/values of every type, a block type
// qstore has no scheme for, tensors out of offset order, non-zero padding and trailing
// bytes) packed and written back byte for byte; the low precision as llama-quantize's
// layout (metadata, file type, Q8_0 blocks equal to the level's codes); the typed
// key/values on the Reader; the format version; damaged input and damaged sections.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

#include "base/byte_io.hpp"
#include "base/error.hpp"
#include "base/float_bits.hpp"
#include "container/format.hpp"
#include "io/gguf.hpp"
#include "io/gguf_layout.hpp"
#include "io/gguf_metadata.hpp"
#include "read/gguf_export.hpp"
#include "read/reader.hpp"
#include "schemes/registry.hpp"
#include "qs_util.hpp"

using namespace qs_test;

namespace {

struct Bytes {
    std::vector<uint8_t> b;
    Bytes& le(uint64_t v, int n) {
        for (int i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
        return *this;
    }
    Bytes& u32(uint32_t v) { return le(v, 4); }
    Bytes& u64(uint64_t v) { return le(v, 8); }
    Bytes& str(const std::string& s) {
        u64(s.size());
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
    Bytes& raw(const std::vector<uint8_t>& v) {
        b.insert(b.end(), v.begin(), v.end());
        return *this;
    }
    Bytes& fill_to(size_t n, uint8_t byte) {
        while (b.size() < n) b.push_back(byte);
        return *this;
    }
};

struct GgufTensorSpec {
    std::string name;
    uint32_t type;
    std::vector<uint64_t> ne;
    uint64_t offset;
    std::vector<uint8_t> data;
};

std::vector<uint8_t> f32_matrix(size_t n, float scale) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i < n; ++i) {
        const float v = scale * std::sin(0.37f * static_cast<float>(i)) * static_cast<float>(1 + i % 7);
        const uint32_t bits = qstore::f32_bits(v);
        for (int k = 0; k < 4; ++k) out.push_back(static_cast<uint8_t>(bits >> (8 * k)));
    }
    return out;
}

std::vector<uint8_t> narrowed(const std::vector<uint8_t>& f32, bool bf16) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i < f32.size(); i += 4) {
        const float v = qstore::f32_from_bits(static_cast<uint32_t>(qstore::load_le(f32.data() + i, 4)));
        const uint16_t h = bf16 ? qstore::bf16_from_f32(v) : qstore::f16_from_f32(v);
        out.push_back(static_cast<uint8_t>(h));
        out.push_back(static_cast<uint8_t>(h >> 8));
    }
    return out;
}

// A GGUF file: key/values of every type, `tensors` (infos in the given order), data
// at their offsets with `gap` bytes between them and `trailing` bytes after the last.
std::vector<uint8_t> gguf_file(uint32_t version, const std::vector<GgufTensorSpec>& tensors, uint8_t gap,
                               size_t trailing, uint32_t alignment = 32) {
    Bytes f;
    f.raw({'G', 'G', 'U', 'F'}).u32(version).u64(tensors.size()).u64(9);
    f.str("general.architecture").u32(8).str("llama");
    f.str("general.alignment").u32(4).u32(alignment);
    f.str("a.u8").u32(0).le(200, 1);
    f.str("a.i16").u32(3).le(0xFFFE, 2);
    f.str("a.f64").u32(12).u64(0x400921FB54442D18ull);
    f.str("a.bool").u32(7).le(1, 1);
    f.str("tokenizer.ggml.tokens").u32(9).u32(8).u64(3).str("<s>").str("a").str("");
    f.str("tokenizer.ggml.scores").u32(9).u32(6).u64(2).u32(0x3F800000).u32(0xBF800000);
    f.str("general.file_type").u32(4).u32(0);
    for (const auto& t : tensors) {
        f.str(t.name).u32(static_cast<uint32_t>(t.ne.size()));
        for (uint64_t d : t.ne) f.u64(d);
        f.u32(t.type).u64(t.offset);
    }
    f.fill_to((f.b.size() + alignment - 1) / alignment * alignment, 0);
    const size_t data = f.b.size();
    std::vector<const GgufTensorSpec*> by_offset;
    for (const auto& t : tensors) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
    for (const GgufTensorSpec* t : by_offset) f.fill_to(data + t->offset, gap).raw(t->data);
    return f.fill_to(f.b.size() + trailing, gap).b;
}

// A small model: F32 / F16 / BF16 matrices, an F32 norm, a Q4_K matrix (no qstore
// scheme: passes through) and an I32 vector; infos not in offset order.
std::vector<GgufTensorSpec> model_tensors() {
    const std::vector<uint8_t> w = f32_matrix(64 * 4, 0.02f);
    std::vector<uint8_t> q4k(2 * 144);
    for (size_t i = 0; i < q4k.size(); ++i) q4k[i] = static_cast<uint8_t>(i * 13 + 5);
    return {{"blk.0.ffn_up.weight", 1, {64, 4}, 2048, narrowed(w, false)},
            {"token_embd.weight", 0, {64, 4}, 0, w},
            {"blk.0.attn_norm.weight", 0, {64}, 1024, f32_matrix(64, 1.0f)},
            {"blk.0.ffn_down.weight", 30, {64, 4}, 1536, narrowed(f32_matrix(64 * 4, 0.5f), true)},
            {"blk.0.attn_q.weight", 12, {256, 2}, 2560, q4k},
            {"ids", 26, {3}, 3072, {1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0}}};
}

std::string pack_gguf(const TempDir& dir, const std::string& gguf, const char* scheme) {
    qstore::GgufReader model(gguf, qstore::GgufUse::model);
    qstore::PackOptions o;
    o.low = {qstore::low_scheme_by_name(scheme)->spec()};
    o.gguf_layout = qstore::serialize_gguf_layout(model);
    const std::string qs = dir.file(std::string(scheme) + ".qs");
    qstore::pack(model, nullptr, o, qs);
    return qs;
}

qstore::ReaderOptions one_thread() {
    qstore::ReaderOptions o;
    o.threads = 1;
    return o;
}

}  // namespace

TEST_CASE("GGUF model: packed and written back byte for byte (v2, v3, padding, trailing bytes)", "[gguf_model]") {
    for (uint32_t version : {2u, 3u}) {
        for (uint8_t gap : {uint8_t(0), uint8_t(0xA5)}) {
            CAPTURE(version, gap);
            TempDir dir;
            const std::string in = dir.file("m.gguf");
            write_file(in, gguf_file(version, model_tensors(), gap, gap ? 77 : 0));
            for (const char* scheme : {"int8-row", "q8_0", "q4_0"}) {
                CAPTURE(scheme);
                const std::string qs = pack_gguf(dir, in, scheme);
                qstore::Reader r(qs, one_thread());
                CHECK(r.header().minor == 4);
                REQUIRE(r.gguf_layout() != nullptr);
                const qstore::TensorRecord& q4k = r.tensor(r.find("blk.0.attn_q.weight"));
                CHECK(!q4k.quantized());
                CHECK(q4k.high_dtype == qstore::DType::u8);
                CHECK(q4k.shape == std::vector<uint64_t>{2, 144});
                CHECK(r.tensor(r.find("token_embd.weight")).quantized());
                CHECK(r.tensor(r.find("token_embd.weight")).shape == std::vector<uint64_t>{4, 64});
                CHECK(!r.tensor(r.find("blk.0.attn_norm.weight")).quantized());
                const std::string out = dir.file("out.gguf");
                qstore::export_gguf_high(r, out);
                CHECK(first_mismatch(read_file(out), read_file(in)) == -1);
            }
        }
    }
}

TEST_CASE("GGUF model: the key/values typed on the Reader", "[gguf_model]") {
    TempDir dir;
    const std::string in = dir.file("m.gguf");
    write_file(in, gguf_file(3, model_tensors(), 0, 0));
    qstore::Reader r(pack_gguf(dir, in, "int8-row"), one_thread());
    const std::vector<qstore::GgufKV>& kvs = r.gguf_metadata();
    REQUIRE(kvs.size() == 9);
    CHECK(kvs[0].key == "general.architecture");
    CHECK(kvs[0].strings == std::vector<std::string>{"llama"});
    CHECK(kvs[2].element_type == qstore::kGgufU8);
    CHECK(kvs[2].values == std::vector<uint8_t>{200});
    CHECK(static_cast<int16_t>(qstore::load_le(kvs[3].values.data(), 2)) == -2);
    CHECK(kvs[4].text == "3.1415926535897931");
    CHECK(kvs[5].element_type == qstore::kGgufBool);
    CHECK(kvs[6].is_array());
    CHECK(kvs[6].element_type == qstore::kGgufString);
    CHECK(kvs[6].count == 3);
    CHECK(kvs[6].strings == std::vector<std::string>{"<s>", "a", ""});
    CHECK(kvs[7].element_type == qstore::kGgufF32);
    CHECK(kvs[7].values.size() == 8);
    // A file packed from safetensors has none.
    pack_model(dir, small_model(3), "st.qs", qstore::PackOptions{});
    qstore::Reader s(dir.file("st.qs"), one_thread());
    CHECK(s.gguf_layout() == nullptr);
    CHECK(s.gguf_metadata().empty());
    CHECK(s.header().minor == 3);
}

TEST_CASE("GGUF model: the low precision in llama-quantize's layout", "[gguf_model]") {
    TempDir dir;
    const std::string in = dir.file("m.gguf");
    write_file(in, gguf_file(2, model_tensors(), 0x11, 5, 64));
    for (const char* scheme : {"q8_0", "q4_0"}) {
        CAPTURE(scheme);
        qstore::Reader r(pack_gguf(dir, in, scheme), one_thread());
        const std::string out = dir.file(std::string(scheme) + ".gguf");
        qstore::export_gguf_low(r, 0, out);
        qstore::GgufReader low(out, qstore::GgufUse::model);
        qstore::GgufReader orig(in, qstore::GgufUse::model);
        CHECK(low.version() == 3);
        CHECK(low.alignment() == 64);
        // The original pairs in their order (general.file_type moved to the end), then
        // the two llama-quantize sets.
        const auto& kvs = low.metadata();
        REQUIRE(kvs.size() == 10);
        for (size_t i = 0; i < 8; ++i) CHECK(kvs[i].key == orig.metadata()[i].key);
        CHECK(kvs[8].key == "general.quantization_version");
        CHECK(kvs[8].text == "2");
        CHECK(kvs[9].key == "general.file_type");
        CHECK(kvs[9].text == (std::string(scheme) == "q8_0" ? "7" : "2"));
        const uint32_t qtype = std::string(scheme) == "q8_0" ? 8 : 2;
        REQUIRE(low.infos().size() == orig.infos().size());
        for (size_t i = 0; i < low.infos().size(); ++i) {
            const auto& li = low.infos()[i];
            const auto& oi = orig.infos()[i];
            CAPTURE(oi.name);
            CHECK(li.name == oi.name);
            CHECK(li.ne == oi.ne);
            const qstore::TensorRecord& t = r.tensor(r.find(oi.name));
            std::vector<uint8_t> expect(t.quantized() ? r.level_code_bytes(t, 0) : oi.size);
            if (t.quantized()) r.load_level(r.find(oi.name), 0, expect.data(), expect.size(), nullptr, 0, nullptr, 0);
            else orig.read(*orig.find(oi.name), expect.data());
            CHECK(li.type == (t.quantized() ? qtype : oi.type));
            std::vector<uint8_t> got(li.size);
            low.read(*low.find(li.name), got.data());
            CHECK(first_mismatch(got, expect) == -1);
        }
    }
    // A scheme without a ggml type cannot make a GGUF runtimes load.
    qstore::Reader r(pack_gguf(dir, in, "int8-row"), one_thread());
    CHECK(thrown_code([&] { qstore::export_gguf_low(r, 0, dir.file("x.gguf")); }) == qstore::Errc::unsupported);
}

TEST_CASE("GGUF model: damaged input is an error naming the file and the field", "[gguf_model]") {
    TempDir dir;
    const std::string path = dir.file("bad.gguf");
    auto message_of = [&](const std::vector<uint8_t>& bytes) {
        write_file(path, bytes);
        try {
            qstore::GgufReader r(path, qstore::GgufUse::model);
        } catch (const qstore::Error& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    auto tensors = model_tensors();
    const std::vector<uint8_t> good = gguf_file(3, tensors, 0, 0);
    CHECK(message_of(good).empty());
    std::vector<uint8_t> b = good;
    b[0] = 'X';
    CHECK(message_of(b).find("no GGUF magic") != std::string::npos);
    b = good;
    b[4] = 4;
    CHECK(message_of(b).find("GGUF version 4") != std::string::npos);
    b = good;
    b[8 + 7] = 0x40;  // tensor count
    CHECK(message_of(b).find("tensor count") != std::string::npos);
    b = good;
    b[16 + 6] = 0x40;  // key/value count
    CHECK(message_of(b).find("key/value count") != std::string::npos);
    b = good;
    b[24 + 5] = 0x7F;  // length of the first key
    CHECK(message_of(b).find("key length") != std::string::npos);
    auto with = [&](size_t i, auto change) {
        auto t = model_tensors();
        change(t[i]);
        return message_of(gguf_file(3, t, 0, 0));
    };
    CHECK(with(4, [](GgufTensorSpec& t) { t.type = 99; }).find("'blk.0.attn_q.weight': unknown ggml type 99") !=
          std::string::npos);
    CHECK(with(4, [](GgufTensorSpec& t) { t.type = 4; }).find("unknown ggml type 4") != std::string::npos);
    CHECK(with(2, [](GgufTensorSpec& t) { t.offset = 1040; }).find("is not a multiple of the alignment") !=
          std::string::npos);
    CHECK(with(2, [](GgufTensorSpec& t) { t.offset = 960; }).find("overlaps") != std::string::npos);
    CHECK(with(5, [](GgufTensorSpec& t) { t.ne = {1000}; }).find("'ids': data") != std::string::npos);
    CHECK(with(4, [](GgufTensorSpec& t) { t.ne = {200, 2}; }).find("multiple of 256") != std::string::npos);
    // Every truncation: an error, never a crash.
    for (size_t n = 0; n < good.size(); n += 7) {
        write_file(path, good.data(), n);
        CHECK(thrown_code([&] { qstore::GgufReader r(path, qstore::GgufUse::model); }) != qstore::Errc::ok);
    }
}

TEST_CASE("GGUF model: a damaged gguf_layout section is refused", "[gguf_model]") {
    TempDir dir;
    const std::string in = dir.file("m.gguf");
    write_file(in, gguf_file(3, model_tensors(), 0x5A, 9));
    qstore::GgufReader model(in, qstore::GgufUse::model);
    const std::vector<uint8_t> s = qstore::serialize_gguf_layout(model);
    const qstore::GgufLayout l = qstore::parse_gguf_layout(s.data(), s.size(), "s");
    CHECK(l.data_size == read_file(in).size() - model.data_offset());
    CHECK(l.gap_bytes.size() == l.data_size - (1024 + 256 + 512 + 512 + 288 + 12));
    for (size_t n = 0; n < s.size(); ++n)
        CHECK(thrown_code([&] { qstore::parse_gguf_layout(s.data(), n, "s"); }) == qstore::Errc::corrupt);
    std::vector<uint8_t> more = s;
    more.push_back(0);
    CHECK(thrown_code([&] { qstore::parse_gguf_layout(more.data(), more.size(), "s"); }) == qstore::Errc::corrupt);
}

TEST_CASE("GGUF model: the key/values as the C API's typed metadata", "[gguf_model]") {
    TempDir dir;
    const std::string in = dir.file("m.gguf");
    write_file(in, gguf_file(3, model_tensors(), 0, 0));
    qstore::GgufReader g(in, qstore::GgufUse::model);
    const qstore::Metadata m = qstore::metadata_of_gguf(g.metadata());
    REQUIRE(m.size() == 9);
    const qstore::MetadataEntry& arch = m.at(m.find("general.architecture"));
    CHECK(arch.type == qstore::ValueType::string);
    CHECK(!arch.is_array);
    CHECK(arch.string_at(0) == "llama");
    const qstore::MetadataEntry& u8 = m.at(m.find("a.u8"));
    CHECK(u8.type == qstore::ValueType::u8);
    CHECK(u8.bytes == std::vector<uint8_t>{200});
    CHECK(m.at(m.find("a.i16")).type == qstore::ValueType::i16);
    const qstore::MetadataEntry& f64 = m.at(m.find("a.f64"));
    double pi;
    std::memcpy(&pi, f64.bytes.data(), 8);
    CHECK(pi == 3.141592653589793);
    CHECK(m.at(m.find("a.bool")).type == qstore::ValueType::boolean);
    const qstore::MetadataEntry& tokens = m.at(m.find("tokenizer.ggml.tokens"));
    CHECK(tokens.is_array);
    CHECK(tokens.count == 3);
    CHECK(tokens.string_at(0) == "<s>");
    CHECK(tokens.string_at(2).empty());
    const qstore::MetadataEntry& scores = m.at(m.find("tokenizer.ggml.scores"));
    CHECK(scores.type == qstore::ValueType::f32);
    CHECK(scores.is_array);
    CHECK(scores.count == 2);
    float s1;
    std::memcpy(&s1, scores.bytes.data() + 4, 4);
    CHECK(s1 == -1.0f);
    CHECK(m.at(m.find("general.file_type")).type == qstore::ValueType::u32);
}

TEST_CASE("GGUF model: llama-quantize's type mix from a q8_0 > q4_0 chain", "[gguf_model]") {
    TempDir dir;
    const std::string in = dir.file("m.gguf");
    auto tensors = model_tensors();
    tensors.push_back({"blk.0.odd.weight", 0, {40, 2}, 3136, f32_matrix(80, 0.1f)});  // no block fits a row
    write_file(in, gguf_file(3, tensors, 0, 0));
    qstore::GgufReader model(in, qstore::GgufUse::model);
    qstore::PackOptions o;
    o.low = {qstore::low_scheme_by_name("q4_0")->spec(), qstore::low_scheme_by_name("q8_0")->spec()};
    o.gguf_layout = qstore::serialize_gguf_layout(model);
    qstore::pack(model, nullptr, o, dir.file("chain.qs"));
    qstore::Reader r(dir.file("chain.qs"), one_thread());
    const std::string out = dir.file("mix.gguf");
    qstore::export_gguf_low(r, 0, out, nullptr, true);
    qstore::GgufReader low(out, qstore::GgufUse::model);
    auto bytes_of = [&](const std::string& name) {
        const qstore::SafetensorsTensor* t = low.find(name);
        REQUIRE(t);
        std::vector<uint8_t> b(t->size);
        low.read(*t, b.data());
        return b;
    };
    auto level_codes = [&](const std::string& name, size_t level) {
        const size_t i = r.find(name);
        std::vector<uint8_t> b(r.level_code_bytes(r.tensor(i), level));
        r.load_level(i, level, b.data(), b.size(), nullptr, 0, nullptr, 0);
        return b;
    };
    // The output tensor (here token_embd.weight: no output.weight) from the q8_0 level.
    CHECK(low.infos()[1].name == "token_embd.weight");
    CHECK(low.infos()[1].type == 8);
    CHECK(first_mismatch(bytes_of("token_embd.weight"), level_codes("token_embd.weight", 1)) == -1);
    CHECK(low.infos()[0].type == 2);
    CHECK(first_mismatch(bytes_of("blk.0.ffn_up.weight"), level_codes("blk.0.ffn_up.weight", 0)) == -1);
    // The F32 matrix of 40-element rows as F16.
    CHECK(low.infos()[6].type == 1);
    CHECK(first_mismatch(bytes_of("blk.0.odd.weight"), narrowed(tensors[6].data, false)) == -1);
    CHECK(low.kv("general.file_type")->text == "2");
    // Without a q8_0 level above the q4_0 one there is no mix to make.
    qstore::Reader q4(pack_gguf(dir, in, "q4_0"), one_thread());
    CHECK(thrown_code([&] { qstore::export_gguf_low(q4, 0, dir.file("x.gguf"), nullptr, true); }) ==
          qstore::Errc::invalid_argument);
}
