// qstore_compare: one table comparing a .qs file with the separate files it replaces
// (the high-precision safetensors + an INT8 per-row safetensors), measured in one run
// on the same tensors: sizes (bits per weight and % of the separate raw files), the
// order-0 entropy bound of the high values, speeds (pack, qs_load_low/high through the
// C API, memcpy, read(), zstd/lz4/byte-grouped decompression) and peak memory (child
// processes). Usage: qstore_compare --help.
#include <fcntl.h>
#include <lz4.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "base/float_bits.hpp"
#include "pack/packer.hpp"
#include "qstore/qstore.h"
#include "io/safetensors.hpp"
#include "synthetic_model.hpp"
#include "base/thread_pool.hpp"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using namespace qstore_bench;

namespace {

std::string g_self_exe;

[[noreturn]] void die(const std::string& msg) { throw std::runtime_error(msg); }

void check(qs_status s, const std::string& what) {
    if (s != QS_OK) die(what + ": " + qs_status_string(s) + ": " + qs_last_error_message());
}

void log(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void log(const char* fmt, ...) {
    static const double start = now_seconds();
    va_list ap;
    va_start(ap, fmt);
    std::fprintf(stderr, "qstore_compare [%6.1f s]: ", now_seconds() - start);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
}

struct Options {
    std::vector<std::string> inputs;
    std::string json_out, md_out;
    int runs = 5;
    int pack_runs = 3;
    unsigned threads = 0;  // 0 = all CPUs
    std::string work_dir;
    std::string synthetic;      // parameter count, e.g. "100M"
    std::string synthetic_out;  // where to keep the synthetic model
    bool keep = false;
    bool memory = true;
    double min_sample_seconds = 0.03;
};

// ---------------------------------------------------------------------------
// Child processes for peak-RSS measurements. The child is a fresh exec of this
// program, so its peak RSS holds nothing of the parent's buffers.

int child_main(int argc, char** argv) {
    // argv: self --child MODE args...
    const std::string mode = argc > 2 ? argv[2] : "";
    try {
        if (mode == "idle") return 0;
        if (mode == "pack" && argc == 7) {
            qstore::SafetensorsReader st(argv[3]);
            qstore::PackOptions po;
            po.threads = static_cast<unsigned>(std::stoul(argv[5]));
            po.low_raw = std::string(argv[6]) == "1";
            qstore::pack(st, nullptr, po, argv[4]);
            return 0;
        }
        if ((mode == "load-high" || mode == "load-low") && argc == 5) {
            qs_open_options o = qs_open_options_default();
            o.num_threads = static_cast<uint32_t>(std::stoul(argv[4]));
            qs_file* f = nullptr;
            check(qs_open_ex(argv[3], &o, &f), argv[3]);
            for (size_t i = 0; i < qs_tensor_count(f); ++i) {
                qs_tensor_info info{};
                info.struct_size = sizeof info;
                check(qs_tensor_info_get(f, i, &info), "info");
                if (mode == "load-high") {
                    void* buf = std::malloc(info.high_bytes ? info.high_bytes : 1);
                    check(qs_load_high(f, i, buf, info.high_bytes), "load_high");
                    std::free(buf);
                } else {
                    void* codes = std::malloc(info.low_code_bytes ? info.low_code_bytes : 1);
                    void* scales = std::malloc(info.low_scale_bytes ? info.low_scale_bytes : 1);
                    check(qs_load_low(f, i, codes, info.low_code_bytes, scales, info.low_scale_bytes), "load_low");
                    std::free(codes);
                    std::free(scales);
                }
            }
            qs_close(f);
            return 0;
        }
        if (mode == "st-copy" && argc == 4) {
            qstore::SafetensorsReader st(argv[3]);
            for (const auto& t : st.tensors()) {
                void* buf = std::malloc(t.size ? t.size : 1);
                std::memcpy(buf, t.data, t.size);
                asm volatile("" ::"r"(buf) : "memory");
                std::free(buf);
            }
            return 0;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qstore_compare child %s: %s\n", mode.c_str(), e.what());
        return 1;
    }
    std::fprintf(stderr, "qstore_compare: bad --child invocation\n");
    return 2;
}

// Peak RSS of `child_main(args)` in a clean process. Linux carries a process's peak
// RSS across fork (the copied page tables count) and across exec (signal->maxrss),
// so a child forked from this big process would report at least our own RSS. Hence
// two levels: a freshly exec'd, small copy of this program ("--child-wrap") forks the
// measured process, reaps it with wait4 (that child's own rusage; RUSAGE_CHILDREN
// would be the max over all children) and prints ru_maxrss on its stdout.
int child_wrap_main(int argc, char** argv) {
    // argv: self --child-wrap MODE args...
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) return 3;
    if (pid == 0) {
        std::vector<char*> args = {argv[0], const_cast<char*>("--child")};
        for (int i = 2; i < argc; ++i) args.push_back(argv[i]);
        args.push_back(nullptr);
        std::fclose(stdout);  // only the wrapper reports on stdout
        _exit(child_main(static_cast<int>(args.size()) - 1, args.data()));
    }
    int status = 0;
    struct rusage ru{};
    if (wait4(pid, &status, 0, &ru) != pid) return 3;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 4;
    std::printf("%lld\n", static_cast<long long>(ru.ru_maxrss) * 1024);
    return 0;
}

// Runs child_main(args) in a clean process and returns its peak RSS in bytes (-1 on failure).
int64_t child_peak_rss(const std::vector<std::string>& args) {
    std::vector<std::string> all = {g_self_exe, "--child-wrap"};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    if (pipe(fds) != 0) return -1;
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        ::close(fds[0]);
        dup2(fds[1], 1);
        execv(g_self_exe.c_str(), argv.data());
        _exit(127);
    }
    ::close(fds[1]);
    std::string text;
    char buf[256];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    try {
        return std::stoll(text);
    } catch (...) {
        return -1;
    }
}

// One call to warm caches; returns how many calls make a sample of at least
// min_sample seconds.
int warm_up(const std::function<void()>& op, double min_sample) {
    const double t0 = now_seconds();
    op();
    const double t = now_seconds() - t0;
    return t < min_sample ? static_cast<int>(std::min(1000.0, std::ceil(min_sample / std::max(t, 1e-7)))) : 1;
}
// Seconds per call over `reps` calls.
double sample_seconds(const std::function<void()>& op, int reps) {
    const double t0 = now_seconds();
    for (int k = 0; k < reps; ++k) op();
    return (now_seconds() - t0) / reps;
}

// ---------------------------------------------------------------------------
// Timing: a warm-up call, then `runs` samples, each repeating the operation until
// it took at least min_sample seconds; the result is the median (and the best) time of
// one call. A warm-up call that is long (over 0.5 s: caches are moot) counts as the
// first sample.

struct Timing {
    double median = 0, best = 0;
};

Timing time_op(const std::function<void()>& op, int runs, double min_sample, bool warmup = true) {
    int reps = 1;
    std::vector<double> samples;
    if (warmup) {
        const double t0 = now_seconds();
        op();
        const double t = now_seconds() - t0;
        if (t < min_sample) reps = static_cast<int>(std::min(1000.0, std::ceil(min_sample / std::max(t, 1e-7))));
        if (t > 0.5) samples.push_back(t);
    }
    while (static_cast<int>(samples.size()) < runs) {
        const double t0 = now_seconds();
        for (int k = 0; k < reps; ++k) op();
        samples.push_back((now_seconds() - t0) / reps);
    }
    return {median(samples), *std::min_element(samples.begin(), samples.end())};
}

// ---------------------------------------------------------------------------
// Separate-file compression baselines.

enum class Codec { zstd3, zstd19, lz4, byte_grouped };

struct Unit {  // one tensor of a separate file
    const uint8_t* data;
    size_t size;
    size_t elem;  // element size (bytes) of its dtype, for byte grouping and H0
    size_t out_offset;
    qs_dtype dtype = QS_DTYPE_U8;
    uint64_t rows = 1;  // shape[0] (1 for scalars and empty shapes)
};

struct Frames {
    std::vector<std::vector<std::vector<uint8_t>>> parts;  // per unit: one frame, or one per byte plane
    uint64_t stored = 0;
};

struct ThreadCtx {
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ZSTD_DCtx* d = ZSTD_createDCtx();
    std::vector<uint8_t> scratch;
    ~ThreadCtx() {
        ZSTD_freeCCtx(c);
        ZSTD_freeDCtx(d);
    }
};
ThreadCtx& tctx() {
    thread_local ThreadCtx t;
    return t;
}

std::vector<uint8_t> zstd_frame(const uint8_t* p, size_t n, int level) {
    std::vector<uint8_t> out(ZSTD_compressBound(n));
    size_t c = ZSTD_compressCCtx(tctx().c, out.data(), out.size(), p, n, level);
    if (ZSTD_isError(c)) die(std::string("zstd: ") + ZSTD_getErrorName(c));
    out.resize(c);
    return out;
}

Frames compress_units(const std::vector<Unit>& units, Codec codec, qstore::ThreadPool& pool) {
    Frames f;
    f.parts.resize(units.size());
    pool.parallel_for(units.size(), [&](size_t i) {
        const Unit& u = units[i];
        auto& out = f.parts[i];
        switch (codec) {
            case Codec::zstd3: out.push_back(zstd_frame(u.data, u.size, 3)); break;
            case Codec::zstd19: out.push_back(zstd_frame(u.data, u.size, 19)); break;
            case Codec::lz4: {
                if (u.size > LZ4_MAX_INPUT_SIZE) die("tensor too large for lz4");
                std::vector<uint8_t> o(LZ4_compressBound(static_cast<int>(u.size)));
                int c = LZ4_compress_default(reinterpret_cast<const char*>(u.data), reinterpret_cast<char*>(o.data()),
                                             static_cast<int>(u.size), static_cast<int>(o.size()));
                if (c <= 0 && u.size) die("lz4 compression failed");
                o.resize(static_cast<size_t>(c));
                out.push_back(std::move(o));
                break;
            }
            case Codec::byte_grouped: {
                const size_t P = u.elem;
                if (P < 2 || P > 8 || u.size % P) {
                    out.push_back(zstd_frame(u.data, u.size, 3));
                    break;
                }
                const size_t n = u.size / P;
                auto& plane = tctx().scratch;
                plane.resize(n);
                for (size_t p = 0; p < P; ++p) {
                    for (size_t k = 0; k < n; ++k) plane[k] = u.data[k * P + p];
                    out.push_back(zstd_frame(plane.data(), n, 3));
                }
                break;
            }
        }
    });
    for (const auto& v : f.parts)
        for (const auto& fr : v) f.stored += fr.size();
    return f;
}

void decompress_units(const std::vector<Unit>& units, const Frames& f, Codec codec, uint8_t* out,
                      qstore::ThreadPool& pool) {
    pool.parallel_for(units.size(), [&](size_t i) {
        const Unit& u = units[i];
        uint8_t* dst = out + u.out_offset;
        const auto& fr = f.parts[i];
        if (codec == Codec::lz4) {
            int n = LZ4_decompress_safe(reinterpret_cast<const char*>(fr[0].data()), reinterpret_cast<char*>(dst),
                                        static_cast<int>(fr[0].size()), static_cast<int>(u.size));
            if (n != static_cast<int>(u.size)) die("lz4 decompression failed");
            return;
        }
        if (fr.size() == 1) {
            size_t n = ZSTD_decompressDCtx(tctx().d, dst, u.size, fr[0].data(), fr[0].size());
            if (ZSTD_isError(n) || n != u.size) die("zstd decompression failed");
            return;
        }
        const size_t P = fr.size(), n = u.size / P;
        auto& planes = tctx().scratch;
        planes.resize(u.size);
        for (size_t p = 0; p < P; ++p) {
            size_t m = ZSTD_decompressDCtx(tctx().d, planes.data() + p * n, n, fr[p].data(), fr[p].size());
            if (ZSTD_isError(m) || m != n) die("zstd decompression failed");
        }
        if (P == 2) {
            const uint8_t *a = planes.data(), *b = planes.data() + n;
            for (size_t k = 0; k < n; ++k) {
                dst[2 * k] = a[k];
                dst[2 * k + 1] = b[k];
            }
        } else {
            for (size_t k = 0; k < n; ++k)
                for (size_t p = 0; p < P; ++p) dst[k * P + p] = planes[p * n + k];
        }
    });
}

// Element i of a float tensor (F32, F16 or BF16 bytes of element size `elem`) as float32.
float float_value(const uint8_t* data, size_t i, size_t elem, qs_dtype dtype) {
    if (elem == 4) {
        float f;
        std::memcpy(&f, data + 4 * i, 4);
        return f;
    }
    uint16_t h;
    std::memcpy(&h, data + 2 * i, 2);
    return dtype == QS_DTYPE_F16 ? qstore::f32_from_f16(h) : qstore::f32_from_bf16(h);
}

// Order-0 entropy (bits) of the element bit patterns of one tensor, each row's values
// counted apart by the class of the row's largest finite |x| (quarter octaves; rows =
// shape[0], as int8-row's scales). The yardstick for modelling that adapts to the row
// scale: without any table cost, no such order-0 model codes the high values in fewer
// bits. Elements of 2 or 4 bytes (F16, BF16, F32).
double row_class_entropy_bits(const uint8_t* data, size_t size, size_t elem, qs_dtype dtype, uint64_t rows) {
    if ((elem != 2 && elem != 4) || size < elem) return 0.0;
    const size_t n = size / elem;
    if (rows == 0 || n % rows) rows = 1;
    const size_t cols = n / rows;
    std::vector<uint64_t> keys(n);
    for (size_t r = 0; r < rows; ++r) {
        float absmax = 0.0f;
        for (size_t c = 0; c < cols; ++c) {
            const float a = std::fabs(float_value(data, r * cols + c, elem, dtype));
            if (std::isfinite(a) && a > absmax) absmax = a;
        }
        // Class 0: rows without a nonzero finite value; else 1 + quarter octave + an offset.
        const uint64_t cls = absmax > 0.0f ? static_cast<uint64_t>(std::floor(4.0 * std::log2(absmax)) + 1000.0) : 0;
        for (size_t c = 0; c < cols; ++c) {
            uint32_t v = 0;
            std::memcpy(&v, data + (r * cols + c) * elem, elem);
            keys[r * cols + c] = cls << 32 | v;
        }
    }
    std::sort(keys.begin(), keys.end());
    double bits = 0.0;
    for (size_t i = 0; i < n;) {  // one class: its values' counts
        size_t class_end = i;
        while (class_end < n && keys[class_end] >> 32 == keys[i] >> 32) ++class_end;
        const double in_class = static_cast<double>(class_end - i);
        for (size_t j = i; j < class_end;) {
            size_t k = j;
            while (k < class_end && keys[k] == keys[j]) ++k;
            bits -= static_cast<double>(k - j) * std::log2(static_cast<double>(k - j) / in_class);
            j = k;
        }
        i = class_end;
    }
    return bits;
}

// Order-0 entropy (bits) of the element bit patterns of one tensor.
double entropy_bits(const uint8_t* data, size_t size, size_t elem) {
    if (elem == 0 || size < elem) return 0.0;
    const size_t n = size / elem;
    std::vector<uint64_t> counts;
    if (elem <= 2) {
        counts.assign(elem == 1 ? 256 : 65536, 0);
        for (size_t i = 0; i < n; ++i) {
            uint32_t v = data[i * elem];
            if (elem == 2) v |= static_cast<uint32_t>(data[i * elem + 1]) << 8;
            ++counts[v];
        }
    } else {
        std::vector<uint64_t> v(n);
        for (size_t i = 0; i < n; ++i) {
            uint64_t x = 0;
            std::memcpy(&x, data + i * elem, std::min<size_t>(elem, 8));
            v[i] = x;
        }
        std::sort(v.begin(), v.end());
        for (size_t i = 0; i < n;) {
            size_t j = i;
            while (j < n && v[j] == v[i]) ++j;
            counts.push_back(j - i);
            i = j;
        }
    }
    double bits = 0.0;
    for (uint64_t c : counts)
        if (c) bits -= static_cast<double>(c) * std::log2(static_cast<double>(c) / static_cast<double>(n));
    return bits;
}

// log2 of the spacing of the values of `dtype` around v (its unit in the last place;
// the subnormal spacing at zero).
double log2_ulp(float v, qs_dtype dtype) {
    const int mantissa_bits = dtype == QS_DTYPE_F32 ? 23 : dtype == QS_DTYPE_F16 ? 10 : 7;
    const int min_exponent = dtype == QS_DTYPE_F16 ? -14 : -126;
    int e = min_exponent + 1;  // zero: the subnormals' spacing
    if (v != 0.0f) std::frexp(v, &e);  // v = m * 2^e, 0.5 <= |m| < 1: the binade of 2^(e-1)
    return static_cast<double>(std::max(e - 1, min_exponent) - mantissa_bits);
}

// Bits of an ideal residual for one int8-row tensor that needs no tables. Given the
// code q and the row's step s (its absmax / 127), the high value lies in the bin
// [(q - 0.5)s, (q + 0.5)s], clipped to [-127s, 127s]; each value of the bin gets a
// probability in proportion to its spacing (a flat density inside the bin). Code-0
// bins, which reach down to the smallest values, get the smaller of that and the
// order-0 entropy of their values. NaN where the tensor is not coded by row.
double flat_bin_residual_bits(const Unit& high, const int8_t* codes, const float* scales, uint64_t scale_count) {
    const size_t n = high.size / high.elem;
    if (high.elem == 1 || n == 0 || scale_count != high.rows || n % high.rows) return std::nan("");
    const size_t cols = n / high.rows;
    double bits = 0.0, zero_bin_bits = 0.0;
    std::vector<uint8_t> zero_bin;  // the code-0 values' bit patterns, for their order-0 entropy
    for (size_t i = 0; i < n; ++i) {
        const float v = float_value(high.data, i, high.elem, high.dtype);
        const double s = scales[i / cols] / 127.0, q = codes[i];  // scales are the rows' absmax
        const double lo = std::max((q - 0.5) * s, -127.0 * s), hi = std::min((q + 0.5) * s, 127.0 * s);
        const double cost = hi > lo ? std::max(0.0, std::log2(hi - lo) - log2_ulp(v, high.dtype)) : 0.0;
        if (codes[i] != 0) {
            bits += cost;
            continue;
        }
        zero_bin_bits += cost;
        zero_bin.insert(zero_bin.end(), high.data + i * high.elem, high.data + (i + 1) * high.elem);
    }
    return bits + std::min(zero_bin_bits, entropy_bits(zero_bin.data(), zero_bin.size(), high.elem));
}

// ---------------------------------------------------------------------------
// Chunked copy / read helpers for the memcpy and read() baselines.

struct Chunk {
    const uint8_t* src;
    size_t size;
    size_t out_offset;
};

std::vector<Chunk> chunks_of(const std::vector<Unit>& units, size_t max_chunk = 1u << 20) {
    std::vector<Chunk> c;
    for (const auto& u : units)
        for (size_t off = 0; off < u.size; off += max_chunk)
            c.push_back({u.data + off, std::min(max_chunk, u.size - off), u.out_offset + off});
    return c;
}

void read_file(const std::string& path, uint8_t* out, size_t size, qstore::ThreadPool& pool) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) die(path + ": cannot open");
    const size_t chunk = 1u << 20;
    const size_t n = (size + chunk - 1) / chunk;
    if (pool.size() == 1) {
        size_t done = 0;
        while (done < size) {
            ssize_t r = ::read(fd, out + done, std::min<size_t>(size - done, 1u << 30));
            if (r <= 0) die(path + ": read failed");
            done += static_cast<size_t>(r);
        }
    } else {
        pool.parallel_for(n, [&](size_t i) {
            size_t off = i * chunk, len = std::min(chunk, size - off);
            while (len) {
                ssize_t r = ::pread(fd, out + off, len, static_cast<off_t>(off));
                if (r <= 0) die(path + ": pread failed");
                off += static_cast<size_t>(r);
                len -= static_cast<size_t>(r);
            }
        });
    }
    ::close(fd);
}

