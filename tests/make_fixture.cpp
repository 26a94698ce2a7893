// qstore_make_fixture OUT.safetensors [SEED [LARGE [GGUF]]]
// Writes a small generated model (F32/F16/BF16 tensors with NaN payloads, ±0, ±Inf,
// subnormals, zero rows and outliers; 1-D and integer tensors; __metadata__) for the
// install / pure C tests. Tensor names are plain ASCII without quotes or backslashes,
// so the C test can find them in the JSON header by hand. LARGE adds that many BF16
// [1024, 1024] tensors of normal rows: a model whose pack and unpack take long enough
// to be interrupted (the atomic-write crash test). GGUF=1 leaves out the tensors GGUF
// has no type for (U8), so that every precision can be unpacked as GGUF.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "fixtures.hpp"

int main(int argc, char** argv) {
    if (argc < 2 || argc > 5) {
        std::fprintf(stderr, "usage: %s OUT.safetensors [SEED [LARGE [GGUF]]]\n", argv[0]);
        return 2;
    }
    try {
        const uint64_t seed = argc >= 3 ? std::strtoull(argv[2], nullptr, 10) : 1;
        const uint64_t large = argc >= 4 ? std::strtoull(argv[3], nullptr, 10) : 0;
        const bool gguf_only = argc == 5 && std::strtoull(argv[4], nullptr, 10) != 0;
        using qstore::DType;
        std::vector<qs_test::Tensor> m = qs_test::small_model(seed);
        qs_test::Gen g(seed + 100);
        m.push_back(g.float_tensor("blocks.0.ffn.weight", DType::bf16, {300, 40}));
        m.push_back(g.float_tensor("blocks.0.attn.weight", DType::f16, {64, 3, 11}));
        m.push_back(g.float_tensor("blocks.0.proj.weight", DType::f32, {1, 513}));
        m.push_back(g.float_tensor("blocks.0.gate.weight", DType::bf16, {129, 1}));
        m.push_back(g.float_tensor("blocks.0.bias", DType::bf16, {40}));
        m.push_back(g.random_tensor("token_types", DType::i64, {4, 4}));
        for (uint64_t i = 0; i < large; ++i)
            m.push_back(g.float_tensor("large." + std::to_string(i) + ".weight", DType::bf16, {1024, 1024}, false));
        if (gguf_only)
            m.erase(std::remove_if(m.begin(), m.end(), [](const qs_test::Tensor& t) { return t.dtype == DType::u8; }),
                    m.end());
        qs_test::write_safetensors(argv[1], m, {{"format", "pt"}, {"generator", "qstore_make_fixture"}});
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
        return 1;
    }
    return 0;
}
