// Predictions are IEEE float32 arithmetic that encoder and decoder must compute
// identically, whatever floating-point mode the host program runs in (a caller may
// have set another rounding direction, or flush-to-zero / denormals-are-zero, e.g.
// code built with -ffast-math). This guard sets round-to-nearest-even and, on x86,
// clears FTZ/DAZ for its scope, and restores the caller's settings afterwards. Every
// thread that quantizes, predicts or encodes/decodes a residual holds one.
#pragma once

#include <cfenv>
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define QSTORE_HAVE_MXCSR 1
#endif

namespace qstore {

class FloatEnvironmentGuard {
public:
    // Guards nest: only the outermost one of a thread reads and sets the environment
    // (reading it costs tens of cycles, and a block's decoder predicts tile by tile,
    // each prediction call holding its own guard: reading it in every guard adds up).
    FloatEnvironmentGuard() {
        if (depth_++ > 0) return;
        round_ = std::fegetround();
        if (round_ != FE_TONEAREST) std::fesetround(FE_TONEAREST);
#ifdef QSTORE_HAVE_MXCSR
        csr_ = _mm_getcsr();
        constexpr unsigned kFlushToZero = 1u << 15, kDenormalsAreZero = 1u << 6, kRoundingBits = 3u << 13;
        const unsigned wanted = csr_ & ~(kFlushToZero | kDenormalsAreZero | kRoundingBits);
        if (wanted != csr_) _mm_setcsr(wanted);
#endif
    }
    ~FloatEnvironmentGuard() {
        if (--depth_ > 0) return;
#ifdef QSTORE_HAVE_MXCSR
        if (_mm_getcsr() != csr_) _mm_setcsr(csr_);
#endif
        if (round_ != FE_TONEAREST) std::fesetround(round_);
    }
    FloatEnvironmentGuard(const FloatEnvironmentGuard&) = delete;
    FloatEnvironmentGuard& operator=(const FloatEnvironmentGuard&) = delete;

private:
    static inline thread_local int depth_ = 0;  // guards alive on this thread
    int round_ = FE_TONEAREST;
#ifdef QSTORE_HAVE_MXCSR
    unsigned csr_ = 0;
#endif
};

}  // namespace qstore
