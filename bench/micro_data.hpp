// Test data of the micro-benchmarks: one coding block (qstore's default 2^18 elements,
// whole rows) of weights, as float32 and in each high dtype. By default the values are
// synthetic (synthetic_model.hpp); with QSTORE_MICRO_MODEL=/path/model.safetensors the
// first rows of that model's largest 2-D float tensor are used instead.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base/dtype.hpp"
#include "base/float_bits.hpp"
#include "base/high_values.hpp"
#include "io/safetensors.hpp"
#include "synthetic_model.hpp"

namespace qstore_bench {

struct MicroData {
    uint64_t rows = 0, cols = 0;
    std::string source;
    std::vector<float> f32;
    std::vector<uint16_t> f16, bf16;
    uint64_t n() const { return rows * cols; }
    const uint8_t* high(qstore::DType t) const {
        switch (t) {
            case qstore::DType::f32: return reinterpret_cast<const uint8_t*>(f32.data());
            case qstore::DType::f16: return reinterpret_cast<const uint8_t*>(f16.data());
            default: return reinterpret_cast<const uint8_t*>(bf16.data());
        }
    }
};

inline MicroData make_micro_data() {
    MicroData d;
    constexpr uint64_t kBlock = 1u << 18;
    const char* model = std::getenv("QSTORE_MICRO_MODEL");
    if (model && *model) {
        qstore::SafetensorsReader st(model);
        const qstore::SafetensorsTensor* best = nullptr;
        for (const auto& t : st.tensors())
            if (qstore::dtype_is_quantizable(t.dtype) && t.shape.size() >= 2 && (!best || t.size > best->size))
                best = &t;
        if (best) {
            d.cols = best->num_elements() / best->shape[0];
            d.rows = std::max<uint64_t>(1, std::min<uint64_t>(best->shape[0], kBlock / d.cols));
            d.f32.resize(d.n());
            qstore::high_to_f32(best->data, best->dtype, d.n(), d.f32.data());
            d.source = std::string(model) + ": " + best->name;
        }
    }
    if (d.f32.empty()) {
        d.cols = 1024;
        d.rows = kBlock / d.cols;
        d.f32.resize(d.n());
        synthetic_matrix_rows(d.f32.data(), d.rows, d.cols, 1234, 7, 0.02f, 0, d.rows);
        d.source = "synthetic Student-t rows";
    }
    d.f16.resize(d.n());
    d.bf16.resize(d.n());
    for (uint64_t i = 0; i < d.n(); ++i) {
        d.f16[i] = qstore::f16_from_f32(d.f32[i]);
        d.bf16[i] = qstore::bf16_from_f32(d.f32[i]);
    }
    return d;
}

// Built once, on first use.
inline const MicroData& micro_data() {
    static const MicroData d = make_micro_data();
    return d;
}

}  // namespace qstore_bench
