// A deterministic, Llama-shaped synthetic BF16 model for benchmarks when no real
// model of the wanted size is at hand. Its weights are NOT real: heavy-tailed
// (Student-t, 4 degrees of freedom) rows with a log-normal per-row scale and a few
// outlier input columns per matrix, a rough imitation of trained transformer weights.
// Compression ratios measured on it must always be labelled synthetic.
#pragma once

#include <cstdint>
#include <string>

namespace qstore_bench {

// Metadata key written into every synthetic safetensors file ("__metadata__").
constexpr const char* kSyntheticMetadataKey = "qstore_bench_synthetic";

struct SyntheticShape {
    uint64_t vocab = 0;
    uint64_t hidden = 0;
    uint64_t ffn = 0;
    uint64_t layers = 0;
    uint64_t params() const;  // exact parameter count of this shape
};

// A Llama-like shape whose parameter count is close to `target_params`.
SyntheticShape synthetic_shape(uint64_t target_params);

// "100M", "1B", "1.5B", "350m", "2000000" -> parameter count; throws on bad input.
uint64_t parse_param_count(const std::string& text);

// Writes rows [row_begin, row_end) of a rows x cols float32 weight matrix of synthetic
// heavy-tailed values to out[0 .. (row_end - row_begin) * cols). Deterministic in (seed, tensor_id, row):
// any split of rows over threads yields the same matrix.
void synthetic_matrix_rows(float* out, uint64_t rows, uint64_t cols, uint64_t seed, uint64_t tensor_id,
                           float base_scale, uint64_t row_begin, uint64_t row_end);

struct SyntheticSummary {
    SyntheticShape shape;
    uint64_t params = 0;
    uint64_t tensors = 0;
    uint64_t file_bytes = 0;
};

// Writes the model as BF16 safetensors to `path`, tensor by tensor (peak memory is
// about one tensor). `threads` (0 = all CPUs) only speeds up generation; the bytes do
// not depend on it. `progress` (may be null) is called after each tensor.
SyntheticSummary write_synthetic_model(const std::string& path, uint64_t target_params, uint64_t seed = 20240607,
                                       unsigned threads = 0, void (*progress)(size_t done, size_t total) = nullptr);

}  // namespace qstore_bench
