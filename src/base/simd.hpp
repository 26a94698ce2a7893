// The x86 intrinsics, for the kernels of base/cpu.hpp's kernel sets. GCC 12's AVX-512
// intrinsics leave registers undefined on purpose (_mm512_undefined_*), and
// -Wmaybe-uninitialized reports each use once inlined; the warning is turned off for
// the lines of the intrinsics headers only, not for the code that uses them.
#pragma once

#include "base/cpu.hpp"

#if QSTORE_X86_KERNELS
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif
#endif
