// Error handling of the C API: status strings, per-thread messages naming file and
// tensor, NULL arguments, small buffers (nothing written), unknown names, files that
// are not qstore files, newer format versions, unknown sections, zero-copy views,
// options and the version number.
#include <catch2/catch.hpp>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "base/byte_io.hpp"
#include "container/format.hpp"
#include "qs_util.hpp"
#include "read/reader.hpp"

using namespace qs_test;
using qstore::DType;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

struct Fixture {
    TempDir dir;
    std::vector<Tensor> model = small_model(42);
    std::string coded, raw;
    Fixture() {
        qstore::PackOptions o;
        o.block_elements = 64;
        pack_model(dir, model, "coded.qs", o);
        o.low_raw = true;
        pack_model(dir, model, "raw.qs", o);
        coded = dir.file("coded.qs");
        raw = dir.file("raw.qs");
    }
    size_t index_of(qs_file* f, const std::string& name) const {
        size_t i = SIZE_MAX;
        REQUIRE(qs_find_tensor(f, name.c_str(), &i) == QS_OK);
        return i;
    }
};

const char* kQuantized = "layers.0.attn.q_proj.weight";  // F32 [9, 20]
const char* kPassthrough = "layers.0.norm.weight";        // F32 [16]

void rechecksum_header(std::vector<uint8_t>& b) {
    qstore::store_le(b.data() + 56, XXH3_64bits(b.data(), 56), 8);
}

}  // namespace

TEST_CASE("qs_status_string describes every status", "[errors]") {
    std::set<std::string> seen;
    for (int s = QS_OK; s <= QS_ERR_INTERNAL; ++s) {
        const char* text = qs_status_string(static_cast<qs_status>(s));
        REQUIRE(text != nullptr);
        CHECK(std::strlen(text) > 0);
        CHECK(seen.insert(text).second);  // all different
    }
    for (int s : {-1, 12, 999}) {
        const char* text = qs_status_string(static_cast<qs_status>(s));
        REQUIRE(text != nullptr);
        CHECK(std::strlen(text) > 0);
    }
    CHECK(std::string(qs_status_string(QS_ERR_TRUNCATED)).find("truncated") != std::string::npos);
}

TEST_CASE("the linked library reports the header's version", "[errors][version]") {
    CHECK(qs_version_number() == QS_VERSION_NUMBER);
    CHECK(QS_VERSION_NUMBER == QS_VERSION_MAJOR * 10000 + QS_VERSION_MINOR * 100 + QS_VERSION_PATCH);
    const std::string expected = std::to_string(QS_VERSION_MAJOR) + "." + std::to_string(QS_VERSION_MINOR) + "." +
                                 std::to_string(QS_VERSION_PATCH);
    REQUIRE(qs_version_string() != nullptr);
    CHECK(std::string(qs_version_string()) == expected);
}