uint64_t file_size(const std::string& p) { return static_cast<uint64_t>(fs::file_size(p)); }

// ---------------------------------------------------------------------------
// One model.

// bitsandbytes' name of the scale tensor of "X.weight": "X.SCB" ("<name>.SCB" otherwise).
std::string scale_tensor_name(const std::string& weight_name) {
    const std::string suffix = ".weight";
    if (weight_name.size() > suffix.size() &&
        weight_name.compare(weight_name.size() - suffix.size(), suffix.size(), suffix) == 0)
        return weight_name.substr(0, weight_name.size() - suffix.size()) + ".SCB";
    return weight_name + ".SCB";
}

struct TensorInfo {
    std::string name;
    qs_dtype dtype;
    qs_dtype low_dtype;
    qs_low_scheme scheme;
    std::vector<uint64_t> shape;
    uint64_t elements, high_bytes, low_code_bytes, low_scale_bytes;
};

std::vector<TensorInfo> tensor_infos(qs_file* f) {
    std::vector<TensorInfo> v;
    for (size_t i = 0; i < qs_tensor_count(f); ++i) {
        qs_tensor_info info{};
        info.struct_size = sizeof info;
        check(qs_tensor_info_get(f, i, &info), "qs_tensor_info_get");
        TensorInfo t;
        t.name = info.name;
        t.dtype = info.high_dtype;
        t.low_dtype = info.low_dtype;
        t.scheme = info.low_scheme;
        t.shape.assign(info.shape, info.shape + info.ndim);
        t.elements = info.num_elements;
        t.high_bytes = info.high_bytes;
        t.low_code_bytes = info.low_code_bytes;
        t.low_scale_bytes = info.low_scale_bytes;
        v.push_back(t);
    }
    return v;
}

