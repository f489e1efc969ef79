// rnnkit native loops: denormal floats flushed to zero while the loops run. See bindings.cpp.
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace rnnkit_native {

// While alive, the calling thread's SSE/AVX arithmetic flushes results below the smallest normal float to
// zero (FTZ) and reads such operands as zero (DAZ); its own mode comes back after, as TensorFlow runs its
// CPU compute threads. Saturated gates make denormals all through a step — sigmoid(x) for x < -87 is about
// 1e-38, and i g, σ'(i), dc~ P multiply it further down — and on Intel CPUs each denormal operand or
// result costs a microcode assist of the order of a hundred cycles: inputs scaled by 100 made an LSTM
// training step 5-7x slower (torch.nn's own LSTM too). Results differ from gradual underflow only in
// values below 2^-126 (float; 2^-1022 in double), which become 0. Every thread that runs loop work sets it
// (the entry points, and the tasks of over_rows and panel_product); a no-op on other CPUs.
class FlushDenormals {
 public:
#if defined(__x86_64__) || defined(__i386__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFlushToZero | kDenormalsAreZero); }
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  static constexpr unsigned int kFlushToZero = 0x8000, kDenormalsAreZero = 0x0040;   // MXCSR bits 15, 6
  unsigned int saved_;
#endif
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;
};

}  // namespace rnnkit_native
