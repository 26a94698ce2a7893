// qstore_schemes: the size and load speed of the pair for every low-precision scheme,
// on the same models, in one run (issue "every low precision people deploy").
//   qstore_schemes [--runs N] [--work-dir DIR] model.safetensors...
// For each model and scheme: pack (one thread), then the file's bits per weight, its
// share of the separate raw files (high + codes + float32 scales + passthrough tensors
// once more, as `qstore info` counts), its ratio to H0(high) (the order-0 entropy of
// the high values, per tensor), and qs_load_low / qs_load_high throughput on one thread
// (median of N runs, MB/s of output).
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench_common.hpp"

using qstore_bench::to_double;
#include "schemes/registry.hpp"
#include "schemes/scheme.hpp"
#include "pack/packer.hpp"
#include "qstore/qstore.h"
#include "io/safetensors.hpp"

namespace {

double h0_bits(const qstore::SafetensorsTensor& t) {
    const size_t es = qstore::dtype_size(t.dtype);
    std::unordered_map<uint64_t, uint64_t> count;
    const uint64_t n = t.num_elements();
    for (uint64_t i = 0; i < n; ++i) {
        uint64_t v = 0;
        std::memcpy(&v, t.data + i * es, es);
        ++count[v];
    }
    double h = 0;
    for (const auto& [v, c] : count) h -= to_double(c) * std::log2(to_double(c) / to_double(n));
    return h;
}

struct Loads {
    double low_mbs, high_mbs;
    uint64_t low_bytes, high_bytes;
};

Loads time_loads(const std::string& path, int runs) {
    qs_open_options o = qs_open_options_default();
    o.num_threads = 1;
    std::vector<double> tl, th;
    Loads r{};
    for (int k = 0; k < runs; ++k) {
        qs_file* f = nullptr;
        if (qs_open_ex(path.c_str(), &o, &f) != QS_OK) {
            std::fprintf(stderr, "%s\n", qs_last_error_message());
            std::exit(1);
        }
        double low_s = 0, high_s = 0;
        r.low_bytes = r.high_bytes = 0;
        std::vector<uint8_t> a, b, h;
        for (size_t i = 0; i < qs_tensor_count(f); ++i) {
            qs_tensor_info info;
            info.struct_size = sizeof(info);
            qs_tensor_info_get(f, i, &info);
            a.resize(info.low_code_bytes);
            b.resize(info.low_scale_bytes + 1);
            h.resize(info.high_bytes);
            double t0 = qstore_bench::now_seconds();
            if (qs_load_low(f, i, a.data(), a.size(), b.data(), info.low_scale_bytes) != QS_OK) std::exit(1);
            double t1 = qstore_bench::now_seconds();
            if (qs_load_high(f, i, h.data(), h.size()) != QS_OK) std::exit(1);
            double t2 = qstore_bench::now_seconds();
            low_s += t1 - t0;
            high_s += t2 - t1;
            r.low_bytes += info.low_code_bytes + info.low_scale_bytes;
            r.high_bytes += info.high_bytes;
        }
        qs_close(f);
        tl.push_back(to_double(r.low_bytes) / low_s / 1e6);
        th.push_back(to_double(r.high_bytes) / high_s / 1e6);
    }
    r.low_mbs = qstore_bench::median(tl);
    r.high_mbs = qstore_bench::median(th);
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    int runs = 3;
    std::string work = std::filesystem::temp_directory_path().string();
    std::vector<std::string> models;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--runs" && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
        else if (a == "--work-dir" && i + 1 < argc) work = argv[++i];
        else if (a == "-h" || a == "--help") {
            std::printf("usage: qstore_schemes [--runs N] [--work-dir DIR] model.safetensors...\n");
            return 0;
        } else models.push_back(a);
    }
    if (models.empty()) {
        std::fprintf(stderr, "qstore_schemes: give one or more safetensors models\n");
        return 2;
    }
    // Every scheme as a pair, then chains of three precisions (lowest level first).
    std::vector<std::vector<std::string>> configs;
    for (const char* n : {"int8-row", "int8-tensor", "int8-group:128", "fp8-e4m3-row", "fp8-e4m3-tensor",
                          "fp8-e4m3-block128", "fp8-e5m2-tensor", "q8_0", "q4_0", "int4-asym-group:128",
                          "uint8-asym-tensor", "gptq-int4:128", "int8-row-ct"})
        configs.push_back({n});
    configs.push_back({"q4_0", "int8-row"});
    configs.push_back({"int4-asym-group:128", "int8-row"});
    configs.push_back({"q4_0", "q8_0"});
    std::printf("qstore_schemes: %s, 1 thread, median of %d runs; MB = 10^6 bytes\n\n",
                qstore_bench::cpu_model_name().c_str(), runs);
    for (const auto& model : models) {
        qstore::SafetensorsReader st(model);
        double h0 = 0;
        uint64_t elements = 0, high_bytes = 0;
        for (const auto& t : st.tensors()) {
            elements += t.num_elements();
            high_bytes += t.size;
            h0 += h0_bits(t);
        }
        const std::string name = std::filesystem::path(model).stem().string();
        std::printf("### %s: %llu weights, H0(high) = %.3f bits/weight\n\n", name.c_str(),
                    static_cast<unsigned long long>(elements), h0 / to_double(elements));
        std::printf("| scheme | bits/weight (pair) | %% of separate raw | x H0(high) | low prefix bits/weight | "
                    "pack MB/s | qs_load_low MB/s | qs_load_high MB/s |\n|---|---|---|---|---|---|---|---|\n");
        for (const auto& config : configs) {
            std::string label;  // high to low, as `qstore pack --low A --low B` takes them
            qstore::PackOptions po;
            po.low.clear();
            for (const auto& n : config) {
                po.low.push_back(qstore::low_scheme_by_name(n)->spec());
                label = n + (label.empty() ? "" : " > " + label);
            }
            std::string file_label = label;
            for (char& c : file_label)
                if (c == ' ' || c == '>' || c == ':') c = '_';
            const std::string out = work + "/qstore-schemes-" + name + "-" + file_label + ".qs";
            po.threads = 1;
            const double t0 = qstore_bench::now_seconds();
            const qstore::PackStats s = qstore::pack(st, nullptr, po, out);
            const double pack_s = qstore_bench::now_seconds() - t0;
            const Loads l = time_loads(out, runs);
            const uint64_t separate = s.high_bytes + s.low_separate_bytes;
            std::printf("| %s | %.3f | %.1f%% | %.3f | %.3f | %.0f | %.0f | %.0f |\n", label.c_str(),
                        8.0 * to_double(s.file_size) / to_double(elements),
                        100.0 * to_double(s.file_size) / to_double(separate), 8.0 * to_double(s.file_size) / h0,
                        8.0 * to_double(s.low_prefix_end) / to_double(elements), to_double(high_bytes) / pack_s / 1e6,
                        l.low_mbs, l.high_mbs);
            std::fflush(stdout);
            std::filesystem::remove(out);
        }
        std::printf("\n");
    }
    return 0;
}
