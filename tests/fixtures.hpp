// Shared helpers for the qstore tests: temporary folders, generated safetensors
// models (with every awkward float value), an independent reference of the INT8
// per-row quantizer, and small file utilities. No test framework in here, so the
// fixture generator tool can use it too.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/cpu.hpp"
#include "base/dtype.hpp"
#include "base/error.hpp"
#include "io/safetensors.hpp"

namespace qs_test {

namespace fs = std::filesystem;
using qstore::DType;

// Every kernel set this CPU runs, scalar first: tests compare them by choosing one per
// call, reader or pack.
inline std::vector<qstore::KernelSet> kernel_sets() {
    std::vector<qstore::KernelSet> sets{qstore::KernelSet::scalar};
    if (qstore::kernel_set_detected() >= qstore::KernelSet::avx2) sets.push_back(qstore::KernelSet::avx2);
    if (qstore::kernel_set_detected() >= qstore::KernelSet::avx512) sets.push_back(qstore::KernelSet::avx512);
    return sets;
}

// A kernel set and how its rANS decoders look up tables (ReaderOptions): the scalar
// set once, each vector set with gathers and with scalar loads.
struct Decoding {
    qstore::KernelSet isa;
    qstore::TableLookup lookup;
};
inline std::vector<Decoding> decodings() {
    std::vector<Decoding> all;
    for (qstore::KernelSet isa : kernel_sets()) {
        all.push_back({isa, qstore::TableLookup::gather});
        if (isa != qstore::KernelSet::scalar) all.push_back({isa, qstore::TableLookup::loads});
    }
    return all;
}
inline std::string decoding_name(const Decoding& d) {
    return std::string(qstore::kernel_set_name(d.isa)) + " " + qstore::table_lookup_name(d.lookup);
}

// ---------------------------------------------------------------- files ----

// A fresh folder under $TMPDIR, removed on destruction (kept if QSTORE_KEEP_TEST_FILES is set).
class TempDir {
public:
    explicit TempDir(const std::string& tag = "qstore-test") {
        std::string tmpl = (fs::temp_directory_path() / (tag + "-XXXXXX")).string();
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
        path_ = buf.data();
    }
    ~TempDir() {
        if (std::getenv("QSTORE_KEEP_TEST_FILES")) return;
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

inline std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + path);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) throw std::runtime_error("write failed: " + path);
}
inline void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
    write_file(path, bytes.data(), bytes.size());
}

// Runs f and returns the qstore error code it threw (Errc::ok if none).
template <class F>
qstore::Errc thrown_code(F&& f) {
    try {
        f();
    } catch (const qstore::Error& e) {
        return e.code();
    }
    return qstore::Errc::ok;
}

// Index of the first differing byte, or -1 if both are equal (sizes included:
// a length difference reports the shorter length).
inline long long first_mismatch(const void* a, size_t na, const void* b, size_t nb) {
    const auto* x = static_cast<const uint8_t*>(a);
    const auto* y = static_cast<const uint8_t*>(b);
    const size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; ++i)
        if (x[i] != y[i]) return static_cast<long long>(i);
    return na == nb ? -1 : static_cast<long long>(n);
}
inline long long first_mismatch(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    return first_mismatch(a.data(), a.size(), b.data(), b.size());
}

// Runs a shell command; returns its exit status (-1 if it did not exit normally).
inline int run_command(const std::string& cmd) {
    int rc = std::system(cmd.c_str());
    if (rc == -1 || !WIFEXITED(rc)) return -1;
    return WEXITSTATUS(rc);
}
inline std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') out += "'\\''";
        else out += c;
    }
    return out + "'";
}

// ------------------------------------------------------------- tensors ----

struct Tensor {
    std::string name;
    DType dtype = DType::f32;
    std::vector<uint64_t> shape;
    std::vector<uint8_t> bytes;

    uint64_t elements() const {
        uint64_t n = 1;
        for (uint64_t d : shape) n *= d;
        return n;
    }
    uint64_t rows() const { return shape.empty() ? 1 : shape[0]; }
    uint64_t cols() const { return rows() == 0 ? 0 : elements() / rows(); }
};

inline void write_safetensors(const std::string& path, const std::vector<Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
    std::vector<qstore::SafetensorsWriter::Entry> entries;
    for (const auto& t : tensors) {
        if (t.bytes.size() != t.elements() * qstore::dtype_size(t.dtype))
            throw std::runtime_error("fixture tensor '" + t.name + "' has the wrong byte size");
        entries.push_back({t.name, t.dtype, t.shape, t.bytes.size()});
    }
    qstore::SafetensorsWriter w(path, entries, metadata);
    for (const auto& t : tensors) w.write_next(t.bytes.data(), t.bytes.size());
    w.finish();
}

