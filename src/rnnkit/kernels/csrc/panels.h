// rnnkit native loops: the recurrent product of one step on CPUs with AVX-512, out (rows x n) =
// beta out + x (rows x k) op(W), with op(W) packed once per sequence into panels of 32 columns.
//
// A step's product is small (rows = the batch, k and n a few hundred) and runs T times in a row on the
// same weight, so its cost is the library call (descriptors, dispatch, repacking the weight) as much
// as the arithmetic. Here the weight is packed once per kernel call; each step runs register-blocked
// 12 x 32 tiles (24 of the 32 zmm registers as accumulators, twelve broadcasts of x and two panel loads
// per k: 8 x 32 tiles took 1.08-1.13x as long at 32 x 128 -> 512 and on chunks of the input projection),
// the panels split over torch's intra-op threads. Summation runs over k in order, one float32 FMA chain
// per output, whatever the tile.
#pragma once
#include <ATen/Parallel.h>
#include <immintrin.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "denormals.h"

namespace rnnkit_native {

constexpr int64_t kPanel = 32;   // columns per panel: two zmm registers
constexpr int64_t kTile = 12;    // rows per register tile

// op(W) (k x n) as ceil(n / 32) panels, each k rows of 32 floats (zero past column n).
struct Panels {
  std::vector<float> data;
  int64_t n = 0, k = 0;
};

inline bool panels_supported() {
  static const bool supported = __builtin_cpu_supports("avx512f");
  return supported;
}

// op(W)[kk][j] = W[j * stride_n + kk * stride_k] for op(W) k x n: W (n x k) row-major is (ldw, 1)
// (op = W^T), W (k x n) is (1, ldw) (op = W).
inline std::shared_ptr<Panels> pack_panels(const float* w, int64_t n, int64_t k, int64_t stride_n, int64_t stride_k) {
  auto packed = std::make_shared<Panels>();
  const int64_t count = (n + kPanel - 1) / kPanel;
  packed->data.assign(count * k * kPanel, 0.0f);
  packed->n = n;
  packed->k = k;
  at::parallel_for(0, count, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(1, k * kPanel)),
                   [&](int64_t q0, int64_t q1) {
    for (int64_t q = q0; q < q1; ++q) {
      float* panel = packed->data.data() + q * k * kPanel;
      const int64_t cols = std::min(kPanel, n - q * kPanel);
      const float* base = w + q * kPanel * stride_n;
      if (stride_n == 1) {                                                   // rows of op(W) contiguous
        for (int64_t kk = 0; kk < k; ++kk) std::memcpy(panel + kk * kPanel, base + kk * stride_k, cols * sizeof(float));
      } else {
        for (int64_t c = 0; c < cols; ++c)
          for (int64_t kk = 0; kk < k; ++kk) panel[kk * kPanel + c] = base[c * stride_n + kk * stride_k];
      }
    }
  });
  return packed;
}

// One MR x 32 tile: out[r][0:cols] = beta out[r] + sum_kk x[r][kk] panel[kk][:] + add[r * ld_add][0:cols]
// (add optional; ld_add 0 adds one row to every row, a bias), the masks m0, m1 cutting the columns.
template <int MR>
__attribute__((target("avx512f"))) inline void panel_tile(int64_t k, const float* x, int64_t ldx, const float* panel,
                                                          float beta, const float* add, int64_t ld_add, float* out,
                                                          int64_t ldo, __mmask16 m0, __mmask16 m1) {
  __m512 acc0[MR], acc1[MR];
  for (int r = 0; r < MR; ++r) acc0[r] = acc1[r] = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < k; ++kk) {
    const __m512 b0 = _mm512_loadu_ps(panel + kk * kPanel), b1 = _mm512_loadu_ps(panel + kk * kPanel + 16);
    for (int r = 0; r < MR; ++r) {
      const __m512 a = _mm512_set1_ps(x[r * ldx + kk]);
      acc0[r] = _mm512_fmadd_ps(a, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(a, b1, acc1[r]);
    }
  }
  const __m512 scale = _mm512_set1_ps(beta);
  for (int r = 0; r < MR; ++r) {
    float* o = out + r * ldo;
    if (beta != 0.0f) {
      acc0[r] = _mm512_fmadd_ps(scale, _mm512_maskz_loadu_ps(m0, o), acc0[r]);
      acc1[r] = _mm512_fmadd_ps(scale, _mm512_maskz_loadu_ps(m1, o + 16), acc1[r]);
    }
    if (add) {
      const float* a = add + r * ld_add;
      acc0[r] = _mm512_add_ps(acc0[r], _mm512_maskz_loadu_ps(m0, a));
      acc1[r] = _mm512_add_ps(acc1[r], _mm512_maskz_loadu_ps(m1, a + 16));
    }
    _mm512_mask_storeu_ps(o, m0, acc0[r]);
    _mm512_mask_storeu_ps(o + 16, m1, acc1[r]);
  }
}

