// Micro-benchmarks of the codec kernels on one coding block: the INT8 per-row scheme
// (quantize, predict), the residual codec (encode/decode per dtype; decode includes
// the prediction from codes and scales, i.e. the whole per-block work of a high load
// after the codes are available), the stream-set coder (encode, decode) and the
// static rANS coder on the block's INT8 codes.
#include <benchmark/benchmark.h>
#include <zstd.h>

#include <map>
#include <memory>

#include "low_scheme.hpp"
#include "micro_data.hpp"
#include "rans.hpp"
#include "residual_codec.hpp"
#include "stream_set.hpp"

namespace {

using qstore::DType;
using qstore_bench::micro_data;

const qstore::LowScheme& scheme() { return *qstore::low_scheme(qstore::SchemeId::int8_row); }

// Everything derived from the block for one dtype, computed once.
struct Prepared {
    qstore::Geometry g;
    std::vector<uint8_t> codes;
    std::vector<float> scales;
    std::vector<float> prediction;
    std::vector<uint8_t> context;
    std::vector<uint8_t> residual;   // encode_residual_block output
    std::vector<uint8_t> code_blob;  // StreamEncoder output of the codes (zstd level 3 or rANS)
    std::vector<uint8_t> code_rans;  // rans_encode output of the codes
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
        scheme().quantize(d.high(t), t, p->g, 0, d.rows, {p->codes.data(), p->scales.data(), nullptr});
        p->prediction.resize(d.n());
        p->context.resize(d.n());
        scheme().predict({p->codes.data(), p->scales.data(), nullptr}, p->g, 0, d.n(), p->prediction.data(), p->context.data());
        qstore::encode_residual_block(d.high(t), t, p->prediction.data(), p->context.data(), d.n(), p->residual);
        qstore::StreamEncoder enc(3);
        enc.encode({{p->codes.data(), p->codes.size()}}, p->code_blob);
        qstore::rans_encode(p->codes.data(), p->codes.size(), p->code_rans);
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
        scheme().quantize(d.high(t), t, p.g, 0, d.rows, {codes.data(), scales.data(), nullptr});
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
        scheme().predict({p.codes.data(), p.scales.data(), nullptr}, p.g, 0, d.n(), prediction.data(), context.data());
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
    std::vector<uint8_t> out;
    for (auto _ : state) {
        out.clear();
        qstore::encode_residual_block(d.high(t), t, p.prediction.data(), p.context.data(), d.n(), out);
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
void BM_decode_residual_block(benchmark::State& state, DType t) {
    const auto& d = micro_data();
    const auto& p = prepared(t);
    qstore::ResidualScratch scratch;
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
BENCHMARK_CAPTURE(BM_decode_residual_block, bf16, DType::bf16);
BENCHMARK_CAPTURE(BM_decode_residual_block, f16, DType::f16);
BENCHMARK_CAPTURE(BM_decode_residual_block, f32, DType::f32);

// StreamEncoder on the block's INT8 codes (one stream, as the packer stores codes).
// Arg = zstd level (the encoder also tries rANS and keeps the smaller).
void BM_stream_encode_codes(benchmark::State& state) {
    const auto& p = prepared(DType::bf16);
    qstore::StreamEncoder enc(static_cast<int>(state.range(0)));
    std::vector<uint8_t> out;
    for (auto _ : state) {
        out.clear();
        enc.encode({{p.codes.data(), p.codes.size()}}, out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(p.codes.size()));
    state.counters["code_bpw"] = 8.0 * double(out.size()) / double(p.codes.size());
}
BENCHMARK(BM_stream_encode_codes)->Arg(3)->Arg(9);

// parse_stream_set + decode_stream of the codes (what qs_load_low does per block).
void BM_stream_decode_codes(benchmark::State& state) {
    const auto& p = prepared(DType::bf16);
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    std::vector<uint8_t> out(p.codes.size());
    const std::string what = "bench";
    int codec = -1;
    for (auto _ : state) {
        auto refs = qstore::parse_stream_set(p.code_blob.data(), p.code_blob.size(), what);
        for (const auto& r : refs) {
            qstore::decode_stream(r, out.data(), out.size(), dctx, what);
            codec = static_cast<int>(r.codec);
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    ZSTD_freeDCtx(dctx);
    if (out != p.codes) state.SkipWithError("codes do not round-trip");
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(p.codes.size()));  // decoded bytes
    state.counters["codec"] = codec;  // StreamCodec: 2 = zstd, 4 = rANS
    state.counters["code_bpw"] = 8.0 * double(p.code_blob.size()) / double(p.codes.size());
}
BENCHMARK(BM_stream_decode_codes);

void BM_rans_encode_codes(benchmark::State& state) {
    const auto& p = prepared(DType::bf16);
    std::vector<uint8_t> out;
    for (auto _ : state) {
        out.clear();
        qstore::rans_encode(p.codes.data(), p.codes.size(), out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(p.codes.size()));
    state.counters["code_bpw"] = 8.0 * double(out.size()) / double(p.codes.size());
}
BENCHMARK(BM_rans_encode_codes);

void BM_rans_decode_codes(benchmark::State& state) {
    const auto& p = prepared(DType::bf16);
    std::vector<uint8_t> out(p.codes.size());
    const std::string what = "bench";
    for (auto _ : state) {
        qstore::rans_decode(p.code_rans.data(), p.code_rans.size(), out.data(), out.size(), what);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    if (out != p.codes) state.SkipWithError("codes do not round-trip");
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(p.codes.size()));
}
BENCHMARK(BM_rans_decode_codes);

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