TEST_CASE("NULL arguments and bad indices are QS_ERR_INVALID_ARGUMENT", "[errors]") {
    Fixture fx;
    qs_file* f = nullptr;
    REQUIRE(qs_open(fx.coded.c_str(), &f) == QS_OK);
    FilePtr owner(f);
    const size_t n = qs_tensor_count(f);
    const size_t q = fx.index_of(f, kQuantized);
    std::vector<uint8_t> buf(1 << 16);
    qs_tensor_info info{};
    info.struct_size = sizeof(info);
    size_t idx = 0;
    const void* cp = nullptr;
    const void* sp = nullptr;

    qs_file* out = reinterpret_cast<qs_file*>(&buf);  // garbage that must be reset to NULL
    CHECK(qs_open(nullptr, &out) == QS_ERR_INVALID_ARGUMENT);
    CHECK(out == nullptr);
    CHECK(std::strlen(qs_last_error_message()) > 0);
    CHECK(qs_open(fx.coded.c_str(), nullptr) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_open_ex(nullptr, nullptr, &out) == QS_ERR_INVALID_ARGUMENT);
    qs_open_options bad = qs_open_options_default();
    bad.struct_size = 0;
    out = reinterpret_cast<qs_file*>(&buf);
    CHECK(qs_open_ex(fx.coded.c_str(), &bad, &out) == QS_ERR_INVALID_ARGUMENT);
    CHECK(out == nullptr);

    CHECK(qs_tensor_count(nullptr) == 0);
    CHECK(qs_tensor_info_get(nullptr, 0, &info) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_tensor_info_get(f, 0, nullptr) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_tensor_info_get(f, n, &info) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_tensor_info_get(f, SIZE_MAX, &info) == QS_ERR_INVALID_ARGUMENT);
    qs_tensor_info small{};
    small.struct_size = sizeof(size_t);
    CHECK(qs_tensor_info_get(f, 0, &small) == QS_ERR_INVALID_ARGUMENT);

    CHECK(qs_find_tensor(nullptr, kQuantized, &idx) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_find_tensor(f, nullptr, &idx) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_find_tensor(f, kQuantized, nullptr) == QS_ERR_INVALID_ARGUMENT);

    CHECK(qs_load_low(nullptr, 0, buf.data(), buf.size(), buf.data(), buf.size()) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_load_low(f, n, buf.data(), buf.size(), buf.data(), buf.size()) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_load_low(f, q, nullptr, buf.size(), buf.data(), buf.size()) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_load_low(f, q, buf.data(), buf.size(), nullptr, buf.size()) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_load_high(nullptr, 0, buf.data(), buf.size()) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_load_high(f, n, buf.data(), buf.size()) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_load_high(f, q, nullptr, buf.size()) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_view_low(nullptr, 0, &cp, &sp) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_view_low(f, n, &cp, &sp) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_view_low(f, q, nullptr, &sp) == QS_ERR_INVALID_ARGUMENT);
    CHECK(qs_verify(nullptr) == QS_ERR_INVALID_ARGUMENT);
    {
        // Detected before anything is written (docs/API.md §5).
        std::vector<uint8_t> codes(4096, 0x77);
        const auto before = codes;
        CHECK(qs_load_low(f, q, codes.data(), codes.size(), nullptr, 4096) == QS_ERR_INVALID_ARGUMENT);
        CHECK(codes == before);
    }
    CHECK(std::strlen(qs_last_error_message()) > 0);
    qs_close(nullptr);  // allowed

    // The handle still works after all that.
    std::vector<uint8_t> h;
    CHECK(load_high(f, q, h) == QS_OK);
    CHECK(std::string(qs_last_error_message()).empty());
}

TEST_CASE("a buffer that is too small is QS_ERR_BUFFER_TOO_SMALL and nothing is written", "[errors]") {
    Fixture fx;
    for (const std::string& path : {fx.coded, fx.raw}) {
        CAPTURE(path);
        FilePtr f = open_qs(path);
        REQUIRE(f);
        for (size_t i = 0; i < qs_tensor_count(f.get()); ++i) {
            qs_tensor_info info = tensor_info(f.get(), i);
            const std::string name = info.name;
            INFO(name);
            if (info.high_bytes == 0) continue;
            std::vector<uint8_t> a(info.high_bytes + 16, 0xA5), b(info.low_scale_bytes + 16, 0x5A);
            const auto a0 = a, b0 = b;

            CHECK(qs_load_high(f.get(), i, a.data(), info.high_bytes - 1) == QS_ERR_BUFFER_TOO_SMALL);
            CHECK(a == a0);
            const std::string msg = qs_last_error_message();
            CHECK(contains(msg, path));
            CHECK(contains(msg, name));

            CHECK(qs_load_low(f.get(), i, a.data(), info.low_code_bytes - 1, b.data(), info.low_scale_bytes) ==
                  QS_ERR_BUFFER_TOO_SMALL);
            CHECK(a == a0);
            CHECK(b == b0);
            CHECK(contains(qs_last_error_message(), name));
            if (info.low_scale_bytes) {
                CHECK(qs_load_low(f.get(), i, a.data(), info.low_code_bytes, b.data(), info.low_scale_bytes - 1) ==
                      QS_ERR_BUFFER_TOO_SMALL);
                CHECK(a == a0);
                CHECK(b == b0);
                CHECK(qs_load_low(f.get(), i, a.data(), info.low_code_bytes, nullptr, 0) == QS_ERR_BUFFER_TOO_SMALL);
                CHECK(a == a0);
            }
            // Exactly the right size works and writes exactly that much.
            CHECK(qs_load_high(f.get(), i, a.data(), info.high_bytes) == QS_OK);
            CHECK(std::string(qs_last_error_message()).empty());
            CHECK(std::all_of(a.begin() + static_cast<long>(info.high_bytes), a.end(), [](uint8_t x) { return x == 0xA5; }));
        }
    }
}

