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

// What this CPU runs (detected on the first call; the same answer ever after).
KernelSet kernel_set_detected();
// `wanted`, lowered to what this CPU runs. Readers and packs choose their kernel set
// through their options (every set gives the same bytes and values) and pass it down;
// kernels trust the set they are given.
KernelSet kernel_set_capped(KernelSet wanted);
const char* kernel_set_name(KernelSet set);

}  // namespace qstore
