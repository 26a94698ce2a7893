#include "base/cpu.hpp"

#if QSTORE_X86_KERNELS
#include <cpuid.h>
#endif

#include <algorithm>
#include <fstream>
#include <string>

namespace qstore {

#if QSTORE_X86_KERNELS
namespace {
// CPUID leaf 1, ECX bit 29 (not every compiler's __builtin_cpu_supports knows "f16c").
bool has_f16c() {
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}
}  // namespace
#endif

KernelSet kernel_set_detected() {
    static const KernelSet detected = [] {
#if !QSTORE_X86_KERNELS
        return KernelSet::scalar;
#else
        __builtin_cpu_init();
        const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt") && has_f16c();
        if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512vbmi"))
            return KernelSet::avx512;
        return avx2 ? KernelSet::avx2 : KernelSet::scalar;
#endif
    }();
    return detected;
}

KernelSet kernel_set_capped(KernelSet wanted) { return std::min(wanted, kernel_set_detected()); }

const char* kernel_set_name(KernelSet set) {
    switch (set) {
        case KernelSet::avx512: return "avx512";
        case KernelSet::avx2: return "avx2";
        default: return "scalar";
    }
}

TableLookup table_lookup_detected() {
    static const TableLookup detected = [] {
        std::ifstream report("/sys/devices/system/cpu/vulnerabilities/gather_data_sampling");
        std::string status;
        std::getline(report, status);
        return status == "Not affected" ? TableLookup::gather : TableLookup::loads;
    }();
    return detected;
}

const char* table_lookup_name(TableLookup lookup) { return lookup == TableLookup::gather ? "gather" : "loads"; }

}  // namespace qstore