// -------------------------------------------- independent float helpers ----
// Written from the IEEE definitions with double arithmetic, not with the library's
// bit tricks, so they can serve as references for base/float_bits.hpp.

inline uint32_t bits_of(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
inline float float_of(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// Round half to even of a finite double (exact for the magnitudes used here).
inline double round_half_even(double x) {
    double r = std::floor(x);
    double d = x - r;
    if (d > 0.5 || (d == 0.5 && std::fmod(r, 2.0) != 0.0)) r += 1.0;
    return r;
}

inline float ref_f16_to_f32(uint16_t h) {
    const bool neg = h & 0x8000u;
    const int e = (h >> 10) & 0x1F;
    const int m = h & 0x3FF;
    if (e == 31) {
        if (m == 0) return neg ? -INFINITY : INFINITY;
        return float_of((neg ? 0x80000000u : 0u) | 0x7F800000u | (static_cast<uint32_t>(m) << 13));
    }
    double v = e == 0 ? std::ldexp(static_cast<double>(m), -24) : std::ldexp(static_cast<double>(1024 + m), e - 25);
    float f = static_cast<float>(v);
    return neg ? -f : f;
}
inline float ref_bf16_to_f32(uint16_t h) { return float_of(static_cast<uint32_t>(h) << 16); }

// Generic round-to-nearest-even of a float32 into a binary format with `mant_bits`
// explicit mantissa bits and exponent bias `bias` (max biased exponent 2*bias+1 = Inf/NaN).
inline uint32_t ref_round_to_format(float f, int mant_bits, int bias, int total_bits) {
    const uint32_t sign = std::signbit(f) ? (1u << (total_bits - 1)) : 0u;
    const uint32_t exp_all = (1u << (total_bits - 1 - mant_bits)) - 1;  // all-ones exponent
    if (std::isnan(f)) return 0;  // callers handle NaN themselves
    double a = std::fabs(static_cast<double>(f));
    if (std::isinf(a)) return sign | (exp_all << mant_bits);
    const int emin = 1 - bias;  // smallest normal exponent
    int e;
    std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
    e -= 1;             // a = 1.x * 2^e
    if (a == 0.0 || e < emin) {
        // Subnormal (or zero): a multiple of 2^(emin - mant_bits).
        double q = round_half_even(std::ldexp(a, mant_bits - emin));
        // q == 2^mant_bits means rounding up to the smallest normal; the encoding is continuous.
        return sign | static_cast<uint32_t>(q);
    }
    double q = round_half_even(std::ldexp(a, mant_bits - e));  // in [2^mant_bits, 2^(mant_bits+1)]
    if (q >= std::ldexp(1.0, mant_bits + 1)) {
        q /= 2;
        e += 1;
    }
    const int be = e + bias;
    if (be >= static_cast<int>(exp_all)) return sign | (exp_all << mant_bits);  // overflow -> Inf
    return sign | (static_cast<uint32_t>(be) << mant_bits) |
           (static_cast<uint32_t>(q) - (1u << mant_bits));
}
inline uint16_t ref_f32_to_f16(float f) {
    if (std::isnan(f)) return static_cast<uint16_t>((std::signbit(f) ? 0x8000u : 0u) | 0x7E00u);
    return static_cast<uint16_t>(ref_round_to_format(f, 10, 15, 16));
}
inline uint16_t ref_f32_to_bf16(float f) {
    if (std::isnan(f)) return static_cast<uint16_t>((bits_of(f) >> 16) | 0x0040u);
    return static_cast<uint16_t>(ref_round_to_format(f, 7, 127, 16));
}

// Element i of a high-precision tensor as float32.
inline float element_as_f32(const uint8_t* data, DType t, uint64_t i) {
    switch (t) {
        case DType::f32: {
            float f;
            std::memcpy(&f, data + 4 * i, 4);
            return f;
        }
        case DType::f16: {
            uint16_t h;
            std::memcpy(&h, data + 2 * i, 2);
            return ref_f16_to_f32(h);
        }
        case DType::bf16: {
            uint16_t h;
            std::memcpy(&h, data + 2 * i, 2);
            return ref_bf16_to_f32(h);
        }
        default: throw std::runtime_error("element_as_f32: not a float dtype");
    }
}

// ------------------------------------------------ reference quantizer ----
// From the documented formula (schemes/int8.hpp / qstore.h):
//   scale = max |w| over the row's finite values, as float32
//   code  = clamp(round_half_even(w * (127.0f / scale)), -127, 127); NaN -> 0; scale 0 -> 0
//   where 127 / scale overflows (format 1.5): (w * 2^64) * (127 / (scale * 2^64))

struct LowRef {
    std::vector<int8_t> codes;
    std::vector<float> scales;
};

inline LowRef ref_quantize(const Tensor& t) {
    LowRef out;
    const uint64_t rows = t.rows(), cols = t.cols();
    out.codes.assign(rows * cols, 0);
    out.scales.assign(rows, 0.0f);
    for (uint64_t r = 0; r < rows; ++r) {
        float scale = 0.0f;
        for (uint64_t c = 0; c < cols; ++c) {
            float w = element_as_f32(t.bytes.data(), t.dtype, r * cols + c);
            if (std::isfinite(w) && std::fabs(w) > scale) scale = std::fabs(w);
        }
        out.scales[r] = scale;
        if (scale == 0.0f) continue;  // every code stays 0
        volatile float inv = 127.0f / scale;  // float32, as documented
        const bool tiny = std::isinf(inv);
        if (tiny) inv = 127.0f / (scale * 18446744073709551616.0f);
        for (uint64_t c = 0; c < cols; ++c) {
            float w = element_as_f32(t.bytes.data(), t.dtype, r * cols + c);
            if (tiny) w *= 18446744073709551616.0f;  // exact: |w| <= scale < 2^-121
            volatile float v = w * inv;  // float32 product
            const float vv = v;
            int code;
            if (std::isnan(vv)) code = 0;
            else if (vv >= 127.0f) code = 127;
            else if (vv <= -127.0f) code = -127;
            else code = static_cast<int>(round_half_even(static_cast<double>(vv)));
            if (code > 127) code = 127;
            if (code < -127) code = -127;
            out.codes[r * cols + c] = static_cast<int8_t>(code);
        }
    }
    return out;
}

// ------------------------------------------------------ value generator ----

// Bit patterns of special values, per dtype (stored in the low bits of a uint32).
inline const std::vector<uint32_t>& special_bits(DType t) {
    static const std::vector<uint32_t> f32 = {
        0x00000000u, 0x80000000u,                             // +0, -0
        0x7F800000u, 0xFF800000u,                             // +Inf, -Inf
        0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0xFF800001u,   // quiet / signalling NaNs, both signs
        0x7FFFFFFFu, 0xFFFFFFFFu, 0x7FA5A5A5u, 0xFFD00F0Fu,   // NaN payloads
        0x00000001u, 0x807FFFFFu, 0x00400000u, 0x80012345u,   // subnormals
        0x00800000u, 0x80800000u,                             // smallest normals
        0x7F7FFFFFu, 0xFF7FFFFFu,                             // largest finite
    };
    static const std::vector<uint32_t> f16 = {
        0x0000u, 0x8000u, 0x7C00u, 0xFC00u, 0x7E00u, 0xFE00u, 0x7C01u, 0xFC01u, 0x7FFFu, 0xFFFFu,
        0x7D55u, 0xFEAAu, 0x0001u, 0x83FFu, 0x0200u, 0x8123u, 0x0400u, 0x8400u, 0x7BFFu, 0xFBFFu,
    };
    static const std::vector<uint32_t> bf16 = {
        0x0000u, 0x8000u, 0x7F80u, 0xFF80u, 0x7FC0u, 0xFFC0u, 0x7F81u, 0xFF81u, 0x7FFFu, 0xFFFFu,
        0x7FA5u, 0xFFD0u, 0x0001u, 0x807Fu, 0x0040u, 0x8012u, 0x0080u, 0x8080u, 0x7F7Fu, 0xFF7Fu,
    };
    switch (t) {
        case DType::f32: return f32;
        case DType::f16: return f16;
        case DType::bf16: return bf16;
        default: throw std::runtime_error("special_bits: not a float dtype");
    }
}

enum class RowKind {
    normal,        // N(0, sigma) weights
    zeros,         // all +0
    signed_zeros,  // a mix of +0 and -0
    outlier,       // normal weights plus one huge value
    specials,      // normal weights with NaN/Inf/subnormal/±0 sprinkled in
    all_nan,       // only NaNs (various payloads): scale 0
    all_inf,       // only ±Inf: scale 0
    subnormal,     // only subnormals (for F32: 127/scale overflows to Inf)
    ties,          // scale 127 so w * 1.0 hits exact .5 ties
    random_bits,   // uniformly random bit patterns (every kind of value)
    kCount
};

class Gen {
public:
    explicit Gen(uint64_t seed) : rng_(seed) {}
    std::mt19937_64& rng() { return rng_; }

    uint64_t uniform(uint64_t lo, uint64_t hi) {  // inclusive
        return std::uniform_int_distribution<uint64_t>(lo, hi)(rng_);
    }
    double normal(double sigma) { return std::normal_distribution<double>(0.0, sigma)(rng_); }
    bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

    // Stores one element given as a float32 value (rounded to the dtype).
    static void put_value(std::vector<uint8_t>& out, DType t, float v) {
        switch (t) {
            case DType::f32: {
                uint32_t u = bits_of(v);
                append(out, &u, 4);
                break;
            }
            case DType::f16: {
                uint16_t h = ref_f32_to_f16(v);
                append(out, &h, 2);
                break;
            }
            case DType::bf16: {
                uint16_t h = ref_f32_to_bf16(v);
                append(out, &h, 2);
                break;
            }
            default: throw std::runtime_error("put_value: not a float dtype");
        }
    }
    // Stores one element given as raw bits of the dtype.
    static void put_bits(std::vector<uint8_t>& out, DType t, uint32_t bits) {
        if (t == DType::f32) append(out, &bits, 4);
        else {
            uint16_t h = static_cast<uint16_t>(bits);
            append(out, &h, 2);
        }
    }

    uint32_t random_special(DType t) {
        const auto& s = special_bits(t);
        return s[uniform(0, s.size() - 1)];
    }
    uint32_t random_nan(DType t) {
        for (;;) {
            uint32_t b = random_bits(t);
            if (t == DType::f32 ? ((b & 0x7FFFFFFFu) > 0x7F800000u)
                                : t == DType::f16 ? ((b & 0x7FFFu) > 0x7C00u) : ((b & 0x7FFFu) > 0x7F80u))
                return b;
            // force the exponent to all ones and a non-zero mantissa
            if (t == DType::f32) return (b | 0x7F800000u) | ((b & 0x7FFFFFu) ? 0u : 1u);
            if (t == DType::f16) return (b | 0x7C00u) | ((b & 0x3FFu) ? 0u : 1u);
            return (b | 0x7F80u) | ((b & 0x7Fu) ? 0u : 1u);
        }
    }
    uint32_t random_subnormal(DType t) {
        uint32_t b = random_bits(t);
        uint32_t m;
        if (t == DType::f32) m = (b & 0x807FFFFFu);
        else if (t == DType::f16) m = (b & 0x83FFu);
        else m = (b & 0x807Fu);
        const uint32_t mant_mask = t == DType::f32 ? 0x7FFFFFu : t == DType::f16 ? 0x3FFu : 0x7Fu;
        if ((m & mant_mask) == 0) m |= 1;  // not zero
        return m;
    }
    uint32_t random_bits(DType t) {
        uint32_t b = static_cast<uint32_t>(rng_());
        return t == DType::f32 ? b : (b & 0xFFFFu);
    }

    void fill_row(std::vector<uint8_t>& out, DType t, uint64_t cols, RowKind kind) {
        const double sigma = std::pow(10.0, -static_cast<double>(uniform(0, 3)));  // 1 .. 0.001
        switch (kind) {
            case RowKind::normal:
                for (uint64_t c = 0; c < cols; ++c) put_value(out, t, static_cast<float>(normal(sigma)));
                break;
            case RowKind::zeros:
                for (uint64_t c = 0; c < cols; ++c) put_bits(out, t, 0);
                break;
            case RowKind::signed_zeros:
                for (uint64_t c = 0; c < cols; ++c) put_bits(out, t, chance(0.5) ? (t == DType::f32 ? 0x80000000u : 0x8000u) : 0u);
                break;
            case RowKind::outlier: {
                const uint64_t at = uniform(0, cols - 1);
                const float huge = static_cast<float>((chance(0.5) ? -1.0 : 1.0) * sigma * (t == DType::f16 ? 1e3 : 1e6));
                for (uint64_t c = 0; c < cols; ++c)
                    put_value(out, t, c == at ? huge : static_cast<float>(normal(sigma)));
                break;
            }
            case RowKind::specials:
                for (uint64_t c = 0; c < cols; ++c) {
                    if (chance(0.3)) put_bits(out, t, random_special(t));
                    else put_value(out, t, static_cast<float>(normal(sigma)));
                }
                break;
            case RowKind::all_nan:
                for (uint64_t c = 0; c < cols; ++c) put_bits(out, t, random_nan(t));
                break;
            case RowKind::all_inf: {
                const uint32_t pinf = t == DType::f32 ? 0x7F800000u : t == DType::f16 ? 0x7C00u : 0x7F80u;
                const uint32_t sign = t == DType::f32 ? 0x80000000u : 0x8000u;
                for (uint64_t c = 0; c < cols; ++c) put_bits(out, t, chance(0.5) ? (pinf | sign) : pinf);
                break;
            }
            case RowKind::subnormal:
                for (uint64_t c = 0; c < cols; ++c) put_bits(out, t, random_subnormal(t));
                break;
            case RowKind::ties: {
                // 127 sets the scale to 127, so code = round_half_even(w): halves are exact ties.
                for (uint64_t c = 0; c < cols; ++c) {
                    float v;
                    if (c == 0) v = 127.0f;
                    else {
                        v = static_cast<float>(static_cast<int>(uniform(0, 252)) - 126) + 0.5f;  // -125.5 .. 126.5
                        if (chance(0.2)) v = static_cast<float>(static_cast<int>(uniform(0, 254)) - 127);
                    }
                    put_value(out, t, v);
                }
                break;
            }
            case RowKind::random_bits:
                for (uint64_t c = 0; c < cols; ++c) put_bits(out, t, random_bits(t));
                break;
            case RowKind::kCount: break;
        }
    }

    // A float tensor whose rows are of random kinds (mostly normal).
    Tensor float_tensor(const std::string& name, DType t, std::vector<uint64_t> shape, bool awkward_rows = true) {
        Tensor x;
        x.name = name;
        x.dtype = t;
        x.shape = std::move(shape);
        const uint64_t rows = x.rows(), cols = x.cols();
        for (uint64_t r = 0; r < rows; ++r) {
            RowKind kind = RowKind::normal;
            if (awkward_rows && chance(0.6))
                kind = static_cast<RowKind>(uniform(0, static_cast<uint64_t>(RowKind::kCount) - 1));
            fill_row(x.bytes, t, cols, kind);
        }
        return x;
    }

    // A tensor of any dtype filled with random bytes.
    Tensor random_tensor(const std::string& name, DType t, std::vector<uint64_t> shape) {
        Tensor x;
        x.name = name;
        x.dtype = t;
        x.shape = std::move(shape);
        x.bytes.resize(x.elements() * qstore::dtype_size(t));
        for (auto& b : x.bytes) b = static_cast<uint8_t>(rng_());
        return x;
    }

private:
    static void append(std::vector<uint8_t>& out, const void* p, size_t n) {
        const auto* b = static_cast<const uint8_t*>(p);
        out.insert(out.end(), b, b + n);
    }
    std::mt19937_64 rng_;
};

// A small but complete model: quantizable tensors of all three float dtypes (with
// every awkward row kind), a 1-D tensor, integer tensors, a scalar.
inline std::vector<Tensor> small_model(uint64_t seed) {
    Gen g(seed);
    std::vector<Tensor> m;
    m.push_back(g.float_tensor("layers.0.attn.q_proj.weight", DType::f32, {9, 20}));
    m.push_back(g.float_tensor("layers.0.mlp.up.weight", DType::bf16, {5, 7, 3}));
    m.push_back(g.float_tensor("layers.0.mlp.down.weight", DType::f16, {4, 33}));
    m.push_back(g.float_tensor("conv.kernel", DType::f32, {3, 2, 2, 5}));
    m.push_back(g.float_tensor("layers.0.norm.weight", DType::f32, {16}));
    m.push_back(g.random_tensor("position_ids", DType::i32, {2, 3}));
    m.push_back(g.random_tensor("mask", DType::u8, {3, 5}));
    return m;
}

inline std::string tensor_context(const Tensor& t) {
    std::string s = t.name + " " + qstore::dtype_name(t.dtype) + " [";
    for (size_t i = 0; i < t.shape.size(); ++i) s += (i ? "," : "") + std::to_string(t.shape[i]);
    return s + "]";
}

}  // namespace qs_test
