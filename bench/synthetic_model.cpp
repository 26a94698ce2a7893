#include "synthetic_model.hpp"

#include <sys/stat.h>

#include <cctype>
#include <cmath>
#include <map>
#include <stdexcept>
#include <vector>

#include "base/float_bits.hpp"
#include "io/safetensors.hpp"
#include "base/thread_pool.hpp"

namespace qstore_bench {

namespace {

inline uint64_t splitmix64(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

inline uint64_t mix(uint64_t a, uint64_t b, uint64_t c) {
    uint64_t s = a ^ (b * 0xD1B54A32D192ED03ull) ^ (c * 0xABC98388FB8FAC03ull);
    splitmix64(s);
    return splitmix64(s);
}

// Deterministic generator: splitmix64 stream, uniforms in (0,1), normals by Box-Muller.
class Rng {
public:
    explicit Rng(uint64_t seed) : state_(seed) {}
    double uniform() { return (static_cast<double>(splitmix64(state_) >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
    double normal() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        const double u1 = uniform(), u2 = uniform();
        const double r = std::sqrt(-2.0 * std::log(u1));
        const double a = 6.283185307179586 * u2;
        spare_ = r * std::sin(a);
        has_spare_ = true;
        return r * std::cos(a);
    }
    // Student-t with 4 degrees of freedom: Z / sqrt(chi2_4 / 4), chi2_4 = -2 ln(U1 U2).
    double student_t4() {
        const double z = normal();
        const double e = -std::log(uniform() * uniform());
        return z * std::sqrt(2.0 / e);
    }

private:
    uint64_t state_;
    double spare_ = 0.0;
    bool has_spare_ = false;
};

struct TensorPlan {
    std::string name;
    std::vector<uint64_t> shape;
    enum Kind { matrix, norm } kind;
    float base_scale;
};

}  // namespace

uint64_t SyntheticShape::params() const {
    const uint64_t per_layer = 4 * hidden * hidden + 3 * hidden * ffn + 2 * hidden;
    return 2 * vocab * hidden + layers * per_layer + hidden;
}

SyntheticShape synthetic_shape(uint64_t target) {
    SyntheticShape s;
    s.vocab = target < 50'000'000ull ? 8000 : 32000;
    struct Option {
        uint64_t up_to, hidden, ffn;
    };
    static const Option options[] = {{30'000'000ull, 256, 768},      {200'000'000ull, 768, 2048},
                                     {600'000'000ull, 1024, 2816},   {2'500'000'000ull, 2048, 5632},
                                     {5'000'000'000ull, 3072, 8192}, {~0ull, 4096, 11008}};
    for (const auto& o : options)
        if (target <= o.up_to) {
            s.hidden = o.hidden;
            s.ffn = o.ffn;
            break;
        }
    const uint64_t fixed = 2 * s.vocab * s.hidden + s.hidden;
    const uint64_t per_layer = 4 * s.hidden * s.hidden + 3 * s.hidden * s.ffn + 2 * s.hidden;
    s.layers = target > fixed ? (target - fixed + per_layer / 2) / per_layer : 0;
    if (s.layers == 0) s.layers = 1;
    return s;
}

uint64_t parse_param_count(const std::string& text) {
    size_t pos = 0;
    double v = 0;
    try {
        v = std::stod(text, &pos);
    } catch (...) {
        throw std::invalid_argument("bad parameter count '" + text + "' (e.g. 100M, 1B)");
    }
    std::string suffix = text.substr(pos);
    for (auto& c : suffix) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    static const std::map<std::string, double> mult = {{"", 1.0}, {"K", 1e3}, {"M", 1e6}, {"B", 1e9}, {"G", 1e9}};
    auto it = mult.find(suffix);
    if (it == mult.end() || !(v > 0)) throw std::invalid_argument("bad parameter count '" + text + "' (e.g. 100M, 1B)");
    return static_cast<uint64_t>(v * it->second + 0.5);
}

void synthetic_matrix_rows(float* out, uint64_t rows, uint64_t cols, uint64_t seed, uint64_t tensor_id,
                           float base_scale, uint64_t row_begin, uint64_t row_end) {
    (void)rows;
    // A few outlier input columns per matrix (about 1 in 256), 6x..16x larger.
    std::vector<float> column_gain(cols, 1.0f);
    {
        Rng rng(mix(seed, tensor_id, ~0ull));
        const uint64_t k = cols / 256 + 1;
        for (uint64_t i = 0; i < k; ++i) {
            const uint64_t c = static_cast<uint64_t>(rng.uniform() * static_cast<double>(cols)) % cols;
            column_gain[c] = static_cast<float>(6.0 + 10.0 * rng.uniform());
        }
    }
    for (uint64_t r = row_begin; r < row_end; ++r) {
        Rng rng(mix(seed, tensor_id, r));
        // Log-normal row scale: rows differ by about +-40% around the base scale.
        const double row_scale = base_scale * std::exp(0.35 * rng.normal());
        float* o = out + (r - row_begin) * cols;
        for (uint64_t c = 0; c < cols; ++c)
            o[c] = static_cast<float>(row_scale * rng.student_t4()) * column_gain[c];
    }
}

SyntheticSummary write_synthetic_model(const std::string& path, uint64_t target_params, uint64_t seed,
                                       unsigned threads, void (*progress)(size_t, size_t)) {
    SyntheticSummary summary;
    const SyntheticShape s = synthetic_shape(target_params);
    summary.shape = s;
    const uint64_t d = s.hidden, f = s.ffn;
    const float init = 0.02f;  // typical trained-weight spread of a Llama matrix

    std::vector<TensorPlan> plan;
    plan.push_back({"model.embed_tokens.weight", {s.vocab, d}, TensorPlan::matrix, init});
    for (uint64_t l = 0; l < s.layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        plan.push_back({p + "input_layernorm.weight", {d}, TensorPlan::norm, 0});
        for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj"})
            plan.push_back({p + "self_attn." + n + ".weight", {d, d}, TensorPlan::matrix, init});
        plan.push_back({p + "post_attention_layernorm.weight", {d}, TensorPlan::norm, 0});
        plan.push_back({p + "mlp.gate_proj.weight", {f, d}, TensorPlan::matrix, init});
        plan.push_back({p + "mlp.up_proj.weight", {f, d}, TensorPlan::matrix, init});
        plan.push_back({p + "mlp.down_proj.weight", {d, f}, TensorPlan::matrix, init * 0.7f});
    }
    plan.push_back({"model.norm.weight", {d}, TensorPlan::norm, 0});
    plan.push_back({"lm_head.weight", {s.vocab, d}, TensorPlan::matrix, init});

    std::vector<qstore::SafetensorsWriter::Entry> entries;
    for (const auto& t : plan) {
        uint64_t n = 1;
        for (auto x : t.shape) n *= x;
        entries.push_back({t.name, qstore::DType::bf16, t.shape, n * 2});
        summary.params += n;
    }
    summary.tensors = plan.size();
    const std::map<std::string, std::string> metadata = {
        {kSyntheticMetadataKey, "true"},
        {"qstore_bench_note", "SYNTHETIC weights (Student-t rows, outlier columns); not a trained model"},
        {"qstore_bench_seed", std::to_string(seed)},
        {"qstore_bench_params", std::to_string(summary.params)},
        {"format", "pt"}};
    qstore::SafetensorsWriter writer(path, entries, metadata);
    qstore::ThreadPool pool(threads);
    std::vector<uint16_t> bf16;  // one tensor at a time; float32 only per chunk of rows
    for (size_t ti = 0; ti < plan.size(); ++ti) {
        const auto& t = plan[ti];
        const uint64_t rows = t.shape[0], cols = t.shape.size() > 1 ? t.shape[1] : 1;
        const uint64_t n = rows * cols;
        bf16.resize(n);
        if (t.kind == TensorPlan::norm) {
            Rng rng(mix(seed, ti, 0));
            for (uint64_t i = 0; i < n; ++i) bf16[i] = qstore::bf16_from_f32(static_cast<float>(1.0 + 0.08 * rng.student_t4()));
        } else {
            const uint64_t chunk = std::max<uint64_t>(1, (1u << 16) / cols);
            const uint64_t jobs = (rows + chunk - 1) / chunk;
            pool.parallel_for(jobs, [&](size_t j) {
                const uint64_t r0 = j * chunk, r1 = std::min(rows, r0 + chunk);
                std::vector<float> values((r1 - r0) * cols);
                // Rows r0..r1 of the matrix, generated into a chunk-sized buffer.
                synthetic_matrix_rows(values.data(), rows, cols, seed, ti, t.base_scale, r0, r1);
                for (uint64_t i = 0; i < values.size(); ++i) bf16[r0 * cols + i] = qstore::bf16_from_f32(values[i]);
            });
        }
        writer.write_next(bf16.data(), n * 2);
        if (progress) progress(ti + 1, plan.size());
    }
    writer.finish();
    struct stat st{};
    if (::stat(path.c_str(), &st) == 0) summary.file_bytes = static_cast<uint64_t>(st.st_size);
    return summary;
}

}  // namespace qstore_bench