TEST_CASE("unknown tensor names are QS_ERR_NOT_FOUND with a message naming them", "[errors]") {
    Fixture fx;
    FilePtr f = open_qs(fx.coded);
    REQUIRE(f);
    size_t idx = 12345;
    for (const char* name : {"nope", "", "layers.0.attn.q_proj", "LAYERS.0.ATTN.Q_PROJ.WEIGHT", "layers.0.attn.q_proj.weight "}) {
        CAPTURE(name);
        CHECK(qs_find_tensor(f.get(), name, &idx) == QS_ERR_NOT_FOUND);
        const std::string msg = qs_last_error_message();
        CHECK(contains(msg, fx.coded));
        CHECK(contains(msg, std::string("'") + name + "'"));
    }
    CHECK(qs_find_tensor(f.get(), kQuantized, &idx) == QS_OK);
    CHECK(std::string(qs_last_error_message()).empty());
    CHECK(std::string(tensor_info(f.get(), idx).name) == kQuantized);
}

TEST_CASE("files that are not qstore files are QS_ERR_NOT_QSTORE, missing ones QS_ERR_IO", "[errors]") {
    TempDir dir;
    std::mt19937_64 rng(1);
    std::vector<std::pair<std::string, std::vector<uint8_t>>> files;
    files.push_back({"empty", {}});
    files.push_back({"three bytes", {'a', 'b', 'c'}});
    files.push_back({"64 zero bytes", std::vector<uint8_t>(64, 0)});
    {
        std::vector<uint8_t> r(1000);
        for (auto& b : r) b = static_cast<uint8_t>(rng());
        files.push_back({"random", r});
    }
    {
        std::vector<uint8_t> almost = {0x89, 'Q', 'S', 'T', 'O', 'R', 'E', '\r'};
        almost.resize(4096, 0);
        files.push_back({"almost the magic", almost});
    }
    {
        std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
        png.resize(200, 1);
        files.push_back({"png", png});
    }
    write_safetensors(dir.file("model.safetensors"), small_model(1));
    files.push_back({"safetensors", read_file(dir.file("model.safetensors"))});

    for (const auto& [label, bytes] : files) {
        CAPTURE(label);
        const std::string path = dir.file("x.bin");
        write_file(path, bytes);
        qs_file* f = reinterpret_cast<qs_file*>(&dir);
        CHECK(qs_open(path.c_str(), &f) == QS_ERR_NOT_QSTORE);
        CHECK(f == nullptr);
        CHECK(contains(qs_last_error_message(), path));
    }
    qs_file* f = nullptr;
    const std::string missing = dir.file("does-not-exist.qs");
    CHECK(qs_open(missing.c_str(), &f) == QS_ERR_IO);
    CHECK(f == nullptr);
    CHECK(contains(qs_last_error_message(), missing));
    CHECK(qs_open(dir.path().c_str(), &f) == QS_ERR_IO);  // a folder
    CHECK(f == nullptr);
}

TEST_CASE("a newer format version is QS_ERR_UNSUPPORTED (flags and reserved are ignored)", "[errors][format]") {
    Fixture fx;
    std::vector<uint8_t> b = read_file(fx.coded);
    REQUIRE(qstore::load_le(b.data() + 8, 2) == 1);
    const std::string path = fx.dir.file("v2.qs");

    // Sanity: re-checksumming an unchanged header keeps the file valid.
    rechecksum_header(b);
    write_file(path, b);
    {
        qs_status st;
        FilePtr f = open_qs(path, &st);
        CHECK(st == QS_OK);
    }
    for (uint16_t major : {uint16_t(2), uint16_t(0), uint16_t(0xFFFF)}) {
        CAPTURE(major);
        std::vector<uint8_t> v = b;
        qstore::store_le(v.data() + 8, major, 2);
        rechecksum_header(v);
        write_file(path, v);
        qs_file* f = nullptr;
        CHECK(qs_open(path.c_str(), &f) == QS_ERR_UNSUPPORTED);
        CHECK(f == nullptr);
        CHECK(contains(qs_last_error_message(), path));
    }
    // A minor version above this library's: written by a newer qstore with features
    // this one does not know (writers stamp the lowest version that reads the file).
    for (uint16_t minor : {uint16_t(qstore::kFormatMinor + 1), uint16_t(0xFFFF)}) {
        CAPTURE(minor);
        std::vector<uint8_t> v = b;
        qstore::store_le(v.data() + 10, minor, 2);
        rechecksum_header(v);
        write_file(path, v);
        qs_file* f = nullptr;
        CHECK(qs_open(path.c_str(), &f) == QS_ERR_UNSUPPORTED);
        CHECK(contains(qs_last_error_message(), "newer"));
    }
    // Minor versions this library knows, flags and reserved fields: opened (docs/FORMAT.md §3).
    for (uint16_t minor = 0; minor <= qstore::kFormatMinor; ++minor) {
        CAPTURE(minor);
        std::vector<uint8_t> v = b;
        qstore::store_le(v.data() + 10, minor, 2);        // minor
        qstore::store_le(v.data() + 12, 0xFFFFFFFFu, 4);  // flags
        qstore::store_le(v.data() + 36, 0x12345678u, 4);  // reserved
        qstore::store_le(v.data() + 48, 0xDEADBEEFu, 8);  // reserved
        rechecksum_header(v);
        write_file(path, v);
        qs_status st;
        FilePtr f = open_qs(path, &st);
        INFO(qs_last_error_message());
        REQUIRE(st == QS_OK);
        for (const auto& t : fx.model) {
            size_t i;
            REQUIRE(qs_find_tensor(f.get(), t.name.c_str(), &i) == QS_OK);
            std::vector<uint8_t> h;
            REQUIRE(load_high(f.get(), i, h) == QS_OK);
            CHECK(h == t.bytes);
        }
    }
    // A damaged header (checksum not updated) is corrupt.
    std::vector<uint8_t> d = b;
    d[20] ^= 1;  // file_size
    write_file(path, d);
    qs_file* f = nullptr;
    CHECK(qs_open(path.c_str(), &f) == QS_ERR_CORRUPT);
}