qs_file* open_qs(const std::string& path, unsigned threads, bool verify = true) {
    qs_open_options o = qs_open_options_default();
    o.num_threads = threads;
    o.verify_checksums = verify ? 1 : 0;
    qs_file* f = nullptr;
    check(qs_open_ex(path.c_str(), &o, &f), path);
    return f;
}

struct Row {
    std::string section, label, cell;
};

struct ModelResult {
    std::string column;  // table column header
    std::vector<Row> rows;
    json j;
};

// The 1, 5 and 15 minute load averages ("0.52 0.40 0.33"), or "".
std::string load_average() {
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    in >> a >> b >> c;
    return in ? a + " " + b + " " + c : "";
}

template <typename Bytes>
std::string mb(Bytes bytes) { return format("%.1f MB", static_cast<double>(bytes) / 1e6); }

ModelResult measure_model(const std::string& path, const Options& opt, const std::string& work) {
    ModelResult res;
    const unsigned N = opt.threads ? opt.threads : hardware_threads();
    const uint32_t qs_all_threads = opt.threads ? opt.threads : 0;  // 0 = the library's "one per CPU"
    qstore::ThreadPool pool1(1), poolN(N);

    log("%s: reading", path.c_str());
    qstore::SafetensorsReader st(path);
    const bool synthetic = st.metadata().count(kSyntheticMetadataKey) > 0;
    std::string name = fs::path(path).filename().string();
    if (name.size() > 12 && name.substr(name.size() - 12) == ".safetensors") name.resize(name.size() - 12);
    res.column = name + (synthetic ? " (SYNTHETIC)" : "");

    // Warm the page cache with the input file.
    std::vector<uint8_t> file_buf(file_size(path));
    read_file(path, file_buf.data(), file_buf.size(), pool1);
    file_buf = {};

    const std::string qs_coded = work + "/" + name + ".qs";
    const std::string qs_raw = work + "/" + name + ".lowraw.qs";
    const std::string low_st = work + "/" + name + ".int8.safetensors";

    // ---- pack speed (the last run leaves the files used below) ----
    qstore::PackStats stats_coded, stats_raw;
    std::map<std::string, Timing> pack_s;
    for (bool raw : {false, true})
        for (unsigned t : {1u, N}) {
            log("%s: pack%s, %u thread(s)", name.c_str(), raw ? " --low-raw" : "", t);
            qstore::PackOptions po;
            po.low_raw = raw;
            po.threads = t == N ? qs_all_threads : 1;
            pack_s[std::string(raw ? "raw" : "coded") + (t == 1 ? "1" : "N")] = time_op(
                [&] { (raw ? stats_raw : stats_coded) = qstore::pack(st, nullptr, po, raw ? qs_raw : qs_coded); },
                opt.pack_runs, 0, false);
        }

    // ---- tensors, separate files ----
    qs_file* fc = open_qs(qs_coded, qs_all_threads);
    const auto infos = tensor_infos(fc);
    uint64_t elements = 0, high_total = 0, low_total = 0, largest = 0, quantized = 0, multi_block = 0;
    const uint64_t block_elements = qstore::PackOptions().block_elements;
    std::map<std::string, uint64_t> quantized_dtype_elems;
    for (const auto& t : infos) {
        elements += t.elements;
        high_total += t.high_bytes;
        low_total += t.low_code_bytes + t.low_scale_bytes;
        largest = std::max(largest, t.high_bytes);
        if (t.scheme != QS_LOW_PASSTHROUGH) {
            ++quantized;
            const uint64_t cols = t.shape.empty() || t.shape[0] == 0 ? 1 : t.elements / t.shape[0];
            const uint64_t rows_per_block = std::max<uint64_t>(1, block_elements / std::max<uint64_t>(1, cols));
            if (!t.shape.empty() && t.shape[0] > rows_per_block) ++multi_block;
            quantized_dtype_elems[t.dtype == QS_DTYPE_F32 ? "F32" : t.dtype == QS_DTYPE_F16 ? "F16" : "BF16"] +=
                t.elements;
        }
    }
    const uint64_t separate_raw = high_total + low_total;  // exactly `qstore info`'s totals

    std::vector<Unit> high_units, low_units;
    std::vector<uint8_t> low_all(low_total);
    std::vector<qstore::SafetensorsWriter::Entry> low_entries;
    {
        size_t hoff = 0, loff = 0;
        for (size_t i = 0; i < infos.size(); ++i) {
            const auto& t = infos[i];
            const qstore::SafetensorsTensor* s = st.find(t.name);
            if (!s || s->size != t.high_bytes) die(path + ": tensor '" + t.name + "' differs between files");
            const size_t esize = t.elements ? t.high_bytes / t.elements : 1;
            high_units.push_back({s->data, s->size, esize, hoff, t.dtype, t.shape.empty() ? 1 : t.shape[0]});
            hoff += s->size;
            uint8_t* codes = low_all.data() + loff;
            uint8_t* scales = codes + t.low_code_bytes;
            check(qs_load_low(fc, i, codes, t.low_code_bytes, t.low_scale_bytes ? scales : nullptr, t.low_scale_bytes),
                  "qs_load_low");
            const bool q = t.scheme != QS_LOW_PASSTHROUGH;
            low_units.push_back({codes, t.low_code_bytes, q ? 1 : esize, loff});
            low_entries.push_back({t.name, static_cast<qstore::DType>(t.low_dtype), t.shape, t.low_code_bytes});
            if (q) {
                low_units.push_back({scales, t.low_scale_bytes, 4, loff + t.low_code_bytes});
                low_entries.push_back({scale_tensor_name(t.name), qstore::DType::f32, {t.low_scale_bytes / 4},
                                       t.low_scale_bytes});
            }
            loff += t.low_code_bytes + t.low_scale_bytes;
        }
    }
    {  // the separate INT8 file, bitsandbytes layout
        qstore::SafetensorsWriter w(low_st, low_entries, {{"format", "pt"}});
        for (const auto& u : low_units) w.write_next(u.data, u.size);
        w.finish();
    }

    // ---- sizes ----
    log("%s: compressing the separate files (zstd-3, zstd-19, lz4, byte-grouped)", name.c_str());
    std::vector<uint8_t> high_out(high_total), low_out(low_total);
    std::memset(high_out.data(), 1, high_out.size());
    std::memset(low_out.data(), 1, low_out.size());
    std::map<std::string, uint64_t> stored;          // "<codec>_<file>" -> bytes
    struct Speed {
        double t1, tn, t1_best, tn_best;  // MB/s: median and best, 1 thread and N threads
    };
    std::map<std::string, Speed> speed;
    // Load and decompression speeds are sampled in rounds: every round times every
    // operation once (one thread, then N), so that qstore and the baselines it is compared
    // with are measured under the same conditions. This VM's speed drifts by 20-50% over
    // minutes; timing each operation's samples back to back put them in different phases.
    struct Samples {
        uint64_t bytes = 0;
        int reps1 = 0, repsN = 0;  // calls per sample, from the first round's warm-up
        std::vector<double> t1, tn;
    };
    std::map<std::string, Samples> samples;
    auto both = [&](const std::string& key, uint64_t bytes, const std::function<void(qstore::ThreadPool&)>& op) {
        Samples& m = samples[key];
        m.bytes = bytes;
        if (m.reps1 == 0) {
            m.reps1 = warm_up([&] { op(pool1); }, opt.min_sample_seconds);
            m.repsN = warm_up([&] { op(poolN); }, opt.min_sample_seconds);
        }
        m.t1.push_back(sample_seconds([&] { op(pool1); }, m.reps1));
        m.tn.push_back(sample_seconds([&] { op(poolN); }, m.repsN));
    };
    struct Decompression {  // a separate file compressed one way, timed with the loads
        std::string key;
        Codec codec;
        bool high;
        Frames frames;
    };
    std::vector<Decompression> decompressions;
    const std::pair<Codec, const char*> codecs[] = {
        {Codec::zstd3, "zstd3"}, {Codec::zstd19, "zstd19"}, {Codec::lz4, "lz4"}, {Codec::byte_grouped, "bytegroup"}};
    for (const auto& [codec, cname] : codecs) {
        for (int file = 0; file < 2; ++file) {
            if (codec == Codec::byte_grouped && file == 1) {  // the INT8 file: plain zstd-3
                stored[std::string(cname) + "_low"] = stored["zstd3_low"];
                continue;
            }
            const auto& units = file == 0 ? high_units : low_units;
            log("%s: %s, %s file", name.c_str(), cname, file == 0 ? "high" : "INT8");
            Frames f = compress_units(units, codec, poolN);
            const std::string key = std::string(cname) + (file == 0 ? "_high" : "_low");
            stored[key] = f.stored;
            if (codec == Codec::zstd19 && file == 1) continue;  // size only
            decompressions.push_back({key, codec, file == 0, std::move(f)});
        }
    }

    log("%s: order-0 entropy", name.c_str());
    std::vector<double> h0(high_units.size());
    poolN.parallel_for(high_units.size(),
                       [&](size_t i) { h0[i] = entropy_bits(high_units[i].data, high_units[i].size, high_units[i].elem); });
    double h0_bits = 0;
    for (double b : h0) h0_bits += b;
    std::vector<double> h_row(high_units.size());
    poolN.parallel_for(high_units.size(), [&](size_t i) {
        const Unit& u = high_units[i];
        const bool is_float = u.dtype == QS_DTYPE_F16 || u.dtype == QS_DTYPE_BF16 || u.dtype == QS_DTYPE_F32;
        h_row[i] = is_float ? row_class_entropy_bits(u.data, u.size, u.elem, u.dtype, u.rows) : h0[i];
    });
    double h_row_bits = 0;
    for (double b : h_row) h_row_bits += b;
    // The table-free in-bin residual's bits per int8-row tensor (0 for passthrough).
    std::vector<double> flat_bin(high_units.size(), 0.0);
    std::vector<size_t> low_offset(infos.size());
    for (size_t i = 0, off = 0; i < infos.size(); off += infos[i].low_code_bytes + infos[i].low_scale_bytes, ++i)
        low_offset[i] = off;
    poolN.parallel_for(high_units.size(), [&](size_t i) {
        const TensorInfo& t = infos[i];
        if (t.scheme == QS_LOW_PASSTHROUGH) return;
        if (t.scheme != QS_LOW_INT8_ROW) {
            flat_bin[i] = std::nan("");
            return;
        }
        const uint8_t* codes = low_all.data() + low_offset[i];
        std::vector<float> scales(t.low_scale_bytes / 4);
        std::memcpy(scales.data(), codes + t.low_code_bytes, scales.size() * 4);
        flat_bin[i] = flat_bin_residual_bits(high_units[i], reinterpret_cast<const int8_t*>(codes), scales.data(),
                                             scales.size());
    });
    double flat_bin_bits = 0;
    for (double b : flat_bin) flat_bin_bits += b;

    // ---- speeds: decompression of the separate files, memcpy, read(), qstore loads ----
    log("%s: timing loads (%d rounds)", name.c_str(), opt.runs);
    const std::vector<Chunk> high_chunks = chunks_of(high_units), low_chunks = chunks_of(low_units);
    const uint64_t high_file = file_size(path), low_file = file_size(low_st);
    std::vector<uint8_t> file_bytes(std::max(high_file, low_file));
    std::memset(file_bytes.data(), 1, file_bytes.size());
    // qstore: every tensor through the C API, open + loads + close per call.
    auto qs_op = [&](const std::string& file, bool high, bool verify, bool view) {
        return [&, file, high, verify, view](qstore::ThreadPool& p) {
            qs_file* f = open_qs(file, p.size() == 1 ? 1 : qs_all_threads, verify);
            size_t hoff = 0, loff = 0;
            for (size_t i = 0; i < infos.size(); ++i) {
                const auto& t = infos[i];
                if (high) {
                    check(qs_load_high(f, i, high_out.data() + hoff, t.high_bytes), "qs_load_high");
                } else if (view) {
                    const void *c = nullptr, *s = nullptr;
                    check(qs_view_low(f, i, &c, &s), "qs_view_low");
                    asm volatile("" ::"r"(c), "r"(s) : "memory");
                } else {
                    uint8_t* codes = low_out.data() + loff;
                    check(qs_load_low(f, i, codes, t.low_code_bytes, t.low_scale_bytes ? codes + t.low_code_bytes : nullptr,
                                      t.low_scale_bytes),
                          "qs_load_low");
                }
                hoff += t.high_bytes;
                loff += t.low_code_bytes + t.low_scale_bytes;
            }
            qs_close(f);
        };
    };
    // Every tensor in high precision with one qs_load_high_many call, into high_out.
    std::vector<size_t> all_idx(infos.size());
    std::vector<void*> all_outs(infos.size());
    std::vector<size_t> all_sizes(infos.size());
    for (size_t i = 0, hoff = 0; i < infos.size(); hoff += infos[i].high_bytes, ++i) {
        all_idx[i] = i;
        all_outs[i] = high_out.data() + hoff;
        all_sizes[i] = infos[i].high_bytes;
    }
    auto load_all_high = [&](qs_file* f) {
        check(qs_load_high_many(f, all_idx.size(), all_idx.data(), all_outs.data(), all_sizes.data()),
              "qs_load_high_many");
    };
    qs_file* const open_1 = open_qs(qs_coded, 1);
    qs_file* const open_n = open_qs(qs_coded, qs_all_threads);
    auto timing_round = [&] {
        for (const Decompression& d : decompressions) {
            const auto& units = d.high ? high_units : low_units;
            uint8_t* out = d.high ? high_out.data() : low_out.data();
            both(d.key, d.high ? high_total : low_total,
                 [&](qstore::ThreadPool& p) { decompress_units(units, d.frames, d.codec, out, p); });
            for (const auto& u : units)
                if (std::memcmp(out + u.out_offset, u.data, u.size) != 0) die(d.key + ": round trip mismatch");
        }
        {
            for (const auto* pr : {&high_chunks, &low_chunks}) {
                const auto& chunks = *pr;
                uint8_t* out = pr == &high_chunks ? high_out.data() : low_out.data();
                both(pr == &high_chunks ? "memcpy_high" : "memcpy_low", pr == &high_chunks ? high_total : low_total,
                     [&](qstore::ThreadPool& p) {
                         p.parallel_for(chunks.size(),
                                        [&](size_t i) { std::memcpy(out + chunks[i].out_offset, chunks[i].src, chunks[i].size); });
                     });
            }
            both("read_high", high_file, [&](qstore::ThreadPool& p) { read_file(path, file_bytes.data(), high_file, p); });
            both("read_low", low_file, [&](qstore::ThreadPool& p) { read_file(low_st, file_bytes.data(), low_file, p); });
        }
        both("qs_load_high_coded", high_total, qs_op(qs_coded, true, true, false));
        for (const auto& u : high_units)
            if (std::memcmp(high_out.data() + u.out_offset, u.data, u.size) != 0) die(name + ": qs_load_high is not bit-exact");
        // The same loads as one qs_load_high_many call: tensors decoded in parallel.
        both("qs_load_high_many", high_total, [&](qstore::ThreadPool& p) {
            qs_file* f = open_qs(qs_coded, p.size() == 1 ? 1 : qs_all_threads, true);
            load_all_high(f);
            qs_close(f);
        });
        for (const auto& u : high_units)
            if (std::memcmp(high_out.data() + u.out_offset, u.data, u.size) != 0)
                die(name + ": qs_load_high_many is not bit-exact");
        // The same on a handle kept open: its worker threads started by an earlier call.
        // A thread created right after the process was idle for some milliseconds is
        // often placed on its creator's CPU by Linux and shares it until the load
        // balancer moves one (docs/design/targets.md); a runtime that keeps its handle does
        // not pay that again.
        both("qs_load_high_many_open", high_total,
             [&](qstore::ThreadPool& p) { load_all_high(p.size() == 1 ? open_1 : open_n); });
        both("qs_load_high_lowraw", high_total, qs_op(qs_raw, true, true, false));
        both("qs_load_high_coded_nocheck", high_total, qs_op(qs_coded, true, false, false));
        both("qs_load_low_coded", low_total, qs_op(qs_coded, false, true, false));
        if (std::memcmp(low_out.data(), low_all.data(), low_total) != 0) die(name + ": qs_load_low differs");
        both("qs_load_low_lowraw", low_total, qs_op(qs_raw, false, true, false));
        both("qs_view_low_lowraw", low_total, qs_op(qs_raw, false, true, true));
    };
    for (int r = 0; r < opt.runs; ++r) timing_round();
    qs_close(open_1);
    qs_close(open_n);
    for (auto& [key, m] : samples) {
        const double b = static_cast<double>(m.bytes);
        speed[key] = {b / median(m.t1) / 1e6, b / median(m.tn) / 1e6,
                      b / *std::min_element(m.t1.begin(), m.t1.end()) / 1e6,
                      b / *std::min_element(m.tn.begin(), m.tn.end()) / 1e6};
    }
    qs_close(fc);

    // ---- memory (child processes) ----
    std::map<std::string, int64_t> rss;
    if (opt.memory) {
        log("%s: peak RSS in child processes", name.c_str());
        const std::string tmp = work + "/" + name + ".mem.qs";
        const std::string Ns = std::to_string(qs_all_threads);
        rss["idle"] = child_peak_rss({"idle"});
        rss["pack_1"] = child_peak_rss({"pack", path, tmp, "1", "0"});
        rss["pack_N"] = child_peak_rss({"pack", path, tmp, Ns, "0"});
        fs::remove(tmp);
        rss["load_high_1"] = child_peak_rss({"load-high", qs_coded, "1"});
        rss["load_high_N"] = child_peak_rss({"load-high", qs_coded, Ns});
        rss["load_low_N"] = child_peak_rss({"load-low", qs_coded, Ns});
        rss["st_copy"] = child_peak_rss({"st-copy", path});
    }

    // ---- results ----
    const uint64_t qs_coded_size = file_size(qs_coded), qs_raw_size = file_size(qs_raw);
    auto bpw = [&](auto bytes) { return elements ? 8.0 * static_cast<double>(bytes) / to_double(elements) : 0.0; };
    auto pct = [](auto a, auto b) {
        const double x = static_cast<double>(a), y = static_cast<double>(b);
        return y > 0 ? 100.0 * x / y : 0.0;
    };
    std::string dtypes;
    for (const auto& [d, n] : quantized_dtype_elems) dtypes += (dtypes.empty() ? "" : "+") + d;
    auto params_str = [](uint64_t count) {
        const double n = to_double(count);
        return n >= 1e9 ? format("%.2fB", n / 1e9) : n >= 1e6 ? format("%.2fM", n / 1e6) : format("%.1fK", n / 1e3);
    };

    json& j = res.j;
    j["name"] = name;
    j["path"] = path;
    j["synthetic"] = synthetic;
    if (synthetic) j["note"] = "SYNTHETIC weights: ratios do not represent any real model";
    j["quantized_dtypes"] = dtypes;
    j["parameters"] = elements;
    j["tensors"] = infos.size();
    j["quantized_tensors"] = quantized;
    j["quantized_tensors_multi_block"] = multi_block;
    j["load_average_after"] = load_average();
    j["largest_tensor_bytes"] = largest;
    j["high_tensor_bytes"] = high_total;
    j["low_tensor_bytes"] = low_total;
    j["separate_raw_bytes"] = separate_raw;

    auto& R = res.rows;
    const std::string S0 = "Model";
    R.push_back({S0, "quantized tensors' dtype", dtypes.empty() ? "-" : dtypes});
    R.push_back({S0, "parameters", params_str(elements)});
    R.push_back({S0, "tensors (quantized)", std::to_string(infos.size()) + " (" + std::to_string(quantized) + ")"});
    R.push_back({S0, "quantized tensors with more than one coding block", std::to_string(multi_block)});
    R.push_back({S0, "separate raw = high + INT8 codes + scales + passthrough", mb(separate_raw)});

    const std::string S1 = "Size: bits per weight over all tensors (% of separate raw)";
    json& sz = j["size"];
    auto size_row = [&](const std::string& key, const std::string& label, auto bytes) {
        sz[key] = {{"bytes", bytes}, {"bits_per_weight", bpw(bytes)}, {"percent_of_separate_raw", pct(bytes, separate_raw)}};
        R.push_back({S1, label, format("%.3f", bpw(bytes)) + " (" + format("%.1f%%", pct(bytes, separate_raw)) + ")"});
    };
    size_row("separate_raw", "separate raw files (high + INT8)", separate_raw);
    size_row("separate_zstd3", "separate, zstd -3 per tensor, both files", stored["zstd3_high"] + stored["zstd3_low"]);
    size_row("separate_zstd19", "separate, zstd -19 per tensor, both files", stored["zstd19_high"] + stored["zstd19_low"]);
    size_row("separate_lz4", "separate, lz4 per tensor, both files", stored["lz4_high"] + stored["lz4_low"]);
    size_row("separate_byte_grouped", "separate, byte-grouped zstd -3 (ZipNN-style) + INT8 zstd -3",
             stored["bytegroup_high"] + stored["bytegroup_low"]);
    size_row("qstore_coded", "qstore (coded low)", qs_coded_size);
    size_row("qstore_low_raw", "qstore --low-raw", qs_raw_size);
    size_row("high_only_raw", "for reference: high file alone, raw", high_total);
    size_row("high_only_zstd3", "for reference: high file alone, zstd -3", stored["zstd3_high"]);
    size_row("high_only_byte_grouped", "for reference: high file alone, byte-grouped", stored["bytegroup_high"]);
    size_row("h0_high", "H0(high): order-0 entropy of high values, per tensor", h0_bits / 8.0);
    sz["qstore_over_h0_high"] = h0_bits > 0 ? 8.0 * to_double(qs_coded_size) / h0_bits : 0.0;
    R.push_back({S1, "qstore (coded) / H0(high)", format("%.3f", sz["qstore_over_h0_high"].get<double>())});
    size_row("h_high_given_row_class",
             "H(high | row class): order-0 entropy per quarter octave of the row's max |x|, no table cost",
             h_row_bits / 8.0);
    sz["h_row_class_over_h0_high"] = h0_bits > 0 ? h_row_bits / h0_bits : 0.0;
    R.push_back({S1, "H(high | row class) / H0(high): the floor of row-adaptive order-0 models",
                 format("%.3f", sz["h_row_class_over_h0_high"].get<double>())});
    // The pair with today's low prefix and an ideal table-free residual that knows the
    // row's bins: how near a residual that adapts to the row gets to H0(high).
    const double flat_pair_bits = 8.0 * to_double(stats_coded.low_prefix_end) + flat_bin_bits;
    sz["low_prefix_plus_flat_bin_over_h0_high"] =
        h0_bits > 0 && std::isfinite(flat_pair_bits) ? json(flat_pair_bits / h0_bits) : json(nullptr);
    R.push_back({S1, "(qstore low prefix + in-bin residual floor, flat density, no tables) / H0(high)",
                 std::isfinite(flat_pair_bits) && h0_bits > 0 ? format("%.3f", flat_pair_bits / h0_bits) : "-"});

    const std::string S2 = "Low precision: bits per weight (% of separate INT8 file raw)";
    json& lz = j["low_prefix"];
    auto low_row = [&](const std::string& key, const std::string& label, auto bytes) {
        lz[key] = {{"bytes", bytes}, {"bits_per_weight", bpw(bytes)}, {"percent_of_separate_int8_raw", pct(bytes, low_total)}};
        R.push_back({S2, label, format("%.3f", bpw(bytes)) + " (" + format("%.1f%%", pct(bytes, low_total)) + ")"});
    };
    low_row("separate_int8_raw", "separate INT8 file, raw", low_total);
    low_row("separate_int8_zstd3", "separate INT8 file, zstd -3 per tensor", stored["zstd3_low"]);
    low_row("qstore_coded_prefix", "qstore low prefix (coded)", stats_coded.low_prefix_end);
    low_row("qstore_low_raw_prefix", "qstore low prefix (--low-raw)", stats_raw.low_prefix_end);

    const std::string S3 = "Speed: MB/s, 1 thread / " + std::to_string(N) + " threads (median of " +
                           std::to_string(opt.runs) + " rounds; pack " + std::to_string(opt.pack_runs) + " runs)";
    json& sp = j["speed_mb_per_s"];
    auto speed_row = [&](const std::string& key, const std::string& label, const Speed& v) {
        sp[key] = {{"threads_1", v.t1}, {"threads_all", v.tn}, {"threads_1_best", v.t1_best},
                   {"threads_all_best", v.tn_best}};
        R.push_back({S3, label, format("%.0f", v.t1) + " / " + format("%.0f", v.tn)});
    };
    auto pk = [&](const std::string& k) {
        const double b = static_cast<double>(high_total) / 1e6;
        return Speed{b / pack_s[k + "1"].median, b / pack_s[k + "N"].median, b / pack_s[k + "1"].best,
                     b / pack_s[k + "N"].best};
    };
    speed_row("pack_coded", "pack, coded low (of high input)", pk("coded"));
    speed_row("pack_low_raw", "pack --low-raw (of high input)", pk("raw"));
    auto sr = [&](const std::string& key, const std::string& label) { speed_row(key, label, speed[key]); };
    sr("qs_load_high_coded", "qs_load_high, coded file (of output)");
    sr("qs_load_high_many", "qs_load_high_many (all tensors in one call), coded file");
    sr("qs_load_high_many_open", "qs_load_high_many, handle kept open between calls");
    sr("qs_load_high_lowraw", "qs_load_high, --low-raw file");
    sr("qs_load_high_coded_nocheck", "qs_load_high, coded, checksums off");
    sr("qs_load_low_coded", "qs_load_low, coded file (of output)");
    sr("qs_load_low_lowraw", "qs_load_low, --low-raw file");
    sr("qs_view_low_lowraw", "qs_view_low, --low-raw (zero-copy + checksum)");
    sr("memcpy_high", "memcpy of the high bytes");
    sr("memcpy_low", "memcpy of the low bytes");
    sr("read_high", "read() separate high file (page cache)");
    sr("read_low", "read() separate INT8 file (page cache)");
    sr("zstd3_high", "zstd -3 decompress, high file");
    sr("zstd19_high", "zstd -19 decompress, high file");
    sr("bytegroup_high", "byte-grouped decompress, high file");
    sr("lz4_high", "lz4 decompress, high file");
    sr("zstd3_low", "zstd -3 decompress, INT8 file");
    sr("lz4_low", "lz4 decompress, INT8 file");

    // The load targets as ratios paired within each round (both operations timed
    // back to back), then the median over rounds: steadier than a ratio of two medians
    // on a machine whose speed drifts between rounds.
    const std::string S5 = "Load ratios, paired per round (median over " + std::to_string(opt.runs) + " rounds)";
    json& pr = j["paired_ratios"];
    auto per_round = [&](const std::string& key, bool n_threads) {
        const Samples& m = samples[key];
        std::vector<double> v;
        for (double t : n_threads ? m.tn : m.t1) v.push_back(static_cast<double>(m.bytes) / t);
        return v;
    };
    auto ratio_row = [&](const std::string& key, const std::string& label, const std::vector<double>& num,
                         const std::vector<double>& den) {
        std::vector<double> r;
        for (size_t i = 0; i < std::min(num.size(), den.size()); ++i) r.push_back(num[i] / den[i]);
        pr[key] = r.empty() ? 0.0 : median(r);
        R.push_back({S5, label, format("%.2f", pr[key].get<double>())});
    };
    ratio_row("load_high_kept_open_over_zstd3", "qs_load_high_many kept open / zstd -3 -d high, 1 thread",
              per_round("qs_load_high_many_open", false), per_round("zstd3_high", false));
    ratio_row("load_high_over_zstd3", "qs_load_high (open + loads + close) / zstd -3 -d high, 1 thread",
              per_round("qs_load_high_coded", false), per_round("zstd3_high", false));
    ratio_row("load_low_over_zstd3", "qs_load_low coded / zstd -3 -d INT8, 1 thread", per_round("qs_load_low_coded", false),
              per_round("zstd3_low", false));
    ratio_row("load_high_kept_open_threads", "qs_load_high_many kept open, " + std::to_string(N) + " threads / 1",
              per_round("qs_load_high_many_open", true), per_round("qs_load_high_many_open", false));
    ratio_row("zstd3_high_threads", "zstd -3 -d high (a pool), " + std::to_string(N) + " threads / 1",
              per_round("zstd3_high", true), per_round("zstd3_high", false));

    const std::string S4 = "Memory: peak RSS of a child process";
    json& mm = j["peak_rss_bytes"];
    mm["largest_tensor_bytes"] = largest;
    R.push_back({S4, "largest tensor (high)", mb(largest)});
    auto rss_row = [&](const std::string& key, const std::string& label) {
        mm[key] = rss.count(key) ? json(rss[key]) : json(nullptr);
        R.push_back({S4, label, rss.count(key) && rss[key] >= 0 ? mb(rss[key]) : "-"});
    };
    rss_row("idle", "empty child (baseline)");
    rss_row("pack_1", "pack, 1 thread");
    rss_row("pack_N", "pack, " + std::to_string(N) + " threads");
    rss_row("load_high_1", "qs_load_high every tensor, 1 thread");
    rss_row("load_high_N", "qs_load_high every tensor, " + std::to_string(N) + " threads");
    rss_row("load_low_N", "qs_load_low every tensor, " + std::to_string(N) + " threads");
    rss_row("st_copy", "safetensors mmap + copy every tensor");
    return res;
}

