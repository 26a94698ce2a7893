// Damaged files: truncation and flipped bytes.
//   - a file cut anywhere fails cleanly (QS_ERR_NOT_QSTORE below the magic, QS_ERR_TRUNCATED
//     elsewhere), never crashes, never returns wrong data;
//   - a file cut exactly at low_prefix_end opens, every low load is identical to the full
//     file's, and high loads of quantized tensors report QS_ERR_TRUNCATED ("truncated");
//   - with default options, after flipping any single byte every load returns either the
//     exact original bytes or an error, and qs_verify fails for every byte inside the
//     header, the directory or a section;
//   - with checksums disabled, damaged files still never crash the reader.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "base/error.hpp"
#include "container/format.hpp"
#include "qs_util.hpp"
#include "read/reader.hpp"

using namespace qs_test;
using qstore::DType;

namespace {

// The pristine file and what every load of it must return.
struct Packed {
    std::string path;
    std::vector<uint8_t> bytes;
    std::vector<std::vector<uint8_t>> high, codes, scales;
    std::vector<bool> quantized;
    uint64_t low_prefix_end = 0;
    uint64_t directory_offset = 0, directory_end = 0;
    std::vector<qstore::SectionEntry> sections;
};

Packed make_packed(const TempDir& dir, const std::vector<Tensor>& model, bool low_raw, const std::string& name,
                   uint64_t block_elements = 64) {
    qstore::PackOptions o;
    o.low_raw = low_raw;
    o.block_elements = block_elements;
    o.threads = 1;
    pack_model(dir, model, name, o);
    Packed p;
    p.path = dir.file(name);
    p.bytes = read_file(p.path);
    {
        qstore::ReaderOptions ro;
        ro.threads = 1;
        qstore::Reader r(p.path, ro);
        p.low_prefix_end = r.header().low_prefix_end;
        p.directory_offset = r.header().directory_offset;
        p.directory_end = p.directory_offset + qstore::directory_size(r.header().directory_count);
        p.sections = r.sections();
    }
    FilePtr f = open_qs(p.path);
    REQUIRE(f);
    REQUIRE(qs_tensor_count(f.get()) == model.size());
    for (size_t i = 0; i < model.size(); ++i) {
        std::vector<uint8_t> h;
        REQUIRE(load_high(f.get(), i, h) == QS_OK);
        LowData l;
        REQUIRE(load_low(f.get(), i, l) == QS_OK);
        p.high.push_back(h);
        p.codes.push_back(l.codes);
        p.scales.push_back(l.scales);
        p.quantized.push_back(tensor_info(f.get(), i).low_scheme != QS_LOW_PASSTHROUGH);
    }
    // The pristine loads are themselves right (the round-trip tests check this in depth).
    for (size_t i = 0; i < model.size(); ++i) {
        const size_t k = static_cast<size_t>(std::find_if(model.begin(), model.end(), [&](const Tensor& t) {
                                                 return t.name == tensor_info(f.get(), i).name;
                                             }) - model.begin());
        REQUIRE(k < model.size());
        REQUIRE(first_mismatch(p.high[i], model[k].bytes) == -1);
    }
    REQUIRE(qs_verify(f.get()) == QS_OK);
    return p;
}

bool is_load_error(qs_status s) {
    return s == QS_ERR_CORRUPT || s == QS_ERR_TRUNCATED || s == QS_ERR_NOT_QSTORE || s == QS_ERR_UNSUPPORTED;
}

// Loads every tensor of an open (possibly damaged) file: each load must give the exact
// original bytes or a clean error. Returns the number of failed loads; `bad` counts
// wrong data or unexpected statuses (with a message in `why`).
struct LoadOutcome {
    size_t failed = 0;
    size_t bad = 0;
    std::string why;
    std::vector<qs_status> low_status, high_status;
};

LoadOutcome load_everything(qs_file* f, const Packed& p) {
    LoadOutcome o;
    const size_t n = qs_tensor_count(f);
    if (n != p.high.size()) {
        o.bad++;
        o.why = "tensor count changed";
        return o;
    }
    for (size_t i = 0; i < n; ++i) {
        qs_tensor_info info = tensor_info(f, i);
        if (info.high_bytes != p.high[i].size() || info.low_code_bytes != p.codes[i].size() ||
            info.low_scale_bytes != p.scales[i].size()) {
            o.bad++;
            o.why = "tensor info changed";
            return o;
        }
        LowData l;
        qs_status s = load_low(f, i, l);
        o.low_status.push_back(s);
        if (s == QS_OK) {
            if (l.codes != p.codes[i] || l.scales != p.scales[i]) {
                o.bad++;
                o.why = "qs_load_low returned wrong data for tensor " + std::to_string(i);
            }
        } else if (is_load_error(s)) {
            o.failed++;
        } else {
            o.bad++;
            o.why = std::string("qs_load_low: unexpected status ") + qs_status_string(s) + ": " + qs_last_error_message();
        }
        std::vector<uint8_t> h;
        s = load_high(f, i, h);
        o.high_status.push_back(s);
        if (s == QS_OK) {
            if (h != p.high[i]) {
                o.bad++;
                o.why = "qs_load_high returned wrong data for tensor " + std::to_string(i);
            }
        } else if (is_load_error(s)) {
            o.failed++;
        } else {
            o.bad++;
            o.why = std::string("qs_load_high: unexpected status ") + qs_status_string(s) + ": " + qs_last_error_message();
        }
    }
    return o;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

void check_truncations(const TempDir& dir, const Packed& p) {
    const uint64_t size = p.bytes.size();
    std::set<uint64_t> cuts;
    for (uint64_t c = 0; c <= 200 && c < size; ++c) cuts.insert(c);
    auto around = [&](uint64_t x) {
        for (int64_t d : {-2, -1, 0, 1, 2}) {
            const int64_t c = static_cast<int64_t>(x) + d;
            if (c >= 0 && static_cast<uint64_t>(c) < size) cuts.insert(static_cast<uint64_t>(c));
        }
    };
    for (const auto& s : p.sections) {
        around(s.offset);
        around(s.offset + s.stored_size);
        around(s.offset + s.stored_size / 2);
        around(s.offset + s.stored_size / 3);
    }
    around(p.directory_offset);
    around(p.directory_end);
    around(p.low_prefix_end);
    around(size - 1);
    std::mt19937_64 rng(size);
    for (int k = 0; k < 60; ++k) cuts.insert(rng() % size);

    const std::string cut_path = dir.file("cut.qs");
    size_t opened = 0;
    for (uint64_t cut : cuts) {
        CAPTURE(cut, size, p.directory_end, p.low_prefix_end);
        write_file(cut_path, p.bytes.data(), cut);
        qs_status st;
        FilePtr f = open_qs(cut_path, &st);
        const std::string msg = qs_last_error_message();
        INFO("open: " << qs_status_string(st) << ": " << msg);
        if (cut < 8) {
            CHECK(st == QS_ERR_NOT_QSTORE);
            CHECK_FALSE(f);
            continue;
        }
        if (cut < p.directory_end) {
            // The directory, index and metadata are all needed to open.
            CHECK(st == QS_ERR_TRUNCATED);
            CHECK(contains(msg, "truncated"));
            CHECK(contains(msg, cut_path));
            CHECK_FALSE(f);
            continue;
        }
        if (cut >= p.low_prefix_end) REQUIRE(st == QS_OK);  // documented: a file cut after its low part opens
        if (st != QS_OK) {
            CHECK(st == QS_ERR_TRUNCATED);
            continue;
        }
        ++opened;
        LoadOutcome o = load_everything(f.get(), p);
        INFO(o.why);
        CHECK(o.bad == 0);
        for (size_t i = 0; i < o.low_status.size(); ++i) {
            INFO("tensor " << i);
            if (cut >= p.low_prefix_end) CHECK(o.low_status[i] == QS_OK);
            if (o.low_status[i] != QS_OK) CHECK(o.low_status[i] == QS_ERR_TRUNCATED);
            if (o.high_status[i] != QS_OK) CHECK(o.high_status[i] == QS_ERR_TRUNCATED);
        }
        CHECK(qs_verify(f.get()) == QS_ERR_TRUNCATED);
    }
    CHECK(opened > 0);
}

struct Regions {
    // [begin, end) ranges covered by a checksum: header, directory, sections.
    std::vector<std::pair<uint64_t, uint64_t>> checked;
    bool covered(uint64_t pos) const {
        for (const auto& [b, e] : checked)
            if (pos >= b && pos < e) return true;
        return false;
    }
};

Regions regions_of(const Packed& p) {
    Regions r;
    r.checked.push_back({0, qstore::kHeaderSize});
    r.checked.push_back({p.directory_offset, p.directory_end});
    for (const auto& s : p.sections) r.checked.push_back({s.offset, s.offset + s.stored_size});
    return r;
}

// Flips bytes of `p` in place in a working copy, one at a time.
void check_flips(const TempDir& dir, const Packed& p, uint64_t stride, bool verify_checksums) {
    const std::string path = dir.file("flip.qs");
    write_file(path, p.bytes);
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    const Regions regions = regions_of(p);
    size_t positions = 0, open_failed = 0, load_failed = 0, verify_failed = 0, bad = 0, unnoticed_in_section = 0,
           gap_trouble = 0;
    std::string first_bad;
    for (uint64_t pos = 0; pos < p.bytes.size(); pos += stride) {
        for (uint8_t mask : {static_cast<uint8_t>(1u << (pos % 8)), uint8_t(0xFF)}) {
            ++positions;
            const uint8_t flipped = static_cast<uint8_t>(p.bytes[pos] ^ mask);
            REQUIRE(::pwrite(fd, &flipped, 1, static_cast<off_t>(pos)) == 1);
            qs_status st;
            {
                FilePtr f = open_qs(path, &st, 1, verify_checksums ? 1 : 0);
                if (st != QS_OK) {
                    ++open_failed;
                    if (!is_load_error(st) || f || std::string(qs_last_error_message()).empty()) {
                        if (bad++ == 0)
                            first_bad = "open at " + std::to_string(pos) + ": " + qs_status_string(st) + ": " +
                                        qs_last_error_message();
                    }
                    if (!regions.covered(pos)) ++gap_trouble;
                } else {
                    LoadOutcome o = load_everything(f.get(), p);
                    if (verify_checksums && o.bad) {
                        if (bad++ == 0) first_bad = "at " + std::to_string(pos) + ": " + o.why;
                    }
                    if (!verify_checksums) {
                        // Without checksums wrong data is possible; only clean statuses are required.
                        for (auto s : o.low_status)
                            if (s != QS_OK && !is_load_error(s) && bad++ == 0)
                                first_bad = "at " + std::to_string(pos) + ": low status " + qs_status_string(s);
                        for (auto s : o.high_status)
                            if (s != QS_OK && !is_load_error(s) && bad++ == 0)
                                first_bad = "at " + std::to_string(pos) + ": high status " + qs_status_string(s);
                    }
                    if (o.failed) ++load_failed;
                    const qs_status v = qs_verify(f.get());
                    if (v != QS_OK) ++verify_failed;
                    if (v != QS_OK && !is_load_error(v) && bad++ == 0)
                        first_bad = "verify at " + std::to_string(pos) + ": " + qs_status_string(v);
                    if (regions.covered(pos)) {
                        if (v == QS_OK && verify_checksums) {
                            if (unnoticed_in_section++ == 0 && first_bad.empty())
                                first_bad = "qs_verify accepted a flipped byte at " + std::to_string(pos);
                        }
                    } else if (o.failed || o.bad || v != QS_OK) {
                        ++gap_trouble;  // padding between sections: nothing may change
                    }
                }
            }
            REQUIRE(::pwrite(fd, &p.bytes[pos], 1, static_cast<off_t>(pos)) == 1);
        }
    }
    ::close(fd);
    INFO(first_bad);
    CAPTURE(positions, open_failed, load_failed, verify_failed);
    CHECK(bad == 0);
    CHECK(gap_trouble == 0);
    if (verify_checksums) CHECK(unnoticed_in_section == 0);
    CHECK(open_failed > 0);
}

std::vector<Tensor> corruption_model(uint64_t seed) {
    // small_model plus a tensor of many blocks and one with a long row.
    std::vector<Tensor> m = small_model(seed);
    Gen g(seed + 1);
    m.push_back(g.float_tensor("many_blocks.weight", DType::bf16, {40, 6}));
    m.push_back(g.float_tensor("long_row.weight", DType::f32, {2, 150}));
    return m;
}

}  // namespace

TEST_CASE("truncated files fail cleanly at every cut", "[corruption][truncation]") {
    const bool low_raw = GENERATE(false, true);
    CAPTURE(low_raw);
    TempDir dir;
    Packed p = make_packed(dir, corruption_model(3), low_raw, "t.qs");
    check_truncations(dir, p);
}

TEST_CASE("a file cut at low_prefix_end serves the low precision exactly", "[corruption][truncation]") {
    const bool low_raw = GENERATE(false, true);
    CAPTURE(low_raw);
    TempDir dir;
    Packed p = make_packed(dir, corruption_model(4), low_raw, "full.qs");
    REQUIRE(p.low_prefix_end < p.bytes.size());
    const std::string cut_path = dir.file("low-only.qs");
    write_file(cut_path, p.bytes.data(), p.low_prefix_end);

    qs_status st;
    FilePtr f = open_qs(cut_path, &st, 2);
    INFO(qs_last_error_message());
    REQUIRE(st == QS_OK);
    REQUIRE(qs_tensor_count(f.get()) == p.high.size());
    size_t quantized = 0;
    for (size_t i = 0; i < p.high.size(); ++i) {
        qs_tensor_info info = tensor_info(f.get(), i);
        const std::string name = info.name;
        INFO(name);
        LowData l;
        REQUIRE(load_low(f.get(), i, l) == QS_OK);
        CHECK(first_mismatch(l.codes, p.codes[i]) == -1);
        CHECK(first_mismatch(l.scales, p.scales[i]) == -1);
        if (low_raw) {
            const void* c = nullptr;
            const void* s = nullptr;
            REQUIRE(qs_view_low(f.get(), i, &c, &s) == QS_OK);
            CHECK(first_mismatch(c, p.codes[i].size(), p.codes[i].data(), p.codes[i].size()) == -1);
        }
        std::vector<uint8_t> h(info.high_bytes, 0x5A);
        const qs_status hs = qs_load_high(f.get(), i, h.data(), h.size());
        if (p.quantized[i]) {
            ++quantized;
            CHECK(hs == QS_ERR_TRUNCATED);
            const std::string msg = qs_last_error_message();
            CHECK(contains(msg, "truncated"));
            CHECK(contains(msg, cut_path));
            CHECK(contains(msg, name));
        } else {
            CHECK(hs == QS_OK);  // passthrough tensors live in the low prefix
            CHECK(first_mismatch(h, p.high[i]) == -1);
        }
    }
    CHECK(quantized >= 4);
    const qs_status v = qs_verify(f.get());
    CHECK(v == QS_ERR_TRUNCATED);
    CHECK(contains(qs_last_error_message(), "truncated"));
}

TEST_CASE("single flipped bytes never yield wrong data and qs_verify catches them", "[corruption][flips]") {
    const bool low_raw = GENERATE(false, true);
    CAPTURE(low_raw);
    TempDir dir;
    Packed p = make_packed(dir, corruption_model(5), low_raw, "f.qs");
    INFO("file of " << p.bytes.size() << " bytes, every position");
    check_flips(dir, p, 1, true);
}

TEST_CASE("flipped bytes in a larger file with default coding blocks", "[corruption][flips]") {
    const bool low_raw = GENERATE(false, true);
    CAPTURE(low_raw);
    TempDir dir;
    Gen g(6);
    std::vector<Tensor> model = {g.float_tensor("a.weight", DType::f32, {300, 97}),
                                 g.float_tensor("b.weight", DType::bf16, {128, 256}),
                                 g.float_tensor("c.weight", DType::f16, {64, 64}), g.float_tensor("n", DType::f32, {97})};
    Packed p = make_packed(dir, model, low_raw, "big.qs", 4096);
    const uint64_t stride = std::max<uint64_t>(1, p.bytes.size() / 1500) | 1;
    INFO("file of " << p.bytes.size() << " bytes, stride " << stride);
    check_flips(dir, p, stride, true);
}

TEST_CASE("damaged files never crash the reader even with checksums disabled", "[corruption][flips]") {
    const bool low_raw = GENERATE(false, true);
    CAPTURE(low_raw);
    TempDir dir;
    Packed p = make_packed(dir, corruption_model(7), low_raw, "n.qs");
    check_flips(dir, p, 1, false);
}

TEST_CASE("errors from damaged residual blocks name the file, the tensor and the block", "[corruption][flips]") {
    // Error messages are assembled on the way out of a load (the reader adds the tensor,
    // the block loop the block number): every failed load names its file and tensor, and
    // damage inside a block's data names that block.
    TempDir dir;
    Packed p = make_packed(dir, corruption_model(11), false, "ctx.qs");
    const std::string path = dir.file("ctx-flip.qs");
    size_t failed = 0, named_block = 0;
    for (uint64_t pos = p.low_prefix_end; pos < p.bytes.size(); pos += 3) {  // the residuals' section
        std::vector<uint8_t> bytes = p.bytes;
        bytes[pos] ^= 0xFF;
        write_file(path, bytes);
        qs_status st;
        FilePtr f = open_qs(path, &st, 1, 0);  // checksums off: the decoders see the damage
        if (!f) continue;
        for (size_t i = 0; i < qs_tensor_count(f.get()); ++i) {
            const qs_tensor_info info = tensor_info(f.get(), i);
            std::vector<uint8_t> out(info.high_bytes + 1);
            if (qs_load_high(f.get(), i, out.data(), out.size()) == QS_OK) continue;
            ++failed;
            const std::string msg = qs_last_error_message();
            INFO(msg);
            CHECK(contains(msg, path));
            CHECK(contains(msg, std::string("tensor '") + info.name + "'"));
            if (contains(msg, "residual block ")) ++named_block;
        }
    }
    CHECK(failed > 0);
    CHECK(named_block > 0);
}

TEST_CASE("random multi-byte damage never yields wrong data", "[corruption][flips]") {
    TempDir dir;
    Packed p = make_packed(dir, corruption_model(8), false, "m.qs");
    const std::string path = dir.file("multi.qs");
    std::mt19937_64 rng(8);
    size_t bad = 0;
    std::string why;
    for (int round = 0; round < 400; ++round) {
        std::vector<uint8_t> b = p.bytes;
        const int flips = 2 + static_cast<int>(rng() % 8);
        for (int k = 0; k < flips; ++k) b[rng() % b.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
        if (rng() % 4 == 0) b.resize(rng() % b.size());
        write_file(path, b);
        qs_status st;
        FilePtr f = open_qs(path, &st);
        if (!f) {
            if (!is_load_error(st) && bad++ == 0) why = std::string("open: ") + qs_status_string(st);
            continue;
        }
        LoadOutcome o = load_everything(f.get(), p);
        if (o.bad && bad++ == 0) why = o.why;
        const qs_status v = qs_verify(f.get());
        if (v != QS_OK && !is_load_error(v) && bad++ == 0) why = std::string("verify: ") + qs_status_string(v);
    }
    INFO(why);
    CHECK(bad == 0);
}

TEST_CASE("`qstore verify` and `qstore unpack` fail on damaged and truncated files", "[corruption][cli]") {
    const std::string cli = cli_path();
    if (cli.empty() || !fs::exists(cli)) {
        WARN("qstore CLI not built; skipping");
        return;
    }
    TempDir dir;
    Packed p = make_packed(dir, corruption_model(9), false, "ok.qs");
    auto verify = [&](const std::string& path) {
        return run_command(shell_quote(cli) + " verify " + shell_quote(path) + " > /dev/null 2>&1");
    };
    auto unpack = [&](const std::string& path, const char* precision) {
        return run_command(shell_quote(cli) + " unpack --precision " + precision + " " + shell_quote(path) + " -o " +
                           shell_quote(dir.file("out.safetensors")) + " > /dev/null 2>&1");
    };
    CHECK(verify(p.path) == 0);
    CHECK(unpack(p.path, "high") == 0);

    std::vector<uint8_t> damaged = p.bytes;
    damaged[p.bytes.size() - 10] ^= 0x20;  // inside the residual section
    write_file(dir.file("damaged.qs"), damaged);
    CHECK(verify(dir.file("damaged.qs")) != 0);

    write_file(dir.file("low-only.qs"), p.bytes.data(), p.low_prefix_end);
    CHECK(verify(dir.file("low-only.qs")) != 0);
    CHECK(unpack(dir.file("low-only.qs"), "high") != 0);
    CHECK(unpack(dir.file("low-only.qs"), "low") == 0);  // the low prefix is a complete low-precision file
}

// A file that another process truncates while a handle is open: every call reports
// QS_ERR_TRUNCATED (the library reads with pread), none dies of SIGBUS.
TEST_CASE("a file truncated under an open handle gives QS_ERR_TRUNCATED, not SIGBUS", "[corruption][shrink]") {
    const bool low_raw = GENERATE(false, true);
    CAPTURE(low_raw);
    TempDir dir;
    Packed p = make_packed(dir, corruption_model(11), low_raw, "shrinks.qs");
    for (const uint64_t keep : {uint64_t{0}, uint64_t{100}, p.low_prefix_end / 2}) {
        CAPTURE(keep);
        write_file(p.path, p.bytes);
        qs_status st;
        FilePtr f = open_qs(p.path, &st);
        REQUIRE(st == QS_OK);
        REQUIRE(::truncate(p.path.c_str(), static_cast<off_t>(keep)) == 0);
        size_t views_truncated = 0;
        CHECK(qs_verify(f.get()) == QS_ERR_TRUNCATED);
        for (size_t i = 0; i < p.high.size(); ++i) {
            std::vector<uint8_t> h;
            CHECK(load_high(f.get(), i, h) == QS_ERR_TRUNCATED);
            if (!low_raw) continue;
            const void* codes = nullptr;
            const void* scales = nullptr;
            const qs_status vs = qs_view_low(f.get(), i, &codes, &scales);
            if (vs == QS_OK) {  // a view inside the bytes that remain
                CHECK(first_mismatch(codes, p.codes[i].size(), p.codes[i].data(), p.codes[i].size()) == -1);
            } else {
                CHECK(vs == QS_ERR_TRUNCATED);
                ++views_truncated;
            }
        }
        if (low_raw) CHECK(views_truncated > 0);
    }
}

// The high input shrinks after it was opened: the pack fails with a truncation error
// (passthrough tensors included) instead of dying of SIGBUS in the mapping.
TEST_CASE("a high input truncated during the pack is an error, not SIGBUS", "[corruption][shrink]") {
    Gen g(13);
    std::vector<Tensor> model = {g.random_tensor("ids", DType::i32, {64, 64})};  // passthrough, first in the file
    for (Tensor& t : corruption_model(12)) model.push_back(std::move(t));
    TempDir dir;
    const std::string input = dir.file("high.safetensors");
    write_safetensors(input, model);
    qstore::SafetensorsReader high(input);
    REQUIRE(::truncate(input.c_str(), 64) == 0);
    qstore::PackOptions o;
    o.threads = 1;
    try {
        qstore::pack(high, nullptr, o, dir.file("out.qs"));
        FAIL("pack succeeded from a truncated input");
    } catch (const qstore::Error& e) {
        CHECK(e.code() == qstore::Errc::truncated);
    }
    CHECK_FALSE(fs::exists(dir.file("out.qs")));
}