TEST_CASE("sections of unknown kind: required ones are refused, optional ones skipped", "[errors][format]") {
    Fixture fx;
    std::vector<uint8_t> b = read_file(fx.coded);
    qstore::ReaderOptions ro;
    ro.threads = 1;
    qstore::Reader r(fx.coded, ro);
    const uint64_t dir_off = r.header().directory_offset;
    const uint32_t count = r.header().directory_count;
    size_t meta = SIZE_MAX;
    for (size_t k = 0; k < r.sections().size(); ++k)
        if (r.sections()[k].kind == static_cast<uint32_t>(qstore::SectionKind::metadata)) meta = k;
    REQUIRE(meta != SIZE_MAX);
    auto patch = [&](uint32_t kind, uint32_t flags) {
        std::vector<uint8_t> v = b;
        uint8_t* e = v.data() + dir_off + meta * qstore::kDirectoryEntrySize;
        qstore::store_le(e, kind, 4);
        qstore::store_le(e + 4, flags, 4);
        const size_t body = count * qstore::kDirectoryEntrySize;
        qstore::store_le(v.data() + dir_off + body, XXH3_64bits(v.data() + dir_off, body), 8);
        return v;
    };
    const std::string path = fx.dir.file("sections.qs");

    write_file(path, patch(99, qstore::kSectionRequired | qstore::kSectionZstd));
    qs_file* f = nullptr;
    CHECK(qs_open(path.c_str(), &f) == QS_ERR_UNSUPPORTED);
    CHECK(f == nullptr);

    write_file(path, patch(99, qstore::kSectionZstd));
    qs_status st;
    FilePtr ok = open_qs(path, &st);
    INFO(qs_last_error_message());
    REQUIRE(st == QS_OK);
    for (const auto& t : fx.model) {
        size_t i;
        REQUIRE(qs_find_tensor(ok.get(), t.name.c_str(), &i) == QS_OK);
        std::vector<uint8_t> h;
        REQUIRE(load_high(ok.get(), i, h) == QS_OK);
        CHECK(h == t.bytes);
    }
}

TEST_CASE("load failures name the file and the tensor", "[errors]") {
    Fixture fx;
    qstore::ReaderOptions ro;
    ro.threads = 1;
    std::vector<uint8_t> b = read_file(fx.coded);
    uint64_t residual_at = 0;
    {
        qstore::Reader r(fx.coded, ro);
        const size_t i = r.find(kQuantized);
        const auto* part = r.tensor(i).part(1, qstore::PartRole::residual);
        REQUIRE(part);
        for (const auto& s : r.sections())
            if (s.kind == static_cast<uint32_t>(qstore::SectionKind::level_data) && s.level == 1)
                residual_at = s.offset + part->offset + part->size / 2;
    }
    REQUIRE(residual_at > 0);
    b[residual_at] ^= 0x40;
    const std::string path = fx.dir.file("damaged.qs");
    write_file(path, b);
    FilePtr f = open_qs(path);
    REQUIRE(f);
    const size_t i = fx.index_of(f.get(), kQuantized);
    std::vector<uint8_t> h;
    CHECK(load_high(f.get(), i, h) == QS_ERR_CORRUPT);
    const std::string msg = qs_last_error_message();
    CHECK(contains(msg, path));
    CHECK(contains(msg, kQuantized));
    // The message is per thread and cleared by the next successful call.
    LowData l;
    CHECK(load_low(f.get(), i, l) == QS_OK);
    CHECK(std::string(qs_last_error_message()).empty());
    CHECK(qs_verify(f.get()) == QS_ERR_CORRUPT);
    CHECK(contains(qs_last_error_message(), path));
}