std::string render_table(const std::vector<ModelResult>& models) {
    std::string out;
    std::vector<size_t> width(models.size() + 1, 0);
    const auto& rows0 = models.front().rows;
    width[0] = 6;
    for (const auto& r : rows0) width[0] = std::max({width[0], r.label.size(), r.section.size() + 4});
    for (size_t m = 0; m < models.size(); ++m) {
        width[m + 1] = models[m].column.size();
        for (const auto& r : models[m].rows) width[m + 1] = std::max(width[m + 1], r.cell.size());
    }
    auto line = [&](const std::vector<std::string>& cells) {
        std::string s = "|";
        for (size_t c = 0; c < cells.size(); ++c) {
            std::string v = cells[c];
            if (c == 0) v.resize(width[c], ' ');
            else v = std::string(width[c] - std::min(width[c], v.size()), ' ') + v;
            s += " " + v + " |";
        }
        return s + "\n";
    };
    std::vector<std::string> header = {"metric"};
    for (const auto& m : models) header.push_back(m.column);
    out += line(header);
    std::string sep = "|";
    for (size_t c = 0; c < width.size(); ++c) sep += (c == 0 ? ":" : "-") + std::string(width[c], '-') + (c == 0 ? "-|" : ":|");
    out += sep + "\n";
    std::string section;
    for (size_t r = 0; r < rows0.size(); ++r) {
        if (rows0[r].section != section) {
            section = rows0[r].section;
            std::vector<std::string> cells = {"**" + section + "**"};
            cells.resize(models.size() + 1);
            out += line(cells);
        }
        std::vector<std::string> cells = {rows0[r].label};
        for (const auto& m : models) cells.push_back(r < m.rows.size() ? m.rows[r].cell : "");
        out += line(cells);
    }
    return out;
}

