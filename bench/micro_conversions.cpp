// Micro-benchmarks of the element transforms: float32 -> bf16/f16 (used on every
// prediction), bf16/f16 -> float32 (quantizer input), and the order-preserving key map.
#include <benchmark/benchmark.h>

#include "base/checksum.hpp"
#include "micro_data.hpp"

namespace {

using qstore_bench::micro_data;

void BM_bf16_from_f32(benchmark::State& state) {
    const auto& d = micro_data();
    std::vector<uint16_t> out(d.n());
    for (auto _ : state) {
        for (uint64_t i = 0; i < d.n(); ++i) out[i] = qstore::bf16_from_f32(d.f32[i]);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(d.n() * 4));
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(d.n()));
}
BENCHMARK(BM_bf16_from_f32);

void BM_f16_from_f32(benchmark::State& state) {
    const auto& d = micro_data();
    std::vector<uint16_t> out(d.n());
    for (auto _ : state) {
        for (uint64_t i = 0; i < d.n(); ++i) out[i] = qstore::f16_from_f32(d.f32[i]);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(d.n() * 4));
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(d.n()));
}
BENCHMARK(BM_f16_from_f32);

// high_to_f32: the quantizer's input conversion (bytes = high input bytes).
void BM_high_to_f32(benchmark::State& state, qstore::DType t) {
    const auto& d = micro_data();
    std::vector<float> out(d.n());
    for (auto _ : state) {
        qstore::high_to_f32(d.high(t), t, d.n(), out.data());
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(d.n() * qstore::dtype_size(t)));
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(d.n()));
}
BENCHMARK_CAPTURE(BM_high_to_f32, bf16, qstore::DType::bf16);
BENCHMARK_CAPTURE(BM_high_to_f32, f16, qstore::DType::f16);
BENCHMARK_CAPTURE(BM_high_to_f32, f32, qstore::DType::f32);

template <class U>
void BM_float_key(benchmark::State& state) {
    const auto& d = micro_data();
    const U* in = sizeof(U) == 2 ? reinterpret_cast<const U*>(d.bf16.data()) : reinterpret_cast<const U*>(d.f32.data());
    std::vector<U> out(d.n());
    for (auto _ : state) {
        for (uint64_t i = 0; i < d.n(); ++i) out[i] = qstore::float_key<U>(in[i]);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(d.n() * sizeof(U)));
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(d.n()));
}
BENCHMARK_TEMPLATE(BM_float_key, uint16_t);
BENCHMARK_TEMPLATE(BM_float_key, uint32_t);

template <class U>
void BM_float_from_key(benchmark::State& state) {
    const auto& d = micro_data();
    const U* in = sizeof(U) == 2 ? reinterpret_cast<const U*>(d.bf16.data()) : reinterpret_cast<const U*>(d.f32.data());
    std::vector<U> out(d.n());
    for (auto _ : state) {
        for (uint64_t i = 0; i < d.n(); ++i) out[i] = qstore::float_from_key<U>(in[i]);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(d.n() * sizeof(U)));
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(d.n()));
}
BENCHMARK_TEMPLATE(BM_float_from_key, uint16_t);
BENCHMARK_TEMPLATE(BM_float_from_key, uint32_t);

// XXH3-64, verified on every part of every load (unless checksums are turned off).
void BM_checksum_xxh3(benchmark::State& state) {
    const auto& d = micro_data();
    const size_t n = d.n() * 4;
    for (auto _ : state) benchmark::DoNotOptimize(qstore::checksum(d.f32.data(), n));
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n));
}
BENCHMARK(BM_checksum_xxh3);

void BM_memcpy(benchmark::State& state) {
    const auto& d = micro_data();
    const size_t n = d.n() * 2;
    std::vector<uint8_t> out(n);
    for (auto _ : state) {
        std::memcpy(out.data(), d.bf16.data(), n);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(n));
}
BENCHMARK(BM_memcpy);

}  // namespace
