// libFuzzer target: a given low precision (`qstore pack --low FILE`) read from a fuzzed
// file and packed with a fixed high model. See README.md.
//
// Input: byte 0 = scheme (low 4 bits, index into kSchemes) + bit 4 = --low-raw; bytes
// 1.. = the low file, written as low.gguf if it starts with the GGUF magic (the CLI's
// test, is_gguf_file) and read by GgufReader, else as low.safetensors and read by
// SafetensorsReader — the two TensorSources `--low FILE` uses. Then qstore::pack(high,
// low, {that scheme}) runs on one thread. A pack that succeeds must give a file that
// qs_open opens and qs_verify passes: anything else aborts.
//
// The high model (written once per process, see high_model()) is also written to
// $QS_FUZZ_WRITE_HIGH when that is set, so that seeds can be made from it with the CLI
// (tests/fuzz/make_file_seeds.py).
#include <qstore/qstore.h>

#include "base/float_bits.hpp"
#include "fuzz_common.hpp"
#include "io/gguf.hpp"
#include "schemes/registry.hpp"
#include "pack/packer.hpp"

namespace {

const char* const kSchemes[] = {"int8-row",        "int8-tensor",  "fp8-e4m3-row",      "fp8-e4m3-tensor",
                                "fp8-e5m2-tensor", "int8-group:16", "q8_0",             "q4_0",
                                "fp8-e4m3-block128", "int4-asym-group:16", "uint8-asym-tensor",
                                "gptq-int4:16",    "int8-row-ct"};
constexpr size_t kSchemeCount = sizeof kSchemes / sizeof kSchemes[0];

// Deterministic values with some structure: zero rows, ±0, a large outlier, and (in the
// F32 tensor) an Inf and a NaN, which pack must also cope with given codes.
std::vector<float> values(size_t n, float k) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(static_cast<int>((i * 37) % 23) - 11) * 0.173f * k;
    return v;
}

template <class Conv>
std::vector<uint8_t> encode(const std::vector<float>& v, size_t bytes_per, Conv conv) {
    std::vector<uint8_t> out(v.size() * bytes_per);
    for (size_t i = 0; i < v.size(); ++i) {
        uint32_t b;
        memcpy(&b, &v[i], 4);
        const uint32_t x = conv(b);
        memcpy(out.data() + i * bytes_per, &x, bytes_per);
    }
    return out;
}

void write_high(const std::string& path) {
    struct T {
        std::string name;
        qstore::DType dt;
        std::vector<uint64_t> shape;
        std::vector<uint8_t> bytes;
    };
    std::vector<T> ts;
    std::vector<float> a = values(4 * 64, 1.0f);
    a[5] = 1000.0f;
    for (size_t c = 0; c < 64; ++c) a[2 * 64 + c] = 0.0f;  // a zero row
    a[3 * 64 + 1] = -0.0f;
    ts.push_back({"blk.0.weight", qstore::DType::f32, {4, 64}, encode(a, 4, [](uint32_t b) { return b; })});
    ts.push_back({"blk.1.weight", qstore::DType::bf16, {3, 32},
                  encode(values(3 * 32, 2.0f), 2, [](uint32_t b) { return b >> 16; })});
    ts.push_back({"blk.2.weight", qstore::DType::f16, {2, 2, 32}, encode(values(2 * 2 * 32, 0.5f), 2, [](uint32_t b) {
                      return static_cast<uint32_t>(qstore::f16_from_f32(qstore::f32_from_bits(b)));
                  })});
    ts.push_back({"out", qstore::DType::f32, {2, 32}, encode(values(64, 0.3f), 4, [](uint32_t b) { return b; })});
    ts.push_back({"norm.weight", qstore::DType::f32, {8}, encode(values(8, 1.0f), 4, [](uint32_t b) { return b; })});
    std::vector<qstore::SafetensorsWriter::Entry> entries;
    for (const T& t : ts) entries.push_back({t.name, t.dt, t.shape, t.bytes.size()});
    qstore::SafetensorsWriter w(path, entries, {{"format", "pt"}});
    for (const T& t : ts) w.write_next(t.bytes.data(), t.bytes.size());
    w.finish();
}

const qstore::SafetensorsReader& high_model() {
    static const qstore::SafetensorsReader* r = [] {
        const std::string path = qs_fuzz::temp_dir() + "/high.safetensors";
        write_high(path);
        if (const char* out = getenv("QS_FUZZ_WRITE_HIGH")) write_high(out);
        return new qstore::SafetensorsReader(path);
    }();
    return *r;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    (void)high_model();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const qstore::LowScheme* scheme = qstore::low_scheme_by_name(kSchemes[(data[0] & 15) % kSchemeCount]);
    if (!scheme) abort();
    const bool gguf = size >= 5 && memcmp(data + 1, "GGUF", 4) == 0;
    const std::string low_path = qs_fuzz::write_file(gguf ? "low.gguf" : "low.safetensors", data + 1, size - 1);
    const std::string out = qs_fuzz::temp_dir() + "/out.qs";
    unlink(out.c_str());
    bool packed = false;
    qs_fuzz::guarded([&] {
        if (qstore::is_gguf_file(low_path) != gguf) abort();
        std::unique_ptr<qstore::TensorSource> low;
        if (gguf)
            low = std::make_unique<qstore::GgufReader>(low_path);
        else
            low = std::make_unique<qstore::SafetensorsReader>(low_path);
        qstore::PackOptions opt;
        opt.low = {scheme->spec()};
        opt.low_raw = data[0] & 16;
        opt.threads = 1;
        (void)qstore::pack(high_model(), low.get(), opt, out);
        packed = true;
    });
    if (!packed) return 0;
    qs_open_options o = qs_open_options_default();
    o.num_threads = 1;
    qs_file* f = nullptr;
    qs_status s = qs_open_ex(out.c_str(), &o, &f);
    if (s == QS_OK) s = qs_verify(f);
    if (s != QS_OK) {
        fprintf(stderr, "pack with the given low (%s) succeeded but the file fails: %s\n", scheme->name().c_str(),
                qs_last_error_message());
        abort();
    }
    qs_close(f);
    return 0;
}