void usage() {
    std::printf(
        "usage: qstore_compare [options] MODEL.safetensors [MODEL2 ...]\n"
        "       qstore_compare --synthetic 100M [--synthetic-out PATH] [options]\n"
        "Packs each model with qstore (coded low and --low-raw) and prints one table comparing it with the\n"
        "separate raw/zstd/lz4/byte-grouped files, the order-0 entropy bound, load speeds and peak memory.\n"
        "options:\n"
        "  --json FILE          also write the results as JSON\n"
        "  --md FILE            also write the table (markdown) to FILE\n"
        "  --runs N             timed rounds of the load and decompression speeds, median reported (default 5)\n"
        "  --pack-runs N        timed runs per pack measurement (default 3)\n"
        "  --threads N          the 'all threads' column (default: all CPUs, qs_open_ex num_threads=0)\n"
        "  --work-dir DIR       where .qs and separate files are written (default: a fresh temp dir)\n"
        "  --keep               keep the work directory\n"
        "  --no-memory          skip the peak-RSS child processes\n"
        "  --synthetic SIZE     generate a SYNTHETIC Llama-shaped BF16 model of SIZE parameters (100M, 1B)\n"
        "  --synthetic-out PATH keep the synthetic model at PATH (default: in the work dir)\n");
}

}  // namespace