TEST_CASE("qs_view_low gives aligned zero-copy views of --low-raw files", "[errors][view]") {
    Fixture fx;
    FilePtr f = open_qs(fx.raw);
    REQUIRE(f);
    for (size_t i = 0; i < qs_tensor_count(f.get()); ++i) {
        qs_tensor_info info = tensor_info(f.get(), i);
        INFO(info.name);
        CHECK(info.low_codes_are_raw == 1);
        LowData l;
        REQUIRE(load_low(f.get(), i, l) == QS_OK);
        const void* c = nullptr;
        const void* s = reinterpret_cast<const void*>(&fx);
        REQUIRE(qs_view_low(f.get(), i, &c, &s) == QS_OK);
        REQUIRE(c != nullptr);
        CHECK(reinterpret_cast<uintptr_t>(c) % 64 == 0);
        CHECK(first_mismatch(c, info.low_code_bytes, l.codes.data(), l.codes.size()) == -1);
        if (info.low_scheme == QS_LOW_PASSTHROUGH) {
            CHECK(s == nullptr);
        } else {
            REQUIRE(s != nullptr);
            CHECK(reinterpret_cast<uintptr_t>(s) % 64 == 0);
            CHECK(first_mismatch(s, info.low_scale_bytes, l.scales.data(), l.scales.size()) == -1);
        }
        // scales may be NULL
        const void* c2 = nullptr;
        CHECK(qs_view_low(f.get(), i, &c2, nullptr) == QS_OK);
        CHECK(c2 == c);
    }
}

TEST_CASE("qs_view_low of entropy-coded low codes is QS_ERR_NOT_AVAILABLE", "[errors][view]") {
    Fixture fx;
    FilePtr f = open_qs(fx.coded);
    REQUIRE(f);
    size_t quantized = 0;
    for (size_t i = 0; i < qs_tensor_count(f.get()); ++i) {
        qs_tensor_info info = tensor_info(f.get(), i);
        if (info.low_scheme == QS_LOW_PASSTHROUGH) continue;
        ++quantized;
        INFO(info.name);
        CHECK(info.low_codes_are_raw == 0);
        const void* c = nullptr;
        const void* s = nullptr;
        CHECK(qs_view_low(f.get(), i, &c, &s) == QS_ERR_NOT_AVAILABLE);
        CHECK(contains(qs_last_error_message(), info.name));
    }
    CHECK(quantized == 4);
}

// qstore.h / docs/API.md §4: passthrough tensors are stored raw and 64-byte aligned in
// any file (low_codes_are_raw = 1), so qs_view_low returns their bytes, aligned, also
// in files packed without --low-raw.
TEST_CASE("qs_view_low of passthrough tensors in a coded file returns their bytes", "[errors][view]") {
    Fixture fx;
    FilePtr f = open_qs(fx.coded);
    REQUIRE(f);
    size_t passthrough = 0;
    for (size_t i = 0; i < qs_tensor_count(f.get()); ++i) {
        qs_tensor_info info = tensor_info(f.get(), i);
        if (info.low_scheme != QS_LOW_PASSTHROUGH) continue;
        ++passthrough;
        INFO(info.name);
        CHECK(info.low_codes_are_raw == 1);
        const void* c = nullptr;
        const void* s = reinterpret_cast<const void*>(&fx);
        REQUIRE(qs_view_low(f.get(), i, &c, &s) == QS_OK);
        CHECK(s == nullptr);
        CHECK(reinterpret_cast<uintptr_t>(c) % 64 == 0);
        std::vector<uint8_t> h;
        REQUIRE(load_high(f.get(), i, h) == QS_OK);
        CHECK(first_mismatch(c, info.low_code_bytes, h.data(), h.size()) == -1);
    }
    CHECK(passthrough == 3);
}

