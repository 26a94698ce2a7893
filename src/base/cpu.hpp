// The CPU layer: the kernel sets qstore has (scalar, AVX2, AVX-512), which one this
// CPU runs (detected once), and the one spelling of each set's target attribute, so
// that every kernel of a set is compiled for the same instructions the detection
// checked. Kernels of a set are chosen by the callers (rANS, token, quantizer and
// prediction kernels alike) from the KernelSet they are given: a Reader's or a pack's
// (ReaderOptions, PackOptions), never a process-wide one.
#pragma once

namespace qstore {

// The SIMD kernels exist on x86 only; elsewhere every path is the scalar one
// (-DQSTORE_X86_KERNELS=0 builds that on x86 too).
#ifndef QSTORE_X86_KERNELS
#if defined(__x86_64__) || defined(__i386__)
#define QSTORE_X86_KERNELS 1
#else
#define QSTORE_X86_KERNELS 0
#endif
#endif

// Target attributes of the kernel sets: AVX2 means AVX2, POPCNT and F16C; AVX-512
// adds F, BW, VL, DQ and VBMI (what kernel_set_detected() requires of the CPU).
#define QSTORE_TARGET_AVX2 __attribute__((target("avx2,popcnt,f16c")))
#define QSTORE_TARGET_AVX512 \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,avx2,popcnt,f16c")))

// Kernel sets, in increasing order.
enum class KernelSet : int { scalar = 0, avx2 = 1, avx512 = 2 };

// How the vector word-rANS decoders of a kernel set look up their tables (the scalar
// set ignores it): one vector gather per register, or scalar loads inserted into the
// register. Both decode the same symbols; gathers run 2-3x slower on Intel CPUs with
// the GDS ("Downfall") microcode mitigation. Chosen per Reader (ReaderOptions), like
// the kernel set.
enum class TableLookup : int { gather = 0, loads = 1 };
// The default of ReaderOptions (detected once): gathers where Linux reports the CPU not
// affected by GDS (/sys/devices/system/cpu/vulnerabilities/gather_data_sampling), where
// they are the faster of the two (docs/BENCHMARKS.md); scalar loads where it reports a
// mitigation, a dependence on the hypervisor, or nothing.
TableLookup table_lookup_detected();
const char* table_lookup_name(TableLookup lookup);

// What this CPU runs (detected on the first call; the same answer ever after).
KernelSet kernel_set_detected();
// `wanted`, lowered to what this CPU runs. Readers and packs choose their kernel set
// through their options (every set gives the same bytes and values) and pass it down;
// kernels trust the set they are given.
KernelSet kernel_set_capped(KernelSet wanted);
const char* kernel_set_name(KernelSet set);

// A kernel body inlined into each build that calls it, and so compiled with that
// build's instructions.
#define QSTORE_ALWAYS_INLINE __attribute__((always_inline)) inline

// One kernel body, one build per kernel set (in the manner of zstd's HUF_DGEN). `Body`
// is a class with
//   template <KernelSet K> QSTORE_ALWAYS_INLINE static void run(ARGS);
// written once; run_kernel<Body>(kernels, args...) runs it as built for `kernels`: the
// scalar build, or the copy with QSTORE_TARGET_AVX2 or QSTORE_TARGET_AVX512, each
// vectorized by the compiler for its instructions. Where one set computes a step
// differently (a hardware conversion), the body branches on K with `if constexpr`.
// Arguments are passed by value (pointers and scalars): a reference could alias the
// kernel's byte stores and keep its loops from vectorizing.
namespace kernel_builds {
template <class Body, class... Args>
void scalar(Args... args) {
    Body::template run<KernelSet::scalar>(args...);
}
#if QSTORE_X86_KERNELS
template <class Body, class... Args>
QSTORE_TARGET_AVX2 void avx2(Args... args) {
    Body::template run<KernelSet::avx2>(args...);
}
template <class Body, class... Args>
QSTORE_TARGET_AVX512 void avx512(Args... args) {
    Body::template run<KernelSet::avx512>(args...);
}
#endif
}  // namespace kernel_builds

template <class Body, class... Args>
inline void run_kernel(KernelSet kernels, Args... args) {
    switch (kernels) {
#if QSTORE_X86_KERNELS
        case KernelSet::avx512: return kernel_builds::avx512<Body>(args...);
        case KernelSet::avx2: return kernel_builds::avx2<Body>(args...);
#endif
        default: return kernel_builds::scalar<Body>(args...);
    }
}

}  // namespace qstore