// Panels [q0, q1) of the product, all rows.
__attribute__((target("avx512f"))) inline void panel_range(int64_t q0, int64_t q1, int64_t rows, const float* x,
                                                           int64_t ldx, const Panels& w, float beta, const float* add,
                                                           int64_t ld_add, float* out, int64_t ldo) {
  for (int64_t q = q0; q < q1; ++q) {
    const int64_t cols = std::min(kPanel, w.n - q * kPanel);
    const __mmask16 m0 = cols >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << cols) - 1);
    const __mmask16 m1 = cols >= 32 ? 0xFFFF : cols > 16 ? static_cast<__mmask16>((1u << (cols - 16)) - 1) : 0;
    const float* panel = w.data.data() + q * w.k * kPanel;
    float* o = out + q * kPanel;
    const float* a = add ? add + q * kPanel : nullptr;
    int64_t i = 0;
    for (; i + kTile <= rows; i += kTile)
      panel_tile<kTile>(w.k, x + i * ldx, ldx, panel, beta, a ? a + i * ld_add : nullptr, ld_add, o + i * ldo, ldo, m0,
                        m1);
    const float* xi = x + i * ldx;
    const float* ai = a ? a + i * ld_add : nullptr;
    float* oi = o + i * ldo;
    switch (rows - i) {
#define RNNKIT_TILE(MR) \
      case MR: panel_tile<MR>(w.k, xi, ldx, panel, beta, ai, ld_add, oi, ldo, m0, m1); break;
      RNNKIT_TILE(11) RNNKIT_TILE(10) RNNKIT_TILE(9) RNNKIT_TILE(8) RNNKIT_TILE(7) RNNKIT_TILE(6)
      RNNKIT_TILE(5) RNNKIT_TILE(4) RNNKIT_TILE(3) RNNKIT_TILE(2) RNNKIT_TILE(1)
#undef RNNKIT_TILE
      default: break;
    }
  }
}

constexpr int64_t kTaskMacs = 1 << 18;   // the least work worth a thread's fork and join (a few µs)

// out (rows x n) = beta out + x (rows x k) op(W) + add (rows of ld_add; ld_add 0: one row, a bias; add
// optional), the panels split over torch's intra-op threads in tasks of at least kTaskMacs multiply-adds (a
// small product runs on the calling thread).
inline void panel_product(int64_t rows, const float* x, int64_t ldx, const Panels& w, float beta, float* out,
                          int64_t ldo, const float* add = nullptr, int64_t ld_add = 0) {
  const int64_t count = (w.n + kPanel - 1) / kPanel;
  const int64_t per_panel = std::max<int64_t>(1, rows * w.k * kPanel);
  const int64_t grain = std::max<int64_t>(1, (kTaskMacs + per_panel - 1) / per_panel);
  parallel_for_flushed(0, count, grain, [&](int64_t q0, int64_t q1) {
    panel_range(q0, q1, rows, x, ldx, w, beta, add, ld_add, out, ldo);
  });
}

}  // namespace rnnkit_native