TEST_CASE("open options: threads and checksum verification", "[errors][options]") {
    Fixture fx;
    const qs_open_options d = qs_open_options_default();
    CHECK(d.struct_size == sizeof(qs_open_options));
    CHECK(d.num_threads == 0);
    CHECK(d.verify_checksums == 1);
    for (uint32_t threads : {0u, 1u, 2u, 7u}) {
        for (int verify : {0, 1}) {
            qs_open_options o = qs_open_options_default();
            o.num_threads = threads;
            o.verify_checksums = verify;
            qs_file* f = nullptr;
            REQUIRE(qs_open_ex(fx.coded.c_str(), &o, &f) == QS_OK);
            FilePtr owner(f);
            for (const auto& t : fx.model) {
                size_t i;
                REQUIRE(qs_find_tensor(f, t.name.c_str(), &i) == QS_OK);
                std::vector<uint8_t> h;
                REQUIRE(load_high(f, i, h) == QS_OK);
                CHECK(h == t.bytes);
            }
        }
    }
    // verify_checksums = 0 really skips the part checksum: a flipped raw code byte loads.
    qstore::ReaderOptions ro;
    ro.threads = 1;
    uint64_t at = 0;
    {
        qstore::Reader r(fx.raw, ro);
        const auto& rec = r.tensor(r.find(kQuantized));
        const auto* codes = rec.part(0, qstore::PartRole::codes);
        REQUIRE(codes);
        REQUIRE(codes->encoding == qstore::PartEncoding::raw);
        for (const auto& s : r.sections())
            if (s.kind == static_cast<uint32_t>(qstore::SectionKind::level_data) && s.level == 0) at = s.offset + codes->offset;
    }
    std::vector<uint8_t> b = read_file(fx.raw);
    b[at] ^= 1;
    const std::string path = fx.dir.file("flipped.qs");
    write_file(path, b);
    FilePtr checked = open_qs(path, nullptr, 1, 1);
    FilePtr unchecked = open_qs(path, nullptr, 1, 0);
    REQUIRE(checked);
    REQUIRE(unchecked);
    const size_t i = fx.index_of(checked.get(), kQuantized);
    LowData l;
    CHECK(load_low(checked.get(), i, l) == QS_ERR_CORRUPT);
    CHECK(load_low(unchecked.get(), i, l) == QS_OK);
    CHECK(qs_verify(unchecked.get()) == QS_ERR_CORRUPT);  // verify always checks
}

TEST_CASE("tensor info describes both precisions", "[errors][info]") {
    Fixture fx;
    FilePtr f = open_qs(fx.coded);
    REQUIRE(f);
    const size_t q = fx.index_of(f.get(), kQuantized);
    const qs_tensor_info a = tensor_info(f.get(), q);
    CHECK(std::string(a.name) == kQuantized);
    CHECK(a.ndim == 2);
    CHECK(a.shape[0] == 9);
    CHECK(a.shape[1] == 20);
    for (int d = 2; d < QS_MAX_DIMS; ++d) CHECK(a.shape[d] == 0);
    CHECK(a.num_elements == 180);
    CHECK(a.high_dtype == QS_DTYPE_F32);
    CHECK(a.low_scheme == QS_LOW_INT8_ROW);
    CHECK(a.low_dtype == QS_DTYPE_I8);
    CHECK(a.high_bytes == 720);
    CHECK(a.low_code_bytes == 180);
    CHECK(a.low_scale_bytes == 36);
    CHECK(a.stored_low_bytes > 0);
    CHECK(a.stored_residual_bytes > 0);
    const size_t p = fx.index_of(f.get(), kPassthrough);
    const qs_tensor_info b = tensor_info(f.get(), p);
    CHECK(b.low_scheme == QS_LOW_PASSTHROUGH);
    CHECK(b.low_dtype == QS_DTYPE_F32);
    CHECK(b.high_bytes == 64);
    CHECK(b.low_code_bytes == 64);
    CHECK(b.low_scale_bytes == 0);
    CHECK(b.stored_low_bytes == 64);
    CHECK(b.stored_residual_bytes == 0);
    // Names stay valid while the file is open.
    const char* name = a.name;
    for (int k = 0; k < 100; ++k) tensor_info(f.get(), k % qs_tensor_count(f.get()));
    CHECK(std::string(name) == kQuantized);
}