int main(int argc, char** argv) {
    {
        char buf[4096];
        ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
        g_self_exe = n > 0 ? std::string(buf, static_cast<size_t>(n)) : argv[0];
    }
    if (argc > 1 && std::string(argv[1]) == "--child") return child_main(argc, argv);
    if (argc > 1 && std::string(argv[1]) == "--child-wrap") return child_wrap_main(argc, argv);

    Options opt;
    try {
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            auto next = [&]() -> std::string {
                if (i + 1 >= argc) die(a + " needs a value");
                return argv[++i];
            };
            if (a == "--json") opt.json_out = next();
            else if (a == "--md") opt.md_out = next();
            else if (a == "--runs") opt.runs = std::max(1, std::stoi(next()));
            else if (a == "--pack-runs") opt.pack_runs = std::max(1, std::stoi(next()));
            else if (a == "--threads") opt.threads = static_cast<unsigned>(std::stoul(next()));
            else if (a == "--work-dir") opt.work_dir = next();
            else if (a == "--keep") opt.keep = true;
            else if (a == "--no-memory") opt.memory = false;
            else if (a == "--synthetic") opt.synthetic = next();
            else if (a == "--synthetic-out") opt.synthetic_out = next();
            else if (a == "-h" || a == "--help") {
                usage();
                return 0;
            } else if (!a.empty() && a[0] == '-') die("unknown option " + a + " (see --help)");
            else opt.inputs.push_back(a);
        }
        if (opt.inputs.empty() && opt.synthetic.empty()) {
            usage();
            return 2;
        }

        bool own_work = false;
        if (opt.work_dir.empty()) {
            std::string tmpl = (fs::temp_directory_path() / "qstore-compare-XXXXXX").string();
            if (!mkdtemp(tmpl.data())) die("cannot create a temporary directory");
            opt.work_dir = tmpl;
            own_work = true;
        } else {
            fs::create_directories(opt.work_dir);
        }

        std::string synthetic_path;
        if (!opt.synthetic.empty()) {
            const uint64_t target = parse_param_count(opt.synthetic);
            synthetic_path = opt.synthetic_out.empty() ? opt.work_dir + "/synthetic-" + opt.synthetic + ".safetensors"
                                                       : opt.synthetic_out;
            log("generating a SYNTHETIC %s-parameter model at %s", opt.synthetic.c_str(), synthetic_path.c_str());
            const double t0 = now_seconds();
            auto s = write_synthetic_model(synthetic_path, target, 20240607, opt.threads);
            log("synthetic model: %llu parameters, %llu layers, hidden %llu, %.1f s", (unsigned long long)s.params,
                (unsigned long long)s.shape.layers, (unsigned long long)s.shape.hidden, now_seconds() - t0);
            opt.inputs.push_back(synthetic_path);
        }

        std::vector<ModelResult> results;
        const std::string load_before = load_average();
        const double t0 = now_seconds();
        for (const auto& in : opt.inputs) results.push_back(measure_model(in, opt, opt.work_dir));
        const double elapsed = now_seconds() - t0;

        const unsigned N = opt.threads ? opt.threads : hardware_threads();
        bool any_synthetic = false;
        for (const auto& r : results) any_synthetic |= r.j["synthetic"].get<bool>();
        std::string table = render_table(results);
        std::string header = "qstore_compare: " + cpu_model_name() + ", " + std::to_string(hardware_threads()) +
                             " CPUs; threads: 1 and " + std::to_string(N) + "; qstore " + qs_version_string() +
                             "; MB = 10^6 bytes; load average before/after: " + load_before + " / " +
                             load_average() + "\n";
        if (any_synthetic)
            header += "NOTE: columns marked SYNTHETIC are generated weights (Student-t rows, outlier columns), "
                      "not a trained model: their ratios are not real-model results.\n";
        const std::string notes =
            "\nNotes: separate raw = the high safetensors' tensor bytes + the INT8 file's tensor bytes (codes, float32 "
            "scales, passthrough tensors once more), as `qstore info` counts it; bits per weight are over all tensors. "
            "Compression of the separate files is one frame per tensor. Byte-grouped = each 16-bit (32-bit) tensor split "
            "into 2 (4) byte planes, each zstd -3. H0(high) = sum over tensors of the empirical order-0 entropy of the "
            "element bit patterns, without any table cost; where most values are distinct (F32) it is capped near "
            "log2(elements per tensor) and is not an achievable bound. Speeds: MB/s of high input (pack), of output "
            "bytes (loads, decompression, memcpy) or of file bytes (read); qstore loads time qs_open_ex + every "
            "tensor + qs_close (but the row 'handle kept open'); N threads = qs_open_ex num_threads=0 for qstore, a pool of N for the baselines "
            "(per tensor for decompression, 1 MB chunks for memcpy/read). Loads, decompression, memcpy and read are "
            "timed in rounds, each round timing every one of them once, so that qstore and the baselines see the "
            "same machine conditions. Peak RSS includes the pages of mapped files that were touched.\n";
        std::printf("%s\n%s%s", header.c_str(), table.c_str(), notes.c_str());
        if (!opt.md_out.empty()) {
            std::ofstream md(opt.md_out);
            md << header << "\n" << table << notes;
            if (!md) die(opt.md_out + ": cannot write");
        }
        if (!opt.json_out.empty()) {
            json j;
            j["tool"] = "qstore_compare";
            j["qstore_version"] = qs_version_string();
            j["machine"] = {{"cpu_model", cpu_model_name()}, {"cpus", hardware_threads()},
                            {"load_average_before", load_before}, {"load_average_after", load_average()}};
            j["threads"] = {{"one", 1}, {"all", N}, {"qs_open_num_threads_all", opt.threads ? opt.threads : 0}};
            j["runs"] = opt.runs;
            j["pack_runs"] = opt.pack_runs;
            j["elapsed_seconds"] = elapsed;
            j["definitions"] = {
                {"separate_raw", "high tensor bytes + INT8 codes + float32 scales of quantized tensors + passthrough "
                                 "tensors once more (as `qstore info` totals)"},
                {"bits_per_weight", "8 * bytes / all elements of the model"},
                {"speed", "MB/s (10^6 bytes) of high input (pack) or output bytes (loads, decompression, memcpy) "
                          "or file bytes (read); qstore loads include qs_open_ex/qs_close"},
                {"peak_rss", "ru_maxrss of a freshly exec'd child process (wait4), in bytes"},
                {"h0_high", "sum over tensors of n * order-0 entropy of the element bit patterns"},
                {"h_high_given_row_class", "the same, counted apart per class of the row's largest finite |x| "
                                           "(quarter octaves, rows = shape[0]); float tensors only, H0 for others"}};
            j["models"] = json::array();
            for (const auto& r : results) j["models"].push_back(r.j);
            j["table_markdown"] = header + "\n" + table + notes;
            std::ofstream out(opt.json_out);
            out << j.dump(2) << "\n";
            if (!out) die(opt.json_out + ": cannot write");
        }
        if (own_work && !opt.keep) fs::remove_all(opt.work_dir);
        else if (!opt.keep) {
            for (const auto& r : results) {
                const std::string n = r.j["name"].get<std::string>();
                for (const char* ext : {".qs", ".lowraw.qs", ".int8.safetensors"}) fs::remove(opt.work_dir + "/" + n + ext);
            }
            if (!synthetic_path.empty() && opt.synthetic_out.empty()) fs::remove(synthetic_path);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qstore_compare: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
