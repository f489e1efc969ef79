// rnnkit native loops: denormal floats flushed to zero while the loops run. See bindings.cpp.
#pragma once
#include <ATen/Parallel.h>

#include <cstdint>

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
// (the entry points, and every task of parallel_for_flushed); a no-op on other CPUs.
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

// at::parallel_for whose tasks run fn(begin, end) with denormals flushed on their own threads too.
template <typename F>
void parallel_for_flushed(int64_t begin, int64_t end, int64_t grain, const F& fn) {
  at::parallel_for(begin, end, grain, [&](int64_t b0, int64_t b1) {
    FlushDenormals flush;
    fn(b0, b1);
  });
}

}  // namespace rnnkit_native
