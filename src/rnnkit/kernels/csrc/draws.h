// rnnkit native loops: zoneout's Bernoulli draws from a counter-based generator (kernels/draws.py has
// the same numbers in torch ops, where these loops are not built).
//
// Word i of a call is splitmix64(seed + (i + 1) * golden); its four 16-bit lanes, low first, are four
// uniforms u in [-2^15, 2^15), and a draw is 1 where u < count - 2^15 (probability count / 2^16). Any
// word is computed from its index alone, so the words split over torch's threads in any way give the
// same numbers.
#pragma once
#include "common.h"

#include <cstdint>

namespace rnnkit_native {

inline uint64_t splitmix64(uint64_t seed, uint64_t index) {
  uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// n draws (0 or 1) of probability count / 2^16 as `options` (float32 or float64).
inline Tensor bernoulli_draws(int64_t seed, int64_t count, int64_t n, at::TensorOptions options) {
  Tensor out = at::empty({n}, options);
  const int16_t limit = static_cast<int16_t>(count - 32768);
  const int64_t words = (n + 3) / 4;
  const uint64_t s = static_cast<uint64_t>(seed);
  auto fill = [&](auto* d) {
    at::parallel_for(0, words, 1 << 14, [&](int64_t w0, int64_t w1) {
      constexpr int64_t kBlock = 512;                              // words mixed, then read as 16-bit lanes
      alignas(64) uint64_t z[kBlock];
      for (int64_t b = w0; b < w1; b += kBlock) {
        const int64_t m = std::min(kBlock, w1 - b);
        for (int64_t i = 0; i < m; ++i) z[i] = splitmix64(s, static_cast<uint64_t>(b + i));   // vectorised
        int16_t u[4 * kBlock];
        std::memcpy(u, z, sizeof(uint64_t) * m);                   // little-endian: low lane first
        const int64_t count_out = std::min(4 * m, n - 4 * b);
        for (int64_t j = 0; j < count_out; ++j) d[4 * b + j] = u[j] < limit;
      }
    });
  };
  if (options.dtype() == at::kDouble) fill(out.data_ptr<double>());
  else fill(out.data_ptr<float>());
  return out;
}

}  // namespace rnnkit_native
