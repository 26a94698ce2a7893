// Micro-benchmarks of the codec kernels on one coding block: the INT8 per-row scheme
// (quantize, predict), the residual codec (encode/decode per dtype; decode includes
// the prediction from codes and scales, i.e. the whole per-block work of a high load
// after the codes are available), the stream-set coder (encode, decode) and the
// static rANS coder on the block's INT8 codes; the word-rANS token decoder per lane
// count and instruction set.
#include <benchmark/benchmark.h>
#include <zstd.h>

#include <map>
#include <memory>

#include "schemes/registry.hpp"
#include "schemes/scheme.hpp"
#include "micro_data.hpp"
#include "base/float_bits.hpp"
#include "entropy/rans.hpp"
#include "entropy/rans_word.hpp"
#include "residual/high_residual.hpp"
#include "entropy/stream_set.hpp"

namespace {

using qstore::DType;
using qstore_bench::micro_data;

const qstore::LowScheme& scheme() { return *qstore::low_scheme(qstore::SchemeId::int8_row); }
// The kernels every benchmark but the per-kernel-set ones runs.
const qstore::KernelSet kKernels = qstore::kernel_set_detected();
const qstore::TableLookup kLookup = qstore::table_lookup_detected();
// "avx2 loads": a kernel set and its table lookup, as the labels name them.
std::string kernels_label(qstore::KernelSet isa, qstore::TableLookup lookup) {
    return std::string(qstore::kernel_set_name(isa)) +
           (isa == qstore::KernelSet::scalar ? "" : std::string(" ") + qstore::table_lookup_name(lookup));
}

// Everything derived from the block for one dtype, computed once.
struct Prepared {
    qstore::Geometry g;
    std::vector<uint8_t> codes;
    std::vector<float> scales;
    std::vector<float> prediction;
    std::vector<uint8_t> context;
    qstore::ByteVector residual;   // encode_residual_block output
    qstore::ByteVector code_blob;  // StreamEncoder output of the codes (zstd level 3 or rANS)
};

const Prepared& prepared(DType t) {
    static std::map<DType, std::unique_ptr<Prepared>> cache;
    auto& slot = cache[t];
    if (!slot) {
        const auto& d = micro_data();
        auto p = std::make_unique<Prepared>();
        p->g.rows = d.rows;
        p->g.cols = d.cols;
        p->codes.resize(scheme().code_bytes(p->g));
        p->scales.resize(scheme().scale_count(p->g));
        scheme().quantize(kKernels, d.high(t), t, p->g, 0, d.rows, {p->codes.data(), p->scales.data(), nullptr});
        p->prediction.resize(d.n());
        p->context.resize(d.n());
        scheme().predict(kKernels, {p->codes.data(), p->scales.data(), nullptr}, p->g, 0, d.n(), p->prediction.data(),
                         p->context.data());
        qstore::ResidualEncodeScratch encoder(kKernels);
        qstore::encode_residual_block(d.high(t), t, p->prediction.data(), p->context.data(), d.n(), encoder,
                                      p->residual);
        qstore::StreamEncoder enc(3, kKernels);
        enc.encode({{p->codes.data(), p->codes.size()}}, p->code_blob);
        slot = std::move(p);
    }
    return *slot;
}

int64_t high_bytes(DType t) { return int64_t(micro_data().n() * qstore::dtype_size(t)); }

void BM_int8row_quantize(benchmark::State& state, DType t) {
    const auto& d = micro_data();
    const auto& p = prepared(t);
    std::vector<uint8_t> codes(p.codes.size());
    std::vector<float> scales(p.scales.size());
    for (auto _ : state) {
        scheme().quantize(kKernels, d.high(t), t, p.g, 0, d.rows, {codes.data(), scales.data(), nullptr});
        benchmark::DoNotOptimize(codes.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * high_bytes(t));  // high input bytes
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(d.n()));
    state.SetLabel(d.source);
}
BENCHMARK_CAPTURE(BM_int8row_quantize, bf16, DType::bf16);
BENCHMARK_CAPTURE(BM_int8row_quantize, f16, DType::f16);
BENCHMARK_CAPTURE(BM_int8row_quantize, f32, DType::f32);

// Bytes = INT8 code bytes read (one per element); it writes 5 bytes per element.
void BM_int8row_predict(benchmark::State& state) {
    const auto& d = micro_data();
    const auto& p = prepared(DType::bf16);
    std::vector<float> prediction(d.n());
    std::vector<uint8_t> context(d.n());
    for (auto _ : state) {
        scheme().predict(kKernels, {p.codes.data(), p.scales.data(), nullptr}, p.g, 0, d.n(), prediction.data(),
                         context.data());
        benchmark::DoNotOptimize(prediction.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(d.n()));
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(d.n()));
}
BENCHMARK(BM_int8row_predict);

void BM_encode_residual_block(benchmark::State& state, DType t) {
    const auto& d = micro_data();
    const auto& p = prepared(t);
    qstore::ByteVector out;
    qstore::ResidualEncodeScratch encoder(kKernels);
    for (auto _ : state) {
        out.clear();
        qstore::encode_residual_block(d.high(t), t, p.prediction.data(), p.context.data(), d.n(), encoder, out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * high_bytes(t));  // high input bytes
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(d.n()));
    state.counters["residual_bpw"] = 8.0 * double(out.size()) / double(d.n());
}
BENCHMARK_CAPTURE(BM_encode_residual_block, bf16, DType::bf16);
BENCHMARK_CAPTURE(BM_encode_residual_block, f16, DType::f16);
BENCHMARK_CAPTURE(BM_encode_residual_block, f32, DType::f32);

// The per-block work of qs_load_high once the codes are decoded: prediction from
// codes and scales, token decoding, extra bits, reconstruction.
void decode_residual_block_with(benchmark::State& state, DType t, qstore::KernelSet kernels,
                                qstore::TableLookup lookup) {
    const auto& d = micro_data();
    const auto& p = prepared(t);
    qstore::ResidualScratch scratch(kernels, lookup);
    std::vector<uint8_t> out(size_t(high_bytes(t)));
    const std::string what = "bench";
    for (auto _ : state) {
        qstore::decode_residual_block(p.residual.data(), p.residual.size(), t, scheme(),
                                      {p.codes.data(), p.scales.data(), nullptr}, p.g, 0, d.n(), out.data(), scratch, what);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    if (std::memcmp(out.data(), d.high(t), out.size()) != 0) state.SkipWithError("decode is not bit-exact");
    state.SetBytesProcessed(int64_t(state.iterations()) * high_bytes(t));  // high output bytes
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(d.n()));
    state.counters["residual_bpw"] = 8.0 * double(p.residual.size()) / double(d.n());
}
void BM_decode_residual_block(benchmark::State& state, DType t) {
    decode_residual_block_with(state, t, kKernels, kLookup);
}
BENCHMARK_CAPTURE(BM_decode_residual_block, bf16, DType::bf16);
BENCHMARK_CAPTURE(BM_decode_residual_block, f16, DType::f16);
BENCHMARK_CAPTURE(BM_decode_residual_block, f32, DType::f32);

// The same BF16 block with the decoding kernels capped at an instruction set
// (0 = scalar, 1 = AVX2, 2 = AVX-512; capped at what the CPU runs) and their table
// lookups (0 = gather, 1 = scalar loads): Args = (isa, lookup).
void BM_decode_residual_block_isa(benchmark::State& state) {
    const auto isa = qstore::kernel_set_capped(static_cast<qstore::KernelSet>(state.range(0)));
    const auto lookup = static_cast<qstore::TableLookup>(state.range(1));
    decode_residual_block_with(state, DType::bf16, isa, lookup);
    state.SetLabel(kernels_label(isa, lookup));
}
BENCHMARK(BM_decode_residual_block_isa)->Args({0, 0})->Args({1, 0})->Args({1, 1})->Args({2, 0})->Args({2, 1});

// The word-rANS token decoder alone on the BF16 block's residual tokens (one symbol
// per weight, 16 context classes), per lane count and instruction set:
// Args = (lanes, isa, lookup). Items = symbols.
struct WordTokens {
    std::vector<uint8_t> tokens, context;
    qstore::ByteVector table_bytes, payload;
    uint16_t used = 0;
};
const WordTokens& word_tokens(int lanes) {
    static std::map<int, std::unique_ptr<WordTokens>> cache;
    auto& slot = cache[lanes];
    if (!slot) {
        const auto& d = micro_data();
        const auto& p = prepared(DType::bf16);
        auto w = std::make_unique<WordTokens>();
        w->tokens.resize(d.n());
        w->context = p.context;
        std::array<std::array<uint64_t, 256>, qstore::kContextClasses> count{};
        for (uint64_t i = 0; i < d.n(); ++i) {
            const uint16_t h = d.bf16[i];
            const uint16_t z = qstore::zigzag<uint16_t>(static_cast<uint16_t>(
                qstore::float_key<uint16_t>(h) - qstore::float_key<uint16_t>(qstore::bf16_from_f32(p.prediction[i]))));
            int e = 0;
            while ((1u << e) <= z) ++e;
            w->tokens[i] = static_cast<uint8_t>(z < 16 ? z : 16 + 4 * (e - 5) + ((z >> (e - 3)) & 3));
            ++count[p.context[i]][w->tokens[i]];
        }
        std::vector<qstore::RansModel> models(qstore::kContextClasses);
        int scale = 0;
        for (int c = 0; c < qstore::kContextClasses; ++c) {
            uint64_t m = 0;
            for (uint64_t k : count[c]) m += k;
            if (!m) continue;
            w->used |= static_cast<uint16_t>(1u << c);
            models[c] = qstore::rans_model(count[c], 10);
            qstore::rans_write_model(models[c], w->table_bytes);
            scale = std::max(scale, models[c].scale_bits);
        }
        qstore::WordRansEncodeScratch scratch;
        qstore::word_rans_encode(kKernels, w->tokens.data(), w->context.data(), d.n(), lanes, models.data(), scale,
                                 scratch, w->payload);
        slot = std::move(w);
    }
    return *slot;
}

void BM_word_rans_decode_tokens(benchmark::State& state) {
    const int lanes = static_cast<int>(state.range(0));
    const auto isa = qstore::kernel_set_capped(static_cast<qstore::KernelSet>(state.range(1)));
    const auto lookup = static_cast<qstore::TableLookup>(state.range(2));
    const auto& w = word_tokens(lanes);
    const std::string what = "bench";
    qstore::WordRansTableStorage storage;
    qstore::ByteReader r(w.table_bytes.data(), w.table_bytes.size(), what);
    const auto table = qstore::word_rans_read_table(isa, r, w.used, storage, what);
    std::vector<uint8_t> out(w.tokens.size());
    for (auto _ : state) {
        qstore::WordRansDecoder dec(w.payload.data(), w.payload.size(), lanes, what);
        dec.decode(table, w.context.data(), out.size(), out.data(), isa, lookup);
        dec.finish();
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    if (out != w.tokens) state.SkipWithError("tokens do not round-trip");
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(out.size()));
    state.counters["token_bits"] = 8.0 * double(w.payload.size()) / double(out.size());
    state.SetLabel(kernels_label(isa, lookup));
}
BENCHMARK(BM_word_rans_decode_tokens)
    ->Args({4, 0, 0})
    ->Args({32, 0, 0})
    ->ArgsProduct({{8, 16, 32, 64}, {1}, {0, 1}})
    ->ArgsProduct({{16, 32, 64}, {2}, {0, 1}});

// StreamEncoder on the block's INT8 codes (one stream, as the packer stores codes).
// Arg = zstd level (the encoder also tries rANS and keeps the smaller).
void BM_stream_encode_codes(benchmark::State& state) {
    const auto& p = prepared(DType::bf16);
    qstore::StreamEncoder enc(static_cast<int>(state.range(0)), kKernels);
    qstore::ByteVector out;
    for (auto _ : state) {
        out.clear();
        enc.encode({{p.codes.data(), p.codes.size()}}, out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(p.codes.size()));
    state.counters["code_bpw"] = 8.0 * double(out.size()) / double(p.codes.size());
}
BENCHMARK(BM_stream_encode_codes)->Arg(1)->Arg(3)->Arg(9);

// parse_stream_set + StreamDecoder::decode of the codes (what qs_load_low does per block).
void BM_stream_decode_codes(benchmark::State& state) {
    const auto& p = prepared(DType::bf16);
    qstore::StreamDecoder decoder(kKernels, kLookup);
    std::vector<uint8_t> out(p.codes.size());
    const std::string what = "bench";
    int codec = -1;
    for (auto _ : state) {
        auto refs = qstore::parse_stream_set(p.code_blob.data(), p.code_blob.size(), what);
        for (const auto& r : refs) {
            decoder.decode(r, out.data(), out.size(), what);
            codec = static_cast<int>(r.codec);
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    if (out != p.codes) state.SkipWithError("codes do not round-trip");
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(p.codes.size()));  // decoded bytes
    state.counters["codec"] = codec;  // StreamCodec: 2 = zstd, 4 = rANS, 5 = word rANS
    state.counters["code_bpw"] = 8.0 * double(p.code_blob.size()) / double(p.codes.size());
}
BENCHMARK(BM_stream_decode_codes);

// The two rANS stream coders on the same codes: the 4-lane byte rANS (stream-set codec
// 4) and the word rANS (codec 5, what the packer picks for most code streams since
// format 1.2). One benchmark body each for encoding and decoding, registered per coder.
// The coders' working memory, kept from iteration to iteration as a pack's or a
// reader's threads keep theirs.
struct CoderScratch {
    qstore::RansEncodeScratch rans;
    qstore::WordRansEncodeScratch word_rans;
    qstore::RansTable rans_table;
    qstore::WordRansTableStorage word_table;
};
struct CodesCoder {
    void (*encode)(const uint8_t*, size_t, CoderScratch&, qstore::ByteVector&);
    void (*decode)(const uint8_t*, size_t, uint8_t*, size_t, CoderScratch&, const std::string&);
};
void rans_encode_codes(const uint8_t* data, size_t n, CoderScratch& s, qstore::ByteVector& out) {
    qstore::rans_encode(data, n, qstore::byte_histogram(data, n), s.rans, out);
}
void rans_decode_codes(const uint8_t* stored, size_t size, uint8_t* dst, size_t n, CoderScratch& s,
                       const std::string& what) {
    qstore::rans_decode(stored, size, dst, n, s.rans_table, what);
}
void word_rans_encode_codes(const uint8_t* data, size_t n, CoderScratch& s, qstore::ByteVector& out) {
    qstore::word_rans_encode_stream(kKernels, data, n, s.word_rans, out);
}
void word_rans_decode_codes(const uint8_t* stored, size_t size, uint8_t* dst, size_t n, CoderScratch& s,
                            const std::string& what) {
    qstore::word_rans_decode_stream(kKernels, kLookup, stored, size, dst, n, s.word_table, what);
}
constexpr CodesCoder kByteRans{rans_encode_codes, rans_decode_codes};
constexpr CodesCoder kWordRans{word_rans_encode_codes, word_rans_decode_codes};

void BM_encode_codes(benchmark::State& state, CodesCoder coder) {
    const auto& p = prepared(DType::bf16);
    qstore::ByteVector out;
    CoderScratch scratch;
    for (auto _ : state) {
        out.clear();
        coder.encode(p.codes.data(), p.codes.size(), scratch, out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(p.codes.size()));
    state.counters["code_bpw"] = 8.0 * double(out.size()) / double(p.codes.size());
}

void BM_decode_codes(benchmark::State& state, CodesCoder coder) {
    const auto& p = prepared(DType::bf16);
    qstore::ByteVector stream;
    CoderScratch scratch;
    coder.encode(p.codes.data(), p.codes.size(), scratch, stream);
    std::vector<uint8_t> out(p.codes.size());
    const std::string what = "bench";
    for (auto _ : state) {
        coder.decode(stream.data(), stream.size(), out.data(), out.size(), scratch, what);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    if (out != p.codes) state.SkipWithError("codes do not round-trip");
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(p.codes.size()));
    if (coder.decode == kWordRans.decode) state.counters["isa"] = static_cast<double>(kKernels);  // SIMD kernels
}

// Registered under the names earlier results use.
[[maybe_unused]] benchmark::internal::Benchmark* const kCodesBenchmarks[] = {
    benchmark::RegisterBenchmark("BM_rans_encode_codes", BM_encode_codes, kByteRans),
    benchmark::RegisterBenchmark("BM_rans_decode_codes", BM_decode_codes, kByteRans),
    benchmark::RegisterBenchmark("BM_word_rans_encode_codes", BM_encode_codes, kWordRans),
    benchmark::RegisterBenchmark("BM_word_rans_decode_codes", BM_decode_codes, kWordRans),
};

// The word-rANS code stream decoded with the kernels capped at an instruction set and
// their table lookups: Args = (isa, lookup) as BM_decode_residual_block_isa's.
void BM_word_rans_decode_codes_isa(benchmark::State& state) {
    const auto isa = qstore::kernel_set_capped(static_cast<qstore::KernelSet>(state.range(0)));
    const auto lookup = static_cast<qstore::TableLookup>(state.range(1));
    const auto& p = prepared(DType::bf16);
    CoderScratch scratch;
    qstore::ByteVector stream;
    word_rans_encode_codes(p.codes.data(), p.codes.size(), scratch, stream);
    std::vector<uint8_t> out(p.codes.size());
    const std::string what = "bench";
    for (auto _ : state) {
        qstore::word_rans_decode_stream(isa, lookup, stream.data(), stream.size(), out.data(), out.size(),
                                        scratch.word_table, what);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    if (out != p.codes) state.SkipWithError("codes do not round-trip");
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(p.codes.size()));
    state.SetLabel(kernels_label(isa, lookup));
}
BENCHMARK(BM_word_rans_decode_codes_isa)->Args({1, 0})->Args({1, 1})->Args({2, 0})->Args({2, 1});

// zstd alone on the same codes, for reference.
void BM_zstd_decode_codes(benchmark::State& state) {
    const auto& p = prepared(DType::bf16);
    std::vector<uint8_t> frame(ZSTD_compressBound(p.codes.size()));
    frame.resize(ZSTD_compress(frame.data(), frame.size(), p.codes.data(), p.codes.size(), 3));
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    std::vector<uint8_t> out(p.codes.size());
    for (auto _ : state) {
        ZSTD_decompressDCtx(dctx, out.data(), out.size(), frame.data(), frame.size());
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    ZSTD_freeDCtx(dctx);
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(p.codes.size()));
    state.counters["code_bpw"] = 8.0 * double(frame.size()) / double(p.codes.size());
}
BENCHMARK(BM_zstd_decode_codes);

}  // namespace
