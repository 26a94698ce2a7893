// qstore_gen_synthetic: writes a deterministic, Llama-shaped SYNTHETIC BF16 model
// (see synthetic_model.hpp). Usage:
//   qstore_gen_synthetic [--params 100M] [--seed N] [-j THREADS] -o out.safetensors
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "synthetic_model.hpp"

int main(int argc, char** argv) {
    std::string params = "100M", out;
    uint64_t seed = 20240607;
    unsigned threads = 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "qstore_gen_synthetic: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--params") params = next();
        else if (a == "--seed") seed = std::stoull(next());
        else if (a == "-j" || a == "--threads") threads = static_cast<unsigned>(std::stoul(next()));
        else if (a == "-o" || a == "--output") out = next();
        else if (a == "-h" || a == "--help") {
            std::printf("usage: qstore_gen_synthetic [--params 100M|1B|...] [--seed N] [-j THREADS] -o out.safetensors\n"
                        "Writes a deterministic Llama-shaped BF16 model with SYNTHETIC weights (not a trained model).\n");
            return 0;
        } else {
            std::fprintf(stderr, "qstore_gen_synthetic: unknown argument '%s' (see --help)\n", a.c_str());
            return 2;
        }
    }
    if (out.empty()) {
        std::fprintf(stderr, "qstore_gen_synthetic: -o out.safetensors is required\n");
        return 2;
    }
    try {
        const auto target = qstore_bench::parse_param_count(params);
        const auto s = qstore_bench::write_synthetic_model(out, target, seed, threads);
        std::printf("%s: SYNTHETIC Llama-shaped BF16 model, %llu parameters (%llu layers, hidden %llu, ffn %llu, "
                    "vocab %llu), %llu tensors, %llu bytes, seed %llu\n",
                    out.c_str(), (unsigned long long)s.params, (unsigned long long)s.shape.layers,
                    (unsigned long long)s.shape.hidden, (unsigned long long)s.shape.ffn,
                    (unsigned long long)s.shape.vocab, (unsigned long long)s.tensors,
                    (unsigned long long)s.file_bytes, (unsigned long long)seed);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qstore_gen_synthetic: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
